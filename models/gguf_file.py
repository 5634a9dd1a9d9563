"""Open a GGUF file with the gguf package, after checking that its declared layout fits its bytes."""
from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

import gguf

from .errors import ModelError

GGUF_MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)
HEADER_BYTES = 24  # magic u32, version u32, n_tensors u64, n_kv u64
SPLIT_KEYS = ("split.no", "split.count", "split.tensors.count")


@dataclass(frozen=True)
class GGUFInfo:
    """What the manifest needs to know about one (unsplit) GGUF file."""

    architecture: str
    name: str | None
    quantization: str
    parameter_count: int
    context_length: int | None
    chat_template: str | None
    license: str | None


def open_gguf(path: str | os.PathLike[str]) -> gguf.GGUFReader:
    """Return a reader for PATH, or raise ModelError naming the first problem found."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such file", "give the path of a .gguf file")
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(HEADER_BYTES)
    if len(head) < HEADER_BYTES or head[:4] != GGUF_MAGIC:
        raise ModelError(f"{path.name}: not a GGUF file (bad magic or shorter than its header)",
                         "check that the file is a complete .gguf download")
    version, n_tensors, n_kv = struct.unpack("<IQQ", head[4:])
    if version not in SUPPORTED_VERSIONS:
        raise ModelError(f"{path.name}: GGUF version {version} is not supported (want 2 or 3)",
                         "re-export the model with a current llama.cpp")
    # Every tensor info and every KV pair takes at least 8 bytes, so counts beyond this are lies.
    if n_tensors > size // 8 or n_kv > size // 8:
        raise ModelError(f"{path.name}: header declares {n_tensors} tensors and {n_kv} keys, "
                         f"more than a {size}-byte file can hold", "the file is corrupt; download it again")
    try:
        reader = gguf.GGUFReader(path, "r")
    except (ValueError, KeyError, IndexError, OverflowError, struct.error, UnicodeDecodeError, MemoryError) as e:
        raise ModelError(f"{path.name}: malformed GGUF ({type(e).__name__}: {e})",
                         "the file is corrupt or truncated; download it again") from None
    for t in reader.tensors:
        end = t.data_offset + t.n_bytes
        if end > size:
            raise ModelError(f"{path.name}: tensor {t.name} ends at byte {end} but the file has {size} bytes",
                             "the file is truncated; download it again")
    return reader


def field_value(reader: gguf.GGUFReader, key: str, default=None):
    field = reader.get_field(key)
    return default if field is None else field.contents()


def describe(reader: gguf.GGUFReader) -> GGUFInfo:
    """Summarize a validated reader for the manifest."""
    arch = field_value(reader, "general.architecture")
    if not isinstance(arch, str) or not arch:
        raise ModelError("GGUF has no general.architecture key", "this is not a model file llama.cpp can load")
    if field_value(reader, "split.count", 1) > 1:
        raise ModelError("GGUF is one shard of a split model",
                         "import the merged file (llama-gguf-split --merge) instead")
    return GGUFInfo(
        architecture=arch,
        name=field_value(reader, "general.name"),
        quantization=_quantization(reader),
        parameter_count=int(sum(int(t.n_elements) for t in reader.tensors)),
        context_length=field_value(reader, f"{arch}.context_length"),
        chat_template=field_value(reader, "tokenizer.chat_template"),
        license=field_value(reader, "general.license"),
    )


def _quantization(reader: gguf.GGUFReader) -> str:
    """general.file_type names the intended mix; fall back to the type holding most bytes."""
    file_type = field_value(reader, "general.file_type")
    if file_type is not None:
        try:
            return gguf.LlamaFileType(file_type).name.removeprefix("MOSTLY_")
        except ValueError:
            pass
    by_type: dict[str, int] = {}
    for t in reader.tensors:
        by_type[t.tensor_type.name] = by_type.get(t.tensor_type.name, 0) + int(t.n_bytes)
    return max(by_type, key=by_type.get) if by_type else "unknown"
