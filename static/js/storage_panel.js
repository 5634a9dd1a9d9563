// What this browser keeps for inpage, and the user's control over it: the quota and usage, whether
// storage is persistent, the models stored (size, last used, delete), the conversations and the
// documents. It also notices when the browser has removed stored models on its own (eviction).

import { forgetStoredModel, storedModels } from '/webgpu/shards.js';
import { Collections } from '/webgpu/collections.js';
import { button } from './dom.js';

const KNOWN_KEY = 'inpage.models.known'; // {id: last used, ms} of models this browser has stored

export class StoragePanel {
  /**
   * @param {{root, usage, persist, models, conversations, documents}} ui
   * @param {{conversations: () => object[], names: Map<string, string>, onError: (e) => void, storage: Storage}} options
   */
  constructor(ui, { conversations, names, onError, storage }) {
    this.ui = ui;
    this.conversations = conversations;
    this.names = names;
    this.onError = onError;
    this.storage = storage;
    ui.root.addEventListener('toggle', () => { if (ui.root.open) this.refresh().catch(onError); });
    ui.persist.addEventListener('click', async () => {
      await navigator.storage?.persist?.();
      await this.refresh();
    });
  }

  /** A model was loaded (and so is stored, unless the browser refused it). */
  async noteLoaded(id) {
    const stored = (await storedModels()).some((m) => m.id === id);
    const known = this.#known();
    if (stored) known[id] = Date.now();
    else delete known[id];
    this.#setKnown(known);
  }

  /** Models this browser stored before that are gone though the user did not delete them. */
  async evicted() {
    const stored = new Set((await storedModels()).map((m) => m.id));
    const known = this.#known();
    const gone = Object.keys(known).filter((id) => !stored.has(id));
    for (const id of gone) delete known[id];
    this.#setKnown(known);
    return gone;
  }

  async refresh() {
    const { ui } = this;
    const est = await navigator.storage?.estimate?.().catch(() => null);
    const persisted = await navigator.storage?.persisted?.().catch(() => false);
    ui.usage.textContent = est?.quota
      ? `inpage uses ${formatBytes(est.usage)} of the ${formatBytes(est.quota)} this browser allows it (${(100 * est.usage / est.quota).toFixed(1)}%).`
      : 'This browser does not say how much storage inpage may use.';
    ui.persist.hidden = Boolean(persisted);
    ui.root.dataset.persisted = String(Boolean(persisted));
    ui.usage.append(` ${persisted ? 'Storage is persistent: the browser keeps it under storage pressure.' : 'Storage is not persistent: the browser may clear it when space runs low.'}`);

    const known = this.#known();
    const models = await storedModels();
    ui.models.replaceChildren(...(models.length ? models.map((m) => this.#model(m, known[m.id])) : [note('No models stored in this browser.')]));

    const conversations = this.conversations();
    const bytes = conversations.reduce((n, c) => n + JSON.stringify(c).length, 0);
    ui.conversations.textContent = `${conversations.length} conversation${conversations.length === 1 ? '' : 's'}, about ${formatBytes(bytes)}.`;

    const collections = await new Collections().list().catch(() => []);
    const files = est?.usageDetails?.fileSystem;
    ui.documents.textContent = `${collections.length} document collection${collections.length === 1 ? '' : 's'}` +
      (files != null ? `, ${formatBytes(files)} with their vectors.` : '.');
  }

  #model(m, lastUsed) {
    const li = document.createElement('li');
    li.dataset.id = m.id;
    const text = document.createElement('span');
    const when = lastUsed ? `last used ${new Date(lastUsed).toLocaleString()}` : 'not used here yet';
    text.textContent = `${this.names.get(m.id) ?? m.id} · ${formatBytes(m.bytes)} · ${when}`;
    const remove = button('delete', 'Delete', `Delete ${m.id} from this browser`, async () => {
      if (!confirm(`Delete ${this.names.get(m.id) ?? m.id} (${formatBytes(m.bytes)}) from this browser? It downloads again when you next use it.`)) return;
      try {
        await forgetStoredModel(m.id);
        const known = this.#known();
        delete known[m.id];
        this.#setKnown(known);
        await this.refresh();
      } catch (e) {
        this.onError(e);
      }
    });
    li.append(text, remove);
    return li;
  }

  #known() {
    try {
      return JSON.parse(this.storage.getItem(KNOWN_KEY) ?? '{}') ?? {};
    } catch {
      return {};
    }
  }

  #setKnown(known) {
    try {
      this.storage.setItem(KNOWN_KEY, JSON.stringify(known));
    } catch {
      // localStorage full: eviction goes unnoticed, nothing else.
    }
  }
}

function note(text) {
  const li = document.createElement('li');
  li.className = 'empty';
  li.textContent = text;
  return li;
}

export function formatBytes(n) {
  if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(2)} GiB`;
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(1)} MiB`;
  return `${(n / 1024).toFixed(0)} KiB`;
}
