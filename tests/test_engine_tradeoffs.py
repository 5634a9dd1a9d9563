"""The WASM engine's speed and memory trade-offs, priced in perplexity by the engine itself.

webgpu/node/perplexity.mjs scores a token sequence as models/perplexity.py does; with the engine's
defaults (14-bit activations, an f32 KV cache) the two agree, so the figure it gives for 8-bit
activations or an f16 KV cache is what that option costs, not a difference of tools.
"""
import json
import subprocess

import numpy as np
import pytest

from models.perplexity import perplexity

from .test_architectures import tiny_gguf
from .test_webgpu_kernels import ROOT, node_env

N_CTX, WINDOWS = 64, 3


def engine_perplexity(path, tokens_file, *options):
    r = subprocess.run(["node", "--import", "./webgpu/node/register.js", "webgpu/node/perplexity.mjs", str(path),
                        str(tokens_file), "--ctx", str(N_CTX), "--windows", str(WINDOWS), *options],
                       cwd=ROOT, env=node_env(), capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def tiny_q8(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tradeoffs")
    path = tiny_gguf(tmp, "llama", "Q8_0")
    # A sequence with structure (repeated phrases), so that the model's predictions are not uniform.
    rng = np.random.default_rng(4)
    phrases = [rng.integers(3, 250, size=rng.integers(3, 9)).tolist() for _ in range(12)]
    tokens = []
    while len(tokens) < N_CTX * WINDOWS:
        tokens += phrases[rng.integers(len(phrases))]
    tokens_file = tmp / "tokens.json"
    tokens_file.write_text(json.dumps(tokens))
    return path, tokens, tokens_file


def test_the_engine_perplexity_is_the_reference_perplexity(tiny_q8):
    path, tokens, tokens_file = tiny_q8
    expected = perplexity(path, tokens, N_CTX, WINDOWS)
    ours = engine_perplexity(path, tokens_file)
    assert ours["scored_tokens"] == expected["scored_tokens"] == WINDOWS * (N_CTX // 2 - 1)
    assert ours["activation_bits"] == 14 and ours["kv"] == "f32"
    # The tiny random model is a poor predictor (perplexity ~1e10), so compare the mean negative
    # log-likelihood per token: log(perplexity).
    nll, nll_expected = np.log(ours["perplexity"]), np.log(expected["perplexity"])
    assert abs(nll / nll_expected - 1) < 1e-4, (ours, expected)


@pytest.mark.parametrize("option", [("--activation-bits", "8"), ("--kv", "f16")], ids=["a8", "kv-f16"])
def test_each_tradeoff_is_applied_and_priced(tiny_q8, option):
    path, tokens, tokens_file = tiny_q8
    exact = engine_perplexity(path, tokens_file)["perplexity"]
    cheap = engine_perplexity(path, tokens_file, *option)
    assert cheap["activation_bits" if option[0] == "--activation-bits" else "kv"] in (8, "f16")
    change = np.log(cheap["perplexity"]) / np.log(exact) - 1  # in mean negative log-likelihood per token
    print(f"\n{option}: perplexity {exact:.6g} -> {cheap['perplexity']:.6g} (mean NLL {change:+.3%})")
    assert change != 0  # the option reached the kernels
    assert abs(change) < 0.01
