// The WASM engine's memory plan against the memory it really takes, and its kernels above 2 GiB.
// Usage: node --experimental-wasm-relaxed-simd --import ./webgpu/node/register.js tests/memory_plan.mjs CMD ...
//   plan CASES_JSON: each case {synthetic: [shape, type]} or {gguf: [paths]}, with n_ctx, kv_type;
//     prints per case {planned, used, heap_base, memory, weights, kv, scratch} or {error}.
//   sizes: the x4 and activation block sizes the plan assumes, and the kernels' own.
//   high: mat-mul and attention outputs with their operands below 2 GiB and above, as equal or not.

import { createWasmOps } from '../webgpu/backends/wasm/ops.js';
import { planMemory, Q8A_BLOCK_BYTES, X4_BLOCK_BYTES } from '../webgpu/backends/wasm/memory_plan.js';
import { WasmRuntime } from '../webgpu/backends/wasm/runtime.js';
import { GGML_TYPES, readGGUF } from '../webgpu/gguf.js';
import { describeModel } from '../webgpu/model.js';
import { openModel } from '../webgpu/node/runtime.js';
import { N_BATCH } from '../webgpu/ops_contract.js';
import { syntheticModel } from '../webgpu/synthetic.js';

const [cmd, arg] = process.argv.slice(2);
const TYPE_ID = Object.fromEntries(Object.entries(GGML_TYPES).map(([id, [name]]) => [name, Number(id)]));

async function open(c) {
  if (c.synthetic) {
    const { model, gguf, blobs } = syntheticModel(...c.synthetic);
    return { model, gguf, blobs };
  }
  const blobs = await openModel(c.gguf);
  const gguf = await readGGUF(blobs);
  return { model: describeModel(gguf), gguf, blobs };
}

if (cmd === 'plan') {
  const out = [];
  for (const c of JSON.parse(arg)) {
    const { model, gguf, blobs } = await open(c);
    const options = { n_ctx: c.n_ctx, n_batch: N_BATCH, n_threads: 1, kv_type: c.kv_type ?? 'f32' };
    const plan = planMemory(model, gguf, options);
    try {
      const { info, release, ops } = await createWasmOps(blobs, gguf, model, options);
      out.push({ planned: plan.total, used: info.used_bytes, heap_base: ops.rt.k.__heap_base.value, memory: info.memory_bytes,
        weights: plan.weights, kv: plan.kv, scratch: plan.scratch, fits: plan.fits });
      release();
    } catch (e) {
      out.push({ planned: plan.total, fits: plan.fits, error: e.message });
    }
  }
  console.log(JSON.stringify(out));
} else if (cmd === 'sizes') {
  const rt = await WasmRuntime.create({ n_threads: 1 });
  const kernel = {};
  for (const name of Object.keys(GGML_TYPES).map((id) => GGML_TYPES[id][0])) {
    const n = rt.k.x4_bytes(TYPE_ID[name], 4, 256);
    if (n) kernel[name] = n / 8;
  }
  console.log(JSON.stringify({ plan: { x4: X4_BLOCK_BYTES, q8a: Q8A_BLOCK_BYTES }, kernel: { x4: kernel, q8a: rt.k.q8a_block_bytes() } }));
} else if (cmd === 'high') {
  const rt = await WasmRuntime.create({ n_threads: 1 });
  const k = rt.k;
  const rows = 8, cols = 64, n_tokens = 3, heads = 2, head_dim = 32, n_ctx = 8;
  // Q4_0 rows: an f16 scale (~0.01) and 16 bytes of random nibbles per block of 32.
  const src = new Uint8Array((rows * cols / 32) * 18);
  let seed = 7;
  const rand = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
  for (let b = 0; b < src.length / 18; b++) {
    src.set([0x1e, 0x20], b * 18);
    for (let i = 2; i < 18; i++) src[b * 18 + i] = Math.floor(rand() * 256);
  }
  const x = Float32Array.from({ length: n_tokens * cols }, () => rand() * 2 - 1);
  const kv = Float32Array.from({ length: n_tokens * heads * head_dim }, () => rand() * 2 - 1);
  const run = () => {
    const f = (n) => rt.alloc(n * 4);
    const raw = rt.alloc(src.length), W = rt.alloc(k.x4_bytes(TYPE_ID.Q4_0, rows, cols));
    const xf = f(x.length), xq = rt.alloc(n_tokens * (cols / 32) * k.q8a_block_bytes()), out = f(n_tokens * rows);
    const q = f(kv.length), kc = f(heads * n_ctx * head_dim), vc = f(heads * n_ctx * head_dim), att = f(kv.length), scores = f(n_ctx);
    rt.u8(raw, src.length).set(src);
    rt.f32(xf, x.length).set(x);
    rt.f32(q, kv.length).set(kv);
    if (k.repack_x4(TYPE_ID.Q4_0, raw, W, rows, cols) !== 0) throw new Error('repack failed');
    k.quantize_q8a(xf, xq, cols, n_tokens, 14);
    k.matmul(TYPE_ID.Q4_0, 1, W, xq, xf, out, cols, 0, rows, n_tokens, rows, 14);
    k.kv_store(q, heads * head_dim, kc, n_tokens, heads, head_dim, n_ctx, 0, 0);
    k.kv_store(q, heads * head_dim, vc, n_tokens, heads, head_dim, n_ctx, 0, 0);
    k.attention(q, heads * head_dim, kc, vc, att, scores, heads, heads, head_dim, n_ctx, 0, n_tokens, 1, 1 / Math.sqrt(head_dim), 0, 0, 0, heads, 0);
    return { at: W, matmul: Array.from(rt.f32(out, n_tokens * rows)), attention: Array.from(rt.f32(att, kv.length)) };
  };
  const low = run();
  rt.alloc(2 ** 31 + 12345 * 64 - rt.top);
  const high = run();
  console.log(JSON.stringify({ low_at: low.at, high_at: high.at, memory: rt.memory.buffer.byteLength,
    matmul_equal: low.matmul.every((v, i) => Object.is(v, high.matmul[i])) && low.matmul.some((v) => v !== 0),
    attention_equal: low.attention.every((v, i) => Object.is(v, high.attention[i])) && low.attention.some((v) => v !== 0) }));
}
process.exit(0);
