// Tokenizer from GGUF metadata, matching llama.cpp's: byte-level BPE (tokenizer.ggml.model "gpt2":
// SmolLM2, Llama 3, Qwen2) and SentencePiece-style BPE ("llama": Llama 2, Mistral).

const TOKEN_TYPE = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 };

const GPT2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
const CONTRACTIONS = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])";
const LLAMA3 = `${CONTRACTIONS}|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`;
const QWEN2 = `${CONTRACTIONS}|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`;

// tokenizer.ggml.pre -> the regexes llama.cpp applies in turn, and whether it ignores merges
// for words that are whole tokens already.
const PRE_TOKENIZERS = {
  gpt2: [[GPT2]], 'gpt-2': [[GPT2]], smollm: [['\\p{N}', GPT2]], starcoder: [['\\p{N}', GPT2]], refact: [['\\p{N}', GPT2]],
  'llama-bpe': [[LLAMA3], true], llama3: [[LLAMA3], true], qwen2: [[QWEN2]], 'stablelm2': [[QWEN2]],
  default: [['[\\p{P}\\$\\+<=>\\^~\\|]+', GPT2, '\\p{N}+', '[0-9][0-9][0-9]']],
};

export class TokenizerError extends Error {
  constructor(message) {
    super(message);
    this.name = 'TokenizerError';
  }
}

export function createTokenizer(metadata) {
  const model = metadata.get('tokenizer.ggml.model');
  if (model === 'gpt2') return new ByteLevelBPE(metadata);
  if (model === 'llama') return new SentencePieceBPE(metadata);
  throw new TokenizerError(`tokenizer model "${model}" is not supported (want gpt2 or llama)`);
}

class BaseTokenizer {
  constructor(metadata) {
    this.tokens = metadata.get('tokenizer.ggml.tokens');
    if (!Array.isArray(this.tokens) || this.tokens.length === 0) throw new TokenizerError('GGUF has no tokenizer.ggml.tokens');
    this.types = metadata.get('tokenizer.ggml.token_type') ?? [];
    this.ids = new Map(this.tokens.map((t, i) => [t, i]));
    const id = (key) => {
      const v = metadata.get(key);
      return Number.isInteger(v) && v >= 0 && v < this.tokens.length ? v : null;
    };
    this.bos_id = id('tokenizer.ggml.bos_token_id');
    this.eos_id = id('tokenizer.ggml.eos_token_id');
    this.eot_id = id('tokenizer.ggml.eot_token_id');
    this.unk_id = id('tokenizer.ggml.unknown_token_id');
    this.add_bos = metadata.get('tokenizer.ggml.add_bos_token') ?? this.defaultAddBos;
    this.add_eos = metadata.get('tokenizer.ggml.add_eos_token') ?? false;
    // Tokens matched verbatim in the text before any splitting, longest first.
    this.specials = [];
    for (let i = 0; i < this.tokens.length; i++) {
      const t = this.types[i];
      if (t === TOKEN_TYPE.CONTROL || t === TOKEN_TYPE.USER_DEFINED || t === TOKEN_TYPE.UNKNOWN) {
        if (this.tokens[i].length) this.specials.push(i);
      }
    }
    this.specials.sort((a, b) => this.tokens[b].length - this.tokens[a].length);
    // Special tokens that swallow the whitespace after them. llama.cpp sets this by the model's
    // name: for a Phi-3 every special token but <unk>, <s> and <|endoftext|> (and </s> too).
    this.rstrip = new Set();
    const name = String(metadata.get('general.name') ?? '').toLowerCase();
    if (name.includes('phi-3') || name.includes('phi3')) {
      const idOf = (t) => this.ids.get(t);
      for (const i of [...this.specials, idOf('</s>')]) if (i !== undefined) this.rstrip.add(i);
      for (const t of ['<unk>', '<s>', '<|endoftext|>']) this.rstrip.delete(idOf(t));
    }
    // Tokens that end a reply: eos, eot, and control tokens whose text says so.
    this.eog = new Set([this.eos_id, this.eot_id].filter((x) => x !== null));
    for (const i of this.specials) {
      if (/^(<\|im_end\|>|<\|eot_id\|>|<\|endoftext\|>|<end_of_turn>|<\|end\|>|<\/s>)$/.test(this.tokens[i])) this.eog.add(i);
    }
  }

  /** Text to ids. parse_special: control tokens written in the text become their ids (chat prompts). */
  encode(text, { add_special = true, parse_special = true } = {}) {
    const out = [];
    if (add_special && this.add_bos && this.bos_id !== null) out.push(this.bos_id);
    for (const frag of this.partition(text, parse_special)) {
      if (typeof frag === 'number') out.push(frag);
      else this.encodeText(frag, out);
    }
    if (add_special && this.add_eos && this.eos_id !== null) out.push(this.eos_id);
    return out;
  }

  // Split text around special tokens: returns strings and token ids, in order.
  partition(text, parse_special) {
    let frags = [text];
    for (const id of this.specials) {
      if (!parse_special && this.types[id] === TOKEN_TYPE.CONTROL) continue;
      const s = this.tokens[id];
      const next = [];
      for (const f of frags) {
        if (typeof f !== 'string' || !f.includes(s)) {
          next.push(f);
          continue;
        }
        const parts = f.split(s);
        const strip = this.rstrip.has(id);
        parts.forEach((p, i) => {
          const text = strip && i > 0 ? p.replace(/^[ \t\n\v\f\r]+/, '') : p;
          if (text) next.push(text);
          if (i < parts.length - 1) next.push(id);
        });
      }
      frags = next;
    }
    return frags;
  }

  isEog(id) {
    return this.eog.has(id);
  }
}

// ---------------------------------------------------------------------------------------------
// Byte-level BPE (GPT-2 family)

const BYTE_TO_CHAR = (() => {
  const table = new Array(256);
  let n = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    table[b] = String.fromCodePoint(printable ? b : 256 + n++);
  }
  return table;
})();
const CHAR_TO_BYTE = new Map(BYTE_TO_CHAR.map((c, b) => [c, b]));

class ByteLevelBPE extends BaseTokenizer {
  get defaultAddBos() {
    return false;
  }

  constructor(metadata) {
    super(metadata);
    const merges = metadata.get('tokenizer.ggml.merges');
    if (!Array.isArray(merges)) throw new TokenizerError('GGUF has no tokenizer.ggml.merges');
    this.ranks = new Map(merges.map((m, i) => [m, i]));
    const pre = metadata.get('tokenizer.ggml.pre') ?? 'default';
    const [exprs, ignore_merges] = PRE_TOKENIZERS[pre] ?? PRE_TOKENIZERS.default;
    this.pre = pre in PRE_TOKENIZERS ? pre : 'default';
    this.regexes = exprs.map((e) => new RegExp(e, 'gu'));
    this.ignore_merges = !!ignore_merges;
    this.cache = new Map();
    this.encoder = new TextEncoder();
    this.decoder = new TextDecoder('utf-8');
  }

  encodeText(text, out) {
    for (const word of this.split(text)) {
      const bytes = this.encoder.encode(word);
      let chars = '';
      for (const b of bytes) chars += BYTE_TO_CHAR[b];
      let ids = this.cache.get(chars);
      if (!ids) {
        ids = this.bpe(chars);
        if (this.cache.size < 50000) this.cache.set(chars, ids);
      }
      for (const id of ids) out.push(id);
    }
  }

  // Apply each regex in turn to every piece; text between matches stays a piece of its own.
  split(text) {
    let pieces = [text];
    for (const re of this.regexes) {
      const next = [];
      for (const p of pieces) {
        let at = 0;
        re.lastIndex = 0;
        for (const m of p.matchAll(re)) {
          if (m[0].length === 0) continue;
          if (m.index > at) next.push(p.slice(at, m.index));
          next.push(m[0]);
          at = m.index + m[0].length;
        }
        if (at < p.length) next.push(p.slice(at));
      }
      pieces = next;
    }
    return pieces;
  }

  // Merge the lowest-ranked adjacent pair, leftmost first, until no pair has a rank.
  bpe(chars) {
    if (this.ignore_merges && this.ids.has(chars)) return [this.ids.get(chars)];
    let syms = Array.from(chars);
    while (syms.length > 1) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i < syms.length - 1; i++) {
        const r = this.ranks.get(`${syms[i]} ${syms[i + 1]}`);
        if (r !== undefined && r < bestRank) {
          bestRank = r;
          best = i;
        }
      }
      if (best < 0) break;
      syms = [...syms.slice(0, best), syms[best] + syms[best + 1], ...syms.slice(best + 2)];
    }
    const ids = [];
    for (const s of syms) {
      const id = this.ids.get(s);
      if (id !== undefined) ids.push(id);
      else for (const c of s) ids.push(this.ids.get(c) ?? this.unk_id ?? 0);
    }
    return ids;
  }

  /** Bytes of one token (specials as their text). */
  tokenBytes(id) {
    const t = this.tokens[id] ?? '';
    if (this.types[id] === TOKEN_TYPE.CONTROL || this.types[id] === TOKEN_TYPE.USER_DEFINED) return this.encoder.encode(t);
    const out = [];
    for (const c of t) {
      const b = CHAR_TO_BYTE.get(c);
      if (b === undefined) out.push(...this.encoder.encode(c));
      else out.push(b);
    }
    return Uint8Array.from(out);
  }
}

// ---------------------------------------------------------------------------------------------
// SentencePiece-style BPE (llama / mistral): merges by score, byte fallback <0xXX>

class SentencePieceBPE extends BaseTokenizer {
  get defaultAddBos() {
    return true;
  }

  constructor(metadata) {
    super(metadata);
    this.scores = metadata.get('tokenizer.ggml.scores') ?? [];
    this.add_space_prefix = metadata.get('tokenizer.ggml.add_space_prefix') ?? true;
    this.byte_ids = new Array(256);
    for (let b = 0; b < 256; b++) this.byte_ids[b] = this.ids.get(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
    this.encoder = new TextEncoder();
  }

  // As llama.cpp: a space prefix goes before the first text and before text that follows a special.
  encode(text, { add_special = true, parse_special = true } = {}) {
    const out = [];
    if (add_special && this.add_bos && this.bos_id !== null) out.push(this.bos_id);
    let after_special = true;
    for (const frag of this.partition(text, parse_special)) {
      if (typeof frag === 'number') {
        out.push(frag);
        after_special = true;
      } else {
        this.encodeText(this.add_space_prefix && after_special ? ' ' + frag : frag, out);
        after_special = false;
      }
    }
    if (add_special && this.add_eos && this.eos_id !== null) out.push(this.eos_id);
    return out;
  }

  encodeText(text, out) {
    const s = text.replaceAll(' ', '\u2581');
    let syms = Array.from(s);
    for (;;) {
      let best = -1;
      let bestScore = -Infinity;
      for (let i = 0; i < syms.length - 1; i++) {
        const id = this.ids.get(syms[i] + syms[i + 1]);
        if (id !== undefined) {
          const score = this.scores[id] ?? 0;
          if (score > bestScore) {
            bestScore = score;
            best = i;
          }
        }
      }
      if (best < 0) break;
      syms = [...syms.slice(0, best), syms[best] + syms[best + 1], ...syms.slice(best + 2)];
    }
    for (const sym of syms) {
      const id = this.ids.get(sym);
      if (id !== undefined) {
        out.push(id);
        continue;
      }
      for (const b of this.encoder.encode(sym)) out.push(this.byte_ids[b] ?? this.unk_id ?? 0);
    }
  }

  tokenBytes(id) {
    const t = this.tokens[id] ?? '';
    if (this.types[id] === TOKEN_TYPE.BYTE) {
      const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(t);
      if (m) return Uint8Array.of(parseInt(m[1], 16));
    }
    return this.encoder.encode(t.replaceAll('\u2581', ' '));
  }
}

/** Turns a stream of token ids into text, holding back bytes of an unfinished UTF-8 character. */
export class Detokenizer {
  constructor(tokenizer) {
    this.tokenizer = tokenizer;
    this.decoder = new TextDecoder('utf-8');
  }

  push(id) {
    return this.decoder.decode(this.tokenizer.tokenBytes(id), { stream: true });
  }

  flush() {
    return this.decoder.decode();
  }
}
