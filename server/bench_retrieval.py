"""`inpage bench --suite retrieval`: retrieval quality of the page's library on a real corpus.

The set: the Python FAQ (faq/*.rst.txt of Debian's python3-doc, server/rag_corpus.py). Every FAQ
question is a section heading followed by its answer. Each FAQ page becomes one Markdown document
in which every question heading is replaced by a neutral one ("Question 12"): the structure stays,
the question's words go. The questions are then asked of the library, and a returned chunk is
relevant when at least half of it, or half of the answer, lies inside that question's answer
(character offsets the chunker keeps). The labels come from the corpus's own sections, never
from a model. Rebuild: `inpage bench --suite retrieval` with the same python3-doc.

Per chunking strategy (structure, window) the documents go through the page's own Library (the
chunker, our WASM embedder, the vector store); per question both dense search and hybrid search
(BM25 fused by reciprocal rank) are scored: recall@1, recall@5 (a relevant chunk among the first
five) and MRR@10.
"""
from __future__ import annotations

import re
import statistics
from pathlib import Path

from models.store import Store

from . import rag_corpus
from .bench import Progress, _harness, hosted_browser

STRATEGIES = ("structure", "window")
MODES = ("dense", "hybrid")
DEPTH = 10
UNDERLINE = re.compile(r"^([=\-^~*+#\"'`])\1{2,}\s*$")
ROLE = re.compile(r":[\w:.-]+:`~?([^`<]*?)(?:\s*<[^>]*>)?`")  # :func:`name <target>` -> name


def faq_documents(src: Path) -> tuple[list[dict], list[dict]]:
    """(documents [{name, text}], questions [{question, doc, start, end}]) of the FAQ pages."""
    docs, questions = [], []
    n_questions = 0
    for path in sorted((src / "faq").glob("*.rst.txt")):
        if path.name.startswith("index"):
            continue
        lines = path.read_text(encoding="utf-8").splitlines()
        styles: list[tuple[str, bool]] = []  # reST heading styles in order of appearance: (char, overlined)
        out: list[str] = []
        marks: list[tuple[int, int, str | None]] = []  # (offset of the heading, level, question or None)
        offset = 0
        i = 0
        while i < len(lines):
            line, nxt = lines[i], lines[i + 1] if i + 1 < len(lines) else ""
            if UNDERLINE.match(line) and i + 2 < len(lines) and nxt.strip() and UNDERLINE.match(lines[i + 2]):
                title, style, i = nxt.strip(), (lines[i + 2].strip()[0], True), i + 3
            elif line.strip() and not UNDERLINE.match(line) and UNDERLINE.match(nxt) and len(nxt.strip()) >= len(line.strip()):
                title, style, i = line.strip(), (nxt.strip()[0], False), i + 2
            else:
                text = ROLE.sub(r"\1", line) + "\n"
                out.append(text)
                offset += len(text)
                i += 1
                continue
            if style not in styles:
                styles.append(style)
            level = styles.index(style) + 1
            question = ROLE.sub(r"\1", title) if title.endswith("?") else None
            if question:
                n_questions += 1
            shown = f"Question {n_questions}" if question else ROLE.sub(r"\1", title)
            heading = f"{'#' * min(level, 6)} {shown}\n"
            marks.append((offset, level, question))
            out.append(heading)
            offset += len(heading)
        text = "".join(out)
        name = path.name.replace(".rst.txt", ".md")
        for k, (at, level, question) in enumerate(marks):
            if not question:
                continue
            end = next((m[0] for m in marks[k + 1:] if m[1] <= level), len(text))
            start = text.index("\n", at) + 1
            if text[start:end].strip():
                questions.append({"question": question, "doc": name, "start": start, "end": end})
        docs.append({"name": name, "text": text})
    return docs, questions


def relevant(chunk: dict, q: dict) -> bool:
    if chunk["name"] != q["doc"]:
        return False
    overlap = min(chunk["end"], q["end"]) - max(chunk["start"], q["start"])
    return overlap >= 0.5 * min(chunk["end"] - chunk["start"], q["end"] - q["start"])


def score(ranked: list[list[dict]], questions: list[dict]) -> dict:
    firsts = []
    for hits, q in zip(ranked, questions):
        firsts.append(next((r for r, h in enumerate(hits[:DEPTH], 1) if relevant(h, q)), None))
    return {"recall_at_1": sum(1 for f in firsts if f == 1) / len(firsts),
            "recall_at_5": sum(1 for f in firsts if f and f <= 5) / len(firsts),
            "mrr_at_10": statistics.fmean(1 / f if f else 0 for f in firsts)}


PAGE_RUN = """async ({ docs, questions, strategy, depth }) => {
  const { Library, openEmbedder } = await import('/webgpu/library.js');
  const embedding = await openEmbedder('minilm-l6');
  const { embedder } = embedding;
  const library = new Library({ ...embedding, storagePath: null, strategy });
  const t0 = performance.now();
  let chunks = 0;
  for (const d of docs) chunks += (await library.add({ name: d.name, size: d.text.length, text: async () => d.text })).chunks;
  const ingest_s = (performance.now() - t0) / 1000;
  const out = { chunks, ingest_s, dense: [], hybrid: [] };
  const { data } = await embedder.embeddings.create({ input: questions });
  const brief = (h) => ({ name: h.metadata.name, start: h.metadata.start, end: h.metadata.end });
  for (const [i, q] of questions.entries()) {
    out.dense.push((await library.store.search(data[i].embedding, { limit: depth })).map(brief));
    out.hybrid.push((await library.store.search(data[i].embedding, { limit: depth, text: q })).map(brief));
  }
  await embedder.unload();
  return out;
}"""


def run(store: Store, args, launch: dict) -> dict:
    docs, questions = faq_documents(rag_corpus.sources(store.home / "corpora"))
    result = {"schema": "inpage.bench-retrieval/1", "corpus": "the Python FAQ, " + rag_corpus.DESCRIPTION,
              "documents": len(docs), "questions": len(questions), "strategies": {}}
    progress = Progress(len(STRATEGIES))
    with hosted_browser(store, launch) as (browser, url, launch):
        for strategy in STRATEGIES:
            ctx = browser.new_context()
            try:
                page = _harness(ctx, url)
                r = page.evaluate(PAGE_RUN, {"docs": docs, "questions": [q["question"] for q in questions],
                                             "strategy": strategy, "depth": DEPTH})
            finally:
                ctx.close()
            result["strategies"][strategy] = {"chunks": r["chunks"], "ingest_s": r["ingest_s"],
                                              **{m: score(r[m], questions) for m in MODES}}
            progress.step(strategy)
    return result


def table(r: dict) -> str:
    lines = [f"{r['questions']} questions over {r['documents']} documents ({r['corpus']})",
             f"  {'chunking':10} {'search':7} {'chunks':>6} {'recall@1':>9} {'recall@5':>9} {'MRR@10':>7}"]
    for name, s in r["strategies"].items():
        for m in MODES:
            lines.append(f"  {name:10} {m:7} {s['chunks']:6d} {s[m]['recall_at_1']:9.3f} {s[m]['recall_at_5']:9.3f} "
                         f"{s[m]['mrr_at_10']:7.3f}")
    return "\n".join(lines)
