// Perplexity of our engine itself (not reference.py) on a text, in node, scored the way
// models/perplexity.py and llama-perplexity score it: non-overlapping windows of n_ctx tokens, each
// token of a window's second half predicted from at least n_ctx/2 tokens of context. This is how
// the engine's own approximations are priced: 8-bit against 14-bit activations, an f16 KV cache.
// Usage: node --import ./webgpu/node/register.js webgpu/node/perplexity.mjs MODEL TEXT_FILE
//          [--ctx 512] [--windows 4] [--activation-bits 14] [--kv f32] [--backend wasm]
// MODEL: a store folder or GGUF shards (comma-separated). TEXT_FILE: text, tokenized by the model's
// tokenizer without special tokens, or a .json file of token ids. Prints one JSON line.

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { N_BATCH } from '../ops_contract.js';
import { createSession } from '../session.js';
import { nodeGPU, openModel } from './runtime.js';

/** Natural-log probability of token `target` under one row of logits, in float64. */
export function logProb(logits, target) {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i] - max);
  return logits[target] - max - Math.log(sum);
}

/** {perplexity, scored_tokens, n_ctx, windows} of session's model on tokens. */
export async function perplexity(session, tokens, { n_ctx, windows }) {
  const t = session.transformer;
  const V = session.config.vocab_size;
  const n_windows = Math.min(windows, Math.floor(tokens.length / n_ctx));
  if (n_windows < 1) throw new Error(`${tokens.length} tokens do not fill one ${n_ctx}-token window`);
  const first = n_ctx / 2;
  let nll = 0;
  let count = 0;
  for (let w = 0; w < n_windows; w++) {
    const ids = tokens.slice(w * n_ctx, (w + 1) * n_ctx);
    for (let i = 0; i < n_ctx; i += N_BATCH) {
      const chunk = ids.slice(i, i + N_BATCH);
      const scored_from = Math.max(0, first - i); // rows whose next token is scored
      const rows = await t.forward(chunk, i, Math.min(scored_from, chunk.length - 1));
      for (let r = Math.min(scored_from, chunk.length - 1); r < chunk.length; r++) {
        const p = i + r; // row p predicts token p + 1
        if (p < first || p + 1 >= n_ctx) continue;
        const row = r - Math.min(scored_from, chunk.length - 1);
        nll -= logProb(rows.subarray(row * V, (row + 1) * V), ids[p + 1]);
        count++;
      }
    }
  }
  return { perplexity: Math.exp(nll / count), scored_tokens: count, n_ctx, windows: n_windows };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      ctx: { type: 'string', default: '512' }, windows: { type: 'string', default: '4' },
      'activation-bits': { type: 'string', default: '14' }, kv: { type: 'string', default: 'f32' },
      backend: { type: 'string', default: 'wasm' },
    },
  });
  const [model, text_file] = positionals;
  const n_ctx = Number(values.ctx);
  const backend = values.backend;
  const session = await createSession(await openModel(model.split(',')), {
    backend, n_ctx, gpu: backend === 'webgpu' ? await nodeGPU() : undefined,
    activation_bits: Number(values['activation-bits']), kv_type: values.kv,
  });
  const text = readFileSync(text_file, 'utf8');
  const tokens = text_file.endsWith('.json') ? JSON.parse(text)
    : session.tokenizer.encode(text, { add_special: false, parse_special: false });
  const started = performance.now();
  const result = await perplexity(session, tokens, { n_ctx, windows: Number(values.windows) });
  console.log(JSON.stringify({ ...result, activation_bits: session.info.activation_bits ?? null,
    kv: session.info.kv_type ?? 'f32', backend, seconds: (performance.now() - started) / 1000 }));
  session.release?.();
  process.exit(0);
}
