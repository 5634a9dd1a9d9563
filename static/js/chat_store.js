// The conversation and the user's settings, kept in this browser's localStorage only.
// Saved after every change, so a reload or a crash mid-answer loses at most the unfinished tokens.

const CHAT_KEY = 'inpage.chat.v1';
const PREFS_KEY = 'inpage.prefs.v1';

export class ChatStore {
  /** @param {Storage} storage */
  constructor(storage) {
    this.storage = storage;
    this.messages = readJSON(storage, CHAT_KEY, []).filter(
      (m) => m && typeof m.content === 'string' && ['user', 'assistant'].includes(m.role)
    );
    this.prefs = readJSON(storage, PREFS_KEY, {});
  }

  add(message) {
    this.messages.push(message);
    this.save();
    return message;
  }

  clear() {
    this.messages = [];
    this.save();
  }

  setPref(key, value) {
    this.prefs[key] = value;
    this.storage.setItem(PREFS_KEY, JSON.stringify(this.prefs));
  }

  save() {
    try {
      this.storage.setItem(CHAT_KEY, JSON.stringify(this.messages));
    } catch {
      // Storage full or disabled: the chat still lives in memory for this visit.
    }
  }
}

function readJSON(storage, key, fallback) {
  try {
    const value = JSON.parse(storage.getItem(key) ?? 'null');
    return value ?? fallback;
  } catch {
    return fallback;
  }
}
