// RMSNorm (rmsnorm.wgsl): pipeline, uniform packing, shape checks.

import { computePipeline } from './shader.js';
import { uniformStruct } from './uniforms.js';

const PARAMS = uniformStruct([['n', 'u32'], ['src_stride', 'u32'], ['dst_stride', 'u32'], ['first_row', 'u32'], ['eps', 'f32'], ['accumulate', 'u32']]);

export class RMSNorm {
  static async create(device) {
    return new RMSNorm(await computePipeline(device, 'rmsnorm.wgsl'));
  }

  constructor(pipeline) {
    this.pipeline = pipeline;
  }

  /** dst rows 0..n-from-1 = (or, accumulate, +=) rmsnorm(src rows from..n-1) * weight; rows of `cols` floats. */
  call({ key, src, weight, dst, cols, n, from = 0, eps, accumulate = false }) {
    if (!(from >= 0 && from < n)) throw new Error(`rmsnorm rows ${from}..${n} are empty`);
    return {
      key, pipeline: this.pipeline, struct: PARAMS,
      params: { n: cols, src_stride: cols, dst_stride: cols, first_row: from, eps, accumulate: accumulate ? 1 : 0 },
      bindings: [[1, src], [2, weight], [3, dst]],
      groups: [n - from, 1, 1],
    };
  }
}
