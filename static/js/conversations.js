// The open conversation and the list of all of them, kept in IndexedDB as they change: the user's
// turn before the model answers, the answer while it streams (at most a second behind, marked
// `partial` until it ends), so a closed tab or a crash keeps everything but the last second.

import { ConversationDB } from './conversation_db.js';
import { exportJSON, exportMarkdown, importSummary, parseImport, planImport, titleFrom } from './conversation_io.js';

const SAVE_EVERY_MS = 1000;

export class Conversations {
  /** @param {ConversationDB} db */
  constructor(db, { onError, onOutsideChange }) {
    this.db = db;
    this.onError = onError;
    this.all = [];
    this.current = blank({});
    this.saving = Promise.resolve();
    this.timer = null;
    db.onChange(async (change) => {
      await this.refresh();
      onOutsideChange(change);
    });
  }

  /**
   * Opens the database and moves the conversation an older version kept in localStorage into it
   * (onMigrated(conversation) runs before the old copy is removed).
   */
  static async open(storage, { onMigrated, ...options }) {
    const db = await ConversationDB.open();
    const self = new Conversations(db, options);
    await db.migrate(storage, { onMoved: onMigrated });
    await self.refresh();
    return self;
  }

  async refresh() {
    this.all = await this.db.list();
  }

  /** Opens a stored conversation (or a new, empty one when id is unknown). */
  async select(id, defaults) {
    const stored = id ? await this.db.get(id) : null;
    this.current = stored ?? blank(defaults);
    return this.current;
  }

  /** A new, empty conversation; it is stored once the user sends something. */
  startNew(defaults) {
    this.current = blank(defaults);
    return this.current;
  }

  /** The user's message, stored before the model sees it. */
  async addUser(content, model) {
    const c = this.current;
    if (!c.id) Object.assign(c, { id: crypto.randomUUID(), created: Date.now(), title: titleFrom(content) });
    c.model = model;
    c.messages.push({ role: 'user', content });
    await this.saveNow();
  }

  /**
   * Edit-and-resend: the user's message at index i gets new text. What followed it is kept as
   * another version of the conversation from there (switchVersion shows it again).
   */
  async editUser(i, content) {
    const versions = this.#cut(i);
    this.current.messages.push({ role: 'user', content, ...versions });
    await this.saveNow();
  }

  /** Regenerate: the answer at index i is answered again; the old one (and what followed) is kept. */
  regenerate(i) {
    return this.#cut(i);
  }

  /** Shows version j (0-based) of the conversation from index i on. */
  async switchVersion(i, j) {
    const all = this.#versions(i);
    if (!all[j]) return;
    this.#place(i, all, j);
    await this.saveNow();
  }

  // Version j of `all` becomes the conversation from index i on; its first message keeps the others.
  #place(i, all, j) {
    const chosen = all[j];
    this.current.messages.splice(i, Infinity, ...chosen);
    const others = all.filter((_, k) => k !== j);
    if (others.length) Object.assign(chosen[0], { branches: others, version: j });
  }

  /** Every version of the conversation from index i on (each an array of messages), in order. */
  #versions(i) {
    const head = this.current.messages[i];
    const tail = this.current.messages.slice(i);
    const { branches = [], version = 0 } = head;
    delete head.branches;
    delete head.version;
    const all = [...branches];
    all.splice(version, 0, tail);
    return all;
  }

  // Removes the messages from index i on; returns the fields that make the next message there the
  // newest of their versions.
  #cut(i) {
    const all = this.#versions(i);
    this.current.messages.splice(i);
    return { branches: all, version: all.length };
  }

  /** An empty assistant message marked partial; progress() fills it in. */
  startAnswer(versions = {}) {
    const m = { role: 'assistant', content: '', partial: true, ...versions };
    this.current.messages.push(m);
    return m;
  }

  progress(message, content) {
    message.content = content;
    this.#saveSoon();
  }

  /** The answer ended (stop, length, abort or error): the final text and stats, stored now. */
  async finish(message, fields) {
    Object.assign(message, fields);
    delete message.partial;
    if (!message.content) {
      // Nothing was written: drop the empty answer, and if it was a new version, show the last one.
      const messages = this.current.messages;
      const i = messages.indexOf(message);
      const { branches } = message;
      if (branches?.length) this.#place(i, branches, branches.length - 1);
      else messages.splice(i, 1);
    }
    await this.saveNow();
  }

  /** The conversation as the model reads it: the system prompt, then every finished turn. */
  history() {
    const c = this.current;
    const turns = c.messages.filter((m) => !m.partial).map(({ role, content }) => ({ role, content }));
    return c.system ? [{ role: 'system', content: c.system }, ...turns] : turns;
  }

  /**
   * Per-conversation settings: system prompt, temperature, top_p, max_tokens; the pinned tier
   * ('auto', 'fast', 'capable' or 'remote'); remote: the consent to the remote tier
   * ({name, endpoint, documents, at}), or null once revoked.
   */
  async configure({ system, settings, tier, remote }) {
    const c = this.current;
    if (system !== undefined) c.system = system;
    if (settings) c.settings = { ...c.settings, ...settings };
    if (tier !== undefined) c.tier = tier;
    if (remote !== undefined) c.remote = remote;
    if (c.id) await this.saveNow();
  }

  async rename(id, title) {
    const c = id === this.current.id ? this.current : await this.db.get(id);
    if (!c) return;
    c.title = title;
    await this.#store(c);
  }

  async delete(conversation) {
    clearTimeout(this.timer);
    await this.db.delete(conversation.id);
    await this.refresh();
  }

  async restore(conversation) {
    await this.db.put(conversation);
    await this.refresh();
  }

  /** Stores the open conversation now (after any save already under way). */
  saveNow() {
    clearTimeout(this.timer);
    this.timer = null;
    const c = this.current;
    if (!c.id) return Promise.resolve();
    return this.#store(c);
  }

  /** For `pagehide`: start the write of whatever is pending; the browser may still finish it. */
  flush() {
    if (this.timer) this.saveNow().catch(() => {});
  }

  /** The text of an export and its file name. */
  async exportFile(which, kind) {
    const list = which === 'all' ? await this.db.list() : this.current.id ? [this.current] : [];
    const stamp = new Date().toISOString().slice(0, 10);
    const name = which === 'all' ? `inpage-conversations-${stamp}` : `inpage-${slug(this.current.title)}-${stamp}`;
    return kind === 'json'
      ? { name: `${name}.json`, type: 'application/json', text: exportJSON(list) }
      : { name: `${name}.md`, type: 'text/markdown', text: exportMarkdown(list) };
  }

  /** Imports an export's text; returns the sentence saying what was added, updated and skipped. */
  async importText(text) {
    const { conversations, invalid } = parseImport(text);
    const stored = new Map((await this.db.list()).map((c) => [c.id, c]));
    const plan = planImport(stored, conversations);
    if (plan.put.length) await this.db.put(...plan.put);
    await this.refresh();
    return importSummary(plan, invalid);
  }

  #saveSoon() {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.saveNow().catch(this.onError);
    }, SAVE_EVERY_MS);
  }

  #store(c) {
    c.updated = Date.now();
    const done = this.saving.catch(() => {}).then(() => this.db.put(c));
    this.saving = done;
    // The list follows without reading every conversation back: this one is now the newest.
    return done.then(() => { this.all = [c, ...this.all.filter((x) => x.id !== c.id)]; });
  }
}

function blank({ model = null, system = '', settings = {} }) {
  return { id: null, title: 'New chat', created: 0, updated: 0, model, system, settings: { ...settings }, messages: [] };
}

function slug(title) {
  return title.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 40) || 'chat';
}
