// RoPE on the q and k parts of the qkv rows, then k and v into one layer's cache at the batch
// positions. One workgroup per (head, token) over the q, k and v heads; thread i takes pair i of
// the head (head_dim <= 2 WG). The rotation's cos/sin per (token, pair) come from the host (f64
// angles, as the WASM backend). With norm == 1, each q and k head is first RMS-normalized and
// weighted by q_norm or k_norm (Qwen3's and Gemma 3's q/k norms): the head's sum of squares is
// reduced in the workgroup before any thread writes, so the head is read whole first.

const WG = 128u;

// Field order as PARAMS in rope_store.js.
struct Params {
  n_heads: u32,
  n_kv_heads: u32,
  head_dim: u32,
  n_rot: u32,
  neox: u32,       // 1: pairs (i, i + n_rot/2); 0: adjacent pairs (2i, 2i+1)
  n_tokens: u32,
  pos0: u32,
  n_ctx: u32,
  qkv_stride: u32,
  cs_offset: u32,  // first float of the cos/sin table in `cs`: per token, n_rot/2 (cos, sin) pairs
  norm: u32,       // 1: RMS-normalize q and k heads first
  eps: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> qkv: array<f32>;
@group(0) @binding(2) var<storage, read_write> k_cache: array<f32>;
@group(0) @binding(3) var<storage, read_write> v_cache: array<f32>;
@group(0) @binding(4) var<storage, read> cs: array<f32>;
@group(0) @binding(5) var<storage, read> q_norm: array<f32>;
@group(0) @binding(6) var<storage, read> k_norm: array<f32>;

var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG)
fn rope_store(@builtin(local_invocation_index) i: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  let head = wg.x;
  let t = wg.y;
  let live = i < params.head_dim / 2u;
  let rot_half = params.n_rot / 2u;
  // The two dims of this pair, and whether they rotate.
  var a = 2u * i;
  var b = a + 1u;
  if (params.neox == 1u) {
    if (i < rot_half) {
      a = i;
      b = i + rot_half;
    } else {
      a = params.n_rot + 2u * (i - rot_half);
      b = a + 1u;
    }
  }
  let row = t * params.qkv_stride + head * params.head_dim;
  var x0 = 0.0;
  var x1 = 0.0;
  if (live) {
    x0 = qkv[row + a];
    x1 = qkv[row + b];
  }
  let is_v = head >= params.n_heads + params.n_kv_heads;
  if (params.norm == 1u && !is_v) {
    partial[i] = x0 * x0 + x1 * x1;
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
      workgroupBarrier();
      if (i < s) {
        partial[i] += partial[i + s];
      }
    }
    workgroupBarrier();
    let scale = inverseSqrt(partial[0] / f32(params.head_dim) + params.eps);
    if (live) {
      let is_q = head < params.n_heads;
      x0 *= scale * select(k_norm[a], q_norm[a], is_q);
      x1 *= scale * select(k_norm[b], q_norm[b], is_q);
    }
  }
  if (!live) {
    return;
  }
  if (i < rot_half && !is_v) {
    let c = cs[params.cs_offset + t * params.n_rot + 2u * i];
    let s = cs[params.cs_offset + t * params.n_rot + 2u * i + 1u];
    let r0 = x0 * c - x1 * s;
    let r1 = x0 * s + x1 * c;
    x0 = r0;
    x1 = r1;
  }
  if (!is_v) {
    qkv[row + a] = x0;
    qkv[row + b] = x1;
  }
  if (head < params.n_heads) {
    return;
  }
  // Cache layout [n_kv_heads][n_ctx][head_dim].
  let kv_head = (head - params.n_heads) % params.n_kv_heads;
  let at = (kv_head * params.n_ctx + params.pos0 + t) * params.head_dim;
  if (is_v) {
    v_cache[at + a] = x0;
    v_cache[at + b] = x1;
  } else {
    k_cache[at + a] = x0;
    k_cache[at + b] = x1;
  }
}
