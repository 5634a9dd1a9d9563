"""Requantize a GGUF: `inpage models import PATH --quant TYPE`.

TYPE is one type (F16, Q8_0, Q5_1, Q5_0, Q4_1, Q4_0, Q6_K, Q5_K, Q4_K, Q3_K, Q2_K) or a mix
(Q5_K_M, Q4_K_M, Q3_K_M). Which tensor gets which type re-implements llama.cpp's rules
(llama_tensor_get_type) for the llama family: the output matrix (or tied embeddings) gets Q6_K,
some attn_v and ffn_down layers get more bits in the mixes, and a tensor whose rows are not a
whole number of its type's blocks falls back as llama.cpp's tensor_type_fallback does.
1-D tensors (norms, biases) stay F32.
"""
from __future__ import annotations

import re
from pathlib import Path

import gguf
import numpy as np

from . import quants
from .errors import ModelError
from .gguf_file import open_gguf
from .shards import copy_metadata

Q = gguf.GGMLQuantizationType
F = gguf.LlamaFileType
# name -> (base type, file type); a mix differs from its base type only on the tensors rules pick.
TARGETS = {
    "F16": (Q.F16, F.MOSTLY_F16), "Q8_0": (Q.Q8_0, F.MOSTLY_Q8_0), "Q5_1": (Q.Q5_1, F.MOSTLY_Q5_1),
    "Q5_0": (Q.Q5_0, F.MOSTLY_Q5_0), "Q4_1": (Q.Q4_1, F.MOSTLY_Q4_1), "Q4_0": (Q.Q4_0, F.MOSTLY_Q4_0),
    "Q6_K": (Q.Q6_K, F.MOSTLY_Q6_K), "Q5_K": (Q.Q5_K, F.MOSTLY_Q5_K_S), "Q4_K": (Q.Q4_K, F.MOSTLY_Q4_K_S),
    "Q3_K": (Q.Q3_K, F.MOSTLY_Q3_K_S), "Q2_K": (Q.Q2_K, F.MOSTLY_Q2_K),
    "Q5_K_M": (Q.Q5_K, F.MOSTLY_Q5_K_M), "Q4_K_M": (Q.Q4_K, F.MOSTLY_Q4_K_M), "Q3_K_M": (Q.Q3_K, F.MOSTLY_Q3_K_M),
}
# llama.cpp's fallback when rows are not a whole number of a type's blocks.
FALLBACK = {Q.Q2_K: Q.Q4_0, Q.Q3_K: Q.Q4_0, Q.Q4_K: Q.Q5_0, Q.Q5_K: Q.Q5_1, Q.Q6_K: Q.Q8_0}
# llama.cpp never quantizes BERT's position and token-type embeddings.
KEEP_F32 = {"position_embd.weight", "token_types.weight"}
BLK = re.compile(r"^blk\.(\d+)\.(.+)\.weight$")


def target_type(name: str) -> str:
    key = name.upper()
    if key not in TARGETS:
        raise ModelError(f"unknown quantization {name!r}", f"use one of {', '.join(TARGETS)}")
    return key


def use_more_bits(i_layer: int, n_layers: int) -> bool:
    return i_layer < n_layers // 8 or i_layer >= 7 * n_layers // 8 or (i_layer - n_layers // 8) % 3 == 2


def plan(tensors: list[tuple[str, tuple[int, ...]]], target: str) -> dict[str, Q]:
    """Type of every tensor, from (name, shape in ggml order: row length first) pairs."""
    base, _ = TARGETS[target]
    names = {n for n, _ in tensors}
    tied = "output.weight" not in names
    n_layers = 1 + max((int(m.group(1)) for n in names if (m := BLK.match(n))), default=-1)
    out = {}
    for name, shape in tensors:
        if len(shape) < 2 or name in KEEP_F32:
            out[name] = Q.F32
            continue
        new = base
        layer = BLK.match(name)
        part = layer.group(2) if layer else None
        i = int(layer.group(1)) if layer else 0
        quantized = base not in (Q.F16, Q.F32)
        if quantized and (name == "output.weight" or (tied and name == "token_embd.weight")):
            block = gguf.GGML_QUANT_SIZES[base][0]
            new = Q.Q8_0 if shape[0] % block else (base if base == Q.Q8_0 else Q.Q6_K)
        elif part == "attn_v":
            if target == "Q3_K_M":
                new = Q.Q5_K if i < 2 else Q.Q4_K
            elif target in ("Q4_K_M", "Q5_K_M") and use_more_bits(i, n_layers):
                new = Q.Q6_K
        elif part == "ffn_down":
            if target == "Q3_K_M":
                new = Q.Q5_K if i < n_layers // 16 else Q.Q4_K
            elif target in ("Q4_K_M", "Q5_K_M") and use_more_bits(i, n_layers):
                new = Q.Q6_K
        elif part == "attn_output" and target == "Q3_K_M":
            new = Q.Q4_K
        out[name] = _fallback(new, shape[0])
    return out


def _fallback(qtype: Q, row: int) -> Q:
    if row % gguf.GGML_QUANT_SIZES[qtype][0] == 0:
        return qtype
    qtype = FALLBACK.get(qtype, Q.F16)
    return qtype if row % gguf.GGML_QUANT_SIZES[qtype][0] == 0 else Q.F16


def requantize_gguf(src: Path, dst: Path, target: str) -> Path:
    """Write SRC requantized to target (from any type the gguf package decodes) at DST."""
    reader = open_gguf(src)
    types = plan([(t.name, tuple(int(x) for x in t.shape)) for t in reader.tensors], target)
    arch = reader.get_field("general.architecture").contents()
    writer = gguf.GGUFWriter(dst, arch)
    copy_metadata(reader, writer, skip=("general.file_type",))
    writer.add_key_value("general.file_type", int(TARGETS[target][1]), gguf.GGUFValueType.UINT32)
    steps = []
    for t in reader.tensors:
        new_type = types[t.name]
        shape = [int(x) for x in reversed(t.shape)]  # numpy order: rows, then columns
        if new_type == t.tensor_type:
            steps.append((t, new_type, None))
            writer.add_tensor_info(t.name, t.data.shape, t.data.dtype, t.data.nbytes, t.tensor_type)
            continue
        nbytes = int(np.prod(shape[:-1])) * shape[-1] // gguf.GGML_QUANT_SIZES[new_type][0] * gguf.GGML_QUANT_SIZES[new_type][1]
        steps.append((t, new_type, shape))
        writer.add_tensor_info(t.name, shape, np.float32, nbytes, new_type)
    # The writer checks state order; tensors are converted one at a time to bound memory.
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for t, new_type, shape in steps:
        if shape is None:
            writer.write_tensor_data(t.data)
            continue
        values = gguf.quants.dequantize(t.data, t.tensor_type).reshape(shape).astype(np.float32)
        if new_type == Q.F32:
            data = values
        elif new_type == Q.F16:
            data = values.astype(np.float16)
        else:
            data = quants.quantize(values, new_type)
        writer.write_tensor_data(data)
    writer.close()
    return dst

