// A loaded encoder (sentence embeddings) and its batching, backend-neutral: WordPiece the texts, pack
// them into passes of at most n_batch tokens, and return one unit vector per text, in input order.
// Runs the same in the engine worker and in node.

import { Encoder } from './encoder.js';
import { describeEncoder, encoderWindow } from './encoder_model.js';
import { readGGUF } from './gguf.js';
import { WordPiece } from './wordpiece.js';

/**
 * Load an encoder GGUF (Blobs of its shards, in order) onto a backend: our WASM or WebGPU engine.
 * @param {Blob[]} blobs
 * @param {{backend: 'wasm'|'webgpu', n_threads?: number, gpu?: GPU, onDeviceLost?: Function}} options
 *   gpu: navigator.gpu, or Dawn's in node
 */
export async function createEmbeddingSession(blobs, { backend, n_threads = 1, gpu, onDeviceLost }) {
  if (backend !== 'wasm' && backend !== 'webgpu') throw new Error(`our engine runs encoders on wasm or webgpu, not ${backend}`);
  const gguf = await readGGUF(blobs);
  const model = describeEncoder(gguf);
  if (!model.support.ok) throw new Error(model.support.reason);
  const tokenizer = WordPiece.fromMetadata(gguf.metadata);
  const { n_ctx, n_batch } = encoderWindow(model, gguf);
  const { ops, weights, info, release, loseDevice } = backend === 'webgpu'
    ? await (await import('./backends/webgpu/ops.js')).createWebGPUOps(blobs, gguf, model, { n_ctx: n_batch, n_batch, gpu, onDeviceLost })
    : await (await import('./backends/wasm/ops.js')).createWasmOps(blobs, gguf, model, { n_ctx: n_batch, n_batch, n_threads });
  const encoder = new Encoder(model.config, weights, ops, { n_batch });
  return new EmbeddingSession({ encoder, tokenizer, config: model.config, release, loseDevice,
    info: { ...info, backend, n_ctx, arch: model.config.arch, dimensions: model.config.dim, reason: model.support.reason } });
}

export class EmbeddingSession {
  constructor({ encoder, tokenizer, config, info, release = () => {}, loseDevice = null }) {
    this.encoder = encoder;
    this.tokenizer = tokenizer;
    this.config = config;
    this.info = info;
    this.release = release;
    this.loseDevice = loseDevice; // WebGPU: destroy the device, as a lost GPU would (tests)
  }

  /**
   * Unit-length embeddings of texts: {embeddings: Float32Array[], prompt_tokens, truncated}.
   * A text longer than the context is cut there (truncated counts those), as sentence-transformers does.
   */
  async embed(texts) {
    const max_tokens = this.info.n_ctx;
    const encoded = texts.map((t) => this.tokenizer.encodeCut(t, max_tokens));
    const sequences = encoded.map((e) => e.ids);
    const truncated = encoded.filter((e) => e.truncated).length;
    const embeddings = new Array(texts.length);
    // Pack in input order: each pass takes texts until the next would overflow it.
    for (let i = 0; i < sequences.length;) {
      let n = 0;
      let j = i;
      while (j < sequences.length && n + sequences[j].length <= this.encoder.n_batch) n += sequences[j++].length;
      const out = await this.encoder.embed(sequences.slice(i, j));
      out.forEach((e, k) => (embeddings[i + k] = e));
      i = j;
    }
    return { embeddings, prompt_tokens: sequences.reduce((s, q) => s + q.length, 0), truncated };
  }
}
