"""The vector store in Chromium on the origin-private file system: records survive a reload, a tab
closed in the middle of a large insert leaves either all of it or none of it, and a second tab
sees what the first one committed."""
import pytest

OPEN = """async ([path, n, dims]) => {
  const { VectorStore } = await import('/webgpu/vector_store.js');
  window.store = new VectorStore({ dimensions: dims, storagePath: path });
  await window.store.ready;
  window.vec = (i) => Float32Array.from({ length: dims }, (_, j) => (Math.sin(i * 12.9898 + j * 78.233) * 43758.5453) % 1);
  return window.store.count();
}"""

INSERT = """async ([from, n, wait]) => {
  const recs = Array.from({ length: n }, (_, k) => ({ id: `r${from + k}`, vector: window.vec(from + k),
    metadata: { batch: from }, text: `record number ${from + k}` }));
  const done = window.store.insert(recs);
  if (wait) return done;
  window.pending = done; // not awaited: the tab is closed under it
  await new Promise((r) => setTimeout(r, 5));
  return -1;
}"""

FILES = """async (path) => {
  let dir = await navigator.storage.getDirectory();
  for (const name of path.split('/')) dir = await dir.getDirectoryHandle(name);
  const out = [];
  for await (const [name] of dir.entries()) out.push(name);
  return out.sort();
}"""

WRITING = """async (path) => {
  let dir = await navigator.storage.getDirectory();
  for (const name of path.split('/')) dir = await dir.getDirectoryHandle(name);
  for await (const [name] of dir.entries()) if (name.startsWith('.tmp-')) return true;
  return false;
}"""


def test_records_survive_a_reload_and_a_tab_closed_mid_insert(context, live_server):
    path, dims = "tests/killed", 384
    page = context.new_page()
    page.goto(f"{live_server.url}/bench")
    assert page.evaluate(OPEN, [path, 0, dims]) == 0
    page.evaluate(INSERT, [0, 500, True])
    hit = page.evaluate("async () => (await window.store.search(window.vec(123), { limit: 1, filter: { batch: 0 } }))[0]")
    assert hit["id"] == "r123" and abs(hit["score"] - 1) < 1e-5
    page.reload()
    assert page.evaluate(OPEN, [path, 0, dims]) == 500
    # 20,000 records (about 31 MB to write): close the tab once the segment is being written.
    page.evaluate(INSERT, [500, 20000, False])
    page.wait_for_function(WRITING, arg=path, polling=1)
    page.close()
    page = context.new_page()
    page.goto(f"{live_server.url}/bench")
    count = page.evaluate(OPEN, [path, 0, dims])
    assert count in (500, 20500), count  # all of the batch or none of it, never a part
    print(f"\nafter closing the tab mid-insert: {count} records; files {page.evaluate(FILES, path)}")
    page.evaluate(INSERT, [30000, 10, True])
    assert page.evaluate("() => window.store.count()") == count + 10
    assert not [f for f in page.evaluate(FILES, path) if f.startswith(".tmp-")]
    text = page.evaluate("async () => (await window.store.search(null, { text: 'number 30003' }))[0].id")
    assert text == "r30003"


def test_a_second_tab_sees_what_the_first_committed(context, live_server):
    path, dims = "tests/two-tabs", 8
    a, b = context.new_page(), context.new_page()
    for p in (a, b):
        p.goto(f"{live_server.url}/bench")
        assert p.evaluate(OPEN, [path, 0, dims]) == 0
    a.evaluate(INSERT, [0, 30, True])
    b.wait_for_function("async () => (await window.store.count()) === 30")
    b.evaluate(INSERT, [100, 5, True])  # b writes after catching up: no segment number is reused
    a.wait_for_function("async () => (await window.store.count()) === 35")
    c = context.new_page()
    c.goto(f"{live_server.url}/bench")
    assert c.evaluate(OPEN, [path, 0, dims]) == 35


@pytest.mark.parametrize("options", [{"quantize": "int8"}, {"quantize": "none"}, {"index": "ivf", "nprobe": 1000},
                                     {"index": "hnsw", "ef": 2048}], ids=["int8", "f32", "ivf-every-list", "hnsw-wide"])
def test_wasm_simd_search_ranks_as_a_full_scan(page, live_server, options):
    # 3,000 records: past the size where the store scores with the WASM kernel; upserts and deletes
    # in between, so the kernel's copy of the vectors must follow the changes. int8: the scan's
    # candidates re-ranked in f32 give the full scan's ten, with its scores. IVF probing every list
    # (55 here) must too: its lists must hold every row exactly once through the changes. So must
    # HNSW with a candidate list of 2,048: changed and new rows must be linked, removed ones gone.
    page.goto(f"{live_server.url}/bench")
    r = page.evaluate("""async (options) => {
      const { VectorStore } = await import('/webgpu/vector_store.js');
      const { seededRandom } = await import('/webgpu/sampler.js');
      const rand = seededRandom(5);
      const vec = () => Float32Array.from({ length: 64 }, () => rand() - 0.5);
      const store = new VectorStore({ dimensions: 64, metric: 'dot', ...options });
      const all = new Map();
      const put = async (recs) => { await store.upsert(recs); for (const r of recs) all.set(r.id, r.vector); };
      await put(Array.from({ length: 3000 }, (_, i) => ({ id: `v${i}`, vector: vec() })));
      const checks = [];
      for (let round = 0; round < 4; round++) {
        const q = vec();
        const want = [...all].map(([id, v]) => [id, v.reduce((s, x, i) => s + x * q[i], 0)]).sort((a, b) => b[1] - a[1]).slice(0, 10);
        const got = await store.search(q, { limit: 10 });
        checks.push(JSON.stringify(got.map((h) => h.id)) === JSON.stringify(want.map(([id]) => id))
          && got.every((h, i) => Math.abs(h.score - want[i][1]) < 1e-5));
        await put(Array.from({ length: 50 }, (_, i) => ({ id: `v${(round * 977 + i * 13) % 3000}`, vector: vec() })));
        const gone = Array.from({ length: 40 }, (_, i) => `v${(round * 31 + i * 71) % 3000}`);
        await store.delete(gone);
        gone.forEach((id) => all.delete(id));
      }
      // Rows written last, new ones and ones replaced in place, each found first by its own vector
      // with the default list (64; HNSW): found only where their new vectors are linked in.
      store.ef = 64;
      const kept = [...all.keys()];
      const last = Array.from({ length: 50 }, (_, i) => ({ id: i < 25 ? `w${i}` : kept[i * 37], vector: vec() }));
      await put(last);
      const self = [];
      for (const r of last) self.push((await store.search(r.vector, { limit: 1 }))[0].id === r.id);
      return { checks, self: self.every(Boolean), simd: store.scan ? store.scan.rt.simd : null, kind: store.scan?.kind, lists: store.ivf?.n_lists ?? null,
        graph: (await store.search(vec(), { limit: 1 }), store.graph?.n ?? null), count: await store.count(), index_bytes: (await store.stats()).index_bytes };
    }""", options)
    assert r["simd"] in ("relaxed", "simd"), r
    assert r["kind"] == ("f32" if options.get("quantize") == "none" else "int8")
    assert r["lists"] == (55 if options.get("index") == "ivf" else None)
    assert r["graph"] == (r["count"] if options.get("index") == "hnsw" else None)
    assert (r["index_bytes"] > 0) == (options.get("index") == "hnsw")
    assert r["checks"] == [True] * 4
    assert r["self"]


def test_an_hnsw_graph_is_stored_and_read_back_until_the_next_write(page, live_server):
    # The first search builds the graph and saves it beside the segments; a store opened on the same
    # folder (a reload) reads it back instead of building, and answers the same. After a write the
    # stored graph is another generation's: it is built again. A damaged graph file is not used.
    page.goto(f"{live_server.url}/bench")
    r = page.evaluate("""async () => {
      const { VectorStore } = await import('/webgpu/vector_store.js');
      const { seededRandom } = await import('/webgpu/sampler.js');
      const rand = seededRandom(11);
      const vec = () => Float32Array.from({ length: 64 }, () => rand() - 0.5);
      const name = 'g' + Math.random().toString(36).slice(2);
      const open = () => new VectorStore({ dimensions: 64, metric: 'dot', storagePath: `graphs/${name}`, index: 'hnsw' });
      const dir = async () => (await (await navigator.storage.getDirectory()).getDirectoryHandle('graphs')).getDirectoryHandle(name);
      const graphFile = async () => {
        for (let i = 0; i < 200; i++) {
          for await (const [n, h] of (await dir()).entries()) if (n.endsWith('.graph')) return h;
          await new Promise((r) => setTimeout(r, 50));
        }
        return null;
      };
      const queries = Array.from({ length: 5 }, vec);
      const top = async (s) => { const out = []; for (const q of queries) out.push((await s.search(q, { limit: 10 })).map((h) => h.id)); return JSON.stringify(out); };
      const a = open();
      await a.upsert(Array.from({ length: 3000 }, (_, i) => ({ id: `v${i}`, vector: vec() })));
      const first = await top(a);
      const built = a.graph.restored;
      const saved = (await graphFile())?.name;
      a.close();
      const b = open();
      const again = await top(b);
      const restored = b.graph.restored;
      await b.upsert([{ id: 'new', vector: vec() }]);
      b.close();
      const c = open();
      await top(c);
      const after_write = c.graph.restored;
      c.close();
      await new Promise((r) => setTimeout(r, 500));
      const file = await graphFile();
      const bytes = new Uint8Array(await (await file.getFile()).arrayBuffer());
      bytes[bytes.length >> 1] ^= 0xff;
      const w = await file.createWritable();
      await w.write(bytes);
      await w.close();
      const d = open();
      const damaged = await top(d);
      return { built, saved, restored, same: first === again, after_write, damaged_restored: d.graph.restored, newer: file.name,
               damaged_ok: JSON.parse(damaged).length === 5 };
    }""")
    assert r["built"] is False and r["saved"].endswith(".graph")
    assert r["restored"] is True and r["same"]
    assert r["after_write"] is False and r["newer"] != r["saved"]
    assert r["damaged_restored"] is False and r["damaged_ok"]
