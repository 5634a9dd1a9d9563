// RoPE on the q and k parts of the qkv rows, then k and v into one layer's cache at the batch
// positions. One thread per pair of values: (head, pair) over the q, k and v heads, y = token.
// The rotation's cos/sin per (token, pair) come from the host (f64 angles, as the WASM backend).

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
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> qkv: array<f32>;
@group(0) @binding(2) var<storage, read_write> k_cache: array<f32>;
@group(0) @binding(3) var<storage, read_write> v_cache: array<f32>;
@group(0) @binding(4) var<storage, read> cs: array<f32>;

@compute @workgroup_size(64)
fn rope_store(@builtin(global_invocation_id) id: vec3<u32>) {
  let half_dim = params.head_dim / 2u;
  let t = id.y;
  let head = id.x / half_dim;
  let i = id.x % half_dim;
  if (t >= params.n_tokens || head >= params.n_heads + 2u * params.n_kv_heads) {
    return;
  }
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
  let rotate = i < rot_half;
  let row = t * params.qkv_stride + head * params.head_dim;
  var x0 = qkv[row + a];
  var x1 = qkv[row + b];
  let is_v = head >= params.n_heads + params.n_kv_heads;
  if (rotate && !is_v) {
    let c = cs[params.cs_offset + t * params.n_rot + 2u * i];
    let s = cs[params.cs_offset + t * params.n_rot + 2u * i + 1u];
    let r0 = x0 * c - x1 * s;
    let r1 = x0 * s + x1 * c;
    x0 = r0;
    x1 = r1;
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
