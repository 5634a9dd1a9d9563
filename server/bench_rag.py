"""`inpage bench --suite embed|search|retrieval|ingest`: the RAG half of the benchmarks.

embed: sentence-embedding throughput of the page (our WASM engine, every thread the page gets)
  against ONNX Runtime on the same GGUF and the same cores (server/bench_embed_native.py), over
  256-token chunks of a public-domain text (Julius Caesar, models/corpus.py).
search: the page's vector store against zvec (FLAT and HNSW) on the same vectors, in one run
  (server/bench_search.py).
retrieval: recall@k and MRR of the library's two chunkers, dense and hybrid, on the Python FAQ
  (server/bench_retrieval.py).
ingest: the time to add a 300-page PDF to the library (server/bench_ingest.py).

Both need the optional extra `pip install 'inpage[rag-bench]'` for their native columns; without it
those columns say why they are missing and the page's figures still come out.
"""
from __future__ import annotations

import importlib
import json
import os
import platform
import statistics
from pathlib import Path

from models import corpus
from models.errors import ModelError
from models.store import Store

from .bench import Progress, _call, _harness, hosted_browser
from .browser import CHROMIUM_ARGS

CHUNK_WORDS = 230  # more words than 256 tokens hold: every chunk is cut at the model's 256


def chunks_of(text: str, n: int) -> list[str]:
    """N windows of CHUNK_WORDS words, each starting where the last ended (wrapping around)."""
    words = text.split()
    return [" ".join(words[(i * CHUNK_WORDS + j) % len(words)] for j in range(CHUNK_WORDS)) for i in range(n)]


def main(args) -> int:
    store = Store(args.home)
    launch = {"headless": not args.headed, "args": CHROMIUM_ARGS + args.chromium_flag}
    if args.suite == "embed":
        result = embed(store, args.model or "minilm-l6", args.chunks, args.batch, args.runs, launch)
        print(embed_table(result))
    else:
        suite = importlib.import_module(f".bench_{args.suite}", __package__)
        result = suite.run(store, args, launch)
        print(suite.table(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    if args.png and args.suite == "search":
        suite.chart(result, args.png)
    return 0


def embed(store: Store, model_id: str, n_chunks: int, batch: int, runs: int, launch: dict) -> dict:
    manifest = store.manifest(model_id)
    if manifest.get("architecture") != "bert":
        raise ModelError(f"{model_id} is not an embedding model", "pass --model minilm-l6 (inpage models pull minilm-l6)")
    texts = chunks_of(corpus.load_text(store.home / "corpora"), n_chunks)
    progress = Progress(3)
    with hosted_browser(store, launch) as (browser, url, launch):
        ctx = browser.new_context()
        try:
            page = _harness(ctx, url)
            loaded = _call(page, "load", {"model": model_id, "backend": "wasm"})
            progress.step("page: load")
            ours = _call(page, "embed", {"texts": texts, "batch": batch, "runs": runs})
            progress.step("page: embed")
        finally:
            ctx.close()
    info = loaded["info"]
    page_side = {"engine": "inpage wasm", "threads": info.get("threads"), "simd": info.get("simd"),
                 "batch": batch, "chunks_per_s": ours["chunks_per_s"]}
    native = _native(store, manifest, texts, info.get("threads") or os.cpu_count() or 1, batch, runs)
    progress.step("native")
    result = {
        "schema": "inpage.bench-embed/1", "model": model_id, "chunks": n_chunks,
        "tokens_per_chunk": ours["tokens_per_chunk"], "corpus": corpus.DESCRIPTION,
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform()},
        "page": page_side, "native": native,
    }
    if "chunks_per_s" in native:
        result["ratio"] = statistics.median(page_side["chunks_per_s"]) / statistics.median(native["chunks_per_s"])
    return result


def _native(store: Store, manifest: dict, texts: list[str], threads: int, batch: int, runs: int) -> dict:
    try:
        from . import bench_embed_native
    except ImportError as e:
        return {"skipped": f"{e.name} is not installed (pip install 'inpage[rag-bench]')"}
    (shard,) = manifest["shards"]
    return bench_embed_native.measure(store.model_dir(manifest["id"]) / shard["file"], texts, threads, batch, runs)


def embed_table(r: dict) -> str:
    def row(name, side):
        if "chunks_per_s" not in side:
            return f"{name:34} {side.get('skipped', '')}"
        c = side["chunks_per_s"]
        return (f"{name:34} {statistics.median(c):8.2f} chunks/s  (min {min(c):.2f}, max {max(c):.2f}; "
                f"{side['threads']} threads, batch {side['batch']})")
    lines = [f"{r['model']}: {r['chunks']} chunks of {r['tokens_per_chunk']:.0f} tokens",
             row("page (" + r["page"]["engine"] + ")", r["page"]), row(r["native"].get("engine", "native"), r["native"])]
    if "ratio" in r:
        lines.append(f"page / native: {r['ratio']:.3f}x")
    return "\n".join(lines)
