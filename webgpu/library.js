// A private document library for retrieval-augmented chat: files in (text, Markdown, HTML, PDF), split
// by the chunker to the embedding model's budget, embedded by the in-page encoder, kept in the
// vector store (OPFS); a question out as numbered passages for the chat prompt. Nothing leaves the
// tab: the embedder is our engine, the store is the origin's private file system.

import { chunkDocument } from './chunker.js';
import { VectorStore } from './vector_store.js';

export const MAX_FILE_BYTES = 20 * 2 ** 20; // larger files are refused until ingestion streams them
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
   * Add a file (a File or {name, text()}). onProgress({done, total, chunks_per_s}) after each batch.
   * Batches are committed as they are embedded: a closed tab keeps what was stored.
   */
  async add(file, { onProgress = () => {} } = {}) {
    const format = formatOf(file.name);
    if (!format) throw new LibraryError(`${file.name}: only .txt, .md, .html and .pdf files can be added so far`);
    if (file.size > MAX_FILE_BYTES) {
      throw new LibraryError(`${file.name} is ${(file.size / 2 ** 20).toFixed(0)} MB; files up to ${MAX_FILE_BYTES / 2 ** 20} MB can be added so far`);
    }
    if (file.size === 0) throw new LibraryError(`${file.name} is empty; there is nothing to add`);
    // A PDF's text layer, page by page as Markdown sections (pdf.js, loaded only for PDFs).
    const text = format === 'pdf' ? await (await import('./pdf_text.js')).pdfText(file) : await file.text();
    if (!text.trim()) throw new LibraryError(`${file.name} is empty; there is nothing to add`);
    const chunks = chunkDocument(text, { format: format === 'pdf' ? 'markdown' : format, countTokens: this.countTokens, max_tokens: CHUNK_TOKENS, overlap_tokens: OVERLAP_TOKENS,
      strategy: this.strategy });
    if (chunks.length === 0) throw new LibraryError(`${file.name} has no text to add`);
    const doc = crypto.randomUUID();
    const added = new Date().toISOString();
    const t0 = performance.now();
    for (let i = 0; i < chunks.length; i += BATCH) {
      const batch = chunks.slice(i, i + BATCH);
      const { data } = await this.embedder.embeddings.create({ input: batch.map((c) => passageText(file.name, c)) });
      await this.store.insert(batch.map((c, k) => ({
        id: `${doc}#${i + k}`, vector: data[k].embedding, text: c.text,
        metadata: { doc, name: file.name, added, chunk: i + k, headings: c.headings.join(' › '), start: c.start, end: c.end },
      })));
      const done = Math.min(i + BATCH, chunks.length);
      onProgress({ done, total: chunks.length, chunks_per_s: done / ((performance.now() - t0) / 1000) });
    }
    return { doc, name: file.name, chunks: chunks.length };
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
