// The documents panel: pick or drop files, watch them being embedded, list and delete them, and
// switch retrieval on for the chat. The library (webgpu/library.js) and its embedding engine are
// loaded the first time they are needed.

import { createEngine, fetchManifest } from '/webgpu/engine.js';
import { readGGUF } from '/webgpu/gguf.js';
import { Library } from '/webgpu/library.js';
import { loadShards } from '/webgpu/shards.js';
import { WordPiece } from '/webgpu/wordpiece.js';

export class LibraryView {
  /**
   * @param {{root, drop, files, status, progress, docs, use}} ui elements
   * @param {{model: string|null, onError: (e) => void, storage: Storage}} options model: the embedding model's id
   */
  constructor(ui, { model, onError, storage }) {
    this.ui = ui;
    this.model = model;
    this.onError = onError;
    this.storage = storage;
    this.library = null;
    this.opening = null;
    this.queue = Promise.resolve();
    ui.use.checked = storage.getItem('inpage.library.use') === '1';
    ui.use.addEventListener('change', () => storage.setItem('inpage.library.use', ui.use.checked ? '1' : '0'));
    ui.files.addEventListener('change', () => {
      this.addFiles([...ui.files.files]);
      ui.files.value = '';
    });
    ui.drop.addEventListener('dragover', (e) => {
      e.preventDefault();
      ui.drop.classList.add('over');
    });
    ui.drop.addEventListener('dragleave', () => ui.drop.classList.remove('over'));
    ui.drop.addEventListener('drop', (e) => {
      e.preventDefault();
      ui.drop.classList.remove('over');
      this.addFiles([...e.dataTransfer.files]);
    });
    ui.root.addEventListener('toggle', () => ui.root.open && this.refresh());
    if (!model) {
      ui.files.disabled = true;
      ui.use.disabled = true;
      this.status('No embedding model is installed on the host. Run `inpage models pull minilm-l6` there, then reload.');
    }
  }

  /** Retrieval is on and there is a library to ask. */
  get enabled() {
    return Boolean(this.model) && this.ui.use.checked;
  }

  async open() {
    this.opening ??= (async () => {
      this.status('Loading the embedding model…');
      const manifest = await fetchManifest(this.model);
      const { blobs } = await loadShards(manifest);
      const wordpiece = WordPiece.fromMetadata((await readGGUF(blobs)).metadata);
      const embedder = await createEngine({ model: manifest, backend: 'wasm' });
      const dimensions = (await embedder.embeddings.create({ input: 'dimensions' })).data[0].embedding.length;
      this.library = new Library({ embedder, dimensions, countTokens: (s) => wordpiece.encode(s).length - 2 });
      this.status('');
      return this.library;
    })();
    try {
      return await this.opening;
    } catch (e) {
      this.opening = null;
      throw e;
    }
  }

  addFiles(files) {
    this.queue = this.queue.then(async () => {
      for (const file of files) {
        try {
          const library = await this.open();
          this.ui.progress.hidden = false;
          this.ui.progress.value = 0;
          this.status(`Adding ${file.name}…`);
          const r = await library.add(file, { onProgress: ({ done, total, chunks_per_s }) => {
            this.ui.progress.value = done / total;
            this.status(`Adding ${file.name}: ${done} of ${total} chunks, ${chunks_per_s.toFixed(1)} chunks/s`);
          } });
          this.status(`Added ${r.name}: ${r.chunks} chunks.`);
          document.body.dataset.library = 'ready';
        } catch (e) {
          this.status('');
          this.onError(e);
        } finally {
          this.ui.progress.hidden = true;
          await this.refresh();
        }
      }
    });
    return this.queue;
  }

  async refresh() {
    if (!this.model) return;
    const library = await this.open().catch((e) => this.onError(e));
    if (!library) return;
    const docs = await library.list();
    this.ui.docs.replaceChildren(...docs.map((d) => {
      const li = document.createElement('li');
      li.dataset.doc = d.doc;
      const name = document.createElement('span');
      name.textContent = `${d.name} · ${d.chunks} chunks`;
      const del = document.createElement('button');
      del.type = 'button';
      del.textContent = 'Delete';
      del.addEventListener('click', async () => {
        if (!confirm(`Delete ${d.name} and its ${d.chunks} chunks from this browser?`)) return;
        try {
          await library.remove(d.doc);
        } catch (e) {
          this.onError(e);
        }
        await this.refresh();
      });
      li.append(name, del);
      return li;
    }));
  }

  /** Passages for a question, or [] when retrieval is off or the library is empty. */
  async retrieve(question) {
    if (!this.enabled) return [];
    return (await this.open()).retrieve(question);
  }

  status(text) {
    this.ui.status.textContent = text;
  }
}
