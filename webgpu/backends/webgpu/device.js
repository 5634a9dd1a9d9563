// The WebGPU device: which adapters count as hardware, whether a model fits the device's limits
// (checked before anything is uploaded), and the device itself with the limits the model needs.

import { GGML_TYPES } from '../../gguf.js';
import { matmulTensors } from '../../model.js';
import { MAX_HEAD_DIM } from './attention.js';
import { BLOCK_ELEMS } from './quant_matvec.js';

/** SwiftShader, llvmpipe and other CPU implementations: correct, slower than our WASM engine. */
export function isSoftwareAdapter(adapter) {
  const info = adapter.info ?? {};
  if (info.isFallbackAdapter || adapter.isFallbackAdapter) return true;
  const text = [info.vendor, info.architecture, info.device, info.description].join(' ');
  return /swiftshader|llvmpipe|lavapipe|software|microsoft basic render/i.test(text);
}

/** The largest buffer a kernel can bind. */
export function maxBinding(limits) {
  return Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize);
}

export function rowBytes(t) {
  const [, elems, bytes] = GGML_TYPES[t.type];
  return (t.dims[0] / elems) * bytes;
}

/**
 * Can a described model (describeModel's result) run within these device limits? {ok, reason}.
 * n_batch, n_ctx: the engine's batch and context; a tensor bigger than one binding is split by rows.
 */
export function planDevice({ config: c, tensors }, limits, { n_batch = 64, n_ctx = 4096 } = {}) {
  const max = maxBinding(limits);
  const mib = (n) => `${(n / 2 ** 20).toFixed(0)} MiB`;
  const all = [tensors.token_embd, tensors.output_norm, tensors.output, ...tensors.layers.flatMap((L) => Object.values(L))].filter(Boolean);
  for (const t of all) {
    if (!(t.type in BLOCK_ELEMS)) return { ok: false, reason: `tensor ${t.name} is ${t.type_name}, which our WebGPU kernels do not read` };
    if (rowBytes(t) > max) return { ok: false, reason: `a row of ${t.name} is larger than this GPU's ${mib(max)} binding limit` };
  }
  if (c.head_dim > MAX_HEAD_DIM) return { ok: false, reason: `head_dim ${c.head_dim} is more than our attention kernel's ${MAX_HEAD_DIM}` };
  for (const L of tensors.layers) {
    for (const t of [L.w_gate, L.w_up].filter(Boolean)) {
      if (t.n_bytes > max) return { ok: false, reason: `${t.name} (${mib(t.n_bytes)}) is larger than this GPU's ${mib(max)} binding limit` };
    }
  }
  const kv_bytes = c.n_kv_heads * Math.min(n_ctx, c.context_length) * c.head_dim * 4;
  const logits_bytes = n_batch * c.vocab_size * 4;
  for (const [what, n] of [['a layer of the KV cache', kv_bytes], ['the logits of a batch', logits_bytes]]) {
    if (n > max) return { ok: false, reason: `${what} (${mib(n)}) is larger than this GPU's ${mib(max)} binding limit` };
  }
  const weights = all.reduce((n, t) => n + t.n_bytes, 0);
  const total = weights + 2 * c.n_layers * kv_bytes + 2 * logits_bytes;
  return { ok: true, reason: `fits: ${mib(total)} of buffers, ${matmulTensors(tensors).length} weight matrices`, bytes: total };
}

/** A high-performance adapter and a device with its largest buffer limits; null when there is none. */
export async function requestDevice(gpu) {
  if (!gpu) throw new Error('this browser has no WebGPU');
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new Error('the browser offers no WebGPU adapter');
  const l = adapter.limits;
  if (!adapter.features.has('subgroups')) throw new Error('the WebGPU adapter lacks subgroups, which our kernels use');
  const device = await adapter.requestDevice({
    label: 'inpage',
    requiredFeatures: ['subgroups'],
    requiredLimits: {
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxBufferSize: l.maxBufferSize,
      maxStorageBuffersPerShaderStage: Math.min(l.maxStorageBuffersPerShaderStage, 10),
    },
  });
  const info = adapter.info ?? {};
  return {
    adapter, device,
    description: { vendor: info.vendor ?? '', architecture: info.architecture ?? '', device: info.device ?? '',
      description: info.description ?? '', software: isSoftwareAdapter(adapter), shader_f16: adapter.features.has('shader-f16'),
      subgroup_min_size: info.subgroupMinSize ?? 4, subgroup_max_size: info.subgroupMaxSize ?? 128 },
  };
}
