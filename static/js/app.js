// The chat page: picks a model from the host's catalog, loads it into the in-page engine and
// streams answers. Nothing typed here is sent to the host: the engine runs in this tab.

import { createEngine, fetchCatalog } from '/webgpu/engine.js';
import { passagesPrompt } from '/webgpu/library.js';
import { Banners } from './banners.js';
import { ChatStore } from './chat_store.js';
import { ChatView } from './chat_view.js';
import { LibraryView } from './library_view.js';

const $ = (id) => document.getElementById(id);
const ui = {
  picker: $('model-picker'), badge: $('backend-badge'), loader: $('loader'), phase: $('load-phase'),
  progress: $('load-progress'), prompt: $('prompt'), send: $('send'), stop: $('stop'), newChat: $('new-chat'),
  composer: $('composer'), temperature: $('temperature'), maxTokens: $('max-tokens'),
};
const store = new ChatStore(localStorage);
const view = new ChatView($('messages'));
const banners = new Banners($('banners'));
const state = { engine: null, loading: null, reply: null, persistAsked: false, library: null };

// For people (and tests) who want the OpenAI-shaped API from the devtools console.
window.inpage = { get engine() { return state.engine; }, get library() { return state.library; } };

main();

async function main() {
  view.show(store.messages);
  restorePrefs();
  wire();
  let catalog;
  try {
    catalog = await fetchCatalog();
  } catch (e) {
    return fail(e);
  }
  // Embedding models (minilm-l6) serve search, not chat: they embed the user's documents.
  const embedding = catalog.models.find((m) => m.task === 'embedding');
  state.library = new LibraryView({ root: $('library'), drop: $('library-drop'), files: $('library-files'), status: $('library-status'),
    progress: $('library-progress'), cancel: $('library-cancel'), docs: $('library-docs'), use: $('use-library'), collection: $('library-collection'),
    create: $('collection-new'), rename: $('collection-rename'), remove: $('collection-delete') },
  { model: embedding?.id ?? null, onError: fail, storage: localStorage });
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
  const wanted = chatModels.some((m) => m.id === store.prefs.model) ? store.prefs.model : catalog.default;
  ui.picker.value = wanted;
  ui.picker.disabled = false;
  if (!globalThis.crossOriginIsolated) {
    banners.show('This page is not cross-origin isolated, so the model runs on one thread. Serve it with `inpage serve`.', 'warning');
  }
  await loadModel(wanted);
}

function wire() {
  ui.composer.addEventListener('submit', (e) => {
    e.preventDefault();
    const text = ui.prompt.value.trim();
    if (text && state.engine && !state.reply) ask(text);
  });
  ui.prompt.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      ui.composer.requestSubmit();
    }
  });
  ui.stop.addEventListener('click', () => state.reply?.abort());
  ui.newChat.addEventListener('click', () => {
    state.reply?.abort();
    store.clear();
    view.clear();
    ui.prompt.focus();
  });
  ui.picker.addEventListener('change', () => {
    askPersistence();
    store.setPref('model', ui.picker.value);
    loadModel(ui.picker.value);
  });
  ui.temperature.addEventListener('change', () => store.setPref('temperature', Number(ui.temperature.value)));
  ui.maxTokens.addEventListener('change', () => store.setPref('max_tokens', Number(ui.maxTokens.value)));
}

function restorePrefs() {
  if (Number.isFinite(store.prefs.temperature)) ui.temperature.value = store.prefs.temperature;
  if (Number.isFinite(store.prefs.max_tokens)) ui.maxTokens.value = store.prefs.max_tokens;
}

async function loadModel(modelId) {
  const previous = state.engine;
  state.engine = null;
  ui.send.disabled = true;
  setEngineState('loading');
  await previous?.unload().catch(() => {});
  ui.loader.hidden = false;
  const loading = (state.loading = modelId);
  try {
    const engine = await createEngine({ model: modelId, backend: requestedBackend(), onProgress: showProgress,
      onBackendChange: (info) => {
        showBackend(info);
        banners.show('The GPU stopped working, so the model now runs on the CPU (our WASM engine). Your conversation is kept.', 'warning');
      } });
    if (state.loading !== loading) return engine.unload(); // the user picked another model meanwhile
    state.engine = engine;
    showBackend(engine.info);
    for (const w of engine.info.warnings) banners.show(w, 'warning');
    ui.send.disabled = false;
    setEngineState('ready');
  } catch (e) {
    fail(e);
  } finally {
    ui.loader.hidden = true;
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

function showProgress({ phase, loaded, total, shard, n_shards }) {
  const label = { download: 'Downloading', verify: 'Verifying', load: 'Loading into the engine', ready: 'Ready' }[phase] ?? phase;
  ui.phase.textContent = phase === 'load' || phase === 'ready'
    ? label
    : `${label} shard ${shard} of ${n_shards}: ${formatBytes(loaded)} of ${formatBytes(total)}`;
  ui.progress.value = total ? loaded / total : 0;
}

async function ask(text) {
  askPersistence();
  ui.prompt.value = '';
  store.add({ role: 'user', content: text });
  view.addUser(text);
  const el = view.startAssistant();
  const ctrl = new AbortController();
  state.reply = ctrl;
  ui.stop.hidden = false;
  ui.send.disabled = true;
  let content = '';
  let sources = [];
  try {
    // Retrieval on: the best passages of the user's documents go in front, numbered for citations.
    sources = (await state.library?.retrieve(text)) ?? [];
    const history = store.messages.map(({ role, content }) => ({ role, content }));
    const stream = await state.engine.chat.completions.create({
      messages: sources.length ? [{ role: 'system', content: passagesPrompt(sources) }, ...history] : history,
      stream: true,
      temperature: Number(ui.temperature.value),
      max_tokens: Math.floor(Number(ui.maxTokens.value)),
      signal: ctrl.signal,
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
        painted = content.length;
      }
    }
    store.add({ role: 'assistant', content, usage, finish_reason, ...(sources.length ? { sources } : {}) });
    view.finish(el, content, usage, finish_reason, sources);
  } catch (e) {
    if (content) store.add({ role: 'assistant', content, finish_reason: 'error' });
    view.fail(el, content);
    fail(e);
  } finally {
    state.reply = null;
    ui.stop.hidden = true;
    ui.send.disabled = !state.engine;
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
  banners.show(e?.message ?? String(e));
}

function setEngineState(s) {
  document.body.dataset.engine = s;
}

function formatBytes(n) {
  if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(2)} GiB`;
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(1)} MiB`;
  return `${(n / 1024).toFixed(0)} KiB`;
}
