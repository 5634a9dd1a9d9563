// Backend: llama.cpp compiled to WASM, through @wllama/wllama. It runs in wllama's own worker,
// multi-threaded when the page is cross-origin isolated. It is our fallback and our yardstick.

import { Wllama, WllamaAbortError } from '/vendor/wllama/index.js';
import { ModelLoadError, RequestError } from '../errors.js';

const WASM_PATHS = { default: '/vendor/wllama/wllama.wasm' };

const quietLogger = {
  debug: () => {},
  log: () => {},
  warn: (...a) => console.warn('[wllama]', ...a),
  error: (...a) => console.error('[wllama]', ...a),
};

export class WllamaBackend {
  static id = 'wllama';

  async load(blobs, { threads, contextLength, task = 'chat' }) {
    this.wllama = new Wllama(WASM_PATHS, { suppressNativeLog: true, logger: quietLogger });
    try {
      // n_gpu_layers 0: this is the CPU yardstick; WebGPU gets a backend of its own. An encoder
      // pools as its GGUF says (mean for sentence-transformers models).
      await this.wllama.loadModel(blobs, { n_threads: threads, n_ctx: contextLength, n_gpu_layers: 0, embeddings: task === 'embedding' });
    } catch (e) {
      throw new ModelLoadError(`llama.cpp (wllama) could not load the model: ${e.message}. Try reloading the page; if it persists, re-pull the model on the host.`, { cause: e });
    }
    this.threads = this.wllama.getNumThreads();
    this.contextLength = contextLength;
  }

  async unload() {
    await this.wllama?.exit();
  }

  /** Unit vectors of texts (an encoder): {embeddings: Float32Array[], prompt_tokens, truncated}. */
  async embed(texts) {
    const embeddings = [];
    let prompt_tokens = 0;
    for (const input of texts) {
      const r = await this.wllama.createEmbedding({ input });
      const v = Float32Array.from(r.data[0].embedding);
      const norm = Math.hypot(...v) || 1;
      embeddings.push(v.map((x) => x / norm));
      prompt_tokens += r.usage?.prompt_tokens ?? 0;
    }
    return { embeddings, prompt_tokens, truncated: 0 };
  }

  /** Yields {text} per generated token, then {done, finish_reason, prompt_tokens, cached_prompt_tokens, completion_tokens}. */
  async *generate({ messages, max_tokens, temperature, top_p, seed, cache_prompt, grammar, signal }) {
    if (grammar) {
      throw new RequestError('Structured output and tool calls need our own engine (WASM or WebGPU); this model runs on llama.cpp (wllama), which the page does not constrain. Pick another backend or model.');
    }
    const ctrl = new AbortController();
    const abort = () => ctrl.abort();
    signal?.addEventListener('abort', abort, { once: true });
    let finished = false;
    try {
      const stream = await this.wllama.createChatCompletion({
        messages, stream: true, max_tokens, temperature, top_p, seed, cache_prompt, abortSignal: ctrl.signal,
      });
      let finish_reason = null;
      let usage = null;
      let timings = null;
      for await (const chunk of stream) {
        const choice = chunk.choices?.[0];
        if (choice?.delta?.content) yield { text: choice.delta.content };
        finish_reason = choice?.finish_reason ?? finish_reason;
        usage = chunk.usage ?? usage;
        timings = chunk.timings ?? timings;
      }
      finished = true;
      yield {
        done: true,
        finish_reason: finish_reason ?? 'stop',
        // llama-server reuses the KV cache for a repeated prompt prefix: cache_n tokens were
        // reused, prompt_n were prefilled now.
        prompt_tokens: usage?.prompt_tokens ?? (timings ? timings.cache_n + timings.prompt_n : undefined),
        cached_prompt_tokens: timings?.cache_n ?? 0,
        completion_tokens: usage?.completion_tokens ?? timings?.predicted_n,
      };
    } catch (e) {
      if (ctrl.signal.aborted || e instanceof WllamaAbortError) {
        finished = true;
        yield { done: true, finish_reason: 'abort' };
        return;
      }
      if (e?.type === 'kv_cache_full' || /context|kv cache/i.test(e?.message ?? '')) {
        throw new RequestError(`The conversation no longer fits the model's ${this.contextLength}-token context. Start a new chat.`, { cause: e });
      }
      throw e;
    } finally {
      signal?.removeEventListener('abort', abort);
      if (!finished) ctrl.abort(); // the reader stopped early (stop string): stop generating
    }
  }
}
