"""The in-page engine (webgpu/) and the npm files the page may load, by explicit allowlist."""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, current_app, send_file

bp = Blueprint("assets", __name__)

# URL path under /vendor/ -> path under node_modules/. Nothing else from node_modules is served.
VENDOR = {
    "wllama/index.js": "@wllama/wllama/esm/index.js",
    "wllama/wllama.wasm": "@wllama/wllama/esm/wasm/wllama.wasm",
    "jinja/index.js": "@huggingface/jinja/dist/index.js",
    # PDF text layers for the document library; pdf.js parses in its own worker.
    "pdfjs/pdf.js": "pdfjs-dist/build/pdf.min.mjs",
    "pdfjs/pdf.worker.js": "pdfjs-dist/build/pdf.worker.min.mjs",
}

# URL prefix under /vendor/ -> a package folder whose modules (.mjs, and the .js the browser build
# imports) are served whole: the official `openai` SDK, for pages of this origin that call the
# page's own /v1/ endpoint.
VENDOR_TREES = {"openai/": "openai/"}

ENGINE_SUFFIXES = {".js", ".wasm", ".wgsl"}


@bp.get("/vendor/<path:name>")
def vendor(name):
    modules = Path(current_app.config["NODE_MODULES"])
    target = VENDOR.get(name)
    if target is None:
        target = _in_tree(modules, name)
    if target is None:
        abort(404)
    path = modules / target
    if not path.is_file():
        abort(404, description="npm packages are not installed; run `make install` on the host")
    # .mjs files are served as what their URL says: JavaScript modules.
    return send_file(path, max_age=None, mimetype="text/javascript" if name.endswith(".js") else None)


def _in_tree(modules: Path, name: str) -> str | None:
    for prefix, folder in VENDOR_TREES.items():
        if name.startswith(prefix) and name.endswith((".mjs", ".js")):
            root = (modules / folder).resolve()
            path = (root / name[len(prefix):]).resolve()
            if root in path.parents:
                return path.relative_to(modules.resolve()).as_posix()
    return None


@bp.get("/webgpu/<path:name>")
def engine(name):
    root = Path(current_app.config["ENGINE_DIR"]).resolve()
    path = (root / name).resolve()
    if root not in path.parents or path.suffix not in ENGINE_SUFFIXES or not path.is_file():
        abort(404)
    return send_file(path, max_age=None)
