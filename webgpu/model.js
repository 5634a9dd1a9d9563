// The model description, backend-neutral: hyper-parameters from GGUF metadata and the tensor
// table of a llama-family model. Names match models/reference.py.

export const SUPPORTED_ARCHS = ['llama', 'mistral', 'qwen2'];
const NEOX_ROPE = new Set(['qwen2']);
// ggml types the CPU kernels run (webgpu/wasm/quants.h).
export const SUPPORTED_TYPES = new Set(['F32', 'F16', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q8_0', 'Q2_K', 'Q3_K', 'Q4_K', 'Q5_K', 'Q6_K']);

/** @returns {{config: object, tensors: object, support: {ok: boolean, reason: string}}} */
export function describeModel({ metadata, tensors }) {
  const byName = new Map(tensors.map((t) => [t.name, t]));
  const arch = metadata.get('general.architecture');
  const get = (key, dflt) => metadata.get(`${arch}.${key}`) ?? dflt;
  const support = checkSupport(arch, byName);
  if (!support.ok) return { config: null, tensors: null, support };

  const n_heads = get('attention.head_count');
  const dim = get('embedding_length');
  const head_dim = get('attention.key_length', dim / n_heads);
  const embd = byName.get('token_embd.weight');
  const config = {
    arch,
    n_layers: get('block_count'),
    dim,
    hidden_dim: get('feed_forward_length'),
    n_heads,
    n_kv_heads: get('attention.head_count_kv', n_heads),
    head_dim,
    n_rot: get('rope.dimension_count', head_dim),
    vocab_size: embd.dims[1],
    context_length: get('context_length'),
    rope_theta: get('rope.freq_base', 10000),
    rms_eps: get('attention.layer_norm_rms_epsilon'),
    rope_neox: NEOX_ROPE.has(arch),
  };
  const layer = (i) => {
    const t = (name) => byName.get(`blk.${i}.${name}`) ?? null;
    return {
      attn_norm: t('attn_norm.weight'), wq: t('attn_q.weight'), wk: t('attn_k.weight'), wv: t('attn_v.weight'),
      bq: t('attn_q.bias'), bk: t('attn_k.bias'), bv: t('attn_v.bias'), wo: t('attn_output.weight'),
      ffn_norm: t('ffn_norm.weight'), w_gate: t('ffn_gate.weight'), w_up: t('ffn_up.weight'), w_down: t('ffn_down.weight'),
    };
  };
  const layers = Array.from({ length: config.n_layers }, (_, i) => layer(i));
  const output = byName.get('output.weight') ?? embd;
  const shapeError = checkShapes(config, layers, embd, output, byName.get('output_norm.weight'));
  if (shapeError) return { config: null, tensors: null, support: { ok: false, reason: shapeError } };
  return {
    config,
    tensors: { token_embd: embd, layers, output_norm: byName.get('output_norm.weight'), output, tied: output === embd },
    support,
  };
}

function checkSupport(arch, byName) {
  if (!SUPPORTED_ARCHS.includes(arch)) {
    return { ok: false, reason: `architecture ${arch} is not in the llama family our engine runs (${SUPPORTED_ARCHS.join(', ')})` };
  }
  for (const t of byName.values()) {
    if (!SUPPORTED_TYPES.has(t.type_name)) return { ok: false, reason: `tensor ${t.name} is ${t.type_name}, which our kernels do not run yet` };
  }
  for (const name of ['token_embd.weight', 'output_norm.weight']) {
    if (!byName.has(name)) return { ok: false, reason: `tensor ${name} is missing` };
  }
  return { ok: true, reason: `our engine runs ${arch} with ${[...new Set([...byName.values()].map((t) => t.type_name))].join('/')}` };
}

// Every weight must have the shape the schedule assumes; say which one does not.
function checkShapes(c, layers, embd, output, output_norm) {
  const q_dim = c.n_heads * c.head_dim;
  const kv_dim = c.n_kv_heads * c.head_dim;
  const want = (t, name, cols, rows) => {
    if (!t) return `tensor ${name} is missing`;
    const [d0, d1 = 1] = t.dims;
    if (d0 !== cols || d1 !== rows) return `tensor ${t.name} is ${t.dims.join('x')}, expected ${cols}x${rows}`;
    return null;
  };
  const errors = [
    want(embd, 'token_embd.weight', c.dim, c.vocab_size),
    want(output, 'output.weight', c.dim, c.vocab_size),
    want(output_norm, 'output_norm.weight', c.dim, 1),
  ];
  if (c.n_heads % c.n_kv_heads) errors.push(`n_heads ${c.n_heads} is not a multiple of n_kv_heads ${c.n_kv_heads}`);
  if (c.dim % 32 || c.hidden_dim % 32 || c.head_dim % 4) errors.push('dimensions are not multiples of 32');
  layers.forEach((L, i) => {
    errors.push(
      want(L.attn_norm, `blk.${i}.attn_norm.weight`, c.dim, 1), want(L.ffn_norm, `blk.${i}.ffn_norm.weight`, c.dim, 1),
      want(L.wq, `blk.${i}.attn_q.weight`, c.dim, q_dim), want(L.wk, `blk.${i}.attn_k.weight`, c.dim, kv_dim),
      want(L.wv, `blk.${i}.attn_v.weight`, c.dim, kv_dim), want(L.wo, `blk.${i}.attn_output.weight`, q_dim, c.dim),
      want(L.w_gate, `blk.${i}.ffn_gate.weight`, c.dim, c.hidden_dim), want(L.w_up, `blk.${i}.ffn_up.weight`, c.dim, c.hidden_dim),
      want(L.w_down, `blk.${i}.ffn_down.weight`, c.hidden_dim, c.dim),
    );
    for (const [b, n] of [[L.bq, q_dim], [L.bk, kv_dim], [L.bv, kv_dim]]) if (b) errors.push(want(b, b.name, n, 1));
  });
  return errors.find((e) => e) ?? null;
}

/** The schedule's weights: each tensor of describeModel's table replaced by handle(tensor) (null stays null). */
export function mapWeights(tensors, handle) {
  const h = (t) => (t ? handle(t) : null);
  return {
    token_embd: h(tensors.token_embd), output_norm: h(tensors.output_norm), output: h(tensors.output),
    layers: tensors.layers.map((L) => Object.fromEntries(Object.entries(L).map(([key, t]) => [key, h(t)]))),
  };
}

/** The tensors of describeModel's table that the schedule multiplies by (mat-vec weights). */
export function matmulTensors(tensors) {
  return [tensors.output, ...tensors.layers.flatMap((L) => [L.wq, L.wk, L.wv, L.wo, L.w_gate, L.w_up, L.w_down])]
    .filter(Boolean);
}
