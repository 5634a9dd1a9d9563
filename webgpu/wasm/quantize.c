// Quantize f32 activations to block_q8a (14 bits per value as qh and ql, or 8 in qh alone; one f32
// scale per 32 values, and their sums), once per mat-vec input, so every weight type can use integer dot products.
#include "quants.h"

// x: n_tokens rows of n floats (n a multiple of 32); y: n_tokens * n/32 blocks.
// bits 14: q = round(x / d) with d = max|x| / 16256, split as 128 qh + ql.
// bits 8: q = 128 round(x / (128 d)) with 128 d = max|x| / 127, so ql is 0 and qh holds the 8-bit
// value: every kernel reads the same blocks, and the x4 kernels told so skip the ql half.
EXPORT(quantize_q8a) void quantize_q8a(const float *x, block_q8a *y, int n, int n_tokens, int bits) {
  int a8 = bits == 8;
  int nb = n / QK;
  for (int t = 0; t < n_tokens; t++) {
    for (int i = 0; i < nb; i++, x += QK, y++) {
      v128_t amax = wasm_f32x4_splat(0.0f);
      for (int j = 0; j < QK; j += 4) amax = wasm_f32x4_max(amax, wasm_f32x4_abs(wasm_v128_load(x + j)));
      amax = wasm_f32x4_max(amax, wasm_i32x4_shuffle(amax, amax, 2, 3, 0, 1));
      amax = wasm_f32x4_max(amax, wasm_i32x4_shuffle(amax, amax, 1, 0, 3, 2));
      float m = wasm_f32x4_extract_lane(amax, 0);
      float d8 = m / 127.0f;
      float d = a8 ? d8 * (1.0f / 128.0f) : m / (float)QA_MAX;
      float id = d > 0.0f ? 1.0f / (a8 ? d8 : d) : 0.0f;
      v128_t vid = wasm_f32x4_splat(id);
      int32_t s[2] = {0, 0};
      for (int j = 0; j < QK; j += 16) {
        v128_t q[4];
        v128_t sum = wasm_i32x4_splat(0);
        for (int k = 0; k < 4; k++) {
          q[k] = wasm_i32x4_trunc_sat_f32x4(wasm_f32x4_nearest(wasm_f32x4_mul(wasm_v128_load(x + j + 4 * k), vid)));
          if (a8) q[k] = wasm_i32x4_shl(q[k], 7);
          sum = wasm_i32x4_add(sum, q[k]);
        }
        s[j / 16] = hsum_i32x4(sum);
        v128_t hi[4], lo[4];
        for (int k = 0; k < 4; k++) {
          hi[k] = wasm_i32x4_shr(q[k], 7);  // floor(q / 128), in [-127, 127]
          lo[k] = wasm_v128_and(q[k], wasm_i32x4_splat(127));
        }
        wasm_v128_store(y->qh + j, wasm_i8x16_narrow_i16x8(wasm_i16x8_narrow_i32x4(hi[0], hi[1]), wasm_i16x8_narrow_i32x4(hi[2], hi[3])));
        wasm_v128_store(y->ql + j, wasm_i8x16_narrow_i16x8(wasm_i16x8_narrow_i32x4(lo[0], lo[1]), wasm_i16x8_narrow_i32x4(lo[2], lo[3])));
      }
      y->d = d;
      y->ds = d * (float)(s[0] + s[1]);
      y->sum[0] = s[0];
      y->sum[1] = s[1];
    }
  }
}

// Bytes of one activation block, so JS sizes its buffers from the one definition.
EXPORT(q8a_block_bytes) int q8a_block_bytes(void) { return sizeof(block_q8a); }
