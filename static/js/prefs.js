// The user's page settings (the model picked, defaults for new conversations, the conversation
// open last), in this browser's localStorage. Conversations themselves live in IndexedDB.

const PREFS_KEY = 'inpage.prefs.v1';

export class Prefs {
  /** @param {Storage} storage */
  constructor(storage) {
    this.storage = storage;
    try {
      this.values = JSON.parse(storage.getItem(PREFS_KEY) ?? 'null') ?? {};
    } catch {
      this.values = {};
    }
  }

  get(key) {
    return this.values[key];
  }

  set(key, value) {
    this.values[key] = value;
    try {
      this.storage.setItem(PREFS_KEY, JSON.stringify(this.values));
    } catch {
      // Storage full or disabled: the setting holds for this visit.
    }
  }
}
