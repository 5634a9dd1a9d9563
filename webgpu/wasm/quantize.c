// Quantize f32 activations to block_q8a (int8 per 32 values, one f32 scale, their sums),
// once per mat-vec input, so every weight type can use integer dot products.
#include "quants.h"

// x: n_tokens rows of n floats (n a multiple of 32); y: n_tokens * n/32 blocks.
EXPORT(quantize_q8a) void quantize_q8a(const float *x, block_q8a *y, int n, int n_tokens) {
  int nb = n / QK;
  for (int t = 0; t < n_tokens; t++) {
    for (int i = 0; i < nb; i++, x += QK, y++) {
      v128_t amax = wasm_f32x4_splat(0.0f);
      for (int j = 0; j < QK; j += 4) amax = wasm_f32x4_max(amax, wasm_f32x4_abs(wasm_v128_load(x + j)));
      amax = wasm_f32x4_max(amax, wasm_i32x4_shuffle(amax, amax, 2, 3, 0, 1));
      amax = wasm_f32x4_max(amax, wasm_i32x4_shuffle(amax, amax, 1, 0, 3, 2));
      float m = wasm_f32x4_extract_lane(amax, 0);
      float d = m / 127.0f;
      float id = d > 0.0f ? 1.0f / d : 0.0f;
      v128_t vid = wasm_f32x4_splat(id);
      int32_t s[2] = {0, 0};
      for (int j = 0; j < QK; j += 16) {
        v128_t q0 = wasm_i32x4_trunc_sat_f32x4(wasm_f32x4_nearest(wasm_f32x4_mul(wasm_v128_load(x + j), vid)));
        v128_t q1 = wasm_i32x4_trunc_sat_f32x4(wasm_f32x4_nearest(wasm_f32x4_mul(wasm_v128_load(x + j + 4), vid)));
        v128_t q2 = wasm_i32x4_trunc_sat_f32x4(wasm_f32x4_nearest(wasm_f32x4_mul(wasm_v128_load(x + j + 8), vid)));
        v128_t q3 = wasm_i32x4_trunc_sat_f32x4(wasm_f32x4_nearest(wasm_f32x4_mul(wasm_v128_load(x + j + 12), vid)));
        s[j / 16] = hsum_i32x4(wasm_i32x4_add(wasm_i32x4_add(q0, q1), wasm_i32x4_add(q2, q3)));
        v128_t q16a = wasm_i16x8_narrow_i32x4(q0, q1), q16b = wasm_i16x8_narrow_i32x4(q2, q3);
        wasm_v128_store(y->q + j, wasm_i8x16_narrow_i16x8(q16a, q16b));
      }
      y->d = d;
      y->ds = d * (float)(s[0] + s[1]);
      y->sum16[0] = (int16_t)s[0];
      y->sum16[1] = (int16_t)s[1];
      y->_pad = 0;
    }
  }
}
