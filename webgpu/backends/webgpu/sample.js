// Sampling on the GPU (sample.wgsl): pipeline, uniform packing and the limits of what it can take.
// The plan comes from Sampler.devicePlan (webgpu/sampler.js), which also draws the random number.

import { computePipeline } from './shader.js';
import { uniformStruct } from './uniforms.js';

// What one dispatch can take: top-k candidates (the workgroup size) and distinct penalized tokens
// (the uniform array), each counted at most 255 times.
export const SAMPLE_LIMITS = { max_k: 256, max_penalized: 64, max_count: 255 };

const PARAMS = uniformStruct([
  ['n', 'u32'], ['k', 'u32'], ['n_penalized', 'u32'], ['r', 'f32'], ['inv_temperature', 'f32'], ['top_p', 'f32'],
  ['min_p', 'f32'], ['repetition_penalty', 'f32'], ['frequency_penalty', 'f32'], ['presence_penalty', 'f32'],
  ['_pad0', 'u32'], ['_pad1', 'u32'], ['penalized', 'array<vec4<u32>, 16>'],
]);

export class Sample {
  static async create(device) {
    return new Sample(await computePipeline(device, 'sample.wgsl'));
  }

  constructor(pipeline) {
    this.pipeline = pipeline;
    this.penalized = new Uint32Array(SAMPLE_LIMITS.max_penalized); // reused: packing allocates nothing
  }

  /**
   * ids[0] = a token sampled from the logits row (n values) by plan (Sampler.devicePlan). The
   * penalties are applied to the row in place.
   */
  call({ key, logits, ids, n, plan }) {
    const { k, penalties } = plan;
    if (!(k >= 1 && k <= Math.min(n, SAMPLE_LIMITS.max_k))) throw new Error(`top-k ${k} is outside 1..${Math.min(n, SAMPLE_LIMITS.max_k)}`);
    if (penalties.ids.length > SAMPLE_LIMITS.max_penalized) throw new Error(`${penalties.ids.length} penalized tokens; the kernel takes ${SAMPLE_LIMITS.max_penalized}`);
    this.penalized.fill(0);
    for (let i = 0; i < penalties.ids.length; i++) {
      const id = penalties.ids[i];
      const count = penalties.counts[i];
      if (id >= n || count > SAMPLE_LIMITS.max_count) throw new Error(`penalized token ${id} (x${count}) is out of range`);
      this.penalized[i] = (id | (count << 24)) >>> 0;
    }
    return {
      key, pipeline: this.pipeline, struct: PARAMS,
      params: {
        n, k, n_penalized: penalties.ids.length, r: plan.r, inv_temperature: plan.inv_temperature, top_p: plan.top_p,
        min_p: plan.min_p, repetition_penalty: penalties.repetition, frequency_penalty: penalties.frequency,
        presence_penalty: penalties.presence, _pad0: 0, _pad1: 0, penalized: this.penalized,
      },
      bindings: [[1, logits], [2, ids]],
      groups: [1, 1, 1],
    };
  }
}
