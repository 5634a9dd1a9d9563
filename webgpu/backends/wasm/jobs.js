// Parallel jobs, as thread 0 posts them in a shared Int32Array and every thread runs its share.
// Layout: [GEN, DONE, SLEEPING, MAIN_WAITING, OP, job record...]. A job record is a list of named
// int32 fields (MATMUL, ATTENTION below): the poster writes an object, each thread reads it back
// by the same names, and the C call takes them in the order of the C prototype.

export const GEN = 0; // bumped by thread 0 to start a job
export const DONE = 1; // helpers that finished the current job
export const SLEEPING = 2; // helpers parked in Atomics.wait
export const MAIN_WAITING = 3; // thread 0 parked waiting for DONE
export const OP = 4;
const ARGS = 5;
export const CTL_INTS = 256;

export const OP_MATMULS = 1;
export const OP_ATTENTION = 2;

// A weight's layout, matmul's `layout` argument (enum in webgpu/wasm/quants.h).
export const LAYOUT = { rows: 0, x4: 1 };

/** A record layout: field names in order; write/read go through these names only. */
function record(...names) {
  return {
    names,
    size: names.length,
    write(a, at, values) {
      names.forEach((name, i) => {
        const v = values[name];
        if (!Number.isInteger(v)) throw new Error(`job field ${name} is ${v}, not an integer`);
        a[at + i] = v;
      });
    },
    read(a, at) {
      return Object.fromEntries(names.map((name, i) => [name, a[at + i]]));
    },
  };
}

// matmul(type, layout, W, xq, xf, out, n_cols, row_begin, row_end, n_tokens, out_stride, act_bits) in
// matvec.c; the thread's row range replaces n_rows.
export const MATMUL = record('type', 'layout', 'W', 'xq', 'xf', 'out', 'n_cols', 'n_rows', 'n_tokens', 'out_stride',
  'act_bits');
// attention(q, q_stride, k_cache, v_cache, out, scores, n_heads, n_kv_heads, head_dim, n_ctx, pos0,
// n_tokens, causal, scale, softcap, window, head_begin, head_end, kv_f16) in ops.c; each thread gets its
// own n_ctx floats of scores. The f32 arguments travel as their bits (scale_bits, softcap_bits).
export const ATTENTION = record('q', 'q_stride', 'k_cache', 'v_cache', 'out', 'scores', 'n_heads', 'n_kv_heads',
  'head_dim', 'n_ctx', 'pos0', 'n_tokens', 'causal', 'scale_bits', 'softcap_bits', 'window', 'kv_f16');

const bits = new DataView(new ArrayBuffer(4));
/** An f32's bits as an int32, for a job field. */
export function f32Bits(x) {
  bits.setFloat32(0, x, true);
  return bits.getInt32(0, true);
}
function bitsF32(i) {
  bits.setInt32(0, i, true);
  return bits.getFloat32(0, true);
}

/** Post a list of mat-muls (MATMUL records) as one job. */
export function postMatmuls(a, list) {
  if (ARGS + 1 + list.length * MATMUL.size > CTL_INTS) throw new Error(`${list.length} mat-muls do not fit one job`);
  a[OP] = OP_MATMULS;
  a[ARGS] = list.length;
  list.forEach((m, j) => MATMUL.write(a, ARGS + 1 + j * MATMUL.size, m));
}

export function postAttention(a, args) {
  a[OP] = OP_ATTENTION;
  ATTENTION.write(a, ARGS, args);
}

const share = (n, tid, nt) => [Math.floor((n * tid) / nt), Math.floor((n * (tid + 1)) / nt)];

/** Run thread tid's share (of nt threads) of the job described in a. k: the kernels' exports. */
export function execute(k, a, tid, nt) {
  const op = a[OP];
  if (op === OP_MATMULS) {
    const count = a[ARGS];
    for (let j = 0; j < count; j++) {
      const m = MATMUL.read(a, ARGS + 1 + j * MATMUL.size);
      // Repacked (x4) tensors split in whole groups of four rows.
      const unit = m.layout === LAYOUT.x4 ? 4 : 1;
      const [g0, g1] = share(m.n_rows / unit, tid, nt);
      const begin = g0 * unit, end = g1 * unit;
      if (end > begin) k.matmul(m.type, m.layout, m.W, m.xq, m.xf, m.out, m.n_cols, begin, end, m.n_tokens, m.out_stride, m.act_bits);
    }
  } else if (op === OP_ATTENTION) {
    const t = ATTENTION.read(a, ARGS);
    const [begin, end] = share(t.n_heads, tid, nt);
    if (end > begin) {
      k.attention(t.q, t.q_stride, t.k_cache, t.v_cache, t.out, t.scores + tid * t.n_ctx * 4, t.n_heads, t.n_kv_heads,
        t.head_dim, t.n_ctx, t.pos0, t.n_tokens, t.causal, bitsF32(t.scale_bits), bitsF32(t.softcap_bits), t.window, begin, end, t.kv_f16);
    }
  }
}
