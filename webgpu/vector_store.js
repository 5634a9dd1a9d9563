// A persistent vector store for the page, in the shape of Zvec's API:
//
//   const store = new VectorStore({ dimensions: 384, metric: 'cosine', storagePath: 'rag/notes' });
//   await store.upsert([{ id, vector, metadata, text }]);
//   const hits = await store.search(vector, { limit: 5, filter: { lang: 'en' }, text: 'query words' });
//
// Search scores every vector: by the engine's WASM SIMD kernels where they load
// (webgpu/vector_scan.js), else in JS. By default the kernels read int8 copies of the vectors (a
// quarter of the bytes) and the best candidates are re-ranked by their f32 vectors, so hits carry
// exact scores; with `quantize: 'none'` they read the f32 vectors themselves. Two approximate
// indexes are there for large stores: an HNSW graph over the int8 rows (webgpu/vector_hnsw.js) and
// an inverted file (webgpu/vector_ivf.js); their candidates are re-ranked in f32 too. With `text`, BM25
// over the records' text is fused with the dense ranking by reciprocal rank fusion, as Zvec's
// hybrid search does. Records live in memory and in a folder of the
// origin-private file system (OPFS): every write is one segment file, checked by a SHA-256 trailer
// and moved into place once whole, so a tab killed mid-write leaves the committed records as they
// were (webgpu/vector_segments.js). Segments replay in order at load; a compaction writes one base
// segment that supersedes the older ones. Writers in several tabs take turns through a Web Lock
// and pick up each other's segments before writing.

import { BM25 } from './bm25.js';
import { compileFilter } from './vector_filter.js';
import { HnswGraph, readGraphFile, saveGraphFile } from './vector_hnsw.js';
import { IvfPartition } from './vector_ivf.js';
import { VectorScan } from './vector_scan.js';
import { VectorStoreError, encodeSegment, listSegments, openFolder, readSegment, writeSegment } from './vector_segments.js';

export { VectorStoreError };

const RRF_K = 60; // reciprocal rank fusion's constant, as in Zvec and the RRF paper
const COMPACT_AFTER = 64; // segments before a compaction
const METRICS = ['cosine', 'dot', 'l2'];
const QUANTIZE = ['int8', 'none'];
const SCAN_FROM = 1024; // records from which the WASM scan pays for its copy
// int8 scans keep this many candidates per hit asked for, re-ranked in f32 (recall@10 measured in
// `inpage bench --suite search`).
const RERANK_PER_HIT = 4;
const RERANK_MIN = 40;
const INDEXES = ['flat', 'hnsw', 'ivf'];
// HNSW: the candidate list of a search (raised to the re-rank depth where that is larger). On 100k
// MiniLM vectors of real text, recall@10 was 0.994 / 0.996 / 0.998 at ef 48 / 64 / 100 with
// M 16 and ef_construction 100 (`inpage bench --suite search`).
const HNSW_EF = 64;
const HNSW_M = 16;
const HNSW_EF_CONSTRUCTION = 100;
const TOUCHED_MAX = 4096; // changed slots tracked one by one; past this, as a range
// Lists scanned per query, of about sqrt(n). On 100k MiniLM vectors of real text, IVF's recall@10
// was 0.91 / 0.95 / 0.98 at nprobe 8 / 16 / 32 (`inpage bench --suite search`), short of the exact
// int8 scan's 1.0: 'flat' stays the default, and IVF is there for stores where speed matters more.
const IVF_NPROBE = 32;

export class VectorStore {
  /**
   * @param {{dimensions: number, metric?: 'cosine'|'dot'|'l2', storagePath?: string|null,
   *          directory?: FileSystemDirectoryHandle, quantize?: 'int8'|'none', index?: 'flat'|'hnsw'|'ivf',
   *          nprobe?: number, ef?: number}} options
   *   storagePath: a folder path under `directory` (default: the origin-private file system's root);
   *   null keeps the store in memory only. quantize: what the scan reads (see above). index: 'flat'
   *   scans every row; 'hnsw' walks a graph with a candidate list of ef rows; 'ivf' scans the rows
   *   of the nprobe lists nearest the query. Both are approximate, and serve int8 stores'
   *   unfiltered searches from SCAN_FROM records on; filtered searches scan every row.
   */
  constructor({ dimensions, metric = 'cosine', storagePath = null, directory = null, quantize = 'int8', index = 'flat',
    nprobe = IVF_NPROBE, ef = HNSW_EF }) {
    if (!Number.isInteger(dimensions) || dimensions < 1) throw new VectorStoreError(`dimensions must be a positive integer, not ${dimensions}`);
    if (!METRICS.includes(metric)) throw new VectorStoreError(`metric must be one of ${METRICS.join(', ')}, not ${metric}`);
    if (!QUANTIZE.includes(quantize)) throw new VectorStoreError(`quantize must be one of ${QUANTIZE.join(', ')}, not ${quantize}`);
    if (!INDEXES.includes(index)) throw new VectorStoreError(`index must be one of ${INDEXES.join(', ')}, not ${index}`);
    if (!Number.isInteger(nprobe) || nprobe < 1) throw new VectorStoreError(`nprobe must be a positive integer, not ${nprobe}`);
    if (!Number.isInteger(ef) || ef < 1 || ef > 2048) throw new VectorStoreError(`ef must be an integer from 1 to 2048, not ${ef}`);
    this.dimensions = dimensions;
    this.metric = metric;
    this.quantize = quantize;
    this.index = index;
    this.nprobe = nprobe;
    this.ef = ef;
    this.ivf = null; // the IvfPartition, once built
    this.graph = null; // the HnswGraph, once built
    this.storagePath = storagePath;
    this.ids = []; // slot -> id
    this.slots = new Map(); // id -> slot
    this.metadata = [];
    this.texts = [];
    this.vectors = new Float32Array(dimensions * 64);
    this.fields = new Set(); // metadata fields seen, for filter checks
    this.bm25 = new BM25();
    this.scan = null; // the WASM scan (VectorScan), false where the kernels do not load
    this.dirty = [0, Infinity]; // slots whose vectors the WASM copy lacks: [first, end); clean: [Infinity, 0]
    this.touched = null; // those slots one by one (a Set), or null: every slot of the range
    this.gen = 0; // the last segment applied
    this.n_segments = 0;
    this.queue = Promise.resolve(); // this instance's operations, one at a time
    this.channel = storagePath && typeof BroadcastChannel === 'function' ? new BroadcastChannel(`inpage-vectors:${storagePath}`) : null;
    this.stale = false;
    if (this.channel) this.channel.onmessage = () => (this.stale = true);
    this.channel?.unref?.(); // node: an open store does not keep the process alive
    this.ready = this.#exclusive(async () => {
      this.dir = storagePath === null ? null : await openFolder(directory ?? (await navigator.storage.getDirectory()), storagePath);
      await this.#withLock(() => this.#catchUp());
    });
  }

  /** Records stored. */
  async count() {
    await this.#read();
    return this.ids.length;
  }

  /** Add new records; an id already stored is an error (use upsert to replace). */
  async insert(records) {
    return this.#write(records, [], false);
  }

  /** Add or replace records: [{id, vector, metadata?, text?}]. */
  async upsert(records) {
    return this.#write(records, [], true);
  }

  /** Remove records by id; ids not stored are ignored. Returns how many were removed. */
  async delete(ids) {
    if (!Array.isArray(ids)) throw new VectorStoreError('delete takes an array of ids');
    return this.#write([], ids.map(String), true);
  }

  /**
   * The nearest records: [{id, score, metadata, text}], best first. score: cosine similarity, dot
   * product, or minus the L2 distance (higher is better for every metric).
   * @param {Float32Array|number[]|null} vector null with `text`: BM25 only
   * @param {{limit?: number, filter?: object, text?: string}} options text: fuse BM25 over the
   *   records' text with the dense ranking (reciprocal rank fusion)
   */
  async search(vector, { limit = 10, filter = null, text = null } = {}) {
    await this.#read();
    const accept = compileFilter(filter, this.fields);
    const ok = (slot) => accept(this.metadata[slot] ?? {});
    const depth = text ? Math.max(limit * 4, 50) : limit;
    const dense = vector === null ? null : await this.#dense(this.#check(vector, 'query'), depth, ok, filter !== null);
    if (!text) return (dense ?? []).map(({ slot, score }) => this.#hit(slot, score));
    const sparse = this.bm25.search(text, { limit: depth, accept: (id) => ok(this.slots.get(id)) });
    if (!dense) return sparse.slice(0, limit).map(({ doc, score }) => this.#hit(this.slots.get(doc), score));
    const fused = new Map();
    dense.forEach(({ slot }, rank) => fused.set(slot, 1 / (RRF_K + rank + 1)));
    sparse.forEach(({ doc }, rank) => {
      const slot = this.slots.get(doc);
      fused.set(slot, (fused.get(slot) ?? 0) + 1 / (RRF_K + rank + 1));
    });
    return [...fused].sort((a, b) => b[1] - a[1] || a[0] - b[0]).slice(0, limit).map(([slot, score]) => this.#hit(slot, score));
  }

  /**
   * The values of a metadata field and how many records hold each, in first-stored order:
   * [{value, count, metadata}] (metadata: that of the first such record), e.g. a library's documents.
   */
  async facets(field) {
    await this.#read();
    const out = new Map();
    for (const m of this.metadata) {
      if (m?.[field] === undefined) continue;
      const f = out.get(m[field]);
      if (f) f.count++;
      else out.set(m[field], { value: m[field], count: 1, metadata: m });
    }
    return [...out.values()];
  }

  /**
   * What the store takes: {count, vector_bytes (the f32 vectors in memory), scan_bytes (the WASM
   * scan's copy), index_bytes (the HNSW graph's), disk_bytes (its segment files; 0 for a store in
   * memory only)}.
   */
  async stats() {
    await this.#read();
    let disk_bytes = 0;
    if (this.dir) for (const { handle } of await listSegments(this.dir)) disk_bytes += (await handle.getFile()).size;
    return { count: this.ids.length, vector_bytes: this.ids.length * this.dimensions * 4,
      scan_bytes: this.scan ? this.scan.bytes() : 0, index_bytes: this.graph ? this.graph.bytes() : 0, disk_bytes };
  }

  /** Records by id, as Zvec's fetch: [{id, vector, metadata, text}], in the order asked; ids not stored are left out. */
  async fetch(ids) {
    await this.#read();
    const d = this.dimensions;
    return ids.map(String).filter((id) => this.slots.has(id)).map((id) => {
      const s = this.slots.get(id);
      return { id, vector: this.vectors.slice(s * d, (s + 1) * d), metadata: this.metadata[s], text: this.texts[s] };
    });
  }

  /** Ids of the records passing a filter (e.g. every chunk of one document). */
  async idsWhere(filter) {
    await this.#read();
    const accept = compileFilter(filter, this.fields);
    return this.ids.filter((_, s) => accept(this.metadata[s] ?? {}));
  }

  /** Every record as one segment file (a Blob): what `import` takes. */
  async export() {
    await this.#read();
    return new Blob([await this.#segment({ gen: this.gen, base: true, slots: this.ids.map((_, s) => s), deletes: [] })]);
  }

  /** Upsert every record of an exported Blob; returns how many. */
  async import(blob) {
    const seg = await readSegment(new Uint8Array(await blob.arrayBuffer()));
    if (!seg) throw new VectorStoreError('this file is not a vector store export (or it is damaged)');
    if (seg.header.dims !== this.dimensions) {
      throw new VectorStoreError(`the export holds ${seg.header.dims}-dimensional vectors; this store takes ${this.dimensions}`);
    }
    const records = seg.header.records.map((r, i) => ({ ...r, vector: seg.vectors.subarray(i * seg.header.dims, (i + 1) * seg.header.dims) }));
    await this.upsert(records);
    return records.length;
  }

  close() {
    this.channel?.close();
  }

  // ---- reading and writing -------------------------------------------------------------------

  #exclusive(fn) {
    const run = this.queue.then(fn);
    this.queue = run.catch(() => {});
    return run;
  }

  // Another tab wrote: replay its segments before answering.
  async #read() {
    await this.ready;
    if (this.stale) await this.#exclusive(() => this.#withLock(() => this.#catchUp()));
  }

  async #withLock(fn) {
    if (!this.dir || !globalThis.navigator?.locks) return fn();
    return navigator.locks.request(`inpage-vectors:${this.storagePath}`, fn);
  }

  async #write(records, deletes, replace) {
    await this.ready;
    if (!Array.isArray(records)) throw new VectorStoreError('insert and upsert take an array of records');
    const clean = records.map((r, i) => this.#record(r, i));
    return this.#exclusive(() => this.#withLock(async () => {
      await this.#catchUp();
      const seen = new Set();
      for (const r of clean) {
        if (seen.has(r.id)) throw new VectorStoreError(`id ${r.id} appears twice in one call`);
        seen.add(r.id);
        if (!replace && this.slots.has(r.id)) throw new VectorStoreError(`id ${r.id} is already stored; use upsert to replace it`);
      }
      const removed = deletes.filter((id) => this.slots.has(id));
      if (clean.length === 0 && removed.length === 0) return 0;
      const gen = this.gen + 1;
      if (this.dir) {
        const bytes = await encodeSegment({ gen, base: false, dims: this.dimensions, metric: this.metric, deletes: removed,
          records: clean.map(({ id, metadata, text }) => ({ id, metadata, text })) }, clean.map((r) => r.vector));
        await writeSegment(this.dir, gen, bytes, this.ids.length);
      }
      this.#apply(clean, removed);
      this.gen = gen;
      this.n_segments++;
      this.channel?.postMessage(gen);
      if (this.dir && this.n_segments > COMPACT_AFTER) await this.#compact();
      return clean.length || removed.length;
    }));
  }

  // Replay segments newer than this.gen (all of them at load). Always under the lock: it removes
  // what interrupted writes left (temporary files, segments whose checksum fails).
  async #catchUp() {
    this.stale = false;
    if (!this.dir) return;
    const listed = await listSegments(this.dir);
    const segments = [];
    let removed = 0;
    for (const { gen, name, handle } of listed) {
      if (gen <= this.gen) continue;
      const seg = await readSegment(new Uint8Array(await (await handle.getFile()).arrayBuffer()));
      if (seg && seg.header.gen === gen) {
        segments.push(seg);
      } else {
        await this.dir.removeEntry(name).catch(() => {});
        removed++;
      }
    }
    const base = segments.findLastIndex((s) => s.header.base);
    if (base >= 0) this.#clear();
    for (const seg of segments.slice(Math.max(base, 0))) {
      const h = seg.header;
      if (h.dims !== this.dimensions || h.metric !== this.metric) {
        throw new VectorStoreError(`${this.storagePath} holds ${h.dims}-dimensional ${h.metric} vectors; open it with those settings`);
      }
      this.#apply(h.records.map((r, i) => ({ ...r, vector: seg.vectors.subarray(i * h.dims, (i + 1) * h.dims) })), h.deletes);
      this.gen = h.gen;
    }
    this.n_segments = listed.length - removed;
  }

  async #compact() {
    const gen = this.gen + 1;
    const bytes = await this.#segment({ gen, base: true, slots: this.ids.map((_, s) => s), deletes: [] });
    await writeSegment(this.dir, gen, bytes, this.ids.length);
    this.gen = gen;
    for (const { gen: g, name } of await listSegments(this.dir)) {
      if (g < gen) await this.dir.removeEntry(name).catch(() => {});
    }
    this.n_segments = 1;
  }

  #segment({ gen, base, slots, deletes }) {
    const d = this.dimensions;
    return encodeSegment({ gen, base, dims: d, metric: this.metric, deletes,
      records: slots.map((s) => ({ id: this.ids[s], metadata: this.metadata[s], text: this.texts[s] })) },
    slots.map((s) => this.vectors.subarray(s * d, (s + 1) * d)));
  }

  // ---- memory --------------------------------------------------------------------------------

  #record(r, i) {
    if (!r || typeof r !== 'object') throw new VectorStoreError(`record ${i} is not an object`);
    const id = typeof r.id === 'number' ? String(r.id) : r.id;
    if (typeof id !== 'string' || id === '') throw new VectorStoreError(`record ${i} needs an id (a non-empty string)`);
    const metadata = r.metadata ?? {};
    if (typeof metadata !== 'object' || Array.isArray(metadata)) throw new VectorStoreError(`record ${id}: metadata must be an object`);
    if (r.text !== undefined && r.text !== null && typeof r.text !== 'string') throw new VectorStoreError(`record ${id}: text must be a string`);
    return { id, metadata, text: r.text ?? null, vector: this.#check(r.vector, `record ${id}`) };
  }

  #check(vector, what) {
    if (!(vector instanceof Float32Array) && !Array.isArray(vector)) throw new VectorStoreError(`${what}: the vector must be a Float32Array or an array of numbers`);
    if (vector.length !== this.dimensions) {
      throw new VectorStoreError(`${what}: the vector has ${vector.length} dimensions; this store takes ${this.dimensions}`);
    }
    const v = Float32Array.from(vector);
    if (!v.every(Number.isFinite)) throw new VectorStoreError(`${what}: the vector holds a NaN or an infinity`);
    if (this.metric === 'cosine') {
      const norm = Math.hypot(...v);
      if (norm === 0) throw new VectorStoreError(`${what}: a zero vector has no direction for cosine similarity`);
      for (let i = 0; i < v.length; i++) v[i] /= norm;
    }
    return v;
  }

  #apply(records, deletes) {
    for (const id of deletes) this.#remove(id);
    const d = this.dimensions;
    for (const r of records) {
      let slot = this.slots.get(r.id);
      if (slot === undefined) {
        slot = this.ids.length;
        this.ids.push(r.id);
        this.slots.set(r.id, slot);
        if (this.vectors.length < (slot + 1) * d) {
          const grown = new Float32Array(Math.max(this.vectors.length * 2, (slot + 1) * d));
          grown.set(this.vectors);
          this.vectors = grown;
        }
      }
      this.vectors.set(r.vector, slot * d);
      this.#touch(slot);
      this.metadata[slot] = r.metadata ?? {};
      this.texts[slot] = r.text ?? null;
      for (const key of Object.keys(this.metadata[slot])) this.fields.add(key);
      if (r.text) this.bm25.add(r.id, r.text);
      else this.bm25.remove(r.id);
    }
  }

  // Remove by moving the last record into the freed slot.
  #remove(id) {
    const slot = this.slots.get(id);
    if (slot === undefined) return;
    const last = this.ids.length - 1;
    const d = this.dimensions;
    if (slot !== last) {
      const moved = this.ids[last];
      this.ids[slot] = moved;
      this.slots.set(moved, slot);
      this.vectors.copyWithin(slot * d, last * d, (last + 1) * d);
      this.#touch(slot);
      this.metadata[slot] = this.metadata[last];
      this.texts[slot] = this.texts[last];
    }
    this.ids.pop();
    this.metadata.pop();
    this.texts.pop();
    this.slots.delete(id);
    this.bm25.remove(id);
  }

  #touch(slot) {
    this.dirty = [Math.min(this.dirty[0], slot), Math.max(this.dirty[1], slot + 1)];
    this.touched?.add(slot);
    if (this.touched?.size > TOUCHED_MAX) this.touched = null;
  }

  #clear() {
    this.dirty = [0, Infinity];
    this.touched = null;
    this.ivf = null;
    this.graph = null;
    this.ids = [];
    this.slots = new Map();
    this.metadata = [];
    this.texts = [];
    this.fields = new Set();
    this.bm25 = new BM25();
  }

  /** The `limit` best slots passing ok(slot): [{slot, score}], best first. */
  async #dense(q, limit, ok, filtered) {
    const scan = this.metric === 'l2' ? null : await this.#scan();
    if (scan) {
      // A filter may leave few rows near the query: filtered searches scan every row.
      const graph = filtered ? null : await this.#graph(scan);
      if (graph) {
        const exact = new TopK(limit); // the graph's candidates by their f32 vectors
        for (const slot of graph.search(q, Math.max(this.ef, limit * RERANK_PER_HIT, RERANK_MIN)).slots) exact.push(slot, this.#score(slot, q));
        return exact.sorted();
      }
      const ivf = filtered ? null : this.#partition(scan);
      const rows = ivf ? ivf.rowsOf(ivf.nearest(q, this.nprobe)) : null;
      const scores = scan.score(q, this.ids.length, rows);
      const top = new TopK(scan.approximate ? Math.max(limit * RERANK_PER_HIT, RERANK_MIN) : limit);
      for (let i = 0; i < scores.length; i++) {
        const s = rows ? rows[i] : i;
        if (scores[i] > top.floor && ok(s)) top.push(s, scores[i]);
      }
      if (!scan.approximate) return top.sorted();
      const exact = new TopK(limit); // the candidates by their f32 vectors: exact scores and order
      for (const { slot } of top.sorted()) exact.push(slot, this.#score(slot, q));
      return exact.sorted();
    }
    const top = new TopK(limit);
    for (let s = 0; s < this.ids.length; s++) {
      const score = this.#score(s, q);
      if (score > top.floor && ok(s)) top.push(s, score);
    }
    return top.sorted();
  }

  // The metric's score of one record: dot product (cosine: of unit vectors), or minus the L2 distance.
  #score(slot, q) {
    const d = this.dimensions;
    const V = this.vectors;
    const o = slot * d;
    let acc = 0;
    if (this.metric === 'l2') {
      for (let i = 0; i < d; i++) {
        const diff = V[o + i] - q[i];
        acc += diff * diff;
      }
      return -Math.sqrt(acc);
    }
    for (let i = 0; i < d; i++) acc += V[o + i] * q[i];
    return acc;
  }

  // The WASM scan, its copy brought up to date; null where it does not load or the store is small.
  async #scan() {
    const n = this.ids.length;
    const d = this.dimensions;
    if (n < SCAN_FROM || d % 4 || this.scan === false) return null;
    if (!this.scan) {
      this.scan = (await VectorScan.create(d, this.quantize === 'int8' && d % 16 === 0 ? 'int8' : 'f32')) ?? false;
      if (!this.scan) return null;
      this.dirty = [0, n];
    }
    const [lo, hi] = this.dirty;
    if (hi > lo || this.scan.capacity < n) this.scan.sync(this.vectors, n, lo, hi);
    if (this.ivf?.stale(n)) this.ivf = null;
    else if (this.ivf && hi > lo) this.ivf.update(this.vectors, n, lo, hi);
    if (this.graph) this.graph.update(n, this.touched ?? { lo, hi: Math.min(hi, n) });
    this.dirty = [Infinity, 0];
    this.touched = new Set();
    return this.scan;
  }

  // The HNSW graph where this store uses one, else null. On first use it is read from the folder
  // where a stored graph matches the last segment applied (no write since it was saved), else built
  // over every row and saved (a cache: a failed save only costs the next load a rebuild).
  async #graph(scan) {
    if (scan.kind !== 'int8' || this.index !== 'hnsw') return null;
    if (this.graph) return this.graph;
    const gen = this.gen;
    const stored = this.dir ? await readGraphFile(this.dir, gen) : null;
    if (this.graph) return this.graph; // another search made it meanwhile
    // Rows written while the file was read: the stored graph is not theirs, and the scan's copy
    // may not hold them yet; they reach both at the next search.
    const n = Math.min(this.ids.length, scan.n);
    const graph = new HnswGraph(scan, { M: HNSW_M, ef_construction: HNSW_EF_CONSTRUCTION });
    graph.restored = stored !== null && this.gen === gen && stored.header.n === n && graph.restore(stored);
    if (!graph.restored) {
      graph.update(n, { lo: 0, hi: n });
      if (this.dir && this.gen === gen) saveGraphFile(this.dir, graph, gen, this.ids.length).catch(() => {});
    }
    this.graph = graph;
    return graph;
  }

  // The IVF partition where this store uses one (built on first use), else null.
  #partition(scan) {
    const n = this.ids.length;
    if (scan.kind !== 'int8' || this.index !== 'ivf') return null;
    this.ivf ??= new IvfPartition(scan.rt, this.vectors, n, this.dimensions, Math.max(1, Math.round(Math.sqrt(n))));
    return this.ivf;
  }

  #hit(slot, score) {
    return { id: this.ids[slot], score, metadata: this.metadata[slot], text: this.texts[slot] };
  }
}

/** The k largest scores seen: a small sorted buffer (k is small next to the records scanned). */
class TopK {
  constructor(k) {
    this.k = Math.max(0, k);
    this.items = [];
    this.floor = this.k === 0 ? Infinity : -Infinity;
  }

  push(slot, score) {
    const items = this.items;
    let i = items.length;
    while (i > 0 && (items[i - 1].score < score || (items[i - 1].score === score && items[i - 1].slot > slot))) i--;
    items.splice(i, 0, { slot, score });
    if (items.length > this.k) items.pop();
    if (items.length === this.k) this.floor = items[this.k - 1].score;
  }

  sorted() {
    return this.items;
  }
}
