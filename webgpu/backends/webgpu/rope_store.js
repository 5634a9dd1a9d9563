// RoPE + KV store (rope_store.wgsl): pipeline, uniform packing, shape checks.

import { computePipeline } from './shader.js';
import { uniformStruct } from './uniforms.js';

const PARAMS = uniformStruct([
  ['n_heads', 'u32'], ['n_kv_heads', 'u32'], ['head_dim', 'u32'], ['n_rot', 'u32'], ['neox', 'u32'], ['n_tokens', 'u32'],
  ['pos0', 'u32'], ['n_ctx', 'u32'], ['qkv_stride', 'u32'], ['cs_offset', 'u32'], ['norm', 'u32'], ['eps', 'f32'],
]);
const MAX_HEAD_DIM = 256; // 2 WG in the WGSL

export class RopeStore {
  static async create(device) {
    return new RopeStore(await computePipeline(device, 'rope_store.wgsl'));
  }

  constructor(pipeline) {
    this.pipeline = pipeline;
  }

  /**
   * cs: {buffer, offset(floats)} holding n_tokens rows of n_rot/2 (cos, sin) pairs. norms: null, or
   * {q, k} f32 buffers of head_dim weights: each q and k head RMS-normalized and weighted first.
   */
  call({ key, c, qkv, k_cache, v_cache, cs, n_ctx, pos0, n, norms = null }) {
    if (c.head_dim % 2 || c.n_rot % 2 || c.n_rot > c.head_dim) throw new Error(`cannot rotate ${c.n_rot} of ${c.head_dim} dims`);
    if (c.head_dim > MAX_HEAD_DIM) throw new Error(`head_dim ${c.head_dim} is more than the rope kernel's ${MAX_HEAD_DIM}`);
    if (pos0 + n > n_ctx) throw new Error(`positions up to ${pos0 + n} pass the cache's ${n_ctx}`);
    return {
      key, pipeline: this.pipeline, struct: PARAMS,
      params: { n_heads: c.n_heads, n_kv_heads: c.n_kv_heads, head_dim: c.head_dim, n_rot: c.n_rot, neox: c.rope_neox ? 1 : 0,
        n_tokens: n, pos0, n_ctx, qkv_stride: (c.n_heads + 2 * c.n_kv_heads) * c.head_dim, cs_offset: cs.offset,
        norm: norms ? 1 : 0, eps: c.rms_eps ?? 0 },
      // Without norms, the q/k norm bindings take the table (never read).
      bindings: [[1, qkv], [2, k_cache], [3, v_cache], [4, cs.buffer], [5, norms?.q ?? cs.buffer], [6, norms?.k ?? cs.buffer]],
      groups: [c.n_heads + 2 * c.n_kv_heads, n, 1],
    };
  }
}
