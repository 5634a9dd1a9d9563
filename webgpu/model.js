// The model description, backend-neutral: hyper-parameters from GGUF metadata and the tensor
// table of a decoder: the llama family (llama, mistral, qwen2), Qwen3, Phi-3 and the Gemma family.
// Names and rules match models/reference.py (arch_rules).

export const SUPPORTED_ARCHS = ['llama', 'mistral', 'qwen2', 'qwen3', 'phi3', 'gemma', 'gemma2', 'gemma3'];
const NEOX_ROPE = new Set(['qwen2', 'qwen3', 'phi3', 'gemma', 'gemma2', 'gemma3']);
const GEMMA = new Set(['gemma', 'gemma2', 'gemma3']);
// Sliding-window layers: layer l slides when l % pattern < pattern - 1 (llama.cpp's swa pattern).
const SWA_PATTERN = { gemma2: 2, gemma3: 6 };
// Layer counts of the 27B models, which scale queries by 1/sqrt(dim / n_heads).
const BIG_GEMMA_LAYERS = { gemma2: 46, gemma3: 62 };

/**
 * The config fields an architecture's metadata implies beyond the shapes, as llama.cpp derives
 * them; {error} for rope scaling we do not run.
 */
export function archRules(arch, get, { n_layers, dim, n_heads, head_dim }) {
  const scaling = get('rope.scaling.type', 'none');
  if (scaling !== 'none' && scaling !== 'linear') return { error: `rope scaling "${scaling}"` };
  const out = {
    rope_neox: NEOX_ROPE.has(arch), rope_scale: scaling === 'linear' ? 1 / (get('rope.scaling.factor', 1) || 1) : 1,
    embed_scale: 1, ffn_act: 'silu', attn_scale: 1 / Math.sqrt(head_dim), attn_softcap: 0, final_softcap: 0,
    sliding_window: 0, swa_layers: null, rope_theta_swa: 0, rope_scale_swa: 1,
  };
  if (GEMMA.has(arch)) Object.assign(out, { embed_scale: Math.sqrt(dim), ffn_act: 'gelu' });
  const pattern = SWA_PATTERN[arch];
  if (pattern) {
    out.swa_layers = Array.from({ length: n_layers }, (_, l) => l % pattern < pattern - 1);
    out.sliding_window = get('attention.sliding_window', arch === 'gemma2' ? 4096 : 0);
    if (n_layers === BIG_GEMMA_LAYERS[arch]) out.attn_scale = 1 / Math.sqrt(dim / n_heads);
  }
  if (arch === 'gemma2') Object.assign(out, { attn_softcap: get('attn_logit_softcapping', 50), final_softcap: get('final_logit_softcapping', 30) });
  if (arch === 'gemma3') Object.assign(out, { rope_theta_swa: 10000, rope_scale_swa: 1 });
  return out;
}

/** A layer's RoPE {theta, scale}: sliding layers may have their own (Gemma 3). */
export function ropeOf(c, l) {
  return c.rope_theta_swa && c.swa_layers?.[l] ? { theta: c.rope_theta_swa, scale: c.rope_scale_swa } : { theta: c.rope_theta, scale: c.rope_scale };
}

/** A layer's sliding window in positions, 0 for full attention. */
export function windowOf(c, l) {
  return c.swa_layers?.[l] ? c.sliding_window : 0;
}
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
  const n_layers = get('block_count');
  const rules = archRules(arch, get, { n_layers, dim, n_heads, head_dim });
  if (rules.error) return refuse(`${rules.error} is not supported by our engine yet`);
  const embd = byName.get('token_embd.weight');
  const config = {
    arch,
    n_layers,
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
    ...rules,
  };
  // Phi-3's fused gate|up tensor becomes two views of its rows (no copy): gate rows, then up rows.
  const views = [];
  const rowsOf = (t, name, first, rows) => {
    const row_bytes = t.n_bytes / t.dims[1];
    const v = { ...t, name, dims: [t.dims[0], rows], offset: t.offset + first * row_bytes, n_bytes: rows * row_bytes, view_of: t.name };
    views.push(v);
    return v;
  };
  const layer = (i) => {
    const t = (name) => byName.get(`blk.${i}.${name}`) ?? null;
    const L = {
      attn_norm: t('attn_norm.weight'), wq: t('attn_q.weight'), wk: t('attn_k.weight'), wv: t('attn_v.weight'),
      wqkv: t('attn_qkv.weight'), bq: t('attn_q.bias'), bk: t('attn_k.bias'), bv: t('attn_v.bias'), wo: t('attn_output.weight'),
      q_norm: t('attn_q_norm.weight'), k_norm: t('attn_k_norm.weight'), attn_post_norm: t('post_attention_norm.weight'),
      ffn_norm: t('ffn_norm.weight'), w_gate: t('ffn_gate.weight'), w_up: t('ffn_up.weight'), w_down: t('ffn_down.weight'),
      ffn_post_norm: t('post_ffw_norm.weight'),
    };
    const up = L.w_up;
    if (!L.w_gate && up && up.dims[1] === 2 * config.hidden_dim) {
      L.w_gate = rowsOf(up, `${up.name}#gate`, 0, config.hidden_dim);
      L.w_up = rowsOf(up, `${up.name}#up`, config.hidden_dim, config.hidden_dim);
    }
    return L;
  };
  const layers = Array.from({ length: config.n_layers }, (_, i) => layer(i));
  const output = byName.get('output.weight') ?? embd;
  const shapeError = checkShapes(config, layers, embd, output, byName.get('output_norm.weight'));
  if (shapeError) return refuse(shapeError);
  // Llama 3.1+: each rope frequency divided by its factor. Read by the host (readRopeFreqs), not uploaded.
  const rope_freqs = byName.get('rope_freqs.weight') ?? null;
  if (rope_freqs && (rope_freqs.type_name !== 'F32' || rope_freqs.dims.length !== 1 || rope_freqs.dims[0] !== config.n_rot / 2)) {
    return refuse(`tensor rope_freqs.weight is ${rope_freqs.type_name} ${rope_freqs.dims.join('x')}, expected F32 ${config.n_rot / 2}`);
  }
  // What a backend uploads: every tensor, fused ones replaced by their views.
  const fused = new Set(views.map((v) => v.view_of));
  const upload = [...tensors.filter((t) => !fused.has(t.name) && t !== rope_freqs), ...views];
  return {
    config,
    tensors: { token_embd: embd, layers, output_norm: byName.get('output_norm.weight'), output, tied: output === embd, rope_freqs, upload },
    support,
  };
}

function refuse(reason) {
  return { config: null, tensors: null, support: { ok: false, reason } };
}

// Tensors no architecture we run has: their presence means a feature we would silently skip.
const UNKNOWN_FEATURES = [
  [/^rope_factors_(long|short)\.weight$/, 'long- and short-context rope frequency factors (Phi-3 128k)'],
  [/\.ffn_gate_inp\.weight$/, 'mixture-of-experts layers'],
  [/^blk\.\d+\.(attn_output|ffn_down|ffn_up|ffn_gate|attn_qkv)\.bias$/, 'projection biases other than q/k/v'],
];

function checkSupport(arch, byName) {
  if (!SUPPORTED_ARCHS.includes(arch)) {
    return { ok: false, reason: `architecture ${arch} is not one our engine runs (${SUPPORTED_ARCHS.join(', ')})` };
  }
  for (const [pattern, feature] of UNKNOWN_FEATURES) {
    const t = [...byName.keys()].find((name) => pattern.test(name));
    if (t) return { ok: false, reason: `tensor ${t}: ${feature} are not supported by our engine yet` };
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
    const qkv = L.wqkv
      ? [want(L.wqkv, `blk.${i}.attn_qkv.weight`, c.dim, q_dim + 2 * kv_dim)]
      : [want(L.wq, `blk.${i}.attn_q.weight`, c.dim, q_dim), want(L.wk, `blk.${i}.attn_k.weight`, c.dim, kv_dim),
        want(L.wv, `blk.${i}.attn_v.weight`, c.dim, kv_dim)];
    if (L.wqkv && (L.bq || L.bk || L.bv)) errors.push(`blk.${i} has both a fused q|k|v projection and separate biases`);
    if (!L.q_norm !== !L.k_norm) errors.push(`blk.${i} has a norm on q or on k, not both`);
    if (L.q_norm) errors.push(want(L.q_norm, `blk.${i}.attn_q_norm.weight`, c.head_dim, 1), want(L.k_norm, `blk.${i}.attn_k_norm.weight`, c.head_dim, 1));
    if (L.attn_post_norm) errors.push(want(L.attn_post_norm, `blk.${i}.post_attention_norm.weight`, c.dim, 1));
    if (L.ffn_post_norm) errors.push(want(L.ffn_post_norm, `blk.${i}.post_ffw_norm.weight`, c.dim, 1));
    errors.push(
      want(L.attn_norm, `blk.${i}.attn_norm.weight`, c.dim, 1), want(L.ffn_norm, `blk.${i}.ffn_norm.weight`, c.dim, 1),
      ...qkv, want(L.wo, `blk.${i}.attn_output.weight`, q_dim, c.dim),
      want(L.w_gate, `blk.${i}.ffn_gate.weight`, c.dim, c.hidden_dim), want(L.w_up, `blk.${i}.ffn_up.weight`, c.dim, c.hidden_dim),
      want(L.w_down, `blk.${i}.ffn_down.weight`, c.hidden_dim, c.dim),
    );
    for (const [b, n] of [[L.bq, q_dim], [L.bk, kv_dim], [L.bv, kv_dim]]) if (b) errors.push(want(b, b.name, n, 1));
  });
  return errors.find((e) => e) ?? null;
}

/**
 * A described model's config with its rope frequency factors (config.rope_freq_factors, Float32Array)
 * read from the shards, when it has them (Llama 3.1+'s rope_freqs.weight); the config as it is otherwise.
 */
export async function readRopeFreqs({ config, tensors }, blobs) {
  const t = tensors.rope_freqs;
  if (!t) return config;
  const bytes = await blobs[t.shard].slice(t.offset, t.offset + t.n_bytes).arrayBuffer();
  return { ...config, rope_freq_factors: new Float32Array(bytes) };
}

/** The schedule's weights: each tensor of describeModel's table replaced by handle(tensor) (null stays null). */
export function mapWeights(tensors, handle) {
  const h = (t) => (t ? handle(t) : null);
  return {
    token_embd: h(tensors.token_embd), output_norm: h(tensors.output_norm), output: h(tensors.output),
    layers: tensors.layers.map((L) => Object.fromEntries(Object.entries(L).map(([key, t]) => [key, h(t)]))),
  };
}

/** The tensors a backend uploads for a described model (or encoder): gguf.tensors, fused ones replaced by their views. */
export function uploadTensors(tensors, gguf_tensors) {
  return tensors.upload ?? gguf_tensors;
}

/** The tensors of describeModel's table that the schedule multiplies by (mat-vec weights). */
export function matmulTensors(tensors) {
  return [tensors.output, ...tensors.layers.flatMap((L) => [L.wq, L.wk, L.wv, L.wqkv, L.wo, L.w_gate, L.w_up, L.w_down])]
    .filter(Boolean);
}
