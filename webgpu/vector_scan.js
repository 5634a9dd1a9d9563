// The vector store's scan by the engine's WASM kernels (webgpu/wasm/vector_scan.c, dot_rows): a
// copy of the store's vectors in WASM memory, refreshed where they changed, and the dot product
// of a query with every row, or with the rows of some inverted lists. Two kinds of copy:
//   'int8': one int8 code per value and one scale per row, a quarter of the bytes to read; the
//           scores are approximate and the store re-ranks the best of them in f32;
//   'f32':  the vectors as they are; the scores are exact.

const STAGE_ROWS = 4096; // f32 rows quantized per kernel call (the staging area's size)

/**
 * A query's int8 codes (into `codes`, an Int8Array of its length), quantized as quantize_i8_rows
 * quantizes rows (one scale, ties away from zero); returns the scale.
 */
export function quantizeQuery(q, codes) {
  let amax = 0;
  for (let i = 0; i < q.length; i++) amax = Math.max(amax, Math.abs(q[i]));
  const inv = amax > 0 ? 127 / amax : 0;
  for (let i = 0; i < q.length; i++) {
    const c = q[i] * inv;
    codes[i] = Math.trunc(c + (c < 0 ? -0.5 : 0.5));
  }
  return amax / 127;
}

export class VectorScan {
  /** A scan over d-dimensional rows, or null where the kernels do not load (node without them). */
  static async create(d, kind) {
    try {
      const { WasmRuntime } = await import('./backends/wasm/runtime.js');
      return new VectorScan(await WasmRuntime.create({ n_threads: 1 }), d, kind);
    } catch {
      return null;
    }
  }

  constructor(rt, d, kind) {
    this.rt = rt;
    this.d = d;
    this.kind = kind;
    this.approximate = kind === 'int8';
    this.capacity = 0;
    this.q = rt.alloc(d * 4);
    this.q_abs = rt.alloc(d);
    this.q_neg = rt.alloc(d);
    this.stage = kind === 'int8' ? rt.alloc(STAGE_ROWS * d * 4) : 0;
    this.rows = 0;
    this.rows_capacity = 0;
    this.n = 0;
  }

  /** Bytes the copy takes in WASM memory. */
  bytes() {
    return this.capacity * (this.kind === 'int8' ? this.d + 4 : this.d * 4 + 4);
  }

  /**
   * Bring the copy up to date: vectors (n rows) changed in rows [lo, hi). Where the copy outgrows
   * its region it moves to a bigger one and every row is copied.
   */
  sync(vectors, n, lo, hi) {
    const { rt, d } = this;
    if (this.capacity < n) {
      // A bigger region (the bump allocator does not free): copy everything into it.
      this.capacity = Math.max(n, Math.ceil(this.capacity * 1.5));
      this.data = rt.alloc(this.capacity * (this.kind === 'int8' ? d : d * 4));
      this.scales = rt.alloc(this.capacity * 4);
      this.scores = rt.alloc(this.capacity * 4);
      [lo, hi] = [0, n];
    }
    hi = Math.min(hi, n);
    this.n = n; // rows the copy holds
    for (let s = lo; s < hi; s += STAGE_ROWS) {
      const m = Math.min(STAGE_ROWS, hi - s);
      if (this.kind === 'f32') {
        rt.f32(this.data + s * d * 4, m * d).set(vectors.subarray(s * d, (s + m) * d));
      } else {
        rt.f32(this.stage, m * d).set(vectors.subarray(s * d, (s + m) * d));
        rt.k.quantize_i8_rows(this.stage, this.data + s * d, this.scales + s * 4, m, d);
      }
    }
  }

  /**
   * Scores of query q (Float32Array of d) against rows 0..n-1, or against the given rows (an
   * Int32Array of row numbers; int8 copies only): a Float32Array view, valid until the next call.
   */
  score(q, n, rows = null) {
    const { rt, d } = this;
    if (this.kind === 'f32') {
      rt.f32(this.q, d).set(q);
      rt.k.dot_rows(this.data, this.q, this.scores, n, d);
      return rt.f32(this.scores, n);
    }
    const q_abs = new Int8Array(rt.memory.buffer, this.q_abs, d);
    const q_neg = new Int8Array(rt.memory.buffer, this.q_neg, d);
    const q_scale = quantizeQuery(q, q_abs);
    for (let i = 0; i < d; i++) {
      q_neg[i] = q_abs[i] < 0 ? -1 : 0;
      q_abs[i] = Math.abs(q_abs[i]);
    }
    let rows_ptr = 0;
    if (rows) {
      if (this.rows_capacity < rows.length) {
        this.rows_capacity = Math.max(rows.length, this.rows_capacity * 2);
        this.rows = rt.alloc(this.rows_capacity * 4);
      }
      new Int32Array(rt.memory.buffer, this.rows, rows.length).set(rows);
      rows_ptr = this.rows;
      n = rows.length;
    }
    rt.k.dot_i8_rows(this.data, this.scales, this.q_abs, this.q_neg, q_scale, rows_ptr, n, d, this.scores);
    return rt.f32(this.scores, n);
  }
}
