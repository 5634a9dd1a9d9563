// The chat page: picks a model from the host's catalog, loads it into the in-page engine and
// streams answers. Nothing typed here is sent to the host: the engine runs in this tab.

import { createEngine, fetchCatalog } from '/webgpu/engine.js';
import { passagesPrompt } from '/webgpu/library.js';
import { fetchRemotes } from '/webgpu/remote_engine.js';
import { ApiHost } from './api_host.js';
import { Banners } from './banners.js';
import { StorageFullError } from './conversation_db.js';
import { ConversationList } from './conversation_list.js';
import { Conversations } from './conversations.js';
import { ChatView } from './chat_view.js';
import { button } from './dom.js';
import { LibraryView } from './library_view.js';
import { registerShell } from './offline.js';
import { PRESETS, presetOf } from './presets.js';
import { Prefs } from './prefs.js';
import { ChatRouting } from './routing.js';
import { StoragePanel, formatBytes } from './storage_panel.js';

const $ = (id) => document.getElementById(id);
const ui = {
  picker: $('model-picker'), badge: $('backend-badge'), loader: $('loader'), phase: $('load-phase'),
  progress: $('load-progress'), prompt: $('prompt'), send: $('send'), stop: $('stop'), newChat: $('new-chat'),
  composer: $('composer'), temperature: $('temperature'), maxTokens: $('max-tokens'), system: $('system-prompt'),
  topP: $('top-p'), preset: $('preset'),
  queued: $('queued'), useLibrary: $('use-library'),
};
const prefs = new Prefs(localStorage);
const view = new ChatView($('messages'), { onEdit: editAndResend, onRegenerate: regenerate, onSwitch: switchVersion });
const banners = new Banners($('banners'));
const state = { engine: null, loading: null, ready: null, reply: null, persistAsked: false, library: null, chats: null, queued: null, routing: null };
// The page's OpenAI-compatible endpoint (/v1/, static/api_route.js) answers with this tab's engines.
const api = new ApiHost({ chat: () => ({ engine: state.engine, model: state.loading, ready: state.ready }),
  tiers: () => state.routing?.tiers() ?? null,
  onRequest: () => {
    const link = document.getElementById('api-link');
    link.textContent = `API · ${api.log.length}`;
    link.title = `This tab has answered ${api.log.length} request${api.log.length === 1 ? '' : 's'} to the page's OpenAI-compatible endpoint (/v1/). Open the example page.`;
  } });
const list = new ConversationList({
  search: $('conversation-search'), list: $('conversation-list'), undo: $('conversation-undo'),
  exportJson: $('export-json'), exportMarkdown: $('export-markdown'), exportAllJson: $('export-all-json'),
  exportAllMarkdown: $('export-all-markdown'), importFile: $('import-file'),
}, {
  onOpen: (id) => openConversation(id),
  onRename: (id, title) => saving(state.chats.rename(id, title)).then(showList),
  onDelete: (c) => deleteConversation(c),
  onRestore: (c) => saving(state.chats.restore(c)).then(showList),
  onExport: (which, kind) => exportConversations(which, kind),
  onImport: (file) => importConversations(file),
});

// For people (and tests) who want the OpenAI-shaped API from the devtools console.
window.inpage = { get engine() { return state.engine; }, get library() { return state.library; }, api,
  get routing() { return state.routing; },
  get conversations() { return state.chats; } };

main();

async function main() {
  restorePrefs();
  wire();
  registerShell({ notice, onOffline: showOffline, idle: () => state.reply?.done ?? Promise.resolve() });
  api.start();
  try {
    // The chat an older version kept in localStorage opens as it did there.
    const onMigrated = (c) => prefs.set('current', c.id);
    state.chats = await Conversations.open(localStorage, { onError: saveFailed, onOutsideChange, onMigrated });
    const wanted = prefs.get('current');
    await state.chats.select(wanted, newChatDefaults());
    if (wanted && !state.chats.current.id && state.chats.all.length === 0) {
      // The chat open last, and every other, gone: not deleted here, so cleared by the browser.
      banners.show('Your saved conversations are no longer in this browser\'s storage (it may have been cleared to free space). If you exported them, import the file to bring them back.', 'warning');
    }
    prefs.set('current', state.chats.current.id);
    showConversation();
  } catch (e) {
    return fail(e);
  }
  let catalog;
  try {
    catalog = await fetchCatalog();
    api.catalog = catalog;
  } catch (e) {
    return fail(e);
  }
  // Embedding models (minilm-l6) serve search, not chat: they embed the user's documents.
  const embedding = catalog.models.find((m) => m.task === 'embedding');
  state.library = new LibraryView({ root: $('library'), drop: $('library-drop'), files: $('library-files'), status: $('library-status'),
    progress: $('library-progress'), cancel: $('library-cancel'), docs: $('library-docs'), use: $('use-library'), collection: $('library-collection'),
    create: $('collection-new'), rename: $('collection-rename'), remove: $('collection-delete') },
  { model: embedding?.id ?? null, onError: fail, storage: localStorage });
  state.storage = new StoragePanel({ root: $('storage'), usage: $('storage-usage'), persist: $('storage-persist'),
    models: $('storage-models'), conversations: $('storage-conversations'), documents: $('storage-documents') },
  { conversations: () => state.chats.all, names: new Map(catalog.models.map((m) => [m.id, m.name])), onError: fail, storage: localStorage });
  await noticeEviction();
  // The remote tier: servers the host's operator configured, used only where a conversation allows it.
  const remotes = await fetchRemotes().catch(() => []);
  state.routing = new ChatRouting({
    pin: $('tier-pin'), capable: $('capable-model'), withoutConsent: $('without-consent'), remoteBox: $('remote-box'),
    remoteStatus: $('remote-status'), allow: $('remote-allow'), revoke: $('remote-revoke'), consent: $('remote-consent'),
    consentText: $('remote-consent-text'), consentDocs: $('remote-consent-docs'), consentYes: $('remote-consent-yes'),
    consentLocal: $('remote-consent-local'), consentNo: $('remote-consent-no'), prompt: ui.prompt,
  }, {
    fast: () => ({ model: ui.picker.value, engine: chatEngine }),
    load: (id) => api.engine(id, 'chat'),
    catalog, remotes, prefs,
    onChange: (fields) => {
      saving(state.chats.configure(fields));
      state.routing.show(state.chats.current);
    },
  });
  const chatModels = catalog.models.filter((m) => m.task === 'chat');
  if (chatModels.length === 0) {
    setEngineState('no-models');
    banners.show('No chat models are installed on the host. Run `inpage models pull smollm2-135m` there, then reload this page.');
    return;
  }
  for (const m of chatModels) {
    const option = new Option(`${m.name} · ${m.quantization} · ${formatBytes(m.total_bytes)}`, m.id);
    ui.picker.append(option);
  }
  // The open chat's model, else the one picked last, else the host's default.
  const wanted = [state.chats.current.model, prefs.get('model')].find((id) => chatModels.some((m) => m.id === id)) ?? catalog.default;
  ui.picker.value = wanted;
  ui.picker.disabled = false;
  state.routing.show(state.chats.current);
  if (!globalThis.crossOriginIsolated) {
    banners.show('This page is not cross-origin isolated, so the model runs on one thread. Serve it with `inpage serve`.', 'warning');
  }
  await loadModel(wanted);
}

function wire() {
  ui.composer.addEventListener('submit', (e) => {
    e.preventDefault();
    const text = ui.prompt.value.trim();
    if (!text || state.reply || !state.chats) return;
    if (state.engine) return ask(text);
    if (document.body.dataset.engine === 'loading' || document.body.dataset.engine === 'starting') {
      // Kept, and sent as soon as the model is ready.
      state.queued = text;
      ui.queued.textContent = 'Your message will be sent when the model has loaded.';
      ui.queued.hidden = false;
    }
  });
  ui.prompt.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      ui.composer.requestSubmit();
    }
  });
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && state.reply) state.reply.ctrl.abort();
  });
  ui.stop.addEventListener('click', () => state.reply?.ctrl.abort());
  ui.newChat.addEventListener('click', async () => {
    await stopReply();
    state.chats?.startNew(newChatDefaults());
    prefs.set('current', null);
    showConversation();
    ui.prompt.focus();
  });
  ui.picker.addEventListener('change', () => {
    askPersistence();
    prefs.set('model', ui.picker.value);
    state.routing?.show(state.chats?.current);
    loadModel(ui.picker.value);
  });
  const settingsChanged = () => {
    const settings = currentSettings();
    for (const key of ['temperature', 'top_p', 'max_tokens']) prefs.set(key, settings[key]);
    ui.preset.value = presetOf(settings);
    if (state.chats) saving(state.chats.configure({ settings }));
  };
  ui.temperature.addEventListener('change', settingsChanged);
  ui.topP.addEventListener('change', settingsChanged);
  ui.maxTokens.addEventListener('change', settingsChanged);
  ui.preset.addEventListener('change', () => {
    const preset = PRESETS[ui.preset.value];
    if (!preset) return;
    ui.temperature.value = preset.temperature;
    ui.topP.value = preset.top_p;
    settingsChanged();
  });
  ui.system.addEventListener('change', () => {
    prefs.set('system', ui.system.value);
    if (state.chats) saving(state.chats.configure({ system: ui.system.value }));
  });
  // A closed tab: write what the answer has so far (it is stored marked unfinished).
  addEventListener('pagehide', () => state.chats?.flush());
}

function restorePrefs() {
  showSettings({ temperature: prefs.get('temperature'), top_p: prefs.get('top_p'), max_tokens: prefs.get('max_tokens') });
  ui.system.value = prefs.get('system') ?? '';
}

function showSettings({ temperature, top_p, max_tokens } = {}) {
  if (Number.isFinite(temperature)) ui.temperature.value = temperature;
  if (Number.isFinite(top_p)) ui.topP.value = top_p;
  if (Number.isFinite(max_tokens)) ui.maxTokens.value = max_tokens;
  ui.preset.value = presetOf(currentSettings());
}

function currentSettings() {
  return { temperature: Number(ui.temperature.value), top_p: Number(ui.topP.value), max_tokens: Math.floor(Number(ui.maxTokens.value)) };
}

function newChatDefaults() {
  return { system: prefs.get('system') ?? '', settings: currentSettings() };
}

// The open conversation into the message list, its settings into the settings panel.
function showConversation() {
  const c = state.chats.current;
  view.show(c.messages);
  showSettings(c.settings);
  ui.system.value = c.system ?? '';
  document.title = c.id ? `${c.title} · inpage` : 'inpage: private chat';
  state.routing?.show(c);
  showList();
}

function showList() {
  list.show(state.chats.all, state.chats.current.id);
}

async function openConversation(id) {
  if (id === state.chats.current.id) return;
  await stopReply();
  await state.chats.select(id, newChatDefaults());
  prefs.set('current', state.chats.current.id);
  showConversation();
  // Each chat goes on with the model it was written with, where the host still has it.
  const model = state.chats.current.model;
  if (model && model !== ui.picker.value && [...ui.picker.options].some((o) => o.value === model)) {
    ui.picker.value = model;
    prefs.set('model', model);
    loadModel(model);
  }
}

async function deleteConversation(c) {
  if (c.id === state.chats.current.id) {
    await stopReply();
    state.chats.startNew(newChatDefaults());
    prefs.set('current', null);
    showConversation();
  }
  await saving(state.chats.delete(c));
  showList();
  list.offerUndo(c);
}

// Another tab changed conversations: show its changes, unless this tab is writing an answer here.
async function onOutsideChange({ type, ids }) {
  const current = state.chats.current.id;
  if (!state.reply && current && ids.includes(current)) {
    if (type === 'delete') state.chats.startNew(newChatDefaults());
    else await state.chats.select(current, newChatDefaults());
    showConversation();
  } else {
    showList();
  }
}

async function exportConversations(which, kind) {
  const file = await state.chats.exportFile(which, kind);
  if (which === 'current' && !state.chats.current.id) return banners.show('This chat is empty: there is nothing to export yet.', 'warning');
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([file.text], { type: file.type }));
  a.download = file.name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

async function importConversations(file) {
  try {
    const summary = await state.chats.importText(await file.text());
    banners.show(`${file.name}: ${summary}`, 'info');
    showList();
  } catch (e) {
    banners.show(`${file.name} was not imported: ${e.message}`);
  }
}

// The browser may clear a site's storage under pressure (unless it is persistent): say which
// models went (conversations: main()).
async function noticeEviction() {
  const gone = await state.storage.evicted().catch(() => []);
  if (gone.length) {
    banners.show(`The browser removed ${gone.join(', ')} from its storage to free space. A model downloads again when you use it; the Storage panel shows what is kept.`, 'warning');
  }
}

// A banner, with a button when there is something to do about it.
function notice(text, kind, action) {
  const el = banners.show(text, kind);
  if (action && !el.querySelector('button.action')) {
    el.insertBefore(button('action', action.label, action.label, () => { el.remove(); action.run(); }), el.lastChild);
  }
}

function showOffline(offline) {
  document.body.dataset.offline = String(offline);
  $('offline-badge').hidden = !offline;
}

// A failed save keeps the conversation on screen and says why, with the numbers when storage is full.
function saving(promise) {
  return promise.catch(saveFailed);
}

async function saveFailed(e) {
  if (!(e instanceof StorageFullError)) return fail(e);
  const est = await navigator.storage?.estimate?.().catch(() => null);
  const numbers = est?.quota ? ` (${formatBytes(est.usage)} used of ${formatBytes(est.quota)})` : '';
  banners.show(`${e.message}${numbers}.`);
}

// The picked model's engine, once it has loaded.
async function chatEngine() {
  await state.ready;
  if (!state.engine) throw new Error('The model did not load; pick it again, or another.');
  return state.engine;
}

async function stopReply() {
  if (!state.reply) return;
  state.reply.ctrl.abort();
  await state.reply.done;
}

async function loadModel(modelId) {
  const previous = state.engine;
  state.engine = null;
  ui.send.disabled = false; // a message sent while the model loads is kept and sent when it is ready
  setEngineState('loading');
  await previous?.unload().catch(() => {});
  ui.loader.hidden = false;
  ui.phase.textContent = `Preparing ${ui.picker.selectedOptions[0]?.textContent ?? modelId}: reading its header`;
  ui.progress.value = 0;
  const loading = (state.loading = modelId);
  let loaded;
  state.ready = new Promise((resolve) => { loaded = resolve; });
  try {
    const engine = await createEngine({ model: modelId, backend: requestedBackend(), onProgress: showProgress,
      onBackendChange: (info) => {
        showBackend(info);
        banners.show('The GPU stopped working, so the model now runs on the CPU (our WASM engine). Your conversation is kept.', 'warning');
      } });
    if (state.loading !== loading) return engine.unload(); // the user picked another model meanwhile
    state.engine = engine;
    state.storage?.noteLoaded(modelId).catch(() => {});
    showBackend(engine.info);
    for (const w of engine.info.warnings) banners.show(w, 'warning');
    ui.send.disabled = false;
    setEngineState('ready');
    if (state.queued && state.chats) {
      const text = state.queued;
      state.queued = null;
      ui.queued.hidden = true;
      ask(text);
    }
  } catch (e) {
    fail(e);
  } finally {
    ui.loader.hidden = true;
    loaded();
  }
}

// ?backend=webgpu (or wasm, wllama) forces a backend, e.g. WebGPU on a software adapter; default auto.
function requestedBackend() {
  const b = new URLSearchParams(location.search).get('backend');
  return ['webgpu', 'wasm', 'wllama'].includes(b) ? b : 'auto';
}

function showBackend({ backend, threads, reason, isolated, adapter }) {
  const where = backend === 'webgpu' ? adapter?.vendor || adapter?.architecture || 'GPU' : `${threads} thread${threads === 1 ? '' : 's'}`;
  ui.badge.textContent = `${backend} · ${where}`;
  ui.badge.title = `Backend: ${backend}, because ${reason}. Cross-origin isolated: ${isolated ? 'yes' : 'no'}.`;
  ui.badge.hidden = false;
}

// What loading is doing, and, while downloading, how long is left at the speed so far.
const download = { start: 0, from: 0 };
function showProgress({ phase, loaded, total, shard, n_shards }) {
  const label = { download: 'Downloading', verify: 'Verifying', load: 'Loading into the engine', ready: 'Ready' }[phase] ?? phase;
  if (phase === 'wait') {
    ui.phase.textContent = 'Waiting for another inpage tab that is downloading this model';
  } else if (phase === 'load' || phase === 'ready') {
    ui.phase.textContent = label;
  } else {
    let left = '';
    if (phase === 'download') {
      if (!download.start || loaded < download.from) Object.assign(download, { start: performance.now(), from: loaded });
      const seconds = (performance.now() - download.start) / 1000;
      const rate = (loaded - download.from) / seconds;
      if (seconds > 1 && rate > 0) left = `, about ${formatDuration((total - loaded) / rate)} left`;
    }
    ui.phase.textContent = `${label} shard ${shard} of ${n_shards}: ${formatBytes(loaded)} of ${formatBytes(total)}${left}`;
  }
  ui.progress.value = total ? loaded / total : 0;
}

function formatDuration(s) {
  return s < 60 ? `${Math.ceil(s)} s` : `${Math.floor(s / 60)} min ${Math.ceil(s % 60)} s`;
}

async function ask(text) {
  askPersistence();
  ui.prompt.value = '';
  await answer((chats) => chats.addUser(text, ui.picker.value).then(() => ({})));
}

// Edit-and-resend and regenerate make a new version of the conversation from message i on; the
// old one stays, and the ‹ › under the message switch between them.
function editAndResend(i, text) {
  if (!state.reply && state.engine) answer((chats) => chats.editUser(i, text).then(() => ({})));
}

function regenerate(i) {
  if (!state.reply && state.engine) answer(async (chats) => chats.regenerate(i));
}

async function switchVersion(i, j) {
  if (state.reply) return;
  await saving(state.chats.switchVersion(i, j));
  showConversation();
}

/**
 * Streams one answer at the end of the open conversation. prepare(chats) first changes the
 * conversation (a new user turn, an edit, a regeneration) and returns the new answer's version
 * fields. The answer is stored as it streams.
 */
async function answer(prepare) {
  const chats = state.chats;
  const ctrl = new AbortController();
  let finished;
  state.reply = { ctrl, done: new Promise((resolve) => { finished = resolve; }) };
  ui.stop.hidden = false;
  ui.send.disabled = true;
  let content = '';
  let message = null;
  let el = null;
  let shown = null;
  try {
    const versions = await prepare(chats).catch((e) => { saveFailed(e); return {}; });
    prefs.set('current', chats.current.id);
    showConversation();
    el = view.startAssistant();
    const question = chats.current.messages.findLast((m) => m.role === 'user')?.content ?? '';
    const messages = chats.history();
    // Which tier answers (webgpu/router.js); a message bound remote without consent may wait here.
    const routed = await state.routing.route(chats.current, { messages, ...currentSettings() });
    if (!routed) {
      el.remove();
      el = null;
      banners.show('Not sent: the remote tier was not allowed. Allow it, pin a local tier, or send again to answer here.', 'info');
      return;
    }
    const { route } = routed;
    // Retrieval on: the best passages of the user's documents go in front, numbered for citations.
    // To the remote tier only where the user included documents in this conversation's consent.
    const withhold = route.tier === 'remote' && !state.routing.allowed(chats.current)?.documents;
    const sources = withhold ? [] : (await state.library?.retrieve(question)) ?? [];
    const note = withhold && ui.useLibrary.checked ? ' Your documents were not sent: this chat\'s consent leaves them out.' : '';
    shown = { tier: route.tier, model: route.model, reason: route.reason + note };
    view.showRoute(el, shown);
    if (sources.length) {
      if (messages[0]?.role === 'system') messages[0] = { role: 'system', content: `${passagesPrompt(sources)}\n\n${messages[0].content}` };
      else messages.unshift({ role: 'system', content: passagesPrompt(sources) });
    }
    message = chats.startAnswer(versions);
    const { result: stream } = await routed.router.send(route, {
      messages, stream: true, ...currentSettings(), signal: ctrl.signal,
    });
    let usage = null;
    let finish_reason = null;
    let painted = 0;
    for await (const chunk of stream) {
      content += chunk.choices[0]?.delta?.content ?? '';
      usage = chunk.usage ?? usage;
      finish_reason = chunk.choices[0]?.finish_reason ?? finish_reason;
      if (content.length !== painted) {
        view.update(el, content);
        chats.progress(message, content);
        painted = content.length;
      }
    }
    await saving(chats.finish(message, { content, usage, finish_reason, route: shown, ...(sources.length ? { sources } : {}) }));
    showConversation(); // the answer as stored, with its buttons
  } catch (e) {
    if (message) await saving(chats.finish(message, { content, finish_reason: 'error', ...(shown ? { route: shown } : {}) }));
    if (el) view.fail(el, content);
    fail(e);
  } finally {
    state.reply = null;
    finished();
    ui.stop.hidden = true;
    ui.send.disabled = !state.engine;
    showList();
    ui.prompt.focus();
  }
}

// Ask the browser to keep the model and the chat through storage pressure, after a user action.
function askPersistence() {
  if (state.persistAsked || !navigator.storage?.persist) return;
  state.persistAsked = true;
  navigator.storage.persist().then((granted) => {
    document.body.dataset.persisted = String(granted);
  });
}

function fail(e) {
  console.error(e);
  setEngineState(state.engine ? 'ready' : 'error');
  ui.send.disabled = !state.engine;
  banners.show(e?.message ?? String(e));
}

function setEngineState(s) {
  document.body.dataset.engine = s;
}
