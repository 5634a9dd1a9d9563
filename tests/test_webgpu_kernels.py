"""Every WebGPU kernel against numpy, run in node on Dawn (SwiftShader here, no GPU needed).

Shapes are not multiples of the workgroup, tile or block sizes; tensors are split across
bindings; inputs include zero rows and large magnitudes. One node run takes every case.
"""
import json
import os
import subprocess

import gguf
import numpy as np
import pytest

from .test_kernels import ALL_TYPES, K_QUANTS, Q, random_rows

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SWIFTSHADER = "/usr/lib/chromium/vk_swiftshader_icd.json"


def node_env():
    env = dict(os.environ, XDG_RUNTIME_DIR=os.environ.get("XDG_RUNTIME_DIR", "/tmp"))
    if os.path.exists(SWIFTSHADER) and "VK_ICD_FILENAMES" not in os.environ:
        env["VK_ICD_FILENAMES"] = SWIFTSHADER
    return env


class Cases:
    def __init__(self, tmp):
        self.tmp = tmp
        self.cases = []
        self.checks = []

    def file(self, array):
        name = f"in-{len(os.listdir(self.tmp))}.bin"
        np.ascontiguousarray(array).tofile(self.tmp / name)
        return name

    def add(self, kernel, buffers, args, output, check, extra_outputs=()):
        self.cases.append({"kernel": kernel, "buffers": {k: self.file(v) for k, v in buffers.items()}, "args": args,
                           "output": output, "extra_outputs": list(extra_outputs)})
        self.checks.append((len(self.cases) - 1, output, list(extra_outputs), check))

    def run(self):
        spec = self.tmp / "cases.json"
        spec.write_text(json.dumps(self.cases))
        r = subprocess.run(["node", "--import", "./webgpu/node/register.js", "tests/webgpu_kernels.mjs", str(spec)],
                           cwd=ROOT, env=node_env(), capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr[-3000:]
        print(r.stdout.strip())
        read = lambda i, name, dtype: np.fromfile(self.tmp / f"out-{i}-{name}.bin", dtype=dtype)  # noqa: E731
        return [(check, lambda dtype, i=i, name=name: read(i, name, dtype),
                 {n: (lambda dtype, i=i, n=n: read(i, n, dtype)) for n in extras}) for i, name, extras, check in self.checks]


def assert_close(name, expected, got, rtol, atol):
    err = np.abs(expected - got)
    bad = err > atol + rtol * np.abs(expected)
    if bad.any():
        idx = np.argwhere(bad)[:5]
        pairs = [(tuple(i), float(expected[tuple(i)]), float(got[tuple(i)])) for i in idx]
        pytest.fail(f"{name}: {bad.sum()} of {bad.size} differ, max error {err.max():.4g}; first (index, expected, got): {pairs}")


def cols_of(qtype):
    return 768 if qtype in K_QUANTS else 160


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    rng = np.random.default_rng(2024)
    cases = Cases(tmp_path_factory.mktemp("webgpu"))

    # Mat-vec for every type: 37 rows (not a multiple of any workgroup or of the decode kernel's 4
    # rows per subgroup). 11 tokens: one full tile of 8 and a partial one, with a zero input row and
    # a large-magnitude one; 1 token: the decode kernel.
    for qtype in ALL_TYPES:
        for n_tok in (11, 1):
            n_rows, n_cols = 37, cols_of(qtype)
            raw, w = random_rows(qtype, n_rows, n_cols, rng)
            x = rng.standard_normal((n_tok, n_cols)).astype(np.float32)
            if n_tok > 5:
                x[3] = 0
                x[5] *= 1000
            expected = x @ w.T

            def check(get, extras, expected=expected, name=f"matvec {qtype.name} x{n_tok}", n_tok=n_tok):
                got = get(np.float32).reshape(n_tok, 40)[:, 2:39]
                assert_close(name, expected, got, 1e-4, 1e-3 * np.abs(expected).max())
            cases.add("matvec", {"w": raw, "x": x, "out": np.zeros((n_tok, 40), np.float32)},
                      {"parts": [{"buffer": "w", "rows": n_rows, "type": int(qtype)}], "n_cols": n_cols, "n_tokens": n_tok,
                       "x_stride": n_cols, "out_stride": 40, "out_offset": 2}, "out", check)

    # One tensor split by rows across three bindings (boundaries inside a subgroup's rows), plus a
    # bias, added into the output (residual); 3 tokens and 1.
    raw, w = random_rows(Q.Q4_0, 29, 96, rng)
    bias = rng.standard_normal(29).astype(np.float32)
    parts = {"w0": raw[:10], "w1": raw[10:20], "w2": raw[20:]}
    assert raw.shape[1] == 3 * 18
    for n_tok in (3, 1):
        x = rng.standard_normal((n_tok, 96)).astype(np.float32)
        start = rng.standard_normal((n_tok, 29)).astype(np.float32)

        def check_split(get, extras, expected=start + x @ w.T + bias, n_tok=n_tok):
            assert_close(f"matvec split+bias+accumulate x{n_tok}", expected, get(np.float32).reshape(n_tok, 29), 1e-4, 1e-4)
        cases.add("matvec", {**parts, "x": x, "bias": bias, "out": start},
                  {"parts": [{"buffer": k, "rows": len(v), "type": int(Q.Q4_0)} for k, v in parts.items()], "n_cols": 96,
                   "n_tokens": n_tok, "x_stride": 96, "out_stride": 29, "mode": "accumulate"}, "out", check_split)

    # SwiGLU: gate Q4_K and up Q6_K (a Q4_K_M layer), 19 rows; 9 tokens and 1.
    g_raw, g = random_rows(Q.Q4_K, 19, 512, rng)
    u_raw, u = random_rows(Q.Q6_K, 19, 512, rng)
    for n_tok in (9, 1):
        x = rng.standard_normal((n_tok, 512)).astype(np.float32) * np.float32(0.1)
        gx, ux = x @ g.T, x @ u.T
        with np.errstate(over="ignore"):
            swiglu = gx / (1 + np.exp(-gx)) * ux

        def check_swiglu(get, extras, expected=swiglu, n_tok=n_tok):
            assert_close(f"matvec swiglu x{n_tok}", expected, get(np.float32).reshape(n_tok, 19), 1e-4, 1e-4 * np.abs(expected).max())
        cases.add("matvec", {"g": g_raw, "u": u_raw, "x": x, "out": np.zeros((n_tok, 19), np.float32)},
                  {"parts": [{"buffer": "g", "rows": 19, "type": int(Q.Q4_K)}, {"buffer": "u", "rows": 19, "type": int(Q.Q6_K)}],
                   "n_cols": 512, "n_tokens": n_tok, "x_stride": 512, "out_stride": 19, "mode": "swiglu"}, "out", check_swiglu)

    # GELU epilogue with a bias (an encoder's feed-forward): F16 weights, 21 rows; 11 tokens and 1.
    # The erf form, to the WGSL erf's 1.5e-7.
    from math import erf
    w_raw, w = random_rows(Q.F16, 21, 96, rng)
    bias = rng.standard_normal(21).astype(np.float32)
    for n_tok in (11, 1):
        x = rng.standard_normal((n_tok, 96)).astype(np.float32)
        v = x.astype(np.float64) @ w.T + bias
        gelu = 0.5 * v * (1 + np.vectorize(erf)(v / np.sqrt(2)))

        def check_gelu(get, extras, expected=gelu, n_tok=n_tok):
            assert_close(f"matvec gelu x{n_tok}", expected, get(np.float32).reshape(n_tok, 21), 1e-4, 1e-4)
        cases.add("matvec", {"w": w_raw, "x": x, "bias": bias, "out": np.zeros((n_tok, 21), np.float32)},
                  {"parts": [{"buffer": "w", "rows": 21, "type": int(Q.F16)}], "n_cols": 96, "n_tokens": n_tok,
                   "x_stride": 96, "out_stride": 21, "mode": "gelu"}, "out", check_gelu)

    # Embedding lookup from a Q8_0 table split across two bindings.
    raw, table = random_rows(Q.Q8_0, 41, 64, rng)
    tokens = [40, 0, 17, 23, 17]

    def check_embed(get, extras, expected=table[tokens]):
        assert_close("embed", expected, get(np.float32).reshape(5, 64), 0, 0)
    cases.add("embed", {"t0": raw[:23], "t1": raw[23:], "out": np.zeros((5, 64), np.float32)},
              {"parts": [{"buffer": "t0", "rows": 23, "type": int(Q.Q8_0)}, {"buffer": "t1", "rows": 18, "type": int(Q.Q8_0)}],
               "n_cols": 64, "tokens": tokens, "out_stride": 64}, "out", check_embed)

    # RMSNorm of rows 2.. of 5 (the final norm skips rows whose logits are not needed).
    src = rng.standard_normal((5, 300)).astype(np.float32) * np.float32(50)
    weight = rng.standard_normal(300).astype(np.float32)

    def check_rmsnorm(get, extras, src=src, weight=weight):
        rows = src[2:]
        expected = rows / np.sqrt((rows.astype(np.float64) ** 2).mean(axis=1, keepdims=True) + 1e-5) * weight
        assert_close("rmsnorm", expected, get(np.float32).reshape(5, 300)[:3], 1e-5, 1e-5)
    cases.add("rmsnorm", {"src": src, "weight": weight, "out": np.zeros((5, 300), np.float32)},
              {"cols": 300, "n": 5, "from": 2, "eps": 1e-5}, "out", check_rmsnorm)

    # RoPE + KV store, both pairings, GQA (6 heads, 2 KV heads), partial rotation, positions 5..7.
    for neox in (False, True):
        cfg = {"n_heads": 6, "n_kv_heads": 2, "head_dim": 16, "n_rot": 12, "rope_neox": neox}
        n, pos0, n_ctx = 3, 5, 9
        qkv = rng.standard_normal((n, (6 + 4) * 16)).astype(np.float32)
        half = 6
        freqs = 10000.0 ** (-np.arange(half) * 2 / 12)
        angles = (pos0 + np.arange(n))[:, None] * freqs[None]
        cs = np.stack([np.cos(angles), np.sin(angles)], axis=-1).reshape(n, 12).astype(np.float32)

        def rotate(v, neox=neox, angles=angles):
            v = v.copy()
            c, s = np.cos(angles)[:, None], np.sin(angles)[:, None]
            a, b = (np.arange(half), np.arange(half) + half) if neox else (2 * np.arange(half), 2 * np.arange(half) + 1)
            x0, x1 = v[..., a].copy(), v[..., b].copy()
            v[..., a] = x0 * c - x1 * s
            v[..., b] = x0 * s + x1 * c
            return v

        heads = qkv.reshape(n, 10, 16)
        q, k, v = rotate(heads[:, :6]), rotate(heads[:, 6:8]), heads[:, 8:]

        def check_rope(get, extras, q=q, k=k, v=v, neox=neox, pos0=pos0, n=n):
            got = get(np.float32).reshape(n, 10, 16)
            assert_close(f"rope q (neox={neox})", q, got[:, :6], 1e-5, 1e-5)
            assert_close(f"rope k (neox={neox})", k, got[:, 6:8], 1e-5, 1e-5)
            kc = extras["k_cache"](np.float32).reshape(2, 9, 16)
            vc = extras["v_cache"](np.float32).reshape(2, 9, 16)
            assert_close("k cache", k.transpose(1, 0, 2), kc[:, pos0:pos0 + n], 1e-5, 1e-5)
            assert_close("v cache", v.transpose(1, 0, 2), vc[:, pos0:pos0 + n], 0, 0)
            assert not kc[:, :pos0].any() and not vc[:, pos0 + n:].any()
        cases.add("rope", {"out": qkv, "k_cache": np.zeros((2, 9, 16), np.float32), "v_cache": np.zeros((2, 9, 16), np.float32)},
                  {"config": cfg, "n_ctx": n_ctx, "pos0": pos0, "n": n, "head": cs.ravel().tolist()}, "out", check_rope,
                  extra_outputs=["k_cache", "v_cache"])

    # Attention: 6 heads over 2 KV heads, head_dim 64, 3 queries at positions 200..202 (two key tiles).
    cfg = {"n_heads": 6, "n_kv_heads": 2, "head_dim": 64, "n_rot": 64, "rope_neox": False}
    n, pos0, n_ctx = 3, 200, 260
    qkv = rng.standard_normal((n, 10 * 64)).astype(np.float32)
    kc = rng.standard_normal((2, n_ctx, 64)).astype(np.float32) * 3
    vc = rng.standard_normal((2, n_ctx, 64)).astype(np.float32)
    expected = np.zeros((n, 6, 64))
    for t in range(n):
        for h in range(6):
            keys = pos0 + t + 1
            s = kc[h // 3, :keys] @ qkv[t, h * 64:(h + 1) * 64] / 8.0
            p = np.exp(s - s.max())
            expected[t, h] = (p / p.sum()) @ vc[h // 3, :keys]

    def check_attention(get, extras, expected=expected):
        assert_close("attention", expected, get(np.float32).reshape(n, 6, 64), 1e-4, 1e-5)
    cases.add("attention", {"qkv": qkv, "k_cache": kc, "v_cache": vc, "out": np.zeros((n, 6, 64), np.float32)},
              {"config": cfg, "n_ctx": n_ctx, "pos0": pos0, "n": n}, "out", check_attention)

    # Attention within packed sequences (an encoder): rows [0, 5), [5, 6) and [6, 13) are three
    # sequences whose keys sit at cache positions pos0 + row; each row sees its own sequence only.
    cfg = {"n_heads": 4, "n_kv_heads": 4, "head_dim": 32, "n_rot": 0, "rope_neox": False}
    seqs, pos0, n_ctx = [(0, 5), (5, 1), (6, 7)], 3, 20
    n_rows = 13
    qkv = rng.standard_normal((n_rows, 12 * 32)).astype(np.float32)
    kc = rng.standard_normal((4, n_ctx, 32)).astype(np.float32) * 2
    vc = rng.standard_normal((4, n_ctx, 32)).astype(np.float32)
    segments = np.array([[f, r] for f, r in seqs for _ in range(r)], np.uint32)
    expected_seg = np.zeros((n_rows, 4, 32))
    for f, r in seqs:
        for t in range(f, f + r):
            for h in range(4):
                keys = slice(pos0 + f, pos0 + f + r)
                s = kc[h, keys] @ qkv[t, h * 32:(h + 1) * 32] / np.sqrt(32)
                p = np.exp(s - s.max())
                expected_seg[t, h] = (p / p.sum()) @ vc[h, keys]

    def check_segments(get, extras, expected=expected_seg):
        assert_close("attention within sequences", expected, get(np.float32).reshape(n_rows, 4, 32), 1e-4, 1e-5)
    cases.add("attention", {"qkv": qkv, "k_cache": kc, "v_cache": vc, "out": np.zeros((n_rows, 4, 32), np.float32),
                            "segments": segments}, {"config": cfg, "n_ctx": n_ctx, "pos0": pos0, "n": n_rows}, "out", check_segments)

    # LayerNorm in place: 5 rows of 300 (not a multiple of the workgroup), one constant row (zero
    # variance: the bias alone), one of large magnitude.
    x = rng.standard_normal((5, 300)).astype(np.float32)
    x[1] = 3.0
    x[3] *= 1e3
    w, b = rng.standard_normal(300).astype(np.float32), rng.standard_normal(300).astype(np.float32)
    mean, var = x.astype(np.float64).mean(1, keepdims=True), x.astype(np.float64).var(1, keepdims=True)
    expected_ln = (x - mean) / np.sqrt(var + 1e-12) * w + b

    def check_layernorm(get, extras, expected=expected_ln):
        assert_close("layernorm", expected, get(np.float32).reshape(5, 300), 1e-4, 1e-4)
    cases.add("layernorm", {"out": x, "weight": w, "bias": b}, {"cols": 300, "n": 5, "eps": 1e-12}, "out", check_layernorm)

    add_decoder_cases(cases, rng)

    # Arg-max: 3 rows of 1000, the first of two equal maxima wins.
    logits = rng.standard_normal((3, 1000)).astype(np.float32)
    logits[1, [7, 901]] = 50
    logits[2] = -1e30

    def check_argmax(get, extras):
        assert get(np.uint32)[:3].tolist() == [int(logits[0].argmax()), 7, 0]
    cases.add("argmax", {"logits": logits, "out": np.zeros(3, np.uint32)}, {"n": 1000, "m": 3}, "out", check_argmax)
    return cases.run()


def add_decoder_cases(cases, rng):
    """The kernels' Qwen3/Phi-3/Gemma features: GeGLU and soft-capped mat-vecs, a scaled embedding,
    RMSNorm added into a residual, RoPE after q/k head norms, attention with head_dim 256, a query
    scale, soft-capped scores and a sliding window."""
    g_raw, g = random_rows(Q.Q8_0, 19, 128, rng)
    u_raw, u = random_rows(Q.Q4_1, 19, 128, rng)
    for n_tok in (9, 1):
        x = rng.standard_normal((n_tok, 128)).astype(np.float32) * np.float32(0.3)
        gx, ux = x.astype(np.float64) @ g.T, x.astype(np.float64) @ u.T
        geglu = 0.5 * gx * (1 + np.tanh(np.sqrt(2 / np.pi) * (gx + 0.044715 * gx ** 3))) * ux

        def check_geglu(get, extras, expected=geglu, n_tok=n_tok):
            assert_close(f"matvec geglu x{n_tok}", expected, get(np.float32).reshape(n_tok, 19), 1e-4, 1e-4 * np.abs(expected).max())
        cases.add("matvec", {"g": g_raw, "u": u_raw, "x": x, "out": np.zeros((n_tok, 19), np.float32)},
                  {"parts": [{"buffer": "g", "rows": 19, "type": int(Q.Q8_0)}, {"buffer": "u", "rows": 19, "type": int(Q.Q4_1)}],
                   "n_cols": 128, "n_tokens": n_tok, "x_stride": 128, "out_stride": 19, "mode": "geglu"}, "out", check_geglu)

        w_raw, w = random_rows(Q.Q8_0, 37, 128, rng)
        x = rng.standard_normal((n_tok, 128)).astype(np.float32) * np.float32(20)  # logits well past the cap
        capped = 3.0 * np.tanh((x.astype(np.float64) @ w.T) / 3.0)

        def check_softcap(get, extras, expected=capped, n_tok=n_tok):
            assert_close(f"matvec softcap x{n_tok}", expected, get(np.float32).reshape(n_tok, 37), 1e-4, 1e-5)
        cases.add("matvec", {"w": w_raw, "x": x, "out": np.zeros((n_tok, 37), np.float32)},
                  {"parts": [{"buffer": "w", "rows": 37, "type": int(Q.Q8_0)}], "n_cols": 128, "n_tokens": n_tok,
                   "x_stride": 128, "out_stride": 37, "mode": "softcap", "scalar": 3.0}, "out", check_softcap)

    raw, table = random_rows(Q.Q4_0, 11, 64, rng)

    def check_embed_scale(get, extras, expected=table[[3, 10]] * np.float32(8.0)):
        assert_close("embed scaled", expected, get(np.float32).reshape(2, 64), 1e-6, 0)
    cases.add("embed", {"t0": raw, "out": np.zeros((2, 64), np.float32)},
              {"parts": [{"buffer": "t0", "rows": 11, "type": int(Q.Q4_0)}], "n_cols": 64, "tokens": [3, 10], "out_stride": 64,
               "scale": 8.0}, "out", check_embed_scale)

    src = rng.standard_normal((4, 96)).astype(np.float32) * np.float32(30)
    weight, residual = rng.standard_normal(96).astype(np.float32), rng.standard_normal((4, 96)).astype(np.float32)

    def check_rmsnorm_add(get, extras, src=src, weight=weight, residual=residual):
        expected = residual + src / np.sqrt((src.astype(np.float64) ** 2).mean(axis=1, keepdims=True) + 1e-6) * weight
        assert_close("rmsnorm added", expected, get(np.float32).reshape(4, 96), 1e-5, 1e-5)
    cases.add("rmsnorm", {"src": src, "weight": weight, "out": residual},
              {"cols": 96, "n": 4, "from": 0, "eps": 1e-6, "accumulate": True}, "out", check_rmsnorm_add)

    # RoPE after q/k head norms: 4 q heads and 2 kv heads of 256 dims (two pairs per thread's worth
    # of the workgroup), neox pairs, 3 tokens.
    hd, n, pos0, n_ctx = 256, 3, 2, 6
    cfg = {"n_heads": 4, "n_kv_heads": 2, "head_dim": hd, "n_rot": hd, "rope_neox": True, "rms_eps": 1e-6}
    qkv = (rng.standard_normal((n, 8 * hd)) * 4).astype(np.float32)
    qn, kn = rng.standard_normal(hd).astype(np.float32), rng.standard_normal(hd).astype(np.float32)
    freqs = 10000.0 ** (-np.arange(hd // 2) * 2 / hd)
    angles = (pos0 + np.arange(n))[:, None] * freqs[None]
    cs = np.stack([np.cos(angles), np.sin(angles)], axis=-1).reshape(n, hd).astype(np.float32)
    heads = qkv.reshape(n, 8, hd).astype(np.float64)
    normed = heads / np.sqrt((heads ** 2).mean(axis=-1, keepdims=True) + 1e-6)
    normed[:, :4] *= qn
    normed[:, 4:6] *= kn
    c, s_ = np.cos(angles)[:, None], np.sin(angles)[:, None]
    a, b = np.arange(hd // 2), np.arange(hd // 2) + hd // 2
    rotated = normed.copy()
    rotated[..., a] = normed[..., a] * c - normed[..., b] * s_
    rotated[..., b] = normed[..., a] * s_ + normed[..., b] * c

    def check_rope_norm(get, extras, expected=rotated, heads=heads, n=n, hd=hd, n_ctx=n_ctx, pos0=pos0):
        got = get(np.float32).reshape(n, 8, hd)
        assert_close("rope with q/k norms", expected[:, :6], got[:, :6], 1e-4, 1e-4)
        assert_close("rope with q/k norms: v untouched", heads[:, 6:], got[:, 6:], 0, 0)
        kc = extras["k_cache"](np.float32).reshape(2, n_ctx, hd)
        assert_close("rope with q/k norms: k cache", expected[:, 4:6].transpose(1, 0, 2), kc[:, pos0:pos0 + n], 1e-4, 1e-4)
    cases.add("rope", {"out": qkv, "k_cache": np.zeros((2, n_ctx, hd), np.float32), "v_cache": np.zeros((2, n_ctx, hd), np.float32),
                       "q_norm": qn, "k_norm": kn},
              {"config": cfg, "n_ctx": n_ctx, "pos0": pos0, "n": n, "head": cs.ravel().tolist()}, "out", check_rope_norm,
              extra_outputs=["k_cache"])

    # Attention on a sliding Gemma 2 layer: head_dim 256, 4 heads over 2 KV heads, a query scale,
    # scores capped at 2 and a window of 150 keys (more than one tile of 128), 3 queries at 200..202.
    hd, n, pos0, n_ctx, window = 256, 3, 200, 210, 150
    cfg = {"n_heads": 4, "n_kv_heads": 2, "head_dim": hd, "n_rot": hd, "rope_neox": True, "attn_scale": 0.05, "attn_softcap": 2.0}
    qkv = rng.standard_normal((n, 8 * hd)).astype(np.float32)
    kc = rng.standard_normal((2, n_ctx, hd)).astype(np.float32) * 3
    vc = rng.standard_normal((2, n_ctx, hd)).astype(np.float32)
    expected = np.zeros((n, 4, hd))
    for t in range(n):
        for h in range(4):
            keys = slice(pos0 + t + 1 - window, pos0 + t + 1)
            sc = 2.0 * np.tanh(kc[h // 2, keys].astype(np.float64) @ qkv[t, h * hd:(h + 1) * hd] * 0.05 / 2.0)
            p = np.exp(sc - sc.max())
            expected[t, h] = (p / p.sum()) @ vc[h // 2, keys]

    def check_gemma_attention(get, extras, expected=expected, n=n, hd=hd):
        assert_close("attention: head_dim 256, scale, soft-cap, window", expected, get(np.float32).reshape(n, 4, hd), 1e-4, 1e-5)
    cases.add("attention", {"qkv": qkv, "k_cache": kc, "v_cache": vc, "out": np.zeros((n, 4, hd), np.float32)},
              {"config": cfg, "n_ctx": n_ctx, "pos0": pos0, "n": n, "window": window}, "out", check_gemma_attention)


def test_every_webgpu_kernel_matches_numpy(results):
    failures = []
    for check, get, extras in results:
        try:
            check(get, extras)
        except AssertionError as e:
            failures.append(str(e).splitlines()[0])
    assert not failures, "\n".join(failures)


def test_sampling_kernel_picks_what_the_cpu_sampler_picks():
    # The CPU sampler (webgpu/sampler.js) is the reference: same seed, same row, same token, over
    # exact ties, -inf and large magnitudes, tiny and full vocabularies, top-k up to the kernel's
    # 256, top-p, min-p and penalties.
    r = subprocess.run(["node", "--import", "./webgpu/node/register.js", "tests/webgpu_sample.mjs"],
                       cwd=ROOT, env=node_env(), capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    print(f"\n{out['cases']} sampling cases, {out['ms_per_case']:.1f} ms each on {out['adapter']['description']}")
    assert out["cases"] == 180
    assert out["n_mismatches"] == 0, f"{out['n_mismatches']} of {out['cases']} differ; first: {out['mismatches']}"
