"""The model store: one folder per model holding manifest.json and content-addressed shards.

    $INPAGE_HOME/models/<id>/manifest.json
    $INPAGE_HOME/models/<id>/<sha256>.gguf     (one per shard)

Imports are built in $INPAGE_HOME/tmp and moved into place with one rename, so a failed or
interrupted import leaves nothing behind in models/.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from . import manifest as mf
from .convert_hf import convert_dir
from .errors import ModelError
from .gguf_file import describe, open_gguf
from .onnx_weights import convert_onnx
from .requantize import requantize_gguf, target_type
from .shards import MAX_SHARD_BYTES, join_gguf, split_gguf

# llama-gguf-split's shard names: <stem>-00001-of-00003.gguf
SPLIT_NAME = re.compile(r"-(\d{5})-of-(\d{5})\.gguf$")


def default_home() -> Path:
    if os.environ.get("INPAGE_HOME"):
        return Path(os.environ["INPAGE_HOME"])
    data = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data) / "inpage"


@dataclass(frozen=True)
class ShardProblem:
    file: str
    problem: str


class Store:
    def __init__(self, home: Path | str | None = None):
        self.home = Path(home) if home else default_home()
        self.models_dir = self.home / "models"
        self.tmp_dir = self.home / "tmp"

    def model_dir(self, model_id: str) -> Path:
        if not mf.MODEL_ID.match(model_id):
            raise ModelError(f"bad model id {model_id!r}", "ids use a-z, 0-9, '.', '_' and '-'")
        return self.models_dir / model_id

    def list(self) -> list[dict]:
        """Manifests of every model in the store; a damaged folder is skipped, not fatal."""
        if not self.models_dir.is_dir():
            return []
        out = []
        for d in sorted(self.models_dir.iterdir()):
            try:
                out.append(self.manifest(d.name))
            except ModelError:
                continue
        return out

    def manifest(self, model_id: str) -> dict:
        path = self.model_dir(model_id) / "manifest.json"
        if not path.is_file():
            raise ModelError(f"model {model_id!r} is not installed", "see `inpage models list`")
        m = mf.load(path)
        if m["id"] != model_id:
            raise ModelError(f"{path}: says it is {m['id']!r}", f"re-import {model_id}")
        return m

    def has(self, model_id: str) -> bool:
        return (self.model_dir(model_id) / "manifest.json").is_file()

    def shard_path(self, model_id: str, sha256: str) -> Path | None:
        """Path of a shard listed in the model's manifest, else None. Never built from unchecked input."""
        try:
            m = self.manifest(model_id)
        except ModelError:
            return None
        for shard in m["shards"]:
            if shard["sha256"] == sha256:
                return self.model_dir(model_id) / mf.shard_file_name(sha256)
        return None

    def import_path(self, src: Path | str, model_id: str | None = None, *, quant: str | None = None,
                    **kw) -> dict:
        """Import a GGUF, a Hugging Face folder or an ONNX file; the last two are converted first (F16 unless quant)."""
        src = Path(src)
        split = SPLIT_NAME.search(src.name)
        if split is None and (src.suffix.lower() == ".gguf" or not (src.is_dir() or src.suffix.lower() == ".onnx")):
            return self.import_gguf(src, model_id, quant=quant, **kw)
        if model_id is None and split is not None:
            model_id = _id_from_path(Path(src.name[:split.start()]))
        elif model_id is None:
            model_id = _id_from_path(src.parent if src.stem.lower() in ("model", "model_optimized") else src)
        if self.model_dir(model_id).exists() and not kw.get("replace"):
            raise ModelError(f"model {model_id!r} is already installed", "remove it first with `inpage models rm`")
        if quant:
            target_type(quant)
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f"{model_id}.convert.", dir=self.tmp_dir))
        try:
            if split is not None:
                kind, converted = "gguf-split", _join_split(src, int(split.group(2)), work / "joined.gguf")
            else:
                kind = "hf-folder" if src.is_dir() else "onnx"
                converted = (convert_dir if src.is_dir() else convert_onnx)(src, work / "converted.gguf")
            kw.setdefault("source", {"kind": kind, "name": src.name})
            if split is None:
                quant = quant or "F16"
            return self.import_gguf(converted, model_id, quant=quant, **kw)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def import_gguf(self, src: Path, model_id: str | None = None, *, name: str | None = None,
                    source: dict | None = None, replace: bool = False,
                    max_shard_bytes: int = MAX_SHARD_BYTES, quant: str | None = None) -> dict:
        """Import a GGUF as shards plus a manifest; quant requantizes every weight first (requantize.py)."""
        src = Path(src)
        model_id = _id_from_path(src) if model_id is None else model_id
        final = self.model_dir(model_id)
        if final.exists() and not replace:
            raise ModelError(f"model {model_id!r} is already installed", "remove it first with `inpage models rm`")
        target = target_type(quant) if quant else None
        info = describe(open_gguf(src))
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f"{model_id}.", dir=self.tmp_dir))
        work.chmod(0o755)
        try:
            if target is not None:
                src = requantize_gguf(src, work / "requantized.gguf", target)
                info = describe(open_gguf(src))
            split_dir = work / "split"
            split_dir.mkdir()
            shards = []
            for path in split_gguf(src, split_dir, max_shard_bytes):
                sha = mf.sha256_file(path)
                size = path.stat().st_size
                path.rename(work / mf.shard_file_name(sha))
                shards.append({"file": mf.shard_file_name(sha), "bytes": size, "sha256": sha})
            split_dir.rmdir()
            if target is not None:
                src.unlink()
            manifest = {
                "format_version": mf.FORMAT_VERSION,
                "id": model_id,
                "name": name or info.name or model_id,
                "architecture": info.architecture,
                "quantization": info.quantization,
                "parameter_count": info.parameter_count,
                "context_length": info.context_length,
                "chat_template": info.chat_template,
                "license": info.license,
                "source": source or {"kind": "file", "name": src.name},
                "total_bytes": sum(s["bytes"] for s in shards),
                "shards": shards,
            }
            mf.write(work / "manifest.json", manifest)
            self.models_dir.mkdir(parents=True, exist_ok=True)
            if final.exists():
                old = work.with_name(work.name + ".old")
                final.rename(old)
                work.rename(final)
                shutil.rmtree(old)
            else:
                work.rename(final)
            return manifest
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def remove(self, model_id: str) -> None:
        final = self.model_dir(model_id)
        if not final.is_dir():
            raise ModelError(f"model {model_id!r} is not installed", "see `inpage models list`")
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        doomed = Path(tempfile.mkdtemp(prefix=f"{model_id}.rm.", dir=self.tmp_dir))
        final.rename(doomed / model_id)
        shutil.rmtree(doomed)

    def verify(self, model_id: str) -> list[ShardProblem]:
        """Rehash every shard; return the problems found (empty when the model is intact)."""
        m = self.manifest(model_id)
        problems = []
        for shard in m["shards"]:
            path = self.model_dir(model_id) / shard["file"]
            if not path.is_file():
                problems.append(ShardProblem(shard["file"], "missing"))
            elif path.stat().st_size != shard["bytes"]:
                problems.append(ShardProblem(shard["file"], f"{path.stat().st_size} bytes, expected {shard['bytes']}"))
            elif mf.sha256_file(path) != shard["sha256"]:
                problems.append(ShardProblem(shard["file"], "sha256 mismatch (corrupt)"))
        return problems


def _join_split(first: Path, count: int, dst: Path) -> Path:
    """The shards of a llama-gguf-split model named like FIRST (…-00001-of-0000N.gguf), joined into DST."""
    m = SPLIT_NAME.search(first.name)
    stem = first.name[:m.start()]
    paths = [first.with_name(f"{stem}-{i:05d}-of-{count:05d}.gguf") for i in range(1, count + 1)]
    absent = [p.name for p in paths if not p.is_file()]
    if absent:
        raise ModelError(f"{first.name}: shard {absent[0]} is missing", "put every shard of the model in one folder")
    return join_gguf(paths, dst)


def _id_from_path(path: Path) -> str:
    stem = re.sub(r"[^a-z0-9._-]+", "-", path.stem.lower()).strip("-._")
    if not stem:
        raise ModelError(f"cannot derive a model id from {path.name!r}", "pass one with --id")
    return stem[:64]
