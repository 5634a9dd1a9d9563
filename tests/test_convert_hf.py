"""Hugging Face folder -> GGUF: the name table, the RoPE permutation, GQA head counts, tokenizers."""
import json

import gguf
import numpy as np
import pytest

from models import reference, tensor_names
from models.convert_hf import convert_dir, permute_rope, unpermute_rope
from models.errors import ModelError

from .hf_fixtures import LLAMA3_ROPE, read_hf, tiny_llama_dir
from .hf_oracle import llama_logits

IDS = [3, 260, 17, 99, 261, 5, 40, 200, 262, 7, 1, 64]


def fields(path):
    r = gguf.GGUFReader(path)
    return {k: f.contents() for k, f in r.fields.items() if not k.startswith("GGUF.")}, {t.name: t for t in r.tensors}


@pytest.mark.parametrize("family,arch", [("llama", gguf.MODEL_ARCH.LLAMA), ("bert", gguf.MODEL_ARCH.BERT),
                                         ("qwen3", gguf.MODEL_ARCH.QWEN3), ("phi3", gguf.MODEL_ARCH.PHI3),
                                         ("gemma", gguf.MODEL_ARCH.GEMMA), ("gemma2", gguf.MODEL_ARCH.GEMMA2),
                                         ("gemma3", gguf.MODEL_ARCH.GEMMA3)])
def test_name_table_agrees_with_the_gguf_package(family, arch):
    gguf_map = gguf.get_tensor_name_map(arch, 4)
    for hf, ours in tensor_names.TABLES[family].items():
        for bid in (0, 3):
            name = hf.replace("{bid}", str(bid))
            base, suffix = name.rsplit(".", 1)
            theirs = gguf_map.get_name(base)
            assert theirs is not None, name
            assert tensor_names.gguf_name(family, name) == f"{theirs}.{suffix}", name


def test_name_table_skips_buffers_and_refuses_strangers():
    assert tensor_names.gguf_name("llama", "model.layers.2.self_attn.rotary_emb.inv_freq") == ""
    assert tensor_names.gguf_name("bert", "pooler.dense.weight") == ""
    assert tensor_names.gguf_name("bert", "bert.encoder.layer.1.output.dense.bias") == "blk.1.ffn_down.bias"
    assert tensor_names.gguf_name("llama", "model.layers.0.mlp.experts.0.w1.weight") is None


def test_rope_permutation_pairs_each_half_row_with_its_partner():
    # one head of 8 rows: HF keeps the rotated pairs (i, i + 4); llama.cpp wants them adjacent.
    w = np.arange(8 * 3, dtype=np.float32).reshape(8, 3)
    out = permute_rope(w, n_heads=1)
    assert [int(r[0]) // 3 for r in out] == [0, 4, 1, 5, 2, 6, 3, 7]
    for n_heads in (1, 2, 4):
        x = np.random.default_rng(n_heads).standard_normal((n_heads * 16, 5)).astype(np.float32)
        assert np.array_equal(unpermute_rope(permute_rope(x, n_heads), n_heads), x)
        assert np.array_equal(permute_rope(x[:, 0], n_heads), permute_rope(x, n_heads)[:, 0])


def _logits_match(d, out):
    t, c = read_hf(d)
    cfg, w = reference.load(out)
    got = reference.forward(cfg, w, IDS)
    want = llama_logits(t, c, IDS)
    err = np.linalg.norm(got - want) / np.linalg.norm(want)
    assert err < 1e-5, f"relative logit error {err:.2e}"
    assert (got.argmax(-1) == want.argmax(-1)).all()


@pytest.mark.parametrize("n_heads,n_kv_heads,head_dim", [(4, 4, 12), (4, 2, 12), (4, 1, 12), (6, 2, 8), (2, 1, 32)])
def test_gqa_and_rope_round_trip_through_the_reference(tmp_path, n_heads, n_kv_heads, head_dim):
    """The GGUF run by reference.py (llama.cpp's rope on permuted rows) gives HF's logits."""
    d = tiny_llama_dir(tmp_path / "hf", n_heads=n_heads, n_kv_heads=n_kv_heads, head_dim=head_dim)
    out = convert_dir(d, tmp_path / "out.gguf")
    meta, tensors = fields(out)
    assert meta["llama.attention.head_count"] == n_heads
    assert meta["llama.attention.head_count_kv"] == n_kv_heads
    assert meta["llama.rope.dimension_count"] == head_dim
    assert [int(x) for x in tensors["blk.0.attn_k.weight"].shape] == [48, n_kv_heads * head_dim]
    _logits_match(d, out)


def test_unpermuted_rope_is_wrong(tmp_path):
    """The test above can fail: skipping the permutation changes the logits."""
    d = tiny_llama_dir(tmp_path / "hf")
    out = convert_dir(d, tmp_path / "out.gguf")
    cfg, w = reference.load(out)
    for L in w.layers:
        L.wq, L.wk = unpermute_rope(L.wq, cfg.n_heads), unpermute_rope(L.wk, cfg.n_kv_heads)
    t, c = read_hf(d)
    got, want = reference.forward(cfg, w, IDS), llama_logits(t, c, IDS)
    assert np.linalg.norm(got - want) / np.linalg.norm(want) > 1e-2


def test_qwen2_keeps_rows_and_biases(tmp_path):
    d = tiny_llama_dir(tmp_path / "hf", arch="Qwen2ForCausalLM", bias=True, tied=False, rope_theta=1e6)
    out = convert_dir(d, tmp_path / "out.gguf")
    meta, tensors = fields(out)
    assert meta["general.architecture"] == "qwen2"
    assert "blk.1.attn_v.bias" in tensors and "output.weight" in tensors
    _logits_match(d, out)


@pytest.mark.parametrize("dtype", ["F32", "F16", "BF16"])
def test_source_precisions(tmp_path, dtype):
    d = tiny_llama_dir(tmp_path / "hf", dtype=dtype)
    out = convert_dir(d, tmp_path / "out.gguf")
    meta, tensors = fields(out)
    want = gguf.GGMLQuantizationType.F16 if dtype == "F16" else gguf.GGMLQuantizationType.F32
    assert tensors["blk.0.ffn_up.weight"].tensor_type == want
    assert tensors["blk.0.attn_norm.weight"].tensor_type == gguf.GGMLQuantizationType.F32
    _logits_match(d, out)


def test_tokenizer_keys(tmp_path):
    d = tiny_llama_dir(tmp_path / "hf")
    (d / "README.md").write_text("---\nlanguage: en\nlicense: apache-2.0\n---\n# license: not this one\n")
    meta, _ = fields(convert_dir(d, tmp_path / "out.gguf"))
    assert meta["general.license"] == "apache-2.0"
    tokens = meta["tokenizer.ggml.tokens"]
    assert meta["tokenizer.ggml.model"] == "gpt2" and meta["tokenizer.ggml.pre"] == "smollm"
    assert len(tokens) == 256 + 6 + 3 + 5                 # padded to the embedding rows
    assert tokens[-1] == "[PAD269]" and meta["tokenizer.ggml.token_type"][-1] == 5
    assert tokens[meta["tokenizer.ggml.eos_token_id"]] == "<|im_end|>"
    assert meta["tokenizer.ggml.token_type"][tokens.index("<|im_start|>")] == 3
    assert meta["tokenizer.ggml.merges"][:2] == ["Ġ t", "h e"]
    assert "<|im_start|>" in meta["tokenizer.chat_template"]


@pytest.mark.parametrize("regex,pre", [
    (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+", "llama-bpe"),
    (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+", "qwen2"),
])
def test_pre_tokenizer_is_recognized_from_its_regex(tmp_path, regex, pre):
    d = tiny_llama_dir(tmp_path / "hf")
    tok = json.loads((d / "tokenizer.json").read_text())
    tok["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": regex}, "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "use_regex": False}]}
    (d / "tokenizer.json").write_text(json.dumps(tok))
    meta, _ = fields(convert_dir(d, tmp_path / "out.gguf"))
    assert meta["tokenizer.ggml.pre"] == pre


def test_unknown_pre_tokenizer_is_refused(tmp_path):
    d = tiny_llama_dir(tmp_path / "hf")
    tok = json.loads((d / "tokenizer.json").read_text())
    tok["pre_tokenizer"] = {"type": "Whitespace"}
    (d / "tokenizer.json").write_text(json.dumps(tok))
    with pytest.raises(ModelError, match="pre-tokenizer"):
        convert_dir(d, tmp_path / "out.gguf")


def test_a_sentencepiece_style_tokenizer_becomes_llamas(tmp_path):
    """Llama 2 / Mistral ship BPE with byte fallback: model "llama", byte and unknown token types, -id scores."""
    d = tiny_llama_dir(tmp_path / "hf")
    specials = ["<unk>", "<s>", "</s>"]
    pieces = specials + [f"<0x{b:02X}>" for b in range(256)] + ["▁", "t", "h", "e", "▁t", "he", "▁the"]
    tok = {"version": "1.0", "normalizer": {"type": "Sequence", "normalizers": [
               {"type": "Prepend", "prepend": "▁"}, {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
           "pre_tokenizer": None,
           "added_tokens": [{"id": i, "content": t, "special": True} for i, t in enumerate(specials)],
           "model": {"type": "BPE", "byte_fallback": True, "unk_token": "<unk>", "fuse_unk": True,
                     "vocab": {t: i for i, t in enumerate(pieces)}, "merges": ["▁ t", "h e", "▁t he"]}}
    (d / "tokenizer.json").write_text(json.dumps(tok))
    (d / "tokenizer_config.json").write_text(json.dumps({"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
                                                         "add_bos_token": True}))
    meta, _ = fields(convert_dir(d, tmp_path / "out.gguf"))
    assert meta["tokenizer.ggml.model"] == "llama"
    types, scores = meta["tokenizer.ggml.token_type"], meta["tokenizer.ggml.scores"]
    assert types[:3] == [2, 3, 3] and types[3] == 6 and types[258] == 6 and types[259] == 1
    assert scores[265] == -265.0 and scores[3] == 0.0          # later pieces merge later
    assert meta["tokenizer.ggml.bos_token_id"] == 1 and meta["tokenizer.ggml.add_bos_token"] is True
    assert "tokenizer.ggml.merges" not in meta


DECODERS = [
    ("Qwen3ForCausalLM", "qwen3", {}),
    ("Phi3ForCausalLM", "phi3", {"tied": False}),
    ("GemmaForCausalLM", "gemma", {"n_heads": 4, "n_kv_heads": 1, "head_dim": 16}),
    ("Gemma2ForCausalLM", "gemma2", {"n_layers": 3}),
    ("Gemma3ForCausalLM", "gemma3", {"n_layers": 7, "rope_theta": 1e6}),
    ("LlamaForCausalLM", "llama", {"rope_scaling": LLAMA3_ROPE}),
]


@pytest.mark.parametrize("arch,gguf_arch,options", DECODERS, ids=[d[1] if d[1] != "llama" else "llama3-rope" for d in DECODERS])
def test_more_architectures_convert_to_the_logits_hf_computes(tmp_path, arch, gguf_arch, options):
    """Each architecture through the converter and reference.py gives the logits of HF's math
    (tests/hf_oracle.py): q/k norms, fused projections, Gemma's 1 + w norms, embedding scale, GeGLU,
    sandwich norms, soft-caps, sliding windows and Gemma 3's two rope bases."""
    d = tiny_llama_dir(tmp_path / "hf", arch=arch, **options)
    out = convert_dir(d, tmp_path / "out.gguf")
    meta, tensors = fields(out)
    assert meta["general.architecture"] == gguf_arch
    _logits_match(d, out)


def test_gemma_features_are_not_no_ops(tmp_path):
    """The test above can fail: drop a Gemma 2 feature from reference.py's config and the logits move."""
    d = tiny_llama_dir(tmp_path / "hf", arch="Gemma2ForCausalLM", n_layers=3)
    out = convert_dir(d, tmp_path / "out.gguf")
    t, c = read_hf(d)
    want = llama_logits(t, c, IDS)
    for change in ({"attn_softcap": 0.0}, {"final_softcap": 0.0}, {"sliding_window": 0}, {"embed_scale": 1.0},
                   {"ffn_act": "silu"}):
        cfg, w = reference.load(out)
        for k, v in change.items():
            setattr(cfg, k, v)
        got = reference.forward(cfg, w, IDS)
        assert np.linalg.norm(got - want) / np.linalg.norm(want) > 1e-3, change


def test_llama3_rope_factors_are_written_and_matter(tmp_path):
    d = tiny_llama_dir(tmp_path / "hf", rope_scaling=LLAMA3_ROPE)
    out = convert_dir(d, tmp_path / "out.gguf")
    _, tensors = fields(out)
    # head_dim 16, theta 1e4: wavelengths 6.3 (kept: under 64 / 4), 20 and 63 (blended), the rest over 64 (/ 8).
    factors = np.asarray(tensors["rope_freqs.weight"].data)
    assert factors.shape == (8,) and factors[0] == 1.0 and np.all(factors[3:] == 8.0) and np.all((1 < factors[1:3]) & (factors[1:3] < 8))
    t, c = read_hf(d)
    want = llama_logits(t, c, IDS)
    cfg, w = reference.load(out)
    cfg.rope_freq_factors = None
    assert np.linalg.norm(reference.forward(cfg, w, IDS) - want) / np.linalg.norm(want) > 1e-3


def test_rope_scaling_other_than_llama3_on_llama_is_refused(tmp_path):
    d = tiny_llama_dir(tmp_path / "hf", rope_scaling={"rope_type": "yarn", "factor": 4.0})
    with pytest.raises(ModelError, match="rope_scaling 'yarn' is not supported yet"):
        convert_dir(d, tmp_path / "out.gguf")
    d = tiny_llama_dir(tmp_path / "hf2", rope_scaling={**LLAMA3_ROPE, "high_freq_factor": 1.0})
    with pytest.raises(ModelError, match="high_freq_factor above low_freq_factor"):
        convert_dir(d, tmp_path / "out2.gguf")


def test_gemma3_global_layers_use_their_own_rope(tmp_path):
    d = tiny_llama_dir(tmp_path / "hf", arch="Gemma3ForCausalLM", n_layers=7, rope_theta=1e6)
    out = convert_dir(d, tmp_path / "out.gguf")
    meta, _ = fields(out)
    assert meta["gemma3.rope.scaling.factor"] == 8.0 and meta["gemma3.attention.sliding_window"] == 4
    cfg, w = reference.load(out)
    assert cfg.swa_layers == [True] * 5 + [False, True]
    assert cfg.rope_of(0) == (10000.0, 1.0) and cfg.rope_of(5) == (1e6, 0.125)
    t, c = read_hf(d)
    want = llama_logits(t, c, IDS)
    cfg.rope_theta_swa = 0.0
    assert np.linalg.norm(reference.forward(cfg, w, IDS) - want) / np.linalg.norm(want) > 1e-3


def test_unsupported_gemma3_variants_are_refused(tmp_path):
    d = tiny_llama_dir(tmp_path / "hf", arch="Gemma3ForCausalLM", n_layers=7)
    c = json.loads((d / "config.json").read_text())
    (d / "config.json").write_text(json.dumps({**c, "sliding_window_pattern": 4}))
    with pytest.raises(ModelError, match="five of every six"):
        convert_dir(d, tmp_path / "out.gguf")
    (d / "config.json").write_text(json.dumps({**c, "rope_scaling": {"rope_type": "yarn", "factor": 4.0}}))
    with pytest.raises(ModelError, match="yarn"):
        convert_dir(d, tmp_path / "out.gguf")
