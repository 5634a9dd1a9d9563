"""The WASM engine's memory plan (webgpu/backends/wasm/memory_plan.js) is the memory it takes.

The page refuses a model too big for it before downloading, from this plan: so the plan must
be the engine's allocations exactly, for every weight type, layout and option, and the kernels
must work where a model past 2 GiB puts its tensors.
"""
import json
import subprocess

import pytest

from .test_architectures import tiny_gguf
from .test_webgpu_kernels import ROOT, node_env

RELAXED = "--experimental-wasm-relaxed-simd"
KERNEL_STATIC_BYTES = 1 << 20  # memory_plan.js: the bound on the kernels' own bytes below __heap_base


def node(*args, flags=()):
    r = subprocess.run(["node", *flags, "--import", "./webgpu/node/register.js", "tests/memory_plan.mjs", *args],
                       cwd=ROOT, env=node_env(), capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_the_plan_assumes_the_kernels_block_sizes():
    got = node("sizes", flags=(RELAXED,))
    assert got["plan"] == got["kernel"]
    assert set(got["plan"]["x4"]) == {"Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"}


SYNTHETIC = [
    {"synthetic": ["smollm2-135m", t], "n_ctx": n_ctx, "kv_type": kv}
    for t, n_ctx, kv in [("Q4_0", 2048, "f32"), ("Q4_1", 512, "f16"), ("Q4_K", 4096, "f32"), ("Q5_K", 1024, "f32"),
                         ("Q6_K", 1024, "f16"), ("Q8_0", 256, "f32"), ("Q3_K", 300, "f32"), ("F16", 128, "f32")]
] + [{"synthetic": ["qwen2.5-0.5b", "Q4_0"], "n_ctx": 1024, "kv_type": "f32"}]


@pytest.mark.parametrize("flags", [(), (RELAXED,)], ids=["simd", "relaxed"])
def test_the_plan_is_the_memory_the_engine_takes(tmp_path, flags):
    # Tiny models of every architecture (fused QKV, two rope tables, windows, untied heads) and
    # synthetic ones of real shapes in every weight type.
    tiny = [{"gguf": [str(tiny_gguf(tmp_path, arch, qtype))], "n_ctx": 64}
            for arch, qtype in [("llama", "Q8_0"), ("phi3", None), ("gemma3", None), ("qwen3", "Q4_0")]]
    cases = tiny + SYNTHETIC
    for case, got in zip(cases, node("plan", json.dumps(cases), flags=flags)):
        assert "error" not in got, (case, got)
        heap = -(-got["heap_base"] // 64) * 64
        assert heap <= KERNEL_STATIC_BYTES
        # To the byte, once the bound on the kernels' own data is swapped for the real one.
        assert got["planned"] - KERNEL_STATIC_BYTES == got["used"] - heap, (case, got)
        assert got["memory"] >= got["used"] and got["weights"] > 0 and got["kv"] > 0


def test_a_model_past_4_gib_is_refused_before_anything_is_allocated():
    [got] = node("plan", json.dumps([{"synthetic": ["llama-3.1-8b", "Q4_0"], "n_ctx": 4096}]))
    assert got["fits"] is False
    assert got["error"] == ("The model needs 5.71 GiB of WebAssembly memory (weights 4.66 GiB, KV cache 1.00 GiB for "
                            "4096 tokens, scratch 0.04 GiB), more than the 4.00 GiB a page's WebAssembly memory can hold: "
                            "pick a smaller model or a lower quantization level.")


def test_a_long_context_that_does_not_fit_says_how_to_fit():
    # Llama-3.2-1B's weights fit; its KV cache for 65536 tokens does not.
    [got] = node("plan", json.dumps([{"synthetic": ["llama-3.2-1b", "Q4_0"], "n_ctx": 65536}]))
    assert got["fits"] is False
    assert "KV cache 4.00 GiB for 65536 tokens" in got["error"] and "or a shorter context or kvType 'f16'" in got["error"]


@pytest.mark.parametrize("flags", [(), (RELAXED,)], ids=["simd", "relaxed"])
def test_kernels_read_and_write_above_2_gib(flags):
    # Past 2 GiB a pointer is a negative int32 in JS's job records and a large unsigned one in C.
    got = node("high", flags=flags)
    assert got["low_at"] < 2**31 <= got["high_at"] and got["memory"] > 2**31
    assert got["matmul_equal"] and got["attention_equal"], got
