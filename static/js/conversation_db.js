// The user's conversations, in this browser's IndexedDB. A write counts once its transaction has
// committed; other tabs of the app hear of it on a BroadcastChannel and re-read what changed.
//
// A conversation: {id, title, created, updated, model, system, settings: {temperature, top_p,
// max_tokens}, messages: [{role, content, usage?, finish_reason?, sources?, partial?, branches?,
// version?}]}. `partial` marks an answer still being written (or cut off by a closed tab);
// `branches` holds the other versions of the conversation from that message on.

const DB_NAME = 'inpage';
const DB_VERSION = 1;
const STORE = 'conversations';
const CHANNEL = 'inpage.conversations';
const LEGACY_CHAT_KEY = 'inpage.chat.v1';

export class StorageFullError extends Error {}

export class ConversationDB {
  /** @param {IDBDatabase} db */
  constructor(db) {
    this.db = db;
    this.channel = new BroadcastChannel(CHANNEL);
    this.listeners = new Set();
    this.channel.onmessage = (e) => { for (const f of this.listeners) f(e.data); };
  }

  static open() {
    return new Promise((resolve, reject) => {
      const req = indexedDB.open(DB_NAME, DB_VERSION);
      req.onupgradeneeded = () => req.result.createObjectStore(STORE, { keyPath: 'id' });
      req.onsuccess = () => resolve(new ConversationDB(req.result));
      req.onerror = () => reject(new Error(`this browser's IndexedDB could not be opened (${req.error?.name}): conversations cannot be kept; check that site data is allowed`));
      req.onblocked = () => reject(new Error('another tab holds an older version of inpage open: close it and reload'));
    });
  }

  /** Every conversation, the last changed first. */
  async list() {
    const all = await this.#request('readonly', (s) => s.getAll());
    return all.sort((a, b) => b.updated - a.updated);
  }

  get(id) {
    return this.#request('readonly', (s) => s.get(id));
  }

  /** Stores conversations (whole records) in one transaction; resolves once it has committed. */
  async put(...conversations) {
    await this.#write((s) => { for (const c of conversations) s.put(c); });
    this.#announce({ type: 'put', ids: conversations.map((c) => c.id) });
  }

  async delete(id) {
    await this.#write((s) => s.delete(id));
    this.#announce({ type: 'delete', ids: [id] });
  }

  /** Calls f({type, ids}) when another tab has changed conversations. */
  onChange(f) {
    this.listeners.add(f);
  }

  /**
   * Moves the single conversation older versions kept in localStorage into the database. The
   * localStorage copy is removed only after the database has committed it, and after
   * onMoved(conversation) has run (the page makes it the open chat there). Its id comes from its
   * text, so a move cut short by a reload, or made by two tabs at once, stores it once; a copy
   * already stored (and perhaps continued since) is kept as it is.
   * @returns {Promise<object|null>} the conversation made or found, if there was one
   */
  async migrate(storage, { onMoved, now = Date.now() }) {
    const raw = storage.getItem(LEGACY_CHAT_KEY);
    let messages;
    try {
      messages = JSON.parse(raw ?? 'null');
    } catch {
      return null; // unreadable: leave it where it is rather than lose it
    }
    if (!Array.isArray(messages)) return null;
    messages = messages.filter((m) => m && typeof m.content === 'string' && ['user', 'assistant'].includes(m.role));
    if (messages.length === 0) {
      storage.removeItem(LEGACY_CHAT_KEY);
      return null;
    }
    const first = messages.find((m) => m.role === 'user');
    const made = { id: await legacyId(raw), title: first ? first.content : 'Earlier chat', created: now, updated: now,
      model: null, system: '', settings: {}, messages };
    const conversation = await this.#add(made);
    onMoved(conversation);
    storage.removeItem(LEGACY_CHAT_KEY);
    return conversation;
  }

  // Stores c unless a conversation with its id is there already; resolves to the one stored.
  async #add(c) {
    let stored = c;
    await this.#write((s) => {
      const req = s.get(c.id);
      req.onsuccess = () => { if (req.result) stored = req.result; else s.put(c); };
    });
    if (stored === c) this.#announce({ type: 'put', ids: [c.id] });
    return stored;
  }

  #announce(message) {
    this.channel.postMessage(message);
  }

  #request(mode, make) {
    return new Promise((resolve, reject) => {
      const req = make(this.db.transaction(STORE, mode).objectStore(STORE));
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
  }

  #write(apply) {
    return new Promise((resolve, reject) => {
      const tx = this.db.transaction(STORE, 'readwrite');
      apply(tx.objectStore(STORE));
      tx.oncomplete = () => resolve();
      tx.onabort = tx.onerror = () => reject(writeError(tx.error));
    });
  }
}

// The id of the conversation an older version kept: from a SHA-256 of its text.
async function legacyId(raw) {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(raw)));
  return `legacy-${[...digest.slice(0, 16)].map((b) => b.toString(16).padStart(2, '0')).join('')}`;
}

function writeError(error) {
  if (error?.name === 'QuotaExceededError') {
    return new StorageFullError('browser storage is full, so this change to your conversations was not saved (what was saved before is kept): export your conversations, then free space by deleting a model or old conversations');
  }
  return new Error(`saving the conversation failed (${error?.name ?? 'unknown error'}): export it before closing the tab`);
}
