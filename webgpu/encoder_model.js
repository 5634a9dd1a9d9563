// The description of a BERT-family encoder (general.architecture "bert"), backend-neutral:
// hyper-parameters from GGUF metadata and its tensor table. Names follow llama.cpp's GGUF names.

const POOLING = { 1: 'mean', 2: 'cls' };

/** @returns {{config: object, tensors: object, support: {ok: boolean, reason: string}}} */
export function describeEncoder({ metadata, tensors }) {
  const byName = new Map(tensors.map((t) => [t.name, t]));
  const arch = metadata.get('general.architecture');
  const refuse = (reason) => ({ config: null, tensors: null, support: { ok: false, reason } });
  if (arch !== 'bert') return refuse(`architecture ${arch} is not an encoder our engine runs (bert)`);
  const get = (key, dflt) => metadata.get(`${arch}.${key}`) ?? dflt;
  const dim = get('embedding_length');
  const n_heads = get('attention.head_count');
  const pooling = POOLING[get('pooling_type', 1)];
  if (!pooling) return refuse(`pooling type ${get('pooling_type')} is not mean or CLS pooling`);
  const embd = byName.get('token_embd.weight');
  const config = {
    arch, n_layers: get('block_count'), dim, hidden_dim: get('feed_forward_length'), n_heads, n_kv_heads: n_heads,
    head_dim: dim / n_heads, n_rot: 0, vocab_size: embd?.dims[1], context_length: get('context_length'),
    norm_eps: get('attention.layer_norm_epsilon', 1e-12), pooling, encoder: true, rope_theta: 10000,
  };
  const t = (name) => byName.get(name) ?? null;
  const layer = (i) => {
    const b = (name) => t(`blk.${i}.${name}`);
    return {
      wq: b('attn_q.weight'), bq: b('attn_q.bias'), wk: b('attn_k.weight'), bk: b('attn_k.bias'), wv: b('attn_v.weight'),
      bv: b('attn_v.bias'), wo: b('attn_output.weight'), bo: b('attn_output.bias'), attn_norm: b('attn_output_norm.weight'),
      attn_norm_b: b('attn_output_norm.bias'), w_up: b('ffn_up.weight'), b_up: b('ffn_up.bias'), w_down: b('ffn_down.weight'),
      b_down: b('ffn_down.bias'), out_norm: b('layer_output_norm.weight'), out_norm_b: b('layer_output_norm.bias'),
    };
  };
  const table = {
    token_embd: embd, position_embd: t('position_embd.weight'), token_types: t('token_types.weight'),
    embd_norm: t('token_embd_norm.weight'), embd_norm_b: t('token_embd_norm.bias'),
    layers: Array.from({ length: config.n_layers }, (_, i) => layer(i)),
  };
  const error = checkShapes(config, table);
  if (error) return refuse(error);
  const types = [...new Set(tensors.map((x) => x.type_name))].join('/');
  return { config, tensors: table, support: { ok: true, reason: `our engine runs bert with ${types}` } };
}

function checkShapes(c, T) {
  const d = c.dim;
  const h = c.hidden_dim;
  const want = (x, name, cols, rows = 1) => {
    if (!x) return `tensor ${name} is missing`;
    const [d0, d1 = 1] = x.dims;
    return d0 === cols && d1 === rows ? null : `tensor ${x.name} is ${x.dims.join('x')}, expected ${cols}x${rows}`;
  };
  const errors = [
    want(T.token_embd, 'token_embd.weight', d, c.vocab_size), want(T.embd_norm, 'token_embd_norm.weight', d),
    want(T.embd_norm_b, 'token_embd_norm.bias', d),
    T.position_embd && T.position_embd.dims[1] < c.context_length ? `position_embd.weight has fewer rows than the ${c.context_length}-token context` : null,
    want(T.position_embd, 'position_embd.weight', d, T.position_embd?.dims[1] ?? 0),
    T.token_types ? want(T.token_types, 'token_types.weight', d, T.token_types.dims[1]) : null,
  ];
  if (d % 32 || h % 32 || c.head_dim % 4) errors.push('dimensions are not multiples of 32');
  T.layers.forEach((L, i) => {
    const n = (s) => `blk.${i}.${s}`;
    errors.push(
      want(L.wq, n('attn_q.weight'), d, d), want(L.wk, n('attn_k.weight'), d, d), want(L.wv, n('attn_v.weight'), d, d),
      want(L.wo, n('attn_output.weight'), d, d), want(L.w_up, n('ffn_up.weight'), d, h), want(L.w_down, n('ffn_down.weight'), h, d),
      ...[['bq', 'attn_q.bias', d], ['bk', 'attn_k.bias', d], ['bv', 'attn_v.bias', d], ['bo', 'attn_output.bias', d],
        ['b_up', 'ffn_up.bias', h], ['b_down', 'ffn_down.bias', d], ['attn_norm', 'attn_output_norm.weight', d],
        ['attn_norm_b', 'attn_output_norm.bias', d], ['out_norm', 'layer_output_norm.weight', d],
        ['out_norm_b', 'layer_output_norm.bias', d]].map(([key, name, cols]) => want(L[key], n(name), cols)),
    );
  });
  return errors.find((e) => e) ?? null;
}

/** The table with each tensor replaced by handle(tensor) (null stays null). */
export function mapEncoderWeights(T, handle) {
  const h = (x) => (x ? handle(x) : null);
  const { layers, ...top } = T;
  return {
    ...Object.fromEntries(Object.entries(top).map(([k, x]) => [k, h(x)])),
    layers: layers.map((L) => Object.fromEntries(Object.entries(L).map(([k, x]) => [k, h(x)]))),
  };
}

/** The tensors the encoder multiplies by. */
export function encoderMatmulTensors(T) {
  return T.layers.flatMap((L) => [L.wq, L.wk, L.wv, L.wo, L.w_up, L.w_down]);
}

/** The tokens an input may have (n_ctx) and the tokens of one pass (n_batch), for an encoder. */
export function encoderWindow(model, gguf) {
  // Inputs are cut where sentence-transformers cuts them, when the converter recorded it.
  const n_ctx = Math.min(model.config.context_length, gguf.metadata.get('sentence_transformers.max_seq_length') ?? Infinity);
  return { n_ctx, n_batch: Math.max(n_ctx, 512) }; // short texts share one pass
}
