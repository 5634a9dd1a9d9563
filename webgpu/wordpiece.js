// BERT's WordPiece tokenizer (tokenizer.ggml.model "bert"), as Hugging Face's BertNormalizer,
// BertPreTokenizer and WordPiece models compute it for an uncased model: clean the text, space out
// CJK ideographs, strip accents, lower-case, split on whitespace and punctuation, then take the
// longest vocabulary piece at each point of a word. The GGUF vocabulary follows llama.cpp: a piece
// that starts a word is stored with a leading U+2581, a continuation piece without BERT's "##".

const WORD_START = '\u2581';
const CONTROL_TYPE = 3; // tokenizer.ggml.token_type of [CLS], [SEP], [MASK], ...
const MAX_WORD_CHARS = 100; // longer words become [UNK], as in BERT

const CONTROL = /[\p{Cc}\p{Cf}\p{Co}\p{Cs}\p{Cn}]/u;
const SPACE = /[\s\p{Zs}]/u;
const MARK = /\p{Mn}/gu;
const PUNCT = /[\p{P}!-/:-@[-`{-~]/u;

/** CJK Unified Ideographs and their extensions and compatibility blocks, which BERT splits apart. */
function isCJK(cp) {
  return (cp >= 0x4e00 && cp <= 0x9fff) || (cp >= 0x3400 && cp <= 0x4dbf) || (cp >= 0x20000 && cp <= 0x2a6df) ||
    (cp >= 0x2a700 && cp <= 0x2b73f) || (cp >= 0x2b740 && cp <= 0x2b81f) || (cp >= 0x2b820 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0x2f800 && cp <= 0x2fa1f);
}

export class WordPiece {
  /** From GGUF metadata: the vocabulary, [UNK], and [CLS]/[SEP] as BOS/EOS (llama.cpp's convention). */
  static fromMetadata(metadata) {
    const tokens = metadata.get('tokenizer.ggml.tokens');
    const model = metadata.get('tokenizer.ggml.model');
    if (model !== 'bert' || !Array.isArray(tokens)) throw new Error(`tokenizer "${model}" is not BERT's WordPiece`);
    const id = (key, name) => {
      const v = metadata.get(key) ?? tokens.indexOf(name);
      if (!(v >= 0 && v < tokens.length)) throw new Error(`the vocabulary has no ${name} token`);
      return v;
    };
    const types = metadata.get('tokenizer.ggml.token_type') ?? [];
    return new WordPiece({ tokens, unk_id: id('tokenizer.ggml.unknown_token_id', '[UNK]'),
      cls_id: id('tokenizer.ggml.bos_token_id', '[CLS]'), sep_id: id('tokenizer.ggml.seperator_token_id', '[SEP]'),
      specials: tokens.flatMap((t, i) => (types[i] === CONTROL_TYPE ? [i] : [])) });
  }

  /**
   * @param {{tokens: string[], unk_id: number, cls_id: number, sep_id: number, specials?: number[]}} vocab
   *   specials: ids of control tokens ([CLS], [MASK], ...) that stand for themselves when the text holds
   *   them verbatim, as Hugging Face's added tokens do.
   */
  constructor({ tokens, unk_id, cls_id, sep_id, specials = [] }) {
    this.tokens = tokens;
    this.specials = new Map(specials.map((i) => [tokens[i], i]));
    const escaped = [...this.specials.keys()].sort((a, b) => b.length - a.length).map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
    this.special_re = escaped.length ? new RegExp(`(${escaped.join('|')})`) : null;
    this.ids = new Map(tokens.map((t, i) => [t, i]));
    this.unk_id = unk_id;
    this.cls_id = cls_id;
    this.sep_id = sep_id;
    this.longest = Math.max(...tokens.map((t) => t.length));
  }

  /** [CLS] pieces [SEP], at most max_tokens ids in all (the pieces are cut, as sentence-transformers does). */
  encode(text, { max_tokens = Infinity } = {}) {
    return this.encodeCut(text, max_tokens).ids;
  }

  /** encode's ids, and whether the text had more pieces than max_tokens left room for. */
  encodeCut(text, max_tokens = Infinity) {
    const keep = Math.max(1, max_tokens - 1); // ids before [SEP]
    const ids = [this.cls_id];
    const parts = this.special_re ? text.split(this.special_re) : [text];
    // Pieces are taken until one more than fits is in: that one says the text was cut.
    for (const [i, part] of parts.entries()) {
      if (ids.length > keep) break;
      if (i % 2) {
        ids.push(this.specials.get(part));
        continue;
      }
      for (const word of this.words(part)) {
        this.pieces(word, ids);
        if (ids.length > keep) break;
      }
    }
    const truncated = ids.length > keep;
    ids.length = Math.min(ids.length, keep);
    ids.push(this.sep_id);
    return { ids, truncated };
  }

  /** Normalized words and punctuation marks, in order. */
  words(text) {
    let clean = '';
    for (const ch of text) {
      const cp = ch.codePointAt(0);
      if (ch === '\t' || ch === '\n' || ch === '\r' || SPACE.test(ch)) clean += ' ';
      else if (cp === 0 || cp === 0xfffd || CONTROL.test(ch)) continue;
      else if (isCJK(cp)) clean += ` ${ch} `;
      else clean += ch;
    }
    clean = clean.toLowerCase().normalize('NFD').replace(MARK, '');
    const out = [];
    for (const chunk of clean.split(' ')) {
      let word = '';
      for (const ch of chunk) {
        if (PUNCT.test(ch)) {
          if (word) out.push(word);
          out.push(ch);
          word = '';
        } else {
          word += ch;
        }
      }
      if (word) out.push(word);
    }
    return out;
  }

  /** Greedy longest-match pieces of one word, appended to out; the whole word is [UNK] if any part has no piece. */
  pieces(word, out) {
    const chars = [...word];
    if (chars.length > MAX_WORD_CHARS) {
      out.push(this.unk_id);
      return;
    }
    const found = [];
    for (let start = 0; start < chars.length;) {
      let id = undefined;
      let end = Math.min(chars.length, start + this.longest);
      for (; end > start; end--) {
        const piece = chars.slice(start, end).join('');
        id = this.ids.get(start === 0 ? WORD_START + piece : piece);
        if (id !== undefined) break;
      }
      if (id === undefined) {
        out.push(this.unk_id);
        return;
      }
      found.push(id);
      start = end;
    }
    out.push(...found);
  }
}
