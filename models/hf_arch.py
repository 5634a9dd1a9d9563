"""The architectures a Hugging Face config.json may name, and what each means for the GGUF.

For each: the GGUF architecture, the tensor-name family (tensor_names.py), whether q/k rows are
permuted for llama.cpp's rope, the GGUF metadata, and the shape every tensor must have.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import gguf
import numpy as np

from .errors import ModelError


@dataclass(frozen=True)
class Arch:
    hf_names: tuple[str, ...]   # config.json "architectures"
    model_type: str             # config.json "model_type"
    gguf_arch: str
    family: str
    permute_qk: bool            # HF rotates (i, i + head_dim/2) pairs; llama.cpp's "llama" rope rotates (2i, 2i + 1)
    norm_plus_one: bool = False  # Gemma's RMSNorm multiplies by (1 + w); llama.cpp stores 1 + w


ARCHS = (
    Arch(("LlamaForCausalLM", "LlamaModel"), "llama", "llama", "llama", True),
    # llama.cpp converts Mistral to its "llama" architecture: same graph, same rope.
    Arch(("MistralForCausalLM",), "mistral", "llama", "llama", True),
    Arch(("Qwen2ForCausalLM",), "qwen2", "qwen2", "llama", False),
    Arch(("Qwen3ForCausalLM",), "qwen3", "qwen3", "qwen3", False),
    Arch(("Phi3ForCausalLM",), "phi3", "phi3", "phi3", False),
    Arch(("GemmaForCausalLM",), "gemma", "gemma", "gemma", False, True),
    Arch(("Gemma2ForCausalLM",), "gemma2", "gemma2", "gemma2", False, True),
    Arch(("Gemma3ForCausalLM",), "gemma3_text", "gemma3", "gemma3", False, True),
    Arch(("BertModel", "BertForMaskedLM"), "bert", "bert", "bert", False),
)
DECODER_FAMILIES = {"llama", "qwen3", "phi3", "gemma", "gemma2", "gemma3"}


@dataclass(frozen=True)
class HFConfig:
    arch: Arch
    n_layers: int
    dim: int
    hidden_dim: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    vocab_size: int
    context_length: int
    norm_eps: float
    rope_theta: float
    tied: bool
    type_vocab_size: int
    name: str | None
    n_rot: int = 0
    # Architecture keys written as {arch}.KEY (Gemma 2's soft-caps, sliding windows, rope scaling).
    extra: tuple[tuple[str, object], ...] = ()
    # Llama 3.1+: rope_freqs.weight, a factor dividing each rope frequency (llama3_rope_factors).
    rope_freqs: tuple[float, ...] = ()


def read_config(path: Path) -> HFConfig:
    """PATH is config.json; raise ModelError for an unknown architecture or a missing field."""
    try:
        c = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"{path.parent}: no config.json", "copy the model's config.json next to its weights") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelError(f"{path}: not JSON ({e})", "copy the model's config.json again") from None
    names = tuple(c.get("architectures") or ())
    arch = next((a for a in ARCHS if set(names) & set(a.hf_names)), None)
    if arch is None and not names:
        arch = next((a for a in ARCHS if a.model_type == c.get("model_type")), None)
    if arch is None:
        known = ", ".join(n for a in ARCHS for n in a.hf_names)
        raise ModelError(f"{path.name}: architecture {', '.join(names) or c.get('model_type')!r} is not supported",
                         f"supported: {known}")
    try:
        return _parse(arch, c)
    except KeyError as e:
        raise ModelError(f"{path.name}: missing {e.args[0]!r} for {arch.hf_names[0]}", "the config.json is incomplete") from None


def _parse(arch: Arch, c: dict) -> HFConfig:
    if arch.family == "bert":
        if c.get("hidden_act", "gelu") != "gelu" or c.get("position_embedding_type", "absolute") != "absolute":
            raise ModelError("config.json: only BERT with gelu and absolute positions is supported",
                             f"this one has {c.get('hidden_act')} and {c.get('position_embedding_type')}")
    elif c.get("rope_scaling") and not ((arch.gguf_arch == "gemma3" and _rope_type(c) == "linear")
                                        or (arch.gguf_arch == "llama" and _rope_type(c) == "llama3")):
        raise ModelError(f"config.json: rope_scaling {_rope_type(c)!r} is not supported yet",
                         "use a model without rope scaling (Llama 2/3, Mistral, Qwen2/3, Phi-3 4k, Gemma, SmolLM) "
                         "or with Llama 3.1's (rope_type llama3)")
    dim, n_heads = int(c["hidden_size"]), int(c["num_attention_heads"])
    n_kv_heads = int(c.get("num_key_value_heads") or n_heads)
    if n_heads % n_kv_heads:
        raise ModelError(f"config.json: {n_heads} attention heads cannot share {n_kv_heads} key/value heads",
                         "num_attention_heads must be a multiple of num_key_value_heads")
    head_dim = int(c.get("head_dim") or dim // n_heads)
    n_layers = int(c["num_hidden_layers"])
    n_rot = int(head_dim * float(c.get("partial_rotary_factor", 1.0))) // 2 * 2
    rope_theta = float(c.get("rope_theta", 10000.0))
    return HFConfig(
        arch=arch, n_layers=n_layers, dim=dim, hidden_dim=int(c["intermediate_size"]),
        n_heads=n_heads, n_kv_heads=n_kv_heads, head_dim=head_dim,
        n_rot=n_rot,
        rope_freqs=llama3_rope_factors(c["rope_scaling"], n_rot, rope_theta) if _rope_type(c) == "llama3" else (),
        extra=tuple(_extra(arch, c, n_layers, dim, n_heads, head_dim).items()),
        vocab_size=int(c["vocab_size"]), context_length=int(c["max_position_embeddings"]),
        norm_eps=float(c["layer_norm_eps"] if arch.family == "bert" else c["rms_norm_eps"]),
        rope_theta=rope_theta, tied=bool(c.get("tie_word_embeddings", arch.family == "bert" or arch.norm_plus_one)),
        type_vocab_size=int(c.get("type_vocab_size", 2)), name=c.get("_name_or_path") or None,
    )


def llama3_rope_factors(r: dict, n_rot: int, theta: float) -> tuple[float, ...]:
    """Llama 3.1+'s rope scaling as llama.cpp stores it (rope_freqs.weight): a factor per rope
    frequency that divides it. Wavelengths shorter than original_max_position_embeddings /
    high_freq_factor keep their frequency; longer than .../ low_freq_factor are divided by
    `factor`; in between, the two blend linearly in old_context / wavelength."""
    factor = float(r["factor"])
    low, high = float(r.get("low_freq_factor", 1.0)), float(r.get("high_freq_factor", 4.0))
    old_context = float(r.get("original_max_position_embeddings", 8192))
    if not (factor > 0 and high > low > 0):
        raise ModelError(f"config.json: llama3 rope_scaling with factor {factor}, low_freq_factor {low} and "
                         f"high_freq_factor {high}", "factor must be positive and high_freq_factor above low_freq_factor")
    freqs = theta ** (-np.arange(0, n_rot, 2, dtype=np.float64) / n_rot)
    wavelength = 2 * np.pi / freqs
    blend = (old_context / wavelength - low) / (high - low)
    factors = np.where(wavelength < old_context / high, 1.0,
                       np.where(wavelength > old_context / low, factor, 1.0 / ((1 - blend) / factor + blend)))
    return tuple(float(f) for f in factors)


def _rope_type(c: dict) -> str | None:
    r = c.get("rope_scaling") or {}
    return r.get("rope_type", r.get("type"))


def _extra(arch: Arch, c: dict, n_layers: int, dim: int, n_heads: int, head_dim: int) -> dict[str, object]:
    """Architecture keys beyond the shapes. Where llama.cpp fixes a value per architecture (the
    sliding-window layer pattern, Gemma 3's local rope base, the query scale) rather than reading
    it, a config.json that says otherwise is refused: the GGUF could not carry it."""
    g = arch.gguf_arch
    out: dict[str, object] = {}
    if arch.family in ("gemma", "gemma2", "gemma3"):
        act = c.get("hidden_activation") or c.get("hidden_act") or "gelu_pytorch_tanh"
        if act not in ("gelu_pytorch_tanh", "gelu"):
            raise ModelError(f"config.json: Gemma with activation {act!r} is not supported", "Gemma uses gelu_pytorch_tanh")
    if g in ("gemma2", "gemma3"):
        scalar = c.get("query_pre_attn_scalar", head_dim)
        want = dim / n_heads if n_layers == {"gemma2": 46, "gemma3": 62}[g] else head_dim
        if abs(float(scalar) - want) > 1e-6:
            raise ModelError(f"config.json: query_pre_attn_scalar {scalar} differs from the {want:g} llama.cpp uses "
                             f"for {n_layers}-layer {g}", "this checkpoint cannot be expressed in GGUF")
        if c.get("sliding_window"):
            out["attention.sliding_window"] = int(c["sliding_window"])
    if g == "gemma2":
        for key in ("attn_logit_softcapping", "final_logit_softcapping"):
            if c.get(key):
                out[key] = float(c[key])
    if g == "gemma3":
        if c.get("attn_logit_softcapping") or c.get("final_logit_softcapping"):
            raise ModelError("config.json: Gemma 3 with soft-capping is not supported", "llama.cpp runs Gemma 3 without it")
        pattern = c.get("sliding_window_pattern", 6)
        types = c.get("layer_types")
        slides = [t == "sliding_attention" for t in types] if types else [(i + 1) % pattern != 0 for i in range(n_layers)]
        if slides != [i % 6 < 5 for i in range(n_layers)]:
            raise ModelError("config.json: Gemma 3 sliding layers other than five of every six are not supported",
                             "llama.cpp fixes the pattern at 6")
        if float(c.get("rope_local_base_freq", 10000.0)) != 10000.0:
            raise ModelError("config.json: Gemma 3 local rope base other than 10000 is not supported", "llama.cpp fixes it")
        if _rope_type(c) == "linear":
            out["rope.scaling.type"] = "linear"
            out["rope.scaling.factor"] = float(c["rope_scaling"]["factor"])
    return out


def expected_shapes(cfg: HFConfig) -> dict[str, tuple[int, ...]]:
    """GGUF tensor name (with {bid}) -> numpy shape (rows, columns)."""
    d, h, hd = cfg.dim, cfg.hidden_dim, cfg.head_dim
    q, kv = cfg.n_heads * hd, cfg.n_kv_heads * hd
    if cfg.arch.family == "bert":
        return {
            "token_embd.weight": (cfg.vocab_size, d), "token_types.weight": (cfg.type_vocab_size, d),
            "position_embd.weight": (cfg.context_length, d),
            "token_embd_norm.weight": (d,), "token_embd_norm.bias": (d,),
            **{f"blk.{{bid}}.{n}.weight": (d, d) for n in ("attn_q", "attn_k", "attn_v", "attn_output")},
            **{f"blk.{{bid}}.{n}.bias": (d,) for n in ("attn_q", "attn_k", "attn_v", "attn_output")},
            **{f"blk.{{bid}}.{n}.{p}": (d,) for n in ("attn_output_norm", "layer_output_norm") for p in ("weight", "bias")},
            "blk.{bid}.ffn_up.weight": (h, d), "blk.{bid}.ffn_up.bias": (h,),
            "blk.{bid}.ffn_down.weight": (d, h), "blk.{bid}.ffn_down.bias": (d,),
        }
    return {
        "token_embd.weight": (cfg.vocab_size, d), "output.weight": (cfg.vocab_size, d), "output_norm.weight": (d,),
        "blk.{bid}.attn_norm.weight": (d,), "blk.{bid}.ffn_norm.weight": (d,),
        "blk.{bid}.attn_q_norm.weight": (hd,), "blk.{bid}.attn_k_norm.weight": (hd,),
        "blk.{bid}.post_attention_norm.weight": (d,), "blk.{bid}.post_ffw_norm.weight": (d,),
        "blk.{bid}.attn_qkv.weight": (q + 2 * kv, d),
        "blk.{bid}.attn_q.weight": (q, d), "blk.{bid}.attn_k.weight": (kv, d), "blk.{bid}.attn_v.weight": (kv, d),
        "blk.{bid}.attn_q.bias": (q,), "blk.{bid}.attn_k.bias": (kv,), "blk.{bid}.attn_v.bias": (kv,),
        "blk.{bid}.attn_output.weight": (d, q),
        "blk.{bid}.ffn_gate.weight": (h, d), "blk.{bid}.ffn_down.weight": (d, h),
        "blk.{bid}.ffn_up.weight": (2 * h, d) if cfg.arch.family == "phi3" else (h, d),
    }


def required(cfg: HFConfig) -> list[str]:
    """GGUF names every checkpoint of this config must hold (biases are optional for llama, required for BERT)."""
    from .tensor_names import TABLES
    if cfg.arch.family == "bert":
        names = list(expected_shapes(cfg))
    else:
        names = [n for n in TABLES[cfg.arch.family].values() if not n.endswith(".bias")]
        if cfg.tied and "output.weight" in names:
            names.remove("output.weight")
    return [n.format(bid=i) for n in names for i in (range(cfg.n_layers) if "{bid}" in n else [0])]


def add_metadata(writer: gguf.GGUFWriter, cfg: HFConfig, pooling: int | None) -> None:
    writer.add_context_length(cfg.context_length)
    writer.add_embedding_length(cfg.dim)
    writer.add_feed_forward_length(cfg.hidden_dim)
    writer.add_block_count(cfg.n_layers)
    writer.add_head_count(cfg.n_heads)
    if cfg.arch.family == "bert":
        writer.add_layer_norm_eps(cfg.norm_eps)
        writer.add_causal_attention(False)
        writer.add_token_type_count(cfg.type_vocab_size)
        if pooling is not None:
            writer.add_pooling_type(gguf.PoolingType(pooling))
        return
    writer.add_head_count_kv(cfg.n_kv_heads)
    writer.add_layer_norm_rms_eps(cfg.norm_eps)
    writer.add_rope_freq_base(cfg.rope_theta)
    writer.add_rope_dimension_count(cfg.n_rot or cfg.head_dim)
    for key, value in cfg.extra:
        if isinstance(value, str):
            writer.add_string(f"{cfg.arch.gguf_arch}.{key}", value)
        elif isinstance(value, int):
            writer.add_uint32(f"{cfg.arch.gguf_arch}.{key}", value)
        else:
            writer.add_float32(f"{cfg.arch.gguf_arch}.{key}", value)
    writer.add_vocab_size(cfg.vocab_size)
    if cfg.head_dim != cfg.dim // cfg.n_heads:
        writer.add_key_length(cfg.head_dim)
        writer.add_value_length(cfg.head_dim)


MAX_SEQ_KEY = "sentence_transformers.max_seq_length"


def read_max_seq_length(model_dir: Path) -> int | None:
    """sentence-transformers' input cut (sentence_bert_config.json's max_seq_length), if any."""
    path = model_dir / "sentence_bert_config.json"
    if not path.is_file():
        return None
    n = json.loads(path.read_text(encoding="utf-8")).get("max_seq_length")
    return int(n) if isinstance(n, int) and n > 0 else None


def read_pooling(model_dir: Path) -> int | None:
    """sentence-transformers' pooling (1_Pooling/config.json) as a llama.cpp pooling type, if any."""
    path = model_dir / "1_Pooling" / "config.json"
    if not path.is_file():
        return None
    p = json.loads(path.read_text(encoding="utf-8"))
    if p.get("pooling_mode_mean_tokens"):
        return int(gguf.PoolingType.MEAN)
    if p.get("pooling_mode_cls_token"):
        return int(gguf.PoolingType.CLS)
    raise ModelError(f"{path}: pooling {sorted(k for k, v in p.items() if v is True)} is not supported",
                     "llama.cpp pools by mean or by the CLS token")
