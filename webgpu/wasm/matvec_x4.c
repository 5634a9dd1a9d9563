// Mat-vec on weights repacked four rows at a time ("x4"), for every quantized type.
//
// One x4 block holds 32-element block j of four consecutive rows: their four scales (and mins),
// converted to f32 once at load, side by side, then their quants. One activation block then feeds
// four rows, the scales load as one vector, and the four row sums leave the integer lanes with one
// transpose. Every weight becomes scale * q + min with small unsigned q, per 32 weights or per 16:
//   Q4_0, Q4_1, Q4_K -> q4_1x4: 4-bit q, one scale and min per 32 (Q4_K's 6-bit sub-block scales
//                       folded in: d * sc and -dmin * m are exact in f32);
//   Q5_0, Q5_1, Q5_K -> q5x4: 4 low bits and one plane of the four rows' fifth bits;
//   Q6_K, Q3_K, Q2_K -> q6x4: 4 low bits and 2 high bits, a scale and min per 16 weights;
//   Q8_0 -> q8_0x4: signed bytes.
// So a K-quant's super-block structure (scales unpacked per row and per token in the row layout)
// is undone once at load; the cost is memory: 6 bits a weight for q4_1x4, 7 for q5x4, 10 for q6x4.
#include "quants.h"

void q4k_scales(const uint8_t *scales, uint8_t sc[8], uint8_t m[8]);
void q3k_scales(const uint8_t *scales, int8_t sc[16]);

typedef struct { float d[4]; uint8_t qs[4][QK / 2]; } block_q4_0x4;
typedef struct { float d[4]; float m[4]; uint8_t qs[4][QK / 2]; } block_q4_1x4;
// qh: the fifth bits as one plane; bit 2r of byte i is weight i's of row r, bit 2r + 1 weight 16 + i's,
// so each row's half comes out with one shift and one mask (plane_bits).
typedef struct { float d[4]; float m[4]; uint8_t qh[QK / 2]; uint8_t qs[4][QK / 2]; } block_q5x4;
// qs: bits 0..3 of weight i in the low nibble of byte i (i < 16), of weight 16 + i in its high
// nibble; qh: bits 4..5 as two planes, one per row pair: bits 2k..2k+1 of byte i of plane r / 2,
// k = 2 (r % 2) + h, are those of weight 16 h + i of row r, so each row's half comes out with one
// shift and one mask (plane_bits).
typedef struct { float d[2][4]; float m[2][4]; uint8_t qs[4][QK / 2]; uint8_t qh[2][QK / 2]; } block_q6x4;
typedef struct { float d[4]; int8_t qs[4][QK]; } block_q8_0x4;

enum { X4_Q4_0, X4_Q4_1, X4_Q5, X4_Q6, X4_Q8_0, X4_NONE };

static int x4_kind(int type) {
  switch (type) {
    case GGML_Q4_0: return X4_Q4_0;
    case GGML_Q4_1: case GGML_Q4_K: return X4_Q4_1;
    case GGML_Q5_0: case GGML_Q5_1: case GGML_Q5_K: return X4_Q5;
    case GGML_Q6_K: case GGML_Q3_K: case GGML_Q2_K: return X4_Q6;
    case GGML_Q8_0: return X4_Q8_0;
    default: return X4_NONE;
  }
}

static int x4_block_bytes(int type) {
  switch (x4_kind(type)) {
    case X4_Q4_0: return sizeof(block_q4_0x4);
    case X4_Q4_1: return sizeof(block_q4_1x4);
    case X4_Q5: return sizeof(block_q5x4);
    case X4_Q6: return sizeof(block_q6x4);
    default: return sizeof(block_q8_0x4);
  }
}

// [sum(s0), sum(s1), sum(s2), sum(s3)]
static inline v128_t reduce4(v128_t s0, v128_t s1, v128_t s2, v128_t s3) {
  v128_t a = wasm_i32x4_add(wasm_i32x4_shuffle(s0, s1, 0, 4, 1, 5), wasm_i32x4_shuffle(s0, s1, 2, 6, 3, 7));
  v128_t b = wasm_i32x4_add(wasm_i32x4_shuffle(s2, s3, 0, 4, 1, 5), wasm_i32x4_shuffle(s2, s3, 2, 6, 3, 7));
  return wasm_i32x4_add(wasm_i32x4_shuffle(a, b, 0, 1, 4, 5), wasm_i32x4_shuffle(a, b, 2, 3, 6, 7));
}

// a8 (a compile-time constant in every caller): the activations are 8-bit (quantize_q8a with
// bits 8), whose ql are all zero, so only the qh half of each dot product is taken.
// When a8 the row sums are w . qh alone (ql is 0), and the four rows' reduced sums take their
// factor 128 at once here; otherwise each row's sum is already acc14_total's 128 hi + lo.
ALWAYS_INLINE v128_t finish14(v128_t sums, int a8) { return a8 ? wasm_i32x4_shl(sums, 7) : sums; }

// Four rows of nibbles unpacked once, then dotted with one activation block per token.
ALWAYS_INLINE v128_t nib_isum4(const v128_t lo[4], const v128_t hi[4], const block_q8a *x, int a8) {
  v128_t h0 = wasm_v128_load(x->qh), h1 = wasm_v128_load(x->qh + 16);
  v128_t l0 = a8 ? h0 : wasm_v128_load(x->ql), l1 = a8 ? h1 : wasm_v128_load(x->ql + 16), s[4];
  for (int r = 0; r < 4; r++) {
    v128_t hi_sum = dot_u7_i8(dot_u7_i8(wasm_i32x4_splat(0), lo[r], h0), hi[r], h1);
    s[r] = a8 ? hi_sum : acc14_total((acc14){hi_sum, dot_u7_i8(dot_u7_i8(wasm_i32x4_splat(0), lo[r], l0), hi[r], l1)});
  }
  return finish14(reduce4(s[0], s[1], s[2], s[3]), a8);
}

ALWAYS_INLINE void unpack_nibbles4(const uint8_t qs[4][QK / 2], v128_t lo[4], v128_t hi[4]) {
  for (int r = 0; r < 4; r++) {
    v128_t q = wasm_v128_load(qs[r]);
    lo[r] = wasm_v128_and(q, wasm_i8x16_splat(0x0F));
    hi[r] = wasm_u8x16_shr(q, 4);
  }
}

// The bits of each byte of a bit plane that start at bit `first`, moved to start at bit 4 (a
// weight's high bits in place) and kept by `mask`: q5x4's fifth bits (one bit, 0x10), q6x4's top
// two (0x30). A 16-bit lane shift is enough: bits it carries across a byte land outside the mask.
ALWAYS_INLINE v128_t plane_bits(v128_t plane, int first, int mask) {
  v128_t at4 = first < 4 ? wasm_i16x8_shl(plane, 4 - first) : first > 4 ? wasm_u16x8_shr(plane, first - 4) : plane;
  return wasm_v128_and(at4, wasm_i8x16_splat(mask));
}

// Block i of an x4 tensor of the 4- and 5-bit kinds: four rows' weights 0..15 (lo) and 16..31
// (hi) as 0..31, and each row's scale and min (Q4_0's min is -8 scale).
ALWAYS_INLINE void unpack_affine(int kind, const void *w, int i, v128_t lo[4], v128_t hi[4], v128_t *d, v128_t *m) {
  if (kind == X4_Q4_0) {
    const block_q4_0x4 *b = (const block_q4_0x4 *)w + i;
    unpack_nibbles4(b->qs, lo, hi);
    *d = wasm_v128_load(b->d);
    *m = wasm_f32x4_mul(*d, wasm_f32x4_splat(-8.0f));
  } else if (kind == X4_Q4_1) {
    const block_q4_1x4 *b = (const block_q4_1x4 *)w + i;
    unpack_nibbles4(b->qs, lo, hi);
    *d = wasm_v128_load(b->d), *m = wasm_v128_load(b->m);
  } else {
    const block_q5x4 *b = (const block_q5x4 *)w + i;
    unpack_nibbles4(b->qs, lo, hi);
    v128_t plane = wasm_v128_load(b->qh);
    lo[0] = wasm_v128_or(lo[0], plane_bits(plane, 0, 0x10)), hi[0] = wasm_v128_or(hi[0], plane_bits(plane, 1, 0x10));
    lo[1] = wasm_v128_or(lo[1], plane_bits(plane, 2, 0x10)), hi[1] = wasm_v128_or(hi[1], plane_bits(plane, 3, 0x10));
    lo[2] = wasm_v128_or(lo[2], plane_bits(plane, 4, 0x10)), hi[2] = wasm_v128_or(hi[2], plane_bits(plane, 5, 0x10));
    lo[3] = wasm_v128_or(lo[3], plane_bits(plane, 6, 0x10)), hi[3] = wasm_v128_or(hi[3], plane_bits(plane, 7, 0x10));
    *d = wasm_v128_load(b->d), *m = wasm_v128_load(b->m);
  }
}

// acc[t] += (4 rows . token t's block): isum * d * x.d + m * x.ds, for n_tok tokens nb blocks apart.
ALWAYS_INLINE void affine_tokens(v128_t *acc, const v128_t lo[4], const v128_t hi[4], v128_t d, v128_t m,
                                 const block_q8a *x, int nb, int n_tok, int a8) {
  for (int t = 0; t < n_tok; t++) {
    const block_q8a *xt = &x[(size_t)t * nb];
    v128_t s = wasm_f32x4_convert_i32x4(nib_isum4(lo, hi, xt, a8));
    acc[t] = wasm_f32x4_add(acc[t], wasm_f32x4_add(wasm_f32x4_mul(s, wasm_f32x4_mul(d, wasm_v128_load32_splat(&xt->d))),
                                                   wasm_f32x4_mul(m, wasm_v128_load32_splat(&xt->ds))));
  }
}

// y[t] = the 4 rows . token t, for n_tok (1 or 2) tokens whose blocks are nb apart; nb blocks each.
// The scaled sums and the min terms keep separate accumulators: two independent chains.
ALWAYS_INLINE void dot4_affine(int kind, const void *w, const block_q8a *x, int nb, int n_tok, int a8, v128_t *y) {
  v128_t acc[2] = {wasm_f32x4_splat(0.0f), wasm_f32x4_splat(0.0f)}, off[2] = {acc[0], acc[0]};
  for (int i = 0; i < nb; i++) {
    v128_t lo[4], hi[4], d, m;
    unpack_affine(kind, w, i, lo, hi, &d, &m);
    for (int t = 0; t < n_tok; t++) {
      const block_q8a *xt = &x[i + t * nb];
      v128_t s = nib_isum4(lo, hi, xt, a8);
      acc[t] = wasm_f32x4_add(acc[t], wasm_f32x4_mul(wasm_f32x4_convert_i32x4(s), wasm_f32x4_mul(d, wasm_v128_load32_splat(&xt->d))));
      off[t] = wasm_f32x4_add(off[t], wasm_f32x4_mul(m, wasm_v128_load32_splat(&xt->ds)));
    }
  }
  for (int t = 0; t < n_tok; t++) y[t] = wasm_f32x4_add(acc[t], off[t]);
}

// Four rows of signed bytes (weights 0..15 in w0, 16..31 in w1) dotted with one activation block.
// The activations' low halves (ql, 0..127) are the 7-bit operand of their dot products, the
// weights the signed one: only the high halves (qh, signed) need signed_dot's sign transfer.
ALWAYS_INLINE v128_t signed_isum4(const v128_t w0[4], const v128_t w1[4], const block_q8a *x, int a8) {
  v128_t h0 = wasm_v128_load(x->qh), h1 = wasm_v128_load(x->qh + 16);
  v128_t l0 = a8 ? h0 : wasm_v128_load(x->ql), l1 = a8 ? h1 : wasm_v128_load(x->ql + 16), s[4];
  for (int r = 0; r < 4; r++) {
    v128_t hi_sum = signed_dot(signed_dot(wasm_i32x4_splat(0), w0[r], h0), w1[r], h1);
    s[r] = a8 ? hi_sum : acc14_total((acc14){hi_sum, dot_u7_i8(dot_u7_i8(wasm_i32x4_splat(0), l0, w0[r]), l1, w1[r])});
  }
  return finish14(reduce4(s[0], s[1], s[2], s[3]), a8);
}

ALWAYS_INLINE void dot4_q8_0(const block_q8_0x4 *w, const block_q8a *x, int nb, int n_tok, int a8, v128_t *y) {
  v128_t acc[2] = {wasm_f32x4_splat(0.0f), wasm_f32x4_splat(0.0f)};
  for (int i = 0; i < nb; i++) {
    v128_t d = wasm_v128_load(w[i].d), w0[4], w1[4];
    for (int r = 0; r < 4; r++) w0[r] = wasm_v128_load(w[i].qs[r]), w1[r] = wasm_v128_load(w[i].qs[r] + 16);
    for (int t = 0; t < n_tok; t++) {
      const block_q8a *xt = &x[i + t * nb];
      v128_t dd = wasm_f32x4_mul(d, wasm_v128_load32_splat(&xt->d));
      acc[t] = wasm_f32x4_add(acc[t], wasm_f32x4_mul(wasm_f32x4_convert_i32x4(signed_isum4(w0, w1, xt, a8)), dd));
    }
  }
  for (int t = 0; t < n_tok; t++) y[t] = acc[t];
}

// Weights 0..15 (a) and 16..31 (b) of each of four rows: low nibbles and two high bits.
ALWAYS_INLINE void unpack_q6x4(const block_q6x4 *w, v128_t a[4], v128_t b[4]) {
  v128_t plane[2] = {wasm_v128_load(w->qh[0]), wasm_v128_load(w->qh[1])};
  for (int r = 0; r < 4; r++) {
    v128_t q = wasm_v128_load(w->qs[r]);
    a[r] = wasm_v128_or(wasm_v128_and(q, wasm_i8x16_splat(0x0F)), plane_bits(plane[r / 2], 4 * (r % 2), 0x30));
    b[r] = wasm_v128_or(wasm_u8x16_shr(q, 4), plane_bits(plane[r / 2], 4 * (r % 2) + 2, 0x30));
  }
}

// The 14-bit dot of 16 weights of each of 4 rows with activation lanes at..at+15: [row sums].
ALWAYS_INLINE v128_t half_isum4(const v128_t w[4], const block_q8a *x, int at, int a8) {
  v128_t xh = wasm_v128_load(x->qh + at), xl = a8 ? xh : wasm_v128_load(x->ql + at), s[4];
  for (int r = 0; r < 4; r++) {
    v128_t hi_sum = dot_u7_i8(wasm_i32x4_splat(0), w[r], xh);
    s[r] = a8 ? hi_sum : acc14_total((acc14){hi_sum, dot_u7_i8(wasm_i32x4_splat(0), w[r], xl)});
  }
  return finish14(reduce4(s[0], s[1], s[2], s[3]), a8);
}

ALWAYS_INLINE void dot4_q6(const block_q6x4 *w, const block_q8a *x, int nb, int n_tok, int a8, v128_t *y) {
  v128_t acc[2] = {wasm_f32x4_splat(0.0f), wasm_f32x4_splat(0.0f)};
  for (int i = 0; i < nb; i++) {
    v128_t a[4], b[4];
    unpack_q6x4(&w[i], a, b);
    v128_t da = wasm_v128_load(w[i].d[0]), db = wasm_v128_load(w[i].d[1]);
    v128_t ma = wasm_v128_load(w[i].m[0]), mb = wasm_v128_load(w[i].m[1]);
    for (int t = 0; t < n_tok; t++) {
      const block_q8a *xt = &x[i + t * nb];
      v128_t xd = wasm_v128_load32_splat(&xt->d);
      v128_t sa = wasm_f32x4_convert_i32x4(half_isum4(a, xt, 0, a8)), sb = wasm_f32x4_convert_i32x4(half_isum4(b, xt, 16, a8));
      // sum over a half of (d q + m) x = d (q . x) + m sum(x), with sum(x) = x.d * sum[half].
      v128_t y0 = wasm_f32x4_add(wasm_f32x4_mul(da, sa), wasm_f32x4_mul(ma, wasm_f32x4_splat((float)xt->sum[0])));
      v128_t y1 = wasm_f32x4_add(wasm_f32x4_mul(db, sb), wasm_f32x4_mul(mb, wasm_f32x4_splat((float)xt->sum[1])));
      acc[t] = wasm_f32x4_add(acc[t], wasm_f32x4_mul(wasm_f32x4_add(y0, y1), xd));
    }
  }
  for (int t = 0; t < n_tok; t++) y[t] = acc[t];
}

ALWAYS_INLINE void dot4_kind(int kind, const void *w, const block_q8a *x, int nb, int n_tok, int a8, v128_t *y) {
  switch (kind) {
    case X4_Q4_0: if (n_tok == 2) dot4_affine(X4_Q4_0, w, x, nb, 2, a8, y); else dot4_affine(X4_Q4_0, w, x, nb, 1, a8, y); return;
    case X4_Q4_1: if (n_tok == 2) dot4_affine(X4_Q4_1, w, x, nb, 2, a8, y); else dot4_affine(X4_Q4_1, w, x, nb, 1, a8, y); return;
    case X4_Q5: if (n_tok == 2) dot4_affine(X4_Q5, w, x, nb, 2, a8, y); else dot4_affine(X4_Q5, w, x, nb, 1, a8, y); return;
    case X4_Q6: if (n_tok == 2) dot4_q6(w, x, nb, 2, a8, y); else dot4_q6(w, x, nb, 1, a8, y); return;
    default: if (n_tok == 2) dot4_q8_0(w, x, nb, 2, a8, y); else dot4_q8_0(w, x, nb, 1, a8, y); return;
  }
}

static void dot4(int type, const void *w, const block_q8a *x, int nb, int n_tok, int a8, v128_t *y) {
  if (a8) dot4_kind(x4_kind(type), w, x, nb, n_tok, 1, y);
  else dot4_kind(x4_kind(type), w, x, nb, n_tok, 0, y);
}

int x4_supported(int type) { return x4_kind(type) != X4_NONE; }

// Bytes of a rows x cols tensor of type in the x4 layout; 0 when it cannot be repacked.
EXPORT(x4_bytes) int x4_bytes(int type, int rows, int cols) {
  if (!x4_supported(type) || rows % 4 || cols % type_block_elems(type)) return 0;
  return rows / 4 * (cols / QK) * x4_block_bytes(type);
}

// Row `row` (of cols elements) of an x4 tensor dequantized to y: the token lookup of a tied embedding,
// whose one copy is the LM head's x4 layout. Each weight is d * q + m, as the mat-vec kernels read it.
EXPORT(dequantize_x4_row) int dequantize_x4_row(int type, const void *W, int row, int cols, float *y) {
  if (!x4_supported(type) || cols % QK) return -1;
  int nb = cols / QK, r = row % 4, kind = x4_kind(type);
  const uint8_t *g = (const uint8_t *)W + (size_t)(row / 4) * nb * x4_block_bytes(type);
  for (int j = 0; j < nb; j++, y += QK) {
    const void *blk = g + (size_t)j * x4_block_bytes(type);
    if (kind == X4_Q8_0) {
      const block_q8_0x4 *b = blk;
      for (int i = 0; i < QK; i++) y[i] = b->d[r] * (float)b->qs[r][i];
    } else if (kind == X4_Q6) {
      const block_q6x4 *b = blk;
      for (int i = 0; i < QK; i++) {
        int h = i / 16, q = (i < 16 ? b->qs[r][i] & 0xF : b->qs[r][i - 16] >> 4) | ((b->qh[r / 2][i % 16] >> (2 * (2 * (r % 2) + h))) & 3) << 4;
        y[i] = b->d[h][r] * (float)q + b->m[h][r];
      }
    } else {
      const block_q4_1x4 *b4 = blk;
      const block_q5x4 *b5 = blk;
      const block_q4_0x4 *b0 = blk;
      const uint8_t *qs = kind == X4_Q4_0 ? b0->qs[r] : kind == X4_Q4_1 ? b4->qs[r] : b5->qs[r];
      float d = kind == X4_Q4_0 ? b0->d[r] : kind == X4_Q4_1 ? b4->d[r] : b5->d[r];
      float m = kind == X4_Q4_0 ? -8.0f * d : kind == X4_Q4_1 ? b4->m[r] : b5->m[r];
      for (int i = 0; i < QK; i++) {
        int fifth = kind == X4_Q5 ? (b5->qh[i % 16] >> (2 * r + i / 16)) & 1 : 0;
        int q = (i < 16 ? qs[i] & 0xF : qs[i - 16] >> 4) | fifth << 4;
        y[i] = d * (float)q + m;
      }
    }
  }
  return 0;
}

// Weights 32j..32j+31 of one row of a quantized type as unsigned q[i] with x[i] = d[h] q[i] + m[h],
// h = i / 16 the half (the same scale and min for both halves except for Q6_K, Q3_K and Q2_K).
// row: the row's bytes.
static void chunk_ints(int type, const uint8_t *row, int j, uint8_t q[QK], float d[2], float m[2]) {
  if (type == GGML_Q5_0 || type == GGML_Q5_1) {
    const uint8_t *b = row + (size_t)j * type_block_bytes(type);
    float dd = f16_to_f32(*(const f16_t *)b);
    float mm = type == GGML_Q5_1 ? f16_to_f32(*(const f16_t *)(b + 2)) : -16.0f * dd;
    const uint8_t *qh = b + (type == GGML_Q5_1 ? 4 : 2), *qs = qh + 4;
    uint32_t h = qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 | (uint32_t)qh[3] << 24;
    for (int i = 0; i < 16; i++) {
      q[i] = (qs[i] & 0xF) | ((h >> i) & 1) << 4;
      q[i + 16] = (qs[i] >> 4) | ((h >> (i + 16)) & 1) << 4;
    }
    d[0] = d[1] = dd, m[0] = m[1] = mm;
    return;
  }
  int sb = j / 8, c = j % 8;  // K-quants: super-block, and 32-element chunk within it
  if (type == GGML_Q4_K || type == GGML_Q5_K) {
    const uint8_t *b = row + (size_t)sb * type_block_bytes(type);
    float dd = f16_to_f32(*(const f16_t *)b), dmin = f16_to_f32(*(const f16_t *)(b + 2));
    uint8_t sc[8], mn[8];
    q4k_scales(b + 4, sc, mn);
    const uint8_t *qh = b + 16, *qs = type == GGML_Q5_K ? b + 48 : b + 16;
    for (int l = 0; l < 32; l++) {
      int v = (qs[32 * (c / 2) + l] >> (4 * (c % 2))) & 0xF;
      q[l] = (uint8_t)(type == GGML_Q5_K ? v | ((qh[l] >> c) & 1) << 4 : v);
    }
    d[0] = d[1] = dd * sc[c], m[0] = m[1] = -dmin * mn[c];
    return;
  }
  if (type == GGML_Q6_K) {
    const block_q6_K *b = (const block_q6_K *)(row + (size_t)sb * sizeof(block_q6_K));
    int n = c / 4, k = c % 4;
    const uint8_t *ql = b->ql + 64 * n + (k % 2) * 32, *qh = b->qh + 32 * n;
    float dd = f16_to_f32(b->d);
    for (int l = 0; l < 32; l++) q[l] = (uint8_t)(((ql[l] >> (4 * (k / 2))) & 0xF) | ((qh[l] >> (2 * k)) & 3) << 4);
    for (int h = 0; h < 2; h++) d[h] = dd * b->scales[8 * n + 2 * k + h], m[h] = -32.0f * d[h];
    return;
  }
  if (type == GGML_Q3_K) {
    const block_q3_K *b = (const block_q3_K *)(row + (size_t)sb * sizeof(block_q3_K));
    int n = c / 4, k = c % 4;
    int8_t sc[16];
    q3k_scales(b->scales, sc);
    float dd = f16_to_f32(b->d);
    for (int l = 0; l < 32; l++) q[l] = (uint8_t)(((b->qs[32 * n + l] >> (2 * k)) & 3) | ((b->hmask[l] >> (4 * n + k)) & 1) << 2);
    for (int h = 0; h < 2; h++) d[h] = dd * sc[8 * n + 2 * k + h], m[h] = -4.0f * d[h];
    return;
  }
  // Q2_K
  const block_q2_K *b = (const block_q2_K *)(row + (size_t)sb * sizeof(block_q2_K));
  int n = c / 4, k = c % 4;
  float dd = f16_to_f32(b->d), dmin = f16_to_f32(b->dmin);
  for (int l = 0; l < 32; l++) q[l] = (uint8_t)((b->qs[32 * n + l] >> (2 * k)) & 3);
  for (int h = 0; h < 2; h++) {
    uint8_t s = b->scales[8 * n + 2 * k + h];
    d[h] = dd * (s & 0xF), m[h] = -dmin * (s >> 4);
  }
}

// Rewrite rows (a multiple of 4) of a Q4_0/Q4_1/Q8_0 tensor from src into the x4 layout at dst,
// which holds x4_bytes(type, rows, cols).
EXPORT(repack_x4) int repack_x4(int type, const void *src, void *dst, int rows, int cols) {
  if (!x4_bytes(type, rows, cols)) return -1;
  int nb = cols / QK, bb = type_block_bytes(type);
  size_t row_bytes = (size_t)cols / type_block_elems(type) * bb;
  const uint8_t *s = src;
  uint8_t *d = dst;
  for (int g = 0; g < rows / 4; g++) {
    for (int j = 0; j < nb; j++) {
      if (type != GGML_Q4_0 && type != GGML_Q4_1 && type != GGML_Q8_0) {
        uint8_t q[QK];
        float dd[2], mm[2];
        int kind = x4_kind(type);
        block_q4_1x4 *o4 = (block_q4_1x4 *)d;
        block_q5x4 *o5 = (block_q5x4 *)d;
        block_q6x4 *o6 = (block_q6x4 *)d;
        for (int r = 0; r < 4; r++) {
          chunk_ints(type, s + (size_t)(4 * g + r) * row_bytes, j, q, dd, mm);
          if (kind == X4_Q4_1) {
            o4->d[r] = dd[0], o4->m[r] = mm[0];
            for (int i = 0; i < 16; i++) o4->qs[r][i] = (uint8_t)(q[i] | q[i + 16] << 4);
          } else if (kind == X4_Q5) {
            o5->d[r] = dd[0], o5->m[r] = mm[0];
            if (r == 0) for (int i = 0; i < 16; i++) o5->qh[i] = 0;
            for (int i = 0; i < 32; i++) o5->qh[i % 16] |= (uint8_t)((q[i] >> 4) << (2 * r + i / 16));
            for (int i = 0; i < 16; i++) o5->qs[r][i] = (uint8_t)((q[i] & 0xF) | (q[i + 16] & 0xF) << 4);
          } else {
            for (int h = 0; h < 2; h++) o6->d[h][r] = dd[h], o6->m[h][r] = mm[h];
            for (int i = 0; i < 16; i++) o6->qs[r][i] = (uint8_t)((q[i] & 0xF) | (q[i + 16] & 0xF) << 4);
            if (r % 2 == 0) for (int i = 0; i < 16; i++) o6->qh[r / 2][i] = 0;
            for (int i = 0; i < 32; i++) o6->qh[r / 2][i % 16] |= (uint8_t)((q[i] >> 4) << (2 * (2 * (r % 2) + i / 16)));
          }
        }
        d += x4_block_bytes(type);
        continue;
      }
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
// Batches (prefill): each 4-row block is loaded (and unpacked) once and fed every token's
// activation block in turn; the tokens' sums wait in acc (one f32x4 of four rows per token, in L1).
// Measured in the page against native llama.cpp in the same run (SmolLM2, 48-token prompts, 2
// threads; the machine is shared, so only same-run ratios count): prefill Q4_K_M 0.49x batched
// against 0.30x in token pairs, Q5_K_M 0.66x against 0.32x; Q4_1 0.87x batched against 0.92x and
// 1.18x in pairs over two runs (inconclusive).
#define BATCH 64

ALWAYS_INLINE void batch4_begin(v128_t *acc, int n_tok) {
  for (int t = 0; t < n_tok; t++) acc[t] = wasm_f32x4_splat(0.0f);
}

ALWAYS_INLINE void batch4_of(int type, const void *w, const block_q8a *x, int nb, int n_tok, int a8, v128_t *acc) {
  batch4_begin(acc, n_tok);
  int kind = x4_kind(type);
  for (int i = 0; i < nb; i++) {
    const block_q8a *xi = x + i;
    if (kind == X4_Q4_0 || kind == X4_Q4_1 || kind == X4_Q5) {
      v128_t lo[4], hi[4], d, m;
      unpack_affine(kind, w, i, lo, hi, &d, &m);
      affine_tokens(acc, lo, hi, d, m, xi, nb, n_tok, a8);
    } else if (kind == X4_Q6) {
      const block_q6x4 *b = (const block_q6x4 *)w + i;
      v128_t wa[4], wb[4];
      unpack_q6x4(b, wa, wb);
      v128_t da = wasm_v128_load(b->d[0]), db = wasm_v128_load(b->d[1]);
      v128_t ma = wasm_v128_load(b->m[0]), mb = wasm_v128_load(b->m[1]);
      for (int t = 0; t < n_tok; t++) {
        const block_q8a *xt = &xi[(size_t)t * nb];
        v128_t sa = wasm_f32x4_convert_i32x4(half_isum4(wa, xt, 0, a8)), sb = wasm_f32x4_convert_i32x4(half_isum4(wb, xt, 16, a8));
        v128_t y0 = wasm_f32x4_add(wasm_f32x4_mul(da, sa), wasm_f32x4_mul(ma, wasm_f32x4_splat((float)xt->sum[0])));
        v128_t y1 = wasm_f32x4_add(wasm_f32x4_mul(db, sb), wasm_f32x4_mul(mb, wasm_f32x4_splat((float)xt->sum[1])));
        acc[t] = wasm_f32x4_add(acc[t], wasm_f32x4_mul(wasm_f32x4_add(y0, y1), wasm_v128_load32_splat(&xt->d)));
      }
    } else {
      const block_q8_0x4 *b = (const block_q8_0x4 *)w + i;
      v128_t w0[4], w1[4];
      for (int r = 0; r < 4; r++) w0[r] = wasm_v128_load(b->qs[r]), w1[r] = wasm_v128_load(b->qs[r] + 16);
      v128_t d = wasm_v128_load(b->d);
      for (int t = 0; t < n_tok; t++) {
        const block_q8a *xt = &xi[(size_t)t * nb];
        v128_t s = wasm_f32x4_convert_i32x4(signed_isum4(w0, w1, xt, a8));
        acc[t] = wasm_f32x4_add(acc[t], wasm_f32x4_mul(s, wasm_f32x4_mul(d, wasm_v128_load32_splat(&xt->d))));
      }
    }
  }
}

static void batch4(int type, const void *w, const block_q8a *x, int nb, int n_tok, int a8, v128_t *acc) {
  if (a8) batch4_of(type, w, x, nb, n_tok, 1, acc);
  else batch4_of(type, w, x, nb, n_tok, 0, acc);
}

// act_bits: the bits quantize_q8a gave xq (8 or 14).
void matmul_x4(int type, const void *W, const block_q8a *xq, float *out, int n_cols, int row_begin, int row_end,
               int n_tokens, int out_stride, int act_bits) {
  int a8 = act_bits == 8;
  int nb = n_cols / QK;
  size_t group_bytes = (size_t)nb * x4_block_bytes(type);
  if (n_tokens > 2) {
    v128_t acc[BATCH];
    for (int r = row_begin; r < row_end; r += 4) {
      const void *w = (const uint8_t *)W + (size_t)(r / 4) * group_bytes;
      for (int t0 = 0; t0 < n_tokens; t0 += BATCH) {
        int n_tok = n_tokens - t0 < BATCH ? n_tokens - t0 : BATCH;
        batch4(type, w, xq + (size_t)t0 * nb, nb, n_tok, a8, acc);
        for (int t = 0; t < n_tok; t++) wasm_v128_store(out + (size_t)(t0 + t) * out_stride + r, acc[t]);
      }
    }
    return;
  }
  for (int r = row_begin; r < row_end; r += 4) {
    const void *w = (const uint8_t *)W + (size_t)(r / 4) * group_bytes;
    for (int t = 0; t < n_tokens; t += 2) {
      int n_tok = n_tokens - t >= 2 ? 2 : 1;
      v128_t y[2];
      dot4(type, w, xq + (size_t)t * nb, nb, n_tok, a8, y);
      for (int k = 0; k < n_tok; k++) wasm_v128_store(out + (size_t)(t + k) * out_stride + r, y[k]);
    }
  }
}
