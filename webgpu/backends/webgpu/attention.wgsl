// Attention over one layer's KV cache with an online softmax: one workgroup per (query head,
// token); keys in tiles of WG, each thread scores one key of the tile, then thread i accumulates
// output dims i and i + WG. Grouped-query heads share their KV head. head_dim <= 2 WG. Causal:
// token t sees cache positions 0..pos0+t, or only the last `window` of them when window > 0 (a
// sliding layer). Otherwise (an encoder's packed sequences) token t sees its own sequence:
// segments[2t] is the sequence's first row, segments[2t + 1] its rows, and row r's key sits at
// cache position pos0 + r. Scores are q.k * scale, soft-capped (cap * tanh(s / cap)) when cap > 0.

const WG = 128u;

// Field order as PARAMS in attention.js.
struct Params {
  n_heads: u32,
  n_kv_heads: u32,
  head_dim: u32,
  n_ctx: u32,
  pos0: u32,
  q_stride: u32,   // floats between rows of q (q is the start of each qkv row)
  out_stride: u32,
  scale: f32,      // 1 / sqrt(head_dim), or the architecture's query scale
  causal: u32,
  softcap: f32,    // 0: none
  window: u32,     // 0: none
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> qkv: array<f32>;
@group(0) @binding(2) var<storage, read> k_cache: array<f32>;
@group(0) @binding(3) var<storage, read> v_cache: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<storage, read> segments: array<u32>;

var<workgroup> q_s: array<f32, 2 * WG>;
var<workgroup> p_s: array<f32, WG>;
var<workgroup> red: array<f32, WG>;

fn reduce(li: u32, take_max: bool) -> f32 {
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    workgroupBarrier();
    if (li < s) {
      red[li] = select(red[li] + red[li + s], max(red[li], red[li + s]), take_max);
    }
  }
  workgroupBarrier();
  let r = red[0];
  workgroupBarrier();
  return r;
}

@compute @workgroup_size(WG)
fn attention(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  let h = wg.x;
  let t = wg.y;
  let hd = params.head_dim;
  let kv_head = h / (params.n_heads / params.n_kv_heads);
  var cache0 = kv_head * params.n_ctx * hd;
  var n_keys = params.pos0 + t + 1u;
  if (params.causal == 0u) {
    cache0 += (params.pos0 + segments[2u * t]) * hd;
    n_keys = segments[2u * t + 1u];
  } else if (params.window > 0u && n_keys > params.window) {
    cache0 += (n_keys - params.window) * hd;
    n_keys = params.window;
  }
  for (var d = li; d < hd; d += WG) {
    q_s[d] = qkv[t * params.q_stride + h * hd + d];
  }
  workgroupBarrier();
  var m = -3.0e38;
  var l = 0.0;
  var acc = 0.0;
  var acc2 = 0.0;  // dim li + WG
  for (var start = 0u; start < n_keys; start += WG) {
    let j = start + li;
    var s = -3.0e38;
    if (j < n_keys) {
      let k0 = cache0 + j * hd;
      var d = 0.0;
      for (var i = 0u; i < hd; i++) {
        d += q_s[i] * k_cache[k0 + i];
      }
      s = d * params.scale;
      if (params.softcap > 0.0) {
        s = params.softcap * tanh(clamp(s / params.softcap, -15.0, 15.0));
      }
    }
    red[li] = s;
    let m_new = max(m, reduce(li, true));
    let p = select(0.0, exp(s - m_new), j < n_keys);
    p_s[li] = p;
    red[li] = p;
    let tile_sum = reduce(li, false);
    let corr = exp(m - m_new);
    l = l * corr + tile_sum;
    acc *= corr;
    acc2 *= corr;
    let n = min(WG, n_keys - start);
    if (li < hd) {
      for (var jj = 0u; jj < n; jj++) {
        acc += p_s[jj] * v_cache[cache0 + (start + jj) * hd + li];
      }
    }
    if (li + WG < hd) {
      for (var jj = 0u; jj < n; jj++) {
        acc2 += p_s[jj] * v_cache[cache0 + (start + jj) * hd + li + WG];
      }
    }
    m = m_new;
    workgroupBarrier();
  }
  if (li < hd) {
    out[t * params.out_stride + h * hd + li] = acc / l;
  }
  if (li + WG < hd) {
    out[t * params.out_stride + h * hd + li + WG] = acc2 / l;
  }
}
