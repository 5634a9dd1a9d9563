// RoPE angles, backend-neutral: the host computes cos/sin in f64 once per batch, every backend
// rotates with the same f32 table (so WASM and WebGPU agree on long positions).

/**
 * A table filler for a config's rope_theta and rope_scale (positions times it: linear rope
 * scaling): fill(out, pos0, n) writes n rows of n_rot/2 (cos, sin) pairs.
 */
export function ropeTable(c) {
  const scale = c.rope_scale ?? 1;
  const freqs = Float64Array.from({ length: c.n_rot / 2 }, (_, i) => scale * c.rope_theta ** (-(2 * i) / c.n_rot));
  return (out, pos0, n) => {
    for (let t = 0; t < n; t++) {
      for (let i = 0; i < freqs.length; i++) {
        const angle = (pos0 + t) * freqs[i];
        out[t * c.n_rot + 2 * i] = Math.cos(angle);
        out[t * c.n_rot + 2 * i + 1] = Math.sin(angle);
      }
    }
  };
}
