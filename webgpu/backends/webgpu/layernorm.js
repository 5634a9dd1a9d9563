// LayerNorm (layernorm.wgsl): pipeline, uniform packing, shape checks.

import { computePipeline } from './shader.js';
import { uniformStruct } from './uniforms.js';

const PARAMS = uniformStruct([['n', 'u32'], ['stride', 'u32'], ['eps', 'f32']]);

export class LayerNorm {
  static async create(device) {
    return new LayerNorm(await computePipeline(device, 'layernorm.wgsl'));
  }

  constructor(pipeline) {
    this.pipeline = pipeline;
  }

  /** x rows 0..n-1 = layernorm(x rows) * weight + bias, in place; rows of `cols` floats. */
  call({ key, x, weight, bias, cols, n, eps }) {
    if (!(n >= 1)) throw new Error(`layernorm of ${n} rows`);
    return {
      key, pipeline: this.pipeline, struct: PARAMS,
      params: { n: cols, stride: cols, eps },
      bindings: [[1, x], [2, weight], [3, bias]],
      groups: [n, 1, 1],
    };
  }
}
