"""The architectures a Hugging Face config.json may name, and what each means for the GGUF.

For each: the GGUF architecture, the tensor-name family (tensor_names.py), whether q/k rows are
permuted for llama.cpp's rope, the GGUF metadata, and the shape every tensor must have.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import gguf

from .errors import ModelError


@dataclass(frozen=True)
class Arch:
    hf_names: tuple[str, ...]   # config.json "architectures"
    model_type: str             # config.json "model_type"
    gguf_arch: str
    family: str
    permute_qk: bool            # HF rotates (i, i + head_dim/2) pairs; llama.cpp's "llama" rope rotates (2i, 2i + 1)


ARCHS = (
    Arch(("LlamaForCausalLM", "LlamaModel"), "llama", "llama", "llama", True),
    # llama.cpp converts Mistral to its "llama" architecture: same graph, same rope.
    Arch(("MistralForCausalLM",), "mistral", "llama", "llama", True),
    Arch(("Qwen2ForCausalLM",), "qwen2", "qwen2", "llama", False),
    Arch(("BertModel", "BertForMaskedLM"), "bert", "bert", "bert", False),
)


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
    elif c.get("rope_scaling"):
        raise ModelError(f"config.json: rope_scaling {c['rope_scaling'].get('rope_type', c['rope_scaling'].get('type'))!r} "
                         "is not supported yet", "use a model without rope scaling (Llama 2/3, Mistral, Qwen2, SmolLM)")
    dim, n_heads = int(c["hidden_size"]), int(c["num_attention_heads"])
    n_kv_heads = int(c.get("num_key_value_heads") or n_heads)
    if n_heads % n_kv_heads:
        raise ModelError(f"config.json: {n_heads} attention heads cannot share {n_kv_heads} key/value heads",
                         "num_attention_heads must be a multiple of num_key_value_heads")
    return HFConfig(
        arch=arch, n_layers=int(c["num_hidden_layers"]), dim=dim, hidden_dim=int(c["intermediate_size"]),
        n_heads=n_heads, n_kv_heads=n_kv_heads, head_dim=int(c.get("head_dim") or dim // n_heads),
        vocab_size=int(c["vocab_size"]), context_length=int(c["max_position_embeddings"]),
        norm_eps=float(c["layer_norm_eps"] if arch.family == "bert" else c["rms_norm_eps"]),
        rope_theta=float(c.get("rope_theta", 10000.0)), tied=bool(c.get("tie_word_embeddings", arch.family == "bert")),
        type_vocab_size=int(c.get("type_vocab_size", 2)), name=c.get("_name_or_path") or None,
    )


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
        "blk.{bid}.attn_q.weight": (q, d), "blk.{bid}.attn_k.weight": (kv, d), "blk.{bid}.attn_v.weight": (kv, d),
        "blk.{bid}.attn_q.bias": (q,), "blk.{bid}.attn_k.bias": (kv,), "blk.{bid}.attn_v.bias": (kv,),
        "blk.{bid}.attn_output.weight": (d, q),
        "blk.{bid}.ffn_gate.weight": (h, d), "blk.{bid}.ffn_up.weight": (h, d), "blk.{bid}.ffn_down.weight": (d, h),
    }


def required(cfg: HFConfig) -> list[str]:
    """GGUF names every checkpoint of this config must hold (biases are optional for llama, required for BERT)."""
    names = [n for n in expected_shapes(cfg) if cfg.arch.family == "bert" or not n.endswith(".bias")]
    if cfg.arch.family == "llama" and cfg.tied:
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
    writer.add_rope_dimension_count(cfg.head_dim)
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
