// What our WASM engine allocates for a model, known from its GGUF header alone, so that the page
// can refuse a model that cannot fit before downloading it. It follows the allocations of
// runtime.js (thread stacks) and ops.js (weights, scratch, KV cache) one by one; a node test
// holds it to the memory the engine really takes (tests/test_memory_plan.py).

import { encoderMatmulTensors } from '../../encoder_model.js';
import { GGML_TYPES } from '../../gguf.js';
import { matmulTensors, uploadTensors } from '../../model.js';
import { bufferColumns } from '../../ops_contract.js';
import { layerRopeTables } from '../../rope_table.js';
import { PIECE_BYTES } from '../../tensor_bytes.js';
import { ALIGN, MAX_BYTES, THREAD_STACK } from './runtime.js';

// Bytes of one block of 4 rows x 32 weights in the x4 layout (webgpu/wasm/matvec_x4.c, x4_bytes).
export const X4_BLOCK_BYTES = { Q4_0: 80, Q4_1: 96, Q5_0: 112, Q5_1: 112, Q8_0: 144, Q2_K: 160, Q3_K: 160, Q4_K: 96, Q5_K: 112, Q6_K: 160 };
// Bytes of one quantized activation block of 32 values (quantize_q8a).
export const Q8A_BLOCK_BYTES = 80;
// The kernels' own data and stack, below __heap_base: known only once compiled, so bounded here.
export const KERNEL_STATIC_BYTES = 1 << 20;
const GGML_F16 = 1;

/** Bytes of a rows x cols tensor of ggml type `type` in the x4 layout; 0 when it cannot be repacked (the kernels' x4_bytes). */
export function x4Bytes(type, rows, cols) {
  const [name, elems] = GGML_TYPES[type] ?? [];
  const block = X4_BLOCK_BYTES[name];
  if (!block || rows % 4 || cols % elems) return 0;
  return (rows / 4) * (cols / 32) * block;
}

/** The staging piece uploadWeights reads a tensor through: PIECE_BYTES, or one group of 4 rows where that is more. */
export function pieceBytes(t) {
  return Math.min(t.n_bytes, Math.max(PIECE_BYTES, (4 * t.n_bytes) / (t.dims[1] ?? 1)));
}

/**
 * Which tensors the engine repacks (x4) and which it widens (F16 to F32), by name: the same sets
 * createWasmOps hands to uploadWeights.
 */
export function weightForms({ config, tensors }) {
  const matmul_names = (config.encoder ? encoderMatmulTensors(tensors) : matmulTensors(tensors)).map((t) => t.name);
  return { pack: new Set(matmul_names), widen: new Set(config.encoder ? matmul_names : []) };
}

/**
 * The engine's WASM memory for a described model (describeModel's or describeEncoder's result),
 * gguf: readGGUF's result. Returns bytes: {weights, kv, scratch, total} and `fits` (total within
 * the 4 GiB a wasm32 memory holds).
 */
export function planMemory(model, gguf, { n_ctx, n_batch, n_threads = 1, kv_type = 'f32' }) {
  const c = model.config;
  let top = KERNEL_STATIC_BYTES;
  const take = (n) => { top = align(top + n); return n; };
  for (let tid = 1; tid < n_threads; tid++) take(THREAD_STACK);
  const base = top;
  const { pack, widen } = weightForms(model);
  const list = uploadTensors(model.tensors, gguf.tensors);
  take(Math.max(0, ...list.map(pieceBytes)));
  for (const t of list) {
    const packed = pack.has(t.name) ? x4Bytes(t.type, t.dims[1] ?? 1, t.dims[0]) : 0;
    take(widen.has(t.name) && t.type === GGML_F16 ? t.n_bytes * 2 : packed || t.n_bytes);
  }
  const weights = top - base;
  const scratch_start = top;
  const cols = { ...bufferColumns(c), xb2: c.dim, hb2: c.hidden_dim };
  for (const n of Object.values(cols)) take(n_batch * n * 4);
  take(n_batch * (Math.max(c.dim, c.hidden_dim, c.n_heads * c.head_dim) / 32) * Q8A_BLOCK_BYTES);
  for (let i = 0; i < layerRopeTables(c).tables.length; i++) take(n_batch * c.n_rot * 4);
  take(n_threads * n_ctx * 4);
  const scratch = top - scratch_start;
  const kv_layer = c.n_kv_heads * n_ctx * c.head_dim * (kv_type === 'f16' ? 2 : 4);
  for (let l = 0; l < c.n_layers; l++) { take(kv_layer); take(kv_layer); }
  const kv = top - scratch_start - scratch;
  return { weights, kv, scratch, total: top, fits: top <= MAX_BYTES, max: MAX_BYTES };
}

/** Why a plan that does not fit is refused, with its numbers and what to do instead. */
export function tooBig(plan, n_ctx, kv_type = 'f32', subject = 'the model') {
  const parts = `weights ${gib(plan.weights)}, KV cache ${gib(plan.kv)} for ${n_ctx} tokens, scratch ${gib(plan.scratch)}`;
  let what = 'pick a smaller model or a lower quantization level';
  if (plan.total - plan.kv < plan.max) what += kv_type === 'f16' ? ', or a shorter context' : ", or a shorter context or kvType 'f16'";
  return `${subject} needs ${gib(plan.total)} of WebAssembly memory (${parts}), more than the ${gib(plan.max)} a page's WebAssembly memory can hold: ${what}`;
}

/** "4.31 GiB" */
export function gib(n) {
  return `${(n / 2 ** 30).toFixed(2)} GiB`;
}

function align(n) {
  return Math.ceil(n / ALIGN) * ALIGN;
}
