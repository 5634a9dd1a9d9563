import gguf
import numpy as np
import pytest

from models.errors import ModelError
from models.requantize import TARGETS, plan, requantize_gguf, target_type, use_more_bits
from server.cli import main

Q = gguf.GGMLQuantizationType
# Relative RMS error allowed against the source values, per type actually written.
BOUNDS = {Q.F16: 1e-3, Q.Q8_0: 1.5e-2, Q.Q6_K: 2.5e-2, Q.Q5_1: 5e-2, Q.Q5_0: 5e-2, Q.Q5_K: 5e-2,
          Q.Q4_1: 0.1, Q.Q4_0: 0.12, Q.Q4_K: 0.12, Q.Q3_K: 0.25, Q.Q2_K: 0.45}


def llama_tensors(n_layers=16, dim=512, hidden=1024, tied=False):
    t = [("token_embd.weight", (dim, 1000)), ("output_norm.weight", (dim,))]
    if not tied:
        t.append(("output.weight", (dim, 1000)))
    for i in range(n_layers):
        t += [(f"blk.{i}.attn_norm.weight", (dim,)), (f"blk.{i}.attn_q.weight", (dim, dim)),
              (f"blk.{i}.attn_k.weight", (dim, 256)), (f"blk.{i}.attn_v.weight", (dim, 256)),
              (f"blk.{i}.attn_output.weight", (dim, dim)), (f"blk.{i}.ffn_gate.weight", (dim, hidden)),
              (f"blk.{i}.ffn_up.weight", (dim, hidden)), (f"blk.{i}.ffn_down.weight", (hidden, dim))]
    return t


def test_use_more_bits_is_llama_cpps_layer_pattern():
    assert [i for i in range(16) if use_more_bits(i, 16)] == [0, 1, 4, 7, 10, 13, 14, 15]


def test_q4_k_m_follows_llama_cpp():
    p = plan(llama_tensors(), "Q4_K_M")
    more = {0, 1, 4, 7, 10, 13, 14, 15}
    assert p["output.weight"] == Q.Q6_K and p["token_embd.weight"] == Q.Q4_K and p["output_norm.weight"] == Q.F32
    for i in range(16):
        assert p[f"blk.{i}.attn_v.weight"] == (Q.Q6_K if i in more else Q.Q4_K)
        assert p[f"blk.{i}.ffn_down.weight"] == (Q.Q6_K if i in more else Q.Q4_K)
        assert p[f"blk.{i}.attn_q.weight"] == p[f"blk.{i}.ffn_up.weight"] == p[f"blk.{i}.attn_output.weight"] == Q.Q4_K


def test_q3_k_m_and_q5_k_m_follow_llama_cpp():
    p = plan(llama_tensors(), "Q3_K_M")
    assert p["output.weight"] == Q.Q6_K and p["blk.3.attn_q.weight"] == Q.Q3_K
    assert [p[f"blk.{i}.attn_v.weight"] for i in (0, 1, 2)] == [Q.Q5_K, Q.Q5_K, Q.Q4_K]
    assert [p[f"blk.{i}.ffn_down.weight"] for i in (0, 1)] == [Q.Q5_K, Q.Q4_K]
    assert p["blk.5.attn_output.weight"] == Q.Q4_K
    p = plan(llama_tensors(), "Q5_K_M")
    assert p["blk.4.attn_v.weight"] == p["blk.4.ffn_down.weight"] == Q.Q6_K
    assert p["blk.5.attn_v.weight"] == p["blk.5.ffn_down.weight"] == Q.Q5_K


def test_tied_embeddings_and_short_rows_take_llama_cpps_fallbacks():
    p = plan(llama_tensors(tied=True), "Q4_0")
    assert p["token_embd.weight"] == Q.Q6_K  # tied: quantized like the output matrix
    p = plan(llama_tensors(dim=576, hidden=1536, tied=True), "Q4_K_M")
    assert p["token_embd.weight"] == Q.Q8_0  # rows of 576 are not whole Q4_K blocks
    assert p["blk.0.attn_q.weight"] == Q.Q5_0 and p["blk.0.attn_v.weight"] == Q.Q8_0
    assert p["blk.2.ffn_down.weight"] == Q.Q4_K  # its rows (1536) are six whole Q4_K blocks
    p = plan([("x.weight", (48, 4))], "Q4_K")     # 48 is neither whole Q4_K nor whole Q5_0 blocks
    assert p["x.weight"] == Q.F16


@pytest.mark.parametrize("target", list(TARGETS))
def test_the_tiny_model_requantizes_as_planned_within_bounds(tiny_gguf, tmp_path, target):
    reader = gguf.GGUFReader(tiny_gguf)
    planned = plan([(t.name, tuple(int(x) for x in t.shape)) for t in reader.tensors], target)
    out = requantize_gguf(tiny_gguf, tmp_path / "q.gguf", target_type(target))
    before = {t.name: gguf.quants.dequantize(t.data, t.tensor_type).reshape(-1) for t in reader.tensors}
    written = gguf.GGUFReader(out)
    for t in written.tensors:
        assert t.tensor_type == planned[t.name], t.name
        v = gguf.quants.dequantize(t.data, t.tensor_type).reshape(-1)
        src = before[t.name]
        rel = np.sqrt(np.mean((v - src) ** 2)) / np.sqrt(np.mean(src ** 2))
        assert rel < BOUNDS.get(t.tensor_type, 1e-6), f"{t.name} as {t.tensor_type.name}: {rel:.4f}"
    assert written.get_field("general.file_type").contents() == int(TARGETS[target][1])
    assert written.get_field("tokenizer.ggml.tokens").contents() == reader.get_field("tokenizer.ggml.tokens").contents()


def test_import_with_quant_writes_a_verified_model_and_leaves_no_temp(store, tiny_gguf):
    m = store.import_gguf(tiny_gguf, "tiny-q4", quant="q4_0")
    assert m["quantization"] == "Q4_0"
    assert store.verify("tiny-q4") == []
    assert list(store.tmp_dir.iterdir()) == []


def test_an_unknown_quantization_is_one_line_and_leaves_nothing(capsys, store, tiny_gguf):
    code = main(["--home", str(store.home), "models", "import", str(tiny_gguf), "--quant", "Q1_X"])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "unknown quantization 'Q1_X'" in err
    assert store.list() == []
    with pytest.raises(ModelError):
        target_type("IQ2_XS")
