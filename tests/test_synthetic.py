"""Synthetic models of real shapes (models/synthetic.py), the files `inpage bench` measures at 0.5B
and 1B: the shapes are webgpu/synthetic.js's, and a written file loads, tokenizes and runs in our
engine with the real model's vocabulary and LM head sizes."""
import json
import subprocess

import gguf
import numpy as np
import pytest

from models.errors import ModelError
from models.synthetic import SHAPES, write_synthetic

from .test_webgpu_kernels import ROOT, node_env

RUN = """
import { createSession } from './webgpu/session.js';
import { openModel } from './webgpu/node/runtime.js';
const s = await createSession(await openModel([process.argv[1]]), { backend: 'wasm', n_ctx: 64 });
const { text, tokens } = s.renderPrompt([{ role: 'user', content: 'the cat, then 3 dogs.' }]);
const logits = await s.transformer.forward(tokens, 0);
const decoded = new TextDecoder().decode(new Uint8Array(tokens.flatMap((id) => [...s.tokenizer.tokenBytes(id)])));
const eos = s.tokenizer.encode('<|im_end|>')[0];
const last = logits.subarray(logits.length - 49152);
console.log(JSON.stringify({ text, tokens, decoded, n: logits.length, eos_logit: last[eos], newline_logit: last[10],
  max_logit: Math.max(...last),
  finite: logits.every(Number.isFinite), spread: Math.max(...logits) - Math.min(...logits), arch: s.info.arch }));
process.exit(0);
"""


def test_the_shapes_are_the_gpu_benchmarks_shapes():
    r = subprocess.run(["node", "--input-type=module", "-e",
                        "const m = await import('./webgpu/synthetic.js'); console.log(JSON.stringify(m.SHAPES));"],
                       cwd=ROOT, env=node_env(), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == SHAPES


def test_a_synthetic_model_runs_in_our_engine(tmp_path):
    path = write_synthetic("smollm2-135m", "Q4_0", tmp_path / "s.gguf")
    reader = gguf.GGUFReader(path)
    assert "synthetic" in reader.fields["general.name"].contents()
    embd = next(t for t in reader.tensors if t.name == "token_embd.weight")
    assert embd.tensor_type == gguf.GGMLQuantizationType.Q4_0 and list(embd.shape) == [576, 49152]
    r = subprocess.run(["node", "--import", "./webgpu/node/register.js", "--input-type=module", "-e", RUN, str(path)],
                       cwd=ROOT, env=node_env(), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["arch"] == "llama" and out["n"] == 49152
    assert out["decoded"] == out["text"]  # byte-level BPE: every text round-trips
    assert out["tokens"].count(out["tokens"][0]) == 2  # <|im_start|> is one token, at both turns
    assert len(out["tokens"]) < len(out["text"].encode())  # the merges and specials apply
    assert out["finite"] and out["spread"] > 0
    # A greedy reply never ends early nor streams only unprintable bytes: those rows are zero.
    assert out["eos_logit"] == 0 and out["newline_logit"] == 0 and out["max_logit"] > 0


def test_bad_requests_name_what_exists(tmp_path):
    with pytest.raises(ModelError, match="no synthetic shape"):
        write_synthetic("gpt-5", "Q4_0", tmp_path / "x.gguf")
    with pytest.raises(ModelError, match="no synthetic weights of type F16"):
        write_synthetic("smollm2-135m", "F16", tmp_path / "x.gguf")
    with pytest.raises(ModelError, match="do not split into Q4_K blocks"):
        write_synthetic("qwen2.5-0.5b", "Q4_K", tmp_path / "x.gguf")
