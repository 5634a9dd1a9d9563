// The forward-pass schedule of a decoder layer stack, backend-neutral: it calls the ops of
// webgpu/ops_contract.js on buffers the backend owns. Eight ops per layer for the llama family, so
// that a GPU backend can run each as one dispatch; Gemma 2/3's norms after attention and after the
// feed-forward add one op each.

export class Transformer {
  /** @param {import('./ops_contract.js').BackendOps} backend */
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
   * want: 'logits' resolves to rows logits_from..n-1 (vocab_size each, a view valid until the next
   * forward); 'argmax' to the arg-max of each of those rows; {sample: plan} to one token sampled
   * on the device from the last row (backends with ops.sample).
   */
  async forward(tokens, pos0, logits_from = tokens.length - 1, want = 'logits') {
    const c = this.config;
    const W = this.weights;
    const b = this.backend;
    const n = tokens.length;
    if (n > this.n_batch) throw new Error(`batch of ${n} tokens exceeds n_batch ${this.n_batch}`);
    if (pos0 + n > this.n_ctx) throw new Error(`positions up to ${pos0 + n} exceed the context of ${this.n_ctx}`);
    b.embed(W.token_embd, tokens, 'x', c.embed_scale ?? 1);
    b.setPositions(pos0, n);
    for (let l = 0; l < c.n_layers; l++) {
      const L = W.layers[l];
      b.rmsnorm('x', L.attn_norm, 'xb', n);
      const qkv = L.wqkv ? [{ W: L.wqkv }] : [{ W: L.wq, bias: L.bq }, { W: L.wk, bias: L.bk }, { W: L.wv, bias: L.bv }];
      b.matmuls('xb', n, qkv, 'qkv');
      b.ropeStore(l, n, L.q_norm ? { q: L.q_norm, k: L.k_norm } : null);
      b.attention(l, n);
      this.#residual('att', L.wo, L.attn_post_norm, n);
      b.rmsnorm('x', L.ffn_norm, 'xb', n);
      b.matmulGlu('xb', n, L.w_gate, L.w_up, 'hb', c.ffn_act ?? 'silu');
      this.#residual('hb', L.w_down, L.ffn_post_norm, n);
    }
    const m = n - logits_from;
    b.rmsnorm('x', W.output_norm, 'xb', n, logits_from);
    b.matmuls('xb', m, [{ W: W.output }], 'logits', false, c.final_softcap ?? 0);
    if (want === 'argmax') return b.argmax(m);
    return want.sample ? b.sample(m, want.sample) : b.logits(m);
  }

  // x += input . W^T, or x += rmsnorm(input . W^T) * post_norm (Gemma 2/3).
  #residual(input, W, post_norm, n) {
    const b = this.backend;
    if (!post_norm) return b.matmuls(input, n, [{ W }], 'x', true);
    b.matmuls(input, n, [{ W }], 'xb');
    b.rmsnormAdd('xb', post_norm, 'x', n);
  }
}
