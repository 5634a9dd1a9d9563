"""manifest.json: what a stored model is, and the content-addressed shards that make it up."""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from .errors import ModelError

FORMAT_VERSION = 1
MODEL_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
_REQUIRED = {
    "format_version": int, "id": str, "architecture": str, "quantization": str, "parameter_count": int,
    "total_bytes": int, "shards": list,
}


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def shard_file_name(sha256: str) -> str:
    return f"{sha256}.gguf"


def validate(manifest: dict, source: str = "manifest") -> dict:
    """Check a manifest's shape and values; return it unchanged or raise ModelError."""
    if not isinstance(manifest, dict):
        raise ModelError(f"{source}: not a JSON object", "re-import the model")
    for key, kind in _REQUIRED.items():
        if not isinstance(manifest.get(key), kind):
            raise ModelError(f"{source}: missing or mistyped key {key!r}", "re-import the model")
    if manifest["format_version"] != FORMAT_VERSION:
        raise ModelError(f"{source}: format version {manifest['format_version']} is not {FORMAT_VERSION}",
                         "upgrade inpage, or re-import the model")
    if not MODEL_ID.match(manifest["id"]):
        raise ModelError(f"{source}: bad model id {manifest['id']!r}", "re-import the model")
    total = 0
    for shard in manifest["shards"]:
        if not (isinstance(shard, dict) and isinstance(shard.get("bytes"), int) and shard["bytes"] > 0
                and isinstance(shard.get("sha256"), str) and SHA256_HEX.match(shard["sha256"])
                and shard.get("file") == shard_file_name(shard["sha256"])):
            raise ModelError(f"{source}: malformed shard entry {shard!r}", "re-import the model")
        total += shard["bytes"]
    if not manifest["shards"] or total != manifest["total_bytes"]:
        raise ModelError(f"{source}: shard sizes add up to {total}, not total_bytes {manifest['total_bytes']}",
                         "re-import the model")
    return manifest


def load(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ModelError(f"{path}: unreadable manifest ({e})", "re-import the model") from None
    return validate(data, str(path))


def write(path: Path, manifest: dict) -> None:
    validate(manifest, str(path))
    path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


# Architectures that embed text rather than chat (llama.cpp's encoder-only models).
EMBEDDING_ARCHS = ("bert",)


def summary(manifest: dict) -> dict:
    """The catalog entry the page sees: everything but the shard list and the template."""
    keys = ("id", "name", "architecture", "quantization", "parameter_count", "context_length", "license",
            "total_bytes")
    task = "embedding" if manifest.get("architecture") in EMBEDDING_ARCHS else "chat"
    return {k: manifest.get(k) for k in keys} | {"n_shards": len(manifest["shards"]), "task": task}
