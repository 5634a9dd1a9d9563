"""The `inpage` command: serve the app and manage the model store."""
from __future__ import annotations

import argparse
import ipaddress
import logging
import sys
from pathlib import Path

from models.errors import ModelError
from models.hf_pull import is_hf_ref, pull_hf
from models.pull import CATALOG, pull
from models.store import Store


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except ModelError as e:
        print(f"inpage: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="inpage", description="Private AI in a browser tab: the host.")
    p.add_argument("--home", type=Path, default=None, help="model store folder (default: $INPAGE_HOME or "
                   "$XDG_DATA_HOME/inpage)")
    sub = p.add_subparsers(required=True, metavar="COMMAND")

    s = sub.add_parser("serve", help="serve the app")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--threads", type=int, default=8)
    s.add_argument("--remote", action="append", default=[], metavar="NAME=URL",
                   help="an OpenAI-compatible server (its /v1 base) as the page's remote tier, e.g. "
                   "capable=http://gpu-box:8000/v1; its API key from $INPAGE_REMOTE_KEY_NAME. Conversations "
                   "send to it only after the user allows it there")
    s.add_argument("--remote-model", action="append", default=[], metavar="NAME=MODEL",
                   help="the model the remote server is asked for (vLLM and Ollama need it)")
    s.add_argument("--remote-max-body", type=int, default=None, metavar="BYTES",
                   help="the largest request forwarded to a remote tier (default 1 MiB)")
    s.add_argument("--remote-rate", type=int, default=None, metavar="N",
                   help="requests a minute forwarded to each remote tier (default 30)")
    s.set_defaults(func=_serve)

    from . import bench, cost
    bench.add_arguments(sub.add_parser("bench", help="measure tokens/sec of every backend in headless Chromium"))
    cost.add_arguments(sub.add_parser("cost", help="monthly cost of a workload on a cloud API, this machine and a GPU box, "
                                      "from measured tokens/s and the router's token counts"))

    m = sub.add_parser("models", help="manage the model store").add_subparsers(required=True, metavar="VERB")
    v = m.add_parser("pull", help=f"fetch a known model ({', '.join(sorted(CATALOG))}), or a GGUF from the "
                     "Hugging Face Hub: hf.co/ORG/REPO[:QUANT] or hf.co/ORG/REPO/path/file.gguf (HF_TOKEN for gated repos)")
    v.add_argument("model_id")
    v.add_argument("--id", dest="as_id", default=None, help="Hugging Face pulls: the store id (default: from the file name)")
    v.set_defaults(func=_pull)
    v = m.add_parser("list", help="list installed models")
    v.set_defaults(func=_list)
    v = m.add_parser("rm", help="remove a model")
    v.add_argument("model_id")
    v.set_defaults(func=_rm)
    v = m.add_parser("verify", help="rehash every shard of a model")
    v.add_argument("model_id")
    v.set_defaults(func=_verify)
    v = m.add_parser("import", help="import a GGUF (single or split), a Hugging Face folder or an ONNX file")
    v.add_argument("path", type=Path)
    v.add_argument("--id", dest="model_id", default=None, help="model id (default: from the file name)")
    v.add_argument("--replace", action="store_true", help="replace a model with the same id")
    v.add_argument("--quant", default=None, metavar="TYPE",
                   help="requantize: F16, Q8_0, Q5_1, Q5_0, Q4_1, Q4_0, Q6_K, Q5_K, Q4_K, Q3_K, Q2_K, "
                   "or a mix: Q5_K_M, Q4_K_M, Q3_K_M")
    v.set_defaults(func=_import)
    v = m.add_parser("synthetic", help="write a model of random weights in a real model's shape, for speed "
                     "measurements only (inpage bench), into the store")
    v.add_argument("shape", help="qwen2.5-0.5b, llama-3.2-1b, llama-3.1-8b or smollm2-135m")
    v.add_argument("--quant", default="Q4_0", metavar="TYPE", help="weight type (default Q4_0)")
    v.add_argument("--id", dest="model_id", default=None, help="model id (default: synthetic-SHAPE-TYPE)")
    v.add_argument("--replace", action="store_true", help="replace a model with the same id")
    v.set_defaults(func=_synthetic)
    from . import report
    report.add_arguments(m.add_parser("report", help="measure size, perplexity and page speed of each quantization level"))
    return p


def _serve(args) -> int | None:
    import waitress

    from server import create_app
    from server.remote import LOOPBACK_HOSTS, RemoteConfigError, key_variable, parse_remotes

    loopback = args.host in ("localhost",) or _is_loopback(args.host)
    try:
        remotes = parse_remotes(args.remote, args.remote_model)
    except RemoteConfigError as e:
        print(f"inpage: {e}", file=sys.stderr)
        return 2
    config = {"INPAGE_HOME": args.home, "REMOTES": remotes}
    if args.remote_max_body:
        config["REMOTE_MAX_BODY"] = args.remote_max_body
    if args.remote_rate:
        config["REMOTE_RATE"] = args.remote_rate
    if loopback:
        # A page on another site can rebind its name to 127.0.0.1; only answer to loopback names.
        config["TRUSTED_HOSTS"] = sorted(LOOPBACK_HOSTS)
    app = create_app(config)
    store = Store(args.home)
    if not store.list():
        print("inpage: no models installed yet; run `inpage models pull smollm2-135m`", file=sys.stderr)
    if remotes:
        # The proxy's one line per request (tier, status, sizes, time; never content) on the console.
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("inpage: %(message)s"))
        logging.getLogger("inpage.remote").addHandler(handler)
        logging.getLogger("inpage.remote").setLevel(logging.INFO)
    for r in remotes:
        key = f"key from ${key_variable(r.name)}" if r.key else f"no key (${key_variable(r.name)} is unset)"
        print(f"inpage: remote tier {r.name}: {r.endpoint} ({key}); used only by conversations that allow it", flush=True)
    if remotes and not loopback:
        print("inpage: the remote tier is proxied only for pages opened at 127.0.0.1 or localhost", file=sys.stderr)
    print(f"inpage: serving http://{args.host}:{args.port}/  (store: {store.home})", flush=True)
    waitress.serve(app, host=args.host, port=args.port, threads=args.threads, ident="inpage",
                   _quiet=True)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _pull(args) -> None:
    if is_hf_ref(args.model_id):
        m = pull_hf(Store(args.home), args.model_id, args.as_id)
    else:
        m = pull(Store(args.home), args.model_id)
    print(f"{m['id']}: {m['total_bytes'] / 2**20:.1f} MiB in {len(m['shards'])} shards")


def _list(args) -> None:
    manifests = Store(args.home).list()
    if not manifests:
        print("no models installed; try `inpage models pull smollm2-135m`")
        return
    print(f"{'ID':24} {'ARCH':10} {'QUANT':8} {'PARAMS':>8} {'SIZE':>10} SHARDS")
    for m in manifests:
        print(f"{m['id']:24} {m['architecture']:10} {m['quantization']:8} "
              f"{m['parameter_count'] / 1e6:7.0f}M {m['total_bytes'] / 2**20:8.1f}MiB {len(m['shards'])}")


def _rm(args) -> None:
    Store(args.home).remove(args.model_id)
    print(f"removed {args.model_id}")


def _verify(args) -> int:
    store = Store(args.home)
    problems = store.verify(args.model_id)
    for p in problems:
        print(f"{args.model_id}: shard {p.file}: {p.problem}", file=sys.stderr)
    if problems:
        print(f"inpage: {args.model_id} is damaged; run `inpage models pull` or re-import it", file=sys.stderr)
        return 1
    print(f"{args.model_id}: {len(store.manifest(args.model_id)['shards'])} shards OK")
    return 0


def _import(args) -> None:
    m = Store(args.home).import_path(args.path, args.model_id, replace=args.replace, quant=args.quant)
    print(f"imported {m['id']}: {m['architecture']} {m['quantization']}, "
          f"{m['total_bytes'] / 2**20:.1f} MiB in {len(m['shards'])} shards")


def _synthetic(args) -> None:
    import tempfile

    from models.synthetic import write_synthetic

    store = Store(args.home)
    model_id = args.model_id or f"synthetic-{args.shape}-{args.quant}".lower().replace("_", "-").replace(".", "-")
    store.tmp_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=store.tmp_dir) as tmp:
        path = write_synthetic(args.shape, args.quant.upper(), Path(tmp) / "synthetic.gguf")
        m = store.import_gguf(path, model_id, replace=args.replace,
                              source={"kind": "synthetic", "shape": args.shape, "type": args.quant.upper()})
    print(f"imported {m['id']} (synthetic: random weights, for speed only): {m['architecture']} {m['quantization']}, "
          f"{m['total_bytes'] / 2**20:.1f} MiB in {len(m['shards'])} shards")


if __name__ == "__main__":
    sys.exit(main())
