"""Open a GGUF file with the gguf package, after checking that its declared layout fits its bytes."""
from __future__ import annotations

import mmap
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
    check_layout(path, n_tensors, n_kv, size)
    try:
        reader = gguf.GGUFReader(path, "r")
    except (ValueError, KeyError, IndexError, OverflowError, struct.error, UnicodeDecodeError, MemoryError):
        raise ModelError(f"{path.name}: malformed GGUF (its layout checks out, but the gguf package cannot read it)",
                         "the file is corrupt; download it again") from None
    for t in reader.tensors:
        end = t.data_offset + t.n_bytes
        if end > size:
            raise ModelError(f"{path.name}: tensor {t.name} ends at byte {end} but the file has {size} bytes",
                             "the file is truncated; download it again")
    return reader


# GGUF value types: id -> struct format of a scalar (8 is a string, 9 an array).
SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
MAX_DIMS = 4


def check_layout(path: Path, n_tensors: int, n_kv: int, size: int) -> None:
    """Walk the metadata and tensor infos as webgpu/gguf.js does, and refuse what it refuses, in the
    file's terms (which key, which tensor, which field), before the gguf package maps the file."""
    with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        _walk(path, data, n_tensors, n_kv, size)


def _walk(path: Path, data, n_tensors: int, n_kv: int, size: int) -> None:
    at = HEADER_BYTES
    fail = lambda what: ModelError(f"{path.name}: {what}", "the file is corrupt or truncated; download it again")

    def take(fmt: str):
        nonlocal at
        n = struct.calcsize("<" + fmt)
        if at + n > len(data):
            raise fail(f"the header runs past the end of the file at byte {at}")
        v = struct.unpack_from("<" + fmt, data, at)[0]
        at += n
        return v

    def string(what: str) -> str:
        nonlocal at
        n = take("Q")
        if at + n > len(data):
            raise fail(f"{what}: a {n}-byte string at byte {at} runs past the end of the file")
        raw = data[at:at + n]
        at += n
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise fail(f"{what}: a string at byte {at - n} is not UTF-8") from None

    def value(kind: int, key: str):
        nonlocal at
        if kind in SCALARS:
            return take(SCALARS[kind])
        if kind == 8:
            return string(f"key {key}")
        if kind == 9:
            item, count = take("I"), take("Q")
            if item in SCALARS:
                n = count * struct.calcsize(SCALARS[item])
                if at + n > len(data):
                    raise fail(f"key {key}: an array of {count} values runs past the end of the file")
                at += n
                return None
            if item not in (8, 9) or count > len(data):
                raise fail(f"key {key}: an array of unknown value type {item}")
            for _ in range(count):
                value(item, key)
            return None
        raise fail(f"key {key}: unknown value type {kind}")

    alignment = 32
    for _ in range(n_kv):
        key = string(f"key #{_ + 1}")
        v = value(take("I"), key)
        if key == "general.alignment":
            alignment = v
    if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1) or alignment > 1 << 20:
        raise fail(f"general.alignment {alignment} is not a power of two")
    infos = []
    for _ in range(n_tensors):
        name = string(f"tensor info #{_ + 1}")
        n_dims = take("I")
        if not 1 <= n_dims <= MAX_DIMS:
            raise fail(f"tensor {name} has {n_dims} dimensions")
        dims = [take("Q") for _ in range(n_dims)]
        infos.append((name, dims, take("I"), take("Q")))
    data_start = -(-at // alignment) * alignment
    for name, dims, kind, offset in infos:
        try:
            block, block_bytes = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType(kind)]
        except (ValueError, KeyError):
            raise fail(f"tensor {name} has unknown type {kind}") from None
        if offset % alignment:
            raise fail(f"tensor {name}: data offset {offset} is not a multiple of general.alignment {alignment}")
        n_elements = 1
        for d in dims:
            n_elements *= d
        if dims[0] % block:
            raise fail(f"tensor {name}: a row of {dims[0]} is not a whole number of "
                       f"{gguf.GGMLQuantizationType(kind).name} blocks of {block}")
        end = data_start + offset + n_elements // block * block_bytes
        if end > size:
            raise fail(f"tensor {name} ends at byte {end} but the file has {size} bytes")


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
