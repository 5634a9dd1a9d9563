// The vector store (webgpu/vector_store.js) on an in-memory stand-in for the origin-private file
// system: exact search against a full scan, filters, hybrid search, persistence, cut writes, full
// storage, compaction, export/import and a second reader.

import assert from 'node:assert/strict';
import test from 'node:test';
import { seededRandom } from '../../webgpu/sampler.js';
import { VectorStore } from '../../webgpu/vector_store.js';

/** A directory of the origin-private file system, in memory: the calls the store makes. */
class MemoryDir {
  constructor(name = '') {
    this.name = name;
    this.files = new Map(); // name -> Uint8Array
    this.dirs = new Map();
    this.failWrites = null; // (name, bytes) => Error to throw mid-write, leaving half the bytes
  }

  async getDirectoryHandle(name, { create } = {}) {
    if (!this.dirs.has(name)) {
      if (!create) throw new Error('NotFoundError');
      this.dirs.set(name, new MemoryDir(name));
    }
    return this.dirs.get(name);
  }

  async getFileHandle(name, { create } = {}) {
    if (!this.files.has(name)) {
      if (!create) throw new Error('NotFoundError');
      this.files.set(name, new Uint8Array(0));
    }
    return this.#handle(name);
  }

  #handle(name) {
    const dir = this;
    return {
      kind: 'file', name,
      getFile: async () => new Blob([dir.files.get(name)]),
      createWritable: async () => {
        let data = new Uint8Array(0);
        return {
          write: async (bytes) => {
            const err = dir.failWrites?.(name, bytes);
            if (err) {
              dir.files.set(name, bytes.slice(0, bytes.length >> 1)); // what a cut write leaves
              throw err;
            }
            data = Uint8Array.from(bytes);
          },
          close: async () => dir.files.set(name, data),
          abort: async () => {},
        };
      },
    };
  }

  async removeEntry(name) {
    if (!this.files.delete(name)) throw new Error('NotFoundError');
  }

  async *entries() {
    for (const name of [...this.files.keys()]) yield [name, this.#handle(name)];
  }
}

const rand = seededRandom(99);
const vec = (d) => Float32Array.from({ length: d }, () => rand() * 2 - 1);
const unit = (v) => {
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
};

test('exact search returns what a full scan ranks first, for every metric', async () => {
  const d = 32;
  const records = Array.from({ length: 500 }, (_, i) => ({ id: `r${i}`, vector: vec(d), metadata: { i } }));
  for (const metric of ['cosine', 'dot', 'l2']) {
    const store = new VectorStore({ dimensions: d, metric });
    await store.insert(records);
    for (let trial = 0; trial < 5; trial++) {
      const q = vec(d);
      const score = (v) => {
        if (metric === 'l2') return -Math.hypot(...v.map((x, i) => x - q[i]));
        const a = metric === 'cosine' ? unit(v) : v;
        const b = metric === 'cosine' ? unit(q) : q;
        return a.reduce((s, x, i) => s + x * b[i], 0);
      };
      const want = records.map((r) => [r.id, score(r.vector)]).sort((a, b) => b[1] - a[1]).slice(0, 10);
      const got = await store.search(q, { limit: 10 });
      assert.deepEqual(got.map((h) => h.id), want.map(([id]) => id), metric);
      got.forEach((h, i) => assert.ok(Math.abs(h.score - want[i][1]) < 1e-4));
    }
  }
});

test('filters: equality, $in, ranges, $and/$or; unknown fields and operators say what to do', async () => {
  const store = new VectorStore({ dimensions: 4 });
  await store.insert(Array.from({ length: 40 }, (_, i) => ({ id: `d${i}`, vector: vec(4),
    metadata: { lang: i % 2 ? 'en' : 'fr', year: 2000 + i, tag: ['a', 'b', 'c'][i % 3] } })));
  const ids = async (filter) => (await store.search(vec(4), { limit: 100, filter })).map((h) => Number(h.id.slice(1))).sort((a, b) => a - b);
  assert.deepEqual(await ids({ lang: 'fr', year: { $lt: 2010 } }), [0, 2, 4, 6, 8]);
  assert.deepEqual(await ids({ tag: { $in: ['a'] }, year: { $gte: 2030 } }), [30, 33, 36, 39]);
  assert.deepEqual(await ids({ $or: [{ year: 2001 }, { year: { $gt: 2037 } }] }), [1, 38, 39]);
  assert.deepEqual(await ids({ $and: [{ lang: 'en' }, { tag: 'c' }] }), [5, 11, 17, 23, 29, 35]);
  await assert.rejects(store.search(vec(4), { filter: { author: 'x' } }), /no record has a metadata field "author" \(fields: lang, tag, year\)/);
  await assert.rejects(store.search(vec(4), { filter: { year: { $between: 1 } } }), /unknown operator \$between/);
});

test('bad records get clear errors and change nothing', async () => {
  const store = new VectorStore({ dimensions: 3 });
  await store.insert([{ id: 'a', vector: [1, 0, 0] }]);
  await assert.rejects(store.insert([{ id: 'b', vector: [1, 0] }]), /record b: the vector has 2 dimensions; this store takes 3/);
  await assert.rejects(store.insert([{ id: 'a', vector: [0, 1, 0] }]), /id a is already stored; use upsert/);
  await assert.rejects(store.upsert([{ id: 'c', vector: [0, 0, 0] }]), /zero vector/);
  await assert.rejects(store.upsert([{ id: 'c', vector: [NaN, 0, 1] }]), /NaN/);
  await assert.rejects(store.search([1, 2]), /query: the vector has 2 dimensions/);
  assert.equal(await store.count(), 1);
  await store.upsert([{ id: 'a', vector: [0, 1, 0], metadata: { v: 2 } }]);
  assert.deepEqual((await store.search([0, 1, 0], { limit: 1 }))[0].metadata, { v: 2 });
  assert.equal(await store.delete(['a', 'missing']), 1);
  assert.equal(await store.count(), 0);
  // Deleting from the middle keeps every other record whole.
  await store.insert([{ id: 'p', vector: [1, 0, 0], metadata: { n: 'p' }, text: 'pear' },
    { id: 'q', vector: [0, 1, 0], metadata: { n: 'q' }, text: 'quince' }, { id: 'r', vector: [0, 0, 1], metadata: { n: 'r' }, text: 'rowan' }]);
  await store.delete(['p']);
  assert.deepEqual(await store.search([0, 0, 1], { limit: 1 }), [{ id: 'r', score: 1, metadata: { n: 'r' }, text: 'rowan' }]);
  assert.deepEqual((await store.search(null, { text: 'quince rowan pear' })).map((h) => h.id).sort(), ['q', 'r']);
});

test('a tab closed mid-write leaves the committed records as they were', async () => {
  const root = new MemoryDir();
  const store = new VectorStore({ dimensions: 64, storagePath: 'k', directory: root });
  await store.insert(Array.from({ length: 8 }, (_, i) => ({ id: `c${i}`, vector: vec(64) })));
  const folder = root.dirs.get('k');
  // The tab dies inside write(): half the segment is on disk under its final name, and nothing
  // runs afterwards to remove it.
  folder.failWrites = () => new Error('the tab was closed');
  folder.removeEntry = async () => { throw new Error('the tab was closed'); };
  await assert.rejects(store.insert(Array.from({ length: 8 }, (_, i) => ({ id: `n${i}`, vector: vec(64) }))));
  assert.equal(folder.files.size, 2);
  delete folder.removeEntry;
  folder.failWrites = null;
  const reopened = new VectorStore({ dimensions: 64, storagePath: 'k', directory: root });
  assert.equal(await reopened.count(), 8);
  const q = vec(64);
  assert.deepEqual((await reopened.search(q, { limit: 8 })).map((h) => h.id), (await store.search(q, { limit: 8 })).map((h) => h.id));
});

test('hybrid search: BM25 finds the keyword, fusion ranks what both agree on first', async () => {
  const store = new VectorStore({ dimensions: 8 });
  const q = vec(8);
  const near = q.map((x) => x + 0.01);
  await store.insert([
    { id: 'near-no-words', vector: near, text: 'completely unrelated words here' },
    { id: 'far-keyword', vector: q.map((x) => -x), text: 'The lighthouse keeper kept a log' },
    { id: 'both', vector: q.map((x) => x + 0.05), text: 'a lighthouse on the headland' },
    ...Array.from({ length: 30 }, (_, i) => ({ id: `other${i}`, vector: vec(8), text: `filler text number ${i}` })),
  ]);
  const sparse = await store.search(null, { text: 'LIGHTHOUSE keeper', limit: 2 });
  assert.deepEqual(sparse.map((h) => h.id), ['far-keyword', 'both']);
  const fused = await store.search(q, { text: 'lighthouse', limit: 3 });
  assert.equal(fused[0].id, 'both');
  assert.ok(fused.some((h) => h.id === 'near-no-words'));
});

test('records survive a reopen; a cut write and a full disk keep what was committed', async () => {
  const root = new MemoryDir();
  const open = () => new VectorStore({ dimensions: 4, storagePath: 'rag/notes', directory: root });
  const a = open();
  await a.insert([{ id: 'x', vector: [1, 0, 0, 0], text: 'first' }, { id: 'y', vector: [0, 1, 0, 0] }]);
  await a.delete(['y']);
  await a.upsert([{ id: 'z', vector: [0, 0, 1, 0], metadata: { k: 1 } }]);
  const folder = root.dirs.get('rag').dirs.get('notes');
  // The storage fills up mid-write: an error that says so, and nothing half-written is kept.
  folder.failWrites = () => Object.assign(new Error('quota'), { name: 'QuotaExceededError' });
  await assert.rejects(a.insert([{ id: 'w', vector: [0, 0, 0, 1] }]), /browser storage is full.*the 2 records stored before it are kept/);
  folder.failWrites = null;
  assert.equal(await a.count(), 2);
  // A write cut off under its final name (a browser without move()): its checksum fails, so it is skipped.
  folder.files.set('seg-000000000099.ivs', new Uint8Array(100).fill(7));
  const b = open();
  assert.equal(await b.count(), 2);
  assert.deepEqual((await b.search([0, 0, 1, 0], { limit: 1 }))[0], { id: 'z', score: 1, metadata: { k: 1 }, text: null });
  assert.deepEqual((await b.search(null, { text: 'first' })).map((h) => h.id), ['x']);
  // Writing on: the next segment gets a number past every committed one.
  folder.files.delete('seg-000000000099.ivs');
  await b.insert([{ id: 'v', vector: [0, 0, 0, 1] }]);
  assert.equal(await open().count(), 3);
});

test('the writes of a move()-capable browser go through a temporary name, and leftovers are removed', async () => {
  const root = new MemoryDir();
  const moves = [];
  globalThis.FileSystemHandle = class {};
  globalThis.FileSystemHandle.prototype.move = () => {};
  const getFileHandle = root.getFileHandle.bind(root);
  root.getFileHandle = async (name, opts) => {
    const h = await getFileHandle(name, opts);
    h.move = async (to) => {
      moves.push([name, to]);
      root.files.set(to, root.files.get(name));
      root.files.delete(name);
    };
    return h;
  };
  try {
    root.files.set('.tmp-7-abc', new Uint8Array(10)); // a write a closed tab never finished
    const store = new VectorStore({ dimensions: 2, storagePath: '', directory: root });
    await store.insert([{ id: 'a', vector: [1, 1] }]);
    assert.equal(moves.length, 1);
    assert.match(moves[0][0], /^\.tmp-1-/);
    assert.equal(moves[0][1], 'seg-000000000001.ivs');
    assert.deepEqual([...root.files.keys()], ['seg-000000000001.ivs']);
  } finally {
    delete globalThis.FileSystemHandle;
  }
});

test('many small writes compact into one base segment, with the same records', async () => {
  const root = new MemoryDir();
  const store = new VectorStore({ dimensions: 3, storagePath: 's', directory: root });
  for (let i = 0; i < 70; i++) await store.upsert([{ id: `k${i % 50}`, vector: vec(3), metadata: { i } }]);
  await store.delete(['k3']);
  const files = [...root.dirs.get('s').files.keys()];
  assert.ok(files.length < 10, files.join());
  const again = new VectorStore({ dimensions: 3, storagePath: 's', directory: root });
  assert.equal(await again.count(), 49);
  const q = vec(3);
  assert.deepEqual(await again.search(q, { limit: 49 }), await store.search(q, { limit: 49 }));
  await assert.rejects(new VectorStore({ dimensions: 5, storagePath: 's', directory: root }).count(), /holds 3-dimensional cosine vectors/);
});

test('export and import round-trip; a second store on the same folder sees committed writes', async () => {
  const root = new MemoryDir();
  const a = new VectorStore({ dimensions: 4, storagePath: 'p', directory: root });
  const reader = new VectorStore({ dimensions: 4, storagePath: 'p', directory: root });
  assert.equal(await reader.count(), 0);
  await a.insert(Array.from({ length: 20 }, (_, i) => ({ id: `e${i}`, vector: vec(4), metadata: { i }, text: `word${i}` })));
  await new Promise((r) => setTimeout(r, 20)); // the commit's broadcast
  assert.equal(await reader.count(), 20);
  const blob = await a.export();
  const b = new VectorStore({ dimensions: 4 });
  assert.equal(await b.import(blob), 20);
  const q = vec(4);
  assert.deepEqual(await b.search(q, { limit: 20 }), await a.search(q, { limit: 20 }));
  await assert.rejects(new VectorStore({ dimensions: 3 }).import(blob), /4-dimensional vectors; this store takes 3/);
  await assert.rejects(b.import(new Blob(['not a store'])), /not a vector store export/);
  a.close();
  reader.close();
});

test('facets list a field\'s values with their counts; idsWhere lists the records a filter passes', async () => {
  const store = new VectorStore({ dimensions: 2 });
  await store.insert([{ id: 'a#0', vector: [1, 0], metadata: { doc: 'a', name: 'A.md' } }, { id: 'b#0', vector: [0, 1], metadata: { doc: 'b', name: 'B.txt' } },
    { id: 'a#1', vector: [1, 1], metadata: { doc: 'a', name: 'A.md' } }]);
  assert.deepEqual((await store.facets('doc')).map((f) => [f.value, f.count, f.metadata.name]), [['a', 2, 'A.md'], ['b', 1, 'B.txt']]);
  assert.deepEqual((await store.idsWhere({ doc: 'a' })).sort(), ['a#0', 'a#1']);
});
