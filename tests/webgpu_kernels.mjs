// Runs WebGPU kernels on inputs written by tests/test_webgpu_kernels.py, in node on Dawn (SwiftShader
// on the CPU machines), and writes each case's output buffer back for numpy to check.
// Usage: node --import ./webgpu/node/register.js tests/webgpu_kernels.mjs CASES.json
// CASES.json: [{kernel, buffers: {name: file}, args, output, output_bytes}], files beside it.

import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Argmax } from '../webgpu/backends/webgpu/argmax.js';
import { Attention } from '../webgpu/backends/webgpu/attention.js';
import { requestDevice } from '../webgpu/backends/webgpu/device.js';
import { Dispatcher } from '../webgpu/backends/webgpu/dispatcher.js';
import { LayerNorm } from '../webgpu/backends/webgpu/layernorm.js';
import { MODE, QuantMatvec } from '../webgpu/backends/webgpu/quant_matvec.js';
import { RMSNorm } from '../webgpu/backends/webgpu/rmsnorm.js';
import { RopeStore } from '../webgpu/backends/webgpu/rope_store.js';
import { nodeGPU } from '../webgpu/node/runtime.js';

const spec_path = process.argv[2];
const dir = dirname(spec_path);
const cases = JSON.parse(readFileSync(spec_path, 'utf8'));
const gpu = await nodeGPU();
const { device, description } = await requestDevice(gpu);
const k = {
  matvec: await QuantMatvec.create(device, description), rmsnorm: await RMSNorm.create(device),
  rope: await RopeStore.create(device), attention: await Attention.create(device), argmax: await Argmax.create(device),
  layernorm: await LayerNorm.create(device),
};
const USAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

for (const [i, c] of cases.entries()) {
  const buf = {};
  const sizes = {}; // bytes as written, before padding to whole words
  for (const [name, file] of Object.entries(c.buffers)) {
    const bytes = readFileSync(join(dir, file));
    const b = device.createBuffer({ label: name, size: Math.ceil(bytes.byteLength / 4) * 4 + 4, usage: USAGE, mappedAtCreation: true });
    new Uint8Array(b.getMappedRange()).set(bytes);
    b.unmap();
    buf[name] = b;
    sizes[name] = bytes.byteLength;
  }
  const a = c.args;
  const d = new Dispatcher(device, { n_slots: 2, head_bytes: a.head ? a.head.length * 4 : 0 });
  d.begin();
  if (a.head) d.head(a.head.length).set(a.head);
  const parts = () => a.parts.map((p) => ({ buffer: buf[p.buffer], rows: p.rows, type: p.type }));
  if (c.kernel === 'matvec') {
    d.dispatch(k.matvec.matvec({ key: 'case', parts: parts(), n_cols: a.n_cols, n_tokens: a.n_tokens, x: buf.x, x_stride: a.x_stride,
      x_offset: a.x_offset ?? 0, out: buf.out, out_stride: a.out_stride, out_offset: a.out_offset ?? 0, mode: MODE[a.mode ?? 'write'],
      bias: buf.bias ?? null, scalar: a.scalar ?? 0 }));
  } else if (c.kernel === 'embed') {
    d.dispatch(k.matvec.embed({ key: 'case', parts: parts(), n_cols: a.n_cols, tokens: a.tokens, out: buf.out, out_stride: a.out_stride,
      scale: a.scale ?? 1 }));
  } else if (c.kernel === 'rmsnorm') {
    d.dispatch(k.rmsnorm.call({ key: 'case', src: buf.src, weight: buf.weight, dst: buf.out, cols: a.cols, n: a.n, from: a.from, eps: a.eps,
      accumulate: a.accumulate ?? false }));
  } else if (c.kernel === 'rope') {
    d.dispatch(k.rope.call({ key: 'case', c: a.config, qkv: buf.out, k_cache: buf.k_cache, v_cache: buf.v_cache,
      cs: { buffer: d.arena, offset: 0 }, n_ctx: a.n_ctx, pos0: a.pos0, n: a.n,
      norms: buf.q_norm ? { q: buf.q_norm, k: buf.k_norm } : null }));
  } else if (c.kernel === 'attention') {
    d.dispatch(k.attention.call({ key: 'case', c: a.config, qkv: buf.qkv, k_cache: buf.k_cache, v_cache: buf.v_cache, out: buf.out,
      n_ctx: a.n_ctx, pos0: a.pos0, n: a.n, segments: buf.segments ?? null, window: a.window ?? 0 }));
  } else if (c.kernel === 'layernorm') {
    d.dispatch(k.layernorm.call({ key: 'case', x: buf.out, weight: buf.weight, bias: buf.bias, cols: a.cols, n: a.n, eps: a.eps }));
  } else if (c.kernel === 'argmax') {
    d.dispatch(k.argmax.call({ key: 'case', logits: buf.logits, ids: buf.out, n: a.n, m: a.m }));
  } else {
    throw new Error(`no kernel ${c.kernel}`);
  }
  const outputs = [c.output, ...(c.extra_outputs ?? [])];
  const reads = outputs.map((name) => device.createBuffer({ size: Math.ceil(buf[name].size / 4) * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST }));
  d.submit((enc) => outputs.forEach((name, j) => enc.copyBufferToBuffer(buf[name], 0, reads[j], 0, reads[j].size)));
  for (const [j, name] of outputs.entries()) {
    await reads[j].mapAsync(GPUMapMode.READ);
    writeFileSync(join(dir, `out-${i}-${name}.bin`), new Uint8Array(reads[j].getMappedRange().slice(0, sizes[name])));
    reads[j].unmap();
  }
}
console.log(`ran ${cases.length} cases on ${description.vendor || 'an adapter'} ${description.architecture} (software: ${description.software})`);
