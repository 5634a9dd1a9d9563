// GGUF block layouts (as ggml stores them) and the activation block our dot products use.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <wasm_simd128.h>

#define EXPORT(name) __attribute__((export_name(#name)))
// For helpers taking a compile-time flag (a8, f16): each caller's constant folds in.
#define ALWAYS_INLINE __attribute__((always_inline)) static inline

typedef uint16_t f16_t;

// ggml type ids, as in the GGUF tensor info.
enum {
  GGML_F32 = 0, GGML_F16 = 1, GGML_Q4_0 = 2, GGML_Q4_1 = 3, GGML_Q5_0 = 6, GGML_Q5_1 = 7,
  GGML_Q8_0 = 8, GGML_Q2_K = 10, GGML_Q3_K = 11, GGML_Q4_K = 12, GGML_Q5_K = 13, GGML_Q6_K = 14,
};

// A weight's layout in memory, matmul's `layout` argument: GGUF rows, or repacked four rows at a
// time (matvec_x4.c). The same values are LAYOUT in webgpu/backends/wasm/jobs.js.
enum { LAYOUT_ROWS = 0, LAYOUT_X4 = 1 };
#define QK 32     // elements per block of the 32-element types, and per activation block
#define QK_K 256  // elements per K-quant super-block

typedef struct { f16_t d; uint8_t qs[QK / 2]; } block_q4_0;
typedef struct { f16_t d, m; uint8_t qs[QK / 2]; } block_q4_1;
typedef struct { f16_t d; uint8_t qh[4]; uint8_t qs[QK / 2]; } block_q5_0;
typedef struct { f16_t d, m; uint8_t qh[4]; uint8_t qs[QK / 2]; } block_q5_1;
typedef struct { f16_t d; int8_t qs[QK]; } block_q8_0;
// Q2_K: 16 groups of 16, each a 4-bit scale (low nibble) and 4-bit min (high nibble); 2-bit q.
typedef struct { uint8_t scales[QK_K / 16]; uint8_t qs[QK_K / 4]; f16_t d, dmin; } block_q2_K;
// Q3_K: 2-bit low parts in qs, the third bit in hmask, 16 signed 6-bit scales (offset 32) in 12 bytes.
typedef struct { uint8_t hmask[QK_K / 8]; uint8_t qs[QK_K / 4]; uint8_t scales[12]; f16_t d; } block_q3_K;
typedef struct { f16_t d, dmin; uint8_t scales[12]; uint8_t qs[QK_K / 2]; } block_q4_K;
typedef struct { f16_t d, dmin; uint8_t scales[12]; uint8_t qh[QK_K / 8]; uint8_t qs[QK_K / 2]; } block_q5_K;
typedef struct { uint8_t ql[QK_K / 2]; uint8_t qh[QK_K / 4]; int8_t scales[QK_K / 16]; f16_t d; } block_q6_K;

// Activations, quantized per 32 values to 14 bits: x[i] ~ d * (128 * qh[i] + ql[i]), qh in
// [-127, 127], ql in [0, 127], so both halves are valid operands of the i8 x i7 dot product.
// 8-bit activations measured 4-12% relative logit error on SmolLM2 (outlier channels); 14 bits
// bring it under 1%. In perplexity 8 bits cost 0.04-0.26% (README, Speed), so they are offered:
// quantize_q8a with bits 8 leaves ql 0 and the x4 kernels skip it. ds = d * sum(q); sum[h] = sum of q over half h (Q6_K scales halves apart).
typedef struct { float d; float ds; int32_t sum[2]; int8_t qh[QK]; int8_t ql[QK]; } block_q8a;
#define QA_MAX 16256  // 127 * 128: the largest |q|

_Static_assert(sizeof(block_q4_0) == 18, "q4_0");
_Static_assert(sizeof(block_q4_1) == 20, "q4_1");
_Static_assert(sizeof(block_q5_0) == 22, "q5_0");
_Static_assert(sizeof(block_q5_1) == 24, "q5_1");
_Static_assert(sizeof(block_q8_0) == 34, "q8_0");
_Static_assert(sizeof(block_q2_K) == 84, "q2_K");
_Static_assert(sizeof(block_q3_K) == 110, "q3_K");
_Static_assert(sizeof(block_q4_K) == 144, "q4_K");
_Static_assert(sizeof(block_q5_K) == 176, "q5_K");
_Static_assert(sizeof(block_q6_K) == 210, "q6_K");
_Static_assert(sizeof(block_q8a) == 80, "q8a");

static inline float f16_to_f32(f16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  union { uint32_t u; float f; } v;
  if (exp == 0) {
    v.f = (float)mant * (1.0f / 16777216.0f);  // subnormal: mant * 2^-24
    v.u |= sign;
    return v.f;
  }
  v.u = sign | (exp == 31 ? 0x7f800000u | (mant << 13) : ((exp + 112) << 23) | (mant << 13));
  return v.f;
}

// An f32 rounded to the nearest f16 (ties to even); beyond the f16 range it saturates at +-65504,
// so an f16 KV cache never holds an infinity. NaN stays NaN.
static inline f16_t f32_to_f16(float f) {
  union { float f; uint32_t u; } v = {f};
  uint32_t sign = (v.u >> 16) & 0x8000, a = v.u & 0x7fffffff;
  if (a > 0x7f800000) return (f16_t)(sign | 0x7e00);
  if (a >= 0x477ff000) return (f16_t)(sign | 0x7bff);  // rounds to 65520 or more
  if (a < 0x38800000) {  // below 2^-14: a subnormal half, m * 2^-24, rounded by the float adder
    union { float f; uint32_t u; } s = {.u = a};
    s.f += 0.5f;  // 0.5 = 2^23 * 2^-24: the sum's low mantissa bits are m
    return (f16_t)(sign | (s.u - 0x3f000000));
  }
  uint32_t odd = (a >> 13) & 1;
  return (f16_t)(sign | ((a + 0xc8000fff + odd) >> 13));  // rebias 127 -> 15, round to nearest even
}

// 4 halves (in the low 16 bits of each lane) to 4 floats, exact for every finite half (subnormals included).
static inline v128_t f16x4_to_f32x4(v128_t h32) {
  v128_t sign = wasm_i32x4_shl(wasm_v128_and(h32, wasm_i32x4_splat(0x8000)), 16);
  v128_t mag = wasm_i32x4_shl(wasm_v128_and(h32, wasm_i32x4_splat(0x7fff)), 13);
  v128_t f = wasm_f32x4_mul(mag, wasm_f32x4_splat(0x1p112f));
  return wasm_v128_or(f, sign);
}

// Dot of 16 weights w (each 0..127) with 16 int8 activations x, added into acc lanes.
static inline v128_t dot_u7_i8(v128_t acc, v128_t w, v128_t x) {
#ifdef RELAXED_SIMD
  return __builtin_wasm_relaxed_dot_i8x16_i7x16_add_s_i32x4(x, w, acc);
#else
  acc = wasm_i32x4_add(acc, wasm_i32x4_dot_i16x8(wasm_u16x8_extend_low_u8x16(w), wasm_i16x8_extend_low_i8x16(x)));
  return wasm_i32x4_add(acc, wasm_i32x4_dot_i16x8(wasm_u16x8_extend_high_u8x16(w), wasm_i16x8_extend_high_i8x16(x)));
#endif
}

// Dot of 16 signed int8 weights with 16 int8 activations (no relaxed form: both are full-range).
static inline v128_t dot_i8_i8(v128_t acc, v128_t w, v128_t x) {
  acc = wasm_i32x4_add(acc, wasm_i32x4_dot_i16x8(wasm_i16x8_extend_low_i8x16(w), wasm_i16x8_extend_low_i8x16(x)));
  return wasm_i32x4_add(acc, wasm_i32x4_dot_i16x8(wasm_i16x8_extend_high_i8x16(w), wasm_i16x8_extend_high_i8x16(x)));
}

// Signed weights w with activations x, both in [-127, 127]: |w| . (x * sign(w)) fits the i7 form.
static inline v128_t signed_dot(v128_t acc, v128_t w, v128_t x) {
#ifdef RELAXED_SIMD
  v128_t xs = wasm_v128_bitselect(wasm_i8x16_neg(x), x, wasm_i8x16_lt(w, wasm_i8x16_splat(0)));
  return dot_u7_i8(acc, wasm_i8x16_abs(w), xs);
#else
  return dot_i8_i8(acc, w, x);
#endif
}

// 16 lanes holding bit (first + i) of qh, i = 0..15, as 0 or 0x10.
static inline v128_t qh_bits16(uint32_t qh, int first) {
  uint32_t bits = qh >> first;
  v128_t b = wasm_i8x16_swizzle(wasm_u32x4_splat(bits), wasm_i8x16_const(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1));
  v128_t m = wasm_v128_and(b, wasm_i8x16_const(1, 2, 4, 8, 16, 32, 64, -128, 1, 2, 4, 8, 16, 32, 64, -128));
  return wasm_v128_and(wasm_i8x16_ne(m, wasm_i8x16_splat(0)), wasm_i8x16_splat(0x10));
}

// Two accumulators of one 14-bit dot product: hi sums w * qh, lo sums w * ql.
typedef struct { v128_t hi, lo; } acc14;

static inline acc14 acc14_zero(void) { return (acc14){wasm_i32x4_splat(0), wasm_i32x4_splat(0)}; }

// Add 16 weights (0..127) dotted with activations x->qh/ql at element offset `at` (0 or 16).
static inline acc14 dot14_u7(acc14 a, v128_t w, const block_q8a *x, int at) {
  a.hi = dot_u7_i8(a.hi, w, wasm_v128_load(x->qh + at));
  a.lo = dot_u7_i8(a.lo, w, wasm_v128_load(x->ql + at));
  return a;
}

// The integer dot product itself: 128 * hi + lo, per lane.
static inline v128_t acc14_total(acc14 a) { return wasm_i32x4_add(wasm_i32x4_shl(a.hi, 7), a.lo); }

#ifdef RELAXED_SIMD
#define MADD(a, b, c) wasm_f32x4_relaxed_madd((a), (b), (c))  // a * b + c, fused where the CPU can
#else
#define MADD(a, b, c) wasm_f32x4_add(wasm_f32x4_mul((a), (b)), (c))
#endif

static inline int32_t hsum_i32x4(v128_t v) {
  return wasm_i32x4_extract_lane(v, 0) + wasm_i32x4_extract_lane(v, 1) + wasm_i32x4_extract_lane(v, 2) +
         wasm_i32x4_extract_lane(v, 3);
}

static inline float hsum_f32x4(v128_t v) {
  return wasm_f32x4_extract_lane(v, 0) + wasm_f32x4_extract_lane(v, 1) + wasm_f32x4_extract_lane(v, 2) +
         wasm_f32x4_extract_lane(v, 3);
}

// Bytes per block and elements per block of a ggml type; 0 for types we do not run.
static inline int type_block_bytes(int type) {
  switch (type) {
    case GGML_F32: return 4;
    case GGML_F16: return 2;
    case GGML_Q4_0: return sizeof(block_q4_0);
    case GGML_Q4_1: return sizeof(block_q4_1);
    case GGML_Q5_0: return sizeof(block_q5_0);
    case GGML_Q5_1: return sizeof(block_q5_1);
    case GGML_Q8_0: return sizeof(block_q8_0);
    case GGML_Q2_K: return sizeof(block_q2_K);
    case GGML_Q3_K: return sizeof(block_q3_K);
    case GGML_Q4_K: return sizeof(block_q4_K);
    case GGML_Q5_K: return sizeof(block_q5_K);
    case GGML_Q6_K: return sizeof(block_q6_K);
    default: return 0;
  }
}

static inline int type_block_elems(int type) {
  switch (type) {
    case GGML_F32: case GGML_F16: return 1;
    case GGML_Q2_K: case GGML_Q3_K: case GGML_Q4_K: case GGML_Q5_K: case GGML_Q6_K: return QK_K;
    default: return QK;
  }
}
