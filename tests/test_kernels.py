"""Every wasm kernel against numpy, in both SIMD builds, on shapes that are not round numbers."""
import gguf
import numpy as np
import pytest

from models.synthetic import F16_FIELDS

from .wasm_kernels import Kernels

Q = gguf.GGMLQuantizationType
# F16_FIELDS: byte offsets of the f16 scale fields inside one block, per type (the rest is free bits).
QUANT_TYPES = list(F16_FIELDS)
ALL_TYPES = [Q.F32, Q.F16] + QUANT_TYPES
K_QUANTS = (Q.Q2_K, Q.Q3_K, Q.Q4_K, Q.Q5_K, Q.Q6_K)
Q8A = 80  # bytes of one activation block (block_q8a)
QA_MAX = 16256  # largest |q| of a 14-bit activation
LAYOUT_ROWS, LAYOUT_X4 = 0, 1  # matmul's layout argument (quants.h)


@pytest.fixture(scope="module", params=["simd", "relaxed"])
def k(request):
    return Kernels(request.param)


def random_rows(qtype, n_rows, n_cols, rng):
    """Random weights of qtype as raw bytes (n_rows, row_bytes) and their dequantized f32 values."""
    if qtype == Q.F32:
        w = rng.standard_normal((n_rows, n_cols)).astype(np.float32)
        return w.view(np.uint8), w
    if qtype == Q.F16:
        w = rng.standard_normal((n_rows, n_cols)).astype(np.float16)
        return w.view(np.uint8), w.astype(np.float32)
    block, type_size = gguf.GGML_QUANT_SIZES[qtype]
    n_blocks = n_rows * n_cols // block
    raw = rng.integers(0, 256, size=(n_blocks, type_size), dtype=np.uint8)
    for off in F16_FIELDS[qtype]:  # valid, modest halves where the format keeps its scales
        raw[:, off:off + 2] = (rng.standard_normal(n_blocks) * 0.05).astype(np.float16).view(np.uint8).reshape(-1, 2)
    if qtype == Q.Q8_0:  # ggml's Q8_0 rounds to [-127, 127]; the signed relaxed dot relies on it
        q = raw[:, 2:].view(np.int8)
        q[q == -128] = -127
    raw = raw.reshape(n_rows, -1)
    return raw, gguf.quants.dequantize(raw, qtype).reshape(n_rows, n_cols).astype(np.float32)


def quantize_q8a(x, bits=14):
    """numpy mirror of quantize_q8a: per 32 values, d = max|x|/16256, q = round-half-even(x/d);
    with 8 bits, q = 128 round(x/(128 d)) and 128 d = max|x|/127."""
    blocks = x.reshape(-1, 32).astype(np.float32)
    step = np.abs(blocks).max(axis=1) / np.float32(QA_MAX if bits == 14 else 127)
    inv = np.where(step > 0, np.float32(1) / np.where(step > 0, step, 1), 0).astype(np.float32)
    q = np.rint(blocks * inv[:, None]).astype(np.int32)
    if bits == 14:
        return step, q
    return step * np.float32(1 / 128), 128 * q


def cols_for(qtype):
    return 512 if qtype in (Q.Q2_K, Q.Q3_K, Q.Q4_K, Q.Q5_K, Q.Q6_K) else 96


def fail_report(expected, got):
    err = np.abs(expected - got)
    worst = np.argsort(err.ravel())[::-1][:4]
    return f"max error {err.max():.3g}; worst (expected, got): " + ", ".join(
        f"({expected.ravel()[i]:.5g}, {got.ravel()[i]:.5g})" for i in worst)


@pytest.mark.parametrize("qtype", ALL_TYPES, ids=lambda t: t.name)
def test_dequantize_row_matches_the_gguf_package(k, qtype):
    rng = np.random.default_rng(int(qtype))
    raw, expected = random_rows(qtype, 3, cols_for(qtype), rng)
    src, dst = k.put(raw), k.alloc(expected.size * 4)
    assert k("dequantize_row", int(qtype), src, dst, expected.size) == 0
    got = k.get(dst, expected.size).reshape(expected.shape)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7, err_msg=fail_report(expected, got))


@pytest.mark.parametrize("bits", [14, 8])
def test_quantize_q8a_matches_numpy(k, bits):
    rng = np.random.default_rng(5)
    x = (rng.standard_normal((3, 96)) * np.array([[1.0], [1e-4], [300.0]])).astype(np.float32)
    x[0, :32] = 0.0  # an all-zero block
    blocks = k.alloc(3 * 3 * Q8A)
    k("quantize_q8a", k.put(x), blocks, 96, 3, bits)
    raw = k.get(blocks, 9 * Q8A, np.uint8).reshape(9, Q8A)
    d, q = quantize_q8a(x, bits)
    qh, ql = raw[:, 16:48].view(np.int8).astype(np.int32), raw[:, 48:80].view(np.int8).astype(np.int32)
    assert qh.min() >= -127 and qh.max() <= 127 and ql.min() >= 0 and ql.max() <= 127
    np.testing.assert_array_equal(128 * qh + ql, q)
    np.testing.assert_allclose(raw[:, :4].copy().view(np.float32).ravel(), d, rtol=1e-7)
    sums = raw[:, 8:16].copy().view(np.int32)
    np.testing.assert_array_equal(sums, q.reshape(9, 2, 16).sum(axis=2))
    ds = raw[:, 4:8].copy().view(np.float32).ravel()
    np.testing.assert_allclose(ds, d * q.astype(np.float32).sum(axis=1), rtol=1e-6)
    # Every value within half a step: d at 14 bits, 128 d at 8 bits (whose ql are then all 0).
    step = float(d.max()) * (1 if bits == 14 else 128)
    np.testing.assert_allclose((d[:, None] * q).reshape(x.shape), x, rtol=0, atol=step * 0.5 + 1e-30)
    if bits == 8:
        assert not ql.any() and np.abs(qh).max() == 127


@pytest.mark.parametrize("qtype", ALL_TYPES, ids=lambda t: t.name)
def test_matmul_matches_numpy_over_split_row_ranges(k, qtype):
    rng = np.random.default_rng(100 + int(qtype))
    n_rows, n_cols, n_tokens = 37, cols_for(qtype), 7  # F32: 4-row tiles and a row left; pairs of tokens and one left
    raw, w = random_rows(qtype, n_rows, n_cols, rng)
    x = rng.standard_normal((n_tokens, n_cols)).astype(np.float32)
    x[1] *= 50.0
    d, q = quantize_q8a(x)
    x_seen = x if qtype in (Q.F32, Q.F16) else (d[:, None] * q).reshape(n_tokens, n_cols)
    expected = x_seen.astype(np.float64) @ w.T.astype(np.float64)  # (n_tokens, n_rows)

    w_ptr, xf_ptr = k.put(raw), k.put(x)
    xq_ptr = k.alloc(n_tokens * n_cols // 32 * Q8A)
    k("quantize_q8a", xf_ptr, xq_ptr, n_cols, n_tokens, 14)
    out_stride = n_rows + 3
    out = k.alloc(n_tokens * out_stride * 4)
    for begin, end in [(0, 13), (13, 14), (14, 37)]:  # three uneven "threads"
        k("matmul", int(qtype), LAYOUT_ROWS, w_ptr, xq_ptr, xf_ptr, out, n_cols, begin, end, n_tokens, out_stride, 14)
    got = k.get(out, n_tokens * out_stride).reshape(n_tokens, out_stride)[:, :n_rows]
    scale = np.abs(x_seen).max(axis=1, keepdims=True) * np.abs(w).sum(axis=1)[None, :] + 1e-30
    rel = np.abs(got - expected) / scale
    assert rel.max() < 2e-6, fail_report(expected, got)

    # Against unquantized activations the error is the 14-bit activation rounding: under 1e-4.
    exact = x.astype(np.float64) @ w.T.astype(np.float64)
    assert np.linalg.norm(got - exact) / np.linalg.norm(exact) < 1e-4


def test_exp(k):
    x = np.linspace(-87, 88, 1000, dtype=np.float32)
    ptr = k.put(x)
    k("exp_inplace", ptr, x.size)
    np.testing.assert_allclose(k.get(ptr, x.size), np.exp(x.astype(np.float64)), rtol=2e-6)


def test_rmsnorm(k):
    rng = np.random.default_rng(7)
    x, w = rng.standard_normal((2, 40)).astype(np.float32), rng.standard_normal(40).astype(np.float32)
    out = k.alloc(x.size * 4)
    k("rmsnorm", k.put(x), k.put(w), out, 40, 1e-5, 2)
    expected = x / np.sqrt((x.astype(np.float64) ** 2).mean(axis=1, keepdims=True) + 1e-5) * w
    np.testing.assert_allclose(k.get(out, x.size).reshape(2, 40), expected, rtol=1e-5, atol=1e-6)


def rope_table(positions, n_rot, theta):
    freqs = theta ** (-np.arange(0, n_rot, 2, dtype=np.float64) / n_rot)
    angles = np.asarray(positions, dtype=np.float64)[:, None] * freqs[None, :]
    return np.stack([np.cos(angles), np.sin(angles)], axis=-1).reshape(len(positions), n_rot).astype(np.float32)


@pytest.mark.parametrize("norm", [False, True], ids=["plain", "head-norm"])
@pytest.mark.parametrize("neox", [0, 1])
def test_rope(k, neox, norm):
    rng = np.random.default_rng(8 + neox)
    n_tokens, n_heads, head_dim, n_rot = 3, 5, 16, 12
    x = (rng.standard_normal((n_tokens, n_heads, head_dim)) * 3).astype(np.float32)
    cs = rope_table([4, 5, 6], n_rot, 10000.0)
    ptr = k.put(x)
    w = rng.standard_normal(head_dim).astype(np.float32)
    k("rope", ptr, k.put(cs), n_heads, head_dim, n_rot, neox, n_tokens, n_heads * head_dim, k.put(w) if norm else 0, 1e-6)
    got = k.get(ptr, x.size).reshape(x.shape)
    if norm:  # each head RMS-normalized and weighted first (Qwen3's and Gemma 3's q/k norms)
        x = (x / np.sqrt((x.astype(np.float64) ** 2).mean(axis=-1, keepdims=True) + 1e-6) * w).astype(np.float32)
    c, s = cs[:, 0::2][:, None, :], cs[:, 1::2][:, None, :]
    half = n_rot // 2
    a = np.arange(half) if neox else 2 * np.arange(half)
    b = a + half if neox else a + 1
    expected = x.copy()
    expected[..., a] = x[..., a] * c - x[..., b] * s
    expected[..., b] = x[..., a] * s + x[..., b] * c
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


# Shapes: tiny; and head_dim 40 (two 16-dim register blocks and a 4-dim tail) with 13 queries, so
# that the key counts (4-key blocks and their tails) take every remainder mod 4.
# Gemma's options: a query scale other than 1/sqrt(head_dim), soft-capped scores, a sliding window.
GEMMA_OPTIONS = [(None, 0.0, 0), (0.3, 0.0, 0), (None, 1.5, 0), (None, 0.0, 5), (0.2, 2.0, 3)]


@pytest.mark.parametrize("kv", ["f32", "f16"])
@pytest.mark.parametrize("options", GEMMA_OPTIONS, ids=["plain", "scale", "softcap", "window", "all"])
@pytest.mark.parametrize("shape", [(6, 2, 8, 16, 5, 3), (4, 4, 40, 48, 22, 13)], ids=["small", "blocks"])
@pytest.mark.parametrize("causal", [1, 0], ids=["causal", "bidirectional"])
def test_attention_is_grouped_and_split_by_heads(k, causal, shape, options, kv):
    scale, softcap, window = options
    if window and not causal:
        pytest.skip("windows are for causal attention")
    rng = np.random.default_rng(9)
    n_heads, n_kv_heads, head_dim, n_ctx, pos0, n_tokens = shape
    q = rng.standard_normal((n_tokens, n_heads, head_dim)).astype(np.float32)
    kc = rng.standard_normal((n_kv_heads, n_ctx, head_dim)).astype(np.float32)
    vc = rng.standard_normal((n_kv_heads, n_ctx, head_dim)).astype(np.float32)
    if kv == "f16":  # the cache holds halves; the expected values are what they hold
        kc, vc = kc.astype(np.float16), vc.astype(np.float16)
    out, scores = k.alloc(q.size * 4), k.alloc(n_ctx * 4)
    # q rows sit inside wider rows (the qkv buffer), 7 floats of padding after each.
    q_rows = np.concatenate([q.reshape(n_tokens, -1), np.full((n_tokens, 7), np.nan, np.float32)], axis=1)
    qp, kp, vp = k.put(q_rows), k.put(kc), k.put(vc)
    kc, vc = kc.astype(np.float32), vc.astype(np.float32)
    for begin, end in [(0, n_heads - 2), (n_heads - 2, n_heads)]:
        k("attention", qp, q_rows.shape[1], kp, vp, out, scores, n_heads, n_kv_heads, head_dim, n_ctx, pos0, n_tokens, causal,
          scale or 1 / np.sqrt(head_dim), softcap, window, begin, end, int(kv == "f16"))
    got = k.get(out, q.size).reshape(q.shape)
    expected = np.zeros_like(q, dtype=np.float64)
    for t in range(n_tokens):
        for h in range(n_heads):
            kv = h // (n_heads // n_kv_heads)
            # causal: positions 0..own; bidirectional (an encoder): the sequence's pos0..pos0+n_tokens-1
            keys = slice(0, pos0 + t + 1) if causal else slice(pos0, pos0 + n_tokens)
            if window:
                keys = slice(max(0, pos0 + t + 1 - window), pos0 + t + 1)
            s = kc[kv, keys] @ q[t, h] * (scale or 1 / np.sqrt(head_dim))
            if softcap:
                s = softcap * np.tanh(s / softcap)
            p = np.exp(s - s.max())
            expected[t, h] = (p / p.sum()) @ vc[kv, keys]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_layernorm(k):
    rng = np.random.default_rng(11)
    x = (rng.standard_normal((3, 44)) * 4 + 2).astype(np.float32)
    w, b = rng.standard_normal(44).astype(np.float32), rng.standard_normal(44).astype(np.float32)
    ptr = k.put(x)
    k("layernorm", ptr, k.put(w), k.put(b), ptr, 44, 1e-12, 3)  # in place, as the encoder runs it
    x64 = x.astype(np.float64)
    mu, var = x64.mean(axis=1, keepdims=True), x64.var(axis=1, keepdims=True)
    np.testing.assert_allclose(k.get(ptr, x.size).reshape(3, 44), (x64 - mu) / np.sqrt(var + 1e-12) * w + b, rtol=1e-5, atol=1e-5)


def test_gelu_is_the_erf_form(k):
    import math
    x = np.concatenate([np.linspace(-9, 9, 397), [0.0, -0.0, 1e-6, -30.0, 30.0]]).astype(np.float32)
    out = k.alloc(x.size * 4)
    k("gelu", k.put(x), out, x.size)
    expected = np.array([v * (1 + math.erf(v / math.sqrt(2))) / 2 for v in x.astype(np.float64)])
    np.testing.assert_allclose(k.get(out, x.size), expected, rtol=1e-6, atol=2e-7)


def test_dot_rows_for_the_vector_store(k):
    rng = np.random.default_rng(12)
    V, q = rng.standard_normal((11, 36)).astype(np.float32), rng.standard_normal(36).astype(np.float32)
    out = k.alloc(11 * 4)
    k("dot_rows", k.put(V), k.put(q), out, 11, 36)  # two blocks of four rows and three more
    np.testing.assert_allclose(k.get(out, 11), V.astype(np.float64) @ q, rtol=1e-5, atol=1e-5)


def test_geglu_is_the_tanh_form(k):
    rng = np.random.default_rng(13)
    g = np.concatenate([np.linspace(-12, 12, 41), [0.0, 40.0, -40.0]]).astype(np.float32)
    u = rng.standard_normal(44).astype(np.float32)
    out = k.alloc(44 * 4)
    k("geglu", k.put(g), k.put(u), out, 44)
    g64 = g.astype(np.float64)
    expected = 0.5 * g64 * (1 + np.tanh(np.sqrt(2 / np.pi) * (g64 + 0.044715 * g64 ** 3))) * u
    np.testing.assert_allclose(k.get(out, 44), expected, rtol=2e-6, atol=1e-6)


def test_softcap_rows(k):
    x = np.concatenate([np.linspace(-200, 200, 37), [0.0, 1e-4]]).astype(np.float32)  # 4-blocks and a tail
    ptr = k.put(x)
    k("softcap_rows", ptr, x.size, 30.0)
    np.testing.assert_allclose(k.get(ptr, x.size), 30 * np.tanh(x.astype(np.float64) / 30), rtol=2e-6, atol=1e-6)


def test_swiglu_and_add(k):
    rng = np.random.default_rng(10)
    g, u = (rng.standard_normal(44) * 5).astype(np.float32), rng.standard_normal(44).astype(np.float32)
    out = k.alloc(44 * 4)
    k("swiglu", k.put(g), k.put(u), out, 44)
    np.testing.assert_allclose(k.get(out, 44), g / (1 + np.exp(-g.astype(np.float64))) * u, rtol=1e-5, atol=1e-6)
    a = k.put(g)
    k("add", a, k.put(u), a, 44)
    np.testing.assert_allclose(k.get(a, 44), g + u, rtol=1e-7)


@pytest.mark.parametrize("bits", [14, 8], ids=["a14", "a8"])
@pytest.mark.parametrize("n_tokens", [1, 2, 5], ids=["decode", "pair", "batch"])
@pytest.mark.parametrize("qtype", [t for t in ALL_TYPES if t not in (Q.F32, Q.F16)], ids=lambda t: t.name)
def test_repacked_x4_matmul_matches_the_row_layout(k, qtype, n_tokens, bits):
    """Every quantized type repacked four rows at a time (K-quants' sub-block scales and mins
    folded into per-32 or per-16 f32 scales) computes what the gguf package's dequantization does:
    one token, a pair, and a batch (each block unpacked once for all tokens); with 14-bit
    activations, and with 8-bit ones, whose ql half the kernels skip."""
    rng = np.random.default_rng(300 + int(qtype))
    n_rows, n_cols = 36, 512 if qtype in K_QUANTS else 160  # two K-quant super-blocks per row
    raw, w = random_rows(qtype, n_rows, n_cols, rng)
    x = rng.standard_normal((n_tokens, n_cols)).astype(np.float32)
    d, q = quantize_q8a(x, bits)
    x_seen = (d[:, None] * q).reshape(n_tokens, n_cols)
    expected = x_seen.astype(np.float64) @ w.T.astype(np.float64)

    src = k.put(raw)
    n_packed = k("x4_bytes", int(qtype), n_rows, n_cols)
    assert n_packed >= raw.size  # scales widen from f16 to f32
    packed = k.alloc(n_packed)
    assert k("repack_x4", int(qtype), src, packed, n_rows, n_cols) == 0
    xf = k.put(x)
    xq = k.alloc(n_tokens * n_cols // 32 * Q8A)
    k("quantize_q8a", xf, xq, n_cols, n_tokens, bits)
    out = k.alloc(n_tokens * n_rows * 4)
    for begin, end in [(0, 12), (12, 16), (16, 36)]:
        k("matmul", int(qtype), LAYOUT_X4, packed, xq, xf, out, n_cols, begin, end, n_tokens, n_rows, bits)
    got = k.get(out, n_tokens * n_rows).reshape(n_tokens, n_rows)
    scale = np.abs(x_seen).max(axis=1, keepdims=True) * np.abs(w).sum(axis=1)[None, :]
    assert (np.abs(got - expected) / scale).max() < 2e-6, fail_report(expected, got)


@pytest.mark.parametrize("qtype", [t for t in ALL_TYPES if t not in (Q.F32, Q.F16)], ids=lambda t: t.name)
def test_rows_read_back_from_the_x4_layout(k, qtype):
    """A tied embedding is held once, repacked for the LM head; token lookups read its rows back
    from there and get the gguf package's dequantization of the original rows."""
    rng = np.random.default_rng(500 + int(qtype))
    n_rows, n_cols = 12, 512 if qtype in K_QUANTS else 160
    raw, w = random_rows(qtype, n_rows, n_cols, rng)
    packed = k.alloc(k("x4_bytes", int(qtype), n_rows, n_cols))
    assert k("repack_x4", int(qtype), k.put(raw), packed, n_rows, n_cols) == 0
    y = k.alloc(n_cols * 4)
    for row in (0, 5, 10, 11):
        assert k("dequantize_x4_row", int(qtype), packed, row, n_cols, y) == 0
        got = k.get(y, n_cols)
        np.testing.assert_allclose(got, w[row], rtol=1e-6, atol=1e-7, err_msg=fail_report(w[row], got))
    assert k("dequantize_x4_row", int(Q.F16), packed, 0, n_cols, y) == -1


def test_repack_refuses_what_it_cannot_pack(k):
    assert k("x4_bytes", int(Q.F16), 4, 256) == 0
    assert k("x4_bytes", int(Q.Q4_0), 6, 32) == 0
    assert k("x4_bytes", int(Q.Q4_K), 4, 160) == 0  # not whole super-blocks
    assert k("repack_x4", int(Q.F16), 0, 0, 4, 256) == -1
    assert k("repack_x4", int(Q.Q4_0), 0, 0, 6, 32) == -1


@pytest.mark.parametrize("kv", ["f32", "f16"])
def test_kv_store(k, kv):
    rng = np.random.default_rng(11)
    n_tokens, n_kv_heads, head_dim, n_ctx, pos0 = 3, 2, 8, 10, 4
    src = rng.standard_normal((n_tokens, n_kv_heads, head_dim)).astype(np.float32)
    dtype = np.float16 if kv == "f16" else np.float32
    if kv == "f16":  # halves' edge cases: rounding ties, subnormals, zeros, beyond the f16 range
        src.reshape(-1)[:12] = [1 + 2**-11, 1 + 3 * 2**-11, 2**-24 * 2.5, 2**-24 * 0.49, -0.0, 6e-8, 1e-5,
                                65519.0, 65520.0, -1e9, 2**-14 * (1 - 2**-11), -2**-14]
    # Rows of the source sit 5 floats apart more than they need (k and v inside the qkv buffer).
    rows = np.concatenate([src.reshape(n_tokens, -1), np.full((n_tokens, 5), np.nan, np.float32)], axis=1)
    cache = k.put(np.zeros((n_kv_heads, n_ctx, head_dim), dtype))
    k("kv_store", k.put(rows), rows.shape[1], cache, n_tokens, n_kv_heads, head_dim, n_ctx, pos0, int(kv == "f16"))
    got = k.get(cache, n_kv_heads * n_ctx * head_dim, dtype).reshape(n_kv_heads, n_ctx, head_dim)
    expected = np.zeros_like(got)
    with np.errstate(over="ignore"):
        expected[:, pos0:pos0 + n_tokens] = src.transpose(1, 0, 2).astype(dtype)
    if kv == "f16":  # saturated, where numpy's conversion gives an infinity
        expected[np.isinf(expected)] = np.copysign(65504, expected[np.isinf(expected)])
    np.testing.assert_array_equal(got.view(np.uint16 if kv == "f16" else np.uint32),
                                  expected.view(np.uint16 if kv == "f16" else np.uint32))


def quantize_i8_rows(V):
    """Per-row int8 codes and scales, as the vector store's kernel makes them (ties away from zero)."""
    amax = np.abs(V).max(axis=1)
    inv = np.where(amax > 0, np.float32(127) / np.where(amax > 0, amax, 1), 0).astype(np.float32)
    c = V * inv[:, None]
    return (np.sign(c) * np.floor(np.abs(c) + 0.5)).astype(np.int8), (amax / np.float32(127)).astype(np.float32)


def test_int8_scan_for_the_vector_store(k):
    rng = np.random.default_rng(13)
    n, d = 13, 48  # three blocks of 16 lanes
    V = rng.standard_normal((n, d)).astype(np.float32)
    V[3] = 0.0                          # a zero row: scale 0, codes 0
    V[5] *= 1e4                         # magnitudes do not matter: one scale per row
    V[7, :] = 0.5                       # exact ties: 63.5 rounds away from zero to 127
    codes_ptr, scales_ptr = k.alloc(n * d), k.alloc(n * 4)
    k("quantize_i8_rows", k.put(V), codes_ptr, scales_ptr, n, d)
    codes = k.get(codes_ptr, n * d, np.int8).reshape(n, d)
    scales = k.get(scales_ptr, n)
    want_codes, want_scales = quantize_i8_rows(V)
    np.testing.assert_array_equal(codes, want_codes)
    np.testing.assert_allclose(scales, want_scales, rtol=1e-7)
    assert codes.min() >= -127 and codes.max() <= 127

    q = rng.standard_normal(d).astype(np.float32)
    (qc,), (qs,) = quantize_i8_rows(q[None, :])
    q_abs, q_neg = np.abs(qc).astype(np.int8), np.where(qc < 0, -1, 0).astype(np.int8)
    exact = codes.astype(np.int64) @ qc.astype(np.int64) * scales.astype(np.float64) * qs
    out = k.alloc(n * 4)
    args = (codes_ptr, scales_ptr, k.put(q_abs), k.put(q_neg), float(qs))
    k("dot_i8_rows", *args, 0, n, d, out)  # every row in order
    np.testing.assert_allclose(k.get(out, n), exact, rtol=1e-6)
    rows = np.array([12, 0, 5, 5, 3], dtype=np.int32)  # an inverted list: any rows, repeats allowed
    k("dot_i8_rows", *args, k.put(rows), rows.size, d, out)
    np.testing.assert_allclose(k.get(out, rows.size), exact[rows], rtol=1e-6)
    # and the int8 scores rank like the float ones
    assert np.argmax(exact) == np.argmax(V.astype(np.float64) @ q)


HNSW_LEVELS = 8  # upper levels a row can have (vector_hnsw.c)


class Hnsw:
    """An hnsw_graph laid out in the kernels' memory as webgpu/vector_hnsw.js lays it out."""
    FIELDS = ["codes", "scales", "d", "n", "links0", "upper", "upper_of", "level", "visited", "stamp", "entry",
              "max_level", "M", "M0", "queue", "in_links"]

    def __init__(self, k, codes, scales, levels, M):
        self.k, self.d = k, codes.shape[1]
        self.codes, self.scales = k.put(codes), k.put(scales)
        cap = len(levels)
        upper_of = np.full(cap, -1, np.int32)
        upper_of[levels > 0] = np.arange(int((levels > 0).sum()), dtype=np.int32)
        fields = dict(codes=self.codes, scales=self.scales, d=self.d, n=cap,
                      links0=k.put(np.zeros(cap * (1 + 2 * M), np.int32)),
                      upper=k.put(np.zeros(max(1, (levels > 0).sum()) * HNSW_LEVELS * (1 + M), np.int32)),
                      upper_of=k.put(upper_of), level=k.put(levels.astype(np.int8)),
                      visited=k.put(np.zeros(cap, np.uint32)), stamp=0, entry=-1, max_level=-1, M=M, M0=2 * M,
                      queue=k.alloc(cap * 4), in_links=k.alloc(cap * 4))
        self.header = k.put(np.array([fields[f] for f in self.FIELDS], np.int32))
        self.out_slots, self.out_sims = k.alloc(2048 * 4), k.alloc(2048 * 4)

    def field(self, name, value=None):
        at = self.header + 4 * self.FIELDS.index(name)
        if value is not None:
            self.k.memory.write(self.k.store, np.int32(value).tobytes(), at)
        return int(self.k.get(at, 1, np.int32)[0])

    def set_rows(self, rows, codes, scales):
        for r, c, s in zip(rows, codes, scales):
            self.k.memory.write(self.k.store, c.tobytes(), self.codes + int(r) * self.d)
            self.k.memory.write(self.k.store, np.float32(s).tobytes(), self.scales + int(r) * 4)

    def search(self, qc, qs, ef):
        got = self.k("hnsw_search", self.header, self.k.put(qc), float(qs), ef, self.out_slots, self.out_sims)
        return self.k.get(self.out_slots, got, np.int32), self.k.get(self.out_sims, got)


def repair(g, passes=8):
    """hnsw_repair until it links no more rows (as vector_hnsw.js runs it); how many it linked."""
    linked = [g.k("hnsw_repair", g.header) for _ in range(passes)]
    assert linked[-1] == 0, f"rows still cut off after {passes} passes: {linked}"
    return sum(linked)


def test_hnsw_graph_finds_the_int8_neighbours_through_changes(k):
    # Tight clusters and small lists (M 6), where shrinking full lists leaves rows with no link into
    # them: hnsw_repair must find and link them. Then with ef >= n a search must reach every row, in
    # the exact int8 order with the exact scores. At ef 24 recall@10 against the exact order must
    # stay high: the neighbour lists are good ones. Both again after rows change in place, rows past
    # a shrunk n leave (among them the entry), and the changed rows are re-linked.
    rng = np.random.default_rng(21)
    n, d, M = 700, 48, 6
    centres = rng.standard_normal((24, d)).astype(np.float32)

    def rows(m):
        return centres[rng.integers(0, len(centres), m)] + 0.35 * rng.standard_normal((m, d)).astype(np.float32)

    V = rows(n)
    levels = np.minimum(np.floor(-np.log(rng.random(n) + 1e-12) / np.log(M)), HNSW_LEVELS).astype(np.int8)
    levels[-1], levels[10] = 6, 5  # the entry is the last row; row 10 the next highest
    codes, scales = quantize_i8_rows(V)
    g = Hnsw(k, codes, scales, levels, M)
    k("hnsw_link", g.header, 0, n, 40)
    assert repair(g) > 0
    assert g.field("entry") == n - 1 and g.field("max_level") == 6
    queries = rows(30)

    def check(codes, scales, n):
        recall = []
        for q in queries:
            (qc,), (qs,) = quantize_i8_rows(q[None, :])
            exact = codes[:n].astype(np.int64) @ qc.astype(np.int64) * scales[:n].astype(np.float64) * qs
            order = np.argsort(-exact, kind="stable")
            slots, sims = g.search(qc, qs, 2048)
            assert len(slots) == n, f"the search reached {len(slots)} of {n} rows"
            np.testing.assert_allclose(sims, exact[slots], rtol=1e-5, err_msg=fail_report(exact[slots], sims))
            np.testing.assert_allclose(sims, exact[order], rtol=1e-5)
            slots, _ = g.search(qc, qs, 24)
            recall.append(len(set(slots[:10]) & set(order[:10])) / 10)
        assert np.mean(recall) >= 0.95, recall

    check(codes, scales, n)
    changed = np.concatenate([rng.choice(n - 60, 80, replace=False), [10]])
    V[changed] = rows(len(changed))
    codes, scales = quantize_i8_rows(V)
    g.set_rows(changed, codes[changed], scales[changed])
    n -= 50
    g.field("n", n)
    for s in sorted(set(changed.tolist())):
        k("hnsw_link", g.header, s, s + 1, 40)
    repair(g)
    assert g.field("entry") < n
    check(codes, scales, n)
