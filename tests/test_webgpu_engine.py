"""The WebGPU engine end to end, in node on Dawn (SwiftShader here): logits against models/reference.py."""
import json
import subprocess

import numpy as np

from models import reference
from models.pull import DEFAULT_MODEL
from models.store import Store

from .test_webgpu_kernels import ROOT, node_env


def test_webgpu_logits_match_the_numpy_reference(model_home, reference_model, tmp_path):
    model_dir = Store(model_home).model_dir(DEFAULT_MODEL)
    cfg, weights = reference_model
    # "<|im_start|>user\nWhat is the capital of France?" in SmolLM2's vocabulary: 8 positions.
    tokens = [1, 4093, 198, 1780, 314, 260, 3575, 282]
    out = tmp_path / "logits.bin"
    r = subprocess.run(["node", "--import", "./webgpu/node/register.js", "tests/webgpu_logits.mjs", str(model_dir), str(out),
                        json.dumps(tokens)], cwd=ROOT, env=node_env(), capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    info = json.loads(r.stdout.strip().splitlines()[-1])
    ours = np.fromfile(out, dtype=np.float32).reshape(len(tokens), -1)
    expected = reference.forward(cfg, weights, tokens)
    rel = np.linalg.norm(ours - expected, axis=1) / np.linalg.norm(expected, axis=1)
    print(f"\nWebGPU logits relative error per position: {np.array2string(rel, precision=5)}; {info['stats']}")
    assert rel.max() <= 1e-2, f"max relative error {rel.max():.4g}"
    assert list(ours.argmax(axis=1)) == list(expected.argmax(axis=1))
    # The schedule's fusion target: 8 dispatches per layer, and one submit per forward pass.
    per_forward = cfg.n_layers * 8 + 4  # + embed, final norm, output, arg-max
    assert info["stats"]["dispatches"] == (cfg.n_layers * 8 + 3) + per_forward
    assert info["stats"]["submits"] == 2
    assert info["greedy_next"] == int(reference.forward(cfg, weights, tokens + [tokens[-1]])[-1].argmax())


def test_sampling_on_the_gpu_reads_back_one_id_and_picks_what_the_cpu_sampler_picks(model_home):
    model_dir = Store(model_home).model_dir(DEFAULT_MODEL)
    r = subprocess.run(["node", "--import", "./webgpu/node/register.js", "tests/webgpu_generate.mjs", str(model_dir)],
                       cwd=ROOT, env=node_env(), capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    gpu, cpu = out["on_gpu"], out["on_cpu"]
    print(f"\nsampled on the GPU: {gpu}\nsampled on the CPU: {cpu}")
    # Same seed, same logits: the same tokens, with temperature, top-k/p, min-p and a penalty.
    assert gpu["completion_tokens"] == cpu["completion_tokens"] == 5
    assert gpu["text"] == cpu["text"]
    # One dispatch more than the layers' 8 (embed, final norm, output, sampler); one submit; 4 bytes.
    assert gpu["device"]["dispatches_per_token"] == out["n_layers"] * 8 + 4
    assert gpu["device"]["submits_per_token"] == 1
    assert gpu["device"]["readback_bytes_per_token"] == 4
    assert cpu["device"]["readback_bytes_per_token"] == out["vocab_size"] * 4
