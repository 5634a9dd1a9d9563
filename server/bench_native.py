"""Native llama.cpp on the same GGUF, for `inpage bench`, through the optional llama-cpp-python.

Importing this module fails with ImportError where llama-cpp-python is not installed; the bench
then reports the native column as skipped. Prefill and decode come from llama.cpp's own perf
counters; time to first token is wall-clock, as in the page.
"""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import llama_cpp

from models.shards import join_gguf
from models.store import Store

from .bench_report import summarize


def measure(store: Store, manifest: dict, prompt: dict, runs: int, gen_tokens: int) -> dict:
    shards = [store.model_dir(manifest["id"]) / s["file"] for s in manifest["shards"]]
    threads = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="inpage-native.") as tmp:
        # llama.cpp finds split files by their -0000N-of-0000M names; ours are content-addressed.
        path = shards[0] if len(shards) == 1 else join_gguf(shards, Path(tmp) / "model.gguf")
        t0 = time.perf_counter()
        llm = llama_cpp.Llama(model_path=str(path), n_ctx=2048, n_threads=threads, n_threads_batch=threads,
                              verbose=False)
        load_s = time.perf_counter() - t0
        try:
            _generate(llm, prompt, gen_tokens)  # warm-up, not counted
            timed = [_generate(llm, prompt, gen_tokens) for _ in range(runs)]
        finally:
            llm.close()
    return {
        "threads": threads, "llama_cpp_python": llama_cpp.__version__, "cold_load_s": load_s,
        "prompt_tokens": timed[0]["prompt_tokens"],
        "ttft_s": summarize([r["ttft_s"] for r in timed]),
        "prefill_tps": summarize([r["prefill_tps"] for r in timed]),
        "decode_tps": summarize([r["decode_tps"] for r in timed]),
    }


def _generate(llm, prompt: dict, gen_tokens: int) -> dict:
    llm.reset()  # no reuse of the last prompt's KV cache
    ctx = llm._ctx.ctx
    llama_cpp.llama_perf_context_reset(ctx)
    t0 = time.perf_counter()
    ttft = None
    for chunk in llm.create_chat_completion(messages=prompt["messages"], max_tokens=gen_tokens, temperature=0.0,
                                            stream=True):
        if ttft is None and chunk["choices"][0]["delta"].get("content"):
            ttft = time.perf_counter() - t0
    perf = llama_cpp.llama_perf_context(ctx)
    return {
        "prompt_tokens": perf.n_p_eval,
        "ttft_s": ttft,
        "prefill_tps": perf.n_p_eval / (perf.t_p_eval_ms / 1000),
        "decode_tps": perf.n_eval / (perf.t_eval_ms / 1000),
    }
