// The vector store's HNSW graph (webgpu/wasm/vector_hnsw.c) over its scan's int8 rows: the
// approximate index for large stores. It lives in the scan's WASM memory beside the rows, follows
// the store's changes slot by slot (a changed or appended slot is re-linked; removed slots past n
// are skipped), and answers the ef nearest rows by int8 similarity, which the store re-ranks in
// f32. A slot's level is a fixed function of its number, so a graph rebuilt from the same rows is
// the same graph, and a snapshot (the lists alone) restores it: saved beside the store's segments,
// in their checksummed format, one file per generation of the store (readGraphFile, saveGraphFile).

import { quantizeQuery } from './vector_scan.js';
import { encodeSegment, readSegment, writeSegment } from './vector_segments.js';

const LEVELS = 8; // HNSW_LEVELS in vector_hnsw.c
const EF_MAX = 2048; // HNSW_EF_MAX
const D_MAX = 4096; // HNSW_D_MAX
const REPAIR_PASSES = 8; // hnsw_repair runs until every row is reachable, at most this often
// hnsw_graph's fields, in its order (int32 each).
const FIELDS = ['codes', 'scales', 'd', 'n', 'links0', 'upper', 'upper_of', 'level', 'visited', 'stamp', 'entry', 'max_level', 'M', 'M0',
  'queue', 'in_links'];
const F = Object.fromEntries(FIELDS.map((name, i) => [name, i]));

export class HnswGraph {
  /**
   * @param {import('./vector_scan.js').VectorScan} scan an int8 scan: the graph reads its rows
   * @param {{M?: number, ef_construction?: number}} options M: neighbours per row on the upper
   *   levels (2M on level 0); ef_construction: the candidate list when a row is linked
   */
  constructor(scan, { M = 16, ef_construction = 100 } = {}) {
    if (scan.kind !== 'int8') throw new Error('an HNSW graph is built over an int8 scan');
    if (!Number.isInteger(M) || M < 2 || M > 32) throw new Error(`M must be an integer from 2 to 32, not ${M}`);
    if (scan.d > D_MAX) throw new Error(`an HNSW graph takes vectors of up to ${D_MAX} dimensions, not ${scan.d}`);
    this.scan = scan;
    this.rt = scan.rt;
    this.d = scan.d;
    this.M = M;
    this.M0 = 2 * M;
    this.ef_construction = Math.min(ef_construction, EF_MAX);
    this.capacity = 0;
    this.n = 0;
    this.header = this.rt.alloc(FIELDS.length * 4);
    this.q = this.rt.alloc(this.d);
    this.out_slots = this.rt.alloc(EF_MAX * 4);
    this.out_sims = this.rt.alloc(EF_MAX * 4);
    this.#set({ d: this.d, n: 0, entry: -1, max_level: -1, M, M0: this.M0, stamp: 0 });
  }

  /** Bytes the graph takes in WASM memory. */
  bytes() {
    return this.capacity * ((1 + this.M0) * 4 + 17) + this.n_upper * LEVELS * (1 + this.M) * 4;
  }

  /**
   * The store now has n rows (the scan's copy already holds them); `slots` (an iterable of slot
   * numbers below n (a Set), or [lo, hi) as a range {lo, hi}) changed or are new: link them, then link
   * back any row that no longer has a path to it. Returns how many rows needed that.
   */
  update(n, slots) {
    const changed = 'lo' in slots ? slots.hi > slots.lo : slots.size > 0;
    if (!changed && n === this.n) return 0;
    if (this.capacity < n) this.#grow(Math.max(n, Math.ceil(this.capacity * 1.5)));
    this.n = n;
    this.#set({ n, codes: this.scan.data, scales: this.scan.scales });
    if ('lo' in slots) {
      if (slots.hi > slots.lo) this.rt.k.hnsw_link(this.header, slots.lo, Math.min(slots.hi, n), this.ef_construction);
    } else {
      for (const s of [...slots].filter((s) => s < n).sort((a, b) => a - b)) this.rt.k.hnsw_link(this.header, s, s + 1, this.ef_construction);
    }
    let repaired = 0;
    for (let pass = 0, r = 1; r > 0 && pass < REPAIR_PASSES; pass++) repaired += r = this.rt.k.hnsw_repair(this.header);
    return repaired;
  }

  /** The ef rows nearest q (Float32Array of d) by int8 similarity: {slots: Int32Array, sims: Float32Array}, nearest first. */
  search(q, ef) {
    const { rt, d } = this;
    const q_scale = quantizeQuery(q, new Int8Array(rt.memory.buffer, this.q, d));
    this.#set({ codes: this.scan.data, scales: this.scan.scales });
    const k = rt.k.hnsw_search(this.header, this.q, q_scale, Math.min(ef, EF_MAX), this.out_slots, this.out_sims);
    return { slots: new Int32Array(rt.memory.buffer, this.out_slots, k).slice(), sims: rt.f32(this.out_sims, k).slice() };
  }

  /**
   * The graph as it stands, for storing: {header, words} (words: an Int32Array of the level-0 lists
   * of rows 0..n-1, then the upper-level blocks of those rows that have one, in slot order).
   */
  snapshot() {
    const { rt, M, M0, n } = this;
    const h = new Int32Array(rt.memory.buffer, this.header, FIELDS.length);
    let n_upper = 0;
    for (let s = 0; s < n; s++) if (level(s, M) > 0) n_upper++;
    const l0 = n * (1 + M0);
    const block = LEVELS * (1 + M);
    const words = new Int32Array(l0 + n_upper * block);
    words.set(new Int32Array(rt.memory.buffer, this.region.links0, l0));
    words.set(new Int32Array(rt.memory.buffer, this.region.upper, n_upper * block), l0);
    return { header: { n, d: this.d, M, entry: h[F.entry], max_level: h[F.max_level], n_upper }, words };
  }

  /** Take a snapshot's graph (of the same rows: the caller checks); false where it does not fit this graph. */
  restore({ header, words }) {
    const { M, M0, d } = this;
    const { n } = header;
    const l0 = n * (1 + M0);
    const block = LEVELS * (1 + M);
    if (header.M !== M || header.d !== d || words.length !== l0 + header.n_upper * block) return false;
    if (this.capacity < n) this.#grow(n);
    if (header.n_upper > this.n_upper) return false;
    new Int32Array(this.rt.memory.buffer, this.region.links0, l0).set(words.subarray(0, l0));
    new Int32Array(this.rt.memory.buffer, this.region.upper, header.n_upper * block).set(words.subarray(l0));
    this.n = n;
    this.#set({ n, entry: header.entry, max_level: header.max_level });
    return true;
  }

  #set(fields) {
    const h = new Int32Array(this.rt.memory.buffer, this.header, FIELDS.length);
    for (const [name, value] of Object.entries(fields)) h[F[name]] = value;
  }

  // Regions for `capacity` rows; what the old ones held is copied over. Upper-level blocks are
  // numbered in slot order, so a row keeps its block across growth.
  #grow(capacity) {
    const { rt, M, M0 } = this;
    const old = this.capacity;
    const levels = new Int8Array(capacity);
    const upper_of = new Int32Array(capacity);
    let n_upper = 0;
    for (let s = 0; s < capacity; s++) {
      levels[s] = level(s, M);
      upper_of[s] = levels[s] > 0 ? n_upper++ : -1;
    }
    const region = {
      links0: rt.alloc(capacity * (1 + M0) * 4),
      upper: rt.alloc(Math.max(1, n_upper) * LEVELS * (1 + M) * 4),
      upper_of: rt.alloc(capacity * 4),
      level: rt.alloc(capacity),
      visited: rt.alloc(capacity * 4),
      queue: rt.alloc(capacity * 4),
      in_links: rt.alloc(capacity * 4),
    };
    const mem = new Uint8Array(rt.memory.buffer);
    if (old > 0) {
      mem.copyWithin(region.links0, this.region.links0, this.region.links0 + old * (1 + M0) * 4);
      mem.copyWithin(region.upper, this.region.upper, this.region.upper + this.n_upper * LEVELS * (1 + M) * 4);
    }
    new Int32Array(rt.memory.buffer, region.upper_of, capacity).set(upper_of);
    new Int8Array(rt.memory.buffer, region.level, capacity).set(levels);
    this.region = region;
    this.capacity = capacity;
    this.n_upper = n_upper;
    this.#set({ ...region, stamp: 0 });
    new Uint32Array(rt.memory.buffer, region.visited, capacity).fill(0);
  }
}

// A slot's level: floor(-ln(u) / ln(M)) for u uniform in (0, 1], from a hash of the slot number
// (the paper's level distribution, with mL = 1 / ln M), capped at LEVELS.
export function level(slot, M) {
  let h = (slot + 0x9e3779b9) | 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  h = (h ^ (h >>> 16)) >>> 0;
  const u = (h + 1) / 4294967296;
  return Math.min(LEVELS, Math.floor(-Math.log(u) / Math.log(M)));
}

const GRAPH = /^hnsw-\d{12}\.graph$/;
const graphName = (gen) => `hnsw-${String(gen).padStart(12, '0')}.graph`;

/** The snapshot saved for generation gen of the store in dir: {header, words}, or null (none, or damaged). */
export async function readGraphFile(dir, gen) {
  try {
    const file = await (await dir.getFileHandle(graphName(gen))).getFile();
    const seg = await readSegment(new Uint8Array(await file.arrayBuffer()));
    if (!seg || seg.header.kind !== 'hnsw' || seg.header.gen !== gen) return null;
    return { header: seg.header, words: new Int32Array(seg.vectors.buffer, seg.vectors.byteOffset, seg.vectors.length) };
  } catch {
    return null; // none stored for this generation
  }
}

/** Save graph as generation gen's snapshot (written, then moved into place); older ones are removed. */
export async function saveGraphFile(dir, graph, gen, n_kept) {
  const { header, words } = graph.snapshot();
  const bytes = await encodeSegment({ ...header, kind: 'hnsw', gen, dims: words.length }, [new Float32Array(words.buffer)]);
  await writeSegment(dir, gen, bytes, n_kept, graphName(gen));
  for await (const [name] of dir.entries()) {
    if (GRAPH.test(name) && name !== graphName(gen)) await dir.removeEntry(name).catch(() => {});
  }
}
