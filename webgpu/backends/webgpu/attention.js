// Attention over the KV cache (attention.wgsl), causal or within packed sequences: pipeline,
// uniform packing, shape checks.

import { computePipeline } from './shader.js';
import { uniformStruct } from './uniforms.js';

const PARAMS = uniformStruct([
  ['n_heads', 'u32'], ['n_kv_heads', 'u32'], ['head_dim', 'u32'], ['n_ctx', 'u32'], ['pos0', 'u32'], ['q_stride', 'u32'],
  ['out_stride', 'u32'], ['scale', 'f32'], ['causal', 'u32'], ['softcap', 'f32'], ['window', 'u32'],
]);
export const MAX_HEAD_DIM = 256; // 2 WG in the WGSL

export class Attention {
  static async create(device) {
    return new Attention(await computePipeline(device, 'attention.wgsl'), device);
  }

  constructor(pipeline, device) {
    this.pipeline = pipeline;
    // Bound as `segments` by causal calls, which never read it.
    this.no_segments = device.createBuffer({ label: 'no segments', size: 8, usage: GPUBufferUsage.STORAGE });
  }

  /**
   * segments: null (causal), or a buffer of [first row, rows] per token (u32 pairs) for
   * bidirectional attention within each sequence. window: the layer's sliding window (0: none).
   */
  call({ key, c, qkv, k_cache, v_cache, out, n_ctx, pos0, n, segments = null, window = 0 }) {
    if (c.head_dim > MAX_HEAD_DIM) throw new Error(`head_dim ${c.head_dim} is more than the attention kernel's ${MAX_HEAD_DIM}`);
    if (c.n_heads % c.n_kv_heads) throw new Error(`n_heads ${c.n_heads} is not a multiple of n_kv_heads ${c.n_kv_heads}`);
    return {
      key, pipeline: this.pipeline, struct: PARAMS,
      params: { n_heads: c.n_heads, n_kv_heads: c.n_kv_heads, head_dim: c.head_dim, n_ctx, pos0,
        q_stride: (c.n_heads + 2 * c.n_kv_heads) * c.head_dim, out_stride: c.n_heads * c.head_dim,
        scale: c.attn_scale ?? 1 / Math.sqrt(c.head_dim), causal: segments ? 0 : 1, softcap: c.attn_softcap ?? 0,
        window: segments ? 0 : window },
      bindings: [[1, qkv], [2, k_cache], [3, v_cache], [4, out], [5, segments ?? this.no_segments]],
      groups: [c.n_heads, n, 1],
    };
  }
}
