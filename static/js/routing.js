// The chat's side of the router (webgpu/router.js): the tiers this page has (fast: the picked
// model; capable: a larger or less quantized local model; remote: the host's configured server),
// the tier pinned per conversation, and the remote tier's consent, given per conversation after
// the user has seen which endpoint would receive the text, and revocable.

import { createRouter, DEFAULT_POLICY } from '/webgpu/router.js';
import { contextOf } from '/webgpu/engine.js';
import { createRemoteEngine } from '/webgpu/remote_engine.js';

export class ChatRouting {
  #remoteEngine = null;

  #waiting = null; // resolves the consent panel's answer: 'allow' | 'local' | 'cancel'

  /**
   * @param {object} ui the route bar's and consent panel's elements
   * @param {{fast: () => {model: string, engine: () => Promise<object>}, load: (id: string) => Promise<object>,
   *          catalog: object, remotes: object[], prefs: object, onChange: (fields: object) => void}} hooks
   *        fast(): the picked model and its engine; load(id): an engine for another local model;
   *        onChange(fields): the conversation's {tier} or {remote} changed, to be stored
   */
  constructor(ui, { fast, load, catalog, remotes, prefs, onChange }) {
    this.ui = ui;
    this.fast = fast;
    this.load = load;
    this.catalog = catalog;
    this.remote = remotes[0] ?? null;
    this.prefs = prefs;
    this.onChange = onChange;
    this.conversation = null;
    const chat = catalog.models.filter((m) => m.task === 'chat');
    ui.capable.append(new Option('None', ''), ...chat.map((m) => new Option(`${m.name} · ${m.quantization}`, m.id)));
    ui.capable.value = chat.some((m) => m.id === prefs.get('capable')) ? prefs.get('capable') : '';
    ui.capable.addEventListener('change', () => { prefs.set('capable', ui.capable.value); this.show(this.conversation); });
    ui.withoutConsent.value = prefs.get('without_consent') === 'ask' ? 'ask' : 'local';
    ui.withoutConsent.addEventListener('change', () => prefs.set('without_consent', ui.withoutConsent.value));
    ui.pin.addEventListener('change', () => this.onChange({ tier: ui.pin.value }));
    ui.allow.addEventListener('click', () => this.#askConsent(null));
    ui.revoke.addEventListener('click', () => this.onChange({ remote: null }));
    ui.consentYes.addEventListener('click', () => this.#answer('allow'));
    ui.consentLocal.addEventListener('click', () => this.#answer('local'));
    ui.consentNo.addEventListener('click', () => this.#answer('cancel'));
  }

  /** The tiers now: {fast, capable?, remote?}, each as webgpu/router.js takes them. */
  tiers() {
    const models = new Map(this.catalog.models.map((m) => [m.id, m]));
    const { model, engine } = this.fast();
    const tiers = { fast: { model, context: contextOf(models.get(model)), engine } };
    const capable = this.ui.capable.value;
    if (capable && capable !== model && models.has(capable)) {
      tiers.capable = { model: capable, context: contextOf(models.get(capable)), engine: () => this.load(capable) };
    }
    if (this.remote) {
      // The operator set the remote tier up for what the page cannot do: long contexts, frontier reasoning, images.
      tiers.remote = { model: this.remote.model ?? this.remote.name, endpoint: this.remote.endpoint, frontier: true, images: true,
        engine: async () => (this.#remoteEngine ??= createRemoteEngine(this.remote)) };
    }
    return tiers;
  }

  policy() {
    return { ...DEFAULT_POLICY, without_consent: this.ui.withoutConsent.value };
  }

  /** Shows a conversation's pin and consent in the route bar. */
  show(conversation) {
    this.conversation = conversation;
    const tiers = this.tiers();
    for (const o of this.ui.pin.options) o.disabled = o.value !== 'auto' && !tiers[o.value];
    const pinned = conversation?.tier ?? 'auto';
    this.ui.pin.value = tiers[pinned] || pinned === 'auto' ? pinned : 'auto';
    this.ui.remoteBox.hidden = !this.remote;
    const allowed = this.allowed(conversation);
    this.ui.prompt.placeholder = allowed
      ? `Ask anything. In this chat the router may send it to the remote tier (${this.remote.endpoint}).`
      : 'Ask anything. It stays in this tab.';
    if (!this.remote) return;
    this.ui.remoteStatus.textContent = allowed
      ? `Remote tier allowed in this chat: ${this.remote.endpoint}${allowed.documents ? ', with your documents' : ''}`
      : 'Remote tier: not allowed in this chat';
    this.ui.remoteBox.dataset.allowed = String(Boolean(allowed));
    this.ui.allow.hidden = Boolean(allowed);
    this.ui.revoke.hidden = !allowed;
  }

  /** The conversation's consent, if it is for the remote tier the host has now. */
  allowed(conversation) {
    const r = conversation?.remote;
    return r && this.remote && r.name === this.remote.name && r.endpoint === this.remote.endpoint ? r : null;
  }

  /**
   * The route of a request in a conversation, asking the user first when it would go remote
   * without consent and the user chose to be asked. Returns {route, router}, router.send(route,
   * request) sending it; null when the user cancelled.
   */
  async route(conversation, request) {
    const router = createRouter({ tiers: this.tiers(), policy: this.policy() });
    const options = () => ({ pinned: conversation.tier ?? 'auto', consent: Boolean(this.allowed(conversation)) });
    let route = router.decide(request, options());
    if (route.held) {
      const choice = await this.#askConsent(route);
      if (choice === 'cancel') return null;
      if (choice === 'local') {
        route = router.decide(request, { ...options(), policy: { ...this.policy(), without_consent: 'local' } });
        if (route.held) return null; // no local tier can take it
      } else {
        route = router.decide(request, options());
      }
    }
    return { route, router };
  }

  // The consent panel: which endpoint would receive this conversation's text, and (for a waiting
  // message) why. Resolves with the user's answer.
  #askConsent(route) {
    if (!this.remote) return Promise.resolve('cancel');
    const { ui } = this;
    ui.consentText.textContent = `Allow this conversation to be sent to the remote tier "${this.remote.name}" at `
      + `${this.remote.endpoint}${this.remote.model ? ` (model ${this.remote.model})` : ''}? From now on, messages the `
      + 'router sends there leave this browser, through this inpage host, to that server. Other conversations are not affected.'
      + (route ? ` This message is waiting: ${route.reason}.` : '');
    ui.consentDocs.checked = false;
    ui.consentLocal.hidden = !route;
    ui.consent.hidden = false;
    ui.consentYes.focus();
    this.#waiting?.('cancel');
    return new Promise((resolve) => {
      this.#waiting = (choice) => {
        this.#waiting = null;
        ui.consent.hidden = true;
        if (choice === 'allow') {
          this.onChange({ remote: { name: this.remote.name, endpoint: this.remote.endpoint, documents: ui.consentDocs.checked, at: Date.now() } });
        }
        resolve(choice);
      };
    });
  }

  #answer(choice) {
    this.#waiting?.(choice);
  }
}
