// Constrained decoding: the tokens a grammar allows next, and sampling among only those.
//
// Sampling checks the token the sampler picks first: one walk of a few bytes, and almost always
// allowed. Only when it is refused is the full mask computed, by walking the vocabulary's byte
// trie through the grammar (a branch stops at its first refused byte), and the sampler runs again
// on the masked logits. Accepting an allowed pick, else sampling the masked row, draws from exactly
// the distribution restricted to allowed tokens (llama.cpp samples with grammars the same way).
// A token is allowed only if the shortest completion after it still fits the tokens left, so a
// reply whose budget covers the schema's shortest sentence always ends complete.

import { GrammarMatcher } from './grammar.js';
import { argmax } from './sampler.js';

const MASK_CACHE_SIZE = 256;
const tries = new WeakMap();

/** The vocabulary's tokens as a byte trie (special tokens left out: a grammar never emits them). */
export class VocabTrie {
  static of(tokenizer) {
    let trie = tries.get(tokenizer);
    if (!trie) tries.set(tokenizer, (trie = new VocabTrie(tokenizer)));
    return trie;
  }

  constructor(tokenizer) {
    this.n_vocab = tokenizer.tokens.length;
    this.bytes = new Array(this.n_vocab);
    const special = new Set(tokenizer.specials);
    // Node 0 is the root; children: Map(byte -> node); ends: token ids whose bytes end here.
    const children = [new Map()];
    const ends = [[]];
    for (let id = 0; id < this.n_vocab; id++) {
      const b = tokenizer.tokenBytes(id);
      this.bytes[id] = b;
      if (special.has(id) || b.length === 0) continue;
      let n = 0;
      for (const byte of b) {
        let c = children[n].get(byte);
        if (c === undefined) {
          c = children.length;
          children.push(new Map());
          ends.push([]);
          children[n].set(byte, c);
        }
        n = c;
      }
      ends[n].push(id);
    }
    // Flat arrays: node n's children are child_node[child_start[n] .. child_start[n + 1]).
    this.child_start = new Int32Array(children.length + 1);
    const n_edges = children.reduce((a, m) => a + m.size, 0);
    this.child_byte = new Uint8Array(n_edges);
    this.child_node = new Int32Array(n_edges);
    let e = 0;
    children.forEach((m, n) => {
      this.child_start[n] = e;
      for (const [byte, c] of m) {
        this.child_byte[e] = byte;
        this.child_node[e++] = c;
      }
    });
    this.child_start[children.length] = e;
    this.ends = ends;
    this.eog = [...tokenizer.eog];
  }
}

/** A grammar applied to one reply: which tokens may come next, and the state as tokens are taken. */
export class TokenConstraint {
  /** @param {object} grammar webgpu/grammar.js's plain data; @param {object} tokenizer */
  constructor(grammar, tokenizer) {
    this.matcher = new GrammarMatcher(grammar);
    this.trie = VocabTrie.of(tokenizer);
    this.eog = new Set(this.trie.eog);
    this.state = this.matcher.start;
    this.checked = null; // {id, state}: the last token allows() walked, so accept() need not walk it again
    this.cache = new Map();
    this.stats = { steps: 0, masks: 0, mask_ms: 0 };
  }

  /** True once the text is a whole sentence and nothing may follow it: the reply is over. */
  get done() {
    return this.state.accept && this.state.stacks.length === 0;
  }

  /** Whether token id may come next; with `below`, only if it leaves fewer than `below` bytes to finish. */
  allows(id, below = Infinity) {
    if (this.eog.has(id)) return this.state.accept;
    const next = this.matcher.advanceBytes(this.state, this.trie.bytes[id]);
    if (next === null || this.trie.bytes[id].length === 0) return false;
    this.checked = { id, state: next };
    return below === Infinity || this.matcher.distance(next) < below;
  }

  /** Take token id (one that allows() passed). */
  accept(id) {
    if (this.eog.has(id)) return;
    const next = this.checked?.id === id ? this.checked.state : this.matcher.advanceBytes(this.state, this.trie.bytes[id]);
    if (next === null) throw new Error(`token ${id} is not allowed here by the grammar`);
    this.state = next;
    this.checked = null;
  }

  /** Take text the grammar did not pick (a lazy grammar's trigger leftovers); false when refused. */
  acceptText(text) {
    const next = this.matcher.advanceBytes(this.state, new TextEncoder().encode(text));
    if (next === null) return false;
    this.state = next;
    this.checked = null;
    return true;
  }

  /** Uint8Array(n_vocab): 1 for each token allowed next (leaving fewer than `below` bytes to finish). */
  mask(below = Infinity) {
    const key = below === Infinity ? this.matcher.key(this.state) : null;
    let mask = key === null ? null : this.cache.get(key);
    if (mask) return mask;
    const t0 = performance.now();
    mask = new Uint8Array(this.trie.n_vocab);
    if (this.state.accept) for (const id of this.eog) mask[id] = 1;
    this.#walk(0, this.state, mask, below);
    this.stats.masks++;
    this.stats.mask_ms += performance.now() - t0;
    if (key === null) return mask;
    if (this.cache.size >= MASK_CACHE_SIZE) this.cache.delete(this.cache.keys().next().value);
    this.cache.set(key, mask);
    return mask;
  }

  #walk(node, state, mask, below) {
    const { child_start, child_byte, child_node, ends } = this.trie;
    for (let e = child_start[node]; e < child_start[node + 1]; e++) {
      const next = this.matcher.advance(state, child_byte[e]);
      if (next.stacks.length === 0 && !next.accept) continue;
      const c = child_node[e];
      if (ends[c].length && (below === Infinity || this.matcher.distance(next) < below)) for (const id of ends[c]) mask[id] = 1;
      if (next.stacks.length > 0) this.#walk(c, next, mask, below);
    }
  }

  /**
   * The next token from a logits row under the grammar: the sampler's pick when allowed, else its
   * pick among allowed tokens. logits is left unchanged. remaining: tokens the reply may still
   * have, this one included.
   */
  sample(sampler, logits, history, remaining = Infinity) {
    this.stats.steps++;
    // After this token, the shortest way to a whole sentence must fit the tokens left after it
    // (one byte a token at worst): then the reply always ends complete.
    const below = remaining - 1;
    const first = sampler.sample(logits.slice(), history);
    if (this.allows(first, below)) return first;
    // The grammar's mask (cached by state); only when its pick does not fit the budget, the mask
    // of tokens that do (not cached: it depends on the budget).
    // When no token fits (a budget below the schema's shortest sentence), the reply will end cut
    // short ('length') whatever comes: the grammar's mask alone then.
    const id = this.#sampleMasked(sampler, logits, history, this.mask());
    if (this.allows(id, below)) return id;
    const fitting = this.mask(below);
    return fitting.includes(1) ? this.#sampleMasked(sampler, logits, history, fitting) : id;
  }

  #sampleMasked(sampler, logits, history, mask) {
    const masked = logits.slice();
    let any = false;
    for (let i = 0; i < masked.length; i++) {
      if (!mask[i]) masked[i] = -Infinity;
      else any = true;
    }
    if (!any) throw new Error('the grammar allows no token here');
    // Refused tokens have probability 0; only float rounding at the end of the sampler's walk
    // could land on one, and then the best allowed token is taken.
    const id = sampler.sample(masked.slice(), history);
    return mask[id] ? id : argmax(masked);
  }
}
