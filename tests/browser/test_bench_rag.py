"""The RAG benchmarks' machinery, briefly: the embed suite's figures are there and sane; the search
suite's page and zvec sides answer the same queries and their recall is computed against a true
top-10 (the exact engines must reach 1.0); the retrieval suite's labels come from the FAQ's
structure. Never how fast."""
import json
import math

import numpy as np
import pytest

from models.store import Store
from server import bench_retrieval, bench_search
from server.bench import hosted_browser
from server.cli import main

pytestmark = pytest.mark.perf


def test_the_embed_suite_measures_the_page_and_onnx_runtime_side_by_side(model_home, minilm, tmp_path, capsys):
    out = tmp_path / "embed.json"
    code = main(["--home", str(model_home), "bench", "--suite", "embed", "--chunks", "4", "--batch", "2", "--runs", "1",
                 "--json", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    r = json.loads(out.read_text())
    assert r["tokens_per_chunk"] == 256  # every chunk is cut at the model's 256 tokens, on both sides
    for side in ("page", "native"):
        assert len(r[side]["chunks_per_s"]) == 1 and all(math.isfinite(v) and v > 0 for v in r[side]["chunks_per_s"])
    assert r["page"]["threads"] >= 1 and r["native"]["threads"] == r["page"]["threads"]
    assert r["ratio"] > 0 and "page / native" in printed


def test_the_search_suite_scores_the_page_and_zvec_on_the_same_queries(model_home, tmp_path):
    rng = np.random.default_rng(3)
    centers = rng.standard_normal((40, bench_search.DIMS)).astype(np.float32)
    base = centers[rng.integers(0, 40, 3000)] + 0.6 * rng.standard_normal((3000, bench_search.DIMS)).astype(np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    queries = base[:20] + 0.1 * rng.standard_normal((20, bench_search.DIMS)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    want = bench_search.truth(base, queries)
    assert want.shape == (20, 10) and (want[:, 0] == np.arange(20)).mean() > 0.9  # a query's own row comes first

    bench_search.write_data(tmp_path, base, queries)
    with hosted_browser(Store(model_home), data_dir=tmp_path) as (browser, url, _):
        page = bench_search._page(browser, url, base, queries)
    assert set(page) == {c["name"] for c in bench_search.PAGE_CONFIGS if "efs" not in c} | {
        f"{c['name']} ef {ef}" for c in bench_search.PAGE_CONFIGS for ef in c.get("efs", [])}
    for name, r in page.items():
        assert len(r["ms"]) == 20 and all(len(f) == 10 for f in r["found"])
        assert r["simd"] in ("relaxed", "simd"), name
    assert bench_search.recall(page["inpage flat f32"]["found"], want) == 1.0
    assert bench_search.recall(page["inpage flat int8"]["found"], want) == 1.0  # re-ranked in f32
    assert 0 < bench_search.recall(page["inpage IVF int8 nprobe 8"]["found"], want) <= 1.0
    assert bench_search.recall(page["inpage HNSW int8 ef 64"]["found"], want) > 0.9
    zvec = bench_search._zvec(base, queries, [64])
    assert bench_search.recall(zvec["zvec FLAT"]["found"], want) == 1.0
    assert bench_search.recall(zvec["zvec HNSW m16 efc200 ef64"]["found"], want) > 0.5
    # A wrong answer is scored as one: recall is not a constant.
    assert bench_search.recall([f[::-1][:5] + [-1] * 5 for f in want.tolist()], want) == 0.5


def test_retrieval_labels_come_from_the_faq_structure(tmp_path):
    faq = tmp_path / "faq"
    faq.mkdir()
    (faq / "general.rst.txt").write_text("""
===========
General FAQ
===========

Basics
======

What is a :term:`lighthouse`?
-----------------------------

A tower with a lamp, built where ships need a warning.

Keepers
^^^^^^^

Keepers lived in it.

Who writes the log?
-------------------

The keeper, every morning.
""")
    docs, questions = bench_retrieval.faq_documents(tmp_path)
    (doc,) = docs
    assert [q["question"] for q in questions] == ["What is a lighthouse?", "Who writes the log?"]
    text = doc["text"]
    assert "### Question 1" in text and "### Question 2" in text and "lighthouse?" not in text
    assert "# General FAQ" in text and "## Basics" in text
    first, second = (text[q["start"]:q["end"]] for q in questions)
    assert "A tower with a lamp" in first and "Keepers lived in it." in first and "every morning" not in first
    assert second.strip() == "The keeper, every morning."
    q = questions[0]
    inside = {"name": doc["name"], "start": q["start"], "end": q["start"] + 20}
    across = {"name": doc["name"], "start": q["start"] - 200, "end": q["start"] + 10}
    assert bench_retrieval.relevant(inside, q) and not bench_retrieval.relevant(across, q)
    assert not bench_retrieval.relevant({**inside, "name": "other.md"}, q)
    s = bench_retrieval.score([[across, inside], [inside]], questions)
    assert s["recall_at_1"] == 0 and s["recall_at_5"] == 0.5 and s["mrr_at_10"] == 0.25
