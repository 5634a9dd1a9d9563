"""The catalog of installed models and their manifests, read from the store on every request."""
from flask import Blueprint, abort, current_app, jsonify

from models import manifest as mf
from models.errors import ModelError
from models.pull import DEFAULT_MODEL

from . import store_of

bp = Blueprint("api", __name__)


@bp.get("/api/models")
def catalog():
    models = [mf.summary(m) for m in store_of(current_app).list()]
    chat = [m["id"] for m in models if m["task"] == "chat"]
    default = DEFAULT_MODEL if DEFAULT_MODEL in chat else (chat[0] if chat else None)
    return jsonify(models=models, default=default)


@bp.get("/api/models/<model_id>/manifest.json")
def manifest(model_id):
    if not mf.MODEL_ID.match(model_id):
        abort(404)
    try:
        return jsonify(store_of(current_app).manifest(model_id))
    except ModelError:
        abort(404)
