// The documents panel: collections to keep documents apart (make, rename, delete, pick one), files
// picked or dropped into the chosen one, watched while they are embedded, listed and deleted, and
// retrieval switched on for the chat (it asks the chosen collection). The library
// (webgpu/library.js) and its embedding engine are loaded the first time they are needed.

import { Collections, DEFAULT_COLLECTION } from '/webgpu/collections.js';
import { Library, openEmbedder } from '/webgpu/library.js';

export class LibraryView {
  /**
   * @param {{root, drop, files, status, progress, cancel, docs, use, collection, create, rename, remove}} ui elements
   * @param {{model: string|null, onError: (e) => void, storage: Storage}} options model: the embedding model's id
   */
  constructor(ui, { model, onError, storage }) {
    this.ui = ui;
    this.model = model;
    this.onError = onError;
    this.storage = storage;
    this.library = null; // the chosen collection's Library
    this.opening = null; // the embedding engine, loading or loaded
    this.queue = Promise.resolve();
    this.collections = new Collections();
    this.collection = storage.getItem('inpage.library.collection') || DEFAULT_COLLECTION;
    ui.collection.addEventListener('change', () => this.choose(ui.collection.value));
    ui.create.addEventListener('click', () => this.#edit(async () => {
      const name = prompt('Name of the new collection');
      if (name !== null) await this.choose((await this.collections.create(name)).id);
    }));
    ui.rename.addEventListener('click', () => this.#edit(async () => {
      const current = ui.collection.selectedOptions[0]?.textContent ?? '';
      const name = prompt('New name of this collection', current);
      if (name !== null) await this.collections.rename(this.collection, name);
    }));
    ui.remove.addEventListener('click', () => this.#edit(async () => {
      const name = ui.collection.selectedOptions[0]?.textContent ?? this.collection;
      const docs = this.library ? (await this.library.list()).length : 0;
      const what = this.collection === DEFAULT_COLLECTION ? 'Empty' : 'Delete';
      if (!confirm(`${what} the collection “${name}” and its ${docs} documents in this browser?`)) return;
      this.library?.store.close();
      this.library = null;
      await this.collections.remove(this.collection);
      await this.choose(DEFAULT_COLLECTION);
    }));
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
      for (const b of [ui.collection, ui.create, ui.rename, ui.remove]) b.disabled = true;
      this.status('No embedding model is installed on the host. Run `inpage models pull minilm-l6` there, then reload.');
    }
  }

  /** Retrieval is on and there is a library to ask. */
  get enabled() {
    return Boolean(this.model) && this.ui.use.checked;
  }

  /** The chosen collection's Library, with the embedding engine loaded on first use. */
  async open() {
    this.opening ??= (async () => {
      this.status('Loading the embedding model…');
      const embedding = await openEmbedder(this.model);
      this.status('');
      return embedding;
    })();
    let embedding;
    try {
      embedding = await this.opening;
    } catch (e) {
      this.opening = null;
      throw e;
    }
    if (this.library?.collection !== this.collection) {
      this.library?.store.close();
      this.library = new Library({ ...embedding, storagePath: Collections.storagePath(this.collection) });
      this.library.collection = this.collection;
    }
    return this.library;
  }

  /** Make collection id the one documents go into and answers come from. */
  async choose(id) {
    this.collection = id;
    this.storage.setItem('inpage.library.collection', id);
    await this.refresh();
  }

  // A collection change from a button: errors go to the page, the list is redrawn either way.
  async #edit(fn) {
    try {
      await fn();
    } catch (e) {
      this.onError(e);
    }
    await this.refresh();
  }

  /** Add files one after another; Cancel stops the file being added (nothing of it is kept) and the rest. */
  addFiles(files) {
    const controller = new AbortController();
    this.queue = this.queue.then(async () => {
      for (const file of files) {
        if (controller.signal.aborted) break;
        try {
          const library = await this.open();
          this.ui.progress.hidden = false;
          this.ui.cancel.hidden = false;
          this.ui.cancel.onclick = () => controller.abort();
          this.ui.progress.value = 0;
          this.status(`Adding ${file.name}…`);
          const r = await library.add(file, { signal: controller.signal, onProgress: ({ done, fraction, chunks_per_s }) => {
            this.ui.progress.value = fraction;
            const left = fraction > 0 && fraction < 1 ? `, about ${duration((done / fraction - done) / chunks_per_s)} left` : '';
            this.status(`Adding ${file.name}: ${done} chunks, ${(100 * fraction).toFixed(0)}%, ${chunks_per_s.toFixed(1)} chunks/s${left}`);
          } });
          this.status(`Added ${r.name}: ${r.chunks} chunks.`);
          document.body.dataset.library = 'ready';
        } catch (e) {
          this.status('');
          this.onError(e);
        } finally {
          this.ui.progress.hidden = true;
          this.ui.cancel.hidden = true;
          await this.refresh();
        }
      }
    });
    return this.queue;
  }

  async refresh() {
    if (!this.model) return;
    const collections = await this.collections.list().catch((e) => this.onError(e));
    if (!collections) return;
    if (!collections.some((c) => c.id === this.collection)) this.collection = DEFAULT_COLLECTION;
    this.ui.collection.replaceChildren(...collections.map((c) => {
      const option = document.createElement('option');
      option.value = c.id;
      option.textContent = c.name;
      option.selected = c.id === this.collection;
      return option;
    }));
    this.ui.remove.textContent = this.collection === DEFAULT_COLLECTION ? 'Empty' : 'Delete';
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

// Seconds as a short human duration: "40 s", "12 min", "3 h 20 min".
function duration(s) {
  if (!Number.isFinite(s)) return 'a while';
  if (s < 90) return `${Math.max(1, Math.round(s))} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}
