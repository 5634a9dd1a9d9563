"""Forward passes written the way Hugging Face's modeling code computes them, over HF tensor names.

They are the independent side of the converter tests: rope by rotate_half on the HF q/k layout,
grouped-query attention by repeating k/v heads, BERT with post-layer-norms and erf-GELU. If the
converter got the RoPE permutation or the GQA head counts wrong, reference.py over its GGUF
would disagree with these.
"""
from __future__ import annotations

import math

import numpy as np


def _rmsnorm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def _layernorm(x, w, b, eps):
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def _rotate_half(x):
    half = x.shape[-1] // 2
    return np.concatenate([-x[..., half:], x[..., :half]], axis=-1)


def _softmax(x):
    x = x - x.max(axis=-1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=-1, keepdims=True)


def llama_logits(t: dict[str, np.ndarray], c: dict, ids) -> np.ndarray:
    """LlamaForCausalLM / Qwen2ForCausalLM in float64: (n_tokens, vocab_size)."""
    t = {k: v.astype(np.float64) for k, v in t.items()}
    n = len(ids)
    n_heads, n_kv = c["num_attention_heads"], c.get("num_key_value_heads", c["num_attention_heads"])
    hd = c.get("head_dim") or c["hidden_size"] // n_heads
    eps, theta = c["rms_norm_eps"], c.get("rope_theta", 10000.0)
    inv_freq = 1.0 / theta ** (np.arange(0, hd, 2) / hd)
    angles = np.arange(n)[:, None] * inv_freq[None, :]
    emb = np.concatenate([angles, angles], axis=-1)
    cos, sin = np.cos(emb)[:, None, :], np.sin(emb)[:, None, :]
    mask = np.triu(np.full((n, n), -np.inf), k=1)
    x = t["model.embed_tokens.weight"][ids]
    for i in range(c["num_hidden_layers"]):
        p = f"model.layers.{i}."
        h = _rmsnorm(x, t[p + "input_layernorm.weight"], eps)

        def proj(name, heads):
            y = h @ t[p + f"self_attn.{name}.weight"].T
            if p + f"self_attn.{name}.bias" in t:
                y = y + t[p + f"self_attn.{name}.bias"]
            return y.reshape(n, heads, hd)

        q, k, v = proj("q_proj", n_heads), proj("k_proj", n_kv), proj("v_proj", n_kv)
        q = q * cos + _rotate_half(q) * sin
        k = k * cos + _rotate_half(k) * sin
        k, v = np.repeat(k, n_heads // n_kv, axis=1), np.repeat(v, n_heads // n_kv, axis=1)
        scores = np.einsum("qhd,khd->hqk", q, k) / math.sqrt(hd) + mask
        att = np.einsum("hqk,khd->qhd", _softmax(scores), v).reshape(n, n_heads * hd)
        x = x + att @ t[p + "self_attn.o_proj.weight"].T
        h = _rmsnorm(x, t[p + "post_attention_layernorm.weight"], eps)
        gate, up = h @ t[p + "mlp.gate_proj.weight"].T, h @ t[p + "mlp.up_proj.weight"].T
        x = x + (gate / (1 + np.exp(-gate)) * up) @ t[p + "mlp.down_proj.weight"].T
    x = _rmsnorm(x, t["model.norm.weight"], eps)
    head = t.get("lm_head.weight", t["model.embed_tokens.weight"])
    return x @ head.T


def bert_sentence_embedding(t: dict[str, np.ndarray], c: dict, ids) -> np.ndarray:
    """BertModel + sentence-transformers mean pooling + L2 normalization, in float64: (dim,)."""
    t = {k: v.astype(np.float64) for k, v in t.items()}
    n, d, n_heads = len(ids), c["hidden_size"], c["num_attention_heads"]
    hd, eps = d // n_heads, c["layer_norm_eps"]
    erf = np.vectorize(math.erf)
    x = t["embeddings.word_embeddings.weight"][ids] + t["embeddings.position_embeddings.weight"][:n] \
        + t["embeddings.token_type_embeddings.weight"][0]
    x = _layernorm(x, t["embeddings.LayerNorm.weight"], t["embeddings.LayerNorm.bias"], eps)
    for i in range(c["num_hidden_layers"]):
        p = f"encoder.layer.{i}."

        def lin(name, h):
            return h @ t[p + name + ".weight"].T + t[p + name + ".bias"]

        q, k, v = (lin(f"attention.self.{m}", x).reshape(n, n_heads, hd) for m in ("query", "key", "value"))
        scores = np.einsum("qhd,khd->hqk", q, k) / math.sqrt(hd)
        att = np.einsum("hqk,khd->qhd", _softmax(scores), v).reshape(n, d)
        x = _layernorm(x + lin("attention.output.dense", att), t[p + "attention.output.LayerNorm.weight"],
                       t[p + "attention.output.LayerNorm.bias"], eps)
        h = lin("intermediate.dense", x)
        h = 0.5 * h * (1 + erf(h / math.sqrt(2)))
        x = _layernorm(x + lin("output.dense", h), t[p + "output.LayerNorm.weight"], t[p + "output.LayerNorm.bias"], eps)
    e = x.mean(axis=0)
    return e / np.linalg.norm(e)


def minilm_embeddings(tensors: dict[str, np.ndarray], model_dir, texts: list[str]) -> np.ndarray:
    """Sentence embeddings (len(texts), dim) of a sentence-transformers BERT folder's tokenizer and config,
    computed with TENSORS (its own weights, or another copy of them)."""
    import json
    config = json.loads((model_dir / "config.json").read_text())
    with (model_dir / "vocab.txt").open(encoding="utf-8") as f:
        vocab = {t.rstrip("\n"): i for i, t in enumerate(f)}
    return np.array([bert_sentence_embedding(tensors, config, wordpiece(vocab, t)) for t in texts])


def wordpiece(vocab: dict[str, int], text: str) -> list[int]:
    """BERT uncased tokenization for plain ASCII text: [CLS] pieces [SEP]."""
    words = []
    for w in text.lower().split():
        cur = ""
        for ch in w:
            if not ch.isalnum():
                words += [cur, ch] if cur else [ch]
                cur = ""
            else:
                cur += ch
        if cur:
            words.append(cur)
    ids = [vocab["[CLS]"]]
    for w in words:
        start = 0
        while start < len(w):
            end = len(w)
            while end > start and (("##" if start else "") + w[start:end]) not in vocab:
                end -= 1
            if end == start:
                ids.append(vocab["[UNK]"])
                break
            ids.append(vocab[("##" if start else "") + w[start:end]])
            start = end
    return ids + [vocab["[SEP]"]]
