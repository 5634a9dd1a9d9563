"""Read safetensors files with numpy, checking the header against the bytes really present.

Layout: u64 little-endian header length N, N bytes of JSON {name: {dtype, shape, data_offsets}},
then the tensor bytes; offsets are relative to the end of the header. The torch-free `safetensors`
package cannot read BF16 into numpy, so this reader does it itself (BF16 -> F32 is a shift).
"""
from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ModelError

DTYPES = {"F32": np.float32, "F16": np.float16, "BF16": np.uint16, "F64": np.float64,
          "I64": np.int64, "I32": np.int32, "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_}
MAX_HEADER_BYTES = 100 * 2**20


@dataclass(frozen=True)
class TensorRef:
    """One tensor of a safetensors file: where it is and what it holds; load() reads it."""

    path: Path
    name: str
    dtype: str
    shape: tuple[int, ...]
    start: int   # absolute byte offset in the file
    end: int

    def load(self) -> np.ndarray:
        """The tensor as float32 (float types) or its own integer type."""
        raw = np.fromfile(self.path, dtype=DTYPES[self.dtype], count=int(np.prod(self.shape, dtype=np.int64)),
                          offset=self.start).reshape(self.shape)
        if self.dtype == "BF16":
            return (raw.astype(np.uint32) << 16).view(np.float32)
        return raw.astype(np.float32) if raw.dtype.kind == "f" else raw


def read_header(path: Path) -> dict[str, TensorRef]:
    """Every tensor of PATH, after checking that each one's bytes lie inside the file."""
    size = path.stat().st_size
    fix = "the file is truncated or damaged; download it again"
    with path.open("rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise ModelError(f"{path.name}: not a safetensors file (shorter than 8 bytes)", fix)
        (n,) = struct.unpack("<Q", head)
        if n > min(size - 8, MAX_HEADER_BYTES):
            raise ModelError(f"{path.name}: header claims {n} bytes but the file has {size}", fix)
        try:
            header = json.loads(f.read(n))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ModelError(f"{path.name}: header is not JSON ({e})", fix) from None
    if not isinstance(header, dict):
        raise ModelError(f"{path.name}: header is not a JSON object", fix)
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype, shape, (start, end) = info["dtype"], tuple(int(d) for d in info["shape"]), info["data_offsets"]
        except (KeyError, TypeError, ValueError):
            raise ModelError(f"{path.name}: tensor {name} has a malformed header entry", fix) from None
        if dtype not in DTYPES:
            raise ModelError(f"{path.name}: tensor {name} has dtype {dtype}", "only float and integer tensors are read")
        expected = int(np.prod(shape, dtype=np.int64)) * np.dtype(DTYPES[dtype]).itemsize
        if end - start != expected or start < 0:
            raise ModelError(f"{path.name}: tensor {name} spans {end - start} bytes but {dtype}{list(shape)} "
                             f"needs {expected}", fix)
        if base + end > size:
            raise ModelError(f"{path.name}: tensor {name} ends at byte {base + end} but the file has {size} bytes", fix)
        out[name] = TensorRef(path, name, dtype, shape, base + start, base + end)
    return out


def read_dir(model_dir: Path) -> dict[str, TensorRef]:
    """All tensors of every *.safetensors file in MODEL_DIR (a sharded checkpoint is many files)."""
    files = sorted(model_dir.glob("*.safetensors"))
    if not files:
        raise ModelError(f"{model_dir}: no *.safetensors files", "give a Hugging Face model folder with its weights")
    out: dict[str, TensorRef] = {}
    for path in files:
        for name, ref in read_header(path).items():
            if name in out:
                raise ModelError(f"{model_dir}: tensor {name} is in both {out[name].path.name} and {path.name}",
                                 "remove the stray file")
            out[name] = ref
    return out
