"""A plain numpy forward pass of every decoder architecture our engine runs, the oracle for the engine.

The llama family (llama, mistral, qwen2), Qwen3 (norms on each q/k head), Phi-3 (fused q|k|v and
gate|up projections) and the Gemma family (gemma, gemma2, gemma3: GELU-gated feed-forward, the
embeddings scaled by sqrt(dim), norms after attention and after the feed-forward, q/k norms,
sliding-window layers with their own RoPE base, soft-capped attention scores and logits). What
each architecture means is read from GGUF metadata the way llama.cpp reads it (arch_rules).

It reads the same GGUF (single file or gguf-split shards), dequantizes every tensor with the gguf
package, and runs in float32 without quantizing activations. forward() can capture named
intermediate activations, e.g. "blk.0.attn_out" or "final_norm".
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import gguf
import numpy as np

SUPPORTED_ARCHS = {"llama", "mistral", "qwen2", "qwen3", "phi3", "gemma", "gemma2", "gemma3"}
# Architectures whose rope rotates (i, i + n_rot/2) pairs instead of adjacent ones.
NEOX_ROPE = {"qwen2", "qwen3", "phi3", "gemma", "gemma2", "gemma3"}
GEMMA = {"gemma", "gemma2", "gemma3"}
# Sliding-window layers: layer l slides when l % pattern < pattern - 1 (llama.cpp's swa pattern).
SWA_PATTERN = {"gemma2": 2, "gemma3": 6}


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
    rope_scale: float = 1.0        # positions times this (linear rope scaling: 1 / factor)
    embed_scale: float = 1.0       # the embedding rows times this (Gemma: sqrt(dim))
    ffn_act: str = "silu"          # the gate's activation: "silu" (SwiGLU) or "gelu" (tanh form, GeGLU)
    attn_scale: float = 0.0        # scores times this; 1 / sqrt(head_dim) unless the architecture says
    attn_softcap: float = 0.0      # scores -> c * tanh(scores / c) when c > 0 (Gemma 2)
    final_softcap: float = 0.0     # logits -> c * tanh(logits / c) when c > 0 (Gemma 2)
    sliding_window: int = 0        # keys at most this many positions back on sliding layers (0: none)
    swa_layers: list[bool] = field(default_factory=list)
    rope_theta_swa: float = 0.0    # the sliding layers' rope base (Gemma 3: 10000), 0: rope_theta
    rope_scale_swa: float = 1.0
    rope_freq_factors: np.ndarray | None = None  # (n_rot/2,) each rope frequency divided by its factor (Llama 3.1+)

    def rope_of(self, layer: int) -> tuple[float, float]:
        """(theta, position scale) of a layer's RoPE."""
        if self.rope_theta_swa and self.swa_layers and self.swa_layers[layer]:
            return self.rope_theta_swa, self.rope_scale_swa
        return self.rope_theta, self.rope_scale

    def window_of(self, layer: int) -> int:
        return self.sliding_window if self.swa_layers and self.swa_layers[layer] else 0


def arch_rules(arch: str, meta: dict, n_layers: int, dim: int, n_heads: int, head_dim: int) -> dict:
    """The Config fields an architecture's GGUF metadata implies beyond the shapes, as llama.cpp
    derives them. Raises ValueError for rope scaling other than linear."""
    get = lambda key, default=None: meta.get(f"{arch}.{key}", default)  # noqa: E731
    scaling = get("rope.scaling.type", "none")
    if scaling not in ("none", "linear"):
        raise ValueError(f"rope scaling {scaling!r} is not supported")
    factor = float(get("rope.scaling.factor", 1.0) or 1.0) if scaling == "linear" else 1.0
    out = {"rope_neox": arch in NEOX_ROPE, "rope_scale": 1.0 / factor, "attn_scale": 1.0 / math.sqrt(head_dim)}
    if arch in GEMMA:
        out.update(embed_scale=math.sqrt(dim), ffn_act="gelu")
    if arch in SWA_PATTERN:
        p = SWA_PATTERN[arch]
        out["swa_layers"] = [l % p < p - 1 for l in range(n_layers)]
        out["sliding_window"] = int(get("attention.sliding_window", 4096 if arch == "gemma2" else 0))
        # Gemma 2 27B and Gemma 3 27B scale queries by 1/sqrt(dim / n_heads), the others by 1/sqrt(head_dim).
        if n_layers == {"gemma2": 46, "gemma3": 62}[arch]:
            out["attn_scale"] = 1.0 / math.sqrt(dim / n_heads)
    if arch == "gemma2":
        out["attn_softcap"] = float(get("attn_logit_softcapping", 50.0))
        out["final_softcap"] = float(get("final_logit_softcapping", 30.0))
    if arch == "gemma3":
        out["rope_theta_swa"], out["rope_scale_swa"] = 10000.0, 1.0
    return out


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
    q_norm: np.ndarray | None = None          # (head_dim,) RMSNorm of each q head before rope (qwen3, gemma3)
    k_norm: np.ndarray | None = None
    attn_post_norm: np.ndarray | None = None  # (dim,) RMSNorm of the attention output before the residual (gemma2, 3)
    ffn_post_norm: np.ndarray | None = None   # (dim,) the same after the feed-forward


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
        raise ValueError(f"architecture {arch!r} is not one the engine runs ({sorted(SUPPORTED_ARCHS)})")
    n_heads = int(meta[f"{arch}.attention.head_count"])
    n_layers = int(meta[f"{arch}.block_count"])
    dim = int(meta[f"{arch}.embedding_length"])
    head_dim = int(meta.get(f"{arch}.attention.key_length", dim // n_heads))
    cfg = Config(
        arch=arch,
        n_layers=n_layers,
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
        **arch_rules(arch, meta, n_layers, dim, n_heads, head_dim),
    )
    if "rope_freqs.weight" in tensors:
        cfg.rope_freq_factors = np.asarray(tensors["rope_freqs.weight"].data, dtype=np.float64).reshape(-1)

    def w(name):
        t = tensors[name]
        return gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32).reshape(
            [int(x) for x in reversed(t.shape)])

    def maybe(name):
        return w(name) if name in tensors else None

    q_dim, kv_dim = cfg.n_heads * head_dim, cfg.n_kv_heads * head_dim

    def layer(i):
        p = f"blk.{i}."
        if p + "attn_qkv.weight" in tensors:  # phi3: q, k and v rows in one tensor
            qkv = w(p + "attn_qkv.weight")
            wq, wk, wv = qkv[:q_dim], qkv[q_dim:q_dim + kv_dim], qkv[q_dim + kv_dim:]
        else:
            wq, wk, wv = w(p + "attn_q.weight"), w(p + "attn_k.weight"), w(p + "attn_v.weight")
        up = w(p + "ffn_up.weight")
        if p + "ffn_gate.weight" in tensors:
            gate = w(p + "ffn_gate.weight")
        else:  # phi3: gate rows, then up rows
            gate, up = up[:cfg.hidden_dim], up[cfg.hidden_dim:]
        return Layer(
            attn_norm=w(p + "attn_norm.weight"), wq=wq, wk=wk, wv=wv, wo=w(p + "attn_output.weight"),
            ffn_norm=w(p + "ffn_norm.weight"), w_gate=gate, w_up=up, w_down=w(p + "ffn_down.weight"),
            bq=maybe(p + "attn_q.bias"), bk=maybe(p + "attn_k.bias"), bv=maybe(p + "attn_v.bias"),
            q_norm=maybe(p + "attn_q_norm.weight"), k_norm=maybe(p + "attn_k_norm.weight"),
            attn_post_norm=maybe(p + "post_attention_norm.weight"), ffn_post_norm=maybe(p + "post_ffw_norm.weight"),
        )

    layers = [layer(i) for i in range(cfg.n_layers)]
    token_embd = w("token_embd.weight")
    tied = "output.weight" not in tensors
    return cfg, Weights(token_embd=token_embd, layers=layers, output_norm=w("output_norm.weight"),
                        output=token_embd if tied else w("output.weight"), tied=tied)


# ----------------------------------------------------------------------------------------------
# the ops, named like the kernels

def rmsnorm(x, weight, eps):
    """x: (..., dim), normalized over the last axis."""
    return x / np.sqrt(np.mean(x.astype(np.float64) ** 2, axis=-1, keepdims=True) + eps).astype(np.float32) * weight


def matmul(x, w, bias=None):
    """x: (n_tokens, n_in), w: (n_out, n_in) -> (n_tokens, n_out)."""
    y = x @ w.T
    return y if bias is None else y + bias


def rope_cos_sin(positions, n_rot, theta, scale=1.0, factors=None):
    """(n_tokens, n_rot/2) cos and sin of each (scaled) position times each rope frequency, divided
    by its factor where there are factors (llama.cpp's rope freq_factors)."""
    freqs = theta ** (-np.arange(0, n_rot, 2, dtype=np.float64) / n_rot)
    if factors is not None:
        freqs = freqs / factors
    angles = np.asarray(positions, dtype=np.float64)[:, None] * scale * freqs[None, :]
    return np.cos(angles).astype(np.float32), np.sin(angles).astype(np.float32)


def rope(x, positions, n_rot, theta, neox, scale=1.0, factors=None):
    """x: (n_tokens, n_heads, head_dim); rotates the first n_rot dims of every head."""
    cos, sin = rope_cos_sin(positions, n_rot, theta, scale, factors)
    cos, sin = cos[:, None, :], sin[:, None, :]
    half = n_rot // 2
    a = np.arange(half) if neox else 2 * np.arange(half)
    b = a + half if neox else a + 1
    out = x.copy()
    out[..., a] = x[..., a] * cos - x[..., b] * sin
    out[..., b] = x[..., a] * sin + x[..., b] * cos
    return out


def softcap(x, cap):
    """cap * tanh(x / cap); x unchanged when cap is 0."""
    return (cap * np.tanh(x / cap)).astype(np.float32) if cap else x


def attention(q, k, v, pos0=0, scale=None, softcap_c=0.0, window=0):
    """Causal grouped-query attention. q: (n_tokens, n_heads, hd); k, v: (n_keys, n_kv_heads, hd),
    where query t sits at position pos0 + t and sees keys 0 .. pos0 + t (only the last `window` of
    them when window > 0). Scores are q.k times scale (1/sqrt(hd) by default), soft-capped."""
    n_tokens, n_heads, head_dim = q.shape
    group = n_heads // k.shape[1]
    k = np.repeat(k, group, axis=1)
    v = np.repeat(v, group, axis=1)
    scores = np.einsum("thd,khd->htk", q, k) * (1.0 / np.sqrt(head_dim) if scale is None else scale)
    scores = softcap(scores, softcap_c)
    q_pos = (pos0 + np.arange(n_tokens))[:, None]
    k_pos = np.arange(k.shape[0])[None, :]
    mask = (k_pos > q_pos) | ((q_pos - k_pos >= window) if window else False)
    scores = np.where(mask[None], -np.inf, scores)
    scores = scores - scores.max(axis=-1, keepdims=True)
    p = np.exp(scores)
    p /= p.sum(axis=-1, keepdims=True)
    return np.einsum("htk,khd->thd", p, v).astype(np.float32)


def swiglu(gate, up):
    return gate / (1.0 + np.exp(-gate)) * up


def geglu(gate, up):
    """GELU in its tanh form (llama.cpp's ggml_gelu, HF's gelu_pytorch_tanh) of the gate, times up."""
    g = gate.astype(np.float64)
    return (0.5 * g * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (g + 0.044715 * g ** 3))) * up).astype(np.float32)


# ----------------------------------------------------------------------------------------------
# the forward pass

def forward(cfg: Config, w: Weights, tokens, capture: dict | None = None) -> np.ndarray:
    """Logits (n_tokens, vocab_size) for a whole token sequence starting at position 0."""
    tokens = np.asarray(tokens, dtype=np.int64)
    n = len(tokens)
    positions = np.arange(n)
    keep = capture.__setitem__ if capture is not None else (lambda *_: None)
    glu = geglu if cfg.ffn_act == "gelu" else swiglu
    x = w.token_embd[tokens] * np.float32(cfg.embed_scale)
    keep("embed", x)
    for i, L in enumerate(w.layers):
        xb = rmsnorm(x, L.attn_norm, cfg.rms_eps)
        q = matmul(xb, L.wq, L.bq).reshape(n, cfg.n_heads, cfg.head_dim)
        k = matmul(xb, L.wk, L.bk).reshape(n, cfg.n_kv_heads, cfg.head_dim)
        v = matmul(xb, L.wv, L.bv).reshape(n, cfg.n_kv_heads, cfg.head_dim)
        if L.q_norm is not None:
            q, k = rmsnorm(q, L.q_norm, cfg.rms_eps), rmsnorm(k, L.k_norm, cfg.rms_eps)
        theta, scale = cfg.rope_of(i)
        q = rope(q, positions, cfg.n_rot, theta, cfg.rope_neox, scale, cfg.rope_freq_factors)
        k = rope(k, positions, cfg.n_rot, theta, cfg.rope_neox, scale, cfg.rope_freq_factors)
        att = attention(q, k, v, scale=cfg.attn_scale or None, softcap_c=cfg.attn_softcap,
                        window=cfg.window_of(i)).reshape(n, cfg.n_heads * cfg.head_dim)
        keep(f"blk.{i}.attn_out", att)
        y = matmul(att, L.wo)
        x = x + (y if L.attn_post_norm is None else rmsnorm(y, L.attn_post_norm, cfg.rms_eps))
        keep(f"blk.{i}.attn_residual", x)
        xb = rmsnorm(x, L.ffn_norm, cfg.rms_eps)
        y = matmul(glu(matmul(xb, L.w_gate), matmul(xb, L.w_up)), L.w_down)
        x = x + (y if L.ffn_post_norm is None else rmsnorm(y, L.ffn_post_norm, cfg.rms_eps))
        keep(f"blk.{i}.out", x)
    x = rmsnorm(x, w.output_norm, cfg.rms_eps)
    keep("final_norm", x)
    return softcap(matmul(x, w.output), cfg.final_softcap)
