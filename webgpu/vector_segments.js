// The vector store's files (webgpu/vector_store.js): one folder of the origin-private file system
// holding numbered segments. A segment is written under a temporary name and moved into place
// (written in place where the browser cannot move files), and ends in the SHA-256 of its bytes, so
// a write cut short is never taken for a committed one.

const MAGIC = 0x53565049; // 'IPVS'
const VERSION = 1;

export class VectorStoreError extends Error {
  constructor(message) {
    super(message);
    this.name = 'VectorStoreError';
  }
}

const SEGMENT = /^seg-(\d{12})\.ivs$/;

export async function openFolder(root, path) {
  let dir = root;
  for (const name of path.split('/').filter(Boolean)) dir = await dir.getDirectoryHandle(name, { create: true });
  return dir;
}

/** Committed segments, oldest first: [{gen, name, handle}]; leftovers of interrupted writes are removed. */
export async function listSegments(dir) {
  const out = [];
  for await (const [name, handle] of dir.entries()) {
    const m = SEGMENT.exec(name);
    if (m) out.push({ gen: Number(m[1]), name, handle });
    else if (name.startsWith('.tmp-')) await dir.removeEntry(name).catch(() => {});
  }
  return out.sort((a, b) => a.gen - b.gen);
}

/**
 * Write a segment (or, named, another file of the same format): under a temporary name, then moved to its final one (where the browser can move
 * files; elsewhere it is written in place and its checksum guards it). Quota errors name what is kept.
 */
export async function writeSegment(dir, gen, bytes, n_kept, name = `seg-${String(gen).padStart(12, '0')}.ivs`) {
  const tmp = `.tmp-${gen}-${Math.random().toString(36).slice(2)}`;
  let handle = null;
  try {
    handle = await dir.getFileHandle(typeof FileSystemHandle !== 'undefined' && 'move' in FileSystemHandle.prototype ? tmp : name, { create: true });
    const w = await handle.createWritable();
    try {
      await w.write(bytes);
      await w.close();
    } catch (e) {
      await w.abort?.().catch(() => {});
      throw e;
    }
    if (handle.name !== name) await handle.move(name);
  } catch (e) {
    if (handle) await dir.removeEntry(handle.name).catch(() => {});
    if (e?.name === 'QuotaExceededError') {
      const est = await globalThis.navigator?.storage?.estimate?.().catch(() => null);
      const left = est ? ` (${((est.quota - est.usage) / 2 ** 20).toFixed(1)} MiB left of ${(est.quota / 2 ** 20).toFixed(0)} MiB)` : '';
      throw new VectorStoreError(`browser storage is full${left}: this write was not stored; the ${n_kept} records stored before it are kept`);
    }
    throw new VectorStoreError(`could not write to the vector store: ${e?.message ?? e}; the ${n_kept} records stored before are kept`);
  }
}

// Layout: u32 magic, u32 version, u32 header bytes, header JSON, zero padding to 4 bytes,
// f32 vectors (records x dims), then the SHA-256 of everything before it.
export async function encodeSegment(header, vectors) {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const head = 12 + json.length;
  const pad = (4 - (head % 4)) % 4;
  const body = head + pad + vectors.length * header.dims * 4;
  const bytes = new Uint8Array(body + 32);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, MAGIC, true);
  view.setUint32(4, VERSION, true);
  view.setUint32(8, json.length, true);
  bytes.set(json, 12);
  const f32 = new Float32Array(bytes.buffer, head + pad, vectors.length * header.dims);
  vectors.forEach((v, i) => f32.set(v, i * header.dims));
  bytes.set(new Uint8Array(await crypto.subtle.digest('SHA-256', bytes.subarray(0, body))), body);
  return bytes;
}

/** A segment's {header, vectors}, or null when it is not one or its checksum fails (a cut write). */
export async function readSegment(bytes) {
  if (bytes.length < 44) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0, true) !== MAGIC || view.getUint32(4, true) !== VERSION) return null;
  const body = bytes.length - 32;
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes.subarray(0, body)));
  if (!digest.every((b, i) => b === bytes[body + i])) return null;
  const n = view.getUint32(8, true);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + n)));
  const at = 12 + n + ((4 - ((12 + n) % 4)) % 4);
  const vectors = new Float32Array(bytes.slice(at, body).buffer);
  return { header, vectors };
}
