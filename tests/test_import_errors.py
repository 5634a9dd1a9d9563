"""Bad checkpoints get one line that says what to do, and leave nothing in the store."""
import json

import pytest

from server.cli import main

from .hf_fixtures import onnx_from_hf, read_hf, tiny_llama_dir


def run_import(store, path, *extra):
    return main(["--home", str(store.home), "models", "import", str(path), *extra])


def assert_refused(capsys, store, code, *fragments, installed=()):
    err = capsys.readouterr().err
    assert code == 1, err
    assert err.count("\n") == 1 and err.startswith("inpage: "), err
    for f in fragments:
        assert f in err, err
    assert [m["id"] for m in store.list()] == list(installed)
    assert not store.tmp_dir.exists() or list(store.tmp_dir.iterdir()) == []


def test_a_good_folder_imports_at_the_asked_quantization(capsys, store, tmp_path):
    d = tiny_llama_dir(tmp_path / "my-model", dim=64, head_dim=16, hidden_dim=128)
    assert run_import(store, d, "--quant", "Q8_0") == 0
    m = store.manifest("my-model")
    assert m["quantization"] == "Q8_0" and m["source"] == {"kind": "hf-folder", "name": "my-model"}
    assert store.verify("my-model") == []
    assert list(store.tmp_dir.iterdir()) == []


@pytest.mark.parametrize("keep_bytes", [4, 100, -1000])
def test_truncated_safetensors(capsys, store, tmp_path, keep_bytes):
    d = tiny_llama_dir(tmp_path / "hf")
    st = d / "model.safetensors"
    data = st.read_bytes()
    st.write_bytes(data[:keep_bytes])
    assert_refused(capsys, store, run_import(store, d), "model.safetensors", "download it again")


def test_wrong_tensor_shapes(capsys, store, tmp_path):
    d = tiny_llama_dir(tmp_path / "hf")
    config = json.loads((d / "config.json").read_text())
    config["intermediate_size"] = 128
    (d / "config.json").write_text(json.dumps(config))
    assert_refused(capsys, store, run_import(store, d),
                   "model.layers.0.mlp.gate_proj.weight has shape [96, 48] but config.json implies [128, 48]")


def test_an_unknown_architecture(capsys, store, tmp_path):
    d = tiny_llama_dir(tmp_path / "hf")
    config = json.loads((d / "config.json").read_text())
    config["architectures"], config["model_type"] = ["GPTNeoXForCausalLM"], "gpt_neox"
    (d / "config.json").write_text(json.dumps(config))
    assert_refused(capsys, store, run_import(store, d), "'GPTNeoXForCausalLM' is not supported", "LlamaForCausalLM")


def test_an_onnx_file_with_missing_initializers(capsys, store, tmp_path):
    d = tiny_llama_dir(tmp_path / "hf")
    tensors, _ = read_hf(d)
    path = onnx_from_hf(tensors, d / "model.onnx", drop="model.layers.0.self_attn.k_proj.weight")
    assert_refused(capsys, store, run_import(store, path), "/model/layers/0/self_attn/k_proj/MatMul", "export it again")


def test_a_tokenizer_that_does_not_match_the_vocabulary(capsys, store, tmp_path):
    d = tiny_llama_dir(tmp_path / "hf")          # 265 tokens, 270 embedding rows
    tok = json.loads((d / "tokenizer.json").read_text())
    tok["added_tokens"].append({"id": 300, "content": "<|tool|>", "special": True})
    (d / "tokenizer.json").write_text(json.dumps(tok))
    assert_refused(capsys, store, run_import(store, d), "tokenizer.json has 301 tokens but the model's embeddings have 270 rows")


def test_a_failed_replace_keeps_the_installed_model(capsys, store, tmp_path):
    good = tiny_llama_dir(tmp_path / "good")
    assert run_import(store, good, "--id", "keep") == 0
    before = store.manifest("keep")
    bad = tiny_llama_dir(tmp_path / "bad")
    (bad / "model.safetensors").write_bytes((bad / "model.safetensors").read_bytes()[:5000])
    capsys.readouterr()
    assert_refused(capsys, store, run_import(store, bad, "--id", "keep", "--replace"), "truncated", installed=["keep"])
    assert store.manifest("keep") == before and store.verify("keep") == []


def test_a_split_gguf_is_imported_from_its_first_shard(capsys, store, tiny_gguf, tmp_path):
    from models.shards import split_gguf
    parts = split_gguf(tiny_gguf, tmp_path, 40 * 1024)
    assert len(parts) >= 2
    named = []
    for i, p in enumerate(parts):
        named.append(p.rename(tmp_path / f"tiny-{i + 1:05d}-of-{len(parts):05d}.gguf"))
    assert run_import(store, named[0]) == 0
    assert store.manifest("tiny")["quantization"] == "Q8_0"
    named[-1].unlink()
    assert_refused(capsys, store, run_import(store, named[0], "--id", "again"), "is missing", installed=["tiny"])
