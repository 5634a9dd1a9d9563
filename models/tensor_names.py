"""Hugging Face tensor names -> GGUF tensor names, as a data table per architecture family.

`{bid}` stands for the block (layer) number. Names listed in SKIP are dropped on purpose (buffers
and heads the runtime does not use); any other unmapped name is an error, so no weight is lost
silently. tests/test_tensor_names.py checks every row against the gguf package's own map.
"""
from __future__ import annotations

import re

LLAMA = {
    "model.embed_tokens.weight": "token_embd.weight",
    "model.norm.weight": "output_norm.weight",
    "lm_head.weight": "output.weight",
    "model.layers.{bid}.input_layernorm.weight": "blk.{bid}.attn_norm.weight",
    "model.layers.{bid}.self_attn.q_proj.weight": "blk.{bid}.attn_q.weight",
    "model.layers.{bid}.self_attn.k_proj.weight": "blk.{bid}.attn_k.weight",
    "model.layers.{bid}.self_attn.v_proj.weight": "blk.{bid}.attn_v.weight",
    "model.layers.{bid}.self_attn.q_proj.bias": "blk.{bid}.attn_q.bias",
    "model.layers.{bid}.self_attn.k_proj.bias": "blk.{bid}.attn_k.bias",
    "model.layers.{bid}.self_attn.v_proj.bias": "blk.{bid}.attn_v.bias",
    "model.layers.{bid}.self_attn.o_proj.weight": "blk.{bid}.attn_output.weight",
    "model.layers.{bid}.post_attention_layernorm.weight": "blk.{bid}.ffn_norm.weight",
    "model.layers.{bid}.mlp.gate_proj.weight": "blk.{bid}.ffn_gate.weight",
    "model.layers.{bid}.mlp.up_proj.weight": "blk.{bid}.ffn_up.weight",
    "model.layers.{bid}.mlp.down_proj.weight": "blk.{bid}.ffn_down.weight",
}

BERT = {
    "embeddings.word_embeddings.weight": "token_embd.weight",
    "embeddings.token_type_embeddings.weight": "token_types.weight",
    "embeddings.position_embeddings.weight": "position_embd.weight",
    "embeddings.LayerNorm.weight": "token_embd_norm.weight",
    "embeddings.LayerNorm.bias": "token_embd_norm.bias",
    "encoder.layer.{bid}.attention.self.query.weight": "blk.{bid}.attn_q.weight",
    "encoder.layer.{bid}.attention.self.query.bias": "blk.{bid}.attn_q.bias",
    "encoder.layer.{bid}.attention.self.key.weight": "blk.{bid}.attn_k.weight",
    "encoder.layer.{bid}.attention.self.key.bias": "blk.{bid}.attn_k.bias",
    "encoder.layer.{bid}.attention.self.value.weight": "blk.{bid}.attn_v.weight",
    "encoder.layer.{bid}.attention.self.value.bias": "blk.{bid}.attn_v.bias",
    "encoder.layer.{bid}.attention.output.dense.weight": "blk.{bid}.attn_output.weight",
    "encoder.layer.{bid}.attention.output.dense.bias": "blk.{bid}.attn_output.bias",
    "encoder.layer.{bid}.attention.output.LayerNorm.weight": "blk.{bid}.attn_output_norm.weight",
    "encoder.layer.{bid}.attention.output.LayerNorm.bias": "blk.{bid}.attn_output_norm.bias",
    "encoder.layer.{bid}.intermediate.dense.weight": "blk.{bid}.ffn_up.weight",
    "encoder.layer.{bid}.intermediate.dense.bias": "blk.{bid}.ffn_up.bias",
    "encoder.layer.{bid}.output.dense.weight": "blk.{bid}.ffn_down.weight",
    "encoder.layer.{bid}.output.dense.bias": "blk.{bid}.ffn_down.bias",
    "encoder.layer.{bid}.output.LayerNorm.weight": "blk.{bid}.layer_output_norm.weight",
    "encoder.layer.{bid}.output.LayerNorm.bias": "blk.{bid}.layer_output_norm.bias",
}

# Qwen3: llama's names and a norm of each q and k head.
QK_NORM = {
    "model.layers.{bid}.self_attn.q_norm.weight": "blk.{bid}.attn_q_norm.weight",
    "model.layers.{bid}.self_attn.k_norm.weight": "blk.{bid}.attn_k_norm.weight",
}
QWEN3 = {**{k: v for k, v in LLAMA.items() if ".bias" not in k}, **QK_NORM}

# Phi-3 keeps q|k|v and gate|up fused, as llama.cpp does.
PHI3 = {
    **{k: v for k, v in LLAMA.items() if not re.search(r"\.(q_proj|k_proj|v_proj|gate_proj|up_proj)\.", k)},
    "model.layers.{bid}.self_attn.qkv_proj.weight": "blk.{bid}.attn_qkv.weight",
    "model.layers.{bid}.mlp.gate_up_proj.weight": "blk.{bid}.ffn_up.weight",
}

# Gemma: llama's names without biases or a separate head (the embeddings are tied).
GEMMA = {k: v for k, v in LLAMA.items() if ".bias" not in k and k != "lm_head.weight"}
# Gemma 2: norms before and after attention and the feed-forward; post_attention_layernorm is
# a post-norm here, not llama's pre-feed-forward norm.
GEMMA2 = {
    **{k: v for k, v in GEMMA.items() if "post_attention_layernorm" not in k},
    "model.layers.{bid}.post_attention_layernorm.weight": "blk.{bid}.post_attention_norm.weight",
    "model.layers.{bid}.pre_feedforward_layernorm.weight": "blk.{bid}.ffn_norm.weight",
    "model.layers.{bid}.post_feedforward_layernorm.weight": "blk.{bid}.post_ffw_norm.weight",
}
GEMMA3 = {**GEMMA2, **QK_NORM}

TABLES = {"llama": LLAMA, "bert": BERT, "qwen3": QWEN3, "phi3": PHI3, "gemma": GEMMA, "gemma2": GEMMA2, "gemma3": GEMMA3}
# Prefixes some checkpoints put before the names above (BertForMaskedLM saves "bert."; Gemma 3's
# multimodal checkpoints keep the text model under "language_model.").
PREFIXES = {"bert": ("bert.",), "gemma3": ("language_model.",)}
_ROTARY = r"model\.layers\.\d+\.self_attn\.rotary_emb\.inv_freq"
SKIP = {
    "bert": (r"embeddings\.position_ids", r"pooler\..*", r"cls\..*"),
}


def _compile(table: dict[str, str]) -> list[tuple[re.Pattern, str]]:
    out = []
    for hf, gg in table.items():
        pattern = re.escape(hf).replace(re.escape("{bid}"), r"(?P<bid>\d+)")
        out.append((re.compile(pattern + "$"), gg))
    return out


_COMPILED = {family: _compile(t) for family, t in TABLES.items()}


def gguf_name(family: str, hf_name: str) -> str | None:
    """GGUF name of HF_NAME; "" when the tensor is skipped on purpose; None when it is unknown."""
    for prefix in PREFIXES.get(family, ()):
        if hf_name.startswith(prefix):
            hf_name = hf_name[len(prefix):]
    if any(re.fullmatch(p, hf_name) for p in SKIP.get(family, (_ROTARY,))):
        return ""
    for pattern, gg in _COMPILED[family]:
        if m := pattern.match(hf_name):
            return gg.format(bid=m.group("bid")) if "{bid}" in gg else gg
    return None
