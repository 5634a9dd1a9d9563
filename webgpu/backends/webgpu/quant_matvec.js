// The quantized-weight kernels of quant_matvec.wgsl: fused dequantize + mat-vec (with the q|k|v,
// residual-add and SwiGLU variants) and the embedding lookup. Owns their pipelines (one per set of
// override constants), the uniform packing and the shape checks.

import { spread } from './dispatcher.js';
import { shaderModule } from './shader.js';
import { uniformStruct } from './uniforms.js';

export const MAX_PARTS = 4;
const WG = 64; // invocations per matvec workgroup, as WG in the WGSL: one row per subgroup
const TILE_T = 8; // tokens per workgroup
const DECODE_ROWS = 4; // rows per subgroup of matvec_decode (one token)
const EMBED_WG = 64;
export const MODE = { write: 0, accumulate: 1, swiglu: 2, gelu: 3, geglu: 4, softcap: 5 };
const GATED = new Set([MODE.swiglu, MODE.geglu]);
// ggml types the kernels read, and the elements per block of each.
export const BLOCK_ELEMS = { 0: 1, 1: 1, 2: 32, 3: 32, 6: 32, 7: 32, 8: 32, 10: 256, 11: 256, 12: 256, 13: 256, 14: 256 };

export const PARAMS = uniformStruct([
  ['n_cols', 'u32'], ['n_tokens', 'u32'], ['x_stride', 'u32'], ['x_offset', 'u32'], ['out_stride', 'u32'],
  ['out_offset', 'u32'], ['n_rows', 'u32'], ['scalar', 'f32'], ['part_end', 'vec4<u32>'], ['tokens', 'array<vec4<u32>, 16>'],
]);
const NO_TOKENS = new Uint32Array(64);

export class QuantMatvec {
  /** subgroup_min_size: the adapter's smallest subgroup (fewest rows per workgroup). */
  static async create(device, { subgroup_min_size = 4 } = {}) {
    return new QuantMatvec(device, await shaderModule(device, 'quant_matvec.wgsl'), subgroup_min_size);
  }

  constructor(device, module, subgroup_min_size) {
    this.device = device;
    this.module = module;
    this.rows_per_wg = Math.max(1, Math.floor(WG / subgroup_min_size));
    this.pipelines = new Map();
    this.max_groups = device.limits.maxComputeWorkgroupsPerDimension;
  }

  #pipeline(entryPoint, types, mode = MODE.write, has_bias = false) {
    const t = [0, 1, 2, 3].map((i) => types[i] ?? types[0]);
    const key = `${entryPoint}:${t.join(',')}:${mode}:${has_bias}`;
    if (!this.pipelines.has(key)) {
      const constants = { TYPE0: t[0], TYPE1: t[1], TYPE2: t[2], TYPE3: t[3], MODE: mode, HAS_BIAS: has_bias ? 1 : 0 };
      this.pipelines.set(key, this.device.createComputePipeline({
        label: `quant_matvec ${key}`, layout: 'auto', compute: { module: this.module, entryPoint, constants },
      }));
    }
    return this.pipelines.get(key);
  }

  /**
   * out rows [t, out_offset + r] (=, +=) parts' rows . x[t] (+ bias), or SwiGLU of parts 0 and 1,
   * or GeGLU of them, or GELU of the (biased) rows, or the rows soft-capped at `scalar`.
   * parts: [{buffer, rows, type}] (rows concatenated); x, out, bias: GPUBuffers; strides in floats.
   * Returns a call for Dispatcher.dispatch.
   */
  matvec({ key, parts, n_cols, n_tokens, x, x_stride, x_offset = 0, out, out_stride, out_offset = 0,
    mode = MODE.write, bias = null, scalar = 0 }) {
    checkParts(parts, n_cols);
    if (GATED.has(mode) && (parts.length !== 2 || parts[0].rows !== parts[1].rows)) {
      throw new Error(`a gated unit needs a gate and an up part of the same rows; got ${parts.map((p) => p.rows).join(', ')}`);
    }
    if (mode === MODE.softcap && !(scalar > 0)) throw new Error(`soft-capping needs a cap above 0, not ${scalar}`);
    if (n_cols % 32 || x_stride % 4 || x_offset % 4) throw new Error(`x rows must be whole vec4s and chunks (n_cols ${n_cols}, stride ${x_stride})`);
    const n_rows = GATED.has(mode) ? parts[0].rows : parts.reduce((n, p) => n + p.rows, 0);
    const weights = [0, 1, 2, 3].map((i) => (parts[i] ?? parts[0]).buffer);
    const decode = n_tokens === 1;
    const entry = decode ? 'matvec_decode' : 'matvec';
    const rows_per_group = decode ? this.rows_per_wg * DECODE_ROWS : this.rows_per_wg;
    return {
      key: `${key}:${entry}`, struct: PARAMS,
      pipeline: this.#pipeline(entry, parts.map((p) => p.type), mode, bias !== null),
      params: { n_cols, n_tokens, x_stride, x_offset, out_stride, out_offset, n_rows, scalar,
        part_end: partEnds(parts), tokens: NO_TOKENS },
      bindings: [[1, x], [2, out], [3, bias ?? x], ...weights.map((w, i) => [4 + i, w])],
      groups: spread(Math.ceil(n_rows / rows_per_group), Math.ceil(n_tokens / TILE_T), this.max_groups),
    };
  }

  /** out rows t = dequantized table rows tokens[t] (n <= 64), times scale. */
  embed({ key, parts, n_cols, tokens, out, out_stride, scale = 1 }) {
    checkParts(parts, n_cols);
    if (tokens.length > 64) throw new Error(`embed takes at most 64 tokens, got ${tokens.length}`);
    const n_rows = parts.reduce((n, p) => n + p.rows, 0);
    const ids = new Uint32Array(64);
    tokens.forEach((id, t) => {
      if (!(Number.isInteger(id) && id >= 0 && id < n_rows)) throw new RangeError(`token id ${id} is outside the vocabulary`);
      ids[t] = id;
    });
    const weights = [0, 1, 2, 3].map((i) => (parts[i] ?? parts[0]).buffer);
    return {
      key, struct: PARAMS,
      pipeline: this.#pipeline('embed', parts.map((p) => p.type)),
      params: { n_cols, n_tokens: tokens.length, x_stride: 0, x_offset: 0, out_stride, out_offset: 0, n_rows, scalar: scale,
        part_end: partEnds(parts), tokens: ids },
      bindings: [[2, out], ...weights.map((w, i) => [4 + i, w])],
      groups: [Math.ceil(n_cols / 32 / EMBED_WG), tokens.length, 1],
    };
  }
}

function checkParts(parts, n_cols) {
  if (parts.length < 1 || parts.length > MAX_PARTS) throw new Error(`a dispatch takes 1 to ${MAX_PARTS} weight parts, got ${parts.length}`);
  for (const p of parts) {
    const block = BLOCK_ELEMS[p.type];
    if (!block) throw new Error(`no WebGPU kernel reads ggml type ${p.type}`);
    if (n_cols % Math.max(block, 32)) throw new Error(`rows of ${n_cols} are not whole ${block}-element blocks`);
  }
}

function partEnds(parts) {
  const ends = new Uint32Array(4);
  let end = 0;
  parts.forEach((p, i) => (ends[i] = end += p.rows));
  for (let i = parts.length; i < 4; i++) ends[i] = end;
  return ends;
}
