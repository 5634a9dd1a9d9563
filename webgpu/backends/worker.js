// Backends of our own engine (webgpu/engine_worker.js): the C kernels compiled to WASM, with helper
// threads when the page is cross-origin isolated, or the WGSL kernels on WebGPU. Both run the same
// Session in a worker; this is the page's side of it.

import { BackendError, DeviceLostError, ModelLoadError, RequestError } from '../errors.js';

const LABEL = { wasm: 'Our WASM engine', webgpu: 'Our WebGPU engine' };

class WorkerBackend {
  /** @param {'wasm'|'webgpu'} kind */
  constructor(kind) {
    this.kind = kind;
    this.onDeviceLost = () => {};
  }

  /** activationBits and kvType are the WASM backend's trade-offs (session.js); WebGPU runs without them. */
  async load(blobs, { threads, contextLength, task = 'chat', activationBits, kvType }) {
    this.worker = new Worker(new URL('../engine_worker.js', import.meta.url), { type: 'module' });
    this.pending = new Map(); // id -> handler(msg)
    this.next_id = 1;
    this.lost = null; // the device-lost message, once the GPU is gone
    this.worker.onmessage = ({ data }) => {
      if (data.type === 'device-lost') {
        this.lost = data.message;
        this.onDeviceLost(data.message);
      } else {
        this.pending.get(data.id)?.(data);
      }
    };
    this.worker.onerror = (e) => {
      for (const handler of this.pending.values()) handler({ type: 'error', kind: 'engine', message: e.message || 'the engine worker crashed' });
    };
    try {
      this.info = await new Promise((resolve, reject) => {
        this.pending.set(undefined, (m) => (m.type === 'loaded' ? resolve(m.info) : reject(new Error(m.message))));
        const wasm_options = this.kind === 'wasm' ? { activation_bits: activationBits, kv_type: kvType } : {};
        this.worker.postMessage({ type: 'load', backend: this.kind, blobs, n_threads: threads, n_ctx: contextLength, task,
          ...wasm_options });
      });
    } catch (e) {
      this.worker.terminate();
      throw new ModelLoadError(`${LABEL[this.kind]} could not load the model: ${e.message}.`, { cause: e });
    } finally {
      this.pending.delete(undefined);
    }
    this.threads = this.info.threads;
    this.contextLength = this.info.n_ctx;
  }

  /** Stop the worker; requests still waiting on it fail (as device-lost when the GPU went away). */
  async unload() {
    this.worker?.terminate();
    const kind = this.lost ? 'device-lost' : 'engine';
    for (const handler of [...(this.pending?.values() ?? [])]) handler({ type: 'error', kind, message: this.lost ?? 'the engine was unloaded' });
  }

  /** Yields {text, n} for every n generated tokens, then {done, finish_reason, prompt_tokens, cached_prompt_tokens, completion_tokens}. */
  async *generate({ messages, max_tokens, temperature, top_p, seed, cache_prompt, grammar, grammar_trigger, tools, signal }) {
    const id = this.next_id++;
    const queue = [];
    let wake = null;
    this.pending.set(id, (m) => {
      queue.push(m);
      wake?.();
    });
    const abort = () => this.worker.postMessage({ type: 'abort', id });
    signal?.addEventListener('abort', abort, { once: true });
    let finished = false;
    try {
      this.worker.postMessage({ type: 'generate', id, messages, params: { max_tokens, temperature, top_p, seed, cache_prompt, grammar, grammar_trigger, tools } });
      for (;;) {
        if (queue.length === 0) await new Promise((r) => (wake = r));
        wake = null;
        const m = queue.shift();
        if (m.type === 'token') {
          yield { text: m.text, n: m.n };
        } else if (m.type === 'done') {
          finished = true;
          yield { done: true, ...m };
          return;
        } else if (m.type === 'error') {
          finished = true;
          throw workerError(m, this.kind);
        }
      }
    } finally {
      signal?.removeEventListener('abort', abort);
      if (!finished) abort(); // the reader stopped early (stop string): stop generating
      this.pending.delete(id);
    }
  }

  /** For tests: destroy the WebGPU device, as a driver reset or a lost GPU would. */
  loseDevice() {
    this.worker.postMessage({ type: 'lose-device' });
  }

  /** For tests and the bench: logits' argmax at every position, and full rows for `rows`. */
  evaluate(tokens, rows = []) {
    return this.#request({ type: 'evaluate', tokens, rows });
  }

  /** Unit vectors of texts (an encoder): {embeddings: Float32Array[], prompt_tokens, truncated}. */
  embed(texts) {
    return this.#request({ type: 'embed', texts });
  }

  tokenize(text) {
    return this.#request({ type: 'tokenize', text }).then((r) => r.tokens);
  }

  /** The chat template applied to messages: {text, tokens}. */
  prompt(messages) {
    return this.#request({ type: 'prompt', messages });
  }

  #request(msg) {
    const id = this.next_id++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, (m) => {
        this.pending.delete(id);
        if (m.type === 'error') reject(workerError(m, this.kind));
        else resolve(m);
      });
      this.worker.postMessage({ ...msg, id });
    });
  }
}

/** The named error for a worker's error message: whose fault it was decides the class. */
function workerError(m, kind) {
  if (m.kind === 'request') return new RequestError(m.message);
  if (m.kind === 'device-lost') return new DeviceLostError(`The GPU stopped working (${m.message}).`);
  return new BackendError(`${LABEL[kind]} failed: ${m.message}`);
}

export class WasmBackend extends WorkerBackend {
  constructor() {
    super('wasm');
  }
}

export class WebGPUBackend extends WorkerBackend {
  constructor() {
    super('webgpu');
  }
}
