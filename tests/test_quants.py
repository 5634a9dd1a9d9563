"""Our block codecs: byte-identical to the gguf package where it can quantize, error-bounded K-quants."""
import gguf
import numpy as np
import pytest

from models import quants

Q = gguf.GGMLQuantizationType


def awkward(rng, rows, cols):
    x = rng.standard_normal((rows, cols)).astype(np.float32)
    x[0, :64] = 0.0                 # all-zero blocks
    x[1] *= 1e4                     # large magnitudes
    x[2, :32] = 3.0                 # a constant block
    x[3, 5] = -50.0                 # one outlier
    return x


@pytest.mark.parametrize("qtype", [Q.Q8_0, Q.Q4_0, Q.Q4_1, Q.Q5_0, Q.Q5_1], ids=lambda t: t.name)
def test_bytes_equal_the_gguf_package(qtype):
    x = awkward(np.random.default_rng(int(qtype)), 8, 256)
    ours = quants.quantize(x, qtype)
    theirs = gguf.quants.quantize(x, qtype)
    assert ours.shape == theirs.shape and ours.dtype == np.uint8
    diff = np.argwhere(ours != theirs)
    assert diff.size == 0, f"first differing (row, byte): {diff[:4].tolist()}"


@pytest.mark.parametrize("qtype, bound", [(Q.Q6_K, 0.025), (Q.Q5_K, 0.05), (Q.Q4_K, 0.1), (Q.Q3_K, 0.25), (Q.Q2_K, 0.45)], ids=lambda v: getattr(v, "name", v))
def test_k_quants_decode_with_the_gguf_package_within_bounds(qtype, bound):
    rng = np.random.default_rng(50 + int(qtype))
    x = rng.standard_normal((16, 512)).astype(np.float32) * rng.uniform(0.01, 10, size=(16, 1)).astype(np.float32)
    raw = quants.quantize(x, qtype)
    assert raw.shape == (16, 512 // 256 * gguf.GGML_QUANT_SIZES[qtype][1])
    back = gguf.quants.dequantize(raw, qtype).reshape(x.shape)
    rel = np.sqrt(((back - x) ** 2).mean(axis=1)) / np.sqrt((x ** 2).mean(axis=1))
    print(f"\n{qtype.name} relative RMS reconstruction error: max {rel.max():.4f}, mean {rel.mean():.4f}")
    assert rel.max() < bound


def test_k_quant_errors_rank_with_their_bits():
    x = np.random.default_rng(3).standard_normal((32, 256)).astype(np.float32)
    err = {}
    for t in (Q.Q2_K, Q.Q3_K, Q.Q4_K, Q.Q5_K, Q.Q6_K):
        back = gguf.quants.dequantize(quants.quantize(x, t), t).reshape(x.shape)
        err[t] = float(np.sqrt(((back - x) ** 2).mean()))
    assert err[Q.Q6_K] < err[Q.Q5_K] < err[Q.Q4_K] < err[Q.Q3_K] < err[Q.Q2_K]


def test_rows_must_be_whole_blocks():
    with pytest.raises(ValueError, match="not a whole number of Q4_K blocks"):
        quants.quantize(np.zeros((2, 300), np.float32), Q.Q4_K)
