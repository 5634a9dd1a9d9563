"""Convert a Hugging Face checkpoint (config.json + tensors + tokenizer.json) to one GGUF file.

The tensors come from safetensors (convert_dir) or ONNX initializers (onnx_weights.py); both are
dicts of HF name -> a reference with .shape, .dtype and .load(). Every name, shape and the
tokenizer are checked before a byte is written. Weights keep their precision (F32, or F16 when
the source is F16); BF16 widens to F32 exactly. Quantization happens afterwards (requantize.py).
"""
from __future__ import annotations


import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import gguf
import numpy as np

from . import hf_arch, tensor_names
from .errors import ModelError
from .hf_vocab import read_vocab
from .safetensors import read_dir

logging.getLogger("gguf.vocab").setLevel(logging.ERROR)


class TensorSource(Protocol):
    name: str
    dtype: str
    shape: tuple[int, ...]

    def load(self) -> np.ndarray: ...


@dataclass(frozen=True)
class Planned:
    gguf_name: str
    source: TensorSource
    shape: tuple[int, ...]
    out_dtype: type


@dataclass(frozen=True)
class Generated:
    """A tensor the converter computes from config.json rather than reads (rope_freqs.weight)."""
    name: str
    values: np.ndarray
    dtype: str = "F32"

    @property
    def shape(self) -> tuple[int, ...]:
        return self.values.shape

    def load(self) -> np.ndarray:
        return self.values


def permute_rope(w: np.ndarray, n_heads: int) -> np.ndarray:
    """HF q/k rows -> llama.cpp's: within each head, row i of the first half and row i of the
    second half (the pair HF's rotate_half rotates) become rows 2i and 2i+1. Works on weights
    (rows, cols) and biases (rows,)."""
    rows = w.shape[0]
    return w.reshape(n_heads, 2, rows // n_heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def unpermute_rope(w: np.ndarray, n_heads: int) -> np.ndarray:
    """Inverse of permute_rope: llama.cpp's q/k rows back to HF's."""
    rows = w.shape[0]
    return w.reshape(n_heads, rows // n_heads // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def convert_dir(model_dir: Path, out: Path) -> Path:
    """A Hugging Face model folder (safetensors weights) -> OUT, one GGUF file."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise ModelError(f"{model_dir}: not a folder", "give a .gguf, a .onnx or a Hugging Face model folder")
    cfg = hf_arch.read_config(model_dir / "config.json")
    return convert(cfg, read_dir(model_dir), model_dir, out, origin=model_dir.name)


def convert(cfg: hf_arch.HFConfig, tensors: dict[str, TensorSource], tokenizer_dir: Path, out: Path,
            origin: str) -> Path:
    plan = _plan(cfg, tensors, origin)
    if cfg.rope_freqs:  # first, where llama.cpp's converter puts it
        factors = np.asarray(cfg.rope_freqs, dtype=np.float32)
        plan.insert(0, Planned("rope_freqs.weight", Generated("rope_freqs", factors), factors.shape, np.float32))
    vocab = read_vocab(tokenizer_dir, cfg.vocab_size)
    pooling = hf_arch.read_pooling(tokenizer_dir) if cfg.arch.family == "bert" else None
    writer = gguf.GGUFWriter(out, cfg.arch.gguf_arch)
    writer.add_name(cfg.name or origin)
    if (license_id := model_card_license(tokenizer_dir)) is not None:
        writer.add_license(license_id)
    hf_arch.add_metadata(writer, cfg, pooling)
    if cfg.arch.family == "bert" and (max_seq := hf_arch.read_max_seq_length(tokenizer_dir)):
        # sentence-transformers cuts inputs there (256 tokens for all-MiniLM-L6-v2), below the
        # position table's 512. Our engine cuts there too; llama.cpp ignores the key (a context
        # length below the position table's makes it abort while tokenizing).
        writer.add_uint32(hf_arch.MAX_SEQ_KEY, max_seq)
    f16 = all(p.source.dtype == "F16" for p in plan if len(p.shape) > 1)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16 if f16 else gguf.LlamaFileType.ALL_F32)
    vocab.add_to_gguf(writer)
    for p in plan:
        nbytes = int(np.prod(p.shape)) * np.dtype(p.out_dtype).itemsize
        writer.add_tensor_info(p.gguf_name, p.shape, np.dtype(p.out_dtype), nbytes)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for p in plan:
        writer.write_tensor_data(_transform(cfg, p).astype(p.out_dtype))
    writer.close()
    return out


def model_card_license(model_dir: Path) -> str | None:
    """The `license:` of a Hugging Face model card's front matter (README.md), if it has one."""
    card = model_dir / "README.md"
    if not card.is_file():
        return None
    lines = card.read_text(encoding="utf-8", errors="replace").splitlines()
    if not lines or lines[0].strip() != "---":
        return None
    for line in lines[1:]:
        if line.strip() == "---":
            break
        if m := re.match(r"license:\s*(\S+)\s*$", line):
            return m.group(1).strip("'\"")
    return None


def _plan(cfg: hf_arch.HFConfig, tensors: dict[str, TensorSource], origin: str) -> list[Planned]:
    """Map and check every tensor; raise ModelError for unknown names, wrong shapes, missing tensors."""
    shapes = hf_arch.expected_shapes(cfg)
    plan: dict[str, Planned] = {}
    for hf_name, src in tensors.items():
        name = tensor_names.gguf_name(cfg.arch.family, hf_name)
        if name is None:
            raise ModelError(f"{origin}: tensor {hf_name} has no GGUF name for {cfg.arch.hf_names[0]}",
                             "the checkpoint does not match its config.json architecture")
        if name == "" or (name == "output.weight" and cfg.tied):
            continue
        bid = name.split(".")[1] if name.startswith("blk.") else None
        if bid is not None and int(bid) >= cfg.n_layers:
            raise ModelError(f"{origin}: tensor {hf_name} is in layer {bid} but config.json has {cfg.n_layers} layers",
                             "the checkpoint does not match its config.json")
        want = shapes[re.sub(r"^blk\.\d+\.", "blk.{bid}.", name)]
        if tuple(src.shape) != want:
            raise ModelError(f"{origin}: tensor {hf_name} has shape {list(src.shape)} but config.json implies {list(want)}",
                             "the weights and config.json belong to different models")
        if src.dtype not in ("F32", "F16", "BF16"):
            raise ModelError(f"{origin}: tensor {hf_name} is {src.dtype}", "weights must be F32, F16 or BF16")
        out_dtype = np.float16 if src.dtype == "F16" and len(want) > 1 else np.float32
        plan[name] = Planned(name, src, want, out_dtype)
    missing = [n for n in hf_arch.required(cfg) if n not in plan]
    if missing:
        raise ModelError(f"{origin}: {len(missing)} tensors are missing, first {missing[0]}",
                         "the checkpoint is incomplete; copy every weight file")
    return sorted(plan.values(), key=_order)


def _order(p: Planned):
    parts = p.gguf_name.split(".")
    return (1, int(parts[1]), p.gguf_name) if parts[0] == "blk" else ((0 if "embd" in p.gguf_name or "types" in p.gguf_name else 2), 0, p.gguf_name)


def _transform(cfg: hf_arch.HFConfig, p: Planned) -> np.ndarray:
    x = p.source.load()
    if cfg.arch.norm_plus_one and p.gguf_name.endswith("norm.weight"):
        x = x.astype(np.float32) + 1.0
    if cfg.arch.permute_qk:
        part = p.gguf_name.split(".")[2] if p.gguf_name.startswith("blk.") else ""
        if part == "attn_q":
            x = permute_rope(x, cfg.n_heads)
        elif part == "attn_k":
            x = permute_rope(x, cfg.n_kv_heads)
    return np.ascontiguousarray(x)
