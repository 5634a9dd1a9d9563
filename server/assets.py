"""The in-page engine (webgpu/) and the npm files the page may load, by explicit allowlist."""
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

ENGINE_SUFFIXES = {".js", ".wasm", ".wgsl"}


@bp.get("/vendor/<path:name>")
def vendor(name):
    target = VENDOR.get(name)
    if target is None:
        abort(404)
    path = Path(current_app.config["NODE_MODULES"]) / target
    if not path.is_file():
        abort(404, description="npm packages are not installed; run `make install` on the host")
    # .mjs files are served as what their URL says: JavaScript modules.
    return send_file(path, max_age=None, mimetype="text/javascript" if name.endswith(".js") else None)


@bp.get("/webgpu/<path:name>")
def engine(name):
    root = Path(current_app.config["ENGINE_DIR"]).resolve()
    path = (root / name).resolve()
    if root not in path.parents or path.suffix not in ENGINE_SUFFIXES or not path.is_file():
        abort(404)
    return send_file(path, max_age=None)
