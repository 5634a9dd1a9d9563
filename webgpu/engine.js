// The engine every backend sits behind, shaped like web-llm's:
//
//   const engine = await createEngine({ model: 'smollm2-135m', backend: 'auto', onProgress });
//   for await (const chunk of await engine.chat.completions.create({ messages, stream: true })) ...
//
//   const embedder = await createEngine({ model: 'minilm-l6' });   // an encoder: embeddings only
//   const { data } = await embedder.embeddings.create({ input: ['a text', 'another'] });
//
// Backend-neutral parts live here: manifest, shard loading and verification, stop strings,
// OpenAI-shaped chunks, and the timing of each reply. A backend only turns messages into text pieces.

import { DeviceLostError, DownloadError, RequestError } from './errors.js';
import { checkResponseFormat } from './response_format.js';
import { ToolCallStream, checkTools, promptMessages, toolGrammar, toolsPrompt } from './tool_calls.js';
import { readGGUF } from './gguf.js';
import { describeEncoder, encoderWindow } from './encoder_model.js';
import { describeModel } from './model.js';
import { N_BATCH } from './ops_contract.js';
import { loadShards, shardHeaders } from './shards.js';
import { StopMatcher } from './stop.js';

// The bytes first read of a shard for its header before download (grown 4x until it parses): the
// tensor list of a 64 MiB shard takes a few KiB; the first shard's vocabulary, a few MiB.
const HEADER_FIRST_READ = 64 << 10;
// wllama's build: a 64-bit memory that grows to at most 4 GiB (its getHeapMax), weights included.
const WLLAMA_MAX_BYTES = 4 * 2 ** 30;

const BACKENDS = {
  webgpu: async () => (await import('./backends/worker.js')).WebGPUBackend,
  wasm: async () => (await import('./backends/worker.js')).WasmBackend,
  wllama: async () => (await import('./backends/wllama.js')).WllamaBackend,
};

export async function fetchCatalog() {
  return fetchJSON('/api/models', 'the model catalog');
}

export async function fetchManifest(modelId) {
  return fetchJSON(`/api/models/${encodeURIComponent(modelId)}/manifest.json`, `the manifest of ${modelId}`);
}

/**
 * Each backend's answer to "can you run this model here?": {ok, reason, software?}, best backend
 * first. model: describeModel's result, or {error} when our GGUF reader refused the file.
 */
export async function supports(model, { gpu = globalThis.navigator?.gpu } = {}) {
  const answers = {};
  const ours = model.error
    ? { ok: false, reason: `our GGUF reader refused the file (${model.error})` }
    : model.support;
  answers.webgpu = !ours.ok ? ours : await webgpuSupports(model, gpu);
  answers.wasm = !ours.ok ? ours
    : typeof WebAssembly !== 'object' || !WebAssembly.validate(SIMD_PROBE)
      ? { ok: false, reason: 'this browser lacks WebAssembly SIMD, which our engine needs' }
      : { ok: true, reason: ours.reason.replace('our engine', 'our WASM engine') };
  answers.wllama = { ok: true, reason: 'llama.cpp (wllama) runs any GGUF it knows' };
  return answers;
}

async function webgpuSupports(model, gpu) {
  if (!gpu) return { ok: false, reason: 'this browser has no WebGPU' };
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' }).catch(() => null);
  if (!adapter) return { ok: false, reason: 'the browser offers no WebGPU adapter' };
  if (!adapter.features.has('subgroups')) return { ok: false, reason: 'the WebGPU adapter lacks subgroups, which our kernels use' };
  const { planDevice, isSoftwareAdapter } = await import('./backends/webgpu/device.js');
  const plan = planDevice(model, adapter.limits);
  if (!plan.ok) return plan;
  const software = isSoftwareAdapter(adapter);
  const name = [adapter.info?.vendor, adapter.info?.architecture].filter(Boolean).join(' ') || 'a GPU';
  return software
    ? { ok: true, software, reason: `the WebGPU adapter is a software one (${name}), slower than our WASM engine` }
    : { ok: true, software, reason: `our WebGPU engine runs ${model.config.arch} on ${name}` };
}

/**
 * Pick a backend for a model whose shards are in hand; returns {name, task, reason} for the UI.
 * 'auto' ranks them: WebGPU on a hardware adapter, then our WASM engine, then wllama.
 * memory: {n_ctx, n_threads, kv_type}, the WASM engine's settings, which its memory plan prices.
 * A model that no backend can hold in memory is refused (RequestError) with the numbers; from the
 * shards' headers alone (first_read small), that happens before anything is downloaded.
 */
export async function chooseBackend(requested, manifest, blobs, { gpu, memory = {}, first_read } = {}) {
  if (requested !== 'auto' && !(requested in BACKENDS)) {
    throw new RequestError(`Unknown backend "${requested}"; use one of: auto, ${Object.keys(BACKENDS).join(', ')}.`);
  }
  let model;
  let gguf;
  let task = 'chat';
  try {
    gguf = await readGGUF(blobs, { first_read });
    // An encoder (BERT) embeds text; everything else chats.
    task = gguf.metadata.get('general.architecture') === 'bert' ? 'embedding' : 'chat';
    model = task === 'embedding' ? describeEncoder(gguf) : describeModel(gguf);
  } catch (e) {
    model = { error: e.message };
  }
  const answers = await supports(model, { gpu });
  const { planMemory, tooBig, gib } = await import('./backends/wasm/memory_plan.js');
  if (answers.wasm.ok) {
    // As createSession and createEmbeddingSession size the engine.
    let n_ctx = Math.min(memory.n_ctx ?? 4096, model.config.context_length ?? Infinity);
    let n_batch = N_BATCH;
    if (task === 'embedding') n_ctx = n_batch = encoderWindow(model, gguf).n_batch;
    const kv_type = memory.kv_type ?? 'f32';
    const plan = planMemory(model, gguf, { n_ctx, n_batch, n_threads: memory.n_threads ?? 1, kv_type });
    if (!plan.fits) answers.wasm = { ok: false, too_big: true, reason: tooBig(plan, n_ctx, kv_type, 'it') };
  }
  if (manifest.total_bytes > WLLAMA_MAX_BYTES) {
    answers.wllama = { ok: false, too_big: true,
      reason: `its ${gib(manifest.total_bytes)} of weights alone are more than the ${gib(WLLAMA_MAX_BYTES)} that llama.cpp's (wllama's) WebAssembly memory can hold` };
  }
  const refuse = (reason) => new RequestError(`${manifest.id} cannot run in this page: ${reason}.`);
  if (requested !== 'auto') {
    const a = answers[requested];
    if (a.too_big) throw refuse(a.reason);
    return { name: requested, task, reason: a.ok ? `it was asked for by name; ${a.reason}` : `it was asked for by name, though ${a.reason}` };
  }
  if (answers.webgpu.ok && !answers.webgpu.software) return { name: 'webgpu', task, reason: answers.webgpu.reason };
  if (answers.wasm.ok) {
    const why = answers.webgpu.ok ? answers.webgpu.reason : `WebGPU is out: ${answers.webgpu.reason}`;
    return { name: 'wasm', task, reason: `${answers.wasm.reason} (${why})` };
  }
  if (!answers.wllama.ok) throw refuse(answers.wasm.too_big ? answers.wasm.reason : answers.wllama.reason);
  return { name: 'wllama', task, reason: `${answers.wasm.reason}; llama.cpp (wllama) runs it` };
}

// A minimal module using a v128 instruction: validates only where WebAssembly SIMD is supported.
const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 8, 1, 6, 0, 65, 0, 253, 15, 11]);

/** The context, in tokens, an engine gets for a model by default (its own, at most 4096). */
export function contextOf(manifest) {
  return Math.min(manifest?.context_length || 2048, 4096);
}

/**
 * @param {{model: string|object, backend?: string, onProgress?: Function, onBackendChange?: Function,
 *          threads?: number, contextLength?: number, signal?: AbortSignal, activationBits?: 8|14,
 *          kvType?: 'f32'|'f16'}} options
 * onBackendChange(info): the engine moved to another backend by itself (a lost GPU: WASM takes over).
 * activationBits, kvType: our WASM backend's speed and memory trade-offs (webgpu/session.js).
 */
export async function createEngine({ model, backend = 'auto', onProgress = () => {}, onBackendChange = () => {}, threads,
  contextLength, signal, activationBits, kvType } = {}) {
  const manifest = typeof model === 'string' ? await fetchManifest(model) : model;
  const isolated = globalThis.crossOriginIsolated === true;
  const options = {
    threads: threads ?? (isolated ? navigator.hardwareConcurrency || 1 : 1),
    contextLength: contextLength ?? contextOf(manifest),
    activationBits,
    kvType,
  };
  const memory = { n_ctx: options.contextLength, n_threads: isolated ? options.threads : 1, kv_type: kvType };
  // Before downloading: refuse a model that no backend here can hold, from its shards' headers.
  const headers = await shardHeaders(manifest);
  await chooseBackend(backend, manifest, headers, { memory, first_read: HEADER_FIRST_READ });
  const { blobs, from_storage, warnings } = await loadShards(manifest, { onProgress, signal });
  const choice = await chooseBackend(backend, manifest, blobs, { memory });
  options.task = choice.task;
  onProgress({ phase: 'load', loaded: 0, total: manifest.total_bytes, shard: blobs.length, n_shards: blobs.length });
  const impl = await loadBackend(choice.name, blobs, options);
  onProgress({ phase: 'ready', loaded: manifest.total_bytes, total: manifest.total_bytes, shard: blobs.length, n_shards: blobs.length });
  return new Engine(manifest, impl, { ...choice, isolated, from_storage, warnings }, { blobs, options, onBackendChange });
}

async function loadBackend(name, blobs, options) {
  const Backend = await BACKENDS[name]();
  const impl = new Backend();
  await impl.load(blobs, options);
  return impl;
}

export class Engine {
  #turn = Promise.resolve(); // replies are generated one at a time, in the order they were asked for

  #embedding = Promise.resolve(); // embedding requests run one at a time, in order

  #fallback = null; // the switch to WASM under way after a lost GPU

  constructor(manifest, backend, info, { blobs, options, onBackendChange = () => {} } = {}) {
    this.manifest = manifest;
    this.info = { model: manifest.id, isolated: info.isolated, shards_from_storage: info.from_storage, warnings: info.warnings };
    this.#use(backend, info.name, info.reason);
    this.reload = { blobs, options, onBackendChange };
    this.task = options?.task ?? 'chat';
    this.chat = { completions: { create: (request) => this.#create(request) } };
    this.embeddings = { create: (request) => this.#embed(request) };
  }

  /**
   * OpenAI's embeddings.create: {input: string | string[], encoding_format?: 'float' | 'base64',
   * dimensions?} -> {object: 'list', data: [{object: 'embedding', index, embedding}], model, usage}.
   * Vectors have unit length (sentence-transformers' normalization), so a dot product is the cosine.
   */
  async #embed(request) {
    const id = this.manifest.id;
    if (this.task !== 'embedding') {
      throw new RequestError(`${id} is a chat model; embeddings need an embedding model such as minilm-l6.`);
    }
    const input = request?.input;
    const texts = typeof input === 'string' ? [input] : input;
    if (!Array.isArray(texts) || texts.length === 0 || !texts.every((t) => typeof t === 'string')) {
      throw new RequestError('embeddings.create needs input: a string or a non-empty array of strings.');
    }
    const format = request.encoding_format ?? 'float';
    if (format !== 'float' && format !== 'base64') throw new RequestError(`encoding_format must be float or base64, not ${format}.`);
    // A lost GPU: WASM takes over and answers the same request.
    const run = this.#embedding.then(() => this.backend.embed(texts).catch(async (e) => {
      if (!(e instanceof DeviceLostError)) throw e;
      await this.#fallBack(e.message);
      return this.backend.embed(texts);
    }));
    this.#embedding = run.catch(() => {});
    const r = await run;
    const dims = r.embeddings[0]?.length;
    if (request.dimensions !== undefined && request.dimensions !== dims) {
      throw new RequestError(`${id} makes ${dims}-dimensional vectors; dimensions ${request.dimensions} cannot be given.`);
    }
    return {
      object: 'list', model: id,
      data: r.embeddings.map((e, index) => ({ object: 'embedding', index, embedding: format === 'float' ? Array.from(e) : base64(e) })),
      usage: { prompt_tokens: r.prompt_tokens, total_tokens: r.prompt_tokens, truncated_inputs: r.truncated },
    };
  }

  #use(backend, name, reason) {
    this.backend = backend;
    Object.assign(this.info, { backend: name, reason, threads: backend.threads, simd: backend.info?.simd,
      adapter: backend.info?.adapter, activation_bits: backend.info?.activation_bits, kv_type: backend.info?.kv_type });
    backend.onDeviceLost = (message) => this.#fallBack(message);
  }

  /** The GPU went away: keep everything the caller holds, and carry on with our WASM engine. */
  #fallBack(message) {
    this.#fallback ??= (async () => {
      await this.backend.unload().catch(() => {});
      const { blobs, options, onBackendChange } = this.reload;
      const impl = await loadBackend('wasm', blobs, options);
      this.#use(impl, 'wasm', `the GPU stopped working (${message}), so our WASM engine took over`);
      onBackendChange(this.info);
    })();
    return this.#fallback;
  }

  async unload() {
    await this.backend.unload();
  }

  async #create(request) {
    if (this.task === 'embedding') {
      throw new RequestError(`${this.manifest.id} is an embedding model: use engine.embeddings.create, or load a chat model to chat.`);
    }
    const req = checkRequest(request, { renders_tools: this.backend.info?.renders_tools === true });
    const stream = this.#stream(req);
    return req.stream ? stream : collect(stream);
  }

  async *#stream(req) {
    const before = this.#turn;
    let release;
    this.#turn = new Promise((resolve) => { release = resolve; });
    const id = `chatcmpl-${crypto.randomUUID()}`;
    const created = Math.floor(Date.now() / 1000);
    const chunk = (delta, finish_reason = null, usage = undefined) => ({
      id, object: 'chat.completion.chunk', created, model: this.manifest.id,
      choices: [{ index: 0, delta, finish_reason }], ...(usage ? { usage } : {}),
    });
    const stop = new StopMatcher(req.stop);
    const calls = req.tool_calls ? new ToolCallStream() : null;
    const deltas = (text) => (calls ? calls.push(text) : text ? [{ content: text }] : []);
    let t0 = performance.now();
    let t_first = null;
    let t_last = null;
    let n_pieces = 0;
    let n_first = 1;
    let end = { finish_reason: 'stop' };
    let role_sent = false;
    try {
      await before;
      t0 = performance.now(); // the time to first token leaves out the wait for earlier replies
      if (this.#fallback) await this.#fallback;
      for await (const piece of req.signal?.aborted ? [{ done: true, finish_reason: 'abort' }] : this.#generate(req)) {
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
        for (const delta of deltas(stop.push(piece.text))) {
          yield chunk(role_sent ? delta : { role: 'assistant', ...delta });
          role_sent = true;
        }
        if (stop.stopped) break; // leaving the loop ends the backend's generator, which stops it
      }
      for (const delta of [...deltas(stop.flush()), ...(calls ? calls.end() : [])]) {
        yield chunk(role_sent ? delta : { role: 'assistant', ...delta });
        role_sent = true;
      }
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
          // WebGPU: dispatches, submits and bytes read back per decode step (deterministic).
          ...(end.device ? { device: end.device } : {}),
          // Constrained output: tokens checked, full masks computed, and their time.
          ...(end.grammar ? { grammar: end.grammar } : {}),
        },
      };
      const finish_reason = calls?.calls.length ? 'tool_calls' : stop.stopped ? 'stop' : end.finish_reason;
      yield chunk({}, finish_reason, usage);
    } finally {
      release();
    }
  }

  // The backend's pieces; a lost GPU ends this reply with DeviceLostError once WASM has taken over.
  async *#generate(req) {
    try {
      yield* this.backend.generate(req);
    } catch (e) {
      if (!(e instanceof DeviceLostError)) throw e;
      await this.#fallBack(e.message);
      throw new DeviceLostError(`${e.message} The reply stopped here; our WASM engine has taken over, so ask again to go on.`, { cause: e });
    }
  }
}

const ROLES = ['system', 'developer', 'user', 'assistant', 'tool'];

/** An OpenAI chat request, checked, with its prompt messages and grammar worked out. */
function checkRequest(r, { renders_tools = false } = {}) {
  if (!r || !Array.isArray(r.messages) || r.messages.length === 0) {
    throw new RequestError('chat.completions.create needs a non-empty messages array.');
  }
  const messages = r.messages.map(checkMessage);
  const num = (v, name, lo, hi, dflt) => {
    if (v === undefined || v === null) return dflt;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < lo || v > hi) {
      throw new RequestError(`${name} must be a number from ${lo} to ${hi}; got ${v}.`);
    }
    return v;
  };
  if (r.n !== undefined && r.n !== null && r.n !== 1) throw new RequestError('n must be 1: the page generates one choice per request.');
  const stop = r.stop === undefined || r.stop === null ? [] : Array.isArray(r.stop) ? r.stop : [r.stop];
  const format = checkResponseFormat(r.response_format);
  const tools = checkTools(r.tools, r.tool_choice);
  const use_tools = tools.choice !== 'none';
  const extra_system = [];
  if (use_tools && !renders_tools) extra_system.push(toolsPrompt(tools.tools));
  if (format.instruction) extra_system.push(format.instruction);
  let grammar = format.grammar;
  let grammar_trigger = null;
  if (use_tools) {
    ({ grammar, trigger: grammar_trigger } = toolGrammar(tools, { content_schema: format.schema, parallel: r.parallel_tool_calls === true }));
  }
  const max_tokens = r.max_completion_tokens ?? r.max_tokens;
  return {
    messages: promptMessages(messages, { native: use_tools && renders_tools, extra_system }),
    ...(use_tools && renders_tools ? { tools: tools.tools } : {}),
    stream: r.stream === true,
    max_tokens: Math.floor(num(max_tokens, 'max_tokens', 1, 1 << 20, 512)),
    temperature: num(r.temperature, 'temperature', 0, 2, 0.7),
    top_p: num(r.top_p, 'top_p', 0, 1, 0.95),
    seed: r.seed === undefined || r.seed === null ? undefined : Math.floor(num(r.seed, 'seed', 0, 2 ** 31 - 1)),
    stop,
    // Reuse the KV cache for the prefix this prompt shares with the last one (false: prefill it all).
    cache_prompt: r.cache_prompt !== false,
    grammar,
    grammar_trigger,
    // The reply is read for tool calls.
    ...(use_tools ? { tool_calls: true } : {}),
    signal: r.signal,
  };
}

// One message: role and content as OpenAI has them (content parts of type text are joined).
function checkMessage(m, i) {
  if (!m || !ROLES.includes(m.role)) throw new RequestError(`messages[${i}] needs a role: system, user, assistant or tool.`);
  let { content } = m;
  if (Array.isArray(content)) {
    if (!content.every((p) => p?.type === 'text' && typeof p.text === 'string')) {
      throw new RequestError(`messages[${i}].content has a part that is not text; this model reads text only.`);
    }
    content = content.map((p) => p.text).join('\n');
  }
  const calls = m.role === 'assistant' && Array.isArray(m.tool_calls) && m.tool_calls.length ? m.tool_calls : null;
  if (typeof content !== 'string' && !(calls && (content === null || content === undefined))) {
    throw new RequestError(`messages[${i}] needs string content (an assistant message with tool_calls may have none).`);
  }
  if (calls && !calls.every((c) => c?.type === 'function' && typeof c.function?.name === 'string')) {
    throw new RequestError(`messages[${i}].tool_calls must be [{id, type: "function", function: {name, arguments}}].`);
  }
  if (m.role === 'tool' && typeof m.tool_call_id !== 'string') throw new RequestError(`messages[${i}] (a tool result) needs its tool_call_id.`);
  return {
    role: m.role === 'developer' ? 'system' : m.role,
    content: content ?? null,
    ...(calls ? { tool_calls: calls } : {}),
    ...(m.role === 'tool' ? { tool_call_id: m.tool_call_id } : {}),
  };
}

/** Little-endian float32 bytes in base64, as OpenAI's encoding_format: 'base64'. */
function base64(v) {
  const bytes = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

/** A whole chat.completion from a stream of chunks (what stream: false returns). */
export async function collect(stream) {
  let content = null;
  const calls = [];
  let last = null;
  for await (const c of stream) {
    const { delta } = c.choices[0];
    if (delta.content) content = (content ?? '') + delta.content;
    for (const t of delta.tool_calls ?? []) {
      const call = (calls[t.index] ??= { id: t.id, type: 'function', function: { name: t.function.name, arguments: '' } });
      call.function.arguments += t.function.arguments ?? '';
    }
    last = c;
  }
  const message = { role: 'assistant', content: content ?? (calls.length ? null : ''), ...(calls.length ? { tool_calls: calls } : {}) };
  return {
    id: last.id, object: 'chat.completion', created: last.created, model: last.model,
    choices: [{ index: 0, message, finish_reason: last.choices[0].finish_reason }],
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
