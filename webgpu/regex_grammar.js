// The characters of a JSON string, and a JSON Schema `pattern` as grammar elements that spell, inside
// a JSON string, text the pattern matches (webgpu/json_grammar.js). The text is written as JSON
// writes it: a quote or backslash escaped, control characters as \n, \t, ... .
//
// Pattern syntax supported: literals and escapes (\d \w \s \D \W \S \. \xHH \uHHHH ...), classes
// [a-z0-9_] and [^...], ., groups ( ), (?: ), (?<name> ), alternation |, quantifiers ? * + {n}
// {n,} {n,m} (a lazy ? after them changes nothing here), and ^ and $ at the ends. The text
// generated matches the whole pattern, so it also matches it unanchored (JSON Schema's meaning).
// Refused, with the reason: backreferences, lookaround, \b, anchors inside, classes of many
// non-ASCII characters.

import { UnsupportedSchemaError } from './errors.js';

const MAX_REPEAT = 1000;
const MAX_LISTED_NON_ASCII = 256;
const chars_of = new WeakMap();

// UTF-8 sequences of one code point from U+0080 up, as byte-set sequences (no overlongs or surrogates).
const UTF8_MULTI = [
  [[0xc2, 0xdf], [0x80, 0xbf]],
  [[0xe0, 0xe0], [0xa0, 0xbf], [0x80, 0xbf]],
  [[0xe1, 0xec], [0x80, 0xbf], [0x80, 0xbf]],
  [[0xed, 0xed], [0x80, 0x9f], [0x80, 0xbf]],
  [[0xee, 0xef], [0x80, 0xbf], [0x80, 0xbf]],
  [[0xf0, 0xf0], [0x90, 0xbf], [0x80, 0xbf], [0x80, 0xbf]],
  [[0xf1, 0xf3], [0x80, 0xbf], [0x80, 0xbf], [0x80, 0xbf]],
  [[0xf4, 0xf4], [0x80, 0x8f], [0x80, 0xbf], [0x80, 0xbf]],
];
const CONTROL_ESCAPES = new Map([[8, '\\b'], [9, '\\t'], [10, '\\n'], [12, '\\f'], [13, '\\r']]);

/** {any, multi}: one character of a JSON string's text (escapes included), and one non-ASCII character. */
export function stringChars(b) {
  let c = chars_of.get(b);
  if (c) return c;
  const hex = b.bytes(48, 57, 65, 70, 97, 102);
  const multi = b.rule(UTF8_MULTI.map((seq) => seq.map(([lo, hi]) => b.bytes(lo, hi))));
  const any = b.rule([
    [b.bytes(0x20, 0x21, 0x23, 0x5b, 0x5d, 0x7f)],
    [...b.literal('\\'), b.bytes(0x22, 0x22, 0x5c, 0x5c, 0x2f, 0x2f, 0x62, 0x62, 0x66, 0x66, 0x6e, 0x6e, 0x72, 0x72, 0x74, 0x74)],
    [...b.literal('\\u'), hex, hex, hex, hex],
    [multi],
  ]);
  c = { any, multi };
  chars_of.set(b, c);
  return c;
}

/** Elements spelling (inside a JSON string) text that matches pattern. path: for errors. */
export function patternElements(b, pattern, path) {
  if (typeof pattern !== 'string') throw new UnsupportedSchemaError(`${path}: pattern must be a string.`);
  try {
    new RegExp(pattern, 'u');
  } catch (e) {
    throw new UnsupportedSchemaError(`${path}: pattern is not a valid regular expression (${e.message}).`);
  }
  const ast = new PatternParser(pattern, path).parse();
  return emit(b, ast, path);
}

// A class: code point ranges [[lo, hi], ...], negated or not.
const DIGIT = [[48, 57]];
const WORD = [[48, 57], [65, 90], [95, 95], [97, 122]];
const SPACE = [[9, 13], [32, 32], [0xa0, 0xa0], [0x2028, 0x2029], [0xfeff, 0xfeff]];

class PatternParser {
  constructor(src, path) {
    this.src = [...src];
    this.i = 0;
    this.path = path;
  }

  refuse(why) {
    return new UnsupportedSchemaError(`${this.path}: pattern ${JSON.stringify(this.src.join(''))} uses ${why}, which constrained output does not support.`);
  }

  parse() {
    if (this.src[0] === '^') this.i++;
    const node = this.alternation();
    if (this.i < this.src.length) throw this.refuse(`"${this.src[this.i]}" at ${this.i}`);
    return node;
  }

  alternation() {
    const alts = [this.sequence()];
    while (this.src[this.i] === '|') {
      this.i++;
      alts.push(this.sequence());
    }
    return alts.length === 1 ? alts[0] : { t: 'alt', alts };
  }

  sequence() {
    const items = [];
    while (this.i < this.src.length && this.src[this.i] !== '|' && this.src[this.i] !== ')') {
      const c = this.src[this.i];
      if (c === '$') {
        this.i++;
        const end = this.i === this.src.length || this.src[this.i] === '|' || this.src[this.i] === ')';
        if (!end) throw this.refuse('$ before the end');
        continue;
      }
      if (c === '^') throw this.refuse('^ after the start');
      items.push(this.quantified(this.atom()));
    }
    return { t: 'seq', items };
  }

  atom() {
    const c = this.src[this.i++];
    if (c === '(') {
      if (this.src[this.i] === '?') {
        const next = this.src[this.i + 1];
        if (next === ':') this.i += 2;
        else if (next === '<' && this.src[this.i + 2] !== '=' && this.src[this.i + 2] !== '!') {
          while (this.i < this.src.length && this.src[this.i] !== '>') this.i++;
          this.i++;
        } else throw this.refuse('lookaround');
      }
      const node = this.alternation();
      if (this.src[this.i++] !== ')') throw this.refuse('an unclosed group');
      return node;
    }
    if (c === '[') return this.klass();
    if (c === '.') return { t: 'class', ranges: [[10, 10], [13, 13], [0x2028, 0x2029]], neg: true };
    if (c === '\\') return this.escape(false);
    if ('*+?{'.includes(c)) throw this.refuse(`a quantifier with nothing before it`);
    return { t: 'class', ranges: [[c.codePointAt(0), c.codePointAt(0)]], neg: false };
  }

  // After a backslash: a class node, or (in a class) {ranges} to add.
  escape(in_class) {
    const c = this.src[this.i++];
    const klass = (ranges, neg) => ({ t: 'class', ranges, neg });
    if (c === 'd' || c === 'D') return klass(DIGIT, c === 'D');
    if (c === 'w' || c === 'W') return klass(WORD, c === 'W');
    if (c === 's' || c === 'S') return klass(SPACE, c === 'S');
    if (c === 'b' && in_class) return klass([[8, 8]], false);
    if (c === 'b' || c === 'B') throw this.refuse('a word boundary (\\b)');
    if (/[1-9]/.test(c) || c === 'k') throw this.refuse('a backreference');
    if (c === 'p' || c === 'P') throw this.refuse('a Unicode property escape');
    const simple = { n: 10, t: 9, r: 13, f: 12, v: 11, 0: 0 }[c];
    let cp = simple;
    if (c === 'x') cp = this.hex(2);
    else if (c === 'u') {
      if (this.src[this.i] === '{') {
        const end = this.src.indexOf('}', this.i);
        cp = parseInt(this.src.slice(this.i + 1, end).join(''), 16);
        this.i = end + 1;
      } else cp = this.hex(4);
    } else if (cp === undefined) cp = c.codePointAt(0);
    return klass([[cp, cp]], false);
  }

  hex(n) {
    const v = parseInt(this.src.slice(this.i, this.i + n).join(''), 16);
    this.i += n;
    return v;
  }

  klass() {
    const neg = this.src[this.i] === '^';
    if (neg) this.i++;
    const ranges = [];
    let first = true;
    while (this.src[this.i] !== ']' || first) {
      first = false;
      if (this.i >= this.src.length) throw this.refuse('an unclosed class');
      let lo;
      if (this.src[this.i] === '\\') {
        this.i++;
        const e = this.escape(true);
        if (e.neg) throw this.refuse('a negated escape (\\D, \\W, \\S) inside a class');
        if (e.ranges.length > 1 || e.ranges[0][0] !== e.ranges[0][1]) {
          ranges.push(...e.ranges);
          continue;
        }
        lo = e.ranges[0][0];
      } else lo = this.src[this.i++].codePointAt(0);
      let hi = lo;
      if (this.src[this.i] === '-' && this.src[this.i + 1] !== ']' && this.i + 1 < this.src.length) {
        this.i++;
        if (this.src[this.i] === '\\') {
          this.i++;
          const e = this.escape(true);
          hi = e.ranges[0][0];
        } else hi = this.src[this.i++].codePointAt(0);
      }
      ranges.push([lo, hi]);
    }
    this.i++;
    return { t: 'class', ranges, neg };
  }

  quantified(node) {
    const c = this.src[this.i];
    let min;
    let max;
    if (c === '*') [min, max] = [0, Infinity];
    else if (c === '+') [min, max] = [1, Infinity];
    else if (c === '?') [min, max] = [0, 1];
    else if (c === '{') {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(this.src.slice(this.i).join(''));
      if (!m) return node; // a literal {, as JavaScript reads it
      min = +m[1];
      max = m[2] === undefined ? min : m[3] === '' ? Infinity : +m[3];
      if (min > MAX_REPEAT || (max !== Infinity && max > MAX_REPEAT)) throw this.refuse(`a repeat count above ${MAX_REPEAT}`);
      this.i += m[0].length - 1;
    } else return node;
    this.i++;
    if (this.src[this.i] === '?') this.i++;
    return this.quantified({ t: 'rep', node, min, max });
  }
}

function emit(b, node, path) {
  if (node.t === 'seq') return node.items.flatMap((n) => emit(b, n, path));
  if (node.t === 'alt') return [b.rule(node.alts.map((a) => emit(b, a, path)))];
  if (node.t === 'rep') return b.repeat(emit(b, node.node, path), node.min, node.max);
  return [classElement(b, node, path)];
}

// A class as one element: the JSON spellings of the characters it matches.
function classElement(b, { ranges, neg }, path) {
  const matches = (cp) => neg !== ranges.some(([lo, hi]) => cp >= lo && cp <= hi);
  const alts = [];
  const plain = [];
  for (let cp = 0; cp < 0x80; cp++) {
    if (!matches(cp)) continue;
    if (cp === 0x22) alts.push(b.literal('\\"'));
    else if (cp === 0x5c) alts.push(b.literal('\\\\'));
    else if (cp < 0x20) alts.push(b.literal(CONTROL_ESCAPES.get(cp) ?? `\\u${cp.toString(16).padStart(4, '0')}`));
    else plain.push(cp, cp);
  }
  if (plain.length) alts.push([b.bytes(...plain)]);
  const wide = ranges.filter(([, hi]) => hi >= 0x80);
  if (neg) {
    // Every non-ASCII character, unless the class names some: then they would need excluding.
    if (wide.length) throw new UnsupportedSchemaError(`${path}: pattern classes that exclude non-ASCII characters are not supported.`);
    alts.push([stringChars(b).multi]);
  } else {
    const listed = wide.reduce((n, [lo, hi]) => n + hi - Math.max(lo, 0x80) + 1, 0);
    if (listed > MAX_LISTED_NON_ASCII) throw new UnsupportedSchemaError(`${path}: pattern classes of more than ${MAX_LISTED_NON_ASCII} non-ASCII characters are not supported.`);
    for (const [lo, hi] of wide) for (let cp = Math.max(lo, 0x80); cp <= hi; cp++) alts.push(b.literal(String.fromCodePoint(cp)));
  }
  if (alts.length === 0) throw new UnsupportedSchemaError(`${path}: a pattern class matches no character a JSON string can hold.`);
  return b.rule(alts);
}
