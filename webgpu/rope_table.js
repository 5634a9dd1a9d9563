// RoPE angles, backend-neutral: the host computes cos/sin in f64 once per batch, every backend
// rotates with the same f32 table (so WASM and WebGPU agree on long positions).

import { ropeOf } from './model.js';

/**
 * A table filler for a config's rope_theta and rope_scale (positions times it: linear rope
 * scaling), each frequency divided by its factor where the model has them (rope_freq_factors,
 * Llama 3.1+): fill(out, pos0, n) writes n rows of n_rot/2 (cos, sin) pairs.
 */
export function ropeTable(c) {
  const scale = c.rope_scale ?? 1;
  const factor = (i) => c.rope_freq_factors?.[i] ?? 1;
  const freqs = Float64Array.from({ length: c.n_rot / 2 }, (_, i) => (scale * c.rope_theta ** (-(2 * i) / c.n_rot)) / factor(i));
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

/**
 * The distinct RoPE tables of a config's layers (Gemma 3's sliding layers have their own base):
 * {tables: [{index, fill}], of_layer: the table of each layer}.
 */
export function layerRopeTables(c) {
  const byKey = new Map();
  const of_layer = Array.from({ length: c.n_layers }, (_, l) => {
    const { theta, scale } = ropeOf(c, l);
    const key = `${theta}:${scale}`;
    if (!byKey.has(key)) byKey.set(key, { index: byKey.size, fill: ropeTable({ ...c, rope_theta: theta, rope_scale: scale }) });
    return byKey.get(key);
  });
  return { tables: [...byKey.values()], of_layer };
}
