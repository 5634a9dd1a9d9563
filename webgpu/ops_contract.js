// The ops contract: what the schedule (webgpu/forward.js) asks of a backend. Every backend (the WASM
// C kernels, the WebGPU shaders) implements exactly these, on buffers it owns, named below.
//
// Activation buffers, n = tokens in the batch (at most n_batch), rows of:
//   x, xb (dim) · qkv (q_dim + 2*kv_dim: q, then k, then v) · att (q_dim) · hb (hidden_dim) ·
//   logits (vocab_size)
// where q_dim = n_heads*head_dim and kv_dim = n_kv_heads*head_dim. The KV cache is per layer,
// [n_kv_heads][n_ctx][head_dim] for keys and for values.
//
// A weight handle is whatever the backend's loader returned for a tensor: the schedule only passes
// it back. Rows of a weight are output features, columns are input features (GGUF dims [cols, rows]).

/**
 * @typedef {'x'|'xb'|'qkv'|'att'|'hb'|'logits'} BufferName
 *
 * @typedef {object} Projection one output of a mat-vec op: out rows += or = W . input (+ bias)
 * @property {object} W the weight handle
 * @property {object|null} [bias] a vector of W.rows values added to each output row
 *
 * @typedef {object} BackendOps
 * @property {(table: object, tokens: number[], dst: BufferName, scale?: number) => void} embed
 *   dst rows 0..n-1 = rows `tokens` of the embedding table, dequantized, times scale (Gemma: sqrt(dim)).
 * @property {(pos0: number, n: number) => void} setPositions
 *   The batch's positions are pos0..pos0+n-1 (RoPE angles, causal masks, KV store offsets).
 * @property {(src: BufferName, weight: object, dst: BufferName, n: number, from?: number) => void} rmsnorm
 *   dst rows 0..n-from-1 = rmsnorm(src rows from..n-1) * weight.
 * @property {(input: BufferName, n: number, outs: Projection[], dst: BufferName, accumulate?: boolean, cap?: number) => void} matmuls
 *   dst rows = concat over outs of (input . W^T + bias), n rows; accumulate adds into dst instead;
 *   cap > 0 soft-caps the rows: cap * tanh(y / cap) (Gemma 2's final logits).
 * @property {(src: BufferName, weight: object, dst: BufferName, n: number) => void} rmsnormAdd
 *   dst rows 0..n-1 += rmsnorm(src rows) * weight (Gemma 2/3's norms after attention and feed-forward).
 * @property {(input: BufferName, n: number, w_gate: object, w_up: object, dst: BufferName, act: 'silu'|'gelu') => void} matmulGlu
 *   dst = act(input . w_gate^T) * (input . w_up^T), n rows: SwiGLU, or GeGLU with GELU's tanh form.
 * @property {(layer: number, n: number, norms?: {q: object, k: object}|null) => void} ropeStore
 *   Rotate the q and k parts of qkv at the batch positions with the layer's RoPE (ropeOf in
 *   model.js), then store k and v in the layer's cache. With norms, each q and k head is first
 *   RMS-normalized and weighted (head_dim weights).
 * @property {(layer: number, n: number) => void} attention
 *   att = causal softmax(cap(q k^T * attn_scale)) v over the cache, for the batch's queries, where
 *   cap(s) = attn_softcap * tanh(s / attn_softcap) when the config has a cap; on a sliding layer
 *   (windowOf in model.js) a query sees only the last sliding_window positions.

 * @property {(m: number) => Float32Array|Promise<Float32Array>} logits
 *   The first m rows of logits, once the work queued so far is done.
 * @property {(m: number) => Int32Array|Promise<Int32Array>} argmax
 *   The arg-max of each of the first m rows of logits (greedy sampling without a logits readback).
 * @property {(m: 1, plan: object) => Int32Array|Promise<Int32Array>} [sample]
 *   Optional: a token sampled on the device from logits row 0 by a Sampler.devicePlan within
 *   `sampleLimits` ({max_k, max_penalized, max_count}); a backend without it returns logits rows.
 * @property {() => object} [stats]
 *   Optional: counters since load ({forwards, dispatches, submits, readback_bytes, record_ms}).
 */

/**
 * The encoder's ops (webgpu/encoder.js), besides embed, setPositions, matmuls and ropeStore above
 * (with n_rot 0, ropeStore only stores the keys and values):
 *
 * @typedef {object} EncoderOps
 * @property {(table: object, ids: number[], dst: BufferName) => void} addRows
 *   dst rows 0..n-1 += rows `ids` of an f32 table (position and token-type embeddings).
 * @property {(src: BufferName, weight: object, bias: object, dst: BufferName, n: number) => void} layernorm
 *   dst rows = (src - mean) / sqrt(var + norm_eps) * weight + bias; dst may be src.
 * @property {(input: BufferName, n: number, W: object, bias: object, dst: BufferName) => void} matmulGelu
 *   dst = gelu(input . W^T + bias), the erf form, n rows.
 * @property {(layer: number, n: number, segments?: [number, number][]) => void} attention
 *   With segments ([first row, rows] each): bidirectional attention within each segment, whose
 *   keys sit at the same positions in the cache; without, causal (the contract above).
 * @property {(name: BufferName, n: number) => Float32Array|Promise<Float32Array>} rows
 *   The first n rows of a buffer, once the work queued so far is done.
 */

export const BUFFER_NAMES = ['x', 'xb', 'qkv', 'att', 'hb', 'logits'];

// Tokens per forward pass at most: prefill runs in batches of this many.
export const N_BATCH = 64;

/** Columns of each activation buffer for a model config. */
export function bufferColumns(c) {
  const q_dim = c.n_heads * c.head_dim;
  const kv_dim = c.n_kv_heads * c.head_dim;
  // An encoder has no logits: its output is the last layer's rows of x.
  return { x: c.dim, xb: c.dim, qkv: q_dim + 2 * kv_dim, att: q_dim, hb: c.hidden_dim, logits: c.encoder ? 0 : c.vocab_size };
}
