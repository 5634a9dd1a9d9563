// The vector store's int8 scan: rows quantized to int8 with one scale each, scored against an
// int8 query, sequentially or over a list of row numbers (an inverted list). A scan reads a
// quarter of the bytes of the f32 one; the store re-ranks the best candidates in f32.
#include "quants.h"

// codes[s * d + i] = round(V[s * d + i] * 127 / max |V[s]|) (ties away from zero; 0 for a zero row),
// scales[s] = max |V[s]| / 127.
EXPORT(quantize_i8_rows) void quantize_i8_rows(const float *V, int8_t *codes, float *scales, int n, int d) {
  for (int s = 0; s < n; s++) {
    const float *v = V + (size_t)s * d;
    float amax = 0.0f;
    for (int i = 0; i < d; i++) {
      float a = __builtin_fabsf(v[i]);
      amax = a > amax ? a : amax;
    }
    float scale = amax / 127.0f, inv = amax > 0.0f ? 127.0f / amax : 0.0f;
    for (int i = 0; i < d; i++) {
      float c = v[i] * inv;
      codes[(size_t)s * d + i] = (int8_t)(int)(c + (c < 0.0f ? -0.5f : 0.5f));
    }
    scales[s] = scale;
  }
}

// One row's dot with the query: |q| . (code * sign(q)), the form the relaxed i8 x i7 dot takes
// (|q| <= 127 and codes in [-127, 127], so the negation never overflows).
static inline int32_t dot_i8_row(const int8_t *code, const int8_t *q_abs, const int8_t *q_neg, int d) {
  v128_t acc = wasm_i32x4_splat(0);
  for (int i = 0; i < d; i += 16) {
    v128_t x = wasm_v128_load(code + i);
    v128_t xs = wasm_v128_bitselect(wasm_i8x16_neg(x), x, wasm_v128_load(q_neg + i));
    acc = dot_u7_i8(acc, wasm_v128_load(q_abs + i), xs);
  }
  return hsum_i32x4(acc);
}

// out[j] = scales[r] * q_scale * (codes[r] . q) for r = rows[j] (rows == 0: r = j), j < n.
// q_abs/q_neg: |q| and (q < 0 ? -1 : 0) per lane, from the caller's int8 query; d % 16 == 0.
EXPORT(dot_i8_rows) void dot_i8_rows(const int8_t *codes, const float *scales, const int8_t *q_abs, const int8_t *q_neg,
                                     float q_scale, const int32_t *rows, int n, int d, float *out) {
  for (int j = 0; j < n; j++) {
    int r = rows ? rows[j] : j;
    out[j] = scales[r] * q_scale * (float)dot_i8_row(codes + (size_t)r * d, q_abs, q_neg, d);
  }
}
