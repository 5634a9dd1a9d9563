// Mat-vec on weights repacked four rows at a time ("x4"), for Q4_0, Q4_1 and Q8_0.
//
// One x4 block holds block j of four consecutive rows: their four scales (and mins), converted to
// f32 once at load, side by side, then their quants. One activation block then feeds four rows,
// the scales load as one vector, and the four row sums leave the integer lanes with one transpose.
// The kernels are compute-bound (unpacking nibbles), so the 4 to 8 extra bytes per block are cheap.
#include "quants.h"

typedef struct { float d[4]; uint8_t qs[4][QK / 2]; } block_q4_0x4;
typedef struct { float d[4]; float m[4]; uint8_t qs[4][QK / 2]; } block_q4_1x4;
typedef struct { float d[4]; int8_t qs[4][QK]; } block_q8_0x4;

static int x4_block_bytes(int type) {
  return type == GGML_Q4_0 ? sizeof(block_q4_0x4) : type == GGML_Q4_1 ? sizeof(block_q4_1x4) : sizeof(block_q8_0x4);
}

// [sum(s0), sum(s1), sum(s2), sum(s3)]
static inline v128_t reduce4(v128_t s0, v128_t s1, v128_t s2, v128_t s3) {
  v128_t a = wasm_i32x4_add(wasm_i32x4_shuffle(s0, s1, 0, 4, 1, 5), wasm_i32x4_shuffle(s0, s1, 2, 6, 3, 7));
  v128_t b = wasm_i32x4_add(wasm_i32x4_shuffle(s2, s3, 0, 4, 1, 5), wasm_i32x4_shuffle(s2, s3, 2, 6, 3, 7));
  return wasm_i32x4_add(wasm_i32x4_shuffle(a, b, 0, 1, 4, 5), wasm_i32x4_shuffle(a, b, 2, 3, 6, 7));
}

#define ALWAYS_INLINE __attribute__((always_inline)) static inline

// Four rows of nibbles unpacked once, then dotted with one activation block per token.
ALWAYS_INLINE v128_t nib_isum4(const v128_t lo[4], const v128_t hi[4], const block_q8a *x) {
  v128_t h0 = wasm_v128_load(x->qh), h1 = wasm_v128_load(x->qh + 16);
  v128_t l0 = wasm_v128_load(x->ql), l1 = wasm_v128_load(x->ql + 16), s[4];
  for (int r = 0; r < 4; r++) {
    v128_t hi_sum = dot_u7_i8(dot_u7_i8(wasm_i32x4_splat(0), lo[r], h0), hi[r], h1);
    v128_t lo_sum = dot_u7_i8(dot_u7_i8(wasm_i32x4_splat(0), lo[r], l0), hi[r], l1);
    s[r] = wasm_i32x4_add(wasm_i32x4_shl(hi_sum, 7), lo_sum);
  }
  return reduce4(s[0], s[1], s[2], s[3]);
}

ALWAYS_INLINE void unpack_nibbles4(const uint8_t qs[4][QK / 2], v128_t lo[4], v128_t hi[4]) {
  for (int r = 0; r < 4; r++) {
    v128_t q = wasm_v128_load(qs[r]);
    lo[r] = wasm_v128_and(q, wasm_i8x16_splat(0x0F));
    hi[r] = wasm_u8x16_shr(q, 4);
  }
}

// y[t] = the 4 rows . token t, for n_tok (1 or 2) tokens whose blocks are nb apart; nb blocks each.
ALWAYS_INLINE void dot4_q4_0(const block_q4_0x4 *w, const block_q8a *x, int nb, int n_tok, v128_t *y) {
  v128_t acc[2] = {wasm_f32x4_splat(0.0f), wasm_f32x4_splat(0.0f)}, off[2] = {acc[0], acc[0]};
  for (int i = 0; i < nb; i++) {
    v128_t lo[4], hi[4];
    unpack_nibbles4(w[i].qs, lo, hi);
    v128_t d = wasm_v128_load(w[i].d);
    for (int t = 0; t < n_tok; t++) {
      const block_q8a *xt = &x[i + t * nb];
      v128_t s = nib_isum4(lo, hi, xt);
      acc[t] = wasm_f32x4_add(acc[t], wasm_f32x4_mul(wasm_f32x4_convert_i32x4(s), wasm_f32x4_mul(d, wasm_v128_load32_splat(&xt->d))));
      off[t] = wasm_f32x4_add(off[t], wasm_f32x4_mul(d, wasm_v128_load32_splat(&xt->ds)));
    }
  }
  for (int t = 0; t < n_tok; t++) y[t] = wasm_f32x4_sub(acc[t], wasm_f32x4_mul(off[t], wasm_f32x4_splat(8.0f)));
}

ALWAYS_INLINE void dot4_q4_1(const block_q4_1x4 *w, const block_q8a *x, int nb, int n_tok, v128_t *y) {
  v128_t acc[2] = {wasm_f32x4_splat(0.0f), wasm_f32x4_splat(0.0f)}, off[2] = {acc[0], acc[0]};
  for (int i = 0; i < nb; i++) {
    v128_t lo[4], hi[4];
    unpack_nibbles4(w[i].qs, lo, hi);
    v128_t d = wasm_v128_load(w[i].d), m = wasm_v128_load(w[i].m);
    for (int t = 0; t < n_tok; t++) {
      const block_q8a *xt = &x[i + t * nb];
      v128_t s = nib_isum4(lo, hi, xt);
      acc[t] = wasm_f32x4_add(acc[t], wasm_f32x4_mul(wasm_f32x4_convert_i32x4(s), wasm_f32x4_mul(d, wasm_v128_load32_splat(&xt->d))));
      off[t] = wasm_f32x4_add(off[t], wasm_f32x4_mul(m, wasm_v128_load32_splat(&xt->ds)));
    }
  }
  for (int t = 0; t < n_tok; t++) y[t] = wasm_f32x4_add(acc[t], off[t]);
}

ALWAYS_INLINE void dot4_q8_0(const block_q8_0x4 *w, const block_q8a *x, int nb, int n_tok, v128_t *y) {
  v128_t acc[2] = {wasm_f32x4_splat(0.0f), wasm_f32x4_splat(0.0f)};
  for (int i = 0; i < nb; i++) {
    v128_t d = wasm_v128_load(w[i].d);
    for (int t = 0; t < n_tok; t++) {
      const block_q8a *xt = &x[i + t * nb];
      v128_t h0 = wasm_v128_load(xt->qh), h1 = wasm_v128_load(xt->qh + 16);
      v128_t l0 = wasm_v128_load(xt->ql), l1 = wasm_v128_load(xt->ql + 16), s[4];
      for (int r = 0; r < 4; r++) {
        v128_t w0 = wasm_v128_load(w[i].qs[r]), w1 = wasm_v128_load(w[i].qs[r] + 16);
        v128_t hi_sum = signed_dot(signed_dot(wasm_i32x4_splat(0), w0, h0), w1, h1);
        v128_t lo_sum = signed_dot(signed_dot(wasm_i32x4_splat(0), w0, l0), w1, l1);
        s[r] = wasm_i32x4_add(wasm_i32x4_shl(hi_sum, 7), lo_sum);
      }
      v128_t dd = wasm_f32x4_mul(d, wasm_v128_load32_splat(&xt->d));
      acc[t] = wasm_f32x4_add(acc[t], wasm_f32x4_mul(wasm_f32x4_convert_i32x4(reduce4(s[0], s[1], s[2], s[3])), dd));
    }
  }
  for (int t = 0; t < n_tok; t++) y[t] = acc[t];
}

static void dot4(int type, const void *w, const block_q8a *x, int nb, int n_tok, v128_t *y) {
  if (type == GGML_Q4_0) {
    if (n_tok == 2) dot4_q4_0(w, x, nb, 2, y); else dot4_q4_0(w, x, nb, 1, y);
  } else if (type == GGML_Q4_1) {
    if (n_tok == 2) dot4_q4_1(w, x, nb, 2, y); else dot4_q4_1(w, x, nb, 1, y);
  } else {
    if (n_tok == 2) dot4_q8_0(w, x, nb, 2, y); else dot4_q8_0(w, x, nb, 1, y);
  }
}

int x4_supported(int type) { return type == GGML_Q4_0 || type == GGML_Q4_1 || type == GGML_Q8_0; }

// Bytes of a rows x cols tensor of type in the x4 layout; 0 when it cannot be repacked.
EXPORT(x4_bytes) int x4_bytes(int type, int rows, int cols) {
  if (!x4_supported(type) || rows % 4 || cols % QK) return 0;
  return rows / 4 * (cols / QK) * x4_block_bytes(type);
}

// Rewrite rows (a multiple of 4) of a Q4_0/Q4_1/Q8_0 tensor from src into the x4 layout at dst,
// which holds x4_bytes(type, rows, cols).
EXPORT(repack_x4) int repack_x4(int type, const void *src, void *dst, int rows, int cols) {
  if (!x4_bytes(type, rows, cols)) return -1;
  int nb = cols / QK, bb = type_block_bytes(type);
  const uint8_t *s = src;
  uint8_t *d = dst;
  for (int g = 0; g < rows / 4; g++) {
    for (int j = 0; j < nb; j++) {
      const uint8_t *blk[4];
      for (int r = 0; r < 4; r++) blk[r] = s + ((size_t)(4 * g + r) * nb + j) * bb;
      if (type == GGML_Q4_0) {
        block_q4_0x4 *o = (block_q4_0x4 *)d;
        for (int r = 0; r < 4; r++) {
          const block_q4_0 *b = (const block_q4_0 *)blk[r];
          o->d[r] = f16_to_f32(b->d);
          for (int k = 0; k < QK / 2; k++) o->qs[r][k] = b->qs[k];
        }
      } else if (type == GGML_Q4_1) {
        block_q4_1x4 *o = (block_q4_1x4 *)d;
        for (int r = 0; r < 4; r++) {
          const block_q4_1 *b = (const block_q4_1 *)blk[r];
          o->d[r] = f16_to_f32(b->d);
          o->m[r] = f16_to_f32(b->m);
          for (int k = 0; k < QK / 2; k++) o->qs[r][k] = b->qs[k];
        }
      } else {
        block_q8_0x4 *o = (block_q8_0x4 *)d;
        for (int r = 0; r < 4; r++) {
          const block_q8_0 *b = (const block_q8_0 *)blk[r];
          o->d[r] = f16_to_f32(b->d);
          for (int k = 0; k < QK; k++) o->qs[r][k] = b->qs[k];
        }
      }
      d += x4_block_bytes(type);
    }
  }
  return 0;
}

// As matmul, on an x4 tensor; row_begin and row_end are multiples of 4.
void matmul_x4(int type, const void *W, const block_q8a *xq, float *out, int n_cols, int row_begin, int row_end,
               int n_tokens, int out_stride) {
  int nb = n_cols / QK;
  size_t group_bytes = (size_t)nb * x4_block_bytes(type);
  for (int r = row_begin; r < row_end; r += 4) {
    const void *w = (const uint8_t *)W + (size_t)(r / 4) * group_bytes;
    for (int t = 0; t < n_tokens; t += 2) {
      int n_tok = n_tokens - t >= 2 ? 2 : 1;
      v128_t y[2];
      dot4(type, w, xq + (size_t)t * nb, nb, n_tok, y);
      for (int k = 0; k < n_tok; k++) wasm_v128_store(out + (size_t)(t + k) * out_stride + r, y[k]);
    }
  }
}
