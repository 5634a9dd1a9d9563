// Which tokens the KV cache holds, so a new request reuses the prefix it shares with the last one
// (a chat's earlier turns are not prefilled again).

export class KVCache {
  constructor(n_ctx) {
    this.n_ctx = n_ctx;
    this.tokens = []; // tokens whose keys and values are in the cache, positions 0..n-1
  }

  get n_past() {
    return this.tokens.length;
  }

  /** How many leading tokens of `tokens` are cached already; at least one token is always left to run. */
  reusable(tokens) {
    let n = 0;
    const max = Math.min(this.tokens.length, tokens.length - 1);
    while (n < max && this.tokens[n] === tokens[n]) n++;
    return n;
  }

  /** Forget everything after position n. */
  truncate(n) {
    this.tokens.length = Math.min(n, this.tokens.length);
  }

  append(tokens) {
    if (this.tokens.length + tokens.length > this.n_ctx) throw new Error('KV cache overflow');
    for (const t of tokens) this.tokens.push(t);
  }

  clear() {
    this.tokens = [];
  }
}
