// Greedy sampling on the GPU (argmax.wgsl): one workgroup per logits row.

import { computePipeline } from './shader.js';
import { uniformStruct } from './uniforms.js';

const PARAMS = uniformStruct([['n', 'u32'], ['stride', 'u32']]);

export class Argmax {
  static async create(device) {
    return new Argmax(await computePipeline(device, 'argmax.wgsl'));
  }

  constructor(pipeline) {
    this.pipeline = pipeline;
  }

  /** ids[i] = arg-max of logits row i, for m rows of n values. */
  call({ key, logits, ids, n, m }) {
    return {
      key, pipeline: this.pipeline, struct: PARAMS, params: { n, stride: n },
      bindings: [[1, logits], [2, ids]], groups: [m, 1, 1],
    };
  }
}
