// Sampling on the GPU, the same steps as the CPU sampler (webgpu/sampler.js) on one logits row:
// penalties on the recent tokens, the top-k candidates (radix select on the values' bit patterns,
// ties broken towards the lower id), sorted; then temperature, min-p, top-p and a pick with the
// host's uniform draw. A decode step then reads back one token id.

const WG = 256u;     // invocations, and the most candidates (top-k) the kernel keeps
const BITS = 4u;     // radix digit: 8 passes over the row pick the k-th largest value
const BINS = 16u;

// Field order as PARAMS in sample.js.
struct Params {
  n: u32,                   // values in the row (vocab_size)
  k: u32,                   // top-k, 1..WG
  n_penalized: u32,         // entries of `penalized`
  r: f32,                   // the host's uniform draw in [0, 1)
  inv_temperature: f32,
  top_p: f32,
  min_p: f32,
  repetition_penalty: f32,
  frequency_penalty: f32,
  presence_penalty: f32,
  _pad0: u32,
  _pad1: u32,
  penalized: array<vec4<u32>, 16>, // recent distinct token ids, id | count << 24, 4 per vec4
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> logits: array<f32>;
@group(0) @binding(2) var<storage, read_write> ids: array<u32>;

var<workgroup> hist: array<atomic<u32>, BINS>;
var<workgroup> digit: u32;
var<workgroup> remaining: u32;      // candidates still to choose among values with the prefix so far
var<workgroup> n_above: atomic<u32>;
var<workgroup> ties_before: array<u32, WG>;
var<workgroup> cand_key: array<u32, WG>;
var<workgroup> cand_id: array<u32, WG>;
var<workgroup> probs: array<f32, WG>;

// Unsigned keys in the order of the floats: larger float, larger key.
fn order_key(x: f32) -> u32 {
  let b = bitcast<u32>(x);
  return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
}

fn key_value(k: u32) -> f32 {
  return bitcast<f32>(select(~k, k & 0x7fffffffu, (k & 0x80000000u) != 0u));
}

// a comes before b: larger value first, then lower id.
fn before(ka: u32, ia: u32, kb: u32, ib: u32) -> bool {
  return ka > kb || (ka == kb && ia < ib);
}

@compute @workgroup_size(WG)
fn sample(@builtin(local_invocation_index) li: u32) {
  let n = params.n;
  let k = params.k;

  // Penalties: each distinct recent token once, in place (the row is rewritten every step).
  if (li < params.n_penalized) {
    let e = params.penalized[li / 4u][li % 4u];
    let id = e & 0xffffffu;
    var l = logits[id];
    let rp = params.repetition_penalty;
    if (rp != 1.0) {
      l = select(l * rp, l / rp, l > 0.0);
    }
    l -= f32(e >> 24u) * params.frequency_penalty + params.presence_penalty;
    logits[id] = l;
  }
  storageBarrier();
  workgroupBarrier();

  // Radix select: the key of the k-th largest value, BITS bits per pass from the top.
  var prefix = 0u;
  var mask = 0u;
  if (li == 0u) {
    remaining = k;
  }
  for (var step = 0u; step < 32u / BITS; step++) {
    let shift = 32u - BITS * (step + 1u);
    if (li < BINS) {
      atomicStore(&hist[li], 0u);
    }
    workgroupBarrier();
    // Zeroed explicitly: SwiftShader kept the counts of the previous pass in a bare `var count`.
    var count = array<u32, BINS>();
    for (var i = li; i < n; i += WG) {
      let key = order_key(logits[i]);
      if ((key & mask) == prefix) {
        count[(key >> shift) & (BINS - 1u)] += 1u;
      }
    }
    for (var d = 0u; d < BINS; d++) {
      if (count[d] != 0u) {
        atomicAdd(&hist[d], count[d]);
      }
    }
    workgroupBarrier();
    if (li == 0u) {
      // The digit whose bin holds the remaining-th largest, counting down from the top bin.
      var above = 0u;
      var d = BINS - 1u;
      loop {
        let c = atomicLoad(&hist[d]);
        if (above + c >= remaining || d == 0u) {
          break;
        }
        above += c;
        d -= 1u;
      }
      digit = d;
      remaining -= above;
    }
    workgroupBarrier();
    prefix |= digit << shift;
    mask |= (BINS - 1u) << shift;
    workgroupBarrier();
  }
  let threshold = prefix;
  let n_ties = remaining; // values equal to the threshold to keep: those of the lowest ids

  // Collect: every value above the threshold, and the first n_ties equal to it. Each invocation
  // scans one contiguous chunk, so ties are ranked in id order by a prefix sum over the chunks.
  let chunk = (n + WG - 1u) / WG;
  let lo = min(li * chunk, n);
  let hi = min(lo + chunk, n);
  var mine = 0u;
  for (var i = lo; i < hi; i++) {
    mine += select(0u, 1u, order_key(logits[i]) == threshold);
  }
  ties_before[li] = mine;
  cand_key[li] = 0u;
  cand_id[li] = 0xffffffffu;
  if (li == 0u) {
    atomicStore(&n_above, 0u);
  }
  workgroupBarrier();
  if (li == 0u) {
    var sum = 0u;
    for (var j = 0u; j < WG; j++) {
      let c = ties_before[j];
      ties_before[j] = sum;
      sum += c;
    }
  }
  workgroupBarrier();
  var rank = ties_before[li];
  let first_tie = k - n_ties;
  for (var i = lo; i < hi; i++) {
    let key = order_key(logits[i]);
    if (key > threshold) {
      let at = atomicAdd(&n_above, 1u);
      cand_key[at] = key;
      cand_id[at] = i;
    } else if (key == threshold) {
      if (rank < n_ties) {
        cand_key[first_tie + rank] = key;
        cand_id[first_tie + rank] = i;
      }
      rank += 1u;
    }
  }

  // Bitonic sort of the WG slots (empty ones last): larger value first, then lower id.
  for (var size = 2u; size <= WG; size <<= 1u) {
    for (var stride = size >> 1u; stride > 0u; stride >>= 1u) {
      workgroupBarrier();
      let j = li ^ stride;
      if (j > li) {
        let ka = cand_key[li];
        let ia = cand_id[li];
        let kb = cand_key[j];
        let ib = cand_id[j];
        if (((li & size) == 0u) == before(kb, ib, ka, ia)) {
          cand_key[li] = kb;
          cand_id[li] = ib;
          cand_key[j] = ka;
          cand_id[j] = ia;
        }
      }
    }
  }
  workgroupBarrier();

  // Temperature, min-p, top-p and the pick, as the CPU sampler does them.
  if (li == 0u) {
    let top = key_value(cand_key[0]);
    var sum = 0.0;
    for (var i = 0u; i < k; i++) {
      let p = exp((key_value(cand_key[i]) - top) * params.inv_temperature);
      probs[i] = p;
      sum += p;
    }
    for (var i = 0u; i < k; i++) {
      probs[i] /= sum;
    }
    var m = k;
    if (params.min_p > 0.0) {
      while (m > 1u && probs[m - 1u] < params.min_p * probs[0]) {
        m -= 1u;
      }
    }
    if (params.top_p < 1.0) {
      var mass = 0.0;
      for (var i = 0u; i < m; i++) {
        mass += probs[i];
        if (mass >= params.top_p) {
          m = i + 1u;
          break;
        }
      }
    }
    var kept = 0.0;
    for (var i = 0u; i < m; i++) {
      kept += probs[i];
    }
    var r = params.r * kept;
    var chosen = cand_id[m - 1u];
    for (var i = 0u; i < m; i++) {
      r -= probs[i];
      if (r <= 0.0) {
        chosen = cand_id[i];
        break;
      }
    }
    ids[0] = chosen;
  }
}
