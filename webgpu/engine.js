// The engine every backend sits behind, shaped like web-llm's:
//
//   const engine = await createEngine({ model: 'smollm2-135m', backend: 'auto', onProgress });
//   for await (const chunk of await engine.chat.completions.create({ messages, stream: true })) ...
//
// Backend-neutral parts live here: manifest, shard loading and verification, stop strings,
// OpenAI-shaped chunks, and the timing of each reply. A backend only turns messages into text pieces.

import { DownloadError, RequestError } from './errors.js';
import { readGGUF } from './gguf.js';
import { describeModel } from './model.js';
import { loadShards } from './shards.js';
import { StopMatcher } from './stop.js';

const BACKENDS = {
  wasm: async () => (await import('./backends/wasm.js')).WasmBackend,
  wllama: async () => (await import('./backends/wllama.js')).WllamaBackend,
};

export async function fetchCatalog() {
  return fetchJSON('/api/models', 'the model catalog');
}

export async function fetchManifest(modelId) {
  return fetchJSON(`/api/models/${encodeURIComponent(modelId)}/manifest.json`, `the manifest of ${modelId}`);
}

/**
 * Pick a backend for a model whose verified shards are in hand; returns {name, reason} for the UI.
 * 'auto' takes our engine when it runs the architecture and every tensor type, wllama otherwise.
 */
export async function chooseBackend(requested, manifest, blobs) {
  if (requested !== 'auto') {
    if (requested in BACKENDS) return { name: requested, reason: 'it was asked for by name' };
    throw new RequestError(`Unknown backend "${requested}"; use one of: auto, ${Object.keys(BACKENDS).join(', ')}.`);
  }
  if (typeof WebAssembly !== 'object' || !WebAssembly.validate(SIMD_PROBE)) {
    return { name: 'wllama', reason: 'this browser lacks WebAssembly SIMD, which our engine needs' };
  }
  try {
    const support = describeModel(await readGGUF(blobs)).support;
    return support.ok ? { name: 'wasm', reason: support.reason } : { name: 'wllama', reason: `${support.reason}; llama.cpp (wllama) runs it` };
  } catch (e) {
    return { name: 'wllama', reason: `our GGUF reader refused the file (${e.message}); llama.cpp (wllama) may still load it` };
  }
}

// A minimal module using a v128 instruction: validates only where WebAssembly SIMD is supported.
const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 8, 1, 6, 0, 65, 0, 253, 15, 11]);

/**
 * @param {{model: string|object, backend?: string, onProgress?: Function, threads?: number, contextLength?: number, signal?: AbortSignal}} options
 */
export async function createEngine({ model, backend = 'auto', onProgress = () => {}, threads, contextLength, signal } = {}) {
  const manifest = typeof model === 'string' ? await fetchManifest(model) : model;
  const { blobs, from_storage, warnings } = await loadShards(manifest, { onProgress, signal });
  const choice = await chooseBackend(backend, manifest, blobs);
  onProgress({ phase: 'load', loaded: 0, total: manifest.total_bytes, shard: blobs.length, n_shards: blobs.length });
  const Backend = await BACKENDS[choice.name]();
  const impl = new Backend();
  const isolated = globalThis.crossOriginIsolated === true;
  await impl.load(blobs, {
    threads: threads ?? (isolated ? navigator.hardwareConcurrency || 1 : 1),
    contextLength: contextLength ?? Math.min(manifest.context_length || 2048, 4096),
  });
  onProgress({ phase: 'ready', loaded: manifest.total_bytes, total: manifest.total_bytes, shard: blobs.length, n_shards: blobs.length });
  return new Engine(manifest, impl, { ...choice, isolated, from_storage, warnings });
}

export class Engine {
  #busy = false;

  constructor(manifest, backend, info) {
    this.manifest = manifest;
    this.backend = backend;
    this.info = { model: manifest.id, backend: info.name, reason: info.reason, threads: backend.threads, simd: backend.info?.simd,
      isolated: info.isolated, shards_from_storage: info.from_storage, warnings: info.warnings };
    this.chat = { completions: { create: (request) => this.#create(request) } };
  }

  async unload() {
    await this.backend.unload();
  }

  async #create(request) {
    const req = checkRequest(request);
    const stream = this.#stream(req);
    return req.stream ? stream : collect(stream);
  }

  async *#stream(req) {
    if (this.#busy) throw new RequestError('A reply is already being generated; stop it before asking again.');
    this.#busy = true;
    const id = `chatcmpl-${crypto.randomUUID()}`;
    const created = Math.floor(Date.now() / 1000);
    const chunk = (delta, finish_reason = null, usage = undefined) => ({
      id, object: 'chat.completion.chunk', created, model: this.manifest.id,
      choices: [{ index: 0, delta, finish_reason }], ...(usage ? { usage } : {}),
    });
    const stop = new StopMatcher(req.stop);
    const t0 = performance.now();
    let t_first = null;
    let t_last = null;
    let n_pieces = 0;
    let n_first = 1;
    let end = { finish_reason: 'stop' };
    let role_sent = false;
    try {
      for await (const piece of this.backend.generate(req)) {
        if (piece.done) {
          end = piece;
          break;
        }
        t_last = performance.now();
        if (t_first === null) {
          t_first = t_last;
          n_first = piece.n ?? 1;
        }
        n_pieces += piece.n ?? 1; // a backend may deliver several tokens in one piece
        const text = stop.push(piece.text);
        if (text) {
          yield chunk(role_sent ? { content: text } : { role: 'assistant', content: text });
          role_sent = true;
        }
        if (stop.stopped) break; // leaving the loop ends the backend's generator, which stops it
      }
      const rest = stop.flush();
      if (rest) yield chunk({ content: rest });
      const completion_tokens = end.completion_tokens ?? n_pieces;
      const prompt_tokens = end.prompt_tokens ?? 0;
      const cached_prompt_tokens = end.cached_prompt_tokens ?? 0;
      const ttft = t_first === null ? null : (t_first - t0) / 1000;
      const decode_s = t_first === null ? 0 : (t_last - t_first) / 1000;
      const usage = {
        prompt_tokens, completion_tokens, total_tokens: prompt_tokens + completion_tokens,
        extra: {
          time_to_first_token_s: ttft,
          // The first token's time covers prefilling the prompt (less what the backend reused
          // from its KV cache); every later token is one decode step.
          prefill_tokens_per_s: ttft && prompt_tokens > cached_prompt_tokens ? (prompt_tokens - cached_prompt_tokens) / ttft : null,
          cached_prompt_tokens,
          // Tokens after the first piece, over the time from the first piece to the last.
          decode_tokens_per_s: decode_s > 0 ? (n_pieces - n_first) / decode_s : null,
          backend: this.info.backend,
          threads: this.info.threads,
          simd: this.info.simd,
        },
      };
      yield chunk({}, stop.stopped ? 'stop' : end.finish_reason, usage);
    } finally {
      this.#busy = false;
    }
  }
}

function checkRequest(r) {
  if (!r || !Array.isArray(r.messages) || r.messages.length === 0) {
    throw new RequestError('chat.completions.create needs a non-empty messages array.');
  }
  for (const m of r.messages) {
    if (!m || !['system', 'user', 'assistant'].includes(m.role) || typeof m.content !== 'string') {
      throw new RequestError('Each message needs a role (system, user or assistant) and string content.');
    }
  }
  const num = (v, name, lo, hi, dflt) => {
    if (v === undefined || v === null) return dflt;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < lo || v > hi) {
      throw new RequestError(`${name} must be a number from ${lo} to ${hi}; got ${v}.`);
    }
    return v;
  };
  const stop = r.stop === undefined || r.stop === null ? [] : Array.isArray(r.stop) ? r.stop : [r.stop];
  return {
    messages: r.messages.map(({ role, content }) => ({ role, content })),
    stream: r.stream === true,
    max_tokens: Math.floor(num(r.max_tokens, 'max_tokens', 1, 1 << 20, 512)),
    temperature: num(r.temperature, 'temperature', 0, 2, 0.7),
    top_p: num(r.top_p, 'top_p', 0, 1, 0.95),
    seed: r.seed === undefined ? undefined : Math.floor(num(r.seed, 'seed', 0, 2 ** 31 - 1)),
    stop,
    // Reuse the KV cache for the prefix this prompt shares with the last one (false: prefill it all).
    cache_prompt: r.cache_prompt !== false,
    signal: r.signal,
  };
}

async function collect(stream) {
  let content = '';
  let last = null;
  for await (const c of stream) {
    content += c.choices[0].delta.content ?? '';
    last = c;
  }
  return {
    id: last.id, object: 'chat.completion', created: last.created, model: last.model,
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: last.choices[0].finish_reason }],
    usage: last.usage,
  };
}

async function fetchJSON(url, what) {
  let res;
  try {
    res = await fetch(url, { cache: 'no-cache' });
  } catch (e) {
    throw new DownloadError(`Could not fetch ${what} (${e.message}). Check that the inpage host is running, then reload.`, { cause: e });
  }
  if (!res.ok) throw new DownloadError(`The host answered ${res.status} for ${what}. Check \`inpage models list\` on the host.`);
  return res.json();
}
