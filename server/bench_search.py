"""`inpage bench --suite search`: the page's vector store against zvec, same vectors, one run.

Vectors: all-MiniLM-L6-v2 embeddings (384 dimensions, unit length) of passages of the Python
documentation (server/rag_corpus.py), computed natively by ONNX Runtime on our GGUF (the same
numbers as the page's embedder, server/bench_embed_native.py) and cached in the store. Queries are
held-out passages. The corpus has about 100k passages; a size beyond what it holds is filled with
noisy copies of real vectors (each the normalized sum of a real vector and Gaussian noise of the
same norm), which the result marks as synthetic.

Per size: exact top-10 by numpy in float64 is the truth; each engine answers every query once,
one at a time, timed from the call to the ids in hand (p50, p95), and recall@10 is the share of
the true ten it returns. The page's store is in memory (storagePath null), searched by its own
API; zvec 0.8 runs in this process with query_threads=1, as the page's search runs on one thread.
"""
from __future__ import annotations

import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from models.errors import ModelError
from models.store import Store

from . import rag_corpus
from .bench import Progress, _harness, hosted_browser

LIMIT = 10
DIMS = 384
PART = 4096  # passages embedded per cached part
BENCH_URL = "/bench-data/"  # the arrays, served by the bench's own host (server/bench.py hosted_browser)


def corpus_vectors(store: Store, n_base: int, n_queries: int) -> tuple[np.ndarray, np.ndarray, int]:
    """(base (n_base, 384) float32, queries (n_queries, 384) float32, how many base vectors are real)."""
    cache = store.home / "corpora"
    texts = rag_corpus.passages(rag_corpus.sources(cache))
    n_real = min(n_base, len(texts) - n_queries)
    vectors = _embedded(store, texts, cache / f"python-docs-minilm-{len(texts)}")
    queries = vectors[len(texts) - n_queries:]
    base = vectors[:n_real]
    if n_base > n_real:
        rng = np.random.default_rng(0)
        fill = base[rng.integers(0, n_real, n_base - n_real)]
        noise = rng.standard_normal(fill.shape).astype(np.float32)
        fill = fill + noise / np.linalg.norm(noise, axis=1, keepdims=True)
        base = np.concatenate([base, fill / np.linalg.norm(fill, axis=1, keepdims=True)])
    return np.ascontiguousarray(base, dtype=np.float32), np.ascontiguousarray(queries, dtype=np.float32), n_real


def _embedded(store: Store, texts: list[str], folder: Path) -> np.ndarray:
    """Embeddings of TEXTS, computed once (about 15 minutes on 2 cores) in parts that survive an
    interruption: FOLDER/part-NNNN.npy per PART texts, joined into FOLDER.npy at the end."""
    done = folder.with_suffix(".npy")
    if done.is_file():
        return np.load(done)
    try:
        from .bench_embed_native import NativeEmbedder
    except ImportError as e:
        raise ModelError(f"{e.name} is not installed", "pip install 'inpage[rag-bench]'") from None
    (shard,) = store.manifest("minilm-l6")["shards"]
    emb = NativeEmbedder(store.model_dir("minilm-l6") / shard["file"], os.cpu_count() or 1)
    folder.mkdir(parents=True, exist_ok=True)
    parts = []
    progress = Progress(-(-len(texts) // PART))
    for i in range(0, len(texts), PART):
        path = folder / f"part-{i // PART:04d}.npy"
        if not path.is_file():
            chunk = texts[i:i + PART]
            order = sorted(range(len(chunk)), key=lambda k: len(chunk[k]))  # like lengths pad little
            out = np.zeros((len(chunk), DIMS), dtype=np.float32)
            for j in range(0, len(order), 8):
                out[order[j:j + 8]] = emb.embed([chunk[k] for k in order[j:j + 8]])
            np.save(folder / "part.tmp.npy", out)
            (folder / "part.tmp.npy").rename(path)
        parts.append(np.load(path))
        progress.step("embedding the corpus (once)")
    vectors = np.concatenate(parts)
    np.save(folder / "all.tmp.npy", vectors)
    (folder / "all.tmp.npy").rename(done)
    shutil.rmtree(folder)
    return vectors


def truth(base: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Exact top-LIMIT row numbers per query, by float64 dot products (ties: the lower row)."""
    out = []
    for i in range(0, len(queries), 64):
        s = queries[i:i + 64].astype(np.float64) @ base.T.astype(np.float64)
        top = np.argpartition(-s, LIMIT, axis=1)[:, :LIMIT]
        out.extend(t[np.lexsort((t, -row[t]))] for row, t in zip(s, top))
    return np.array(out)


def recall(found: list[list[int]], want: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(w)) / LIMIT for f, w in zip(found, want.tolist())]))


def latency(ms: list[float]) -> dict:
    return {"p50_ms": float(np.percentile(ms, 50)), "p95_ms": float(np.percentile(ms, 95))}


# ---- the page --------------------------------------------------------------------------------

PAGE_RUN = """async ({ n, dims, queries, configs, part }) => {
  const { VectorStore } = await import('/webgpu/vector_store.js');
  const Q = new Float32Array(await (await fetch('%(url)squeries.bin')).arrayBuffer());
  const out = {};
  for (const config of configs) {
    const store = new VectorStore({ dimensions: dims, metric: 'cosine', storagePath: null, ...config.options });
    const t0 = performance.now();
    for (let s = 0; s < n; s += part) {
      const base = new Float32Array(await (await fetch(`%(url)sbase-${s / part}.bin`)).arrayBuffer());
      const records = [];
      for (let i = 0; i < base.length / dims; i++) records.push({ id: String(s + i), vector: base.subarray(i * dims, (i + 1) * dims) });
      await store.insert(records);
    }
    await store.search(Q.subarray(0, dims), { limit: %(limit)d }); // the first search builds the scan's copy (and index)
    const build_s = (performance.now() - t0) / 1000;
    const stats = await store.stats();
    const exported = (await store.export()).size;
    for (const ef of config.efs ?? [null]) { // HNSW: one graph, several candidate lists
      if (ef) store.ef = ef;
      const ms = [];
      const found = [];
      for (let j = 0; j < queries; j++) {
        const q = Q.subarray(j * dims, (j + 1) * dims);
        const t = performance.now();
        const hits = await store.search(q, { limit: %(limit)d });
        ms.push(performance.now() - t);
        found.push(hits.map((h) => Number(h.id)));
      }
      out[config.name + (ef ? ` ef ${ef}` : '')] = { ms, found, build_s, stats, exported_bytes: exported, simd: store.scan ? store.scan.rt.simd : null };
    }
    store.close();
  }
  return out;
}"""

PAGE_CONFIGS = [
    {"name": "inpage flat f32", "options": {"quantize": "none", "index": "flat"}},
    {"name": "inpage flat int8", "options": {"quantize": "int8", "index": "flat"}},
] + [{"name": f"inpage IVF int8 nprobe {p}", "options": {"quantize": "int8", "index": "ivf", "nprobe": p}} for p in (8, 16, 32)] + [
    {"name": "inpage HNSW int8", "options": {"quantize": "int8", "index": "hnsw"}, "efs": [48, 64, 100]}]
F32_MAX = 400_000  # past this the f32 copy (n x 1.5 KB) would not fit beside the page's own in 2 GB of WASM memory
PART_ROWS = 50_000  # vectors per request to the page: no single body of more than 77 MB


def write_data(folder: Path, base: np.ndarray, queries: np.ndarray) -> None:
    """The page's inputs as files: queries.bin and base-K.bin of PART_ROWS vectors each (float32)."""
    for old in folder.glob("*.bin"):
        old.unlink()
    (folder / "queries.bin").write_bytes(queries.tobytes())
    for k in range(0, len(base), PART_ROWS):
        (folder / f"base-{k // PART_ROWS}.bin").write_bytes(base[k:k + PART_ROWS].tobytes())


def _page(browser, url: str, base: np.ndarray, queries: np.ndarray, hnsw_max: int = 10 ** 9) -> dict:
    """The page's configurations on BASE (already written by write_data to the host's data folder)."""
    ctx = browser.new_context()
    try:
        page = _harness(ctx, url)
        script = PAGE_RUN % {"url": BENCH_URL, "limit": LIMIT}
        skip = {}
        for c in PAGE_CONFIGS:
            if len(base) > F32_MAX and c["options"]["quantize"] == "none":
                skip[c["name"]] = "its f32 copy would not fit in 2 GB of WASM memory beside the rest"
            elif len(base) > hnsw_max and c["options"]["index"] == "hnsw":
                skip[c["name"]] = f"not built past {hnsw_max:,} vectors (--hnsw-max): its build takes too long here"
        configs = [c for c in PAGE_CONFIGS if c["name"] not in skip]
        out = page.evaluate(script, {"n": len(base), "dims": DIMS, "queries": len(queries), "configs": configs, "part": PART_ROWS})
        return {**out, **{name: {"skipped": why} for name, why in skip.items()}}
    finally:
        ctx.close()


# ---- zvec ------------------------------------------------------------------------------------

def _zvec(base: np.ndarray, queries: np.ndarray, hnsw_ef: list[int], hnsw_max: int = 10 ** 9) -> dict:
    try:
        import zvec
    except ImportError:
        return {"zvec": {"skipped": "zvec is not installed (pip install 'inpage[rag-bench]')"}}
    out = {}
    kinds = [("zvec FLAT", zvec.FlatIndexParam(metric_type=zvec.MetricType.IP), [None]),
             ("zvec HNSW m16 efc200", zvec.HnswIndexParam(metric_type=zvec.MetricType.IP, m=16, ef_construction=200), hnsw_ef)]
    with tempfile.TemporaryDirectory(prefix="inpage-zvec.") as tmp:
        for i, (name, index, efs) in enumerate(kinds):
            if "HNSW" in name and len(base) > hnsw_max:
                out[name] = {"skipped": f"not built past {hnsw_max:,} vectors (--hnsw-max): its build takes too long here"}
                continue
            schema = zvec.CollectionSchema(name=f"bench{i}", vectors=zvec.VectorSchema(
                name="v", data_type=zvec.DataType.VECTOR_FP32, dimension=DIMS, index_param=index))
            path = Path(tmp) / f"c{i}"
            t0 = time.perf_counter()
            col = zvec.create_and_open(str(path), schema)
            for s in range(0, len(base), 1024):  # zvec's largest write batch
                col.insert([zvec.Doc(id=str(k), vectors={"v": base[k]}) for k in range(s, min(len(base), s + 1024))])
            col.optimize()
            build_s = time.perf_counter() - t0
            disk = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
            for ef in efs:
                param = zvec.HnswQueryParam(ef=ef) if ef else None
                ms, found = [], []
                for q in queries:
                    t = time.perf_counter()
                    hits = col.query(zvec.Query(field_name="v", vector=q, param=param), topk=LIMIT, output_fields=[])
                    ms.append((time.perf_counter() - t) * 1000)
                    found.append([int(h.id) for h in hits])
                out[name + (f" ef{ef}" if ef else "")] = {"ms": ms, "found": found, "build_s": build_s, "disk_bytes": disk}
            del col
    return out


def run(store: Store, args, launch: dict) -> dict:
    sizes = [int(s) for s in args.sizes.split(",")]
    n_queries = args.queries
    base_all, queries, n_real = corpus_vectors(store, max(sizes), n_queries)
    try:
        import zvec
        zvec.init(query_threads=1, optimize_threads=os.cpu_count() or 1, log_dir=tempfile.gettempdir())
    except ImportError:
        pass
    efs = [int(e) for e in args.hnsw_ef.split(",")]
    result = {"schema": "inpage.bench-search/1", "limit": LIMIT, "dimensions": DIMS, "queries": n_queries,
              "corpus": rag_corpus.DESCRIPTION, "real_vectors": n_real,
              "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform()}, "sizes": {}}
    progress = Progress(2 * len(sizes))
    with tempfile.TemporaryDirectory(prefix="inpage-search.") as data, \
            hosted_browser(store, launch, Path(data)) as (browser, url, launch):
        for n in sizes:
            base = base_all[:n]
            want = truth(base, queries)
            write_data(Path(data), base, queries)
            engines = {}
            for name, r in _page(browser, url, base, queries, args.hnsw_max).items():
                engines[name] = r if "skipped" in r else {**latency(r["ms"]), "recall_at_10": recall(r["found"], want), "build_s": r["build_s"],
                                 "memory_bytes": r["stats"]["vector_bytes"] + r["stats"]["scan_bytes"] + r["stats"]["index_bytes"],
                                 "disk_bytes": r["exported_bytes"], "simd": r["simd"]}
            progress.step(f"page at {n}")
            for name, r in _zvec(base, queries, efs, args.hnsw_max).items():
                engines[name] = r if "skipped" in r else {
                    **latency(r["ms"]), "recall_at_10": recall(r["found"], want), "build_s": r["build_s"], "disk_bytes": r["disk_bytes"]}
            progress.step(f"zvec at {n}")
            result["sizes"][str(n)] = {"synthetic_vectors": max(0, n - n_real), "engines": engines}
    return result


def table(r: dict) -> str:
    lines = [f"top-{r['limit']} of {r['dimensions']}-d vectors, {r['queries']} queries, one at a time, one thread"]
    for n, size in r["sizes"].items():
        synth = f" ({size['synthetic_vectors']} synthetic)" if size["synthetic_vectors"] else ""
        lines.append(f"\n{int(n):,} vectors{synth}")
        lines.append(f"  {'engine':32} {'p50 ms':>8} {'p95 ms':>8} {'recall@10':>10} {'build s':>8} {'MB mem':>7} {'MB disk':>8}")
        for name, e in size["engines"].items():
            if "skipped" in e:
                lines.append(f"  {name:32} {e['skipped']}")
                continue
            mem = f"{e['memory_bytes'] / 1e6:7.1f}" if "memory_bytes" in e else f"{'':7}"
            lines.append(f"  {name:32} {e['p50_ms']:8.3f} {e['p95_ms']:8.3f} {e['recall_at_10']:10.4f} "
                         f"{e['build_s']:8.1f} {mem} {e['disk_bytes'] / 1e6:8.1f}")
    return "\n".join(lines)


def chart(r: dict, path: Path) -> None:
    """Latency (p50, log scale) against recall@10, one panel per size: a picture of the trade-off."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    sizes = list(r["sizes"].items())
    fig, axes = plt.subplots(1, len(sizes), figsize=(5.2 * len(sizes), 4.2), squeeze=False)
    for ax, (n, size) in zip(axes[0], sizes):
        for name, e in size["engines"].items():
            if "skipped" in e:
                continue
            ours = name.startswith("inpage")
            ax.scatter(e["recall_at_10"], e["p50_ms"], marker="o" if ours else "s", color="#1f6feb" if ours else "#999")
            ax.annotate(name.replace("inpage ", "").replace("m16 efc200 ", ""), (e["recall_at_10"], e["p50_ms"]),
                        textcoords="offset points", xytext=(4, 3), fontsize=7)
        synth = f", {size['synthetic_vectors']:,} synthetic" if size["synthetic_vectors"] else ""
        ax.set_title(f"{int(n):,} vectors{synth}", fontsize=10)
        ax.set_yscale("log")
        ax.set_xlabel("recall@10")
        ax.set_ylabel("p50 latency, ms (log)")
        ax.grid(alpha=0.3)
    fig.suptitle("top-10 search, 384-d MiniLM vectors, one thread: the page (blue) and zvec (grey)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
