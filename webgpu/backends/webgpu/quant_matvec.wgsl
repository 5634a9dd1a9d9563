// Quantized weights, read as GGUF stores them (packed blocks in u32 words, f32 math, no shader-f16):
//   matvec: out[t, r] (=, +=) W[r] . x[t] (+ bias[r]) for up to 4 weight parts whose rows are
//           concatenated (q|k|v, or one tensor split by rows across bindings); or, in SWIGLU mode,
//           silu(gate[r] . x[t]) * (up[r] . x[t]) with parts 0 and 1 the gate and up weights; or,
//           in GELU mode, gelu(W[r] . x[t] + bias[r]) (an encoder's feed-forward, the erf form); in
//           GEGLU mode as SWIGLU with GELU's tanh form (Gemma); in SOFTCAP mode,
//           scalar * tanh(W[r] . x[t] / scalar) (Gemma 2's final logits).
//   embed:  out[t] = dequantized row tokens[t] of the table (rows concatenated over the parts),
//           times scalar (Gemma's sqrt(dim)).
// Work unit: a chunk of 32 weights of one row (a block of the 32-element types, an eighth of a
// K-quant super-block). Each subgroup takes one row: its lanes walk the row's chunks, keep one sum
// per token of the tile (TILE_T tokens per workgroup: prefill reads each weight once per tile, not
// once per token), and subgroupAdd totals them: no workgroup memory, no barrier (both cost more
// than the arithmetic on software adapters). Subgroups are assumed to be consecutive invocations.

enable subgroups;

const F32 = 0u; const F16 = 1u; const Q4_0 = 2u; const Q4_1 = 3u; const Q5_0 = 6u; const Q5_1 = 7u;
const Q8_0 = 8u; const Q2_K = 10u; const Q3_K = 11u; const Q4_K = 12u; const Q5_K = 13u; const Q6_K = 14u;

const WG = 64u;
const TILE_T = 8u;
const DECODE_ROWS = 4u;
const MODE_WRITE = 0u;
const MODE_ACCUMULATE = 1u;
const MODE_SWIGLU = 2u;
const MODE_GELU = 3u;
const MODE_GEGLU = 4u;
const MODE_SOFTCAP = 5u;

override TYPE0: u32 = Q4_0;
override TYPE1: u32 = Q4_0;
override TYPE2: u32 = Q4_0;
override TYPE3: u32 = Q4_0;
override MODE: u32 = MODE_WRITE;
// Gate and up parts (SwiGLU or GeGLU).
override GATED: bool = MODE == MODE_SWIGLU || MODE == MODE_GEGLU;
override HAS_BIAS: bool = false;

// Field order as PARAMS in quant_matvec.js.
struct Params {
  n_cols: u32,       // inputs per row (a multiple of 32; of 256 for K-quants)
  n_tokens: u32,     // rows of x (tokens in the batch)
  x_stride: u32,     // floats between rows of x
  x_offset: u32,     // first float of x's row 0
  out_stride: u32,   // floats between rows of out
  out_offset: u32,   // first output column
  n_rows: u32,       // output rows (SWIGLU, GEGLU: rows of the gate)
  scalar: f32,       // SOFTCAP: the cap; embed: the scale
  part_end: vec4<u32>,          // cumulative row counts of parts 0..3
  tokens: array<vec4<u32>, 16>, // embed: the token ids, 4 per vec4
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read> w0: array<u32>;
@group(0) @binding(5) var<storage, read> w1: array<u32>;
@group(0) @binding(6) var<storage, read> w2: array<u32>;
@group(0) @binding(7) var<storage, read> w3: array<u32>;


fn word(p: u32, i: u32) -> u32 {
  switch p {
    case 0u: { return w0[i]; }
    case 1u: { return w1[i]; }
    case 2u: { return w2[i]; }
    default: { return w3[i]; }
  }
}

fn part_type(p: u32) -> u32 {
  switch p {
    case 0u: { return TYPE0; }
    case 1u: { return TYPE1; }
    case 2u: { return TYPE2; }
    default: { return TYPE3; }
  }
}

// Four bytes from byte offset o, which need not be a multiple of 4 (blocks of 18, 22, 34, 110 and
// 210 bytes). Buffers are padded to whole words, so the second word always exists.
fn u32_at(p: u32, o: u32) -> u32 {
  let i = o >> 2u;
  let s = (o & 3u) * 8u;
  let lo = word(p, i);
  if (s == 0u) {
    return lo;
  }
  return (lo >> s) | (word(p, i + 1u) << (32u - s));
}

fn f16_at(p: u32, o: u32) -> f32 {
  return unpack2x16float(u32_at(p, o)).x;
}

fn byte_at(p: u32, o: u32) -> u32 {
  return (word(p, o >> 2u) >> ((o & 3u) * 8u)) & 0xffu;
}

fn bytes4(q: u32) -> vec4<u32> {
  return vec4<u32>(q, q >> 8u, q >> 16u, q >> 24u) & vec4<u32>(0xffu);
}

fn nibbles_lo(q: u32) -> vec4<f32> {
  return vec4<f32>(vec4<u32>(q, q >> 8u, q >> 16u, q >> 24u) & vec4<u32>(15u));
}

fn nibbles_hi(q: u32) -> vec4<f32> {
  return vec4<f32>(vec4<u32>(q >> 4u, q >> 12u, q >> 20u, q >> 28u) & vec4<u32>(15u));
}

fn bits_at(h: u32, first: u32) -> vec4<f32> {
  return vec4<f32>((vec4<u32>(h) >> vec4<u32>(first, first + 1u, first + 2u, first + 3u)) & vec4<u32>(1u));
}

fn bytes_i8(q: u32) -> vec4<f32> {
  let v = bitcast<i32>(q);
  return vec4<f32>(f32(extractBits(v, 0u, 8u)), f32(extractBits(v, 8u, 8u)), f32(extractBits(v, 16u, 8u)), f32(extractBits(v, 24u, 8u)));
}

// Scale and min of sub-block s of the Q4_K/Q5_K super-block at o: d and dmin (f16) times the 6-bit
// values packed in the 12 bytes at o + 4.
fn scale_min_k4(p: u32, o: u32, s: u32) -> vec2<f32> {
  let dm = unpack2x16float(u32_at(p, o));
  let q = o + 4u;
  if (s < 4u) {
    return dm * vec2<f32>(f32(byte_at(p, q + s) & 63u), f32(byte_at(p, q + s + 4u) & 63u));
  }
  let b = byte_at(p, q + s + 4u);
  return dm * vec2<f32>(f32((b & 15u) | ((byte_at(p, q + s - 4u) >> 6u) << 4u)), f32((b >> 4u) | ((byte_at(p, q + s) >> 6u) << 4u)));
}

// Signed 6-bit scale k (0..15) of a Q3_K super-block, packed in 12 bytes at o.
fn scale_q3_k(p: u32, o: u32, k: u32) -> f32 {
  let w = k / 4u;
  let b = k % 4u;
  let lo = (select(u32_at(p, o), u32_at(p, o + 4u), (w & 1u) == 1u) >> (8u * b + 4u * (w >> 1u))) & 15u;
  let hi = (u32_at(p, o + 8u) >> (8u * b + 2u * w)) & 3u;
  return f32(i32(lo | (hi << 4u)) - 32);
}

// The 32 weights of chunk c of the row starting at byte row_start of part p, as 8 vec4s.
fn dequant(p: u32, ty: u32, row_start: u32, c: u32) -> array<vec4<f32>, 8> {
  var w: array<vec4<f32>, 8>;
  switch ty {
    case F32: {
      let o = row_start + c * 128u;
      for (var j = 0u; j < 8u; j++) {
        w[j] = vec4<f32>(bitcast<f32>(u32_at(p, o + 16u * j)), bitcast<f32>(u32_at(p, o + 16u * j + 4u)),
                         bitcast<f32>(u32_at(p, o + 16u * j + 8u)), bitcast<f32>(u32_at(p, o + 16u * j + 12u)));
      }
    }
    case F16: {
      let o = row_start + c * 64u;
      for (var j = 0u; j < 8u; j++) {
        w[j] = vec4<f32>(unpack2x16float(u32_at(p, o + 8u * j)), unpack2x16float(u32_at(p, o + 8u * j + 4u)));
      }
    }
    case Q4_0: {
      let o = row_start + c * 18u;
      let d = f16_at(p, o);
      for (var j = 0u; j < 4u; j++) {
        let q = u32_at(p, o + 2u + 4u * j);
        w[j] = d * (nibbles_lo(q) - 8.0);
        w[j + 4u] = d * (nibbles_hi(q) - 8.0);
      }
    }
    case Q4_1: {
      let o = row_start + c * 20u;
      let dm = unpack2x16float(u32_at(p, o));
      for (var j = 0u; j < 4u; j++) {
        let q = u32_at(p, o + 4u + 4u * j);
        w[j] = dm.x * nibbles_lo(q) + dm.y;
        w[j + 4u] = dm.x * nibbles_hi(q) + dm.y;
      }
    }
    case Q5_0: {
      let o = row_start + c * 22u;
      let d = f16_at(p, o);
      let qh = u32_at(p, o + 2u);
      for (var j = 0u; j < 4u; j++) {
        let q = u32_at(p, o + 6u + 4u * j);
        w[j] = d * (nibbles_lo(q) + 16.0 * bits_at(qh, 4u * j) - 16.0);
        w[j + 4u] = d * (nibbles_hi(q) + 16.0 * bits_at(qh, 16u + 4u * j) - 16.0);
      }
    }
    case Q5_1: {
      let o = row_start + c * 24u;
      let dm = unpack2x16float(u32_at(p, o));
      let qh = u32_at(p, o + 4u);
      for (var j = 0u; j < 4u; j++) {
        let q = u32_at(p, o + 8u + 4u * j);
        w[j] = dm.x * (nibbles_lo(q) + 16.0 * bits_at(qh, 4u * j)) + dm.y;
        w[j + 4u] = dm.x * (nibbles_hi(q) + 16.0 * bits_at(qh, 16u + 4u * j)) + dm.y;
      }
    }
    case Q8_0: {
      let o = row_start + c * 34u;
      let d = f16_at(p, o);
      for (var j = 0u; j < 8u; j++) {
        w[j] = d * bytes_i8(u32_at(p, o + 2u + 4u * j));
      }
    }
    case Q2_K: {
      // 16 groups of 16: scale (low nibble) and min (high nibble) per group; 2-bit q, 4 per byte.
      let o = row_start + (c / 8u) * 84u;
      let s = c % 8u;
      let n = s / 4u;
      let shift = 2u * (s % 4u);
      let dm = unpack2x16float(u32_at(p, o + 80u));
      for (var half = 0u; half < 2u; half++) {
        let sc = byte_at(p, o + 8u * n + 2u * (s % 4u) + half);
        let dl = dm.x * f32(sc & 15u);
        let ml = dm.y * f32(sc >> 4u);
        for (var k = 0u; k < 4u; k++) {
          let q = (bytes4(u32_at(p, o + 16u + 32u * n + 16u * half + 4u * k)) >> vec4<u32>(shift)) & vec4<u32>(3u);
          w[4u * half + k] = dl * vec4<f32>(q) - ml;
        }
      }
    }
    case Q3_K: {
      // 2-bit low parts in qs, the third bit in hmask (set: +0, clear: -4), signed 6-bit scales.
      let o = row_start + (c / 8u) * 110u;
      let s = c % 8u;
      let n = s / 4u;
      let shift = 2u * (s % 4u);
      let d = f16_at(p, o + 108u);
      for (var half = 0u; half < 2u; half++) {
        let dl = d * scale_q3_k(p, o + 96u, 8u * n + 2u * (s % 4u) + half);
        for (var k = 0u; k < 4u; k++) {
          let q = (bytes4(u32_at(p, o + 32u + 32u * n + 16u * half + 4u * k)) >> vec4<u32>(shift)) & vec4<u32>(3u);
          let h = (bytes4(u32_at(p, o + 16u * half + 4u * k)) >> vec4<u32>(4u * n + s % 4u)) & vec4<u32>(1u);
          w[4u * half + k] = dl * (vec4<f32>(q) + 4.0 * vec4<f32>(h) - 4.0);
        }
      }
    }
    case Q4_K: {
      let o = row_start + (c / 8u) * 144u;
      let s = c % 8u;
      let sm = scale_min_k4(p, o, s);
      for (var j = 0u; j < 8u; j++) {
        let q = u32_at(p, o + 16u + 32u * (s / 2u) + 4u * j);
        w[j] = sm.x * select(nibbles_lo(q), nibbles_hi(q), (s & 1u) == 1u) - sm.y;
      }
    }
    case Q5_K: {
      let o = row_start + (c / 8u) * 176u;
      let s = c % 8u;
      let sm = scale_min_k4(p, o, s);
      for (var j = 0u; j < 8u; j++) {
        let q = u32_at(p, o + 48u + 32u * (s / 2u) + 4u * j);
        let h = (bytes4(u32_at(p, o + 16u + 4u * j)) >> vec4<u32>(s)) & vec4<u32>(1u);
        w[j] = sm.x * (select(nibbles_lo(q), nibbles_hi(q), (s & 1u) == 1u) + 16.0 * vec4<f32>(h)) - sm.y;
      }
    }
    case Q6_K: {
      // Low 4 bits in ql, high 2 in qh, offset 32; a signed 8-bit scale per 16 weights.
      let o = row_start + (c / 8u) * 210u;
      let s = c % 8u;
      let n = s / 4u;
      let k = s % 4u;
      let d = f16_at(p, o + 208u);
      for (var j = 0u; j < 8u; j++) {
        let ql = u32_at(p, o + 64u * n + 32u * (k & 1u) + 4u * j);
        let lo = select(nibbles_lo(ql), nibbles_hi(ql), k >= 2u);
        let hi = vec4<f32>((bytes4(u32_at(p, o + 128u + 32u * n + 4u * j)) >> vec4<u32>(2u * k)) & vec4<u32>(3u));
        let sc = f32(extractBits(bitcast<i32>(byte_at(p, o + 192u + 8u * n + (4u * j) / 16u + 2u * k)), 0u, 8u));
        w[j] = d * sc * (lo + 16.0 * hi - 32.0);
      }
    }
    default: {}
  }
  return w;
}

fn block_elems(ty: u32) -> u32 {
  if (ty == F32 || ty == F16) {
    return 1u;
  }
  return select(32u, 256u, ty >= Q2_K);
}

fn block_bytes(ty: u32) -> u32 {
  switch ty {
    case F32: { return 4u; }
    case F16: { return 2u; }
    case Q4_0: { return 18u; }
    case Q4_1: { return 20u; }
    case Q5_0: { return 22u; }
    case Q5_1: { return 24u; }
    case Q8_0: { return 34u; }
    case Q2_K: { return 84u; }
    case Q3_K: { return 110u; }
    case Q4_K: { return 144u; }
    case Q5_K: { return 176u; }
    default: { return 210u; }
  }
}

fn row_bytes(ty: u32) -> u32 {
  return params.n_cols / block_elems(ty) * block_bytes(ty);
}

// Part and row within it of global row r (rows of the parts concatenated).
fn locate(r: u32) -> vec2<u32> {
  var start = 0u;
  for (var p = 0u; p < 3u; p++) {
    if (r < params.part_end[p]) {
      return vec2<u32>(p, r - start);
    }
    start = params.part_end[p];
  }
  return vec2<u32>(3u, r - start);
}

fn dot8(w: array<vec4<f32>, 8>, xo: u32) -> f32 {
  var s = 0.0;
  for (var j = 0u; j < 8u; j++) {
    s += dot(w[j], x[xo + j]);
  }
  return s;
}

fn dot_xv(w: array<vec4<f32>, 8>, xv: array<vec4<f32>, 8>) -> f32 {
  var s = 0.0;
  for (var j = 0u; j < 8u; j++) {
    s += dot(w[j], xv[j]);
  }
  return s;
}

// Chunk c of the row at pr (part, row in part) dotted with xv; each part's type is a constant in
// its case (a switch on a runtime type costs several times the dequantization on some adapters).
fn chunk_dot(pr: vec2<u32>, c: u32, xv: array<vec4<f32>, 8>) -> f32 {
  switch pr.x {
    case 0u: { return dot_xv(dequant(0u, TYPE0, pr.y * row_bytes(TYPE0), c), xv); }
    case 1u: { return dot_xv(dequant(1u, TYPE1, pr.y * row_bytes(TYPE1), c), xv); }
    case 2u: { return dot_xv(dequant(2u, TYPE2, pr.y * row_bytes(TYPE2), c), xv); }
    default: { return dot_xv(dequant(3u, TYPE3, pr.y * row_bytes(TYPE3), c), xv); }
  }
}

// This lane's share of one row's dot products with the tile's n_t tokens.
fn row_dots(p: u32, ty: u32, start: u32, lane: u32, lanes: u32, n_chunks: u32, x0: u32, xs: u32, n_t: u32) -> array<f32, TILE_T> {
  var acc: array<f32, TILE_T>;
  for (var c = lane; c < n_chunks; c += lanes) {
    let w = dequant(p, ty, start, c);
    for (var t = 0u; t < n_t; t++) {
      acc[t] += dot8(w, x0 + t * xs + c * 8u);
    }
  }
  return acc;
}

// erf(x) to 1.5e-7 (Abramowitz & Stegun 7.1.26); WGSL has no erf.
fn erf(x: f32) -> f32 {
  let a = abs(x);
  let t = 1.0 / (1.0 + 0.3275911 * a);
  let p = ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t;
  return sign(x) * (1.0 - p * exp(-a * a));
}

// tanh, its argument clamped where f32 tanh is +-1 already (some implementations overflow past it).
fn tanh_(x: f32) -> f32 {
  return tanh(clamp(x, -15.0, 15.0));
}

// Output row r of token t: v (+ bias), written, added, SwiGLU'd or GeGLU'd with up, GELU'd, or capped.
fn store(r: u32, t: u32, total: f32, up: f32) {
  var v = total;
  if (HAS_BIAS) {
    v += bias[r];
  }
  let o = t * params.out_stride + params.out_offset + r;
  if (MODE == MODE_SWIGLU) {
    out[o] = v / (1.0 + exp(-v)) * up;
  } else if (MODE == MODE_GEGLU) {
    out[o] = 0.5 * v * (1.0 + tanh_(0.7978845608028654 * (v + 0.044715 * v * v * v))) * up;
  } else if (MODE == MODE_SOFTCAP) {
    out[o] = params.scalar * tanh_(v / params.scalar);
  } else if (MODE == MODE_GELU) {
    out[o] = 0.5 * v * (1.0 + erf(v * 0.70710678118654752));
  } else if (MODE == MODE_ACCUMULATE) {
    out[o] += v;
  } else {
    out[o] = v;
  }
}

@compute @workgroup_size(WG)
fn matvec(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wg: vec3<u32>,
          @builtin(num_workgroups) nwg: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32,
          @builtin(subgroup_size) lanes: u32) {
  let rows_per_wg = max(WG / lanes, 1u);
  let r = (wg.x + wg.z * nwg.x) * rows_per_wg + li / lanes;
  let t0 = wg.y * TILE_T;
  let n_t = min(TILE_T, params.n_tokens - t0);
  let live = r < params.n_rows;
  let n_chunks = params.n_cols / 32u;
  let xs = params.x_stride / 4u;
  let x0 = params.x_offset / 4u + t0 * xs;

  var acc: array<f32, TILE_T>;
  var acc_up: array<f32, TILE_T>;
  if (live) {
    if (GATED) {
      acc = row_dots(0u, TYPE0, r * row_bytes(TYPE0), lane, lanes, n_chunks, x0, xs, n_t);
      acc_up = row_dots(1u, TYPE1, r * row_bytes(TYPE1), lane, lanes, n_chunks, x0, xs, n_t);
    } else {
      let pr = locate(r);
      switch pr.x {
        case 0u: { acc = row_dots(0u, TYPE0, pr.y * row_bytes(TYPE0), lane, lanes, n_chunks, x0, xs, n_t); }
        case 1u: { acc = row_dots(1u, TYPE1, pr.y * row_bytes(TYPE1), lane, lanes, n_chunks, x0, xs, n_t); }
        case 2u: { acc = row_dots(2u, TYPE2, pr.y * row_bytes(TYPE2), lane, lanes, n_chunks, x0, xs, n_t); }
        default: { acc = row_dots(3u, TYPE3, pr.y * row_bytes(TYPE3), lane, lanes, n_chunks, x0, xs, n_t); }
      }
    }
  }
  // subgroupAdd in uniform control flow: every lane of the subgroup, live row or not (n_t is the
  // same for the whole workgroup).
  var total: array<f32, TILE_T>;
  var up: array<f32, TILE_T>;
  for (var t = 0u; t < n_t; t++) {
    total[t] = subgroupAdd(acc[t]);
    if (GATED) {
      up[t] = subgroupAdd(acc_up[t]);
    }
  }
  if (live && lane == 0u) {
    for (var t = 0u; t < n_t; t++) {
      store(r, t0 + t, total[t], up[t]);
    }
  }
}

@compute @workgroup_size(WG)
fn matvec_decode(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wg: vec3<u32>,
                 @builtin(num_workgroups) nwg: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32,
                 @builtin(subgroup_size) lanes: u32) {
  let r0 = ((wg.x + wg.z * nwg.x) * max(WG / lanes, 1u) + li / lanes) * DECODE_ROWS;
  let n_chunks = params.n_cols / 32u;
  let x0 = params.x_offset / 4u;
  // Rows past the end read the last row and write nothing.
  var at: array<vec2<u32>, DECODE_ROWS>;
  for (var k = 0u; k < DECODE_ROWS; k++) {
    let r = min(r0 + k, params.n_rows - 1u);
    at[k] = select(locate(r), vec2<u32>(0u, r), GATED);
  }
  var s = vec4<f32>(0.0);
  var s_up = vec4<f32>(0.0);
  for (var c = lane; c < n_chunks; c += lanes) {
    var xv: array<vec4<f32>, 8>;
    for (var j = 0u; j < 8u; j++) {
      xv[j] = x[x0 + c * 8u + j];
    }
    for (var k = 0u; k < DECODE_ROWS; k++) {
      if (GATED) {
        s[k] += dot_xv(dequant(0u, TYPE0, at[k].y * row_bytes(TYPE0), c), xv);
        s_up[k] += dot_xv(dequant(1u, TYPE1, at[k].y * row_bytes(TYPE1), c), xv);
      } else {
        s[k] += chunk_dot(at[k], c, xv);
      }
    }
  }
  for (var k = 0u; k < DECODE_ROWS; k++) {
    let total = subgroupAdd(s[k]);
    var up = 0.0;
    if (GATED) {
      up = subgroupAdd(s_up[k]);
    }
    if (r0 + k < params.n_rows && lane == 0u) {
      store(r0 + k, 0u, total, up);
    }
  }
}

// One thread per chunk of 32 values of one token's row.
@compute @workgroup_size(64)
fn embed(@builtin(global_invocation_id) id: vec3<u32>) {
  let n_chunks = params.n_cols / 32u;
  let c = id.x;
  let t = id.y;
  if (c >= n_chunks || t >= params.n_tokens) {
    return;
  }
  let token = params.tokens[t / 4u][t % 4u];
  let pr = locate(token);
  let ty = part_type(pr.x);
  let w = dequant(pr.x, ty, pr.y * row_bytes(ty), c);
  let o = t * params.out_stride + params.out_offset + c * 32u;
  for (var j = 0u; j < 8u; j++) {
    let v = w[j] * params.scalar;
    out[o + 4u * j] = v.x;
    out[o + 4u * j + 1u] = v.y;
    out[o + 4u * j + 2u] = v.z;
    out[o + 4u * j + 3u] = v.w;
  }
}
