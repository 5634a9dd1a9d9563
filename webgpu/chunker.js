// Splitting documents into chunks for embedding, to a token budget counted by the embedding
// model's own tokenizer. Two strategies:
//   'structure' (the default): sections by heading (Markdown, or HTML turned into Markdown-like
//     text), then paragraphs, then sentences, then words, recursively; small neighbours within a
//     section are merged up to the budget; each chunk carries its heading path and begins with
//     the tail of the previous chunk of its section (overlap).
//   'window': a sliding window of words over the whole text, blind to structure (the baseline).
// Every chunk keeps the character offsets of its own text in the source, for citations.

export const HEADING = /^(#{1,6})[ \t]+(.+?)[ \t#]*$/gm; // a Markdown heading: level, title
const SENTENCE_END = /(?<=[.!?。！？])\s+/g;

/**
 * @param {string} text
 * @param {{format?: 'markdown'|'text'|'html', countTokens: (s: string) => number, max_tokens?: number,
 *          overlap_tokens?: number, strategy?: 'structure'|'window'}} options
 * @returns {{text: string, headings: string[], start: number, end: number, tokens: number}[]}
 */
export function chunkDocument(text, { format = 'markdown', countTokens, max_tokens = 256, overlap_tokens = 32, strategy = 'structure' }) {
  if (typeof countTokens !== 'function') throw new Error('chunkDocument needs countTokens(text)');
  if (!(max_tokens > overlap_tokens && overlap_tokens >= 0)) throw new Error('max_tokens must exceed overlap_tokens');
  const source = format === 'html' ? htmlToText(text) : text;
  const budget = max_tokens - overlap_tokens; // room left for the overlap
  const pieces = strategy === 'window'
    ? windowPieces(source, countTokens, budget)
    : sections(source, format !== 'text').flatMap((s) => mergeSmall(source, split(source, s.start, s.end, countTokens, budget, 0), countTokens, budget)
      .map((p) => ({ ...p, headings: s.headings })));
  const chunks = [];
  for (const [i, p] of pieces.entries()) {
    let start = p.start;
    const prev = pieces[i - 1];
    if (overlap_tokens > 0 && prev && prev.end <= p.start && sameSection(prev, p)) start = overlapStart(source, prev, overlap_tokens, countTokens);
    const body = source.slice(start, p.end).trim();
    if (!body) continue;
    chunks.push({ text: body, headings: p.headings ?? [], start, end: p.end, tokens: countTokens(body) });
  }
  return chunks;
}

function sameSection(a, b) {
  return (a.headings ?? []).join('\u0000') === (b.headings ?? []).join('\u0000');
}

/** Sections between headings: [{start, end, headings}], headings being the path of titles above. */
function sections(text, withHeadings) {
  if (!withHeadings) return [{ start: 0, end: text.length, headings: [] }];
  const out = [];
  const path = [];
  let start = 0;
  let headings = [];
  for (const m of text.matchAll(HEADING)) {
    if (m.index > start) out.push({ start, end: m.index, headings });
    const level = m[1].length;
    path.length = level - 1;
    path[level - 1] = m[2].trim();
    headings = path.filter(Boolean);
    start = m.index;
  }
  out.push({ start, end: text.length, headings });
  // A heading with nothing under it before the next one lives on in the paths below it.
  return out.filter((s) => text.slice(s.start, s.end).replace(HEADING, '').trim());
}

// Split [start, end) of text at the first level whose separator occurs, recursing into pieces that
// are still over budget: paragraphs, lines, sentences, then words.
const LEVELS = [/\n[ \t]*\n/g, /\n/g, SENTENCE_END, /\s+/g];

function split(text, start, end, count, budget, level) {
  if (count(text.slice(start, end)) <= budget) return [{ start, end }];
  if (level >= LEVELS.length) return hardSplit(text, start, end, count, budget);
  const bounds = [];
  let at = start;
  for (const m of text.slice(start, end).matchAll(LEVELS[level])) {
    const cut = start + m.index + m[0].length;
    if (cut > at && cut < end) {
      bounds.push([at, cut]);
      at = cut;
    }
  }
  bounds.push([at, end]);
  if (bounds.length === 1) return split(text, start, end, count, budget, level + 1);
  return bounds.flatMap(([a, b]) => split(text, a, b, count, budget, level + 1));
}

// A single word over budget (a long URL, a base64 blob): cut by characters.
function hardSplit(text, start, end, count, budget) {
  const out = [];
  let a = start;
  while (a < end) {
    let lo = a + 1;
    let hi = end;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (count(text.slice(a, mid)) <= budget) lo = mid;
      else hi = mid - 1;
    }
    out.push({ start: a, end: lo });
    a = lo;
  }
  return out;
}

/** Neighbouring pieces of text joined while the join stays within budget. */
function mergeSmall(text, pieces, count, budget) {
  const out = [];
  for (const p of pieces) {
    const last = out[out.length - 1];
    if (last && count(text.slice(last.start, p.end)) <= budget) last.end = p.end;
    else out.push({ ...p });
  }
  return out;
}

/** Where the overlap of `prev` begins: its last whole words within overlap tokens. */
function overlapStart(text, prev, overlap, count) {
  const words = [...text.slice(prev.start, prev.end).matchAll(/\S+/g)];
  let start = prev.end;
  for (let i = words.length - 1; i >= 0; i--) {
    const at = prev.start + words[i].index;
    if (count(text.slice(at, prev.end)) > overlap) break;
    start = at;
  }
  return start;
}

function windowPieces(text, count, budget) {
  const words = [...text.matchAll(/\S+/g)];
  const out = [];
  let i = 0;
  while (i < words.length) {
    let j = i + 1;
    while (j < words.length && count(text.slice(words[i].index, words[j].index + words[j][0].length)) <= budget) j++;
    out.push({ start: words[i].index, end: words[j - 1].index + words[j - 1][0].length });
    i = j;
  }
  return out;
}

const ENTITIES = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00a0' };

/**
 * Text of an HTML document, with headings as Markdown headings and blocks as paragraphs. Scripts,
 * styles and comments are dropped; nothing of it is ever rendered.
 */
export function htmlToText(html) {
  return html
    .replace(/<!--[\s\S]*?-->/g, '')
    .replace(/<(script|style|noscript|template)\b[\s\S]*?<\/\1\s*>/gi, '')
    .replace(/<h([1-6])\b[^>]*>([\s\S]*?)<\/h\1\s*>/gi, (_, n, inner) => `\n\n${'#'.repeat(Number(n))} ${inner.replace(/<[^>]*>/g, '').replace(/\s+/g, ' ').trim()}\n\n`)
    .replace(/<(br|hr)\b[^>]*>/gi, '\n')
    .replace(/<\/?(p|div|section|article|li|ul|ol|tr|table|blockquote|pre|header|footer|main|nav|aside|dd|dt|dl|figure|figcaption)\b[^>]*>/gi, '\n\n')
    .replace(/<[^>]*>/g, '')
    .replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (m, e) => {
      if (e[0] === '#') {
        const cp = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
        return cp > 0 && cp <= 0x10ffff ? String.fromCodePoint(cp) : m;
      }
      return ENTITIES[e.toLowerCase()] ?? m;
    })
    .replace(/[ \t]+\n/g, '\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}
