import gguf
import numpy as np
import pytest

from models.errors import ModelError
from models.requantize import requantize_gguf, target_type
from server.cli import main

Q = gguf.GGMLQuantizationType
# Relative RMS error allowed against the source values, per target (the tiny model's Q8_0 source
# adds little of its own).
BOUNDS = {"F16": 1e-3, "Q8_0": 1.5e-2, "Q5_1": 5e-2, "Q5_0": 5e-2, "Q4_1": 0.1, "Q4_0": 0.12,
          "Q6_K": 1.5e-2, "Q5_K": 5e-2, "Q4_K": 0.12}


def values(path):
    r = gguf.GGUFReader(path)
    return {t.name: (t.tensor_type, gguf.quants.dequantize(t.data, t.tensor_type).reshape(-1)) for t in r.tensors}


@pytest.mark.parametrize("quant", list(BOUNDS))
def test_every_weight_is_requantized_within_bounds(tiny_gguf, tmp_path, quant):
    qtype = target_type(quant)
    out = requantize_gguf(tiny_gguf, tmp_path / "q.gguf", qtype)
    before, after = values(tiny_gguf), values(out)
    assert set(before) == set(after)
    for name, (ttype, v) in after.items():
        shape = next(t.shape for t in gguf.GGUFReader(tiny_gguf).tensors if t.name == name)
        if len(shape) == 1:
            assert ttype == Q.F32
            continue
        # The tiny model's rows are 64 wide: K-quants (rows of 256) take llama.cpp's fallbacks.
        expected = {Q.Q6_K: Q.Q8_0, Q.Q5_K: Q.Q5_1, Q.Q4_K: Q.Q5_0}.get(qtype, qtype) if int(shape[0]) % 256 else qtype
        assert ttype == expected, name
        src = before[name][1]
        rel = np.sqrt(np.mean((v - src) ** 2)) / np.sqrt(np.mean(src ** 2))
        assert rel < BOUNDS[quant], f"{name}: {rel:.4f}"
    meta = gguf.GGUFReader(out)
    assert meta.get_field("tokenizer.ggml.tokens").contents() == gguf.GGUFReader(tiny_gguf).get_field("tokenizer.ggml.tokens").contents()
    assert meta.get_field("general.file_type").contents() > 0


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
