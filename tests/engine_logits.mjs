// Our engine in node on a GGUF, for parity tests: logits rows of a token sequence, run the way
// chat runs it (a prefill batch, then one token at a time through the KV cache).
// Usage: node --import ./webgpu/node/register.js tests/engine_logits.mjs BACKEND OUT.bin TOKENS_JSON PREFILL GGUF...
// Writes float32 logits [n_tokens][vocab] to OUT.bin and prints {arch, reason, stats}.

import { writeFileSync } from 'node:fs';
import { createSession } from '../webgpu/session.js';
import { nodeGPU, openModel } from '../webgpu/node/runtime.js';

const [backend, out, tokens_json, prefill, ...paths] = process.argv.slice(2);
const gpu = backend === 'webgpu' ? await nodeGPU() : undefined;
const session = await createSession(await openModel(paths), { backend, n_ctx: 128, gpu });
const tokens = JSON.parse(tokens_json);
const p = Number(prefill);
const t = session.transformer;
const rows = [(await t.forward(tokens.slice(0, p), 0, 0)).slice()];
for (let i = p; i < tokens.length; i++) rows.push((await t.forward([tokens[i]], i, 0)).slice());
const logits = new Float32Array(rows.reduce((n, r) => n + r.length, 0));
rows.reduce((at, r) => (logits.set(r, at), at + r.length), 0);
writeFileSync(out, new Uint8Array(logits.buffer));
console.log(JSON.stringify({ arch: session.info.arch, reason: session.info.reason, stats: t.backend.stats?.() ?? null }));
session.release?.();
process.exit(0);
