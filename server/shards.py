"""Model shards, looked up by model id and sha256 in the manifest, never by a client-chosen path."""
from flask import Blueprint, abort, current_app, send_file

from models import manifest as mf

from . import store_of

bp = Blueprint("shards", __name__)

ONE_YEAR = 31536000


@bp.get("/models/<model_id>/<sha256>.gguf")
def shard(model_id, sha256):
    if not (mf.MODEL_ID.match(model_id) and mf.SHA256_HEX.match(sha256)):
        abort(404)
    path = store_of(current_app).shard_path(model_id, sha256)
    if path is None or not path.is_file():
        abort(404)
    # The sha256 is a strong validator: the bytes behind this URL can never change.
    response = send_file(path, mimetype="application/octet-stream", etag=sha256, max_age=ONE_YEAR,
                         conditional=True)
    response.cache_control.public = True
    response.cache_control.immutable = True
    return response
