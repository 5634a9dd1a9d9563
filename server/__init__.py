"""The inpage host: serves the page, the engine, vendored npm files, manifests and model shards.

It never sees user data: the one route that accepts a body is the remote tier's proxy
(server/remote.py), which forwards a conversation the user allowed to a server the operator
configured, and keeps none of it.
"""
import mimetypes
from importlib import metadata
from pathlib import Path

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from models.store import Store

from . import headers

ROOT = Path(__file__).resolve().parent.parent

mimetypes.add_type("application/wasm", ".wasm")
mimetypes.add_type("text/javascript", ".js")
mimetypes.add_type("text/javascript", ".mjs")
mimetypes.add_type("text/plain", ".wgsl")
mimetypes.add_type("application/manifest+json", ".webmanifest")


def create_app(config: dict | None = None) -> Flask:
    app = Flask(__name__, static_folder=str(ROOT / "static"), static_url_path="/static",
                template_folder=str(ROOT / "static" / "templates"))
    app.config.update(
        INPAGE_HOME=None,
        ENGINE_DIR=str(ROOT / "webgpu"),
        NODE_MODULES=str(ROOT / "node_modules"),
        MAX_CONTENT_LENGTH=1024,
        TRUSTED_HOSTS=None,
        REMOTES=[],  # server.remote.Remote: the OpenAI-compatible servers of the remote tier
        APP_VERSION=metadata.version("inpage"),  # part of the offline shell's version (server/shell.py)
    )
    app.config.update(config or {})
    app.url_map.merge_slashes = False  # '//x' is a 404, not a redirect to '/x'
    app.extensions["inpage_store"] = Store(app.config["INPAGE_HOME"])

    headers.install(app)

    from . import api, assets, pages, remote, shards, shell
    app.register_blueprint(pages.bp)
    app.register_blueprint(shell.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(shards.bp)
    app.register_blueprint(assets.bp)
    remote.install(app)

    @app.errorhandler(HTTPException)
    def http_error(e):
        return jsonify(error=e.name, detail=e.description), e.code

    return app


def store_of(app: Flask) -> Store:
    return app.extensions["inpage_store"]
