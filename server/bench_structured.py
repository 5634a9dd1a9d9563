"""`inpage bench --suite structured`: what constrained output costs in decode speed.

The same engine, prompt and greedy settings, decoded under response_format json_object and under a
JSON schema, each run followed by a free run of exactly as many tokens from the same prompt (the
engine's instruction for the format included: decode speed falls as the context grows, so a
shorter reply or prompt would otherwise look faster); all runs interleaved,
so the machine's noise falls on all alike. Reported: decode tokens/s per mode and of its matched
free runs (median, min, max), their ratio, and the grammar's own work (tokens checked, full masks
computed and their milliseconds). The issue's target is a slowdown of at most 20%: ratio 0.8 or more.
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
    progress = Progress(2 * len(MODES) * (args.runs + 1))
    with hosted_browser(store, launch) as (browser, url, launch):
        ctx = browser.new_context()
        try:
            page = _harness(ctx, url)
            info = _call(page, "load", {"model": model, "backend": backend})["info"]
            timed = {mode: [] for mode in MODES}
            free = {mode: [] for mode in MODES}
            for r in range(args.runs + 1):  # the first round warms up, and is not counted
                for mode, fmt in MODES.items():
                    out = _call(page, "run", {"messages": messages, "gen_tokens": args.gen_tokens, "response_format": fmt})
                    if out["finish_reason"] == "length":
                        raise ModelError(f"--gen-tokens {args.gen_tokens} cut the {mode} reply short", "raise it (the default is 128)")
                    json.loads(out["text"])  # a constrained reply that ends and does not parse is a bug, not a figure
                    progress.step(f"{mode}: {'warm-up' if r == 0 else f'run {r}/{args.runs}'}")
                    same_prompt = [{"role": "system", "content": _call(page, "formatInstruction", fmt)}, *messages]
                    matched = _call(page, "run", {"messages": same_prompt, "gen_tokens": out["completion_tokens"]})
                    progress.step(f"free, {out['completion_tokens']} tokens")
                    if r > 0:
                        timed[mode].append(out)
                        free[mode].append(matched)
        finally:
            ctx.close()
    modes = {}
    for mode, runs in timed.items():
        modes[mode] = {
            "decode_tps": summarize([x["decode_tps"] for x in runs]),
            "free_decode_tps": summarize([x["decode_tps"] for x in free[mode]]),
            "completion_tokens": summarize([x["completion_tokens"] for x in runs]),
            "grammar": {k: statistics.median(x["grammar"][k] for x in runs) for k in ("steps", "masks", "mask_ms")},
        }
    return {
        "schema": "inpage.bench.structured/1",
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "model": model, "backend": info["backend"], "threads": info["threads"],
        "settings": {"runs": args.runs, "gen_tokens": args.gen_tokens, "prompt": PROMPT, "schema": SCHEMA},
        "modes": modes,
        "ratio_to_free": {m: modes[m]["decode_tps"]["median"] / modes[m]["free_decode_tps"]["median"] for m in MODES},
    }


def table(r: dict) -> str:
    lines = [f"{r['model']} on {r['backend']} ({r['threads']} threads): decode tokens/s, median (min-max) of "
             f"{r['settings']['runs']} interleaved runs; free: as many tokens, unconstrained",
             f"{'mode':12} {'constrained':>20} {'free':>20} {'ratio':>6} {'tokens':>7} {'masks':>6} {'mask ms':>8}"]
    for mode, m in r["modes"].items():
        c, f, g = m["decode_tps"], m["free_decode_tps"], m["grammar"]
        lines.append(f"{mode:12} {c['median']:7.1f} ({c['min']:.1f}-{c['max']:.1f}) {f['median']:7.1f} ({f['min']:.1f}-{f['max']:.1f}) "
                     f"{r['ratio_to_free'][mode]:5.2f}x {m['completion_tokens']['median']:7.0f} {g['masks']:6.0f} {g['mask_ms']:8.1f}")
    return "\n".join(lines)
