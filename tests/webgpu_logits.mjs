// The WebGPU engine in node (Dawn), end to end on a real model: logits rows for a token sequence.
// Usage: node --import ./webgpu/node/register.js tests/webgpu_logits.mjs MODEL_DIR OUT.bin TOKENS_JSON
// Writes float32 logits [n_tokens][vocab] to OUT.bin and prints the engine's dispatch counts.

import { writeFileSync } from 'node:fs';
import { createSession } from '../webgpu/session.js';
import { nodeGPU, openModel } from '../webgpu/node/runtime.js';

const [dir, out, tokens_json] = process.argv.slice(2);
const gpu = await nodeGPU();
const session = await createSession(await openModel([dir]), { backend: 'webgpu', n_ctx: 256, gpu });
const tokens = JSON.parse(tokens_json);
const logits = await session.transformer.forward(tokens, 0, 0);
writeFileSync(out, new Uint8Array(logits.buffer, logits.byteOffset, logits.byteLength));
const greedy = await session.transformer.forward([tokens.at(-1)], tokens.length, 0, 'argmax');
console.log(JSON.stringify({ stats: session.transformer.backend.stats(), greedy_next: greedy[0], adapter: session.info.adapter }));
