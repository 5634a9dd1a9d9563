// The forward-pass schedule of a llama-family layer stack, backend-neutral: it calls the backend's
// ops on buffers the backend owns. The WASM backend implements them with C kernels; a WebGPU one
// would implement the same ops with shaders.
//
// Buffers (n = tokens in the batch): x, xb, xb2 (n, dim); q, att (n, n_heads*head_dim);
// k, v (n, n_kv_heads*head_dim); hb, hb2 (n, hidden_dim); logits (n, vocab_size).

export class Transformer {
  constructor(config, weights, backend, { n_ctx, n_batch }) {
    this.config = config;
    this.weights = weights;
    this.backend = backend;
    this.n_ctx = n_ctx;
    this.n_batch = n_batch;
  }

  /**
   * Run tokens at positions pos0.. through the model, filling the KV cache.
   * logits_from: the first batch row whose logits are needed (n-1 for the next token only).
   * Returns the backend's logits view: rows logits_from..n-1, vocab_size each.
   */
  forward(tokens, pos0, logits_from = tokens.length - 1) {
    const c = this.config;
    const W = this.weights;
    const b = this.backend;
    const n = tokens.length;
    if (n > this.n_batch) throw new Error(`batch of ${n} tokens exceeds n_batch ${this.n_batch}`);
    if (pos0 + n > this.n_ctx) throw new Error(`positions up to ${pos0 + n} exceed the context of ${this.n_ctx}`);
    b.embed(W.token_embd, tokens, 'x');
    b.ropeTable(pos0, n);
    for (let l = 0; l < c.n_layers; l++) {
      const L = W.layers[l];
      b.rmsnorm('x', L.attn_norm, 'xb', n);
      b.matmuls('xb', n, [[L.wq, 'q'], [L.wk, 'k'], [L.wv, 'v']]);
      if (L.bq) b.addBias('q', L.bq, n);
      if (L.bk) b.addBias('k', L.bk, n);
      if (L.bv) b.addBias('v', L.bv, n);
      b.rope('q', c.n_heads, n);
      b.rope('k', c.n_kv_heads, n);
      b.kvStore(l, pos0, n);
      b.attention(l, pos0, n);
      b.matmuls('att', n, [[L.wo, 'xb2']]);
      b.add('x', 'xb2', n);
      b.rmsnorm('x', L.ffn_norm, 'xb', n);
      b.matmuls('xb', n, [[L.w_gate, 'hb'], [L.w_up, 'hb2']]);
      b.swiglu('hb', 'hb2', n);
      b.matmuls('hb', n, [[L.w_down, 'xb2']]);
      b.add('x', 'xb2', n);
    }
    const m = n - logits_from;
    b.rmsnorm('x', W.output_norm, 'xb', n, logits_from);
    b.matmuls('xb', m, [[W.output, 'logits']]);
    return b.logits(m);
  }
}
