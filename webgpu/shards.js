// Model shards: fetched from the host or from browser storage, and always hashed before use.
//
// A shard is committed to storage (Cache API) only after its SHA-256 matches the manifest, one
// shard at a time, so an interrupted download resumes at the first missing shard. A shard that
// fails its hash drops every stored shard of that model: nothing of a bad copy is kept.

import { DownloadError, IntegrityError } from './errors.js';

export const SHARD_CACHE = 'inpage-shards-v1';
const IDLE_TIMEOUT_MS = 30_000;

export function shardUrl(modelId, shard) {
  return `/models/${encodeURIComponent(modelId)}/${shard.sha256}.gguf`;
}

export async function sha256Hex(blob) {
  const digest = await crypto.subtle.digest('SHA-256', await blob.arrayBuffer());
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * Return the manifest's shards as Blobs, in order.
 * onProgress({phase: 'download'|'verify', loaded, total, shard, n_shards}) reports bytes done.
 * @returns {Promise<{blobs: Blob[], from_storage: number, warnings: string[]}>}
 */
export async function loadShards(manifest, { onProgress = () => {}, signal } = {}) {
  // One tab downloads a model at a time; another that wants it waits, then reads it from storage.
  return withModelLock(manifest.id, () => onProgress({ phase: 'wait', loaded: 0, total: manifest.total_bytes }),
    () => loadShardsLocked(manifest, { onProgress, signal }));
}

async function withModelLock(modelId, onWait, run) {
  const locks = globalThis.navigator?.locks;
  if (!locks) return run();
  const name = `inpage-model:${modelId}`;
  const busy = Symbol('busy');
  const result = await locks.request(name, { ifAvailable: true }, (lock) => (lock ? run() : busy));
  if (result !== busy) return result;
  onWait();
  return locks.request(name, run);
}

async function loadShardsLocked(manifest, { onProgress, signal }) {
  const cache = await openCache();
  const n_shards = manifest.shards.length;
  const warnings = [];
  const blobs = [];
  let done = 0;
  let from_storage = 0;
  try {
    for (const [i, shard] of manifest.shards.entries()) {
      const report = (phase, loaded) =>
        onProgress({ phase, loaded: done + loaded, total: manifest.total_bytes, shard: i + 1, n_shards });
      const url = shardUrl(manifest.id, shard);
      const label = `shard ${i + 1} of ${n_shards} of ${manifest.id}`;
      let blob = cache ? await storedBlob(cache, url, shard) : null;
      if (blob) {
        report('verify', shard.bytes);
        if ((await sha256Hex(blob)) === shard.sha256) {
          from_storage++;
        } else {
          // Storage went bad under us: forget the copy and fetch a fresh one.
          await cache.delete(url);
          blob = null;
        }
      }
      if (!blob) {
        blob = await download(url, shard, label, (n) => report('download', n), signal);
        report('verify', shard.bytes);
        const got = await sha256Hex(blob);
        if (got !== shard.sha256) {
          throw new IntegrityError(
            `Integrity check failed: ${label} has SHA-256 ${got.slice(0, 12)}…, the manifest says ` +
              `${shard.sha256.slice(0, 12)}…. The host's copy is damaged: run \`inpage models verify ` +
              `${manifest.id}\` there, re-pull the model, then reload.`
          );
        }
        if (cache && (await commit(cache, url, blob, warnings))) {
          // Hold the stored copy, which Chromium keeps on disk, rather than the downloaded bytes in
          // memory: past about 500 MB of in-memory Blobs, reading them failed (NotReadableError).
          blob = (await storedBlob(cache, url, shard)) ?? blob;
        }
      }
      blobs.push(blob);
      done += shard.bytes;
    }
  } catch (e) {
    if (e instanceof IntegrityError && cache) await forgetModel(cache, manifest.id, new Set());
    throw e;
  }
  if (cache) await forgetModel(cache, manifest.id, new Set(manifest.shards.map((s) => shardUrl(manifest.id, s))));
  return { blobs, from_storage, warnings };
}

/**
 * The manifest's shards as sources for their GGUF headers, before any download: the stored copy
 * where there is one, else a RemoteShard that reads only the bytes asked for (HTTP Range).
 */
export async function shardHeaders(manifest) {
  const cache = await openCache();
  return Promise.all(manifest.shards.map(async (shard) => {
    const url = shardUrl(manifest.id, shard);
    return (cache && (await storedBlob(cache, url, shard))) || new RemoteShard(url, shard.bytes);
  }));
}

/** A shard on the host, as much of a Blob as a GGUF header reader needs: size, slice, arrayBuffer. */
export class RemoteShard {
  constructor(url, bytes, start = 0, end = bytes) {
    Object.assign(this, { url, bytes, start, end });
  }

  get size() {
    return this.end - this.start;
  }

  slice(a = 0, b = this.size) {
    return new RemoteShard(this.url, this.bytes, this.start + a, this.start + Math.min(b, this.size));
  }

  async arrayBuffer() {
    const res = await fetch(this.url, { cache: 'no-store', headers: { Range: `bytes=${this.start}-${this.end - 1}` } });
    if (res.status !== 206) throw new DownloadError(`the host answered ${res.status} to a range request for ${this.url}`);
    return res.arrayBuffer();
  }
}

/** The models with shards in this browser's storage: [{id, bytes, shards}], by id. */
export async function storedModels() {
  const cache = await openCache();
  if (!cache) return [];
  const models = new Map();
  for (const request of await cache.keys()) {
    const m = /^\/models\/([^/]+)\/[0-9a-f]{64}\.gguf$/.exec(new URL(request.url).pathname);
    if (!m) continue;
    const id = decodeURIComponent(m[1]);
    const response = await cache.match(request);
    const entry = models.get(id) ?? { id, bytes: 0, shards: 0 };
    entry.bytes += Number(response?.headers.get('Content-Length') ?? 0);
    entry.shards += 1;
    models.set(id, entry);
  }
  return [...models.values()].sort((a, b) => (a.id < b.id ? -1 : 1));
}

/** Drop every stored shard of a model (for "remove download" in the UI and after failures). */
export async function forgetStoredModel(modelId) {
  const cache = await openCache();
  if (cache) await forgetModel(cache, modelId, new Set());
}

async function openCache() {
  if (!('caches' in globalThis)) return null;
  try {
    return await caches.open(SHARD_CACHE);
  } catch {
    return null; // storage disabled (some private modes): work from memory
  }
}

async function storedBlob(cache, url, shard) {
  const hit = await cache.match(url);
  if (!hit) return null;
  const blob = await hit.blob();
  return blob.size === shard.bytes ? blob : null;
}

/** Store a verified shard; false (with a warning) when the browser refuses it. */
async function commit(cache, url, blob, warnings) {
  const headers = { 'Content-Type': 'application/octet-stream', 'Content-Length': String(blob.size) };
  try {
    await cache.put(url, new Response(blob, { headers }));
    return true;
  } catch (e) {
    // Out of quota: keep going from memory, and say so; the next visit downloads again.
    await cache.delete(url).catch(() => {});
    const est = await globalThis.navigator?.storage?.estimate?.().catch(() => null);
    const numbers = e.name === 'QuotaExceededError' && est?.quota
      ? `: browser storage is full (${mib(est.usage)} used of ${mib(est.quota)} allowed, and this shard is ${mib(blob.size)})`
      : ` (${e.name})`;
    warnings.push(`The model could not be stored in this browser${numbers}. It runs from memory now and will download again next time; free space in the Storage panel to keep it.`);
    return false;
  }
}

async function forgetModel(cache, modelId, keep) {
  const prefix = `/models/${encodeURIComponent(modelId)}/`;
  for (const request of await cache.keys()) {
    const path = new URL(request.url).pathname;
    if (path.startsWith(prefix) && !keep.has(path)) await cache.delete(request);
  }
}

async function download(url, shard, label, onBytes, signal) {
  const ctrl = new AbortController();
  const abortFromCaller = () => ctrl.abort(signal.reason);
  signal?.addEventListener('abort', abortFromCaller, { once: true });
  let timer;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => ctrl.abort(new DownloadError(`Download of ${label} stalled for 30 s.`)), IDLE_TIMEOUT_MS);
  };
  try {
    arm();
    let res;
    try {
      // no-store: the Cache API holds verified copies; the HTTP cache would only hold a second one.
      res = await fetch(url, { cache: 'no-store', signal: ctrl.signal });
    } catch (e) {
      throw new DownloadError(`Could not download ${label} (${e.message}). Check that the inpage host is running, then reload.`, { cause: e });
    }
    if (!res.ok) {
      throw new DownloadError(`The host answered ${res.status} for ${label}. Check the model on the host (\`inpage models list\`), then reload.`);
    }
    const declared = Number(res.headers.get('Content-Length'));
    if (declared !== shard.bytes) {
      throw new IntegrityError(`Integrity check failed: ${label} is ${declared} bytes, the manifest says ${shard.bytes}. Reload to try again.`);
    }
    const reader = res.body.getReader();
    const chunks = [];
    let n = 0;
    for (;;) {
      let step;
      try {
        step = await reader.read();
      } catch (e) {
        throw ctrl.signal.reason instanceof Error ? ctrl.signal.reason
          : new DownloadError(`Download of ${label} broke off (${e.message}). Reload to resume.`, { cause: e });
      }
      if (step.done) break;
      arm();
      n += step.value.byteLength;
      if (n > shard.bytes) {
        ctrl.abort();
        throw new IntegrityError(`Integrity check failed: ${label} is longer than the manifest's ${shard.bytes} bytes.`);
      }
      chunks.push(step.value);
      onBytes(n);
    }
    if (n !== shard.bytes) {
      throw new DownloadError(`Download of ${label} ended after ${n} of ${shard.bytes} bytes. Reload to resume.`);
    }
    return new Blob(chunks, { type: 'application/octet-stream' });
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', abortFromCaller);
  }
}

function mib(n) {
  return `${(n / 2 ** 20).toFixed(1)} MiB`;
}
