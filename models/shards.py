"""Split a GGUF into shards in llama.cpp's gguf-split layout, and join shards back into one file.

Layout (as llama-gguf-split writes it): shard 1 carries every metadata key; every shard carries
split.no (u16, 0-based), split.count (u16) and split.tensors.count (i32); each shard is a complete
GGUF file holding a contiguous run of the tensors, in the original order. A tensor larger than the
shard size gets a shard of its own, as llama-gguf-split gives it: a tensor is never cut, so every
shard stays a GGUF that llama.cpp loads, and each is still hashed and fetched on its own.
"""
from __future__ import annotations

import logging
from pathlib import Path

import gguf

from .errors import ModelError
from .gguf_file import SPLIT_KEYS, open_gguf

MAX_SHARD_BYTES = 64 * 1024 * 1024

# Keys the writer derives itself, so copying them would duplicate them.
_DERIVED_KEYS = ("general.architecture",)

logging.getLogger("gguf.gguf_writer").setLevel(logging.ERROR)


def split_gguf(src: Path, out_dir: Path, max_shard_bytes: int = MAX_SHARD_BYTES) -> list[Path]:
    """Write SRC as shards of at most MAX_SHARD_BYTES each (or of one tensor larger than that) into
    OUT_DIR; return their paths in order."""
    reader = open_gguf(src)
    alignment = _alignment(reader)
    # The size limit the writer knows about counts tensor bytes only; shard 1 also holds the
    # header, the metadata and the tensor infos, and every tensor may be padded to the alignment.
    overhead = reader.data_offset + len(reader.tensors) * alignment
    budget = max_shard_bytes - overhead
    if not reader.tensors:
        raise ModelError(f"{src.name}: GGUF holds no tensors", "this is not a model file")
    if budget <= 0:
        raise ModelError(f"{src.name}: its header and metadata alone ({reader.data_offset} bytes) exceed a "
                         f"{max_shard_bytes}-byte shard", "this is a bug in inpage; please report it")

    writer = gguf.GGUFWriter(out_dir / "model.gguf", _field_str(reader, "general.architecture"),
                             split_max_size=budget)
    writer.data_alignment = alignment
    copy_metadata(reader, writer)
    for t in reader.tensors:
        writer.add_tensor_info(t.name, t.data.shape, t.data.dtype, t.data.nbytes, t.tensor_type)
    _write(writer, reader.tensors)

    paths = _shard_paths(out_dir / "model.gguf", len(writer.tensors))
    for p, held in zip(paths, writer.tensors):
        if p.stat().st_size > max_shard_bytes and len(held) > 1:
            raise ModelError(f"shard {p.name} came out at {p.stat().st_size} bytes, over {max_shard_bytes}, "
                             f"with {len(held)} tensors", "this is a bug in inpage; please report it")
    return paths


def join_gguf(shards: list[Path], dst: Path) -> Path:
    """Merge shards written by split_gguf (or llama-gguf-split) back into one GGUF at DST."""
    readers = [open_gguf(p) for p in shards]
    first = readers[0]
    count = _field_int(first, "split.count", 1)
    if count != len(readers):
        raise ModelError(f"{shards[0].name} says the model has {count} shards, got {len(readers)}",
                         "pass every shard, in order")
    for i, r in enumerate(readers):
        if _field_int(r, "split.no", 0) != i:
            raise ModelError(f"{shards[i].name} is not shard {i + 1} of {count}", "pass the shards in order")
    tensors = [t for r in readers for t in r.tensors]
    declared = _field_int(first, "split.tensors.count", len(tensors))
    if declared != len(tensors):
        raise ModelError(f"shards hold {len(tensors)} tensors but declare {declared}", "a shard is missing or foreign")

    writer = gguf.GGUFWriter(dst, _field_str(first, "general.architecture"))
    writer.data_alignment = _alignment(first)
    copy_metadata(first, writer)
    for t in tensors:
        writer.add_tensor_info(t.name, t.data.shape, t.data.dtype, t.data.nbytes, t.tensor_type)
    _write(writer, tensors)
    return dst


def _write(writer: gguf.GGUFWriter, tensors) -> None:
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for t in tensors:
        writer.write_tensor_data(t.data)
    writer.close()


def copy_metadata(reader: gguf.GGUFReader, writer: gguf.GGUFWriter, skip: tuple[str, ...] = ()) -> None:
    """Copy every metadata key the writer does not derive itself (and none named in skip)."""
    for key, field in reader.fields.items():
        if key.startswith("GGUF.") or key in _DERIVED_KEYS or key in SPLIT_KEYS or key in skip:
            continue
        vtype = field.types[0]
        sub_type = None
        if vtype == gguf.GGUFValueType.ARRAY:
            sub_type = field.types[-1]
            if len(field.types) > 2:
                raise ModelError(f"metadata key {key} is a nested array", "inpage cannot re-shard such a file")
        writer.add_key_value(key, field.contents(), vtype, sub_type=sub_type)


def _alignment(reader: gguf.GGUFReader) -> int:
    value = _field_int(reader, "general.alignment", gguf.GGUF_DEFAULT_ALIGNMENT)
    if value <= 0 or value & (value - 1) or value > 1 << 20:
        raise ModelError(f"general.alignment is {value}, not a power of two up to 1 MiB", "the file is corrupt")
    return value


def _field_int(reader: gguf.GGUFReader, key: str, default: int) -> int:
    field = reader.get_field(key)
    return default if field is None else int(field.contents())


def _field_str(reader: gguf.GGUFReader, key: str) -> str:
    field = reader.get_field(key)
    if field is None:
        raise ModelError(f"GGUF has no {key} key", "this is not a model file llama.cpp can load")
    return str(field.contents())


def _shard_paths(path: Path, n: int) -> list[Path]:
    if n == 1:
        return [path]
    return [path.with_name(gguf.SHARD_NAME_FORMAT.format(path.stem, i + 1, n)) for i in range(n)]
