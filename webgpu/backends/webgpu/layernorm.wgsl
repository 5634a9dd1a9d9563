// LayerNorm of token rows in place (an encoder's norms): x[t] = (x[t] - mean) / sqrt(var + eps) *
// weight + bias, one workgroup per row (each thread rewrites only the values it read). In place,
// because WebGPU does not let one dispatch bind a buffer both read-only and writable.

const WG = 256u;

// Field order as PARAMS in layernorm.js.
struct Params {
  n: u32,       // values per row
  stride: u32,  // floats between rows
  eps: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;

var<workgroup> partial: array<f32, WG>;

fn total(li: u32, v: f32) -> f32 {
  partial[li] = v;
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    workgroupBarrier();
    if (li < s) {
      partial[li] += partial[li + s];
    }
  }
  workgroupBarrier();
  let r = partial[0];
  workgroupBarrier();
  return r;
}

@compute @workgroup_size(WG)
fn layernorm(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  let r0 = wg.x * params.stride;
  var sum = 0.0;
  for (var i = li; i < params.n; i += WG) {
    sum += x[r0 + i];
  }
  let mean = total(li, sum) / f32(params.n);
  var ss = 0.0;
  for (var i = li; i < params.n; i += WG) {
    let d = x[r0 + i] - mean;
    ss += d * d;
  }
  let scale = inverseSqrt(total(li, ss) / f32(params.n) + params.eps);
  for (var i = li; i < params.n; i += WG) {
    x[r0 + i] = (x[r0 + i] - mean) * scale * weight[i] + bias[i];
  }
}
