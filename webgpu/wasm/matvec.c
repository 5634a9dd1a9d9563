// Quantized dot products and the mat-vec / mat-mul built on them.
//
// Each weight block is unpacked to unsigned 0..127 lanes (Q8_0: signed) and dotted with the int8
// activations; the type's offset (-8, -16, -32) or min is applied through the activation sums.
#include "quants.h"

void q4k_scales(const uint8_t *scales, uint8_t sc[8], uint8_t m[8]);
void q3k_scales(const uint8_t *scales, int8_t sc[16]);
void matmul_x4(int type, const void *W, const block_q8a *xq, float *out, int n_cols, int row_begin, int row_end,
               int n_tokens, int out_stride, int act_bits);

#define LOAD(p) wasm_v128_load(p)
#define NIB_LO(v) wasm_v128_and((v), wasm_i8x16_splat(0x0F))
#define NIB_HI(v) wasm_u8x16_shr((v), 4)

static inline uint32_t qh32(const uint8_t qh[4]) {
  return qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 | (uint32_t)qh[3] << 24;
}

static inline v128_t fma_block(v128_t acc, v128_t isum, float scale) {
  return wasm_f32x4_add(acc, wasm_f32x4_mul(wasm_f32x4_convert_i32x4(isum), wasm_f32x4_splat(scale)));
}

// Two 16-weight halves (lanes 0..15 and 16..31 of a block) of 0..127 weights, with one activation block.
static inline v128_t isum_u7(v128_t w0, v128_t w1, const block_q8a *x) {
  return acc14_total(dot14_u7(dot14_u7(acc14_zero(), w0, x, 0), w1, x, 16));
}

// Lanes 0..15 and 16..31 of activation block x against two 16-weight groups, each with its own
// scale (Q2_K, Q3_K, Q6_K scale every 16 weights).
static inline v128_t fma_halves(v128_t acc, v128_t wa, v128_t wb, const block_q8a *x, float sa, float sb) {
  acc = fma_block(acc, acc14_total(dot14_u7(acc14_zero(), wa, x, 0)), sa * x->d);
  return fma_block(acc, acc14_total(dot14_u7(acc14_zero(), wb, x, 16)), sb * x->d);
}

static float dot_q4_0(const block_q4_0 *w, const block_q8a *x, int nb) {
  v128_t acc = wasm_f32x4_splat(0.0f);
  float off = 0.0f;
  for (int i = 0; i < nb; i++) {
    v128_t q = LOAD(w[i].qs);
    float d = f16_to_f32(w[i].d);
    acc = fma_block(acc, isum_u7(NIB_LO(q), NIB_HI(q), &x[i]), d * x[i].d);
    off += d * x[i].ds;
  }
  return hsum_f32x4(acc) - 8.0f * off;
}

static float dot_q4_1(const block_q4_1 *w, const block_q8a *x, int nb) {
  v128_t acc = wasm_f32x4_splat(0.0f);
  float off = 0.0f;
  for (int i = 0; i < nb; i++) {
    v128_t q = LOAD(w[i].qs);
    acc = fma_block(acc, isum_u7(NIB_LO(q), NIB_HI(q), &x[i]), f16_to_f32(w[i].d) * x[i].d);
    off += f16_to_f32(w[i].m) * x[i].ds;
  }
  return hsum_f32x4(acc) + off;
}

static inline v128_t q5_isum(const uint8_t qs[16], const uint8_t qh[4], const block_q8a *x) {
  uint32_t h = qh32(qh);
  v128_t q = LOAD(qs);
  return isum_u7(wasm_v128_or(NIB_LO(q), qh_bits16(h, 0)), wasm_v128_or(NIB_HI(q), qh_bits16(h, 16)), x);
}

static float dot_q5_0(const block_q5_0 *w, const block_q8a *x, int nb) {
  v128_t acc = wasm_f32x4_splat(0.0f);
  float off = 0.0f;
  for (int i = 0; i < nb; i++) {
    float d = f16_to_f32(w[i].d);
    acc = fma_block(acc, q5_isum(w[i].qs, w[i].qh, &x[i]), d * x[i].d);
    off += d * x[i].ds;
  }
  return hsum_f32x4(acc) - 16.0f * off;
}

static float dot_q5_1(const block_q5_1 *w, const block_q8a *x, int nb) {
  v128_t acc = wasm_f32x4_splat(0.0f);
  float off = 0.0f;
  for (int i = 0; i < nb; i++) {
    acc = fma_block(acc, q5_isum(w[i].qs, w[i].qh, &x[i]), f16_to_f32(w[i].d) * x[i].d);
    off += f16_to_f32(w[i].m) * x[i].ds;
  }
  return hsum_f32x4(acc) + off;
}

static float dot_q8_0(const block_q8_0 *w, const block_q8a *x, int nb) {
  v128_t acc = wasm_f32x4_splat(0.0f);
  for (int i = 0; i < nb; i++) {
    v128_t w0 = LOAD(w[i].qs), w1 = LOAD(w[i].qs + 16);
    acc14 a = acc14_zero();
    a.hi = signed_dot(signed_dot(a.hi, w0, LOAD(x[i].qh)), w1, LOAD(x[i].qh + 16));
    a.lo = signed_dot(signed_dot(a.lo, w0, LOAD(x[i].ql)), w1, LOAD(x[i].ql + 16));
    acc = fma_block(acc, acc14_total(a), f16_to_f32(w[i].d) * x[i].d);
  }
  return hsum_f32x4(acc);
}

// K-quants: one super-block spans 8 activation blocks.
// Q2_K and Q3_K: group g of 16 (g = 8n + 2j + half) holds bits 2j..2j+1 of qs[32n + 16 half + l];
// 32-element pairs of groups line up with one activation block, 4n + j.
static float dot_q2_K(const block_q2_K *w, const block_q8a *x, int nb) {
  v128_t acc = wasm_f32x4_splat(0.0f);
  float off = 0.0f;
  const v128_t three = wasm_i8x16_splat(3);
  for (int i = 0; i < nb; i++) {
    float d = f16_to_f32(w[i].d), dmin = f16_to_f32(w[i].dmin);
    for (int n = 0; n < 2; n++, x += 4) {
      v128_t q0 = LOAD(w[i].qs + 32 * n), q1 = LOAD(w[i].qs + 32 * n + 16);
      for (int j = 0; j < 4; j++) {
        const block_q8a *xj = &x[j];
        int sa = w[i].scales[8 * n + 2 * j], sb = w[i].scales[8 * n + 2 * j + 1];
        v128_t ua = wasm_v128_and(wasm_u8x16_shr(q0, 2 * j), three), ub = wasm_v128_and(wasm_u8x16_shr(q1, 2 * j), three);
        acc = fma_halves(acc, ua, ub, xj, d * (sa & 0xF), d * (sb & 0xF));
        off += dmin * xj->d * ((float)(sa >> 4) * xj->sum[0] + (float)(sb >> 4) * xj->sum[1]);
      }
    }
  }
  return hsum_f32x4(acc) - off;
}

static float dot_q3_K(const block_q3_K *w, const block_q8a *x, int nb) {
  v128_t acc = wasm_f32x4_splat(0.0f);
  float off = 0.0f;
  const v128_t three = wasm_i8x16_splat(3), one = wasm_i8x16_splat(1);
  for (int i = 0; i < nb; i++) {
    float d = f16_to_f32(w[i].d);
    int8_t sc[16];
    q3k_scales(w[i].scales, sc);
    v128_t h0 = LOAD(w[i].hmask), h1 = LOAD(w[i].hmask + 16);
    for (int n = 0; n < 2; n++, x += 4) {
      v128_t q0 = LOAD(w[i].qs + 32 * n), q1 = LOAD(w[i].qs + 32 * n + 16);
      for (int j = 0; j < 4; j++) {
        const block_q8a *xj = &x[j];
        int bit = 4 * n + j, sa = sc[8 * n + 2 * j], sb = sc[8 * n + 2 * j + 1];
        v128_t ua = wasm_v128_or(wasm_v128_and(wasm_u8x16_shr(q0, 2 * j), three),
                                 wasm_i8x16_shl(wasm_v128_and(wasm_u8x16_shr(h0, bit), one), 2));
        v128_t ub = wasm_v128_or(wasm_v128_and(wasm_u8x16_shr(q1, 2 * j), three),
                                 wasm_i8x16_shl(wasm_v128_and(wasm_u8x16_shr(h1, bit), one), 2));
        acc = fma_halves(acc, ua, ub, xj, d * sa, d * sb);
        off += d * xj->d * ((float)sa * xj->sum[0] + (float)sb * xj->sum[1]);
      }
    }
  }
  return hsum_f32x4(acc) - 4.0f * off;
}

static float dot_q4_K(const block_q4_K *w, const block_q8a *x, int nb) {
  v128_t acc = wasm_f32x4_splat(0.0f);
  float off = 0.0f;
  for (int i = 0; i < nb; i++, x += 8) {
    float d = f16_to_f32(w[i].d), dmin = f16_to_f32(w[i].dmin);
    uint8_t sc[8], m[8];
    q4k_scales(w[i].scales, sc, m);
    for (int c = 0; c < 4; c++) {
      v128_t q0 = LOAD(w[i].qs + 32 * c), q1 = LOAD(w[i].qs + 32 * c + 16);
      const block_q8a *xa = &x[2 * c], *xb = &x[2 * c + 1];
      acc = fma_block(acc, isum_u7(NIB_LO(q0), NIB_LO(q1), xa), d * sc[2 * c] * xa->d);
      acc = fma_block(acc, isum_u7(NIB_HI(q0), NIB_HI(q1), xb), d * sc[2 * c + 1] * xb->d);
      off += dmin * (m[2 * c] * xa->ds + m[2 * c + 1] * xb->ds);
    }
  }
  return hsum_f32x4(acc) - off;
}

static float dot_q5_K(const block_q5_K *w, const block_q8a *x, int nb) {
  v128_t acc = wasm_f32x4_splat(0.0f);
  float off = 0.0f;
  const v128_t one = wasm_i8x16_splat(1);
  for (int i = 0; i < nb; i++, x += 8) {
    float d = f16_to_f32(w[i].d), dmin = f16_to_f32(w[i].dmin);
    uint8_t sc[8], m[8];
    q4k_scales(w[i].scales, sc, m);
    v128_t h0 = LOAD(w[i].qh), h1 = LOAD(w[i].qh + 16);
    for (int c = 0; c < 4; c++) {
      v128_t q0 = LOAD(w[i].qs + 32 * c), q1 = LOAD(w[i].qs + 32 * c + 16);
      int sa_bit = 2 * c, sb_bit = 2 * c + 1;
      v128_t ha0 = wasm_i8x16_shl(wasm_v128_and(wasm_u8x16_shr(h0, sa_bit), one), 4);
      v128_t ha1 = wasm_i8x16_shl(wasm_v128_and(wasm_u8x16_shr(h1, sa_bit), one), 4);
      v128_t hb0 = wasm_i8x16_shl(wasm_v128_and(wasm_u8x16_shr(h0, sb_bit), one), 4);
      v128_t hb1 = wasm_i8x16_shl(wasm_v128_and(wasm_u8x16_shr(h1, sb_bit), one), 4);
      const block_q8a *xa = &x[2 * c], *xb = &x[2 * c + 1];
      acc = fma_block(acc, isum_u7(wasm_v128_or(NIB_LO(q0), ha0), wasm_v128_or(NIB_LO(q1), ha1), xa), d * sc[2 * c] * xa->d);
      acc = fma_block(acc, isum_u7(wasm_v128_or(NIB_HI(q0), hb0), wasm_v128_or(NIB_HI(q1), hb1), xb), d * sc[2 * c + 1] * xb->d);
      off += dmin * (m[2 * c] * xa->ds + m[2 * c + 1] * xb->ds);
    }
  }
  return hsum_f32x4(acc) - off;
}

static float dot_q6_K(const block_q6_K *w, const block_q8a *x, int nb) {
  v128_t acc = wasm_f32x4_splat(0.0f);
  float off = 0.0f;
  const v128_t three = wasm_i8x16_splat(3);
  for (int i = 0; i < nb; i++) {
    float d = f16_to_f32(w[i].d);
    for (int n = 0; n < 2; n++, x += 4) {
      const uint8_t *ql = w[i].ql + 64 * n, *qh = w[i].qh + 32 * n;
      const int8_t *sc = w[i].scales + 8 * n;
      v128_t l0 = LOAD(ql), l1 = LOAD(ql + 16), l2 = LOAD(ql + 32), l3 = LOAD(ql + 48);
      v128_t h0 = LOAD(qh), h1 = LOAD(qh + 16);
      // Four 32-element groups k; lanes 0..15 and 16..31 of each carry their own scale.
      v128_t lo[4][2] = {{NIB_LO(l0), NIB_LO(l1)}, {NIB_LO(l2), NIB_LO(l3)}, {NIB_HI(l0), NIB_HI(l1)}, {NIB_HI(l2), NIB_HI(l3)}};
      for (int k = 0; k < 4; k++) {
        v128_t qa = wasm_v128_or(lo[k][0], wasm_i8x16_shl(wasm_v128_and(wasm_u8x16_shr(h0, 2 * k), three), 4));
        v128_t qb = wasm_v128_or(lo[k][1], wasm_i8x16_shl(wasm_v128_and(wasm_u8x16_shr(h1, 2 * k), three), 4));
        const block_q8a *xk = &x[k];
        int sa = sc[2 * k], sb = sc[2 * k + 1];
        acc = fma_halves(acc, qa, qb, xk, d * sa, d * sb);
        off += d * xk->d * ((float)sa * xk->sum[0] + (float)sb * xk->sum[1]);
      }
    }
  }
  return hsum_f32x4(acc) - 32.0f * off;
}

static float dot_f32(const float *w, const float *x, int n) {
  v128_t acc = wasm_f32x4_splat(0.0f);
  for (int i = 0; i < n; i += 4) acc = wasm_f32x4_add(acc, wasm_f32x4_mul(LOAD(w + i), LOAD(x + i)));
  return hsum_f32x4(acc);
}

static float dot_f16(const f16_t *w, const float *x, int n) {
  v128_t acc = wasm_f32x4_splat(0.0f);
  for (int i = 0; i < n; i += 8) {
    v128_t h = LOAD(w + i);
    acc = wasm_f32x4_add(acc, wasm_f32x4_mul(f16x4_to_f32x4(wasm_u32x4_extend_low_u16x8(h)), LOAD(x + i)));
    acc = wasm_f32x4_add(acc, wasm_f32x4_mul(f16x4_to_f32x4(wasm_u32x4_extend_high_u16x8(h)), LOAD(x + i + 4)));
  }
  return hsum_f32x4(acc);
}

static float dot_row(int type, const void *w, const block_q8a *xq, const float *xf, int n_cols) {
  switch (type) {
    case GGML_F32: return dot_f32(w, xf, n_cols);
    case GGML_F16: return dot_f16(w, xf, n_cols);
    case GGML_Q4_0: return dot_q4_0(w, xq, n_cols / QK);
    case GGML_Q4_1: return dot_q4_1(w, xq, n_cols / QK);
    case GGML_Q5_0: return dot_q5_0(w, xq, n_cols / QK);
    case GGML_Q5_1: return dot_q5_1(w, xq, n_cols / QK);
    case GGML_Q8_0: return dot_q8_0(w, xq, n_cols / QK);
    case GGML_Q2_K: return dot_q2_K(w, xq, n_cols / QK_K);
    case GGML_Q3_K: return dot_q3_K(w, xq, n_cols / QK_K);
    case GGML_Q4_K: return dot_q4_K(w, xq, n_cols / QK_K);
    case GGML_Q5_K: return dot_q5_K(w, xq, n_cols / QK_K);
    case GGML_Q6_K: return dot_q6_K(w, xq, n_cols / QK_K);
    default: return 0.0f;
  }
}

// 8 weights of an F16 row, widened, as two f32x4.
static inline void load8_f16(const f16_t *w, int i, v128_t *lo, v128_t *hi) {
  v128_t h = LOAD(w + i);
  *lo = f16x4_to_f32x4(wasm_u32x4_extend_low_u16x8(h));
  *hi = f16x4_to_f32x4(wasm_u32x4_extend_high_u16x8(h));
}

// F16 rows times float activations in blocks of two rows by four tokens: each weight is widened
// once per four tokens, each activation loaded once per two rows, and the eight sums are
// independent chains. Leftover rows and tokens take dot_row.
static void matmul_f16(const uint8_t *W, int row_bytes, const float *xf, float *out, int n_cols,
                       int row_begin, int row_end, int n_tokens, int out_stride) {
  int r = row_begin;
  for (; r + 2 <= row_end; r += 2) {
    const f16_t *wa = (const f16_t *)(W + (size_t)r * row_bytes), *wb = (const f16_t *)(W + (size_t)(r + 1) * row_bytes);
    int t = 0;
    for (; t + 4 <= n_tokens; t += 4) {
      const float *x = xf + (size_t)t * n_cols;
      v128_t acc[2][4];
      for (int j = 0; j < 4; j++) acc[0][j] = acc[1][j] = wasm_f32x4_splat(0.0f);
      for (int i = 0; i < n_cols; i += 8) {
        v128_t alo, ahi, blo, bhi;
        load8_f16(wa, i, &alo, &ahi);
        load8_f16(wb, i, &blo, &bhi);
        for (int j = 0; j < 4; j++) {
          v128_t xlo = LOAD(x + (size_t)j * n_cols + i), xhi = LOAD(x + (size_t)j * n_cols + i + 4);
          acc[0][j] = wasm_f32x4_add(acc[0][j], wasm_f32x4_add(wasm_f32x4_mul(alo, xlo), wasm_f32x4_mul(ahi, xhi)));
          acc[1][j] = wasm_f32x4_add(acc[1][j], wasm_f32x4_add(wasm_f32x4_mul(blo, xlo), wasm_f32x4_mul(bhi, xhi)));
        }
      }
      for (int j = 0; j < 4; j++) {
        out[(size_t)(t + j) * out_stride + r] = hsum_f32x4(acc[0][j]);
        out[(size_t)(t + j) * out_stride + r + 1] = hsum_f32x4(acc[1][j]);
      }
    }
    for (; t < n_tokens; t++) {
      out[(size_t)t * out_stride + r] = dot_row(GGML_F16, wa, 0, xf + (size_t)t * n_cols, n_cols);
      out[(size_t)t * out_stride + r + 1] = dot_row(GGML_F16, wb, 0, xf + (size_t)t * n_cols, n_cols);
    }
  }
  for (; r < row_end; r++) {
    for (int t = 0; t < n_tokens; t++) {
      out[(size_t)t * out_stride + r] = dot_row(GGML_F16, W + (size_t)r * row_bytes, 0, xf + (size_t)t * n_cols, n_cols);
    }
  }
}

// F32 rows times float activations in tiles of four rows by two tokens: eight independent sums
// fed by six loads per four columns, which keeps every operand in the 16 SIMD registers that V8
// gives wasm on x86 (4 x 4 and 4 x 3 tiles spill; measured 14.5-21 against 22-26 GFLOP/s a
// thread). Encoders run here: their F16 weights are widened to F32 at load (WasmOps.uploadWeights).
static void matmul_f32(const float *W, const float *xf, float *out, int n_cols, int row_begin, int row_end,
                       int n_tokens, int out_stride) {
  int r = row_begin;
  for (; r + 4 <= row_end; r += 4) {
    const float *w = W + (size_t)r * n_cols;
    int t = 0;
    for (; t + 2 <= n_tokens; t += 2) {
      const float *x0 = xf + (size_t)t * n_cols, *x1 = x0 + n_cols;
      v128_t acc[4][2];
      for (int a = 0; a < 4; a++) acc[a][0] = acc[a][1] = wasm_f32x4_splat(0.0f);
      for (int i = 0; i < n_cols; i += 4) {
        v128_t xa = LOAD(x0 + i), xb = LOAD(x1 + i);
        for (int a = 0; a < 4; a++) {
          v128_t wa = LOAD(w + (size_t)a * n_cols + i);
          acc[a][0] = MADD(wa, xa, acc[a][0]);
          acc[a][1] = MADD(wa, xb, acc[a][1]);
        }
      }
      for (int a = 0; a < 4; a++) {
        out[(size_t)t * out_stride + r + a] = hsum_f32x4(acc[a][0]);
        out[(size_t)(t + 1) * out_stride + r + a] = hsum_f32x4(acc[a][1]);
      }
    }
    for (; t < n_tokens; t++) {
      for (int a = 0; a < 4; a++) out[(size_t)t * out_stride + r + a] = dot_f32(w + (size_t)a * n_cols, xf + (size_t)t * n_cols, n_cols);
    }
  }
  for (; r < row_end; r++) {
    for (int t = 0; t < n_tokens; t++) {
      out[(size_t)t * out_stride + r] = dot_f32(W + (size_t)r * n_cols, xf + (size_t)t * n_cols, n_cols);
    }
  }
}

// out[t * out_stride + r] = W[r] . x[t] for rows r in [row_begin, row_end) and n_tokens tokens.
// W: rows of n_cols weights of type; xq: n_tokens * n_cols/32 activation blocks (quantized types);
// xf: n_tokens * n_cols floats (F32/F16 weights). n_cols must be a multiple of 32 (256 for K-quants).
// layout LAYOUT_X4: W was repacked by repack_x4, and row_begin/row_end are multiples of 4.
// act_bits: the bits quantize_q8a gave xq (8 or 14); the row layout reads both halves either way.
EXPORT(matmul) void matmul(int type, int layout, const void *W, const block_q8a *xq, const float *xf, float *out,
                           int n_cols, int row_begin, int row_end, int n_tokens, int out_stride, int act_bits) {
  if (layout == LAYOUT_X4) {
    matmul_x4(type, W, xq, out, n_cols, row_begin, row_end, n_tokens, out_stride, act_bits);
    return;
  }
  int row_bytes = n_cols / type_block_elems(type) * type_block_bytes(type);
  if (type == GGML_F32) {
    matmul_f32(W, xf, out, n_cols, row_begin, row_end, n_tokens, out_stride);
    return;
  }
  if (type == GGML_F16) {
    matmul_f16(W, row_bytes, xf, out, n_cols, row_begin, row_end, n_tokens, out_stride);
    return;
  }
  int nbx = n_cols / QK;
  for (int r = row_begin; r < row_end; r++) {
    const uint8_t *w = (const uint8_t *)W + (size_t)r * row_bytes;
    for (int t = 0; t < n_tokens; t++) {
      out[(size_t)t * out_stride + r] = dot_row(type, w, xq + (size_t)t * nbx, xf + (size_t)t * n_cols, n_cols);
    }
  }
}
