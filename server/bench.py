"""`inpage bench`: tokens/sec of every backend in headless Chromium, side by side in one run.

The host is started on a free loopback port and Debian's Chromium is launched through Playwright
with the flags in server/browser.py. Per backend: a fresh browser context (empty storage) for the
cold load, one warm-up generation that is not counted, N timed greedy generations of a fixed
prompt, the page's memory, then a reload for the warm load (model from browser storage).
"""
from __future__ import annotations

import contextlib
import datetime
import json
import os
import platform
import statistics
import sys
import threading
from importlib import metadata as importlib_metadata
from pathlib import Path

from models.errors import ModelError
from models.store import Store

from . import ROOT, create_app
from .bench_report import SCHEMA, compare, ratios, sane, summarize, table, write_html, write_json
from .browser import CHROMIUM_ARGS, CHROMIUM_PATH

BACKENDS = ("wasm", "webgpu", "wllama")
HARNESS = "/webgpu/bench.js"


def add_arguments(p) -> None:
    p.add_argument("--suite", default="chat", choices=("chat", "embed", "search", "retrieval", "ingest", "structured"),
                   help="chat: tokens/s per backend; structured: decode tokens/s with a JSON schema or JSON "
                        "object constraint against none; embed: embedding chunks/s against ONNX Runtime; "
                        "search: the vector store against zvec; retrieval: recall and MRR of the library's "
                        "chunkers and searches on the Python FAQ; ingest: seconds to add a 300-page PDF")
    p.add_argument("--model", default=None, help="model id (default: the catalog's default; embed: minilm-l6)")
    p.add_argument("--backend", default="all", choices=("auto", "all") + BACKENDS,
                   help="all: every backend that runs the model; auto: what the app would pick, plus wllama")
    p.add_argument("--runs", type=int, default=5, help="timed generations per backend (median, min, max)")
    p.add_argument("--prompt-tokens", type=int, default=48, help="chat prompt length in tokens")
    p.add_argument("--gen-tokens", type=int, default=128, help="tokens generated per run")
    p.add_argument("--context-positions", default="", help="also time decoding at these positions, e.g. 64,1024")
    p.add_argument("--activation-bits", type=int, default=14, choices=(14, 8),
                   help="our WASM backend's activations: 14 bits (default) or 8 (faster; README, Speed)")
    p.add_argument("--kv", default="f32", choices=("f32", "f16"), help="our WASM backend's KV cache (default f32)")
    p.add_argument("--json", type=Path, default=None, help="write the results here (schema inpage.bench/1)")
    p.add_argument("--html", type=Path, default=None, help="write an HTML report with a chart here")
    p.add_argument("--baseline", type=Path, default=None, help="compare ratios with this earlier --json file")
    p.add_argument("--max-regression", type=float, default=10.0, help="allowed drop of a ratio, in percent")
    p.add_argument("--headed", action="store_true", help="run Chromium with a window (under Xvfb on a GPU runner)")
    p.add_argument("--chromium-flag", action="append", default=[], metavar="FLAG",
                   help="an extra Chromium flag, e.g. --use-angle=vulkan (repeatable)")
    p.add_argument("--chunks", type=int, default=64, help="embed: 256-token chunks per timed pass")
    p.add_argument("--batch", type=int, default=8, help="embed: chunks per embeddings call")
    p.add_argument("--sizes", default="10000,100000", help="search: store sizes, e.g. 10000,100000,1000000")
    p.add_argument("--queries", type=int, default=200, help="search: held-out queries per size")
    p.add_argument("--hnsw-max", type=int, default=200_000, help="search: build HNSW graphs (the page's and zvec's) only up to this many vectors")
    p.add_argument("--png", type=Path, default=None, help="search: write a latency/recall chart here")
    p.add_argument("--hnsw-ef", default="64,300", help="search: zvec HNSW query ef values (300 is zvec's default)")
    p.set_defaults(func=main)


def main(args) -> int:
    if args.suite != "chat":
        from . import bench_rag
        return bench_rag.main(args)
    if args.runs < 1 or args.prompt_tokens < 1 or args.gen_tokens < 2:
        raise ModelError("--runs, --prompt-tokens must be at least 1 and --gen-tokens at least 2")
    baseline = _read_baseline(args.baseline) if args.baseline else None
    store = Store(args.home)
    manifests = store.list()
    if not manifests:
        raise ModelError("no models installed", "run `inpage models pull smollm2-135m` first")
    model_id = args.model or next((m["id"] for m in manifests if m["id"] == "smollm2-135m"), manifests[0]["id"])
    manifest = store.manifest(model_id)
    positions = [int(p) for p in args.context_positions.split(",") if p.strip()]
    launch = {"headless": not args.headed, "args": CHROMIUM_ARGS + args.chromium_flag}
    wasm_options = {"activation_bits": args.activation_bits, "kv_type": args.kv}
    result = run(store, manifest, args.backend, args.runs, args.prompt_tokens, args.gen_tokens, positions, launch,
                 wasm_options)
    print(table(result))
    if args.json:
        write_json(result, args.json)
    if args.html:
        write_html(result, args.html)
    problems = sane(result)
    for p in problems:
        print(f"inpage bench: implausible figure: {p}", file=sys.stderr)
    if baseline is not None:
        ok, lines = compare(result, baseline, args.max_regression)
        print("\n".join(lines))
        if not ok:
            print(f"inpage bench: a ratio dropped more than {args.max_regression}% below {args.baseline}", file=sys.stderr)
            return 1
    return 1 if problems else 0


def _read_baseline(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ModelError(f"cannot read baseline {path}: {e}", "pass a file written by `inpage bench --json`") from None
    if data.get("schema") != SCHEMA:
        raise ModelError(f"{path} is not an {SCHEMA} file", "pass a file written by `inpage bench --json`")
    return data


class Progress:
    """A one-line progress bar on stderr."""

    def __init__(self, total: int):
        self.total, self.done = total, 0

    def step(self, what: str) -> None:
        self.done += 1
        filled = round(30 * self.done / self.total)
        sys.stderr.write(f"\r[{'#' * filled}{' ' * (30 - filled)}] {self.done}/{self.total} {what[:40]:40}")
        sys.stderr.flush()
        if self.done == self.total:
            sys.stderr.write("\n")


@contextlib.contextmanager
def hosted_browser(store: Store, launch: dict | None = None, data_dir: Path | None = None):
    """A host for STORE on a loopback port and Chromium launched for it: yields (browser, url, launch).
    DATA_DIR: files a benchmark hands the page, served at /bench-data/NAME by this host only (the
    app `inpage serve` runs has no such route)."""
    from flask import send_from_directory
    from playwright.sync_api import sync_playwright
    import waitress

    app = create_app({"INPAGE_HOME": store.home})
    if data_dir is not None:
        app.add_url_rule("/bench-data/<name>", "bench_data", lambda name: send_from_directory(data_dir, name))
    server = waitress.create_server(app, host="127.0.0.1", port=0, threads=8)
    threading.Thread(target=server.run, daemon=True).start()
    try:
        with sync_playwright() as pw:
            launch = launch or {"headless": True, "args": CHROMIUM_ARGS}
            browser = pw.chromium.launch(executable_path=CHROMIUM_PATH, **launch)
            try:
                yield browser, f"http://127.0.0.1:{server.effective_port}", launch
            finally:
                browser.close()
    finally:
        server.close()


def run(store: Store, manifest: dict, backend: str, runs: int, prompt_tokens: int, gen_tokens: int,
        positions: list[int], launch: dict | None = None, wasm_options: dict | None = None) -> dict:
    """WASM_OPTIONS: activation_bits and kv_type for our WASM backend (the engine's defaults when None)."""
    with hosted_browser(store, launch) as (browser, url, launch):
        result = _measure(browser, url, store, manifest, backend, runs, prompt_tokens, gen_tokens, positions,
                          wasm_options or {})
        result["browser"].update(flags=launch["args"], headless=launch["headless"])
        return result


def decode_speed(browser, url, model: str, runs: int, prompt_tokens: int, gen_tokens: int) -> dict:
    """Decode tokens/s of the auto-chosen backend (the protocol above, one load): {backend, decode_tps}."""
    ctx = browser.new_context()
    try:
        page = _harness(ctx, url)
        info = _call(page, "load", {"model": model, "backend": "auto"})["info"]
        prompt = _call(page, "buildPrompt", {"model": model, "prompt_tokens": prompt_tokens})
        _call(page, "run", {"messages": prompt["messages"], "gen_tokens": gen_tokens})  # warm-up, not counted
        timed = [_call(page, "run", {"messages": prompt["messages"], "gen_tokens": gen_tokens}) for _ in range(runs)]
        return {"backend": info["backend"], "threads": info["threads"],
                "decode_tps": summarize([r["decode_tps"] for r in timed])}
    finally:
        ctx.close()


def tokenize(browser, url, model: str, text: str) -> list[int]:
    """TEXT tokenized in the page by the same tokenizer the engine uses."""
    ctx = browser.new_context()
    try:
        return _call(_harness(ctx, url), "tokenize", {"model": model, "text": text})
    finally:
        ctx.close()


def _measure(browser, url, store, manifest, backend, runs, prompt_tokens, gen_tokens, positions, wasm_options) -> dict:
    model = manifest["id"]
    ctx = browser.new_context()
    page = _harness(ctx, url)
    env = page.evaluate(f"async () => (await import('{HARNESS}')).environment()")
    adapter = page.evaluate(f"async () => (await import('{HARNESS}')).webgpuAdapter()")
    chosen = page.evaluate(f"async (m) => (await import('{HARNESS}')).load({{ model: m, backend: 'auto' }})", model)["info"]
    prompt = _call(page, "buildPrompt", {"model": model, "prompt_tokens": prompt_tokens})
    ctx.close()

    if backend == "all":
        # Every backend that runs the model; WebGPU where the app would pick it (a hardware adapter):
        # on a software one it is correct but slower than WASM, and is measured only when asked for.
        names = (["webgpu"] if chosen["backend"] == "webgpu" else []) + (["wasm", "wllama"] if chosen["backend"] != "wllama" else ["wllama"])
    elif backend == "auto":
        names = sorted({chosen["backend"], "wllama"})
    else:
        names = [backend]
    if "webgpu" in names and adapter is None:
        raise ModelError("this browser offers no WebGPU adapter", "run Chromium with --enable-unsafe-webgpu, or use --backend wasm")

    progress = Progress(len(names) * (runs + 3 + len(positions)))
    backends = {name: _measure_backend(browser, url, model, name, prompt, runs, gen_tokens, positions, progress,
                                       wasm_options if name == "wasm" else {})
                for name in names}
    result = {
        "schema": SCHEMA,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "settings": {"runs": runs, "prompt_tokens": prompt["prompt_tokens"], "gen_tokens": gen_tokens,
                     "context_positions": positions, "wasm_options": wasm_options},
        "machine": {"platform": platform.platform(), "machine": platform.machine(), "cpu_count": os.cpu_count(),
                    "python": platform.python_version()},
        "browser": {"name": "chromium", "version": browser.version, "path": CHROMIUM_PATH, "flags": CHROMIUM_ARGS,
                    "headless": True, "isolated": env["isolated"], "hardware_concurrency": env["hardware_concurrency"]},
        "webgpu_adapter": adapter,
        "packages": _packages(),
        "model": {"id": model, "quantization": manifest["quantization"], "total_bytes": manifest["total_bytes"],
                  "shards": [s["sha256"] for s in manifest["shards"]]},
        "backends": backends,
        "native": _native(store, manifest, prompt, runs, gen_tokens),
    }
    result["ratios"] = ratios(backends)
    return result


def _harness(ctx, url):
    page = ctx.new_page()
    page.set_default_timeout(600_000)
    page.goto(f"{url}/bench")
    return page


def _call(page, fn: str, arg):
    return page.evaluate(f"async (a) => (await import('{HARNESS}')).{fn}(a)", arg)


def _measure_backend(browser, url, model, name, prompt, runs, gen_tokens, positions, progress, options) -> dict:
    ctx = browser.new_context()  # empty browser storage: a cold load downloads and verifies
    extra = {}
    try:
        page = _harness(ctx, url)
        loaded = _call(page, "load", {"model": model, "backend": name, **options})
        progress.step(f"{name}: cold load")
        _call(page, "run", {"messages": prompt["messages"], "gen_tokens": gen_tokens})  # warm-up, not counted
        progress.step(f"{name}: warm-up")
        timed = []
        for i in range(runs):
            timed.append(_call(page, "run", {"messages": prompt["messages"], "gen_tokens": gen_tokens}))
            progress.step(f"{name}: run {i + 1}/{runs}")
        peak = _call(page, "memory", None)
        at_position = {}
        for pos in positions:
            long_prompt = _call(page, "buildPrompt", {"model": model, "prompt_tokens": pos})
            r = _call(page, "run", {"messages": long_prompt["messages"], "gen_tokens": 32})
            at_position[str(pos)] = 1000 / r["decode_tps"]
            progress.step(f"{name}: decode at {pos}")
        page.reload()
        warm = _call(page, "load", {"model": model, "backend": name, **options})
        progress.step(f"{name}: warm load")
        after = _call(page, "memory", None)
        info = loaded["info"]
        if name == "webgpu":
            # The adapter (a software one is marked: never a GPU speed figure) and the work per
            # decoded token, which is deterministic: the fusion target is checked against it.
            extra["adapter"] = info.get("adapter")
            extra["software_adapter"] = bool((info.get("adapter") or {}).get("software"))
            devices = [r["device"] for r in timed if r.get("device")]
            if devices:
                extra["per_token"] = {k: statistics.median(d[k] for d in devices)
                                      for k in ("dispatches_per_token", "submits_per_token", "readback_bytes_per_token")}
        out = {
            "threads": info["threads"], "isolated": info["isolated"], "simd": info.get("simd"),
            "activation_bits": info.get("activation_bits"), "kv_type": info.get("kv_type"),
            "reason": info["reason"], "cold_load_s": loaded["load_s"], "warm_load_s": warm["load_s"],
            "shards_from_storage_warm": warm["info"]["shards_from_storage"],
            "peak_memory_bytes": max(v for v in (peak, after) if v) if (peak or after) else None,
            "prompt_tokens": timed[0]["prompt_tokens"],
            "ttft_s": summarize([r["ttft_s"] for r in timed]),
            "prefill_tps": summarize([r["prefill_tps"] for r in timed]),
            "decode_tps": summarize([r["decode_tps"] for r in timed]),
        }
        if at_position:
            out["decode_ms_at_position"] = at_position
        return {**out, **extra}
    finally:
        ctx.close()


def _packages() -> dict:
    out = {}
    for name in ("inpage", "flask", "waitress", "gguf", "playwright", "ziglang", "llama-cpp-python"):
        try:
            out[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            pass
    for npm in ("@wllama/wllama", "@huggingface/jinja"):
        pkg = ROOT / "node_modules" / npm / "package.json"
        if pkg.is_file():
            out[npm] = json.loads(pkg.read_text())["version"]
    return out


def _native(store: Store, manifest: dict, prompt: dict, runs: int, gen_tokens: int) -> dict:
    """Native llama.cpp on the same GGUF, when the optional llama-cpp-python is installed."""
    try:
        from . import bench_native
    except ImportError:
        return {"skipped": "llama-cpp-python is not installed (pip install 'inpage[native]')"}
    return bench_native.measure(store, manifest, prompt, runs, gen_tokens)
