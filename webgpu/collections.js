// The library's collections: named groups of documents. Each is a folder under `library/` in the
// origin-private file system holding one vector store (webgpu/vector_store.js) and its name in
// `collection.json`. The folders are the truth of what exists: a collection whose name file is
// missing still lists (under its id), and nothing else is needed to find it after a reload. Name
// files are written under a temporary name and moved into place, like the store's segments.

import { openFolder } from './vector_segments.js';

export const DEFAULT_COLLECTION = 'default';
const DEFAULT_NAME = 'My documents';
const NAME_FILE = 'collection.json';
const MAX_NAME = 80;

export class CollectionError extends Error {
  constructor(message) {
    super(message);
    this.name = 'CollectionError';
  }
}

export class Collections {
  /** @param {{root?: FileSystemDirectoryHandle, base?: string}} options root: default the OPFS root */
  constructor({ root = null, base = 'library' } = {}) {
    this.ready = (async () => openFolder(root ?? (await navigator.storage.getDirectory()), base))();
  }

  /** The folder path of a collection's vector store, relative to the root (its storagePath). */
  static storagePath(id, base = 'library') {
    return `${base}/${id}`;
  }

  /** Every collection, oldest first: [{id, name, created}]. The default one always exists. */
  async list() {
    const dir = await this.ready;
    const out = [];
    for await (const [id, handle] of dir.entries()) {
      if (handle.kind !== 'directory') continue;
      out.push({ id, ...(await readName(handle, id)) });
    }
    if (!out.some((c) => c.id === DEFAULT_COLLECTION)) {
      await writeName(await dir.getDirectoryHandle(DEFAULT_COLLECTION, { create: true }), { name: DEFAULT_NAME, created: '' });
      out.push({ id: DEFAULT_COLLECTION, name: DEFAULT_NAME, created: '' });
    }
    return out.sort((a, b) => (a.created < b.created ? -1 : a.created > b.created ? 1 : a.id < b.id ? -1 : 1));
  }

  /** A new, empty collection; returns {id, name, created}. */
  async create(name) {
    name = await this.#checkName(name);
    const dir = await this.ready;
    const id = `c-${crypto.randomUUID().slice(0, 8)}`;
    const meta = { name, created: new Date().toISOString() };
    await writeName(await dir.getDirectoryHandle(id, { create: true }), meta);
    return { id, ...meta };
  }

  async rename(id, name) {
    const dir = await this.ready;
    const folder = await dir.getDirectoryHandle(id).catch(() => null);
    if (!folder) throw new CollectionError('that collection no longer exists; reload the page');
    const meta = await readName(folder, id);
    if (meta.name === String(name ?? '').trim()) return;
    await writeName(folder, { ...meta, name: await this.#checkName(name) });
  }

  /** Delete a collection with its documents, chunks and vectors. The default one is emptied instead. */
  async remove(id) {
    const dir = await this.ready;
    const meta = await readName(await dir.getDirectoryHandle(id), id);
    await dir.removeEntry(id, { recursive: true });
    if (id === DEFAULT_COLLECTION) await writeName(await dir.getDirectoryHandle(id, { create: true }), meta);
  }

  async #checkName(name) {
    name = String(name ?? '').trim();
    if (!name) throw new CollectionError('a collection needs a name');
    if (name.length > MAX_NAME) throw new CollectionError(`a collection name has at most ${MAX_NAME} characters`);
    if ((await this.list()).some((c) => c.name === name)) throw new CollectionError(`there is already a collection named “${name}”`);
    return name;
  }
}

async function readName(folder, id) {
  try {
    const meta = JSON.parse(await (await (await folder.getFileHandle(NAME_FILE)).getFile()).text());
    if (typeof meta.name === 'string' && meta.name) return { name: meta.name, created: String(meta.created ?? '') };
  } catch {
    // no name file (or a damaged one): the collection still lists, under its id
  }
  return { name: id === DEFAULT_COLLECTION ? DEFAULT_NAME : id, created: '' };
}

async function writeName(folder, meta) {
  const canMove = typeof FileSystemHandle !== 'undefined' && 'move' in FileSystemHandle.prototype;
  const handle = await folder.getFileHandle(canMove ? `.tmp-name-${Math.random().toString(36).slice(2)}` : NAME_FILE, { create: true });
  try {
    const w = await handle.createWritable();
    await w.write(JSON.stringify(meta));
    await w.close();
    if (canMove) await handle.move(NAME_FILE);
  } catch (e) {
    if (canMove) await folder.removeEntry(handle.name).catch(() => {});
    throw new CollectionError(`could not save the collection's name: ${e?.message ?? e}`);
  }
}
