"""Every architecture our engine runs, end to end in node on both backends (WASM; WebGPU on Dawn):
a tiny random checkpoint of each, through the Hugging Face converter, against models/reference.py.

The sequences are longer than the tiny sliding windows and run as chat runs them (a prefill batch,
then one token at a time), so window masks, both rope tables, soft-caps, q/k norms, sandwich norms
and fused projections are all on the path.
"""
import json
import subprocess

import gguf
import numpy as np
import pytest

from models import reference
from models.convert_hf import convert_dir
from models.requantize import requantize_gguf

from .hf_fixtures import LLAMA3_ROPE, tiny_llama_dir
from .test_webgpu_kernels import ROOT, node_env

TOKENS = [3, 260, 17, 99, 261, 5, 40, 200, 262, 7, 1, 64, 33, 90, 12, 250]
PREFILL = 9
# (HF architecture, options): dims multiples of 32 as our kernels want; Gemma with a 4-token
# window and 7 layers (Gemma 3's sixth layer is its global one).
ARCHS = {
    "llama": ("LlamaForCausalLM", {}),
    "qwen3": ("Qwen3ForCausalLM", {}),
    "phi3": ("Phi3ForCausalLM", {"tied": False}),
    "gemma": ("GemmaForCausalLM", {"n_kv_heads": 1}),
    "gemma2": ("Gemma2ForCausalLM", {"n_layers": 3}),
    "gemma3": ("Gemma3ForCausalLM", {"n_layers": 7, "rope_theta": 1e6}),
    "llama3": ("LlamaForCausalLM", {"rope_scaling": LLAMA3_ROPE}),
}


def tiny_gguf(tmp_path, name, qtype=None, **more):
    arch, options = ARCHS[name]
    d = tiny_llama_dir(tmp_path / f"hf-{name}", arch=arch, dim=64, hidden_dim=128, head_dim=16, **options, **more)
    out = convert_dir(d, tmp_path / f"{name}.gguf")
    if qtype is not None:
        out = requantize_gguf(out, tmp_path / f"{name}-{qtype}.gguf", qtype)
    return out


def engine_logits(backend, path, tmp_path, tokens=TOKENS, prefill=PREFILL):
    out = tmp_path / f"logits-{backend}.bin"
    r = subprocess.run(["node", "--import", "./webgpu/node/register.js", "tests/engine_logits.mjs", backend, str(out),
                        json.dumps(tokens), str(prefill), str(path)],
                       cwd=ROOT, env=node_env(), capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    info = json.loads(r.stdout.strip().splitlines()[-1])
    return np.fromfile(out, dtype=np.float32).reshape(len(tokens), -1), info


@pytest.mark.parametrize("backend", ["wasm", "webgpu"])
@pytest.mark.parametrize("name", list(ARCHS))
def test_engine_logits_match_the_reference(tmp_path, name, backend):
    path = tiny_gguf(tmp_path, name)
    ours, info = engine_logits(backend, path, tmp_path)
    assert info["arch"] == gguf.GGUFReader(path).fields["general.architecture"].contents()
    cfg, w = reference.load(path)
    expected = reference.forward(cfg, w, TOKENS)
    rel = np.linalg.norm(ours - expected, axis=1) / np.linalg.norm(expected, axis=1)
    print(f"\n{name} on {backend}: max relative error {rel.max():.2e}; per position {np.array2string(rel, precision=6)}")
    assert rel.max() <= 1e-4, f"max relative error {rel.max():.3g}"
    assert (ours.argmax(axis=1) == expected.argmax(axis=1)).all()


@pytest.mark.parametrize("backend", ["wasm", "webgpu"])
def test_a_real_gemma3_runs_as_the_reference_computes(tmp_path, gemma3, backend):
    """Gemma 3 270M as llama.cpp converted it (Q4_K_M: Q5_0, Q8_0, Q4_K, Q6_K; 262,144 tokens; five
    sliding layers in six, with a 512 window): our logits are the reference's."""
    _, paths, (cfg, w) = gemma3
    tokens = [2, 818, 5279, 529, 7001, 563, 3477, 236888]  # <bos>The capital of France is ...
    ours, info = engine_logits(backend, paths[0].parent, tmp_path, tokens=tokens, prefill=5)
    expected = reference.forward(cfg, w, tokens)
    rel = np.linalg.norm(ours - expected, axis=1) / np.linalg.norm(expected, axis=1)
    print(f"\ngemma3-270m on {backend}: max relative error {rel.max():.2e}; per position {np.array2string(rel, precision=6)}")
    assert info["arch"] == "gemma3"
    assert rel.max() <= 2e-3, f"max relative error {rel.max():.3g}"
    assert (ours.argmax(axis=1) == expected.argmax(axis=1)).all()


def test_a_gemma_feature_left_out_is_caught(tmp_path):
    """The test above can fail: the engine's Gemma 2 logits differ from a reference without soft-caps."""
    path = tiny_gguf(tmp_path, "gemma2")
    ours, _ = engine_logits("wasm", path, tmp_path)
    cfg, w = reference.load(path)
    cfg.attn_softcap = 0.0
    expected = reference.forward(cfg, w, TOKENS)
    assert (np.linalg.norm(ours - expected, axis=1) / np.linalg.norm(expected, axis=1)).max() > 1e-3
