// Dequantize rows of every supported type to f32: token-embedding lookups, and the tests' oracle
// for the block layouts (checked against the gguf package's numpy dequantization).
#include "quants.h"

static void get_scale_min_k4(int j, const uint8_t *q, uint8_t *sc, uint8_t *m) {
  if (j < 4) {
    *sc = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

// Export for the dot products, which decode the same 6-bit scales.
void q4k_scales(const uint8_t *scales, uint8_t sc[8], uint8_t m[8]) {
  for (int j = 0; j < 8; j++) get_scale_min_k4(j, scales, &sc[j], &m[j]);
}

// Q3_K's 16 scales: low 4 bits from scales[0..7] (nibbles), high 2 bits from scales[8..11]; minus 32.
void q3k_scales(const uint8_t *scales, int8_t sc[16]) {
  for (int j = 0; j < 16; j++) {
    int lo = j < 8 ? scales[j] & 0xF : scales[j - 8] >> 4;
    int hi = (scales[8 + j % 4] >> (2 * (j / 4))) & 3;
    sc[j] = (int8_t)((lo | hi << 4) - 32);
  }
}

static void dequant_q2_K(const block_q2_K *b, float *y, int nb) {
  for (int i = 0; i < nb; i++) {
    float d = f16_to_f32(b[i].d), dmin = f16_to_f32(b[i].dmin);
    for (int g = 0; g < 16; g++) {  // group g: elements 16g..16g+15
      int n = g / 8, j = (g % 8) / 2, half = g % 2;
      const uint8_t *q = b[i].qs + 32 * n + 16 * half;
      float dl = d * (b[i].scales[g] & 0xF), ml = dmin * (b[i].scales[g] >> 4);
      for (int l = 0; l < 16; l++) *y++ = dl * ((q[l] >> (2 * j)) & 3) - ml;
    }
  }
}

static void dequant_q3_K(const block_q3_K *b, float *y, int nb) {
  for (int i = 0; i < nb; i++) {
    float d = f16_to_f32(b[i].d);
    int8_t sc[16];
    q3k_scales(b[i].scales, sc);
    for (int g = 0; g < 16; g++) {
      int n = g / 8, j = (g % 8) / 2, half = g % 2;
      const uint8_t *q = b[i].qs + 32 * n + 16 * half, *hm = b[i].hmask + 16 * half;
      for (int l = 0; l < 16; l++) {
        int u = ((q[l] >> (2 * j)) & 3) | (((hm[l] >> (4 * n + j)) & 1) << 2);
        *y++ = d * sc[g] * (u - 4);
      }
    }
  }
}

static void dequant_q4_0(const block_q4_0 *b, float *y, int nb) {
  for (int i = 0; i < nb; i++, y += QK) {
    float d = f16_to_f32(b[i].d);
    for (int j = 0; j < QK / 2; j++) {
      y[j] = ((b[i].qs[j] & 0xF) - 8) * d;
      y[j + QK / 2] = ((b[i].qs[j] >> 4) - 8) * d;
    }
  }
}

static void dequant_q4_1(const block_q4_1 *b, float *y, int nb) {
  for (int i = 0; i < nb; i++, y += QK) {
    float d = f16_to_f32(b[i].d), m = f16_to_f32(b[i].m);
    for (int j = 0; j < QK / 2; j++) {
      y[j] = (b[i].qs[j] & 0xF) * d + m;
      y[j + QK / 2] = (b[i].qs[j] >> 4) * d + m;
    }
  }
}

static inline uint32_t qh32(const uint8_t qh[4]) {
  return qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 | (uint32_t)qh[3] << 24;
}

static void dequant_q5_0(const block_q5_0 *b, float *y, int nb) {
  for (int i = 0; i < nb; i++, y += QK) {
    float d = f16_to_f32(b[i].d);
    uint32_t qh = qh32(b[i].qh);
    for (int j = 0; j < QK / 2; j++) {
      int x0 = (b[i].qs[j] & 0xF) | (((qh >> j) & 1) << 4);
      int x1 = (b[i].qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
      y[j] = (x0 - 16) * d;
      y[j + QK / 2] = (x1 - 16) * d;
    }
  }
}

static void dequant_q5_1(const block_q5_1 *b, float *y, int nb) {
  for (int i = 0; i < nb; i++, y += QK) {
    float d = f16_to_f32(b[i].d), m = f16_to_f32(b[i].m);
    uint32_t qh = qh32(b[i].qh);
    for (int j = 0; j < QK / 2; j++) {
      int x0 = (b[i].qs[j] & 0xF) | (((qh >> j) & 1) << 4);
      int x1 = (b[i].qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
      y[j] = x0 * d + m;
      y[j + QK / 2] = x1 * d + m;
    }
  }
}

static void dequant_q8_0(const block_q8_0 *b, float *y, int nb) {
  for (int i = 0; i < nb; i++, y += QK) {
    float d = f16_to_f32(b[i].d);
    for (int j = 0; j < QK; j++) y[j] = b[i].qs[j] * d;
  }
}

static void dequant_q4_K(const block_q4_K *b, float *y, int nb) {
  for (int i = 0; i < nb; i++) {
    float d = f16_to_f32(b[i].d), dmin = f16_to_f32(b[i].dmin);
    uint8_t sc[8], m[8];
    q4k_scales(b[i].scales, sc, m);
    const uint8_t *q = b[i].qs;
    for (int c = 0; c < 4; c++, q += 32) {
      for (int l = 0; l < 32; l++) *y++ = d * sc[2 * c] * (q[l] & 0xF) - dmin * m[2 * c];
      for (int l = 0; l < 32; l++) *y++ = d * sc[2 * c + 1] * (q[l] >> 4) - dmin * m[2 * c + 1];
    }
  }
}

static void dequant_q5_K(const block_q5_K *b, float *y, int nb) {
  for (int i = 0; i < nb; i++) {
    float d = f16_to_f32(b[i].d), dmin = f16_to_f32(b[i].dmin);
    uint8_t sc[8], m[8];
    q4k_scales(b[i].scales, sc, m);
    const uint8_t *ql = b[i].qs, *qh = b[i].qh;
    for (int c = 0; c < 4; c++, ql += 32) {
      uint8_t u1 = 1 << (2 * c), u2 = 2 << (2 * c);
      for (int l = 0; l < 32; l++) *y++ = d * sc[2 * c] * ((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - dmin * m[2 * c];
      for (int l = 0; l < 32; l++) *y++ = d * sc[2 * c + 1] * ((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - dmin * m[2 * c + 1];
    }
  }
}

static void dequant_q6_K(const block_q6_K *b, float *y, int nb) {
  for (int i = 0; i < nb; i++) {
    float d = f16_to_f32(b[i].d);
    const uint8_t *ql = b[i].ql, *qh = b[i].qh;
    const int8_t *sc = b[i].scales;
    for (int n = 0; n < 2; n++, y += 128, ql += 64, qh += 32, sc += 8) {
      for (int l = 0; l < 32; l++) {
        int is = l / 16;
        int q1 = (int)((ql[l] & 0xF) | ((qh[l] & 3) << 4)) - 32;
        int q2 = (int)((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        int q3 = (int)((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        int q4 = (int)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l] = d * sc[is] * q1;
        y[l + 32] = d * sc[is + 2] * q2;
        y[l + 64] = d * sc[is + 4] * q3;
        y[l + 96] = d * sc[is + 6] * q4;
      }
    }
  }
}

// Dequantize n elements (a whole number of blocks) of type from src into y. Returns 0 on success.
EXPORT(dequantize_row) int dequantize_row(int type, const void *src, float *y, int n) {
  int per = type_block_elems(type);
  if (per == 0 || n % per) return -1;
  int nb = n / per;
  switch (type) {
    case GGML_F32: for (int i = 0; i < n; i++) y[i] = ((const float *)src)[i]; return 0;
    case GGML_F16: for (int i = 0; i < n; i++) y[i] = f16_to_f32(((const f16_t *)src)[i]); return 0;
    case GGML_Q4_0: dequant_q4_0(src, y, nb); return 0;
    case GGML_Q4_1: dequant_q4_1(src, y, nb); return 0;
    case GGML_Q5_0: dequant_q5_0(src, y, nb); return 0;
    case GGML_Q5_1: dequant_q5_1(src, y, nb); return 0;
    case GGML_Q8_0: dequant_q8_0(src, y, nb); return 0;
    case GGML_Q2_K: dequant_q2_K(src, y, nb); return 0;
    case GGML_Q3_K: dequant_q3_K(src, y, nb); return 0;
    case GGML_Q4_K: dequant_q4_K(src, y, nb); return 0;
    case GGML_Q5_K: dequant_q5_K(src, y, nb); return 0;
    case GGML_Q6_K: dequant_q6_K(src, y, nb); return 0;
    default: return -1;
  }
}
