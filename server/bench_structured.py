"""`inpage bench --suite structured`: what constrained output costs in decode speed.

The same engine, prompt and greedy settings, decoded free, under response_format json_object, and
under a JSON schema; the runs of the three modes interleaved, so the machine's noise falls on all
alike. Reported: decode tokens/s per mode (median, min, max), each constrained mode's ratio to the
free one, and the grammar's own work (tokens checked, full masks computed and their milliseconds).
The issue's target is a slowdown of at most 20%: ratio 0.8 or more.
"""
from __future__ import annotations

import datetime
import json
import statistics

from models.errors import ModelError

from .bench import Progress, _call, _harness, hosted_browser
from .bench_report import summarize

PROMPT = ("Describe the city of Oslo as JSON: its name, country, population, three landmarks and a "
          "summary of its history.")
SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 40},
        "country": {"type": "string", "maxLength": 40},
        "population": {"type": "integer", "minimum": 0},
        "landmarks": {"type": "array", "items": {"type": "string", "maxLength": 60}, "maxItems": 3},
        "history": {"type": "string", "maxLength": 600},
    },
    "required": ["name", "country", "population", "landmarks", "history"],
    "additionalProperties": False,
}
MODES = {
    "free": None,
    "json_object": {"type": "json_object"},
    "json_schema": {"type": "json_schema", "json_schema": {"name": "city", "schema": SCHEMA, "strict": True}},
}


def run(store, args, launch) -> dict:
    manifests = store.list()
    if not manifests:
        raise ModelError("no models installed", "run `inpage models pull smollm2-135m` first")
    model = args.model or next((m["id"] for m in manifests if m["id"] == "smollm2-135m"), manifests[0]["id"])
    backend = "auto" if args.backend == "all" else args.backend
    messages = [{"role": "user", "content": PROMPT}]
    progress = Progress(len(MODES) * (args.runs + 1))
    with hosted_browser(store, launch) as (browser, url, launch):
        ctx = browser.new_context()
        try:
            page = _harness(ctx, url)
            info = _call(page, "load", {"model": model, "backend": backend})["info"]
            timed = {mode: [] for mode in MODES}
            for r in range(args.runs + 1):  # the first round warms up, and is not counted
                for mode, fmt in MODES.items():
                    out = _call(page, "run", {"messages": messages, "gen_tokens": args.gen_tokens, "response_format": fmt})
                    if fmt is not None:
                        json.loads(out["text"])  # a constrained reply that does not parse is a bug, not a figure
                    if r > 0:
                        timed[mode].append(out)
                    progress.step(f"{mode}: {'warm-up' if r == 0 else f'run {r}/{args.runs}'}")
        finally:
            ctx.close()
    modes = {}
    for mode, runs in timed.items():
        modes[mode] = {
            "decode_tps": summarize([x["decode_tps"] for x in runs]),
            "completion_tokens": summarize([x["completion_tokens"] for x in runs]),
        }
        if runs[0]["grammar"]:
            modes[mode]["grammar"] = {k: statistics.median(x["grammar"][k] for x in runs) for k in ("steps", "masks", "mask_ms")}
    free = modes["free"]["decode_tps"]["median"]
    return {
        "schema": "inpage.bench.structured/1",
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "model": model, "backend": info["backend"], "threads": info["threads"],
        "settings": {"runs": args.runs, "gen_tokens": args.gen_tokens, "prompt": PROMPT, "schema": SCHEMA},
        "modes": modes,
        "ratio_to_free": {m: modes[m]["decode_tps"]["median"] / free for m in ("json_object", "json_schema")},
    }


def table(r: dict) -> str:
    lines = [f"{r['model']} on {r['backend']} ({r['threads']} threads): decode tokens/s, median (min-max) of "
             f"{r['settings']['runs']} interleaved runs",
             f"{'mode':12} {'tokens/s':>24} {'tokens':>7} {'vs free':>8} {'masks':>6} {'mask ms':>8}"]
    for mode, m in r["modes"].items():
        d = m["decode_tps"]
        g = m.get("grammar") or {}
        ratio = f"{r['ratio_to_free'][mode]:.2f}x" if mode in r["ratio_to_free"] else ""
        lines.append(f"{mode:12} {d['median']:8.1f} ({d['min']:.1f}-{d['max']:.1f}){'':4} "
                     f"{m['completion_tokens']['median']:7.0f} {ratio:>8} {g.get('masks', ''):>6} "
                     f"{round(g['mask_ms'], 1) if g else '':>8}")
    return "\n".join(lines)
