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


def _llama3_inv_freq(inv_freq, r):
    """HF's Llama 3.1 rope: low frequencies divided by the factor, high ones kept, the band
    between smoothed (transformers' _compute_llama3_parameters, written from its definition)."""
    old = r["original_max_position_embeddings"]
    lo, hi, factor = r["low_freq_factor"], r["high_freq_factor"], r["factor"]
    wavelen = 2 * math.pi / inv_freq
    scaled = np.where(wavelen > old / lo, inv_freq / factor, inv_freq)
    smooth = (old / wavelen - lo) / (hi - lo)
    smoothed = (1 - smooth) * scaled / factor + smooth * scaled
    medium = (wavelen >= old / hi) & (wavelen <= old / lo)
    return np.where(medium, smoothed, scaled)


def llama_logits(t: dict[str, np.ndarray], c: dict, ids) -> np.ndarray:
    """A decoder in float64, as HF's modeling code for c["architectures"][0] computes it:
    LlamaForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM (RMSNorm of each q/k head), Phi3ForCausalLM
    (fused qkv_proj and gate_up_proj), GemmaForCausalLM (norms times 1 + w, embeddings times
    sqrt(hidden), gelu_pytorch_tanh), Gemma2ForCausalLM (sandwich norms, query_pre_attn_scalar,
    soft-capping, a sliding window on even layers) and Gemma3ForCausalLM (q/k norms, sliding layers
    with rope_local_base_freq, global ones with rope_theta and linear rope_scaling); Llama 3.1's rope_scaling.
    (n_tokens, vocab)."""
    t = {k: v.astype(np.float64) for k, v in t.items()}
    arch = c["architectures"][0]
    gemma = arch.startswith("Gemma")
    n = len(ids)
    n_heads, n_kv = c["num_attention_heads"], c.get("num_key_value_heads", c["num_attention_heads"])
    hd = c.get("head_dim") or c["hidden_size"] // n_heads
    eps = c["rms_norm_eps"]

    def norm(x, w):
        return _rmsnorm(x, 1.0 + w if gemma else w, eps)

    def rotary(theta, factor=1.0):
        inv_freq = 1.0 / theta ** (np.arange(0, hd, 2) / hd) / factor
        if (c.get("rope_scaling") or {}).get("rope_type") == "llama3":
            inv_freq = _llama3_inv_freq(inv_freq, c["rope_scaling"])
        emb = np.concatenate([np.arange(n)[:, None] * inv_freq[None, :]] * 2, axis=-1)
        return np.cos(emb)[:, None, :], np.sin(emb)[:, None, :]

    scaling = (c.get("query_pre_attn_scalar") or hd) ** -0.5 if arch in ("Gemma2ForCausalLM", "Gemma3ForCausalLM") else hd ** -0.5
    x = t["model.embed_tokens.weight"][ids]
    if gemma:
        x = x * math.sqrt(c["hidden_size"])
    for i in range(c["num_hidden_layers"]):
        p = f"model.layers.{i}."
        sliding = {"Gemma2ForCausalLM": i % 2 == 0, "Gemma3ForCausalLM": (i + 1) % 6 != 0}.get(arch, False)
        theta, factor = c.get("rope_theta", 10000.0), 1.0
        if arch == "Gemma3ForCausalLM":
            if sliding:
                theta = c.get("rope_local_base_freq", 10000.0)
            elif c.get("rope_scaling"):
                factor = c["rope_scaling"]["factor"]
        cos, sin = rotary(theta, factor)
        h = norm(x, t[p + "input_layernorm.weight"])

        def proj(name, heads):
            y = h @ t[p + f"self_attn.{name}.weight"].T
            if p + f"self_attn.{name}.bias" in t:
                y = y + t[p + f"self_attn.{name}.bias"]
            return y.reshape(n, heads, hd)

        if arch == "Phi3ForCausalLM":
            qkv = h @ t[p + "self_attn.qkv_proj.weight"].T
            q = qkv[:, :n_heads * hd].reshape(n, n_heads, hd)
            k = qkv[:, n_heads * hd:(n_heads + n_kv) * hd].reshape(n, n_kv, hd)
            v = qkv[:, (n_heads + n_kv) * hd:].reshape(n, n_kv, hd)
        else:
            q, k, v = proj("q_proj", n_heads), proj("k_proj", n_kv), proj("v_proj", n_kv)
        if p + "self_attn.q_norm.weight" in t:
            q, k = norm(q, t[p + "self_attn.q_norm.weight"]), norm(k, t[p + "self_attn.k_norm.weight"])
        q = q * cos + _rotate_half(q) * sin
        k = k * cos + _rotate_half(k) * sin
        k, v = np.repeat(k, n_heads // n_kv, axis=1), np.repeat(v, n_heads // n_kv, axis=1)
        scores = np.einsum("qhd,khd->hqk", q, k) * scaling
        if c.get("attn_logit_softcapping") and arch == "Gemma2ForCausalLM":
            scores = np.tanh(scores / c["attn_logit_softcapping"]) * c["attn_logit_softcapping"]
        mask = np.triu(np.full((n, n), -np.inf), k=1)
        if sliding:
            mask = mask + np.tril(np.full((n, n), -np.inf), k=-c["sliding_window"])
        att = np.einsum("hqk,khd->qhd", _softmax(scores + mask), v).reshape(n, n_heads * hd)
        out = att @ t[p + "self_attn.o_proj.weight"].T
        if arch in ("Gemma2ForCausalLM", "Gemma3ForCausalLM"):
            x = x + norm(out, t[p + "post_attention_layernorm.weight"])
            h = norm(x, t[p + "pre_feedforward_layernorm.weight"])
        else:
            x = x + out
            h = norm(x, t[p + "post_attention_layernorm.weight"])
        if arch == "Phi3ForCausalLM":
            gate, up = np.split(h @ t[p + "mlp.gate_up_proj.weight"].T, 2, axis=-1)
        else:
            gate, up = h @ t[p + "mlp.gate_proj.weight"].T, h @ t[p + "mlp.up_proj.weight"].T
        if gemma:
            act = 0.5 * gate * (1 + np.tanh(math.sqrt(2 / math.pi) * (gate + 0.044715 * gate ** 3)))
        else:
            act = gate / (1 + np.exp(-gate))
        out = (act * up) @ t[p + "mlp.down_proj.weight"].T
        x = x + (norm(out, t[p + "post_feedforward_layernorm.weight"]) if p + "post_feedforward_layernorm.weight" in t else out)
    x = norm(x, t["model.norm.weight"])
    head = t.get("lm_head.weight", t["model.embed_tokens.weight"])
    logits = x @ head.T
    if c.get("final_logit_softcapping") and arch == "Gemma2ForCausalLM":
        logits = np.tanh(logits / c["final_logit_softcapping"]) * c["final_logit_softcapping"]
    return logits


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
