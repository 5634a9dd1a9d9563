// Sampling on the GPU (sample.wgsl) against the CPU sampler (webgpu/sampler.js), its reference:
// the same seed must pick the same token for every case. Prints a JSON summary.
// Usage: node --import ./webgpu/node/register.js tests/webgpu_sample.mjs

import { requestDevice } from '../webgpu/backends/webgpu/device.js';
import { Dispatcher } from '../webgpu/backends/webgpu/dispatcher.js';
import { SAMPLE_LIMITS, Sample } from '../webgpu/backends/webgpu/sample.js';
import { nodeGPU } from '../webgpu/node/runtime.js';
import { Sampler, seededRandom } from '../webgpu/sampler.js';

const gpu = await nodeGPU();
const { device, description } = await requestDevice(gpu);
const kernel = await Sample.create(device);
const USAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
const rand = seededRandom(2024);
const normal = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());

// Rows: realistic spreads, many exact ties (integers), large magnitudes with -inf, tiny vocabularies.
const ROWS = {
  normal: (n) => Float32Array.from({ length: n }, () => 3 * normal()),
  ties: (n) => Float32Array.from({ length: n }, () => Math.round(2 * normal())),
  large: (n) => Float32Array.from({ length: n }, (_, i) => (i % 97 === 0 ? -Infinity : 1e4 * normal())),
};
const SHAPES = [['normal', 49152], ['ties', 49152], ['large', 5003], ['normal', 300], ['ties', 40]];
const PARAMS = [
  { temperature: 0.7, top_k: 40, top_p: 0.95, min_p: 0.05 },
  { temperature: 2.0, top_k: 256, top_p: 1, min_p: 0 },
  { temperature: 1.0, top_k: 7, top_p: 0.5, min_p: 0 },
  { temperature: 0.3, top_k: 100, top_p: 1, min_p: 0.2 },
  { temperature: 1.2, top_k: 40, top_p: 0.9, min_p: 0.05, repetition_penalty: 1.3, frequency_penalty: 0.2, presence_penalty: 0.5 },
  { temperature: 0, top_k: 40, repetition_penalty: 1.5 }, // greedy with penalties: top-1 after them
];
const DRAWS = 6; // steps per sampler pair: different uniform draws

const logits = device.createBuffer({ label: 'logits', size: 49152 * 4, usage: USAGE });
const ids = device.createBuffer({ label: 'ids', size: 16, usage: USAGE });
const read = device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
const d = new Dispatcher(device, { n_slots: 1, head_bytes: 0 });

async function gpuSample(row, plan) {
  device.queue.writeBuffer(logits, 0, row);
  d.begin();
  d.dispatch(kernel.call({ key: 'case', logits, ids, n: row.length, plan }));
  d.submit((enc) => enc.copyBufferToBuffer(ids, 0, read, 0, 4));
  await read.mapAsync(GPUMapMode.READ);
  const id = new Uint32Array(read.getMappedRange().slice(0))[0];
  read.unmap();
  return id;
}

let n = 0;
const mismatches = [];
const t0 = performance.now();
for (const [kind, V] of SHAPES) {
  const row = ROWS[kind](V);
  // Recent tokens: some of the likeliest ones, several times, and some others.
  const order = Array.from(row.keys()).sort((a, b) => row[b] - row[a]);
  const history = Array.from({ length: 60 }, (_, i) => (i % 3 === 0 ? order[i % 5] : order[(i * 37) % V]));
  for (const [p, params] of PARAMS.entries()) {
    const seed = 1000 * p + V;
    const cpu = new Sampler({ ...params, seed });
    const dev = new Sampler({ ...params, seed });
    for (let step = 0; step < DRAWS; step++) {
      const plan = dev.devicePlan(history, V, SAMPLE_LIMITS);
      if (!plan) throw new Error(`no device plan for ${JSON.stringify(params)} on ${V} values`);
      const want = cpu.sample(row.slice(), history);
      const got = await gpuSample(row, plan);
      n++;
      if (got !== want) mismatches.push({ kind, V, params, step, want, got });
    }
  }
}
console.log(JSON.stringify({ cases: n, mismatches: mismatches.slice(0, 5), n_mismatches: mismatches.length,
  ms_per_case: (performance.now() - t0) / n, adapter: description }));
