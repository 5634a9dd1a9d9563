// The OpenAI-compatible endpoint, answered inside the browser: the service worker (/sw.js imports
// this) takes same-origin requests to /v1/ and hands each to one open inpage tab whose engine
// answers it (static/js/api_host.js). The worker runs no model; the host never sees these requests.
//
//   GET  /v1/models             the host's catalog, as OpenAI lists models (no tab needed)
//   POST /v1/chat/completions   streaming (SSE, data: [DONE]) or not
//   POST /v1/embeddings
//
// Requests go to the tabs in the order they arrived, over a MessageChannel each. While one is
// open, the worker checks every second that its tab is still there: a tab closed mid-answer ends
// the stream with an error event (or answers 503), never a hang. Nothing is kept between requests,
// so a worker stopped and started again answers the next one as before.

const API_PROBE_MS = 1500; // how long a tab may take to say whether it serves
const API_WATCH_MS = 1000;
const API_MAX_BODY = 8 << 20;
let apiDispatch = Promise.resolve(); // requests reach tabs in arrival order

function apiError(status, message, type, code = null, param = null) {
  return new Response(JSON.stringify({ error: { message, type, param, code } }), {
    status, headers: { 'Content-Type': 'application/json' },
  });
}

function isApiRequest(url) {
  return url.origin === self.location.origin && url.pathname.startsWith('/v1/');
}

async function apiRespond(event) {
  const { request } = event;
  const path = new URL(request.url).pathname;
  if (path === '/v1/models') {
    if (request.method !== 'GET') return apiError(405, 'Use GET for /v1/models.', 'invalid_request_error');
    return apiModels(event);
  }
  if (path !== '/v1/chat/completions' && path !== '/v1/embeddings') {
    return apiError(404, `No route ${path}: this page answers /v1/chat/completions, /v1/embeddings and /v1/models.`, 'invalid_request_error', 'unknown_url');
  }
  if (request.method !== 'POST') return apiError(405, `Use POST for ${path}.`, 'invalid_request_error');
  let body;
  try {
    const text = await request.text();
    if (text.length > API_MAX_BODY) return apiError(413, `The request body is over ${API_MAX_BODY >> 20} MiB.`, 'invalid_request_error');
    body = JSON.parse(text);
  } catch {
    return apiError(400, 'The request body is not JSON. Send a JSON object with Content-Type: application/json.', 'invalid_request_error');
  }
  if (!body || typeof body !== 'object' || Array.isArray(body)) return apiError(400, 'The request body must be a JSON object.', 'invalid_request_error');
  const turn = apiDispatch.then(() => apiPickTab(body.model));
  apiDispatch = turn.catch(() => {});
  const tab = await turn;
  if (!tab) {
    return apiError(503, 'No inpage tab is open to answer: open the app (/) in a tab of this browser, let its model load, then try again.',
      'service_unavailable', 'no_engine_tab');
  }
  return apiForward(event, tab, path, body);
}

// The catalog's models in OpenAI's list shape; offline, the last catalog kept.
async function apiModels(event) {
  let catalog;
  try {
    const response = await networkFirst(new Request('/api/models'), event.clientId);
    catalog = await response.json();
  } catch {
    return apiError(503, 'The model catalog is not reachable and none is kept yet: open the app once while its host runs.', 'service_unavailable');
  }
  const data = catalog.models.map((m) => ({ id: m.id, object: 'model', created: 0, owned_by: 'inpage', task: m.task, quantization: m.quantization }));
  // "auto": the router picks the local tier for each request (webgpu/router.js).
  if (catalog.models.some((m) => m.task === 'chat')) data.push({ id: 'auto', object: 'model', created: 0, owned_by: 'inpage', task: 'chat', routed: true });
  return new Response(JSON.stringify({ object: 'list', data }), { headers: { 'Content-Type': 'application/json' } });
}

// The tab that answers, of those that say they serve: one with the model loaded; of those, the
// one that answered the last request (so a burst of requests stays in one queue, in order), then a
// visible one, then the first. null when none does. Pages that are not the
// app (the example page) never answer the probe: once a tab has said it serves, the others get
// API_GRACE_MS more.
const API_GRACE_MS = 150;
let apiLastTab = null; // an id; forgotten when the worker restarts, which only costs the preference

async function apiPickTab(model) {
  const tabs = await self.clients.matchAll({ type: 'window' });
  const serving = await new Promise((resolve) => {
    const found = [];
    let waiting = tabs.length;
    let grace = null;
    // The tab that answered last is waited for (up to the probe's limit), then the grace starts.
    let last_pending = tabs.some((t) => t.id === apiLastTab);
    const done = () => {
      clearTimeout(timer);
      clearTimeout(grace);
      resolve(found);
    };
    const timer = setTimeout(done, API_PROBE_MS);
    if (waiting === 0) done();
    for (const tab of tabs) {
      const channel = new MessageChannel();
      channel.port1.onmessage = ({ data }) => {
        if (tab.id === apiLastTab) last_pending = false;
        if (data?.serving) {
          found.push({ tab, ...data });
          if (tab.id === apiLastTab && (!model || data.models.includes(model))) return done();
        }
        if (--waiting === 0) return done();
        if (found.length && !last_pending) grace ??= setTimeout(done, API_GRACE_MS);
      };
      tab.postMessage({ type: 'api-probe' }, [channel.port2]);
    }
  });
  const score = (a) => (model && a.models.includes(model) ? 4 : 0) + (a.tab.id === apiLastTab ? 2 : 0) + (a.visible ? 1 : 0);
  serving.sort((a, b) => score(b) - score(a) || tabs.indexOf(a.tab) - tabs.indexOf(b.tab));
  const tab = serving[0]?.tab ?? null;
  apiLastTab = tab?.id ?? apiLastTab;
  return tab;
}

function apiForward(event, tab, path, body) {
  const channel = new MessageChannel();
  const port = channel.port1;
  let settle;
  const settled = new Promise((resolve) => { settle = resolve; });
  event.waitUntil(settled); // the worker stays up while the answer streams
  return new Promise((resolve) => {
    let stream = null; // the SSE body's controller, once the head is sent
    let finished = false;
    const encoder = new TextEncoder();
    const finish = () => {
      finished = true;
      clearInterval(watch);
      port.close();
      settle();
    };
    let json_body = false; // a whole completion streams as one JSON document
    const fail = (status, message, code) => {
      if (finished) return;
      if (stream && json_body) {
        stream.error(new Error(message));
      } else if (stream) {
        stream.enqueue(encoder.encode(`data: ${JSON.stringify({ error: { message, type: 'server_error', param: null, code } })}\n\n`));
        stream.close();
      } else {
        resolve(apiError(status, message, 'server_error', code));
      }
      finish();
    };
    const watch = setInterval(async () => {
      if (!(await self.clients.get(tab.id))) fail(503, 'The inpage tab that was answering closed; open the app and try again.', 'engine_tab_closed');
    }, API_WATCH_MS);
    port.onmessage = ({ data }) => {
      if (finished) return;
      if (data.type === 'json') {
        resolve(new Response(JSON.stringify(data.body), { status: data.status, headers: { 'Content-Type': 'application/json' } }));
        finish();
      } else if (data.type === 'head') {
        json_body = data.json === true;
        // A client that gives up cancels the body: the answer stops in the tab.
        resolve(new Response(new ReadableStream({
          start(controller) {
            stream = controller;
          },
          cancel() {
            port.postMessage({ type: 'abort' });
            finish();
          },
        }), {
          status: 200,
          headers: json_body ? { 'Content-Type': 'application/json' } : { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-store' },
        }));
      } else if (data.type === 'data') {
        stream.enqueue(encoder.encode(`data: ${JSON.stringify(data.data)}\n\n`));
      } else if (data.type === 'body') {
        stream.enqueue(encoder.encode(JSON.stringify(data.body)));
        stream.close();
        finish();
      } else if (data.type === 'end') {
        stream.enqueue(encoder.encode('data: [DONE]\n\n'));
        stream.close();
        finish();
      } else if (data.type === 'error') {
        fail(data.status ?? 500, data.error.message, data.error.code);
      }
    };
    tab.postMessage({ type: 'api-request', path, body }, [channel.port2]);
  });
}
