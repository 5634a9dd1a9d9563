// This tab as the answerer of the page's OpenAI-compatible endpoint: the service worker
// (static/api_route.js) asks whether the tab serves, then hands it requests over a port each.
// Requests run one at a time, in the order they came. A request for the chat's own model uses the
// chat's engine; another model the host has is loaded for the API beside it. The model "auto" is
// routed (webgpu/router.js) among the local tiers: the API never sends a request to the remote
// tier, whose consent is given per conversation, in the app.

import { createEngine, fetchCatalog } from '/webgpu/engine.js';
import { ModelNotFoundError, RequestError } from '/webgpu/errors.js';
import { answerChat, answerEmbeddings, httpError } from '/webgpu/openai_http.js';
import { decide } from '/webgpu/router.js';

export class ApiHost {
  #queue = Promise.resolve();

  #own = new Map(); // model id -> Promise<Engine>, loaded for the API

  #catalog = null;

  /**
   * @param {{chat: () => {engine: object|null, model: string|null, ready: Promise|null},
   *          tiers?: () => object|null, catalog?: object,
   *          onRequest?: (info: {path: string, model: string|undefined}) => void}} hooks
   *        chat(): the chat's engine, the model it has or is loading, and a promise of the load;
   *        tiers(): the router's tiers (static/js/routing.js), for model "auto"
   */
  constructor({ chat, tiers = () => null, catalog = null, onRequest = () => {} }) {
    this.chat = chat;
    this.tiers = tiers;
    this.#catalog = catalog;
    this.onRequest = onRequest;
    // What this tab answered, in order: {path, model, user, status, finish_reason, completion_tokens,
    // route}; route: for model "auto", the tier that answered and why.
    // user: the request's own `user` field, so a caller can tell its requests apart. No content.
    this.log = [];
  }

  start() {
    navigator.serviceWorker?.addEventListener('message', (e) => {
      if (e.data?.type === 'api-probe') {
        e.ports[0]?.postMessage({ serving: true, models: this.#loaded(), visible: document.visibilityState === 'visible' });
      } else if (e.data?.type === 'api-request') {
        this.#enqueue(e.data, e.ports[0]);
      }
    });
  }

  set catalog(c) {
    this.#catalog = c;
  }

  #loaded() {
    const ids = [...this.#own.keys()];
    const chat = this.chat();
    if (chat.model) ids.unshift(chat.model);
    return ids;
  }

  #enqueue({ path, body }, port) {
    const ctrl = new AbortController();
    port.onmessage = ({ data }) => {
      if (data?.type === 'abort') ctrl.abort();
    };
    const send = (m) => port.postMessage(m);
    const run = this.#queue.then(async () => {
      const entry = { path, model: body.model, user: typeof body.user === 'string' ? body.user : null, status: 200, finish_reason: null, completion_tokens: null, route: null };
      this.log.push(entry);
      if (ctrl.signal.aborted) {
        Object.assign(entry, { status: 499, finish_reason: 'abort' });
        return;
      }
      this.onRequest(entry);
      try {
        let end;
        if (path === '/v1/embeddings') {
          end = await answerEmbeddings(await this.engine(body.model, 'embedding'), body, { send });
        } else {
          const { requires, ...request } = body;
          if (body.model === 'auto') entry.route = this.#route(body);
          const model = entry.route?.model ?? body.model;
          end = await answerChat(await this.engine(model, 'chat'), { ...request, model }, { signal: ctrl.signal, send });
        }
        Object.assign(entry, { finish_reason: end.finish_reason, completion_tokens: end.usage?.completion_tokens ?? null });
      } catch (e) {
        const { status, body: error } = e instanceof NoEmbeddingModel ? e.http : httpError(e);
        entry.status = status;
        send({ type: 'json', status, body: error });
      } finally {
        port.onmessage = null;
      }
    });
    this.#queue = run.catch(() => {});
  }

  // Model "auto": the local tier the router picks, and why.
  #route(body) {
    const { remote, ...tiers } = this.tiers() ?? {};
    if (!tiers.fast) throw new RequestError('model "auto" needs the app to have loaded its model; try again, or name a model.');
    const route = decide(body, tiers, { consent: false });
    if (!route.tier) throw new RequestError(`No local tier can answer this: ${route.reason}.`);
    return { tier: route.tier, model: route.model, reason: route.reason };
  }

  /** The engine for a model: the chat's, or one loaded here (one per task at a time). */
  async engine(model, task) {
    this.#catalog ??= await fetchCatalog();
    const { models } = this.#catalog;
    const of_task = models.filter((m) => m.task === task);
    if (task === 'embedding' && of_task.length === 0) throw new NoEmbeddingModel();
    if (model !== undefined && typeof model !== 'string') throw new RequestError('model must be a string: an id from GET /v1/models.');
    const chat = this.chat();
    const id = model ?? (task === 'chat' ? chat.model ?? this.#catalog.default : of_task[0].id);
    const entry = models.find((m) => m.id === id);
    if (!entry) throw new ModelNotFoundError(`The model "${id}" is not on this inpage host. GET /v1/models lists those it has: ${models.map((m) => m.id).join(', ')}.`);
    if (entry.task !== task) {
      throw new RequestError(task === 'chat' ? `${id} is an embedding model: use it with /v1/embeddings, and a chat model here.` : `${id} is a chat model: /v1/embeddings needs an embedding model such as ${of_task[0].id}.`);
    }
    if (task === 'chat' && chat.model === id) {
      await chat.ready;
      const engine = this.chat().engine;
      if (engine?.manifest.id === id) return engine;
    }
    if (!this.#own.has(id)) {
      for (const [other, loading] of this.#own) {
        if (models.find((m) => m.id === other)?.task === task) {
          this.#own.delete(other);
          loading.then((e) => e.unload()).catch(() => {});
        }
      }
      const loading = createEngine({ model: id });
      loading.catch(() => this.#own.delete(id));
      this.#own.set(id, loading);
    }
    return this.#own.get(id);
  }
}

class NoEmbeddingModel extends Error {
  http = { status: 501, body: { error: { message: 'This inpage host has no embedding model. Run `inpage models pull minilm-l6` on the host, then try again.', type: 'not_implemented', param: 'model', code: 'no_embedding_model' } } };
}
