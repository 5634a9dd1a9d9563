"""`inpage bench --suite ingest`: the time to add a 300-page PDF to the page's library.

The PDF is made here by matplotlib from public-domain text (Shakespeare's Julius Caesar,
models/corpus.py, repeated to fill the pages), about 550 words a page with a text layer, and
cached in the store. In the page (a fresh browser context, OPFS storage), one Library.add of it:
pdf.js reads the text layer in its worker, the chunker splits it, our WASM engine embeds the
chunks and the vector store commits them batch by batch. pdf.js's reading alone is timed first.
"""
from __future__ import annotations

import os
import platform
import textwrap
from pathlib import Path

from models import corpus
from models.store import Store

from .bench import Progress, _harness, hosted_browser

PAGES = 300
LINES_PER_PAGE = 46
CHARS_PER_LINE = 76
BENCH_URL = "/bench-data/"  # the PDF, served by the bench's own host (server/bench.py hosted_browser)


def book_pdf(store: Store) -> Path:
    """The 300-page PDF, made once into the store's corpora folder."""
    path = store.home / "corpora" / f"julius-caesar-{PAGES}-pages.pdf"
    if path.is_file():
        return path
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    lines = []
    play = [w for p in corpus.load_text(store.home / "corpora").split("\n\n") for w in textwrap.wrap(p, CHARS_PER_LINE) + [""]]
    while len(lines) < PAGES * LINES_PER_PAGE:
        lines += play
    part = path.with_suffix(".part.pdf")
    with matplotlib.rc_context({"pdf.fonttype": 42}), PdfPages(part) as pdf:
        for p in range(PAGES):
            fig = plt.figure(figsize=(8.27, 11.69))
            page = lines[p * LINES_PER_PAGE:(p + 1) * LINES_PER_PAGE]
            fig.text(0.08, 0.95, "\n".join(page), va="top", fontsize=10, family="serif", linespacing=1.4)
            fig.text(0.5, 0.03, str(p + 1), ha="center", fontsize=9)
            pdf.savefig(fig)
            plt.close(fig)
    part.rename(path)
    return path


PAGE_RUN = """async ({ url }) => {
  const { Library, openEmbedder } = await import('/webgpu/library.js');
  const { pdfText } = await import('/webgpu/pdf_text.js');
  const file = new File([await (await fetch(url)).blob()], 'julius-caesar.pdf', { type: 'application/pdf' });
  const t_pdf = performance.now();
  const text = await pdfText(file);
  const pdf_s = (performance.now() - t_pdf) / 1000;
  const embedding = await openEmbedder('minilm-l6');
  const { embedder } = embedding;
  const library = new Library({ ...embedding, storagePath: 'bench/ingest' });
  const t0 = performance.now();
  const r = await library.add(file);
  const total_s = (performance.now() - t0) / 1000;
  const stats = await library.store.stats();
  await embedder.unload();
  return { pdf_s, total_s, chunks: r.chunks, words: text.split(/\\s+/).length, threads: embedder.info?.threads ?? null,
    disk_bytes: stats.disk_bytes };
}"""


def run(store: Store, args, launch: dict) -> dict:
    pdf = book_pdf(store)
    progress = Progress(1)
    with hosted_browser(store, launch, pdf.parent) as (browser, url, launch):
        ctx = browser.new_context()
        try:
            page = _harness(ctx, url)
            page.set_default_timeout(3_600_000)
            r = page.evaluate(PAGE_RUN, {"url": BENCH_URL + pdf.name})
        finally:
            ctx.close()
    progress.step("ingest")
    return {"schema": "inpage.bench-ingest/1", "pages": PAGES, "pdf_bytes": pdf.stat().st_size,
            "source": corpus.DESCRIPTION + ", repeated to fill the pages",
            "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform()}, **r,
            "chunks_per_s": r["chunks"] / r["total_s"]}


def table(r: dict) -> str:
    return (f"{r['pages']}-page PDF ({r['pdf_bytes'] / 1e6:.1f} MB, {r['words']:,} words): "
            f"added in {r['total_s']:.0f} s ({r['chunks']} chunks, {r['chunks_per_s']:.2f} chunks/s); "
            f"pdf.js text layer alone {r['pdf_s']:.1f} s; stored {r['disk_bytes'] / 1e6:.1f} MB")
