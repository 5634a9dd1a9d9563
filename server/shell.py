"""The app shell the service worker keeps for offline use, and its version.

The shell is every file the page may load that is not user data or a model: the page itself,
static/ (but not the templates), the engine's modules and kernels under /webgpu/ (but not its
node-only code), and the allowlisted npm files. Its version is a hash of all their bytes (and of
the app's own version), written into /sw.js: a changed file changes the service worker, which
the browser then installs as a whole new cache, so an old page never mixes with new engine files.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from flask import Blueprint, Response, current_app, render_template

from .assets import ENGINE_SUFFIXES, VENDOR

bp = Blueprint("shell", __name__)

SERVICE_WORKER = Path(__file__).resolve().parent.parent / "static" / "service_worker.js"
PLACEHOLDER = "const SHELL = null; // the host writes the shell here"
ENGINE_EXCLUDED = ("node/",)
_digests: dict[tuple[str, int, int], str] = {}


@bp.get("/sw.js")
def service_worker():
    shell = shell_manifest()
    source = SERVICE_WORKER.read_text().replace(PLACEHOLDER, f"const SHELL = {json.dumps(shell)};", 1)
    return Response(source, mimetype="text/javascript")


def shell_manifest() -> dict:
    """{version, urls}: what the service worker caches, and the hash that names that cache."""
    files = shell_files()
    h = hashlib.sha256(current_app.config["APP_VERSION"].encode())
    for url, path in files:
        h.update(url.encode() + b"\0")
        # The page is rendered: hash what it renders to, not its template.
        h.update(_render_index().encode() if path is None else _digest(path).encode())
    return {"version": h.hexdigest()[:16], "urls": [url for url, _ in files]}


def shell_files() -> list[tuple[str, Path | None]]:
    app = current_app
    static = Path(app.static_folder)
    files: list[tuple[str, Path | None]] = [("/", None)]
    for path in sorted(static.rglob("*")):
        rel = path.relative_to(static).as_posix()
        if path.is_file() and not rel.startswith("templates/") and path != SERVICE_WORKER:
            files.append((f"/static/{rel}", path))
    engine = Path(app.config["ENGINE_DIR"])
    for path in sorted(engine.rglob("*")):
        rel = path.relative_to(engine).as_posix()
        if path.is_file() and path.suffix in ENGINE_SUFFIXES and not rel.startswith(ENGINE_EXCLUDED):
            files.append((f"/webgpu/{rel}", path))
    modules = Path(app.config["NODE_MODULES"])
    for name, target in sorted(VENDOR.items()):
        if (modules / target).is_file():
            files.append((f"/vendor/{name}", modules / target))
    return files


def _render_index() -> str:
    return render_template("index.html")


def _digest(path: Path) -> str:
    st = path.stat()
    key = (str(path), st.st_mtime_ns, st.st_size)
    if key not in _digests:
        _digests[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return _digests[key]
