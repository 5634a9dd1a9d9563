// The forward-pass schedule of a BERT-family encoder, backend-neutral: the ops of
// webgpu/ops_contract.js (and its encoder ops) on buffers the backend owns. Several token sequences
// go through one pass packed end to end; attention stays inside each sequence. A sentence
// embedding is the mean (or [CLS]) of the last layer's rows, L2-normalized, as sentence-transformers.

export class Encoder {
  /** @param {import('./ops_contract.js').BackendOps & import('./ops_contract.js').EncoderOps} backend */
  constructor(config, weights, backend, { n_batch }) {
    this.config = config;
    this.weights = weights;
    this.backend = backend;
    this.n_batch = n_batch; // tokens per pass at most
  }

  /** Unit-length embeddings (Float32Array of dim each) of token sequences, all in one pass. */
  async embed(sequences) {
    const c = this.config;
    const W = this.weights;
    const b = this.backend;
    const n = sequences.reduce((s, q) => s + q.length, 0);
    if (n > this.n_batch) throw new Error(`${n} tokens exceed the encoder's ${this.n_batch} per pass`);
    if (sequences.some((q) => q.length === 0 || q.length > c.context_length)) {
      throw new Error(`each sequence needs 1..${c.context_length} tokens`);
    }
    const tokens = sequences.flat();
    const positions = sequences.flatMap((q) => q.map((_, i) => i));
    let at = 0;
    const segments = sequences.map((q) => {
      const segment = [at, q.length]; // [first row, rows]
      at += q.length;
      return segment;
    });
    b.embed(W.token_embd, tokens, 'x');
    b.addRows(W.position_embd, positions, 'x');
    if (W.token_types) b.addRows(W.token_types, new Array(n).fill(0), 'x');
    b.layernorm('x', W.embd_norm, W.embd_norm_b, 'x', n);
    b.setPositions(0, n);
    for (let l = 0; l < c.n_layers; l++) {
      const L = W.layers[l];
      b.matmuls('x', n, [{ W: L.wq, bias: L.bq }, { W: L.wk, bias: L.bk }, { W: L.wv, bias: L.bv }], 'qkv');
      b.ropeStore(l, n); // n_rot is 0: the keys and values are only stored
      b.attention(l, n, segments);
      b.matmuls('att', n, [{ W: L.wo, bias: L.bo }], 'x', true);
      b.layernorm('x', L.attn_norm, L.attn_norm_b, 'x', n);
      b.matmulGelu('x', n, L.w_up, L.b_up, 'hb');
      b.matmuls('hb', n, [{ W: L.w_down, bias: L.b_down }], 'x', true);
      b.layernorm('x', L.out_norm, L.out_norm_b, 'x', n);
    }
    const x = await b.rows('x', n);
    return segments.map(([start, len]) => pool(x, start, len, c.dim, c.pooling));
  }
}

/** Mean of rows start..start+len-1 (or the first row, for CLS pooling), then L2-normalized. */
function pool(x, start, len, dim, pooling) {
  const out = new Float64Array(dim);
  const rows = pooling === 'cls' ? 1 : len;
  for (let t = start; t < start + rows; t++) for (let i = 0; i < dim; i++) out[i] += x[t * dim + i];
  let norm = 0;
  for (let i = 0; i < dim; i++) norm += out[i] * out[i];
  const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0;
  return Float32Array.from(out, (v) => v * scale);
}
