// The offline app shell, served as /sw.js with SHELL ({version, urls}) written in by the host
// (server/shell.py). Every shell file comes from one versioned cache, so a page never mixes old
// and new files; a new version installs beside the old one and takes over only when no page of
// the old one is open, or when the user asks for it (app: offline.js).
//
// Model shards are not touched here: the page keeps them, verified, in its own Cache API store.
// The catalog and manifests go to the network first and fall back to the last copy seen.

const SHELL = null; // the host writes the shell here
importScripts('/static/api_route.js'); // the OpenAI-compatible endpoint (/v1/), answered by a tab
const SHELL_CACHE = `inpage-shell-${SHELL.version}`;
const DATA_CACHE = 'inpage-data-v1';
const SHELL_URLS = new Set(SHELL.urls);
const DATA_PATH = /^\/api\/models(\/[^/]+\/manifest\.json)?$/;

self.addEventListener('install', (event) => {
  // `no-cache`: revalidate with the host, so the HTTP cache cannot hand back an older file.
  event.waitUntil(Promise.all([
    caches.open(SHELL_CACHE).then((cache) => cache.addAll(SHELL.urls.map((url) => new Request(url, { cache: 'no-cache' })))),
    keepCatalog(),
  ]));
});

// The catalog and every manifest in it, as the host has them now: the page of the first visit
// fetched them before this worker could keep them.
async function keepCatalog() {
  const cache = await caches.open(DATA_CACHE);
  const response = await fetch('/api/models', { cache: 'no-cache' });
  if (!response.ok) return;
  await cache.put('/api/models', response.clone());
  const { models } = await response.json();
  await Promise.all(models.map(async ({ id }) => {
    const url = `/api/models/${encodeURIComponent(id)}/manifest.json`;
    const manifest = await fetch(url, { cache: 'no-cache' });
    if (manifest.ok) await cache.put(url, manifest);
  }));
}

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith('inpage-shell-') && name !== SHELL_CACHE) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

self.addEventListener('message', (event) => {
  if (event.data?.type === 'skip-waiting') self.skipWaiting();
  if (event.data?.type === 'version') event.ports[0]?.postMessage({ version: SHELL.version });
  if (event.data?.type === 'windows') {
    self.clients.matchAll({ type: 'window', includeUncontrolled: true }).then((list) => event.ports[0]?.postMessage({ count: list.length }));
  }
});

self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  if (isApiRequest(url)) return event.respondWith(apiRespond(event));
  if (event.request.method !== 'GET' || url.origin !== self.location.origin) return;
  if (event.request.mode === 'navigate' && url.pathname === '/') return event.respondWith(fromShell('/'));
  if (SHELL_URLS.has(url.pathname) && !url.search) return event.respondWith(fromShell(event.request));
  if (DATA_PATH.test(url.pathname)) return event.respondWith(networkFirst(event.request, event.clientId));
  // Everything else (model shards, the bench page) goes to the network as if there were no worker.
});

async function fromShell(request) {
  const cached = await caches.match(request, { cacheName: SHELL_CACHE });
  return cached ?? fetch(request);
}

// The host's answer, kept for later; without a host, the last answer kept, marked as such, and
// the page told that it is offline.
async function networkFirst(request, clientId) {
  const cache = await caches.open(DATA_CACHE);
  try {
    const response = await fetch(request);
    if (response.ok) await cache.put(request, response.clone());
    tell(clientId, { type: 'online' });
    return response;
  } catch (error) {
    tell(clientId, { type: 'offline' });
    const kept = await cache.match(request);
    if (!kept) throw error;
    const headers = new Headers(kept.headers);
    headers.set('X-Inpage-Offline', '1');
    return new Response(kept.body, { status: kept.status, statusText: kept.statusText, headers });
  }
}

async function tell(clientId, message) {
  const client = clientId && (await self.clients.get(clientId));
  client?.postMessage(message);
}
