// The schedule's ops (webgpu/forward.js) on the WASM runtime: buffers and weights live in the
// kernels' memory; mat-muls and attention run on every thread, the small ops on thread 0.

import { GGML_TYPES } from '../../gguf.js';
import { ARGS, MATMUL_ARGS, OP, OP_ATTENTION, OP_MATMULS, X4_TYPE_OFFSET } from './jobs.js';
const FLOAT_TYPES = new Set([0, 1]); // F32, F16 weights take float activations

export class WasmOps {
  constructor(runtime, config, { n_ctx, n_batch }) {
    this.rt = runtime;
    this.c = config;
    this.n_ctx = n_ctx;
    this.n_batch = n_batch;
    const c = config;
    const q_dim = c.n_heads * c.head_dim;
    const kv_dim = c.n_kv_heads * c.head_dim;
    // name -> {ptr, cols}: each buffer holds n_batch rows of `cols` floats.
    this.buf = {};
    for (const [name, cols] of [['x', c.dim], ['xb', c.dim], ['xb2', c.dim], ['q', q_dim], ['k', kv_dim], ['v', kv_dim],
      ['att', q_dim], ['hb', c.hidden_dim], ['hb2', c.hidden_dim], ['logits', c.vocab_size]]) {
      this.buf[name] = { ptr: runtime.alloc(n_batch * cols * 4), cols };
    }
    const max_cols = Math.max(c.dim, c.hidden_dim, q_dim);
    this.xq = runtime.alloc(n_batch * (max_cols / 32) * runtime.k.q8a_block_bytes());
    this.rope_cs = runtime.alloc(n_batch * c.n_rot * 4);
    this.scores = runtime.alloc(runtime.n_threads * n_ctx * 4);
    // KV cache, per layer: [n_kv_heads][n_ctx][head_dim] floats for keys and for values.
    const kv_bytes = c.n_kv_heads * n_ctx * c.head_dim * 4;
    this.kv = Array.from({ length: c.n_layers }, () => ({ k: runtime.alloc(kv_bytes), v: runtime.alloc(kv_bytes) }));
    const half = c.n_rot / 2;
    this.freqs = Float64Array.from({ length: half }, (_, i) => c.rope_theta ** (-(2 * i) / c.n_rot));
  }

  /**
   * Copy every tensor from the shard Blobs into memory; returns name -> handle {ptr, type, rows, cols}.
   * Tensors named in `pack` that the x4 kernels run (Q4_0, Q4_1, Q8_0, rows % 4 == 0) are repacked
   * on the way in; their handle gets type X4_TYPE_OFFSET + type. Those also in `keep_rows` (tied
   * embeddings: token lookups need the row layout) keep a row-layout copy under `${name}#rows`.
   */
  static async uploadWeights(runtime, blobs, tensors, { pack = new Set(), keep_rows = new Set() } = {}) {
    const k = runtime.k;
    const handle = (t, ptr, type = t.type) => ({ ptr, type, cols: t.dims[0], rows: t.dims[1] ?? 1, name: t.name });
    const x4 = (t) => (pack.has(t.name) ? k.x4_bytes(t.type, t.dims[1] ?? 1, t.dims[0]) : 0);
    const staged = tensors.filter((t) => x4(t) && !keep_rows.has(t.name));
    const staging = staged.length ? runtime.alloc(Math.max(...staged.map((t) => t.n_bytes))) : 0;
    const handles = new Map();
    for (const [i, blob] of blobs.entries()) {
      const bytes = new Uint8Array(await blob.arrayBuffer());
      for (const t of tensors) {
        if (t.shard !== i) continue;
        const packed_bytes = x4(t);
        const rows = keep_rows.has(t.name) || !packed_bytes ? runtime.alloc(t.n_bytes) : staging;
        runtime.u8(rows, t.n_bytes).set(bytes.subarray(t.offset, t.offset + t.n_bytes));
        if (rows !== staging) handles.set(packed_bytes ? `${t.name}#rows` : t.name, handle(t, rows));
        if (packed_bytes) {
          const ptr = runtime.alloc(packed_bytes);
          if (k.repack_x4(t.type, rows, ptr, t.dims[1], t.dims[0]) !== 0) throw new Error(`cannot repack ${t.name}`);
          handles.set(t.name, handle(t, ptr, X4_TYPE_OFFSET + t.type));
        }
      }
    }
    return handles;
  }

  embed(table, tokens, dst) {
    const { k } = this.rt;
    const row_bytes = rowBytes(table);
    const out = this.buf[dst];
    tokens.forEach((id, t) => {
      if (!(id >= 0 && id < table.rows)) throw new Error(`token id ${id} is outside the vocabulary`);
      k.dequantize_row(table.type, table.ptr + id * row_bytes, out.ptr + t * out.cols * 4, table.cols);
    });
  }

  ropeTable(pos0, n) {
    const n_rot = this.c.n_rot;
    const cs = this.rt.f32(this.rope_cs, n * n_rot);
    for (let t = 0; t < n; t++) {
      for (let i = 0; i < this.freqs.length; i++) {
        const angle = (pos0 + t) * this.freqs[i];
        cs[t * n_rot + 2 * i] = Math.cos(angle);
        cs[t * n_rot + 2 * i + 1] = Math.sin(angle);
      }
    }
  }

  /** Normalize rows from..n-1 of src into rows 0..n-from-1 of dst. */
  rmsnorm(src, weight, dst, n, from = 0) {
    const s = this.buf[src];
    this.rt.k.rmsnorm(s.ptr + from * s.cols * 4, weight.ptr, this.buf[dst].ptr, s.cols, this.c.rms_eps, n - from);
  }

  /** out_i = input . W_i for each [W_i, out_i], n rows of input; one parallel job for all of them. */
  matmuls(input, n, list) {
    const inp = this.buf[input];
    if (list.some(([W]) => !FLOAT_TYPES.has(W.type))) this.rt.k.quantize_q8a(inp.ptr, this.xq, inp.cols, n);
    const a = this.rt.ctl;
    a[OP] = OP_MATMULS;
    a[ARGS] = list.length;
    list.forEach(([W, out], j) => {
      const o = ARGS + 1 + j * MATMUL_ARGS;
      const dst = this.buf[out];
      a[o] = W.type; a[o + 1] = W.ptr; a[o + 2] = this.xq; a[o + 3] = inp.ptr; a[o + 4] = dst.ptr;
      a[o + 5] = W.cols; a[o + 6] = W.rows; a[o + 7] = n; a[o + 8] = dst.cols;
    });
    this.rt.run();
  }

  addBias(name, bias, n) {
    const b = this.buf[name];
    for (let t = 0; t < n; t++) this.rt.k.add(b.ptr + t * b.cols * 4, bias.ptr, b.ptr + t * b.cols * 4, b.cols);
  }

  rope(name, n_heads, n) {
    const b = this.buf[name];
    const c = this.c;
    this.rt.k.rope(b.ptr, this.rope_cs, n_heads, c.head_dim, c.n_rot, c.rope_neox ? 1 : 0, n, b.cols);
  }

  /** Write the batch's keys and values into layer l's cache at positions pos0.. */
  kvStore(l, pos0, n) {
    const c = this.c;
    const { k } = this.rt;
    k.kv_store(this.buf.k.ptr, this.kv[l].k, n, c.n_kv_heads, c.head_dim, this.n_ctx, pos0);
    k.kv_store(this.buf.v.ptr, this.kv[l].v, n, c.n_kv_heads, c.head_dim, this.n_ctx, pos0);
  }

  attention(l, pos0, n) {
    const c = this.c;
    const a = this.rt.ctl;
    a[OP] = OP_ATTENTION;
    const args = [this.buf.q.ptr, this.kv[l].k, this.kv[l].v, this.buf.att.ptr, this.scores, c.n_heads, c.n_kv_heads,
      c.head_dim, this.n_ctx, pos0, n];
    args.forEach((v, i) => (a[ARGS + i] = v));
    this.rt.run();
  }

  add(dst, src, n) {
    const d = this.buf[dst];
    this.rt.k.add(d.ptr, this.buf[src].ptr, d.ptr, d.cols * n);
  }

  swiglu(gate, up, n) {
    const g = this.buf[gate];
    this.rt.k.swiglu(g.ptr, this.buf[up].ptr, g.ptr, g.cols * n);
  }

  /** The first m rows of logits, as a view into the memory (valid until the next forward). */
  logits(m) {
    return this.rt.f32(this.buf.logits.ptr, m * this.c.vocab_size);
  }
}

function rowBytes(t) {
  const [, elems, bytes] = GGML_TYPES[t.type];
  return (t.cols / elems) * bytes;
}
