// The WebGPU engine generating in node (Dawn): the same seed with sampling on the GPU and with the
// CPU sampler over read-back logits, and the per-token work of each. Prints one JSON line.
// Usage: node --import ./webgpu/node/register.js tests/webgpu_generate.mjs MODEL_DIR

import { createSession } from '../webgpu/session.js';
import { nodeGPU, openModel } from '../webgpu/node/runtime.js';

const [dir] = process.argv.slice(2);
const session = await createSession(await openModel([dir]), { backend: 'webgpu', n_ctx: 256, gpu: await nodeGPU() });
const ops = session.transformer.backend;
const messages = [{ role: 'user', content: 'Write one sentence about the sea.' }];

async function generate(params) {
  let text = '';
  let done = null;
  for await (const ev of session.generate(messages, { max_tokens: 5, ...params })) {
    if (ev.type === 'token') text += ev.text;
    if (ev.type === 'done') done = ev;
  }
  return { text, device: done.device, completion_tokens: done.completion_tokens };
}

const sampled = { temperature: 0.9, top_k: 40, top_p: 0.95, min_p: 0.05, repetition_penalty: 1.2, seed: 11 };
const on_gpu = await generate({ ...sampled, cache_prompt: false });
ops.sample = null; // the same backend without its device sampler: logits rows come back
const on_cpu = await generate(sampled); // the prompt's KV is reused: SwiftShader is slow
console.log(JSON.stringify({ on_gpu, on_cpu, n_layers: session.config.n_layers, vocab_size: session.config.vocab_size }));
