// RMSNorm of token rows: dst[t] = src[from + t] / rms(src[from + t]) * weight, or dst[t] += that
// (accumulate: Gemma 2/3's norm after a projection, into the residual); one workgroup per row.

const WG = 256u;

// Field order as PARAMS in rmsnorm.js.
struct Params {
  n: u32,           // values per row
  src_stride: u32,
  dst_stride: u32,
  first_row: u32,   // first source row
  eps: f32,
  accumulate: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;

var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG)
fn rmsnorm(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  let s0 = (params.first_row + wg.x) * params.src_stride;
  let d0 = wg.x * params.dst_stride;
  var ss = 0.0;
  for (var i = li; i < params.n; i += WG) {
    let v = src[s0 + i];
    ss += v * v;
  }
  partial[li] = ss;
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    workgroupBarrier();
    if (li < s) {
      partial[li] += partial[li + s];
    }
  }
  workgroupBarrier();
  let scale = inverseSqrt(partial[0] / f32(params.n) + params.eps);
  for (var i = li; i < params.n; i += WG) {
    let v = src[s0 + i] * scale * weight[i];
    dst[d0 + i] = select(v, dst[d0 + i] + v, params.accumulate == 1u);
  }
}
