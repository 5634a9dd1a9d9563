// The sidebar: the user's conversations, the last changed first, with search over titles and
// text, rename and delete (with a few seconds to undo), export and import.

import { matches } from './conversation_io.js';
import { button } from './dom.js';

const UNDO_MS = 8000;

export class ConversationList {
  /**
   * @param {{root, search, list, undo, exportJson, exportMarkdown, exportAllJson, exportAllMarkdown, importFile}} ui
   * @param {{onOpen: (id) => void, onRename: (id, title) => void, onDelete: (c) => void, onRestore: (c) => void,
   *          onExport: (which: 'current'|'all', kind: 'json'|'markdown') => void, onImport: (File) => void}} actions
   */
  constructor(ui, actions) {
    this.ui = ui;
    this.actions = actions;
    this.conversations = [];
    this.current = null;
    ui.search.addEventListener('input', () => this.#render());
    ui.exportJson.addEventListener('click', () => actions.onExport('current', 'json'));
    ui.exportMarkdown.addEventListener('click', () => actions.onExport('current', 'markdown'));
    ui.exportAllJson.addEventListener('click', () => actions.onExport('all', 'json'));
    ui.exportAllMarkdown.addEventListener('click', () => actions.onExport('all', 'markdown'));
    ui.importFile.addEventListener('change', () => {
      const file = ui.importFile.files[0];
      ui.importFile.value = '';
      if (file) actions.onImport(file);
    });
  }

  /** Shows these conversations, with `current` (an id or null) marked as open. */
  show(conversations, current) {
    this.conversations = conversations;
    this.current = current;
    this.#render();
  }

  /** After a delete: a notice with Undo that restores the conversation, for a few seconds. */
  offerUndo(conversation) {
    const { undo } = this.ui;
    clearTimeout(this.undoTimer);
    const text = document.createElement('span');
    text.textContent = `Deleted “${conversation.title}”.`;
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = 'Undo';
    button.addEventListener('click', () => {
      undo.hidden = true;
      this.actions.onRestore(conversation);
    });
    undo.replaceChildren(text, button);
    undo.hidden = false;
    this.undoTimer = setTimeout(() => { undo.hidden = true; }, UNDO_MS);
  }

  #render() {
    const query = this.ui.search.value;
    const shown = this.conversations.filter((c) => matches(c, query));
    const items = shown.map((c) => this.#item(c));
    if (items.length === 0) {
      const empty = document.createElement('li');
      empty.className = 'empty';
      empty.textContent = this.conversations.length ? 'No conversation matches.' : 'No saved conversations yet.';
      items.push(empty);
    }
    this.ui.list.replaceChildren(...items);
    this.ui.list.removeAttribute('aria-busy'); // read from the database: shown
  }

  #item(c) {
    const li = document.createElement('li');
    li.dataset.id = c.id;
    if (c.id === this.current) li.setAttribute('aria-current', 'true');
    const open = document.createElement('button');
    open.type = 'button';
    open.className = 'open';
    open.textContent = c.title;
    open.title = `${c.title}\n${new Date(c.updated).toLocaleString()} · ${c.messages.length} messages`;
    open.addEventListener('click', () => this.actions.onOpen(c.id));
    const rename = button('rename', 'Rename', `Rename “${c.title}”`, () => {
      const title = prompt('New name for this conversation', c.title)?.trim();
      if (title && title !== c.title) this.actions.onRename(c.id, title);
    });
    const remove = button('delete', 'Delete', `Delete “${c.title}”`, () => {
      if (confirm(`Delete “${c.title}”? You can undo this for a few seconds.`)) this.actions.onDelete(c);
    });
    li.append(open, rename, remove);
    return li;
  }
}
