"""`inpage bench` results: the JSON schema, summaries, ratios, the table, the HTML report and the
regression gate. The runner (server/bench.py) fills a result; everything here is pure data work.

Schema "inpage.bench/1" (one JSON object):
  schema, created (ISO 8601 UTC), settings {runs, prompt_tokens, gen_tokens, context_positions},
  machine {platform, machine, cpu_count, python}, browser {name, version, path, flags, headless},
  webgpu_adapter {vendor, architecture, device, description, shader_f16} | null,
  packages {name: version}, model {id, quantization, total_bytes, shards: [sha256]},
  backends {name: {threads, isolated, simd, reason, cold_load_s, warm_load_s, peak_memory_bytes,
            prompt_tokens, ttft_s, prefill_tps, decode_tps, [decode_ms_at_position {pos: ms}],
            webgpu only: adapter {vendor, architecture, description, software, ...}, software_adapter,
            per_token {dispatches_per_token, submits_per_token, readback_bytes_per_token}}},
  native {... same figures ...} | {"skipped": reason},
  ratios {"<backend>/wllama": {decode, prefill, ttft}}
Each of ttft_s, prefill_tps, decode_tps is {median, min, max, runs: [...]}, warm-up excluded.
"""
from __future__ import annotations

import html
import json
import math
import statistics

SCHEMA = "inpage.bench/1"
FIGURES = ("ttft_s", "prefill_tps", "decode_tps")


def summarize(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "runs": values}


def ratios(backends: dict) -> dict:
    """Each backend against wllama, measured side by side in the same run: speed-ups above 1 are better."""
    base = backends.get("wllama")
    out = {}
    if not base:
        return out
    for name, r in backends.items():
        if name == "wllama" or "decode_tps" not in r:
            continue
        out[f"{name}/wllama"] = {
            "decode": r["decode_tps"]["median"] / base["decode_tps"]["median"],
            "prefill": r["prefill_tps"]["median"] / base["prefill_tps"]["median"],
            # time to first token: wllama's over ours, so that above 1 means ours is faster
            "ttft": base["ttft_s"]["median"] / r["ttft_s"]["median"],
        }
    return out


def sane(result: dict) -> list[str]:
    """Problems with the figures (empty when every figure is present, positive and finite)."""
    problems = []
    for name, r in result["backends"].items():
        for key in ("cold_load_s", "warm_load_s"):
            if not _positive(r.get(key)):
                problems.append(f"{name}: {key} is {r.get(key)!r}")
        for key in FIGURES:
            fig = r.get(key) or {}
            if not all(_positive(v) for v in fig.get("runs", [None])):
                problems.append(f"{name}: {key} runs {fig.get('runs')!r}")
        if _positive((r.get("prefill_tps") or {}).get("median")) and _positive((r.get("decode_tps") or {}).get("median")):
            if r["prefill_tps"]["median"] <= r["decode_tps"]["median"]:
                problems.append(f"{name}: prefill {r['prefill_tps']['median']:.1f} tok/s is not faster than decode")
    return problems


def _positive(v) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v) and v > 0


def compare(result: dict, baseline: dict, max_regression_pct: float) -> tuple[bool, list[str]]:
    """Compare this run's ratios with a baseline's; ok is False when one dropped by more than allowed."""
    lines, ok = [], True
    for pair, base in baseline.get("ratios", {}).items():
        cur = result["ratios"].get(pair)
        if cur is None:
            lines.append(f"{pair}: not measured in this run")
            ok = False
            continue
        for key, b in base.items():
            drop = (b - cur[key]) / b * 100
            verdict = "REGRESSION" if drop > max_regression_pct else "ok"
            ok &= verdict == "ok"
            lines.append(f"{pair} {key}: {cur[key]:.2f}x vs baseline {b:.2f}x ({-drop:+.1f}%) {verdict}")
    return ok, lines


def table(result: dict) -> str:
    def fig(f, fmt):
        return f"{fmt.format(f['median'])} ({fmt.format(f['min'])}-{fmt.format(f['max'])})" if f else "-"

    rows = [("backend", "threads", "cold load", "warm load", "TTFT s", "prefill tok/s", "decode tok/s", "peak MiB")]
    entries = dict(result["backends"])
    if "decode_tps" in result.get("native", {}):
        entries["native llama.cpp"] = result["native"]
    for name, r in entries.items():
        mem = r.get("peak_memory_bytes")
        if r.get("software_adapter"):
            name = f"{name} (software adapter, not a GPU figure)"
        rows.append((name, str(r.get("threads", "-")), _secs(r.get("cold_load_s")), _secs(r.get("warm_load_s")),
                     fig(r.get("ttft_s"), "{:.2f}"), fig(r.get("prefill_tps"), "{:.0f}"), fig(r.get("decode_tps"), "{:.1f}"),
                     f"{mem / 2**20:.0f}" if mem else "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)) for row in rows]
    for pair, r in result.get("ratios", {}).items():
        lines.append(f"{pair}: decode {r['decode']:.2f}x, prefill {r['prefill']:.2f}x, time to first token {r['ttft']:.2f}x")
    for name, r in result["backends"].items():
        if r.get("adapter"):
            a = r["adapter"]
            lines.append(f"{name}: adapter {' '.join(filter(None, (a.get('vendor'), a.get('architecture'), a.get('description'))))}")
        if r.get("per_token"):
            t = r["per_token"]
            lines.append(f"{name}: {t['dispatches_per_token']:g} dispatches, {t['submits_per_token']:g} submits and "
                         f"{t['readback_bytes_per_token']:g} bytes read back per decoded token")
        for pos, ms in (r.get("decode_ms_at_position") or {}).items():
            lines.append(f"{name}: {ms:.2f} ms per decoded token at position {pos}")
    if "skipped" in result.get("native", {}):
        lines.append(f"native llama.cpp: skipped ({result['native']['skipped']})")
    return "\n".join(lines)


def _secs(v):
    return f"{v:.2f} s" if isinstance(v, (int, float)) else "-"


def write_json(result: dict, path) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)
        f.write("\n")


def write_html(result: dict, path) -> None:
    """A self-contained report: the table and a bar chart (inline SVG, no scripts, nothing fetched)."""
    entries = [(n, r) for n, r in result["backends"].items() if "decode_tps" in r]
    if "decode_tps" in result.get("native", {}):
        entries.append(("native llama.cpp", result["native"]))
    charts = []
    for key, label in (("decode_tps", "decode tokens/s"), ("prefill_tps", "prefill tokens/s")):
        top = max((r[key]["max"] for _, r in entries), default=1) or 1
        bars = []
        for i, (name, r) in enumerate(entries):
            y = 10 + i * 34
            w = 460 * r[key]["median"] / top
            lo, hi = 140 + 460 * r[key]["min"] / top, 140 + 460 * r[key]["max"] / top
            bars.append(
                f'<text x="0" y="{y + 17}">{html.escape(name)}</text>'
                f'<rect x="140" y="{y}" width="{w:.1f}" height="24" fill="#2f5d8a"/>'
                f'<line x1="{lo:.1f}" x2="{hi:.1f}" y1="{y + 12}" y2="{y + 12}" stroke="#e39b2d" stroke-width="3"/>'
                f'<text x="{148 + w:.1f}" y="{y + 17}">{r[key]["median"]:.1f}</text>')
        height = 20 + 34 * len(entries)
        charts.append(f"<h2>{label}</h2><svg width='680' height='{height}' font-family='sans-serif' "
                      f"font-size='13'>{''.join(bars)}</svg>")
    body = (f"<h1>inpage bench: {html.escape(result['model']['id'])}</h1>"
            f"<p>{html.escape(result['created'])} · {html.escape(result['browser']['name'])} "
            f"{html.escape(result['browser']['version'])} · {result['machine']['cpu_count']} CPUs · "
            f"{result['settings']['runs']} runs, median with min-max</p>"
            f"<pre>{html.escape(table(result))}</pre>{''.join(charts)}")
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"<!doctype html><html lang='en'><meta charset='utf-8'><title>inpage bench</title>"
                f"<body style='font-family:sans-serif;max-width:60rem;margin:2rem auto'>{body}</body></html>\n")
