"""A plain numpy forward pass of the llama family (llama, mistral, qwen2), the oracle for the engine.

It reads the same GGUF (single file or gguf-split shards), dequantizes every tensor with the gguf
package, and runs in float32 without quantizing activations. forward() can capture named
intermediate activations, e.g. "blk.0.attn_out" or "final_norm".
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import gguf
import numpy as np

# Architectures whose rope rotates (i, i + n_rot/2) pairs instead of adjacent ones.
NEOX_ROPE = {"qwen2"}
SUPPORTED_ARCHS = {"llama", "mistral", "qwen2"}


@dataclass
class Config:
    arch: str
    n_layers: int
    dim: int            # embedding length
    hidden_dim: int     # feed-forward length
    n_heads: int
    n_kv_heads: int
    head_dim: int
    n_rot: int          # dims of each head that rope rotates
    vocab_size: int
    context_length: int
    rope_theta: float
    rms_eps: float
    rope_neox: bool


@dataclass
class Layer:
    attn_norm: np.ndarray   # (dim,)
    wq: np.ndarray          # (n_heads*head_dim, dim)
    wk: np.ndarray          # (n_kv_heads*head_dim, dim)
    wv: np.ndarray          # (n_kv_heads*head_dim, dim)
    wo: np.ndarray          # (dim, n_heads*head_dim)
    ffn_norm: np.ndarray    # (dim,)
    w_gate: np.ndarray      # (hidden_dim, dim)
    w_up: np.ndarray        # (hidden_dim, dim)
    w_down: np.ndarray      # (dim, hidden_dim)
    bq: np.ndarray | None = None   # qwen2's qkv biases
    bk: np.ndarray | None = None
    bv: np.ndarray | None = None


@dataclass
class Weights:
    token_embd: np.ndarray  # (vocab_size, dim)
    layers: list[Layer]
    output_norm: np.ndarray  # (dim,)
    output: np.ndarray       # (vocab_size, dim); token_embd when the embeddings are tied
    tied: bool = field(default=False)


# ----------------------------------------------------------------------------------------------
# loading

def load(paths: Path | list[Path]) -> tuple[Config, Weights]:
    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    readers = [gguf.GGUFReader(p) for p in paths]
    meta = {k: f.contents() for k, f in readers[0].fields.items() if not k.startswith("GGUF.")}
    tensors = {t.name: t for r in readers for t in r.tensors}
    arch = meta["general.architecture"]
    if arch not in SUPPORTED_ARCHS:
        raise ValueError(f"architecture {arch!r} is not in the llama family ({sorted(SUPPORTED_ARCHS)})")
    n_heads = int(meta[f"{arch}.attention.head_count"])
    dim = int(meta[f"{arch}.embedding_length"])
    head_dim = int(meta.get(f"{arch}.attention.key_length", dim // n_heads))
    cfg = Config(
        arch=arch,
        n_layers=int(meta[f"{arch}.block_count"]),
        dim=dim,
        hidden_dim=int(meta[f"{arch}.feed_forward_length"]),
        n_heads=n_heads,
        n_kv_heads=int(meta.get(f"{arch}.attention.head_count_kv", n_heads)),
        head_dim=head_dim,
        n_rot=int(meta.get(f"{arch}.rope.dimension_count", head_dim)),
        vocab_size=int(tensors["token_embd.weight"].shape[1]),
        context_length=int(meta[f"{arch}.context_length"]),
        rope_theta=float(meta.get(f"{arch}.rope.freq_base", 10000.0)),
        rms_eps=float(meta[f"{arch}.attention.layer_norm_rms_epsilon"]),
        rope_neox=arch in NEOX_ROPE,
    )

    def w(name):
        t = tensors[name]
        return gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32).reshape(
            [int(x) for x in reversed(t.shape)])

    def maybe(name):
        return w(name) if name in tensors else None

    layers = [
        Layer(
            attn_norm=w(f"blk.{i}.attn_norm.weight"),
            wq=w(f"blk.{i}.attn_q.weight"), wk=w(f"blk.{i}.attn_k.weight"), wv=w(f"blk.{i}.attn_v.weight"),
            wo=w(f"blk.{i}.attn_output.weight"),
            ffn_norm=w(f"blk.{i}.ffn_norm.weight"),
            w_gate=w(f"blk.{i}.ffn_gate.weight"), w_up=w(f"blk.{i}.ffn_up.weight"),
            w_down=w(f"blk.{i}.ffn_down.weight"),
            bq=maybe(f"blk.{i}.attn_q.bias"), bk=maybe(f"blk.{i}.attn_k.bias"), bv=maybe(f"blk.{i}.attn_v.bias"),
        )
        for i in range(cfg.n_layers)
    ]
    token_embd = w("token_embd.weight")
    tied = "output.weight" not in tensors
    return cfg, Weights(token_embd=token_embd, layers=layers, output_norm=w("output_norm.weight"),
                        output=token_embd if tied else w("output.weight"), tied=tied)


# ----------------------------------------------------------------------------------------------
# the ops, named like the kernels

def rmsnorm(x, weight, eps):
    """x: (n_tokens, dim)."""
    return x / np.sqrt(np.mean(x.astype(np.float64) ** 2, axis=-1, keepdims=True) + eps).astype(np.float32) * weight


def matmul(x, w, bias=None):
    """x: (n_tokens, n_in), w: (n_out, n_in) -> (n_tokens, n_out)."""
    y = x @ w.T
    return y if bias is None else y + bias


def rope_cos_sin(positions, n_rot, theta):
    """(n_tokens, n_rot/2) cos and sin of each position times each rope frequency."""
    freqs = theta ** (-np.arange(0, n_rot, 2, dtype=np.float64) / n_rot)
    angles = np.asarray(positions, dtype=np.float64)[:, None] * freqs[None, :]
    return np.cos(angles).astype(np.float32), np.sin(angles).astype(np.float32)


def rope(x, positions, n_rot, theta, neox):
    """x: (n_tokens, n_heads, head_dim); rotates the first n_rot dims of every head."""
    cos, sin = rope_cos_sin(positions, n_rot, theta)
    cos, sin = cos[:, None, :], sin[:, None, :]
    half = n_rot // 2
    a = np.arange(half) if neox else 2 * np.arange(half)
    b = a + half if neox else a + 1
    out = x.copy()
    out[..., a] = x[..., a] * cos - x[..., b] * sin
    out[..., b] = x[..., a] * sin + x[..., b] * cos
    return out


def attention(q, k, v, pos0=0):
    """Causal grouped-query attention. q: (n_tokens, n_heads, hd); k, v: (n_keys, n_kv_heads, hd),
    where query t sits at position pos0 + t and sees keys 0 .. pos0 + t."""
    n_tokens, n_heads, head_dim = q.shape
    group = n_heads // k.shape[1]
    k = np.repeat(k, group, axis=1)
    v = np.repeat(v, group, axis=1)
    scores = np.einsum("thd,khd->htk", q, k) / np.sqrt(head_dim)
    mask = np.arange(k.shape[0])[None, :] > (pos0 + np.arange(n_tokens))[:, None]
    scores = np.where(mask[None], -np.inf, scores)
    scores = scores - scores.max(axis=-1, keepdims=True)
    p = np.exp(scores)
    p /= p.sum(axis=-1, keepdims=True)
    return np.einsum("htk,khd->thd", p, v).astype(np.float32)


def swiglu(gate, up):
    return gate / (1.0 + np.exp(-gate)) * up


# ----------------------------------------------------------------------------------------------
# the forward pass

def forward(cfg: Config, w: Weights, tokens, capture: dict | None = None) -> np.ndarray:
    """Logits (n_tokens, vocab_size) for a whole token sequence starting at position 0."""
    tokens = np.asarray(tokens, dtype=np.int64)
    n = len(tokens)
    positions = np.arange(n)
    keep = capture.__setitem__ if capture is not None else (lambda *_: None)
    x = w.token_embd[tokens]
    keep("embed", x)
    for i, L in enumerate(w.layers):
        xb = rmsnorm(x, L.attn_norm, cfg.rms_eps)
        q = matmul(xb, L.wq, L.bq).reshape(n, cfg.n_heads, cfg.head_dim)
        k = matmul(xb, L.wk, L.bk).reshape(n, cfg.n_kv_heads, cfg.head_dim)
        v = matmul(xb, L.wv, L.bv).reshape(n, cfg.n_kv_heads, cfg.head_dim)
        q = rope(q, positions, cfg.n_rot, cfg.rope_theta, cfg.rope_neox)
        k = rope(k, positions, cfg.n_rot, cfg.rope_theta, cfg.rope_neox)
        att = attention(q, k, v).reshape(n, cfg.n_heads * cfg.head_dim)
        keep(f"blk.{i}.attn_out", att)
        x = x + matmul(att, L.wo)
        keep(f"blk.{i}.attn_residual", x)
        xb = rmsnorm(x, L.ffn_norm, cfg.rms_eps)
        x = x + matmul(swiglu(matmul(xb, L.w_gate), matmul(xb, L.w_up)), L.w_down)
        keep(f"blk.{i}.out", x)
    x = rmsnorm(x, w.output_norm, cfg.rms_eps)
    keep("final_norm", x)
    return matmul(x, w.output)
