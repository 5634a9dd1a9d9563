// Synthetic models for throughput only: random weights of a named model shape and weight type,
// made at run time, never stored, never used for quality. They give the same kernels the same
// bytes to move as the real model, without downloading it.

import { GGML_TYPES } from './gguf.js';
import { describeModel } from './model.js';

// Hyper-parameters as the models' GGUF metadata has them.
export const SHAPES = {
  'smollm2-135m': { arch: 'llama', n_layers: 30, dim: 576, hidden_dim: 1536, n_heads: 9, n_kv_heads: 3, vocab_size: 49152, tied: true, rope_theta: 100000 },
  'qwen2.5-0.5b': { arch: 'qwen2', n_layers: 24, dim: 896, hidden_dim: 4864, n_heads: 14, n_kv_heads: 2, vocab_size: 151936, tied: true, bias: true, rope_theta: 1000000 },
  'llama-3.2-1b': { arch: 'llama', n_layers: 16, dim: 2048, hidden_dim: 8192, n_heads: 32, n_kv_heads: 8, vocab_size: 128256, tied: true, rope_theta: 500000 },
  'llama-3.1-8b': { arch: 'llama', n_layers: 32, dim: 4096, hidden_dim: 14336, n_heads: 32, n_kv_heads: 8, vocab_size: 128256, tied: false, rope_theta: 500000 },
};
const TYPE_IDS = Object.fromEntries(Object.entries(GGML_TYPES).map(([id, [name]]) => [name, Number(id)]));
// Byte offsets of f16 scales inside a block: set to small normal values so no weight is NaN.
const F16_FIELDS = { Q4_0: [0], Q4_1: [0, 2], Q5_0: [0], Q5_1: [0, 2], Q8_0: [0], Q2_K: [80, 82], Q3_K: [108], Q4_K: [0, 2], Q5_K: [0, 2], Q6_K: [208] };
const POOL_BYTES = 1 << 22;

/**
 * A synthetic model: {model (describeModel's result), gguf: {metadata, tensors}, blobs, shape}.
 * Each tensor is its own Blob, cut from one pool of random blocks.
 */
export function syntheticModel(shape_name, type_name = 'Q4_0', { seed = 1 } = {}) {
  const s = SHAPES[shape_name];
  if (!s) throw new Error(`no synthetic shape ${shape_name}; one of ${Object.keys(SHAPES).join(', ')}`);
  const type = TYPE_IDS[type_name];
  if (type === undefined || !(type_name in F16_FIELDS || type_name === 'F16' || type_name === 'F32')) throw new Error(`no synthetic weights of type ${type_name}`);
  const head_dim = s.dim / s.n_heads;
  const arch = s.arch;
  const metadata = new Map(Object.entries({
    'general.architecture': arch, [`${arch}.block_count`]: s.n_layers, [`${arch}.embedding_length`]: s.dim,
    [`${arch}.feed_forward_length`]: s.hidden_dim, [`${arch}.attention.head_count`]: s.n_heads,
    [`${arch}.attention.head_count_kv`]: s.n_kv_heads, [`${arch}.context_length`]: 8192,
    [`${arch}.attention.layer_norm_rms_epsilon`]: 1e-5, [`${arch}.rope.freq_base`]: s.rope_theta,
  }));
  const pool = randomPool(type_name, seed);
  const tensors = [];
  const blobs = [];
  const add = (name, dims, t = type) => {
    const [tn, elems, bytes] = GGML_TYPES[t];
    const n_bytes = (dims.reduce((a, b) => a * b, 1) / elems) * bytes;
    tensors.push({ name, dims, type: t, type_name: tn, n_bytes, offset: 0, shard: blobs.length });
    blobs.push(t === 0 ? new Blob([onesF32(dims[0])]) : poolBlob(pool.get(t), n_bytes, blobs.length));
  };
  const q_dim = s.n_heads * head_dim;
  const kv_dim = s.n_kv_heads * head_dim;
  add('token_embd.weight', [s.dim, s.vocab_size]);
  add('output_norm.weight', [s.dim], 0);
  if (!s.tied) add('output.weight', [s.dim, s.vocab_size]);
  for (let l = 0; l < s.n_layers; l++) {
    const b = `blk.${l}.`;
    add(`${b}attn_norm.weight`, [s.dim], 0);
    add(`${b}ffn_norm.weight`, [s.dim], 0);
    add(`${b}attn_q.weight`, [s.dim, q_dim]);
    add(`${b}attn_k.weight`, [s.dim, kv_dim]);
    add(`${b}attn_v.weight`, [s.dim, kv_dim]);
    if (s.bias) {
      add(`${b}attn_q.bias`, [q_dim], 0);
      add(`${b}attn_k.bias`, [kv_dim], 0);
      add(`${b}attn_v.bias`, [kv_dim], 0);
    }
    add(`${b}attn_output.weight`, [q_dim, s.dim]);
    add(`${b}ffn_gate.weight`, [s.dim, s.hidden_dim]);
    add(`${b}ffn_up.weight`, [s.dim, s.hidden_dim]);
    add(`${b}ffn_down.weight`, [s.hidden_dim, s.dim]);
  }
  const gguf = { metadata, tensors };
  const model = describeModel(gguf);
  if (!model.support.ok) throw new Error(model.support.reason);
  const weight_bytes = tensors.reduce((n, t) => n + t.n_bytes, 0);
  return { model, gguf, blobs, shape: { name: shape_name, type: type_name, ...s, head_dim, weight_bytes, synthetic: true } };
}

function randomPool(type_name, seed) {
  let a = seed >>> 0;
  const random = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
  const pools = new Map();
  const make = (t) => {
    const [name, , block_bytes] = GGML_TYPES[t];
    const n_blocks = Math.floor(POOL_BYTES / block_bytes);
    const bytes = new Uint8Array(n_blocks * block_bytes);
    const words = new Uint32Array(bytes.buffer, 0, bytes.length >> 2);
    for (let i = 0; i < words.length; i++) words[i] = random();
    const view = new DataView(bytes.buffer);
    const fields = name === 'F16' ? null : F16_FIELDS[name];
    for (let b = 0; b < n_blocks; b++) {
      for (const off of fields ?? []) view.setUint16(b * block_bytes + off, 0x2000 | (random() & 0x3ff), true); // ~0.008..0.016
    }
    if (name === 'F16') for (let i = 0; i < bytes.length; i += 2) view.setUint16(i, 0x2000 | (random() & 0x3ff) | (random() & 0x8000), true);
    return { bytes, block_bytes };
  };
  return { get: (t) => pools.get(t) ?? pools.set(t, make(t)).get(t) };
}

// n_bytes of whole blocks from the pool, starting at a block that depends on the tensor.
function poolBlob({ bytes, block_bytes }, n_bytes, salt) {
  const parts = [];
  let at = ((salt * 7919) % Math.floor(bytes.length / block_bytes)) * block_bytes;
  for (let left = n_bytes; left > 0;) {
    const n = Math.min(left, bytes.length - at);
    parts.push(bytes.subarray(at, at + n));
    left -= n;
    at = 0;
  }
  return new Blob(parts);
}

function onesF32(n) {
  return new Float32Array(n).fill(1);
}
