// The document library (webgpu/library.js) with a stand-in embedder: large text and Markdown files
// stream in pieces (never read whole), their chunks keep offsets into the whole file and the heading
// path they sit under across pieces, and a cancelled file leaves nothing of itself.

import assert from 'node:assert/strict';
import test from 'node:test';
import { chunkDocument } from '../../webgpu/chunker.js';
import { Library, LibraryError } from '../../webgpu/library.js';

const DIMS = 8;
const countTokens = (s) => s.split(/\s+/).filter(Boolean).length;

/** An embedder that maps a text to a fixed pseudo-random unit vector, and counts its calls. */
function fakeEmbedder() {
  const e = {
    calls: 0,
    embeddings: {
      create: async ({ input }) => {
        e.calls++;
        return { data: input.map((t) => ({ embedding: vectorOf(t) })) };
      },
    },
  };
  return e;
}

function vectorOf(text) {
  const v = new Float32Array(DIMS);
  for (let i = 0; i < text.length; i++) v[i % DIMS] += text.charCodeAt(i) % 17;
  v[0] += 1;
  return v;
}

/** A Blob whose text() must not be called: big files are read as a stream only. */
class StreamOnly extends Blob {
  constructor(parts, name) {
    super(parts);
    this.name = name;
  }

  text() {
    throw new Error('a large file was read whole');
  }
}

// About 2.6 MB of Markdown: chapters of sections of numbered paragraphs, unique words in each.
function bigMarkdown() {
  const lines = [];
  for (let c = 0; c < 6; c++) {
    lines.push(`# Chapter ${c}`, '');
    for (let s = 0; s < 12; s++) {
      lines.push(`## Section ${c}.${s}`, '');
      for (let p = 0; p < 60; p++) {
        lines.push(Array.from({ length: 60 }, (_, w) => `w${c}x${s}x${p}x${w}`).join(' ') + '.', '');
      }
    }
  }
  return lines.join('\n');
}

test('a large Markdown file streams: offsets into the whole file, heading paths across pieces', async () => {
  const text = bigMarkdown();
  assert.ok(text.length > 2.5 * 2 ** 20);
  const library = new Library({ embedder: fakeEmbedder(), countTokens, dimensions: DIMS, storagePath: null });
  const fractions = [];
  const r = await library.add(new StreamOnly([text], 'big.md'), { onProgress: ({ fraction }) => fractions.push(fraction) });
  assert.ok(r.chunks > 500, `${r.chunks} chunks`);
  assert.ok(fractions.every((f, i) => f >= (fractions[i - 1] ?? 0) && f <= 1), 'progress only grows');
  assert.equal(fractions.at(-1), 1);

  // Every chunk's text is the file's text at its offsets, and its heading path is the one the
  // whole-file chunker gives at that place.
  const whole = chunkDocument(text, { format: 'markdown', countTokens, max_tokens: 240, overlap_tokens: 32 });
  const headingAt = (offset) => whole.findLast((c) => c.start <= offset)?.headings.join(' › ');
  const records = await library.store.fetch(await library.store.idsWhere({ doc: r.doc }));
  assert.equal(records.length, r.chunks);
  for (const { metadata: m, text: chunk } of records) {
    assert.equal(m.headings, headingAt(m.start + 1), `chunk ${m.chunk} at ${m.start}`);
    assert.ok(chunk.endsWith(text.slice(m.start, m.end).trim().slice(-100)), `chunk ${m.chunk}'s text is the file's at its offsets`);
  }
  let checked = 0;
  for (const hit of await library.store.search(null, { text: 'w3x7x30x5', limit: 3 })) {
    const { start, end, headings } = hit.metadata;
    assert.ok(text.slice(start, end).includes('w3x7x30x5'));
    assert.ok(hit.text.endsWith(text.slice(start, end).trim().slice(-200)));
    assert.equal(headings, 'Chapter 3 › Section 3.7');
    assert.equal(headings, headingAt(start + 1));
    checked++;
  }
  assert.ok(checked >= 1);
  // The last chapter's last section is found under its own path (the last piece).
  const [last] = await library.store.search(null, { text: 'w5x11x59x59', limit: 1 });
  assert.equal(last.metadata.headings, 'Chapter 5 › Section 5.11');
});

test('cancelling a streamed file keeps nothing of it and leaves the rest of the library', async () => {
  const library = new Library({ embedder: fakeEmbedder(), countTokens, dimensions: DIMS, storagePath: null });
  const kept = await library.add({ name: 'small.md', size: 20, text: async () => '# Notes\n\nKeep this.' });
  const controller = new AbortController();
  await assert.rejects(
    library.add(new StreamOnly([bigMarkdown()], 'big.md'), { signal: controller.signal, onProgress: ({ done }) => done >= 40 && controller.abort() }),
    (e) => e instanceof LibraryError && /cancelled; nothing of it was kept/.test(e.message));
  const docs = await library.list();
  assert.deepEqual(docs.map((d) => [d.doc, d.chunks]), [[kept.doc, 1]]);
});

test('files the library cannot take get a message that says why', async () => {
  const library = new Library({ embedder: fakeEmbedder(), countTokens, dimensions: DIMS, storagePath: null });
  await assert.rejects(library.add({ name: 'a.md', size: 0, text: async () => '' }), /a.md is empty/);
  await assert.rejects(library.add({ name: 'a.txt', size: 3, text: async () => ' \n ' }), /a.txt is empty/);
  await assert.rejects(library.add({ name: 'big.html', size: 30 * 2 ** 20, text: async () => '' }), /big.html is 30 MB; .html and .pdf files up to 20 MB/);
  await assert.rejects(library.add({ name: 'a.docx', size: 3, text: async () => 'abc' }), /only .txt, .md, .html and .pdf/);
});
