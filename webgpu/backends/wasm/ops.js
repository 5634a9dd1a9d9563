// The schedule's ops (webgpu/ops_contract.js) on the WASM runtime: buffers and weights live in the
// kernels' memory; mat-muls and attention run on every thread, the small ops on thread 0.

import { mapEncoderWeights } from '../../encoder_model.js';
import { GGML_TYPES } from '../../gguf.js';
import { mapWeights, uploadTensors, windowOf } from '../../model.js';
import { bufferColumns } from '../../ops_contract.js';
import { layerRopeTables } from '../../rope_table.js';
import { argmax } from '../../sampler.js';
import { blobPieces, PIECE_BYTES } from '../../tensor_bytes.js';
import { f32Bits, LAYOUT, postAttention, postMatmuls } from './jobs.js';
import { pieceBytes, planMemory, tooBig, weightForms } from './memory_plan.js';
import { WasmRuntime } from './runtime.js';

const GGML_F32 = 0;
const GGML_F16 = 1;
const FLOAT_TYPES = new Set([GGML_F32, GGML_F16]); // float weights take float activations

/**
 * Load a described model (model.js, or encoder_model.js for an encoder) into a new WASM runtime;
 * returns {ops, weights, info}.
 */
export async function createWasmOps(blobs, gguf, { config, tensors }, { n_ctx, n_batch, n_threads, activation_bits = 14, kv_type = 'f32' }) {
  const runtime = await WasmRuntime.create({ n_threads });
  const plan = planMemory({ config, tensors }, gguf, { n_ctx, n_batch, n_threads: runtime.n_threads, kv_type });
  if (!plan.fits) throw new Error(`${tooBig(plan, n_ctx, kv_type, 'The model')}.`);
  // Mat-mul weights go in the x4 layout. A tied embedding is held once, in the LM head's x4 layout;
  // token lookups dequantize its rows from there.
  // An encoder's mat-muls are long batches, bound by arithmetic rather than by reading weights:
  // its F16 weights are widened to F32 once here, for the F32 tiles (2x the F16 path's GFLOP/s).
  const handles = await WasmOps.uploadWeights(runtime, blobs, uploadTensors(tensors, gguf.tensors), weightForms({ config, tensors }));
  const weights = (config.encoder ? mapEncoderWeights : mapWeights)(tensors, (t) => handles.get(t.name));
  const ops = new WasmOps(runtime, config, { n_ctx, n_batch, activation_bits, kv_type });
  const info = { threads: runtime.n_threads, simd: runtime.simd, memory_bytes: runtime.memory.buffer.byteLength,
    planned_bytes: plan.total, used_bytes: runtime.top, activation_bits, kv_type };
  return { ops, weights, info, release: () => runtime.terminate() };
}

/** @implements {import('../../ops_contract.js').BackendOps} */
export class WasmOps {
  /**
   * activation_bits: 14 (the default), or 8, which halves the integer work of the x4 kernels.
   * kv_type: 'f32' (the default), or 'f16', which halves the KV cache.
   */
  constructor(runtime, config, { n_ctx, n_batch, activation_bits = 14, kv_type = 'f32' }) {
    if (activation_bits !== 8 && activation_bits !== 14) throw new Error(`activations of ${activation_bits} bits: use 8 or 14`);
    if (kv_type !== 'f32' && kv_type !== 'f16') throw new Error(`a KV cache of ${kv_type}: use f32 or f16`);
    this.kv_f16 = kv_type === 'f16' ? 1 : 0;
    this.rt = runtime;
    this.act_bits = activation_bits;
    this.c = config;
    this.n_ctx = n_ctx;
    this.n_batch = n_batch;
    const c = config;
    this.q_dim = c.n_heads * c.head_dim;
    this.kv_dim = c.n_kv_heads * c.head_dim;
    // name -> {ptr, cols}: each buffer holds n_batch rows of `cols` floats. xb2 and hb2 are scratch
    // for the fused ops (a projection added into x, the up half of SwiGLU).
    const cols = { ...bufferColumns(c), xb2: c.dim, hb2: c.hidden_dim };
    this.buf = Object.fromEntries(Object.entries(cols).map(([name, n]) => [name, { ptr: runtime.alloc(n_batch * n * 4), cols: n }]));
    const max_cols = Math.max(c.dim, c.hidden_dim, this.q_dim);
    this.xq = runtime.alloc(n_batch * (max_cols / 32) * runtime.k.q8a_block_bytes());
    // RoPE tables, one per distinct (theta, scale) of the layers (Gemma 3's sliding layers have their own).
    const { tables, of_layer } = layerRopeTables(c);
    this.ropes = tables.map((t) => Object.assign(t, { ptr: runtime.alloc(n_batch * c.n_rot * 4) }));
    this.rope_of_layer = of_layer;
    this.scores = runtime.alloc(runtime.n_threads * n_ctx * 4);
    // KV cache, per layer: [n_kv_heads][n_ctx][head_dim] f32 (or f16) for keys and for values.
    const kv_bytes = c.n_kv_heads * n_ctx * c.head_dim * (this.kv_f16 ? 2 : 4);
    this.kv = Array.from({ length: c.n_layers }, () => ({ k: runtime.alloc(kv_bytes), v: runtime.alloc(kv_bytes) }));
    this.pos0 = 0;
  }

  /**
   * Copy every tensor from the shard Blobs into memory; returns name -> handle {ptr, type, layout, rows, cols}.
   * Tensors named in `pack` that the x4 kernels run (Q4_0, Q4_1, Q8_0, rows % 4 == 0) are repacked
   * on the way in (layout x4). F16 tensors named in `widen` become F32.
   * Bytes come from the Blobs a piece at a time (webgpu/tensor_bytes.js), through a staging area
   * of one piece where they are converted: a tensor of any size is held once, in its final form.
   */
  static async uploadWeights(runtime, blobs, tensors, { pack = new Set(), widen = new Set() } = {}) {
    const k = runtime.k;
    const handle = (t, ptr, layout = LAYOUT.rows, type = t.type) => ({ ptr, type, layout, cols: t.dims[0], rows: t.dims[1] ?? 1, name: t.name });
    const x4 = (t) => (pack.has(t.name) ? k.x4_bytes(t.type, t.dims[1] ?? 1, t.dims[0]) : 0);
    const wide = (t) => widen.has(t.name) && t.type === GGML_F16;
    const staging = runtime.alloc(Math.max(0, ...tensors.map(pieceBytes)));
    const handles = new Map();
    for (const t of tensors) {
      const blob = blobs[t.shard];
      const rows = t.dims[1] ?? 1;
      if (wide(t)) { // F16 pieces widened into the F32 tensor
        const ptr = runtime.alloc(t.n_bytes * 2);
        for await (const { at, bytes } of blobPieces(blob, t.offset, t.n_bytes)) {
          runtime.u8(staging, bytes.length).set(bytes);
          if (k.dequantize_row(GGML_F16, staging, ptr + at * 2, bytes.length / 2) !== 0) throw new Error(`cannot widen ${t.name}`);
        }
        handles.set(t.name, handle(t, ptr, LAYOUT.rows, GGML_F32));
        continue;
      }
      const packed_bytes = x4(t);
      if (packed_bytes) { // whole groups of 4 rows, repacked piece by piece
        const group = 4 * (t.n_bytes / rows);
        const ptr = runtime.alloc(packed_bytes);
        for await (const { at, bytes } of blobPieces(blob, t.offset, t.n_bytes, Math.max(1, Math.floor(PIECE_BYTES / group)) * group)) {
          runtime.u8(staging, bytes.length).set(bytes);
          const dst = ptr + k.x4_bytes(t.type, (at / group) * 4, t.dims[0]);
          if (k.repack_x4(t.type, staging, dst, (bytes.length / group) * 4, t.dims[0]) !== 0) throw new Error(`cannot repack ${t.name}`);
        }
        handles.set(t.name, handle(t, ptr, LAYOUT.x4));
        continue;
      }
      const ptr = runtime.alloc(t.n_bytes);
      for await (const { at, bytes } of blobPieces(blob, t.offset, t.n_bytes)) runtime.u8(ptr + at, bytes.length).set(bytes);
      handles.set(t.name, handle(t, ptr));
    }
    return handles;
  }

  embed(table, tokens, dst, scale = 1) {
    const { k } = this.rt;
    const row_bytes = rowBytes(table);
    const out = this.buf[dst];
    tokens.forEach((id, t) => {
      if (!(id >= 0 && id < table.rows)) throw new Error(`token id ${id} is outside the vocabulary`);
      const y = out.ptr + t * out.cols * 4;
      const status = table.layout === LAYOUT.x4 ? k.dequantize_x4_row(table.type, table.ptr, id, table.cols, y)
        : k.dequantize_row(table.type, table.ptr + id * row_bytes, y, table.cols);
      if (status !== 0) throw new Error(`cannot read row ${id} of ${table.name}`);
    });
    if (scale !== 1) {
      const rows = this.rt.f32(out.ptr, tokens.length * out.cols);
      const s = Math.fround(scale);
      for (let i = 0; i < rows.length; i++) rows[i] *= s;
    }
  }

  setPositions(pos0, n) {
    this.pos0 = pos0;
    for (const r of this.ropes) r.fill(this.rt.f32(r.ptr, n * this.c.n_rot), pos0, n);
  }

  rmsnormAdd(src, weight, dst, n) {
    const s = this.buf[src];
    const d = this.buf[dst];
    if (d.cols !== s.cols) throw new Error(`adding ${s.cols} columns into ${dst}, which has ${d.cols}`);
    this.rt.k.rmsnorm(s.ptr, weight.ptr, this.buf.xb2.ptr, s.cols, this.c.rms_eps, n);
    this.rt.k.add(d.ptr, this.buf.xb2.ptr, d.ptr, d.cols * n);
  }


  rmsnorm(src, weight, dst, n, from = 0) {
    const s = this.buf[src];
    this.rt.k.rmsnorm(s.ptr + from * s.cols * 4, weight.ptr, this.buf[dst].ptr, s.cols, this.c.rms_eps, n - from);
  }

  matmuls(input, n, outs, dst, accumulate = false, cap = 0) {
    if (cap && accumulate) throw new Error('a soft-capped projection cannot accumulate');
    const target = accumulate ? this.buf.xb2 : this.buf[dst];
    this.#matmuls(input, n, outs.map(({ W }) => W), outs.map(() => target));
    let col = 0;
    for (const { W, bias } of outs) {
      if (bias) {
        for (let t = 0; t < n; t++) {
          const p = target.ptr + (t * target.cols + col) * 4;
          this.rt.k.add(p, bias.ptr, p, W.rows);
        }
      }
      col += W.rows;
    }
    if (cap) this.rt.k.softcap_rows(target.ptr, n * target.cols, cap);
    if (accumulate) {
      const d = this.buf[dst];
      if (d.cols !== col) throw new Error(`accumulating ${col} columns into ${dst}, which has ${d.cols}`);
      this.rt.k.add(d.ptr, target.ptr, d.ptr, d.cols * n);
    }
  }

  matmulGlu(input, n, w_gate, w_up, dst, act = 'silu') {
    const gate = this.buf[dst];
    const up = this.buf.hb2;
    if (act !== 'silu' && act !== 'gelu') throw new Error(`gate activation ${act} is not one we run`);
    this.#matmuls(input, n, [w_gate, w_up], [gate, up]);
    this.rt.k[act === 'gelu' ? 'geglu' : 'swiglu'](gate.ptr, up.ptr, gate.ptr, gate.cols * n);
  }

  /**
   * Each W's rows (n of them) = W . input rows, into targets[j] (Ws sharing a target sit side by side
   * in it, in order): one activation quantization and one parallel job for all of them.
   */
  #matmuls(input, n, Ws, targets) {
    const inp = this.buf[input];
    if (Ws.some((W) => !FLOAT_TYPES.has(W.type))) this.rt.k.quantize_q8a(inp.ptr, this.xq, inp.cols, n, this.act_bits);
    const used = new Map(); // target -> columns taken
    const jobs = Ws.map((W, j) => {
      if (W.cols !== inp.cols) throw new Error(`${W.name} takes ${W.cols} inputs, ${input} has ${inp.cols}`);
      const target = targets[j];
      const col = used.get(target) ?? 0;
      if (col + W.rows > target.cols) throw new Error(`${col + W.rows} output columns do not fit a buffer of ${target.cols}`);
      used.set(target, col + W.rows);
      return { type: W.type, layout: W.layout, W: W.ptr, xq: this.xq, xf: inp.ptr, out: target.ptr + col * 4,
        n_cols: W.cols, n_rows: W.rows, n_tokens: n, out_stride: target.cols, act_bits: this.act_bits };
    });
    postMatmuls(this.rt.ctl, jobs);
    this.rt.run();
  }

  ropeStore(l, n, norms = null) {
    const c = this.c;
    const { k } = this.rt;
    const qkv = this.buf.qkv;
    const k_ptr = qkv.ptr + this.q_dim * 4;
    const v_ptr = k_ptr + this.kv_dim * 4;
    const neox = c.rope_neox ? 1 : 0;
    const cs = this.rope_of_layer[l].ptr;
    k.rope(qkv.ptr, cs, c.n_heads, c.head_dim, c.n_rot, neox, n, qkv.cols, norms ? norms.q.ptr : 0, c.rms_eps ?? 0);
    k.rope(k_ptr, cs, c.n_kv_heads, c.head_dim, c.n_rot, neox, n, qkv.cols, norms ? norms.k.ptr : 0, c.rms_eps ?? 0);
    k.kv_store(k_ptr, qkv.cols, this.kv[l].k, n, c.n_kv_heads, c.head_dim, this.n_ctx, this.pos0, this.kv_f16);
    k.kv_store(v_ptr, qkv.cols, this.kv[l].v, n, c.n_kv_heads, c.head_dim, this.n_ctx, this.pos0, this.kv_f16);
  }

  attention(l, n, segments = null) {
    const c = this.c;
    const { qkv, att } = this.buf;
    // Causal over the cache, or bidirectional within each [first row, rows] segment (an encoder).
    for (const [first, rows, causal] of segments ? segments.map(([f, r]) => [f, r, 0]) : [[0, n, 1]]) {
      postAttention(this.rt.ctl, {
        q: qkv.ptr + first * qkv.cols * 4, q_stride: qkv.cols, k_cache: this.kv[l].k, v_cache: this.kv[l].v,
        out: att.ptr + first * att.cols * 4, scores: this.scores, n_heads: c.n_heads, n_kv_heads: c.n_kv_heads,
        head_dim: c.head_dim, n_ctx: this.n_ctx, pos0: this.pos0 + first, n_tokens: rows, causal,
        scale_bits: f32Bits(c.attn_scale ?? 1 / Math.sqrt(c.head_dim)), softcap_bits: f32Bits(c.attn_softcap ?? 0),
        window: segments ? 0 : windowOf(c, l), kv_f16: this.kv_f16,
      });
      this.rt.run();
    }
  }

  addRows(table, ids, dst) {
    const out = this.buf[dst];
    if (table.type !== 0 || table.cols !== out.cols) throw new Error(`${table.name} is not an f32 table of ${out.cols} columns`);
    ids.forEach((id, t) => {
      if (!(id >= 0 && id < table.rows)) throw new Error(`row ${id} is outside ${table.name}`);
      const p = out.ptr + t * out.cols * 4;
      this.rt.k.add(p, table.ptr + id * table.cols * 4, p, out.cols);
    });
  }

  layernorm(src, weight, bias, dst, n) {
    const s = this.buf[src];
    this.rt.k.layernorm(s.ptr, weight.ptr, bias.ptr, this.buf[dst].ptr, s.cols, this.c.norm_eps, n);
  }

  matmulGelu(input, n, W, bias, dst) {
    this.matmuls(input, n, [{ W, bias }], dst);
    const d = this.buf[dst];
    this.rt.k.gelu(d.ptr, d.ptr, d.cols * n);
  }

  /** The first n rows of a buffer, copied out of the memory. */
  rows(name, n) {
    const b = this.buf[name];
    return this.rt.f32(b.ptr, n * b.cols).slice();
  }

  /** The first m rows of logits, as a view into the memory (valid until the next forward). */
  logits(m) {
    return this.rt.f32(this.buf.logits.ptr, m * this.c.vocab_size);
  }

  argmax(m) {
    const V = this.c.vocab_size;
    const l = this.logits(m);
    return Int32Array.from({ length: m }, (_, t) => argmax(l.subarray(t * V, (t + 1) * V)));
  }
}

function rowBytes(t) {
  const [, elems, bytes] = GGML_TYPES[t.type];
  return (t.cols / elems) * bytes;
}
