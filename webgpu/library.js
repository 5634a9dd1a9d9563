// A private document library for retrieval-augmented chat: files in (text, Markdown, HTML, PDF), split
// by the chunker to the embedding model's budget, embedded by the in-page encoder, kept in the
// vector store (OPFS); a question out as numbered passages for the chat prompt. Nothing leaves the
// tab: the embedder is our engine, the store is the origin's private file system.

import { HEADING, chunkDocument } from './chunker.js';
import { VectorStore } from './vector_store.js';

// .html and .pdf files are read whole (their parsers need all of them): larger ones are refused.
// Text and Markdown of any size stream, PIECE_CHARS at a time, so a file is never held whole.
export const MAX_WHOLE_BYTES = 20 * 2 ** 20;
const STREAM_FROM = 2 * 2 ** 20;
const PIECE_CHARS = 2 ** 20;
const CHUNK_TOKENS = 240; // under the encoder's 256-token cut, [CLS] and [SEP] included
const OVERLAP_TOKENS = 32;
const BATCH = 8; // chunks per embedding call and per commit to the store

export class LibraryError extends Error {
  constructor(message) {
    super(message);
    this.name = 'LibraryError';
  }
}

/** The chunker's format for a file name, or null for what the library cannot read. */
export function formatOf(name) {
  const ext = name.toLowerCase().split('.').pop();
  return { txt: 'text', text: 'text', md: 'markdown', markdown: 'markdown', html: 'html', htm: 'html', pdf: 'pdf' }[ext] ?? null;
}

/**
 * An embedding model loaded for a Library (our WASM engine): {embedder, dimensions, countTokens}.
 * @param {string|object} model a model id or its manifest
 */
export async function openEmbedder(model) {
  const { createEngine, fetchManifest } = await import('./engine.js');
  const { loadShards } = await import('./shards.js');
  const { readGGUF } = await import('./gguf.js');
  const { WordPiece } = await import('./wordpiece.js');
  const manifest = typeof model === 'string' ? await fetchManifest(model) : model;
  const wordpiece = WordPiece.fromMetadata((await readGGUF((await loadShards(manifest)).blobs)).metadata);
  const embedder = await createEngine({ model: manifest, backend: 'wasm' });
  const dimensions = (await embedder.embeddings.create({ input: 'dimensions' })).data[0].embedding.length;
  return { embedder, dimensions, countTokens: (s) => wordpiece.encode(s).length - 2 };
}

export class Library {
  /**
   * @param {{embedder: {embeddings: {create: Function}}, countTokens: (s: string) => number,
   *          dimensions: number, storagePath?: string|null, directory?: FileSystemDirectoryHandle,
   *          strategy?: 'structure'|'window'}} options
   *   embedder: an engine on an embedding model; countTokens: its tokenizer's count, without specials;
   *   storagePath null: in memory only; strategy: the chunker's (structure: measured the better one,
   *   `inpage bench --suite retrieval`).
   */
  constructor({ embedder, countTokens, dimensions, storagePath = 'library/default', directory, strategy = 'structure' }) {
    this.embedder = embedder;
    this.countTokens = countTokens;
    this.strategy = strategy;
    this.store = new VectorStore({ dimensions, metric: 'cosine', storagePath, directory });
  }

  /** Documents stored: [{doc, name, chunks, added}], oldest first. */
  async list() {
    return (await this.store.facets('doc')).map((f) => ({ doc: f.value, name: f.metadata.name, chunks: f.count, added: f.metadata.added }));
  }

  /**
   * Add a file (a File, or {name, size, text()}). onProgress({done, fraction, chunks_per_s}) after
   * each batch (done: chunks stored; fraction: of the file). Batches are committed as they are
   * embedded: a closed tab or a full disk keeps what was stored. signal (an AbortSignal) cancels;
   * a cancelled file leaves nothing of itself.
   */
  async add(file, { onProgress = () => {}, signal = null } = {}) {
    const format = formatOf(file.name);
    if (!format) throw new LibraryError(`${file.name}: only .txt, .md, .html and .pdf files can be added so far`);
    if (file.size === 0) throw new LibraryError(`${file.name} is empty; there is nothing to add`);
    const streamed = (format === 'text' || format === 'markdown') && file.size > STREAM_FROM && typeof file.stream === 'function';
    if (!streamed && file.size > MAX_WHOLE_BYTES) {
      throw new LibraryError(`${file.name} is ${(file.size / 2 ** 20).toFixed(0)} MB; .html and .pdf files up to ${MAX_WHOLE_BYTES / 2 ** 20} MB can be added (text and Markdown of any size)`);
    }
    const doc = crypto.randomUUID();
    const added = new Date().toISOString();
    const t0 = performance.now();
    let done = 0;
    let before = 0; // the fraction of the file read before the current piece
    try {
      for await (const piece of streamed ? textPieces(file, format === 'markdown') : [await wholeText(file, format)]) {
        // A streamed piece is chunked under the heading path it starts in, then offsets are shifted back.
        const prefix = piece.headings.map((h) => `${'#'.repeat(h.level)} ${h.title}\n`).join('');
        const chunks = chunkDocument(prefix + piece.text, { format: piece.format, countTokens: this.countTokens, max_tokens: CHUNK_TOKENS,
          overlap_tokens: OVERLAP_TOKENS, strategy: this.strategy })
          .filter((c) => c.end > prefix.length)
          .map((c) => ({ ...c, start: piece.base + Math.max(0, c.start - prefix.length), end: piece.base + c.end - prefix.length }));
        for (let i = 0; i < chunks.length; i += BATCH) {
          signal?.throwIfAborted();
          const batch = chunks.slice(i, i + BATCH);
          const { data } = await this.embedder.embeddings.create({ input: batch.map((c) => passageText(file.name, c)) });
          signal?.throwIfAborted();
          await this.store.insert(batch.map((c, k) => ({
            id: `${doc}#${done + k}`, vector: data[k].embedding, text: c.text,
            metadata: { doc, name: file.name, added, chunk: done + k, headings: c.headings.join(' › '), start: c.start, end: c.end },
          })));
          done += batch.length;
          const fraction = before + (piece.fraction - before) * Math.min(1, (i + BATCH) / chunks.length);
          onProgress({ done, fraction, chunks_per_s: done / ((performance.now() - t0) / 1000) });
        }
        before = piece.fraction;
      }
    } catch (e) {
      if (!signal?.aborted) throw e;
      await this.remove(doc).catch(() => {});
      throw new LibraryError(`adding ${file.name} was cancelled; nothing of it was kept`);
    }
    if (done === 0) throw new LibraryError(`${file.name} has no text to add`);
    return { doc, name: file.name, chunks: done };
  }

  /** Remove a document's chunks and vectors; returns how many. */
  async remove(doc) {
    return this.store.delete(await this.store.idsWhere({ doc }));
  }

  /**
   * The passages that best answer a question: [{n, doc, name, headings, text, score}], numbered
   * from 1 for citations. Hybrid: the question's embedding and its words (BM25), fused.
   */
  async retrieve(question, { limit = 4 } = {}) {
    if ((await this.store.count()) === 0) return [];
    const { data } = await this.embedder.embeddings.create({ input: question });
    const hits = await this.store.search(data[0].embedding, { limit, text: question });
    return hits.map((h, i) => ({ n: i + 1, doc: h.metadata.doc, name: h.metadata.name, headings: h.metadata.headings, text: h.text, score: h.score }));
  }

  close() {
    this.store.close();
  }
}

// What is embedded for a chunk: its file and headings give context the chunk's words may lack.
// The whole text of a small file (a PDF's text layer, page by page as Markdown sections, by pdf.js,
// loaded only for PDFs), as the one piece of it.
async function wholeText(file, format) {
  const text = format === 'pdf' ? await (await import('./pdf_text.js')).pdfText(file) : await file.text();
  if (!text.trim()) throw new LibraryError(`${file.name} is empty; there is nothing to add`);
  return { text, base: 0, headings: [], fraction: 1, format: format === 'pdf' ? 'markdown' : format };
}

// A large text file in pieces of about PIECE_CHARS, cut at a paragraph break (else a line break):
// {text, base (its offset in the file's text), headings (the Markdown heading path it starts under),
// fraction (of the file's bytes read)}. At most a piece and one read are in memory.
async function* textPieces(file, markdown) {
  let read = 0;
  const counted = new TransformStream({ transform(bytes, out) {
    read += bytes.byteLength;
    out.enqueue(bytes);
  } });
  const reader = file.stream().pipeThrough(counted).pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  let base = 0;
  let path = [];
  for (let end = false; !end;) {
    const { value, done } = await reader.read();
    end = done;
    if (value) buf += value;
    while (buf.length >= PIECE_CHARS || (end && buf.length > 0)) {
      let cut = Math.min(buf.length, PIECE_CHARS);
      if (cut < buf.length) {
        for (const sep of ['\n\n', '\n']) {
          const at = buf.lastIndexOf(sep, PIECE_CHARS);
          if (at > PIECE_CHARS / 2) {
            cut = at + sep.length;
            break;
          }
        }
      }
      const text = buf.slice(0, cut);
      yield { text, base, headings: path, fraction: end && cut === buf.length ? 1 : Math.min(1, read / file.size), format: markdown ? 'markdown' : 'text' };
      if (markdown) {
        for (const m of text.matchAll(HEADING)) path = [...path.filter((h) => h.level < m[1].length), { level: m[1].length, title: m[2].trim() }];
      }
      base += cut;
      buf = buf.slice(cut);
    }
  }
}

function passageText(name, chunk) {
  const where = [name, ...chunk.headings].join(' › ');
  return `${where}\n${chunk.text}`;
}

/**
 * The system message that puts passages in front of the model, within about max_chars.
 * The model is asked to cite them as [n].
 */
export function passagesPrompt(passages, { max_chars = 3000 } = {}) {
  let used = 0;
  const parts = [];
  for (const p of passages) {
    const block = `[${p.n}] (${[p.name, p.headings].filter(Boolean).join(' › ')})\n${p.text}`;
    if (parts.length && used + block.length > max_chars) break;
    parts.push(block.slice(0, max_chars));
    used += block.length;
  }
  return 'Answer using the numbered passages from the user\'s documents below. Cite the passages you use as [1], [2]. ' +
    'If they do not hold the answer, say so.\n\n' + parts.join('\n\n');
}
