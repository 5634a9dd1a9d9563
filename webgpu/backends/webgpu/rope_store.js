// RoPE + KV store (rope_store.wgsl): pipeline, uniform packing, shape checks.

import { computePipeline } from './shader.js';
import { uniformStruct } from './uniforms.js';

const PARAMS = uniformStruct([
  ['n_heads', 'u32'], ['n_kv_heads', 'u32'], ['head_dim', 'u32'], ['n_rot', 'u32'], ['neox', 'u32'], ['n_tokens', 'u32'],
  ['pos0', 'u32'], ['n_ctx', 'u32'], ['qkv_stride', 'u32'], ['cs_offset', 'u32'],
]);
const WG = 64;

export class RopeStore {
  static async create(device) {
    return new RopeStore(await computePipeline(device, 'rope_store.wgsl'));
  }

  constructor(pipeline) {
    this.pipeline = pipeline;
  }

  /** cs: {buffer, offset(floats)} holding n_tokens rows of n_rot/2 (cos, sin) pairs. */
  call({ key, c, qkv, k_cache, v_cache, cs, n_ctx, pos0, n }) {
    if (c.head_dim % 2 || c.n_rot % 2 || c.n_rot > c.head_dim) throw new Error(`cannot rotate ${c.n_rot} of ${c.head_dim} dims`);
    if (pos0 + n > n_ctx) throw new Error(`positions up to ${pos0 + n} pass the cache's ${n_ctx}`);
    const pairs = ((c.n_heads + 2 * c.n_kv_heads) * c.head_dim) / 2;
    return {
      key, pipeline: this.pipeline, struct: PARAMS,
      params: { n_heads: c.n_heads, n_kv_heads: c.n_kv_heads, head_dim: c.head_dim, n_rot: c.n_rot, neox: c.rope_neox ? 1 : 0,
        n_tokens: n, pos0, n_ctx, qkv_stride: (c.n_heads + 2 * c.n_kv_heads) * c.head_dim, cs_offset: cs.offset },
      bindings: [[1, qkv], [2, k_cache], [3, v_cache], [4, cs.buffer]],
      groups: [Math.ceil(pairs / WG), n, 1],
    };
  }
}
