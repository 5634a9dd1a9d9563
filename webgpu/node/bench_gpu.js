// Throughput of the WebGPU engine in node (Dawn), for a GPU machine without a browser:
//   node --import ./webgpu/node/register.js webgpu/node/bench_gpu.js [--shapes a:Q4_0,b:Q4_K] [--matvec] [--out f.json]
// Models are synthetic (webgpu/synthetic.js): random weights of a real model's shape, for speed
// only. Prefill: 64 tokens from position 0; decode: greedy steps (one 4-byte readback each), after
// a warm-up, median of the runs. Each timed span ends on a readback. --matvec: 20 dispatches of one
// mat-vec in one pass (the call built once), timed to the queue's completion, median of 3.

import { writeFileSync } from 'node:fs';
import { MODE, QuantMatvec } from '../backends/webgpu/quant_matvec.js';
import { Dispatcher } from '../backends/webgpu/dispatcher.js';
import { createWebGPUOps } from '../backends/webgpu/ops.js';
import { Transformer } from '../forward.js';
import { N_BATCH } from '../ops_contract.js';
import { SHAPES, syntheticModel } from '../synthetic.js';
import { nodeGPU } from './runtime.js';

const args = Object.fromEntries(process.argv.slice(2).join(' ').split('--').filter(Boolean).map((a) => {
  const [k, ...v] = a.trim().split(' ');
  return [k, v.join(' ') || true];
}));
const shapes = (args.shapes ?? 'smollm2-135m:Q4_1').split(',').map((s) => s.split(':'));
const runs = Number(args.runs ?? 3);
const n_decode = Number(args.decode ?? 64);
const gpu = await nodeGPU();
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const result = { schema: 'inpage.gpu-bench/1', runtime: `node ${process.version}, Dawn (npm webgpu)`, models: [], matvec: [] };

for (const [name, type] of shapes) {
  if (!SHAPES[name]) throw new Error(`unknown shape ${name}`);
  const t_load = performance.now();
  const { model, gguf, blobs, shape } = syntheticModel(name, type);
  const n_ctx = 1024;
  const loaded = await createWebGPUOps(blobs, gguf, model, { n_ctx, n_batch: N_BATCH, gpu });
  result.adapter ??= loaded.info.adapter;
  const tr = new Transformer(model.config, loaded.weights, loaded.ops, { n_ctx, n_batch: N_BATCH });
  const load_s = (performance.now() - t_load) / 1000;
  const prompt = Array.from({ length: 64 }, (_, i) => (i * 977) % model.config.vocab_size);
  const prefill = [];
  const decode = [];
  let per_token = null;
  for (let r = 0; r <= runs; r++) {
    let t = performance.now();
    let out = await tr.forward(prompt, 0, prompt.length - 1, 'argmax');
    const p_s = (performance.now() - t) / 1000;
    const before = loaded.ops.stats();
    t = performance.now();
    for (let i = 0; i < n_decode; i++) out = await tr.forward([out[0]], prompt.length + i, 0, 'argmax');
    const d_s = (performance.now() - t) / 1000;
    const after = loaded.ops.stats();
    per_token = { dispatches: (after.dispatches - before.dispatches) / n_decode, submits: (after.submits - before.submits) / n_decode,
      record_ms: (after.record_ms - before.record_ms) / n_decode, total_ms: (d_s * 1000) / n_decode };
    if (r > 0) { // run 0 is the warm-up
      prefill.push(prompt.length / p_s);
      decode.push(n_decode / d_s);
    }
  }
  const row = { shape, synthetic: true, load_s, prefill_tps: { median: median(prefill), min: Math.min(...prefill), max: Math.max(...prefill) },
    decode_tps: { median: median(decode), min: Math.min(...decode), max: Math.max(...decode) }, per_token,
    weight_gb_per_s: (shape.weight_bytes / 1e9) * median(decode) };
  result.models.push(row);
  console.log(`${name} ${type} (synthetic): decode ${row.decode_tps.median.toFixed(1)} tok/s, prefill ${row.prefill_tps.median.toFixed(1)} tok/s,`,
    `${per_token.dispatches} dispatches and ${per_token.submits} submits per token (${per_token.record_ms.toFixed(2)} of ${per_token.total_ms.toFixed(2)} ms recording),`,
    `${row.weight_gb_per_s.toFixed(0)} GB/s of weights`);
  loaded.release();
}

if (args.matvec) {
  const device = await (await gpu.requestAdapter({ powerPreference: 'high-performance' })).requestDevice({
    requiredFeatures: ['subgroups'], requiredLimits: { maxStorageBufferBindingSize: 2 ** 31 - 4, maxBufferSize: 2 ** 31 - 4 } });
  const qm = await QuantMatvec.create(device, { subgroup_min_size: 32 });
  const REPS = 20;
  for (const [rows, cols] of [[4096, 4096], [14336, 4096], [128256, 4096]]) {
    for (const type of ['Q4_0', 'Q4_1', 'Q4_K', 'Q6_K', 'Q8_0']) {
      const { gguf, blobs } = syntheticModel('llama-3.1-8b', type);
      const t = gguf.tensors.find((x) => x.name === 'blk.0.ffn_gate.weight');
      const src = new Uint8Array(await blobs[t.shard].arrayBuffer());
      const row_bytes = t.n_bytes / t.dims[1];
      const bytes = rows * row_bytes;
      const w = device.createBuffer({ size: Math.ceil(bytes / 4) * 4 + 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
      for (let at = 0; at < bytes; at += src.length) device.queue.writeBuffer(w, at, src, 0, Math.min(src.length, bytes - at) & ~3);
      const x = device.createBuffer({ size: cols * 4, usage: GPUBufferUsage.STORAGE });
      const out = device.createBuffer({ size: rows * 4, usage: GPUBufferUsage.STORAGE });
      const d = new Dispatcher(device, { n_slots: REPS, head_bytes: 0 });
      const call = qm.matvec({ key: 'mv', parts: [{ buffer: w, rows, type: t.type }], n_cols: cols, n_tokens: 1, x, x_stride: cols, out, out_stride: rows, mode: MODE.write });
      const times = [];
      for (let r = 0; r < 4; r++) {
        await device.queue.onSubmittedWorkDone();
        const t0 = performance.now();
        d.begin();
        for (let i = 0; i < REPS; i++) d.dispatch(call);
        d.submit();
        await device.queue.onSubmittedWorkDone();
        if (r > 0) times.push((performance.now() - t0) / 1000);
      }
      const gbs = (REPS * bytes) / median(times) / 1e9;
      result.matvec.push({ rows, cols, type, bytes, gb_per_s: gbs, us_per_matvec: (median(times) / REPS) * 1e6 });
      console.log(`matvec ${rows}x${cols} ${type}: ${gbs.toFixed(0)} GB/s, ${((median(times) / REPS) * 1e6).toFixed(1)} us`);
      w.destroy();
    }
  }
}
if (args.out) writeFileSync(args.out, JSON.stringify(result, null, 2));
