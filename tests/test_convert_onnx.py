"""ONNX exports -> GGUF: weights found under torch.onnx.export's names, external data, gaps."""
import json

import gguf
import numpy as np
import pytest

from models import reference
from models.convert_hf import convert_dir
from models.errors import ModelError
from models.onnx_weights import convert_onnx

from .hf_fixtures import onnx_from_hf, read_hf, tiny_llama_dir
from .hf_oracle import llama_logits
from .test_convert_hf import IDS


@pytest.mark.parametrize("external", [False, True])
def test_an_onnx_llama_with_gqa_converts_like_its_checkpoint(tmp_path, external):
    d = tiny_llama_dir(tmp_path / "export", n_heads=6, n_kv_heads=2, head_dim=8, tied=False)
    tensors, _ = read_hf(d)
    onnx_path = onnx_from_hf(tensors, d / "model.onnx", external=external)
    (d / "model.safetensors").unlink()       # nothing but the ONNX file holds the weights now
    out = convert_onnx(onnx_path, tmp_path / "out.gguf")
    _check_logits_against(tensors, d, out)


def _check_logits_against(tensors, d, out):
    c = json.loads((d / "config.json").read_text())
    cfg, w = reference.load(out)
    got, want = reference.forward(cfg, w, IDS), llama_logits(tensors, c, IDS)
    assert np.linalg.norm(got - want) / np.linalg.norm(want) < 1e-5


def test_minilm_through_onnx_gives_the_same_gguf_tensors(minilm_folder, tmp_path):
    tensors, _ = read_hf(minilm_folder)
    export = tmp_path / "export"
    export.mkdir()
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        (export / name).write_bytes((minilm_folder / name).read_bytes())
    (export / "1_Pooling").mkdir()
    (export / "1_Pooling/config.json").write_bytes((minilm_folder / "1_Pooling/config.json").read_bytes())
    via_onnx = convert_onnx(onnx_from_hf(tensors, export / "model.onnx"), tmp_path / "onnx.gguf")
    via_st = convert_dir(minilm_folder, tmp_path / "st.gguf")
    a, b = gguf.GGUFReader(via_onnx), gguf.GGUFReader(via_st)
    assert [t.name for t in a.tensors] == [t.name for t in b.tensors]
    for ta, tb in zip(a.tensors, b.tensors):
        assert np.array_equal(ta.data, tb.data), ta.name
    assert a.fields["bert.pooling_type"].contents() == 1


def test_missing_external_data_is_named(tmp_path):
    d = tiny_llama_dir(tmp_path / "export")
    tensors, _ = read_hf(d)
    path = onnx_from_hf(tensors, d / "model.onnx", external=True)
    (d / "model.onnx_data").unlink()
    with pytest.raises(ModelError, match="model.onnx_data.*missing or too short"):
        convert_onnx(path, tmp_path / "out.gguf")


def test_a_node_reading_a_missing_initializer_is_named(tmp_path):
    d = tiny_llama_dir(tmp_path / "export")
    tensors, _ = read_hf(d)
    path = onnx_from_hf(tensors, d / "model.onnx", drop="model.layers.1.mlp.up_proj.weight")
    with pytest.raises(ModelError, match=r"node /model/layers/1/mlp/up_proj/MatMul reads 'onnx::MatMul_\d+', which no initializer"):
        convert_onnx(path, tmp_path / "out.gguf")


def test_an_onnx_file_without_its_config_is_refused(tmp_path):
    d = tiny_llama_dir(tmp_path / "export")
    tensors, _ = read_hf(d)
    path = onnx_from_hf(tensors, tmp_path / "lonely.onnx")
    with pytest.raises(ModelError, match="no config.json"):
        convert_onnx(path, tmp_path / "out.gguf")
