// WGSL sources beside their modules, read over fetch in the page and from disk in node.

const cache = new Map();

/** Compile the WGSL file `name` (beside this module) once per device. */
export async function shaderModule(device, name) {
  let byDevice = cache.get(device);
  if (!byDevice) cache.set(device, (byDevice = new Map()));
  if (!byDevice.has(name)) {
    const code = await readText(new URL(`./${name}`, import.meta.url));
    const module = device.createShaderModule({ label: name, code });
    const info = await module.getCompilationInfo?.();
    const errors = (info?.messages ?? []).filter((m) => m.type === 'error');
    if (errors.length) throw new Error(`${name}:${errors[0].lineNum}:${errors[0].linePos}: ${errors[0].message}`);
    byDevice.set(name, module);
  }
  return byDevice.get(name);
}

/** A compute pipeline (layout 'auto') of entry point `entryPoint` in the WGSL file `name`. */
export async function computePipeline(device, name, entryPoint = name.replace(/\.wgsl$/, '')) {
  const module = await shaderModule(device, name);
  return device.createComputePipeline({ label: entryPoint, layout: 'auto', compute: { module, entryPoint } });
}

async function readText(url) {
  if (url.protocol === 'file:') {
    const { readFile } = await import('node:fs/promises');
    return readFile(url, 'utf8');
  }
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url.pathname}: HTTP ${res.status}`);
  return res.text();
}
