// Okapi BM25 over the stored texts, the sparse half of hybrid search. Terms: Unicode letters and
// digits, lower-cased and accent-folded, without common English stop words; every CJK ideograph
// is a term of its own (a language without spaces still matches).

const K1 = 1.2;
const B = 0.75;
const STOP = new Set(('a an and are as at be but by for from has have in is it its of on or that the this to was were ' +
  'will with not no i you he she we they them his her our your their what which who whom how when where why do does did')
  .split(' '));
const TERM = /[\p{L}\p{N}]+/gu;
const IDEOGRAPH = /\p{Script=Han}|\p{Script=Hiragana}|\p{Script=Katakana}|\p{Script=Hangul}/u;

/** Terms of a text, in order. */
export function terms(text) {
  const out = [];
  const folded = text.toLowerCase().normalize('NFD').replace(/\p{Mn}/gu, '');
  for (const [word] of folded.matchAll(TERM)) {
    if (IDEOGRAPH.test(word)) {
      for (const ch of word) out.push(ch);
    } else if (!STOP.has(word)) {
      out.push(word);
    }
  }
  return out;
}

export class BM25 {
  constructor() {
    this.postings = new Map(); // term -> Map(doc -> term frequency)
    this.lengths = new Map(); // doc -> number of terms
    this.docTerms = new Map(); // doc -> its distinct terms (to remove it)
    this.total = 0;
  }

  get size() {
    return this.lengths.size;
  }

  add(doc, text) {
    this.remove(doc);
    const ts = terms(text ?? '');
    const tf = new Map();
    for (const t of ts) tf.set(t, (tf.get(t) ?? 0) + 1);
    for (const [t, n] of tf) {
      if (!this.postings.has(t)) this.postings.set(t, new Map());
      this.postings.get(t).set(doc, n);
    }
    this.lengths.set(doc, ts.length);
    this.total += ts.length;
    this.docTerms.set(doc, [...tf.keys()]);
  }

  remove(doc) {
    if (!this.lengths.has(doc)) return;
    for (const t of this.docTerms.get(doc)) {
      const p = this.postings.get(t);
      p.delete(doc);
      if (p.size === 0) this.postings.delete(t);
    }
    this.total -= this.lengths.get(doc);
    this.lengths.delete(doc);
    this.docTerms.delete(doc);
  }

  /** Docs matching any query term, best first: [{doc, score}], only those passing accept(doc). */
  search(query, { limit = 10, accept = () => true } = {}) {
    const n = this.lengths.size;
    if (n === 0) return [];
    const avg = this.total / n || 1;
    const scores = new Map();
    for (const t of new Set(terms(query))) {
      const p = this.postings.get(t);
      if (!p) continue;
      const idf = Math.log(1 + (n - p.size + 0.5) / (p.size + 0.5));
      for (const [doc, f] of p) {
        const len = this.lengths.get(doc);
        scores.set(doc, (scores.get(doc) ?? 0) + (idf * f * (K1 + 1)) / (f + K1 * (1 - B + (B * len) / avg)));
      }
    }
    const hits = [];
    for (const [doc, score] of scores) if (accept(doc)) hits.push({ doc, score });
    return hits.sort((a, b) => b.score - a.score || (a.doc < b.doc ? -1 : 1)).slice(0, limit);
  }
}
