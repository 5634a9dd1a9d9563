"""Read the weights of an ONNX export (a llama-family or BERT model) under their Hugging Face names.

torch.onnx.export keeps a parameter's name when it is used as is (norms, biases, embeddings),
but a Linear weight feeds a MatMul transposed, as an initializer named like "onnx::MatMul_123";
its HF name comes from the MatMul node's scope ("/model/layers.0/self_attn/q_proj/MatMul" ->
"model.layers.0.self_attn.q_proj.weight"). The export's folder must hold the model's config.json
and tokenizer.json, as Optimum's exports do. Then convert_hf.py writes the GGUF.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import hf_arch, tensor_names
from .convert_hf import convert
from .errors import ModelError

ONNX_DTYPES = {1: "F32", 10: "F16", 16: "BF16"}


@dataclass(frozen=True)
class OnnxRef:
    name: str
    dtype: str
    shape: tuple[int, ...]     # in HF orientation (out, in) for a Linear weight
    proto: object
    transposed: bool

    def load(self) -> np.ndarray:
        from onnx import numpy_helper
        x = numpy_helper.to_array(self.proto)
        x = x.astype(np.float32) if x.dtype != np.float16 else x
        return x.T if self.transposed else x


def convert_onnx(path: Path, out: Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such file", "give the path of a .onnx file")
    cfg = hf_arch.read_config(path.parent / "config.json")
    model = _load(path)
    return convert(cfg, hf_tensors(model, cfg.arch.family), path.parent, out, origin=path.name)


def _load(path: Path):
    try:
        import onnx
        from onnx import external_data_helper
    except ImportError:
        raise ModelError("reading ONNX needs the onnx package", "pip install onnx") from None
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as e:  # protobuf raises its own DecodeError, among others
        raise ModelError(f"{path.name}: not a readable ONNX model ({type(e).__name__})",
                         "the file is truncated or not ONNX; export it again") from None
    for t in model.graph.initializer:
        if external_data_helper.uses_external_data(t):
            info = {e.key: e.value for e in t.external_data}
            data = path.parent / info.get("location", "")
            end = int(info.get("offset", 0)) + int(info.get("length", 0))
            if not data.is_file() or data.stat().st_size < end:
                raise ModelError(f"{path.name}: initializer {t.name} lives in {info.get('location')!r}, "
                                 "which is missing or too short", "copy the export's external data file beside it")
    external_data_helper.load_external_data_for_model(model, str(path.parent))
    _check_inputs(path, model.graph)
    return model


def _check_inputs(path: Path, graph) -> None:
    """Every value a node reads must come from a graph input, an initializer or another node."""
    known = {i.name for i in graph.input} | {t.name for t in graph.initializer} | {""}
    known |= {o for n in graph.node for o in n.output}
    for node in graph.node:
        for name in node.input:
            if name not in known:
                raise ModelError(f"{path.name}: node {node.name or node.op_type} reads {name!r}, which no "
                                 "initializer, input or node provides", "the export is missing weights; export it again")


def hf_tensors(model, family: str) -> dict[str, OnnxRef]:
    """Float initializers that map to a tensor of FAMILY, keyed by their HF name."""
    consumers: dict[str, list] = {}
    for node in model.graph.node:
        for i, name in enumerate(node.input):
            consumers.setdefault(name, []).append((node, i))
    out = {}
    for t in model.graph.initializer:
        dtype = ONNX_DTYPES.get(t.data_type)
        if dtype is None or len(t.dims) == 0:
            continue
        shape = tuple(int(d) for d in t.dims)
        if tensor_names.gguf_name(family, t.name) is not None:
            out[t.name] = OnnxRef(t.name, dtype, shape, t, transposed=False)
            continue
        for node, slot in consumers.get(t.name, []):
            scope = _scope(node.name)
            if scope is None:
                continue
            suffix = "bias" if node.op_type == "Add" else "weight"
            hf = f"{scope}.{suffix}"
            if not tensor_names.gguf_name(family, hf):
                continue
            transposed = node.op_type == "MatMul" and slot == 1 and len(shape) == 2
            out[hf] = OnnxRef(hf, dtype, shape[::-1] if transposed else shape, t, transposed)
            break
    return out


def _scope(node_name: str) -> str | None:
    """"/model/layers.0/self_attn/q_proj/MatMul" -> "model.layers.0.self_attn.q_proj"."""
    parts = node_name.strip("/").split("/")
    return ".".join(parts[:-1]) if node_name.startswith("/") and len(parts) > 1 else None
