"""`inpage cost`: the monthly cost of one workload on a cloud API, on this machine (its electricity)
and on a GPU box, with the break-even points, as a table and a chart.

Speeds come from measurements: this machine's from an `inpage bench` JSON. The workload's mix of
prompt and completion tokens, and of local and remote tiers, comes from the router's counts: the
app's conversation export, where each answer keeps its tier and token usage. Prices, power draws and
the GPU box's throughput are inputs with example defaults; every input is printed beside the result,
and none is presented as a current price.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

DAYS = 30  # a month, for every monthly figure

# Example inputs (README, "The cost report"): placeholders to edit, not prices of today.
EXAMPLES = {
    "cloud_input_per_m": 0.15,   # $ per million prompt tokens on a cloud API
    "cloud_output_per_m": 0.60,  # $ per million completion tokens
    "kwh_price": 0.30,           # $ per kWh
    "machine_watts": 65.0,       # this machine's extra draw while generating
    "machine_monthly": 40.0,     # $ a month for each more machine like it (this one is already yours)
    "gpu_monthly": 1500.0,       # $ a month for a GPU box (rent, or purchase spread over its life)
    "gpu_watts": 700.0,          # its draw while serving
    "gpu_output_tps": 2500.0,    # completion tokens/s it serves, batched (vLLM-class serving)
    "gpu_prefill_tps": 20000.0,  # prompt tokens/s it reads
}


class CostInputError(ValueError):
    pass


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bench", type=Path, required=True, help="an `inpage bench --json` result: this machine's measured speeds")
    p.add_argument("--backend", default=None, help="which of its backends (default: the fastest decode)")
    p.add_argument("--conversations", type=Path, default=None,
                   help="the app's conversation export (Export all, JSON): the router's token counts per tier")
    p.add_argument("--tokens-per-day", type=float, default=1_000_000, help="the workload (default 1M tokens a day)")
    p.add_argument("--output-share", type=float, default=None,
                   help="share of the tokens that are completions (default: from --conversations, else 0.3)")
    for key, value in EXAMPLES.items():
        p.add_argument("--" + key.replace("_", "-"), type=float, default=value, help=f"example default {value:g}")
    p.add_argument("--json", dest="json_out", type=Path, default=None, help="write the inputs and results as JSON")
    p.add_argument("--chart", type=Path, default=None, help="write the chart (monthly cost against tokens a day): .svg or .png")
    p.set_defaults(func=run)


def measured_speed(bench: dict, backend: str | None) -> dict:
    """{backend, decode_tps, prefill_tps, threads, model} from an inpage.bench/1 result."""
    backends = {k: v for k, v in (bench.get("backends") or {}).items() if "decode_tps" in v}
    if not backends:
        raise CostInputError("the bench file has no backend with a decode speed: run `inpage bench --json FILE` first")
    if backend is None:
        backend = max(backends, key=lambda k: backends[k]["decode_tps"]["median"])
    if backend not in backends:
        raise CostInputError(f"the bench file has no backend {backend!r}; it has {', '.join(backends)}")
    b = backends[backend]
    model = bench.get("model") or {}
    return {"backend": backend, "decode_tps": b["decode_tps"]["median"], "prefill_tps": b["prefill_tps"]["median"],
            "threads": b.get("threads"), "model": f"{model.get('id')} {model.get('quantization')}",
            "created": bench.get("created")}


def router_counts(export: dict) -> dict:
    """Prompt and completion tokens per tier, from the answers of a conversation export."""
    counts = {}
    for c in export.get("conversations", []):
        for m in c.get("messages", []):
            usage, route = m.get("usage"), m.get("route")
            if m.get("role") != "assistant" or not usage:
                continue
            tier = (route or {}).get("tier") or "fast"
            t = counts.setdefault(tier, {"prompt_tokens": 0, "completion_tokens": 0, "answers": 0})
            t["prompt_tokens"] += usage.get("prompt_tokens") or 0
            t["completion_tokens"] += usage.get("completion_tokens") or 0
            t["answers"] += 1
    return counts


def busy_seconds(tokens: float, output_share: float, output_tps: float, prefill_tps: float) -> float:
    """Seconds of work for tokens, of which output_share are completions (decoded) and the rest prompt (prefilled)."""
    return tokens * output_share / output_tps + tokens * (1 - output_share) / prefill_tps


def cloud_price(tokens: float, output_share: float, x: dict) -> float:
    """$ for tokens on the cloud API, at its prices per million prompt and completion tokens."""
    return tokens * ((1 - output_share) * x["cloud_input_per_m"] + output_share * x["cloud_output_per_m"]) / 1e6


def energy_cost(seconds_per_day: float, watts: float, kwh_price: float) -> float:
    return seconds_per_day / 3600 * watts / 1000 * kwh_price * DAYS


def options(tokens_per_day: float, output_share: float, speed: dict, x: dict) -> dict:
    """Monthly cost of tokens_per_day on each option, with how many machines or boxes it takes."""
    cloud = cloud_price(tokens_per_day, output_share, x) * DAYS
    local_s = busy_seconds(tokens_per_day, output_share, speed["decode_tps"], speed["prefill_tps"])
    machines = max(1, math.ceil(local_s / 86400))
    gpu_s = busy_seconds(tokens_per_day, output_share, x["gpu_output_tps"], x["gpu_prefill_tps"])
    boxes = max(1, math.ceil(gpu_s / 86400))
    return {
        "cloud": {"monthly": cloud},
        "machine": {"monthly": energy_cost(local_s, x["machine_watts"], x["kwh_price"]) + (machines - 1) * x["machine_monthly"],
                    "busy_hours_per_day": local_s / 3600, "machines": machines},
        "gpu": {"monthly": boxes * x["gpu_monthly"] + energy_cost(gpu_s, x["gpu_watts"], x["kwh_price"]),
                "busy_hours_per_day": gpu_s / 3600, "boxes": boxes},
    }


def break_even(output_share: float, speed: dict, x: dict) -> dict:
    """Tokens a day where the GPU box starts to cost less than the cloud API; where one machine is
    busy all day; and whether this machine's electricity is below the cloud's price per token."""
    per_token_cloud = cloud_price(1, output_share, x)
    per_token_gpu_energy = energy_cost(busy_seconds(1, output_share, x["gpu_output_tps"], x["gpu_prefill_tps"]),
                                       x["gpu_watts"], x["kwh_price"]) / DAYS
    seconds_per_token = busy_seconds(1, output_share, speed["decode_tps"], speed["prefill_tps"])
    per_token_machine = energy_cost(seconds_per_token, x["machine_watts"], x["kwh_price"]) / DAYS
    margin = per_token_cloud - per_token_gpu_energy
    return {
        "gpu_vs_cloud_tokens_per_day": x["gpu_monthly"] / (DAYS * margin) if margin > 0 else None,
        "machine_capacity_tokens_per_day": 86400 / seconds_per_token,
        "machine_cheaper_per_token": per_token_machine < per_token_cloud,
        "per_million": {"cloud": per_token_cloud * 1e6, "machine_energy": per_token_machine * 1e6},
    }


def run(args) -> int:
    try:
        bench = json.loads(args.bench.read_text())
    except (OSError, ValueError) as e:
        print(f"inpage: cannot read {args.bench} as an inpage bench JSON ({e}); run `inpage bench --json FILE`", file=sys.stderr)
        return 1
    try:
        speed = measured_speed(bench, args.backend)
        counts = None
        if args.conversations:
            try:
                counts = router_counts(json.loads(args.conversations.read_text()))
            except (OSError, ValueError) as e:
                raise CostInputError(f"cannot read {args.conversations} as a conversation export ({e}); use the app's "
                                     "Export all (JSON)") from e
        share = args.output_share
        if share is None:
            total = sum(map(_tokens, (counts or {}).values()))
            share = sum(t["completion_tokens"] for t in counts.values()) / total if total else 0.3
        if not 0 < share < 1:
            raise CostInputError(f"the output share must be between 0 and 1, not {share}")
        if args.tokens_per_day <= 0:
            raise CostInputError("--tokens-per-day must be positive")
    except CostInputError as e:
        print(f"inpage: {e}", file=sys.stderr)
        return 1
    x = {k: getattr(args, k) for k in EXAMPLES}
    result = {"tokens_per_day": args.tokens_per_day, "output_share": share, "measured": speed, "inputs": x,
              "router_counts": counts, "options": options(args.tokens_per_day, share, speed, x),
              "break_even": break_even(share, speed, x)}
    if counts:
        result["as_routed"] = as_routed(args.tokens_per_day, share, speed, x, counts)
    print(table(result))
    if args.json_out:
        args.json_out.write_text(json.dumps(result, indent=2))
    if args.chart:
        chart(result, args.chart)
        print(f"chart: {args.chart}")
    return 0


def as_routed(tokens_per_day: float, share: float, speed: dict, x: dict, counts: dict) -> dict:
    """The workload split as the router split the exported conversations: local tiers on this
    machine, the remote tier on the GPU box."""
    total = sum(map(_tokens, counts.values()))
    remote_share = _tokens(counts["remote"]) / total if total and "remote" in counts else 0
    local = options(tokens_per_day * (1 - remote_share), share, speed, x)["machine"] if remote_share < 1 else None
    gpu = options(tokens_per_day * remote_share, share, speed, x)["gpu"] if remote_share > 0 else None
    return {"remote_share": remote_share, "monthly": (local or {}).get("monthly", 0) + (gpu or {}).get("monthly", 0),
            "machine": local, "gpu": gpu}


def _tokens(tier_counts: dict) -> int:
    return tier_counts["prompt_tokens"] + tier_counts["completion_tokens"]


def _money(v: float) -> str:
    return f"${v:,.2f}"


def table(r: dict) -> str:
    x, m, o, b = r["inputs"], r["measured"], r["options"], r["break_even"]
    lines = [f"inpage cost: {r['tokens_per_day']:,.0f} tokens a day ({r['output_share']:.0%} completions), {DAYS}-day month", "",
             "Inputs (prices, power and the GPU box's speed are examples to edit, not current prices):",
             f"  measured here: decode {m['decode_tps']:.1f} tok/s, prefill {m['prefill_tps']:.1f} tok/s "
             f"({m['backend']}, {m['threads']} threads, {m['model']}, bench of {m['created']})",
             f"  cloud API: ${x['cloud_input_per_m']:g} per 1M prompt tokens, ${x['cloud_output_per_m']:g} per 1M completion tokens",
             f"  electricity: ${x['kwh_price']:g}/kWh; this machine {x['machine_watts']:g} W while generating, "
             f"${x['machine_monthly']:g}/month for each more machine like it",
             f"  GPU box: ${x['gpu_monthly']:,.0f}/month, {x['gpu_watts']:g} W, {x['gpu_output_tps']:,.0f} completion tok/s, "
             f"{x['gpu_prefill_tps']:,.0f} prompt tok/s"]
    if r.get("router_counts"):
        parts = [f"{tier} {t['answers']} answers, {t['prompt_tokens']:,} prompt + {t['completion_tokens']:,} completion tokens"
                 for tier, t in sorted(r["router_counts"].items())]
        lines.append("  router's counts: " + "; ".join(parts))
    lines += ["", f"{'Option':34} {'Monthly':>12} {'Per 1M tokens':>14}  Notes"]
    per_m = lambda monthly: monthly / (r["tokens_per_day"] * DAYS) * 1e6  # noqa: E731
    mach = o["machine"]
    rows = [("Cloud API", o["cloud"]["monthly"], ""),
            ("This machine (electricity)", mach["monthly"],
             f"busy {mach['busy_hours_per_day']:.1f} h a day" + (f": needs {mach['machines']} machines like it" if mach["machines"] > 1 else "")),
            ("GPU box", o["gpu"]["monthly"], f"{o['gpu']['boxes']} box, busy {o['gpu']['busy_hours_per_day']:.1f} h a day")]
    if r.get("as_routed"):
        a = r["as_routed"]
        rows.append((f"As routed ({1 - a['remote_share']:.0%} local, {a['remote_share']:.0%} remote)", a["monthly"],
                     "local tiers on this machine, the remote tier on the GPU box"))
    for name, monthly, note in rows:
        lines.append(f"{name:34} {_money(monthly):>12} {_money(per_m(monthly)):>14}  {note}")
    lines.append("")
    g = b["gpu_vs_cloud_tokens_per_day"]
    lines.append(f"Break-even: the GPU box costs less than the cloud API above {g:,.0f} tokens a day." if g
                 else "Break-even: at these inputs the GPU box's electricity alone costs more per token than the cloud API.")
    lines.append(f"This machine serves at most {b['machine_capacity_tokens_per_day']:,.0f} tokens a day at the measured speed; its "
                 f"electricity is {_money(b['per_million']['machine_energy'])} per 1M tokens against the cloud's "
                 f"{_money(b['per_million']['cloud'])} ({'cheaper' if b['machine_cheaper_per_token'] else 'dearer'}).")
    return "\n".join(lines)


def chart(r: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x, m, share = r["inputs"], r["measured"], r["output_share"]
    volumes = [10 ** (3 + k / 20) for k in range(0, 141)]  # 1e3 .. 1e10 tokens a day
    series = {"Cloud API": [], "This machine (electricity; more machines past its capacity)": [], "GPU box": []}
    for v in volumes:
        o = options(v, share, m, x)
        for key, name in zip(("cloud", "machine", "gpu"), series):
            series[name].append(o[key]["monthly"])
    fig, ax = plt.subplots(figsize=(8, 5))
    for name, ys in series.items():
        ax.plot(volumes, ys, label=name)
    ax.axvline(r["tokens_per_day"], color="grey", linestyle=":", label=f"this workload ({r['tokens_per_day']:,.0f}/day)")
    g = r["break_even"]["gpu_vs_cloud_tokens_per_day"]
    if g:
        ax.axvline(g, color="black", linestyle="--", label=f"GPU box = cloud at {g:,.0f}/day")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("tokens a day")
    ax.set_ylabel(f"cost per {DAYS}-day month ($)")
    ax.set_title(f"Measured: {m['decode_tps']:.1f} tok/s decode here ({m['backend']}); prices are example inputs", fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
