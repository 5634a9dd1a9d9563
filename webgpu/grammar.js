// A context-free grammar over bytes, and the matcher that walks generated text through it.
//
// Grammar (plain data, so it crosses postMessage): {rules, sets, root}
//   rules[r]: the alternatives of rule r, each a sequence of elements;
//   an element e >= 0 is a byte set: sets[e * 256 + byte] is 1 for the bytes it takes;
//   an element e < 0 is a reference to rule -1 - e.
// A matcher state is the set of parse stacks alive after the text so far (the grammar may be
// ambiguous for a while, as anyOf branches are), each stack's top being a byte set; `accept` says
// the text so far is a whole sentence. States are immutable, so the token mask can branch freely.
// Grammars are right-recursive; left recursion would not terminate, and the builder never makes it.

/** Builds a grammar: byte sets, literals, rules, and the repetitions made of them. */
export class GrammarBuilder {
  rules = [];

  #sets = [];

  #set_ids = new Map();

  /** A byte set from [lo, hi] pairs (inclusive), as one element. */
  bytes(...ranges) {
    const set = new Uint8Array(256);
    for (let i = 0; i < ranges.length; i += 2) set.fill(1, ranges[i], ranges[i + 1] + 1);
    const key = set.join('');
    let id = this.#set_ids.get(key);
    if (id === undefined) {
      id = this.#sets.length;
      this.#sets.push(set);
      this.#set_ids.set(key, id);
    }
    return id;
  }

  /** The bytes of a string (UTF-8), one element each. */
  literal(text) {
    return Array.from(new TextEncoder().encode(text), (b) => this.bytes(b, b));
  }

  /** A rule index to define later (for recursion). */
  reserve() {
    this.rules.push(null);
    return this.rules.length - 1;
  }

  define(index, alternatives) {
    this.rules[index] = alternatives;
    return -1 - index;
  }

  /** A new rule with these alternatives (sequences of elements), as one element. */
  rule(alternatives) {
    return this.define(this.reserve(), alternatives);
  }

  optional(sequence) {
    return this.rule([sequence, []]);
  }

  /** sequence repeated min..max times (max may be Infinity), as a sequence of elements. */
  repeat(sequence, min, max) {
    const out = [];
    for (let i = 0; i < min; i++) out.push(...sequence);
    if (max === Infinity) {
      const r = this.reserve();
      out.push(this.define(r, [[...sequence, -1 - r], []]));
    } else if (max > min) {
      // x{0,n} as (x (x (...)?)?)?: one rule per optional copy, each deterministic.
      let tail = [];
      for (let i = 0; i < max - min; i++) tail = [this.optional([...sequence, ...tail])];
      out.push(...tail);
    }
    return out;
  }

  build(root) {
    if (this.rules.some((r) => r === null)) throw new Error('grammar has a reserved rule that was never defined');
    const sets = new Uint8Array(this.#sets.length * 256);
    this.#sets.forEach((s, i) => sets.set(s, i * 256));
    return { rules: this.rules, sets, root: -1 - root };
  }
}

/** Walks bytes through a grammar: the stacks alive after each byte. */
export class GrammarMatcher {
  /** @param {{rules: number[][][], sets: Uint8Array, root: number}} grammar */
  constructor(grammar) {
    this.rules = grammar.rules;
    this.sets = grammar.sets;
    // A stable id per sequence, for the states' keys (the mask cache).
    this.seq_ids = new Map();
    for (const alts of this.rules) for (const seq of alts) this.seq_ids.set(seq, this.seq_ids.size);
    this.#measure();
    const start = { stacks: [], accept: false };
    this.#expand([-1 - grammar.root], 0, null, start);
    this.start = start;
  }

  // min_len[r]: the fewest bytes rule r can match (a fixpoint: recursion needs a way out);
  // suffix(seq)[i]: the fewest bytes from seq[i] to its end.
  #measure() {
    const n = this.rules.length;
    this.min_len = new Float64Array(n).fill(Infinity);
    const len = (seq, from = 0) => {
      let sum = 0;
      for (let i = from; i < seq.length; i++) sum += seq[i] >= 0 ? 1 : this.min_len[-1 - seq[i]];
      return sum;
    };
    for (let changed = true; changed;) {
      changed = false;
      for (let r = 0; r < n; r++) {
        const best = Math.min(...this.rules[r].map((seq) => len(seq)));
        if (best < this.min_len[r]) {
          this.min_len[r] = best;
          changed = true;
        }
      }
    }
    this.suffix = new Map();
    for (const alts of this.rules) {
      for (const seq of alts) {
        const s = new Float64Array(seq.length + 1);
        for (let i = seq.length - 1; i >= 0; i--) s[i] = s[i + 1] + (seq[i] >= 0 ? 1 : this.min_len[-1 - seq[i]]);
        this.suffix.set(seq, s);
      }
    }
  }

  /** The fewest bytes that make the text so far a whole sentence (0 when it is one). */
  distance(state) {
    if (state.accept) return 0;
    let best = Infinity;
    for (let s of state.stacks) {
      let d = 0;
      for (; s; s = s.parent) d += this.#suffixOf(s.seq)[s.i];
      if (d < best) best = d;
    }
    return best;
  }

  #suffixOf(seq) {
    let s = this.suffix.get(seq);
    if (!s) {
      // The start's own one-element sequence.
      s = Float64Array.of(this.min_len[-1 - seq[0]], 0);
      this.suffix.set(seq, s);
    }
    return s;
  }

  // Push onto `out` every stack that continues from seq[i] (below it: parent), each with a byte set
  // on top; a stack that runs out means the whole text is a sentence (accept).
  #expand(seq, i, parent, out) {
    for (;;) {
      if (i >= seq.length) {
        if (parent === null) {
          out.accept = true;
          return;
        }
        ({ seq, i, parent } = parent);
        continue;
      }
      const e = seq[i];
      if (e >= 0) {
        out.stacks.push({ seq, i, parent });
        return;
      }
      // What follows the reference; when nothing does, the reference's own parent (tail call).
      const next = i + 1 < seq.length ? { seq, i: i + 1, parent } : parent;
      for (const alt of this.rules[-1 - e]) this.#expand(alt, 0, next, out);
      return;
    }
  }

  /** The state after one more byte; its stacks are empty and accept false when the byte is refused. */
  advance(state, byte) {
    const out = { stacks: [], accept: false };
    for (const s of state.stacks) {
      if (this.sets[s.seq[s.i] * 256 + byte]) this.#expand(s.seq, s.i + 1, s.parent, out);
    }
    return out;
  }

  /** The state after bytes, or null when the grammar refuses them. */
  advanceBytes(state, bytes) {
    for (const b of bytes) {
      state = this.advance(state, b);
      if (state.stacks.length === 0 && !state.accept) return null;
    }
    return state;
  }

  /** A string naming a state: equal keys, equal futures. */
  key(state) {
    const parts = [state.accept ? 'A' : ''];
    for (let s of state.stacks) {
      let k = '';
      for (; s; s = s.parent) k += `${this.seq_ids.get(s.seq)}.${s.i},`;
      parts.push(k);
    }
    return parts.join('|');
  }
}
