"""Perplexity of a GGUF on a token sequence, with reference.py, the way llama.cpp's tool counts it.

The tokens are cut into non-overlapping windows of n_ctx; in each window only the second half is
scored (each token predicted with at least n_ctx/2 tokens of context), as llama-perplexity does.
The reference dequantizes weights to float32 and keeps activations in float32, so the figure
isolates what weight quantization costs.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from . import reference


def log_softmax(logits: np.ndarray) -> np.ndarray:
    m = logits.max(axis=-1, keepdims=True)
    return logits - m - np.log(np.exp(logits - m).sum(axis=-1, keepdims=True))


def perplexity(paths: Path | list[Path], tokens: list[int], n_ctx: int = 512, n_windows: int | None = None) -> dict:
    cfg, w = reference.load(paths)
    available = len(tokens) // n_ctx
    n_windows = available if n_windows is None else min(n_windows, available)
    if n_windows < 1:
        raise ValueError(f"{len(tokens)} tokens do not fill one {n_ctx}-token window")
    first = n_ctx // 2
    nll, count = 0.0, 0
    for k in range(n_windows):
        ids = np.asarray(tokens[k * n_ctx:(k + 1) * n_ctx])
        logp = log_softmax(reference.forward(cfg, w, ids).astype(np.float64))
        targets = ids[first + 1:]
        nll -= logp[np.arange(first, n_ctx - 1), targets].sum()
        count += len(targets)
    return {"perplexity": math.exp(nll / count), "scored_tokens": count, "n_ctx": n_ctx, "windows": n_windows}
