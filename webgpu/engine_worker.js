// Our engine's worker: thread 0 of the WASM backend. It owns the model, tokenizer, chat template,
// KV cache and sampler, and runs prefill and decode; the page only sees text pieces.
//
// Messages in:  {type: 'load', blobs, n_threads, n_ctx} | {type: 'generate', id, messages, params}
//               {type: 'abort', id} | {type: 'evaluate', id, tokens, rows} | {type: 'tokenize', id, text}
//               {type: 'prompt', id, messages}
// Messages out: {type: 'loaded', info} | {type: 'prefilled', id, prompt_tokens, cached_prompt_tokens}
//               {type: 'token', id, text} | {type: 'done', id, ...usage} | {type: 'result', id, ...}
//               {type: 'error', id, message}

import { WasmOps } from './backends/wasm/ops.js';
import { WasmRuntime } from './backends/wasm/runtime.js';
import { createChatTemplate } from './chat_template.js';
import { Transformer } from './forward.js';
import { readGGUF } from './gguf.js';
import { KVCache } from './kv_cache.js';
import { describeModel } from './model.js';
import { Sampler, argmax } from './sampler.js';
import { Detokenizer, createTokenizer } from './tokenizer.js';

const N_BATCH = 64;
// Token text goes to the page at most this often: a message per token wakes the page's main thread,
// which on a 2-core machine steals a core from the kernel threads (measured: ~1.5-2 ms per token).
const POST_INTERVAL_MS = 20;
let model = null; // {transformer, tokenizer, template, kv, config, ops, runtime}
const aborted = new Set();

onmessage = async ({ data: msg }) => {
  try {
    if (msg.type === 'load') postMessage({ type: 'loaded', info: await load(msg) });
    else if (msg.type === 'generate') await generate(msg);
    else if (msg.type === 'abort') aborted.add(msg.id);
    else if (msg.type === 'evaluate') postMessage({ type: 'result', id: msg.id, ...evaluate(msg.tokens, msg.rows) });
    else if (msg.type === 'tokenize') postMessage({ type: 'result', id: msg.id, tokens: model.tokenizer.encode(msg.text) });
    else if (msg.type === 'prompt') postMessage({ type: 'result', id: msg.id, ...renderPrompt(msg.messages) });
  } catch (e) {
    postMessage({ type: 'error', id: msg.id, message: e?.message ?? String(e) });
  }
};

async function load({ blobs, n_threads, n_ctx }) {
  const gguf = await readGGUF(blobs);
  const { config, tensors, support } = describeModel(gguf);
  if (!support.ok) throw new Error(support.reason);
  const tokenizer = createTokenizer(gguf.metadata);
  const template = createChatTemplate(gguf.metadata, tokenizer);
  n_ctx = Math.min(n_ctx, config.context_length);
  const runtime = await WasmRuntime.create({ n_threads });
  // Mat-mul weights go in the x4 layout; with tied embeddings the table keeps its rows for lookups.
  const matmul_names = [tensors.output, ...tensors.layers.flatMap((L) => [L.wq, L.wk, L.wv, L.wo, L.w_gate, L.w_up, L.w_down])]
    .filter(Boolean).map((t) => t.name);
  const handles = await WasmOps.uploadWeights(runtime, blobs, gguf.tensors, {
    pack: new Set(matmul_names), keep_rows: new Set(tensors.tied ? [tensors.token_embd.name] : []),
  });
  const h = (t) => (t ? handles.get(t.name) : null);
  const weights = {
    token_embd: handles.get(`${tensors.token_embd.name}#rows`) ?? h(tensors.token_embd),
    output_norm: h(tensors.output_norm), output: h(tensors.output),
    layers: tensors.layers.map((L) => Object.fromEntries(Object.entries(L).map(([key, t]) => [key, h(t)]))),
  };
  const ops = new WasmOps(runtime, config, { n_ctx, n_batch: N_BATCH });
  const transformer = new Transformer(config, weights, ops, { n_ctx, n_batch: N_BATCH });
  model = { transformer, tokenizer, template, kv: new KVCache(n_ctx), config, runtime };
  return {
    threads: runtime.n_threads, simd: runtime.simd, n_ctx, arch: config.arch, reason: support.reason,
    memory_bytes: runtime.memory.buffer.byteLength,
  };
}

/** Run tokens after the cached prefix; returns the last batch's logits (the final row is the next token's). */
function prefill(tokens, from) {
  const { transformer, kv } = model;
  kv.truncate(from);
  let logits = null;
  for (let i = from; i < tokens.length; i += N_BATCH) {
    const chunk = tokens.slice(i, i + N_BATCH);
    logits = transformer.forward(chunk, i);
    kv.append(chunk);
  }
  return logits;
}

/** The chat prompt for messages, as text and as tokens. */
function renderPrompt(messages) {
  const text = model.template(messages, { add_generation_prompt: true });
  return { text, tokens: model.tokenizer.encode(text) };
}

async function generate({ id, messages, params }) {
  const { tokenizer, kv, config } = model;
  const { tokens } = renderPrompt(messages);
  if (tokens.length >= kv.n_ctx) {
    throw new Error(`The conversation is ${tokens.length} tokens, more than this model's ${kv.n_ctx}-token context. Start a new chat.`);
  }
  const cached = params.cache_prompt === false ? 0 : kv.reusable(tokens);
  let logits = prefill(tokens, cached);
  postMessage({ type: 'prefilled', id, prompt_tokens: tokens.length, cached_prompt_tokens: cached });

  const sampler = new Sampler(params);
  const detok = new Detokenizer(tokenizer);
  const history = tokens.slice();
  let finish_reason = 'stop';
  let n_gen = 0;
  let held = '';
  let held_n = 0;
  let last_post = -Infinity;
  const post = () => {
    if (held_n === 0) return;
    postMessage({ type: 'token', id, text: held, n: held_n });
    held = '';
    held_n = 0;
    last_post = performance.now();
  };
  for (;;) {
    const next = sampler.sample(logits.subarray(logits.length - config.vocab_size), history);
    if (tokenizer.isEog(next)) break;
    held += detok.push(next);
    held_n++;
    if (performance.now() - last_post >= POST_INTERVAL_MS) post();
    history.push(next);
    if (++n_gen >= params.max_tokens || kv.n_past >= kv.n_ctx) {
      finish_reason = 'length';
      break;
    }
    logits = model.transformer.forward([next], kv.n_past);
    kv.append([next]);
    await yieldToEvents(); // lets an abort message in
    if (aborted.has(id)) {
      finish_reason = 'abort';
      break;
    }
  }
  held += detok.flush();
  post();
  aborted.delete(id);
  postMessage({ type: 'done', id, finish_reason, prompt_tokens: tokens.length, cached_prompt_tokens: cached, completion_tokens: n_gen });
}

/** Logits for a token sequence from position 0: argmax at every position, full rows for `rows`. */
function evaluate(tokens, rows = []) {
  const V = model.config.vocab_size;
  model.kv.clear();
  const top = new Int32Array(tokens.length);
  const wanted = new Map();
  for (let i = 0; i < tokens.length; i += N_BATCH) {
    const chunk = tokens.slice(i, i + N_BATCH);
    const logits = model.transformer.forward(chunk, i, 0);
    model.kv.append(chunk);
    for (let t = 0; t < chunk.length; t++) {
      const row = logits.subarray(t * V, (t + 1) * V);
      top[i + t] = argmax(row);
      if (rows.includes(i + t)) wanted.set(i + t, row.slice());
    }
  }
  return { argmax: top, logits: rows.map((r) => wanted.get(r)) };
}

const channel = new MessageChannel();
const waiting = [];
channel.port1.onmessage = () => waiting.shift()?.();
function yieldToEvents() {
  return new Promise((resolve) => {
    waiting.push(resolve);
    channel.port2.postMessage(0);
  });
}
