// Our engine's worker: it owns a Session (webgpu/session.js) on the WASM or the WebGPU backend and
// runs prefill and decode, or an EmbeddingSession (an encoder); the page only sees text pieces and vectors.
//
// Messages in:  {type: 'load', backend, blobs, n_threads, n_ctx, task, activation_bits?, kv_type?} | {type: 'generate', id, messages, params}
//               {type: 'embed', id, texts} (task 'embedding': an encoder)
//               {type: 'abort', id} | {type: 'evaluate', id, tokens, rows} | {type: 'tokenize', id, text}
//               {type: 'prompt', id, messages} | {type: 'lose-device'} (tests: destroy the GPU device)
// Messages out: {type: 'loaded', info} | {type: 'prefilled', id, prompt_tokens, cached_prompt_tokens}
//               {type: 'token', id, text, n} | {type: 'done', id, ...usage} | {type: 'result', id, ...}
//               {type: 'error', id, kind, message}; kind: 'request' (the caller's fault), 'engine'
//               (a kernel or backend failed) or 'device-lost' (the GPU went away)
//               {type: 'device-lost', message}: the GPU went away between requests

import { createEmbeddingSession } from './embedding_session.js';
import { createSession } from './session.js';

// Token text goes to the page at most this often: a message per token wakes the page's main thread,
// which on a 2-core machine steals a core from the kernel threads (measured: ~1.5-2 ms per token).
const POST_INTERVAL_MS = 20;
let session = null;
let lost = null; // the device-lost message, once the GPU is gone
const aborted = new Set();

onmessage = async ({ data: msg }) => {
  try {
    if (msg.type === 'load') postMessage({ type: 'loaded', info: await load(msg) });
    else if (msg.type === 'abort') aborted.add(msg.id);
    else if (msg.type === 'lose-device') session?.loseDevice?.();
    else if (lost) throw new DeviceLost(lost);
    else if (msg.type === 'generate') await generate(msg);
    else if (msg.type === 'embed') postMessage({ type: 'result', id: msg.id, ...(await session.embed(msg.texts)) });
    else if (msg.type === 'evaluate') postMessage({ type: 'result', id: msg.id, ...(await session.evaluate(msg.tokens, msg.rows)) });
    else if (msg.type === 'tokenize') postMessage({ type: 'result', id: msg.id, tokens: session.tokenizer.encode(msg.text) });
    else if (msg.type === 'prompt') postMessage({ type: 'result', id: msg.id, ...session.renderPrompt(msg.messages) });
  } catch (e) {
    const kind = lost || e instanceof DeviceLost || e?.deviceLost ? 'device-lost' : e instanceof RangeError ? 'request' : 'engine';
    postMessage({ type: 'error', id: msg.id, kind, message: lost ?? e?.message ?? String(e) });
  }
};

class DeviceLost extends Error {}

async function load({ backend, blobs, n_threads, n_ctx, task = 'chat', activation_bits, kv_type }) {
  const onDeviceLost = (message) => {
    lost = message;
    postMessage({ type: 'device-lost', message });
  };
  session = task === 'embedding'
    ? await createEmbeddingSession(blobs, { backend, n_threads, onDeviceLost })
    : await createSession(blobs, { backend, n_ctx, n_threads, onDeviceLost, activation_bits, kv_type });
  return session.info;
}

async function generate({ id, messages, params }) {
  let held = '';
  let held_n = 0;
  let last_post = -Infinity;
  const post = () => {
    if (held_n === 0 && !held) return;
    postMessage({ type: 'token', id, text: held, n: held_n });
    held = '';
    held_n = 0;
    last_post = performance.now();
  };
  const stopped = async () => {
    await yieldToEvents(); // lets an abort message in
    if (lost) throw new DeviceLost(lost);
    return aborted.has(id);
  };
  try {
    for await (const ev of session.generate(messages, params, stopped)) {
      if (ev.type === 'prefilled') {
        postMessage({ type: 'prefilled', id, prompt_tokens: ev.prompt_tokens, cached_prompt_tokens: ev.cached_prompt_tokens });
      } else if (ev.type === 'token') {
        held += ev.text;
        held_n += ev.n ?? 1;
        if (performance.now() - last_post >= POST_INTERVAL_MS) post();
      } else if (ev.type === 'done') {
        post();
        postMessage({ ...ev, id });
      }
    }
  } finally {
    aborted.delete(id);
  }
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
