"""`inpage models report ID`: what each quantization level of a model costs, measured.

The model as stored is measured first. Then for each level (F16, Q8_0, Q5_K_M, Q4_K_M, Q3_K_M)
it is requantized from the stored weights into the store as <ID>-<level> (e.g.
smollm2-135m-q4-k-m), and measured:
- file size and bits per weight, from its manifest;
- perplexity on the held-out text (models/corpus.py), by models/perplexity.py, tokenized in the
  page by the engine's own tokenizer; and the change from F16;
- decode tokens/s of our engine in headless Chromium, by `inpage bench`'s own measurement.
It writes report.json, report.md and report.png into --out.
"""
from __future__ import annotations

import datetime
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

from models import corpus, reference
from models.errors import ModelError
from models.perplexity import perplexity
from models.requantize import target_type
from models.shards import join_gguf
from models.store import Store

from . import bench

LEVELS = ("F16", "Q8_0", "Q5_K_M", "Q4_K_M", "Q3_K_M")
PROMPT_TOKENS = 48


def add_arguments(p) -> None:
    p.add_argument("model_id")
    p.add_argument("--out", type=Path, default=None, help="folder for report.md/.json/.png (default: report-ID)")
    p.add_argument("--levels", default=",".join(LEVELS), help="comma-separated levels (default: %(default)s)")
    p.add_argument("--windows", type=int, default=8, help="perplexity windows of --ctx tokens (default: 8)")
    p.add_argument("--ctx", type=int, default=512, help="perplexity window in tokens (default: 512)")
    p.add_argument("--runs", type=int, default=3, help="timed generations per level (default: 3)")
    p.add_argument("--gen-tokens", type=int, default=64, help="tokens generated per timed run (default: 64)")
    p.set_defaults(func=main)


def main(args) -> int:
    levels = [target_type(x.strip()) for x in args.levels.split(",") if x.strip()]
    if not levels:
        raise ModelError("--levels names no level", f"use some of {','.join(LEVELS)}")
    if args.windows < 1 or args.ctx < 8 or args.runs < 1 or args.gen_tokens < 2:
        raise ModelError("--windows and --runs must be at least 1, --ctx at least 8, --gen-tokens at least 2")
    store = Store(args.home)
    source = store.manifest(args.model_id)
    if source["architecture"] not in reference.SUPPORTED_ARCHS:
        raise ModelError(f"{args.model_id} is a {source['architecture']} model",
                         "the report measures chat models of the llama family (perplexity needs a language model)")
    out = args.out or Path(f"report-{args.model_id}")
    report = measure(store, source, levels, args.windows, args.ctx, args.runs, args.gen_tokens)
    write(report, out)
    print(markdown_table(report))
    print(f"\nwrote {out / 'report.md'}, {out / 'report.json'} and {out / 'report.png'}")
    return 0


def variant_id(model_id: str, level: str) -> str:
    return f"{model_id}-{level.lower().replace('_', '-')}"[:64]


def measure(store: Store, source: dict, levels: list[str], windows: int, n_ctx: int, runs: int, gen_tokens: int,
            log=print) -> dict:
    text = corpus.load_text(store.home / "corpora")
    store.tmp_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="report.", dir=store.tmp_dir))
    rows = []
    try:
        joined = join_gguf([store.model_dir(source["id"]) / s["file"] for s in source["shards"]], work / "source.gguf")
        with bench.hosted_browser(store) as (browser, url, _):
            tokens = bench.tokenize(browser, url, source["id"], text)
            if len(tokens) < windows * n_ctx:
                raise ModelError(f"the text has {len(tokens)} tokens, fewer than {windows} windows of {n_ctx}",
                                 "lower --windows or --ctx")
            # The model as stored comes first: the levels are measured against what the user runs now.
            for level in [None] + levels:
                t0 = time.monotonic()
                if level is None:
                    vid, m = source["id"], source
                else:
                    vid = variant_id(source["id"], level)
                    m = store.import_gguf(joined, vid, quant=level, replace=True, name=f"{source['name']} {level}",
                                          source={"kind": "requantized", "from": source["id"]})
                ppl = perplexity([store.model_dir(vid) / s["file"] for s in m["shards"]], tokens, n_ctx, windows)
                speed = bench.decode_speed(browser, url, vid, runs, PROMPT_TOKENS, gen_tokens)
                decode = speed["decode_tps"]
                rows.append({"level": level or f"{source['quantization']} (stored)", "model_id": vid, "bytes": m["total_bytes"],
                             "bits_per_weight": 8 * m["total_bytes"] / m["parameter_count"],
                             "perplexity": ppl["perplexity"], "decode_tps": decode["median"],
                             "decode_tps_min": decode["min"], "decode_tps_max": decode["max"],
                             "backend": speed["backend"], "threads": speed["threads"]})
                log(f"{rows[-1]['level']}: {m['total_bytes'] / 2**20:.1f} MiB, perplexity {ppl['perplexity']:.3f}, "
                    f"decode {decode['median']:.1f} tok/s ({time.monotonic() - t0:.0f} s)")
            browser_version = browser.version
    finally:
        shutil.rmtree(work, ignore_errors=True)
    base = next((r["perplexity"] for r in rows if r["level"] == "F16"), None)
    for r in rows:
        r["perplexity_change"] = None if base is None else r["perplexity"] - base
        r["perplexity_change_pct"] = None if base is None else 100 * (r["perplexity"] / base - 1)
    return {
        "schema": "inpage.report/1",
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "model": {"id": source["id"], "name": source["name"], "quantization": source["quantization"],
                  "parameter_count": source["parameter_count"]},
        "text": {"description": corpus.DESCRIPTION, "tokens": len(tokens), "scored_tokens": ppl["scored_tokens"],
                 "n_ctx": n_ctx, "windows": ppl["windows"]},
        "speed": {"runs": runs, "gen_tokens": gen_tokens, "prompt_tokens": PROMPT_TOKENS, "browser": browser_version,
                  "machine": f"{platform.machine()}, {os.cpu_count()} cores"},
        "levels": rows,
    }


def markdown_table(report: dict) -> str:
    lines = ["| level | size | bits/weight | perplexity | change from F16 | decode tok/s in the page |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in report["levels"]:
        change = "-" if r["perplexity_change"] is None or r["level"] == "F16" else \
            f"{r['perplexity_change']:+.2f} ({r['perplexity_change_pct']:+.1f}%)"
        lines.append(f"| {r['level']} | {r['bytes'] / 2**20:.1f} MiB | {r['bits_per_weight']:.2f} | "
                     f"{r['perplexity']:.2f} | {change} | {r['decode_tps']:.1f} |")
    return "\n".join(lines)


def write(report: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    m, t, s = report["model"], report["text"], report["speed"]
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    md = [f"# Quantization report: {m['name']} ({m['id']})", "",
          f"Measured {report['created']}. Every level was requantized from the stored {m['quantization']} weights.",
          f"Perplexity: {t['description']}; {t['scored_tokens']} tokens scored in {t['windows']} windows of "
          f"{t['n_ctx']} (second half of each window), by models/reference.py (float32 activations).",
          f"Decode: the page's engine ({report['levels'][0]['backend']}) in headless Chromium {s['browser']}, {s['machine']}, median of {s['runs']} "
          f"runs of {s['gen_tokens']} tokens after a {s['prompt_tokens']}-token prompt.", "",
          markdown_table(report), "", "![size, perplexity and decode speed per level](report.png)", ""]
    (out / "report.md").write_text("\n".join(md))
    chart(report, out / "report.png")


def chart(report: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = report["levels"]
    names = [r["level"] for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    panels = ((axes[0], [r["bytes"] / 2**20 for r in rows], "size (MiB)", "{:.0f}"),
              (axes[1], [r["perplexity"] for r in rows], "perplexity (lower is better)", "{:.2f}"),
              (axes[2], [r["decode_tps"] for r in rows], "decode tok/s in the page", "{:.1f}"))
    for ax, values, title, fmt in panels:
        bars = ax.bar(names, values, color="#4a78b5")
        ax.set_title(title, fontsize=10)
        ax.tick_params(axis="x", labelsize=8)
        for b, v in zip(bars, values):
            ax.annotate(fmt.format(v), (b.get_x() + b.get_width() / 2, v), ha="center", va="bottom", fontsize=8)
        ax.margins(y=0.15)
    lo = min(r["perplexity"] for r in rows)
    axes[1].set_ylim(bottom=lo * 0.9)
    fig.suptitle(f"{report['model']['name']}: what each quantization level costs", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
