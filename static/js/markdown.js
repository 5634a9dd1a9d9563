// A small Markdown subset for model answers, safe by construction: text is parsed into a tree and
// rendered with createElement + textContent only, so no model output is ever parsed as HTML.
// Links are shown as text, never made clickable: a click would be a request leaving the page.
//
// Blocks: paragraphs, ``` fenced code, # headings, - / * / 1. lists. Inline: `code`, **strong**, *em*.

const LIST_ITEM = /^\s*(?:([-*+])|(\d+)[.)])\s+(.*)$/;

/** @returns {Array<{type: string, level?: number, lang?: string, text?: string, items?: any[], start?: number, spans?: any[]}>} */
export function parseMarkdown(src) {
  const lines = String(src).replace(/\r\n?/g, '\n').split('\n');
  const blocks = [];
  let para = [];
  const endPara = () => {
    if (para.length) blocks.push({ type: 'p', spans: parseInline(para.join('\n')) });
    para = [];
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const fence = line.match(/^\s*```\s*([\w+-]*)\s*$/);
    if (fence) {
      endPara();
      const body = [];
      for (i++; i < lines.length && !/^\s*```\s*$/.test(lines[i]); i++) body.push(lines[i]);
      blocks.push({ type: 'pre', lang: fence[1], text: body.join('\n') });
      continue;
    }
    const heading = line.match(/^(#{1,6})\s+(.*)$/);
    if (heading) {
      endPara();
      blocks.push({ type: 'h', level: heading[1].length, spans: parseInline(heading[2]) });
      continue;
    }
    const item = line.match(LIST_ITEM);
    if (item) {
      endPara();
      const type = item[1] ? 'ul' : 'ol';
      const last = blocks[blocks.length - 1];
      const list = last && last.type === type && last.open ? last : { type, open: true, items: [] };
      if (list !== last) {
        if (type === 'ol') list.start = Number(item[2]);
        blocks.push(list);
      }
      list.items.push(parseInline(item[3]));
      continue;
    }
    if (line.trim() === '') {
      endPara();
      // A blank line ends a list unless the next line is another item of it ("loose" lists).
      const last = blocks[blocks.length - 1];
      const next = lines.slice(i + 1).find((l) => l.trim() !== '');
      const m = next === undefined ? null : next.match(LIST_ITEM);
      if (last && !(m && (m[1] ? 'ul' : 'ol') === last.type)) last.open = false;
      continue;
    }
    para.push(line);
  }
  endPara();
  return blocks.map(({ open, ...b }) => b);
}

/** @returns {Array<{type: 'text'|'code'|'strong'|'em', text: string}>} */
export function parseInline(text) {
  const spans = [];
  const re = /`([^`\n]+)`|\*\*([^*\n]+)\*\*|\*([^*\n]+)\*/g;
  let at = 0;
  for (const m of text.matchAll(re)) {
    if (m.index > at) spans.push({ type: 'text', text: text.slice(at, m.index) });
    if (m[1] !== undefined) spans.push({ type: 'code', text: m[1] });
    else if (m[2] !== undefined) spans.push({ type: 'strong', text: m[2] });
    else spans.push({ type: 'em', text: m[3] });
    at = m.index + m[0].length;
  }
  if (at < text.length) spans.push({ type: 'text', text: text.slice(at) });
  return spans;
}

/** Render Markdown into a DocumentFragment of doc. */
export function renderMarkdown(src, doc = document) {
  const frag = doc.createDocumentFragment();
  const el = (tag, text) => {
    const node = doc.createElement(tag);
    if (text !== undefined) node.textContent = text;
    return node;
  };
  const inline = (parent, spans) => {
    for (const s of spans) {
      parent.append(s.type === 'text' ? doc.createTextNode(s.text) : el(s.type, s.text));
    }
    return parent;
  };
  for (const b of parseMarkdown(src)) {
    if (b.type === 'pre') {
      const pre = el('pre');
      const code = el('code', b.text);
      if (b.lang) code.dataset.lang = b.lang;
      pre.append(code);
      frag.append(pre);
    } else if (b.type === 'h') {
      frag.append(inline(el(`h${Math.min(b.level + 2, 6)}`), b.spans));
    } else if (b.type === 'ul' || b.type === 'ol') {
      const list = el(b.type);
      if (b.type === 'ol' && b.start !== 1) list.start = b.start;
      for (const spans of b.items) list.append(inline(el('li'), spans));
      frag.append(list);
    } else {
      frag.append(inline(el('p'), b.spans));
    }
  }
  return frag;
}
