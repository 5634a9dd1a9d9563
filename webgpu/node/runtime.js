// The engine in node: Dawn (npm `webgpu`, Chrome's WebGPU) as navigator.gpu, and GGUF shards from
// disk as Blobs. Run under `node --import ./webgpu/node/register.js`.

import { openAsBlob, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

let instance = null; // Dawn's GPU: must stay referenced for the whole run, or Dawn tears it down

/** Dawn's GPU object, created once; its globals (GPUBufferUsage, ...) are installed on globalThis. */
export async function nodeGPU() {
  if (!instance) {
    const { create, globals } = await import(process.env.DAWN_NODE ?? 'webgpu');
    Object.assign(globalThis, globals);
    instance = create([]);
  }
  return instance;
}

/**
 * Blobs of a model's GGUF shards, in order: a store folder (its manifest.json lists the shards), or
 * GGUF files (NAME-00001-of-0000N.gguf names sort in shard order).
 */
export async function openModel(paths) {
  if (paths.length === 1 && statSync(paths[0]).isDirectory()) {
    const manifest = JSON.parse(readFileSync(join(paths[0], 'manifest.json'), 'utf8'));
    paths = manifest.shards.map((s) => join(paths[0], s.file));
  } else {
    paths = [...paths].sort();
  }
  return Promise.all(paths.map((p) => openAsBlob(p)));
}

/**
 * The engine's OpenAI-shaped API (webgpu/engine.js) over a session in this process, as the page's
 * worker backend gives it: for node tests and scripts of the whole request path.
 */
export async function createNodeEngine(paths, { backend = 'wasm', n_ctx = 1024 } = {}) {
  const { createSession } = await import('../session.js');
  const { Engine } = await import('../engine.js');
  const gpu = backend === 'webgpu' ? await nodeGPU() : undefined;
  const session = await createSession(await openModel(paths), { backend, n_ctx, gpu });
  const impl = {
    info: session.info,
    threads: 1,
    async *generate(req) {
      for await (const ev of session.generate(req.messages, req, () => req.signal?.aborted === true)) {
        if (ev.type === 'token') yield { text: ev.text, n: ev.n };
        else if (ev.type === 'done') yield { done: true, ...ev };
      }
    },
    async unload() {
      session.release?.();
    },
  };
  return new Engine({ id: paths.join(',') }, impl, { name: backend, reason: 'node', isolated: false }, { options: { task: 'chat' } });
}
