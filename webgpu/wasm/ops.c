// The f32 ops of a transformer layer: rmsnorm, layernorm, rope, attention over the KV cache (causal,
// or bidirectional within a sequence), swiglu, gelu, add.
// No libm in wasm32-freestanding: exp is our own; rope's cos/sin come from a table JS fills.
#include "quants.h"

// e^x for x in about [-87, 88]; relative error ~2e-7 (Cody-Waite reduction, degree-6 polynomial).
static inline v128_t exp_f32x4(v128_t x) {
  x = wasm_f32x4_min(wasm_f32x4_max(x, wasm_f32x4_splat(-87.0f)), wasm_f32x4_splat(88.0f));
  v128_t n = wasm_f32x4_nearest(wasm_f32x4_mul(x, wasm_f32x4_splat(1.44269504088896341f)));
  v128_t r = wasm_f32x4_sub(x, wasm_f32x4_mul(n, wasm_f32x4_splat(0.693145751953125f)));
  r = wasm_f32x4_sub(r, wasm_f32x4_mul(n, wasm_f32x4_splat(1.428606765330187e-06f)));
  v128_t p = wasm_f32x4_splat(1.0f / 720.0f);
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(1.0f / 120.0f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(1.0f / 24.0f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(1.0f / 6.0f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(0.5f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(1.0f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(1.0f));
  v128_t scale = wasm_i32x4_shl(wasm_i32x4_add(wasm_i32x4_trunc_sat_f32x4(n), wasm_i32x4_splat(127)), 23);
  return wasm_f32x4_mul(p, scale);
}

static inline float exp_f32(float x) { return wasm_f32x4_extract_lane(exp_f32x4(wasm_f32x4_splat(x)), 0); }

// tanh(x) = 1 - 2 / (e^(2x) + 1); exp's clamp makes it exactly +-1 past |x| ~ 44.
static inline v128_t tanh_f32x4(v128_t x) {
  v128_t e = exp_f32x4(wasm_f32x4_add(x, x));
  return wasm_f32x4_sub(wasm_f32x4_splat(1.0f), wasm_f32x4_div(wasm_f32x4_splat(2.0f), wasm_f32x4_add(e, wasm_f32x4_splat(1.0f))));
}

static inline float tanh_f32(float x) { return wasm_f32x4_extract_lane(tanh_f32x4(wasm_f32x4_splat(x)), 0); }

// x = cap * tanh(x / cap) over n values (Gemma 2's soft-capping of scores and logits).
EXPORT(softcap_rows) void softcap_rows(float *x, int n, float cap) {
  v128_t c = wasm_f32x4_splat(cap), inv = wasm_f32x4_splat(1.0f / cap);
  int i = 0;
  for (; i + 4 <= n; i += 4) wasm_v128_store(x + i, wasm_f32x4_mul(c, tanh_f32x4(wasm_f32x4_mul(wasm_v128_load(x + i), inv))));
  for (; i < n; i++) x[i] = cap * tanh_f32(x[i] / cap);
}

// out = x / rms(x) * w, per token; n a multiple of 4.
EXPORT(rmsnorm) void rmsnorm(const float *x, const float *w, float *out, int n, float eps, int n_tokens) {
  for (int t = 0; t < n_tokens; t++, x += n, out += n) {
    v128_t ss = wasm_f32x4_splat(0.0f);
    for (int i = 0; i < n; i += 4) {
      v128_t v = wasm_v128_load(x + i);
      ss = wasm_f32x4_add(ss, wasm_f32x4_mul(v, v));
    }
    float scale = 1.0f / __builtin_sqrtf(hsum_f32x4(ss) / n + eps);
    v128_t s = wasm_f32x4_splat(scale);
    for (int i = 0; i < n; i += 4) {
      wasm_v128_store(out + i, wasm_f32x4_mul(wasm_f32x4_mul(wasm_v128_load(x + i), s), wasm_v128_load(w + i)));
    }
  }
}

// Rotate the first n_rot dims of each head in place. cs holds, per token, n_rot/2 (cos, sin) pairs.
// neox: pairs are (i, i + n_rot/2); otherwise adjacent (2i, 2i+1), as llama.cpp's two rope modes.
// With a norm (head_dim weights; 0 for none), each head is first RMS-normalized and weighted
// (Qwen3's and Gemma 3's q/k norms).
EXPORT(rope) void rope(float *x, const float *cs, int n_heads, int head_dim, int n_rot, int neox,
                       int n_tokens, int token_stride, const float *norm, float eps) {
  int half = n_rot / 2;
  for (int t = 0; t < n_tokens; t++, cs += n_rot) {
    for (int h = 0; h < n_heads; h++) {
      float *v = x + (size_t)t * token_stride + h * head_dim;
      if (norm) rmsnorm(v, norm, v, head_dim, eps, 1);
      for (int i = 0; i < half; i++) {
        float c = cs[2 * i], s = cs[2 * i + 1];
        int a = neox ? i : 2 * i, b = neox ? i + half : 2 * i + 1;
        float x0 = v[a], x1 = v[b];
        v[a] = x0 * c - x1 * s;
        v[b] = x0 * s + x1 * c;
      }
    }
  }
}

// Four cache elements from element index i of a KV cache of f32, or of f16 (widened).
ALWAYS_INLINE v128_t load_kv(const void *cache, size_t i, int f16) {
  return f16 ? f16x4_to_f32x4(wasm_u32x4_load16x4((const f16_t *)cache + i)) : wasm_v128_load((const float *)cache + i);
}

// Attention for n_tokens query tokens at positions pos0.., heads [head_begin, head_end). causal: each
// attends to positions 0..its own; otherwise (an encoder) to its sequence's positions pos0..pos0+n_tokens-1.
// q: n_tokens rows, q_stride floats apart, of n_heads*head_dim; out: n_tokens rows of n_heads*head_dim.
// k_cache, v_cache: [n_kv_heads][n_ctx][head_dim]. scores: scratch of n_ctx floats (one per thread).
// head_dim % 4 == 0. Scores are q.k * scale, then softcap * tanh(score / softcap) when softcap > 0;
// window > 0 (causal only) keeps the last `window` positions. Scores go four keys at a time (one
// reduction for the four); the weighted sum of values keeps 16 output dims in registers across all keys.
ALWAYS_INLINE void attention_of(const float *q, int q_stride, const void *k_cache, const void *v_cache, float *out,
                                float *scores, int n_heads, int n_kv_heads, int head_dim, int n_ctx,
                                int pos0, int n_tokens, int causal, float scale, float softcap, int window,
                                int head_begin, int head_end, int f16) {
  int group = n_heads / n_kv_heads;
  int row = n_heads * head_dim;
  v128_t vscale = wasm_f32x4_splat(scale);
  for (int t = 0; t < n_tokens; t++) {
    int key0 = causal ? 0 : pos0;
    int n_keys = causal ? pos0 + t + 1 : n_tokens;
    if (causal && window > 0 && n_keys > window) {
      key0 = n_keys - window;
      n_keys = window;
    }
    for (int h = head_begin; h < head_end; h++) {
      const float *qh = q + (size_t)t * q_stride + h * head_dim;
      size_t head0 = ((size_t)(h / group) * n_ctx + key0) * head_dim;  // element index of the first key
      v128_t vmax = wasm_f32x4_splat(-3.0e38f);
      int j = 0;
      for (; j + 4 <= n_keys; j += 4) {
        size_t k0 = head0 + (size_t)j * head_dim;
        v128_t a0 = wasm_f32x4_splat(0.0f), a1 = a0, a2 = a0, a3 = a0;
        for (int i = 0; i < head_dim; i += 4) {
          v128_t qv = wasm_v128_load(qh + i);
          a0 = MADD(qv, load_kv(k_cache, k0 + i, f16), a0);
          a1 = MADD(qv, load_kv(k_cache, k0 + head_dim + i, f16), a1);
          a2 = MADD(qv, load_kv(k_cache, k0 + 2 * head_dim + i, f16), a2);
          a3 = MADD(qv, load_kv(k_cache, k0 + 3 * head_dim + i, f16), a3);
        }
        // The four sums at once: [sum a0, sum a1, sum a2, sum a3].
        v128_t s01 = wasm_f32x4_add(wasm_i32x4_shuffle(a0, a1, 0, 1, 4, 5), wasm_i32x4_shuffle(a0, a1, 2, 3, 6, 7));
        v128_t s23 = wasm_f32x4_add(wasm_i32x4_shuffle(a2, a3, 0, 1, 4, 5), wasm_i32x4_shuffle(a2, a3, 2, 3, 6, 7));
        v128_t s = wasm_f32x4_mul(wasm_f32x4_add(wasm_i32x4_shuffle(s01, s23, 0, 2, 4, 6), wasm_i32x4_shuffle(s01, s23, 1, 3, 5, 7)), vscale);
        wasm_v128_store(scores + j, s);
        vmax = wasm_f32x4_max(vmax, s);
      }
      vmax = wasm_f32x4_max(vmax, wasm_i32x4_shuffle(vmax, vmax, 2, 3, 0, 1));
      vmax = wasm_f32x4_max(vmax, wasm_i32x4_shuffle(vmax, vmax, 1, 0, 3, 2));
      float mx = wasm_f32x4_extract_lane(vmax, 0);
      for (; j < n_keys; j++) {
        v128_t acc = wasm_f32x4_splat(0.0f);
        size_t kj = head0 + (size_t)j * head_dim;
        for (int i = 0; i < head_dim; i += 4) acc = MADD(wasm_v128_load(qh + i), load_kv(k_cache, kj + i, f16), acc);
        float s = hsum_f32x4(acc) * scale;
        scores[j] = s;
        mx = s > mx ? s : mx;
      }
      if (softcap > 0.0f) {  // tanh is monotonic: the capped maximum is the cap of the maximum
        softcap_rows(scores, n_keys, softcap);
        mx = softcap * tanh_f32(mx / softcap);
      }
      v128_t vmx = wasm_f32x4_splat(mx), vsum = wasm_f32x4_splat(0.0f);
      float sum = 0.0f;
      for (j = 0; j + 4 <= n_keys; j += 4) {
        v128_t e = exp_f32x4(wasm_f32x4_sub(wasm_v128_load(scores + j), vmx));
        wasm_v128_store(scores + j, e);
        vsum = wasm_f32x4_add(vsum, e);
      }
      for (; j < n_keys; j++) {
        scores[j] = exp_f32(scores[j] - mx);
        sum += scores[j];
      }
      v128_t inv = wasm_f32x4_splat(1.0f / (sum + hsum_f32x4(vsum)));
      float *oh = out + (size_t)t * row + h * head_dim;
      int i = 0;
      for (; i + 16 <= head_dim; i += 16) {
        v128_t o0 = wasm_f32x4_splat(0.0f), o1 = o0, o2 = o0, o3 = o0;
        size_t vj = head0 + i;
        for (j = 0; j < n_keys; j++, vj += head_dim) {
          v128_t p = wasm_f32x4_splat(scores[j]);
          o0 = MADD(p, load_kv(v_cache, vj, f16), o0);
          o1 = MADD(p, load_kv(v_cache, vj + 4, f16), o1);
          o2 = MADD(p, load_kv(v_cache, vj + 8, f16), o2);
          o3 = MADD(p, load_kv(v_cache, vj + 12, f16), o3);
        }
        wasm_v128_store(oh + i, wasm_f32x4_mul(o0, inv));
        wasm_v128_store(oh + i + 4, wasm_f32x4_mul(o1, inv));
        wasm_v128_store(oh + i + 8, wasm_f32x4_mul(o2, inv));
        wasm_v128_store(oh + i + 12, wasm_f32x4_mul(o3, inv));
      }
      for (; i < head_dim; i += 4) {
        v128_t o = wasm_f32x4_splat(0.0f);
        size_t vj = head0 + i;
        for (j = 0; j < n_keys; j++, vj += head_dim) o = MADD(wasm_f32x4_splat(scores[j]), load_kv(v_cache, vj, f16), o);
        wasm_v128_store(oh + i, wasm_f32x4_mul(o, inv));
      }
    }
  }
}

// kv_f16: the caches hold f16 (kv_store with f16 1), widened four at a time as they are read.
EXPORT(attention) void attention(const float *q, int q_stride, const void *k_cache, const void *v_cache, float *out,
                                 float *scores, int n_heads, int n_kv_heads, int head_dim, int n_ctx,
                                 int pos0, int n_tokens, int causal, float scale, float softcap, int window,
                                 int head_begin, int head_end, int kv_f16) {
  if (kv_f16) attention_of(q, q_stride, k_cache, v_cache, out, scores, n_heads, n_kv_heads, head_dim, n_ctx, pos0,
                           n_tokens, causal, scale, softcap, window, head_begin, head_end, 1);
  else attention_of(q, q_stride, k_cache, v_cache, out, scores, n_heads, n_kv_heads, head_dim, n_ctx, pos0,
                    n_tokens, causal, scale, softcap, window, head_begin, head_end, 0);
}

// out = gelu(gate) * up, GELU's tanh form (llama.cpp's ggml_gelu, HF's gelu_pytorch_tanh), elementwise
// over n values (n a multiple of 4).
EXPORT(geglu) void geglu(const float *gate, const float *up, float *out, int n) {
  for (int i = 0; i < n; i += 4) {
    v128_t g = wasm_v128_load(gate + i);
    v128_t inner = wasm_f32x4_mul(wasm_f32x4_splat(0.7978845608028654f),
                                  wasm_f32x4_add(g, wasm_f32x4_mul(wasm_f32x4_splat(0.044715f), wasm_f32x4_mul(g, wasm_f32x4_mul(g, g)))));
    v128_t half_g = wasm_f32x4_mul(wasm_f32x4_splat(0.5f), g);
    wasm_v128_store(out + i, wasm_f32x4_mul(wasm_f32x4_mul(half_g, wasm_f32x4_add(wasm_f32x4_splat(1.0f), tanh_f32x4(inner))),
                                            wasm_v128_load(up + i)));
  }
}

// out = silu(gate) * up, elementwise over n values (n a multiple of 4).
EXPORT(swiglu) void swiglu(const float *gate, const float *up, float *out, int n) {
  for (int i = 0; i < n; i += 4) {
    v128_t g = wasm_v128_load(gate + i);
    v128_t sig = wasm_f32x4_div(wasm_f32x4_splat(1.0f), wasm_f32x4_add(wasm_f32x4_splat(1.0f), exp_f32x4(wasm_f32x4_neg(g))));
    wasm_v128_store(out + i, wasm_f32x4_mul(wasm_f32x4_mul(g, sig), wasm_v128_load(up + i)));
  }
}

// out = (x - mean(x)) / sqrt(var(x) + eps) * w + b, per row of n values (n a multiple of 4); out may alias x.
EXPORT(layernorm) void layernorm(const float *x, const float *w, const float *b, float *out, int n, float eps,
                                 int n_rows) {
  for (int t = 0; t < n_rows; t++, x += n, out += n) {
    v128_t s = wasm_f32x4_splat(0.0f);
    for (int i = 0; i < n; i += 4) s = wasm_f32x4_add(s, wasm_v128_load(x + i));
    v128_t mean = wasm_f32x4_splat(hsum_f32x4(s) / n);
    v128_t ss = wasm_f32x4_splat(0.0f);
    for (int i = 0; i < n; i += 4) {
      v128_t d = wasm_f32x4_sub(wasm_v128_load(x + i), mean);
      ss = wasm_f32x4_add(ss, wasm_f32x4_mul(d, d));
    }
    v128_t inv = wasm_f32x4_splat(1.0f / __builtin_sqrtf(hsum_f32x4(ss) / n + eps));
    for (int i = 0; i < n; i += 4) {
      v128_t y = wasm_f32x4_mul(wasm_f32x4_sub(wasm_v128_load(x + i), mean), inv);
      wasm_v128_store(out + i, wasm_f32x4_add(wasm_f32x4_mul(y, wasm_v128_load(w + i)), wasm_v128_load(b + i)));
    }
  }
}

// erf(x): Numerical Recipes' erfc Chebyshev fit, fractional error below 1.2e-7 everywhere.
static inline v128_t erf_f32x4(v128_t x) {
  v128_t z = wasm_f32x4_abs(x);
  v128_t t = wasm_f32x4_div(wasm_f32x4_splat(1.0f), wasm_f32x4_add(wasm_f32x4_splat(1.0f), wasm_f32x4_mul(wasm_f32x4_splat(0.5f), z)));
  static const float c[10] = {-1.26551223f, 1.00002368f, 0.37409196f, 0.09678418f, -0.18628806f,
                              0.27886807f, -1.13520398f, 1.48851587f, -0.82215223f, 0.17087277f};
  v128_t p = wasm_f32x4_splat(c[9]);
  for (int i = 8; i >= 0; i--) p = wasm_f32x4_add(wasm_f32x4_mul(p, t), wasm_f32x4_splat(c[i]));
  v128_t erfc = wasm_f32x4_mul(t, exp_f32x4(wasm_f32x4_sub(p, wasm_f32x4_mul(z, z))));
  v128_t e = wasm_f32x4_sub(wasm_f32x4_splat(1.0f), erfc);
  return wasm_v128_bitselect(wasm_f32x4_neg(e), e, wasm_f32x4_lt(x, wasm_f32x4_splat(0.0f)));
}

// out = x * (1 + erf(x / sqrt 2)) / 2 (BERT's exact GELU), elementwise over n values (n a multiple of 4).
EXPORT(gelu) void gelu(const float *x, float *out, int n) {
  for (int i = 0; i < n; i += 4) {
    v128_t v = wasm_v128_load(x + i);
    v128_t e = erf_f32x4(wasm_f32x4_mul(v, wasm_f32x4_splat(0.70710678118654752f)));
    wasm_v128_store(out + i, wasm_f32x4_mul(wasm_f32x4_mul(wasm_f32x4_splat(0.5f), v), wasm_f32x4_add(wasm_f32x4_splat(1.0f), e)));
  }
}

// out = a + b over n values (n a multiple of 4); out may alias a or b.
EXPORT(add) void add(const float *a, const float *b, float *out, int n) {
  for (int i = 0; i < n; i += 4) wasm_v128_store(out + i, wasm_f32x4_add(wasm_v128_load(a + i), wasm_v128_load(b + i)));
}

// Exported for the tests: e^x elementwise.
EXPORT(exp_inplace) void exp_inplace(float *x, int n) {
  for (int i = 0; i < n; i += 4) wasm_v128_store(x + i, exp_f32x4(wasm_v128_load(x + i)));
}

// Copy n_tokens rows of keys (or values), src_stride floats apart, each [n_kv_heads][head_dim], into a
// cache laid out [n_kv_heads][n_ctx][head_dim] at positions pos0..; f16: the cache holds halves.
EXPORT(kv_store) void kv_store(const float *src, int src_stride, void *cache, int n_tokens, int n_kv_heads,
                               int head_dim, int n_ctx, int pos0, int f16) {
  for (int t = 0; t < n_tokens; t++) {
    for (int h = 0; h < n_kv_heads; h++) {
      const float *s = src + (size_t)t * src_stride + (size_t)h * head_dim;
      size_t at = ((size_t)h * n_ctx + pos0 + t) * head_dim;
      if (f16) {
        for (int i = 0; i < head_dim; i++) ((f16_t *)cache)[at + i] = f32_to_f16(s[i]);
      } else {
        for (int i = 0; i < head_dim; i += 4) wasm_v128_store((float *)cache + at + i, wasm_v128_load(s + i));
      }
    }
  }
}

// out[s] = V[s] . q for n rows of d floats (d a multiple of 4), four rows at a time: the vector
// store's exact search.
EXPORT(dot_rows) void dot_rows(const float *V, const float *q, float *out, int n, int d) {
  int s = 0;
  for (; s + 4 <= n; s += 4) {
    const float *v0 = V + (size_t)s * d, *v1 = v0 + d, *v2 = v1 + d, *v3 = v2 + d;
    v128_t a0 = wasm_f32x4_splat(0.0f), a1 = a0, a2 = a0, a3 = a0;
    for (int i = 0; i < d; i += 4) {
      v128_t x = wasm_v128_load(q + i);
      a0 = wasm_f32x4_add(a0, wasm_f32x4_mul(wasm_v128_load(v0 + i), x));
      a1 = wasm_f32x4_add(a1, wasm_f32x4_mul(wasm_v128_load(v1 + i), x));
      a2 = wasm_f32x4_add(a2, wasm_f32x4_mul(wasm_v128_load(v2 + i), x));
      a3 = wasm_f32x4_add(a3, wasm_f32x4_mul(wasm_v128_load(v3 + i), x));
    }
    out[s] = hsum_f32x4(a0);
    out[s + 1] = hsum_f32x4(a1);
    out[s + 2] = hsum_f32x4(a2);
    out[s + 3] = hsum_f32x4(a3);
  }
  for (; s < n; s++) {
    v128_t a = wasm_f32x4_splat(0.0f);
    for (int i = 0; i < d; i += 4) a = wasm_f32x4_add(a, wasm_f32x4_mul(wasm_v128_load(V + (size_t)s * d + i), wasm_v128_load(q + i)));
    out[s] = hsum_f32x4(a);
  }
}
