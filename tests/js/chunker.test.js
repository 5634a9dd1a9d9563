// Chunking (webgpu/chunker.js): budgets, headings, overlap, offsets, HTML, and the window baseline.

import assert from 'node:assert/strict';
import test from 'node:test';
import { chunkDocument, htmlToText } from '../../webgpu/chunker.js';

const words = (s) => (s.match(/\S+/g) ?? []).length; // a stand-in tokenizer: one token per word
const para = (n, w) => Array.from({ length: n }, (_, i) => `${w}${i}`).join(' ') + '.';

const DOC = `# Guide

Intro ${para(20, 'intro')}

## Install

${para(30, 'inst')} ${para(30, 'more')}

${para(10, 'tail')}

## Use

### Chat

${para(5, 'chat')}

### Search

${para(200, 'long')}
`;

test('structure: every chunk within budget, with its heading path and exact offsets', () => {
  const chunks = chunkDocument(DOC, { countTokens: words, max_tokens: 50, overlap_tokens: 8 });
  for (const c of chunks) {
    assert.ok(c.tokens <= 50, `${c.tokens} tokens: ${c.text.slice(0, 40)}`);
    assert.equal(DOC.slice(c.start, c.end).trim(), c.text);
  }
  const paths = [...new Set(chunks.map((c) => c.headings.join(' > ')))];
  assert.deepEqual(paths, ['Guide', 'Guide > Install', 'Guide > Use > Chat', 'Guide > Use > Search']);
  // A heading's own chunk never mixes in another section's words; long sections get overlap.
  assert.ok(chunks.filter((c) => c.headings.at(-1) === 'Chat').every((c) => !/inst|long/.test(c.text)));
  const search = chunks.filter((c) => c.headings.at(-1) === 'Search');
  assert.ok(search.length >= 5);
  for (let i = 1; i < search.length; i++) {
    const prevWords = search[i - 1].text.split(/\s+/);
    const first = search[i].text.split(/\s+/)[0];
    assert.ok(prevWords.slice(-8).includes(first), `chunk ${i} starts with ${first}, not in the overlap`);
  }
  // every word of the document is in some chunk, or in the heading path of some (an empty section)
  const all = new Set(chunks.flatMap((c) => [...c.text.match(/\S+/g), ...c.headings, '##']));
  for (const w of DOC.match(/\S+/g)) assert.ok(all.has(w), w);
});

test('a word longer than the budget is cut, not dropped', () => {
  const blob = 'x'.repeat(5000);
  const chars = (s) => Math.ceil(s.length / 100); // 100 characters a token
  const chunks = chunkDocument(`before ${blob} after`, { countTokens: chars, max_tokens: 10, overlap_tokens: 0, format: 'text' });
  assert.ok(chunks.every((c) => c.tokens <= 10));
  assert.equal(chunks.map((c) => c.text).join('').replace(/\s/g, '').length, 'before'.length + 5000 + 'after'.length);
});

test('HTML becomes headings and paragraphs; scripts, styles and tags go', () => {
  const html = `<html><head><style>p{color:red}</style><script>alert("x")</script></head><body>
    <h1>Title &amp; more</h1><p>First <b>bold</b> para&nbsp;graph.</p><!-- hidden -->
    <h2>Sub</h2><ul><li>one</li><li>two &#x263A;</li></ul></body></html>`;
  assert.equal(htmlToText(html), '# Title & more\n\nFirst bold para\u00a0graph.\n\n## Sub\n\none\n\ntwo \u263a');
  const chunks = chunkDocument(html, { format: 'html', countTokens: words, max_tokens: 20, overlap_tokens: 2 });
  assert.deepEqual(chunks.map((c) => c.headings), [['Title & more'], ['Title & more', 'Sub']]);
  assert.ok(!chunks.some((c) => /alert|color|hidden|</.test(c.text)));
});

test('the window baseline covers the text in budget-sized overlapping windows', () => {
  const chunks = chunkDocument(DOC, { countTokens: words, max_tokens: 50, overlap_tokens: 10, strategy: 'window' });
  assert.ok(chunks.every((c) => c.tokens <= 50 && c.headings.length === 0));
  assert.ok(chunks.length >= DOC.match(/\S+/g).length / 40);
});
