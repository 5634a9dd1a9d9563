// Greedy sampling on the GPU: the index of the largest value of each logits row (the first one on
// ties, as the CPU sampler), so a decode step reads back 4 bytes instead of the whole row.

const WG = 256u;

// Field order as PARAMS in argmax.js.
struct Params {
  n: u32,        // values per row (vocab_size)
  stride: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read_write> ids: array<u32>;

var<workgroup> best_v: array<f32, WG>;
var<workgroup> best_i: array<u32, WG>;

@compute @workgroup_size(WG)
fn argmax(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  let row = wg.x * params.stride;
  var v = -3.4e38;
  var idx = 0xffffffffu;
  for (var i = li; i < params.n; i += WG) {
    let x = logits[row + i];
    if (x > v) {
      v = x;
      idx = i;
    }
  }
  best_v[li] = v;
  best_i[li] = idx;
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    workgroupBarrier();
    if (li < s) {
      let ov = best_v[li + s];
      let oi = best_i[li + s];
      if (ov > best_v[li] || (ov == best_v[li] && oi < best_i[li])) {
        best_v[li] = ov;
        best_i[li] = oi;
      }
    }
  }
  workgroupBarrier();
  if (li == 0u) {
    ids[wg.x] = best_i[0];
  }
}
