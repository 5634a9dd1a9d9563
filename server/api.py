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


@bp.route("/v1/<path:rest>", methods=["GET", "POST", "PUT", "DELETE", "PATCH"])
def openai_endpoint(rest):
    """The OpenAI-compatible endpoint is answered in the browser, by the page's service worker and
    an open inpage tab; a request that reaches the host came from outside such a page."""
    message = ("inpage answers /v1/ inside your browser: call it from a page of this origin that the inpage "
               "service worker controls (open the app once), e.g. with the openai SDK and baseURL '/v1'. "
               "The host runs no model and never sees these requests.")
    return jsonify(error={"message": message, "type": "service_unavailable", "param": None,
                          "code": "answered_in_browser"}), 503
