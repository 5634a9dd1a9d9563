"""Requantize a GGUF to one weight type: `inpage models import PATH --quant TYPE`.

Every 2-D weight becomes TYPE; 1-D tensors (norms, biases) stay F32. Rows that are not a whole
number of TYPE's blocks take llama.cpp's fallback for that type (a K-quant needs rows of 256).
The mixes (Q4_K_M and friends) are not here yet.
"""
from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np

from . import quants
from .errors import ModelError
from .gguf_file import open_gguf
from .shards import copy_metadata

Q = gguf.GGMLQuantizationType
TARGETS = {
    "F16": Q.F16, "Q8_0": Q.Q8_0, "Q5_1": Q.Q5_1, "Q5_0": Q.Q5_0, "Q4_1": Q.Q4_1, "Q4_0": Q.Q4_0,
    "Q6_K": Q.Q6_K, "Q5_K": Q.Q5_K, "Q4_K": Q.Q4_K,
}
# What llama.cpp uses when rows are not a whole number of a K-quant's 256-value blocks.
FALLBACK = {Q.Q6_K: Q.Q8_0, Q.Q5_K: Q.Q5_1, Q.Q4_K: Q.Q5_0}
FILE_TYPE = {
    Q.F16: gguf.LlamaFileType.MOSTLY_F16, Q.Q8_0: gguf.LlamaFileType.MOSTLY_Q8_0, Q.Q5_1: gguf.LlamaFileType.MOSTLY_Q5_1,
    Q.Q5_0: gguf.LlamaFileType.MOSTLY_Q5_0, Q.Q4_1: gguf.LlamaFileType.MOSTLY_Q4_1, Q.Q4_0: gguf.LlamaFileType.MOSTLY_Q4_0,
    Q.Q6_K: gguf.LlamaFileType.MOSTLY_Q6_K, Q.Q5_K: gguf.LlamaFileType.MOSTLY_Q5_K_M, Q.Q4_K: gguf.LlamaFileType.MOSTLY_Q4_K_M,
}


def target_type(name: str) -> Q:
    qtype = TARGETS.get(name.upper())
    if qtype is None:
        raise ModelError(f"unknown quantization {name!r}", f"use one of {', '.join(TARGETS)}")
    return qtype


def type_for(tensor, qtype: Q) -> Q:
    """The type one tensor gets when the model is requantized to qtype."""
    if len(tensor.shape) < 2:
        return Q.F32
    block = gguf.GGML_QUANT_SIZES[qtype][0]
    if int(tensor.shape[0]) % block:
        qtype = FALLBACK.get(qtype, Q.F16)
        if int(tensor.shape[0]) % gguf.GGML_QUANT_SIZES[qtype][0]:
            return Q.F16
    return qtype


def requantize_gguf(src: Path, dst: Path, qtype: Q) -> Path:
    """Write SRC with every weight requantized to qtype (from any type the gguf package decodes) at DST."""
    reader = open_gguf(src)
    arch = reader.get_field("general.architecture").contents()
    writer = gguf.GGUFWriter(dst, arch)
    copy_metadata(reader, writer, skip=("general.file_type",))
    writer.add_key_value("general.file_type", int(FILE_TYPE[qtype]), gguf.GGUFValueType.UINT32)
    plan = []
    for t in reader.tensors:
        new_type = type_for(t, qtype)
        shape = [int(x) for x in reversed(t.shape)]  # numpy order: rows, then columns
        if new_type == t.tensor_type:
            plan.append((t, new_type, None))
            writer.add_tensor_info(t.name, t.data.shape, t.data.dtype, t.data.nbytes, t.tensor_type)
            continue
        nbytes = int(np.prod(shape[:-1])) * shape[-1] // gguf.GGML_QUANT_SIZES[new_type][0] * gguf.GGML_QUANT_SIZES[new_type][1]
        plan.append((t, new_type, shape))
        writer.add_tensor_info(t.name, shape, np.float32, nbytes, new_type)
    # The writer checks state order; tensors are converted one at a time to bound memory.
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for t, new_type, shape in plan:
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

