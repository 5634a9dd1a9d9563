// Parallel jobs, as thread 0 posts them in a shared Int32Array and every thread runs its share.
// Layout: [GEN, DONE, SLEEPING, MAIN_WAITING, OP, args...].

export const GEN = 0; // bumped by thread 0 to start a job
export const DONE = 1; // helpers that finished the current job
export const SLEEPING = 2; // helpers parked in Atomics.wait
export const MAIN_WAITING = 3; // thread 0 parked waiting for DONE
export const OP = 4;
export const ARGS = 5;
export const CTL_INTS = 256;

export const OP_MATMULS = 1; // args: count, then per mat-mul: type, W, xq, xf, out, n_cols, n_rows, n_tokens, out_stride
export const OP_ATTENTION = 2; // args: q, k_cache, v_cache, out, scores, n_heads, n_kv_heads, head_dim, n_ctx, pos0, n_tokens
export const MATMUL_ARGS = 9;
export const X4_TYPE_OFFSET = 100; // as in webgpu/wasm/quants.h

const share = (n, tid, nt) => [Math.floor((n * tid) / nt), Math.floor((n * (tid + 1)) / nt)];

/** Run thread tid's share (of nt threads) of the job described in a. k: the kernels' exports. */
export function execute(k, a, tid, nt) {
  const op = a[OP];
  if (op === OP_MATMULS) {
    const count = a[ARGS];
    for (let j = 0; j < count; j++) {
      const o = ARGS + 1 + j * MATMUL_ARGS;
      // Repacked (x4) tensors split in whole groups of four rows.
      const unit = a[o] >= X4_TYPE_OFFSET ? 4 : 1;
      const [g0, g1] = share(a[o + 6] / unit, tid, nt);
      const begin = g0 * unit, end = g1 * unit;
      if (end > begin) k.matmul(a[o], a[o + 1], a[o + 2], a[o + 3], a[o + 4], a[o + 5], begin, end, a[o + 7], a[o + 8]);
    }
  } else if (op === OP_ATTENTION) {
    const o = ARGS;
    const n_heads = a[o + 5];
    const n_ctx = a[o + 8];
    const [begin, end] = share(n_heads, tid, nt);
    if (end > begin) {
      k.attention(a[o], a[o + 1], a[o + 2], a[o + 3], a[o + 4] + tid * n_ctx * 4, n_heads, a[o + 6], a[o + 7], n_ctx,
        a[o + 9], a[o + 10], begin, end);
    }
  }
}
