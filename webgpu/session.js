// A loaded model and its generation loop, backend-neutral: prefill after the cached prefix, decode
// with the sampler, evaluate for tests, and the KV bookkeeping. A backend only supplies its ops
// (webgpu/ops_contract.js); this runs the same in the engine worker and in node.

import { createChatTemplate } from './chat_template.js';
import { Transformer } from './forward.js';
import { readGGUF } from './gguf.js';
import { KVCache } from './kv_cache.js';
import { describeModel, readRopeFreqs } from './model.js';
import { N_BATCH } from './ops_contract.js';
import { Sampler, argmax } from './sampler.js';
import { TokenConstraint } from './token_mask.js';
import { Detokenizer, createTokenizer } from './tokenizer.js';

// Each backend's loader: (blobs, gguf, model, options) -> {ops, weights, info, release}.
const LOADERS = {
  wasm: async () => (await import('./backends/wasm/ops.js')).createWasmOps,
  webgpu: async () => (await import('./backends/webgpu/ops.js')).createWebGPUOps,
};

/**
 * Load GGUF shards (Blobs, in order) onto a backend.
 * @param {Blob[]} blobs
 * WASM only: activation_bits 14, or 8 for faster mat-vecs; kv_type 'f32', or 'f16' for half the KV
 * cache. What each costs in perplexity: README, Speed.
 * @param {{backend: 'wasm'|'webgpu', n_ctx: number, n_threads?: number, gpu?: GPU, onDeviceLost?: Function,
 *          limits?: object, activation_bits?: 8|14, kv_type?: 'f32'|'f16'}} options
 */
export async function createSession(blobs, { backend, n_ctx, n_threads = 1, gpu, onDeviceLost, limits, activation_bits, kv_type }) {
  if (!(backend in LOADERS)) throw new Error(`no engine backend "${backend}"`);
  const gguf = await readGGUF(blobs);
  const described = describeModel(gguf);
  if (!described.support.ok) throw new Error(described.support.reason);
  const model = { ...described, config: await readRopeFreqs(described, blobs) };
  const tokenizer = createTokenizer(gguf.metadata);
  const template = createChatTemplate(gguf.metadata, tokenizer);
  n_ctx = Math.min(n_ctx, model.config.context_length);
  const load = await LOADERS[backend]();
  const { ops, weights, info, release, loseDevice } = await load(blobs, gguf, model,
    { n_ctx, n_batch: N_BATCH, n_threads, gpu, onDeviceLost, limits, activation_bits, kv_type });
  const transformer = new Transformer(model.config, weights, ops, { n_ctx, n_batch: N_BATCH });
  return new Session({ transformer, tokenizer, template, config: model.config, release, loseDevice,
    info: { ...info, backend, n_ctx, arch: model.config.arch, reason: model.support.reason, renders_tools: template.renders_tools } });
}

export class Session {
  constructor({ transformer, tokenizer, template, config, info, release = () => {}, loseDevice = null }) {
    this.transformer = transformer;
    this.tokenizer = tokenizer;
    this.template = template;
    this.config = config;
    this.info = info;
    this.kv = new KVCache(transformer.n_ctx);
    this.release = release;
    // WebGPU only: destroy the device, which is how a lost GPU looks to the engine (tests).
    this.loseDevice = loseDevice;
  }

  /** The chat prompt for messages (and tools, when the template renders them), as text and as tokens. */
  renderPrompt(messages, tools) {
    const text = this.template(messages, { add_generation_prompt: true, tools });
    return { text, tokens: this.tokenizer.encode(text) };
  }

  /** Run tokens after the cached prefix `from`; resolves to the last row's logits or arg-max. */
  async prefill(tokens, from, want = 'logits') {
    this.kv.truncate(from);
    let out = null;
    for (let i = from; i < tokens.length; i += N_BATCH) {
      const chunk = tokens.slice(i, i + N_BATCH);
      // The KV cache forgets the chunk unless the forward pass completes.
      out = await this.transformer.forward(chunk, i, chunk.length - 1, want);
      this.kv.append(chunk);
    }
    return out;
  }

  /**
   * Generate a reply to messages. Yields {type: 'prefilled', prompt_tokens, cached_prompt_tokens},
   * then {type: 'token', text} per token, then {type: 'done', finish_reason, ...usage}.
   * params.grammar (webgpu/grammar.js's data): every token is one the grammar allows, and the reply
   * ends when the grammar is complete. With params.grammar_trigger, the grammar starts only after
   * the reply has written that text (a tool call's opening tag).
   * aborted(): polled after every token.
   */
  async *generate(messages, params, aborted = () => false) {
    const { tokenizer, kv } = this;
    const { tokens } = this.renderPrompt(messages, params.tools);
    if (tokens.length >= kv.n_ctx) {
      throw new RangeError(`The conversation is ${tokens.length} tokens, more than this model's ${kv.n_ctx}-token context. Start a new chat.`);
    }
    const cached = params.cache_prompt === false ? 0 : kv.reusable(tokens);
    const sampler = new Sampler(params);
    const constraint = params.grammar ? new TokenConstraint(params.grammar, tokenizer) : null;
    const trigger = params.grammar_trigger ?? null;
    let constrained = constraint !== null && trigger === null;
    let tail = ''; // the reply's last text, as much as may hold the start of the trigger
    const ops = this.transformer.backend;
    const V = this.config.vocab_size;
    const history = tokens.slice();
    // Greedy sampling with no penalties needs only the arg-max, and a backend that samples on the
    // device takes the sampler's plan: either way a GPU reads back one id instead of the row.
    // A grammar needs the whole row.
    const wantNext = () => {
      if (constrained) return 'logits';
      if (sampler.isGreedy) return 'argmax';
      const plan = ops.sample ? sampler.devicePlan(history, V, ops.sampleLimits) : null;
      return plan ? { sample: plan } : 'logits';
    };
    let want = wantNext();
    let out = await this.prefill(tokens, cached, want);
    yield { type: 'prefilled', prompt_tokens: tokens.length, cached_prompt_tokens: cached };

    const detok = new Detokenizer(tokenizer);
    const stats0 = ops.stats?.();
    let finish_reason = 'stop';
    let n_gen = 0;
    for (;;) {
      let next;
      if (constrained) next = constraint.sample(sampler, out.subarray(out.length - V), history, Math.min(params.max_tokens - n_gen, kv.n_ctx - kv.n_past));
      else next = want === 'logits' ? sampler.sample(out.subarray(out.length - V), history) : out[out.length - 1];
      if (tokenizer.isEog(next)) break;
      if (constrained) constraint.accept(next);
      const text = detok.push(next);
      yield { type: 'token', text };
      history.push(next);
      if (constraint && !constrained) {
        tail += text;
        const at = tail.indexOf(trigger);
        if (at !== -1) {
          constrained = true;
          // What this token wrote after the trigger is the grammar's first text.
          constraint.acceptText(tail.slice(at + trigger.length).trimStart());
        } else {
          tail = tail.slice(-(trigger.length - 1));
        }
      }
      n_gen++;
      if (constrained && constraint.done) break;
      if (n_gen >= params.max_tokens || kv.n_past >= kv.n_ctx) {
        finish_reason = 'length';
        break;
      }
      want = wantNext();
      out = await this.transformer.forward([next], kv.n_past, 0, want);
      kv.append([next]);
      if (await aborted()) {
        finish_reason = 'abort';
        break;
      }
    }
    const rest = detok.flush();
    if (rest) yield { type: 'token', text: rest, n: 0 };
    yield { type: 'done', finish_reason, prompt_tokens: tokens.length, cached_prompt_tokens: cached, completion_tokens: n_gen,
      ...(constraint ? { grammar: constraint.stats } : {}),
      ...(stats0 ? { device: perStep(stats0, ops.stats()) } : {}) };
  }

  /** Logits for a token sequence from position 0: arg-max at every position, full rows for `rows`. */
  async evaluate(tokens, rows = []) {
    const V = this.config.vocab_size;
    this.kv.clear();
    const top = new Int32Array(tokens.length);
    const wanted = new Map();
    for (let i = 0; i < tokens.length; i += this.transformer.n_batch) {
      const chunk = tokens.slice(i, i + this.transformer.n_batch);
      const logits = await this.transformer.forward(chunk, i, 0);
      this.kv.append(chunk);
      for (let t = 0; t < chunk.length; t++) {
        const row = logits.subarray(t * V, (t + 1) * V);
        top[i + t] = argmax(row);
        if (rows.includes(i + t)) wanted.set(i + t, row.slice());
      }
    }
    return { argmax: top, logits: rows.map((r) => wanted.get(r)) };
  }
}

/** A backend's work per decode step between two stats() readings: dispatches, submits, readback bytes. */
function perStep(before, after) {
  const steps = after.forwards - before.forwards;
  if (steps <= 0) return null;
  const per = (key) => (after[key] - before[key]) / steps;
  return { decode_steps: steps, dispatches_per_token: per('dispatches'), submits_per_token: per('submits'),
    readback_bytes_per_token: per('readback_bytes'), record_ms_per_token: per('record_ms') };
}
