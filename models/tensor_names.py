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

TABLES = {"llama": LLAMA, "bert": BERT}
# Prefixes some checkpoints put before the names above (BertForMaskedLM saves "bert.").
PREFIXES = {"llama": (), "bert": ("bert.",)}
SKIP = {
    "llama": (r"model\.layers\.\d+\.self_attn\.rotary_emb\.inv_freq",),
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
    for prefix in PREFIXES[family]:
        if hf_name.startswith(prefix):
            hf_name = hf_name[len(prefix):]
    if any(re.fullmatch(p, hf_name) for p in SKIP[family]):
        return ""
    for pattern, gg in _COMPILED[family]:
        if m := pattern.match(hf_name):
            return gg.format(bid=m.group("bid")) if "{bid}" in gg else gg
    return None
