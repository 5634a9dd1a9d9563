"""The converters at full scale: SmolLM2 through a Hugging Face folder, and all-MiniLM-L6-v2."""
import gguf
import numpy as np
import pytest

from models import reference
from models.convert_hf import convert_dir
from models.pull import DEFAULT_MODEL
from models.shards import join_gguf
from models.store import Store
from models.tensor_names import BERT

from .hf_fixtures import export_gguf_as_hf, hf_tensors_of_gguf, read_hf
from .hf_oracle import minilm_embeddings

TOKENIZER_KEYS = ("tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.ggml.tokens", "tokenizer.ggml.token_type",
                  "tokenizer.ggml.merges", "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
                  "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.padding_token_id",
                  "tokenizer.ggml.add_bos_token", "tokenizer.chat_template")
TEXTS = ["The quick brown fox jumps over the lazy dog.", "Private notes never leave this browser tab.",
         "A lighthouse keeper kept a careful log of every ship."]


def meta_of(path):
    r = gguf.GGUFReader(path)
    return {k: f.contents() for k, f in r.fields.items() if not k.startswith("GGUF.")}, r


@pytest.fixture(scope="module")
def smollm2_gguf(model_home, tmp_path_factory):
    store = Store(model_home)
    m = store.manifest(DEFAULT_MODEL)
    return join_gguf([store.model_dir(DEFAULT_MODEL) / s["file"] for s in m["shards"]],
                     tmp_path_factory.mktemp("smollm2") / "smollm2.gguf")


# BF16 keeps 8 bits of mantissa, so its logits move more and near-ties may flip.
@pytest.mark.parametrize("dtype,tol,same_top1", [("F16", 2**-10, 13), ("BF16", 2**-7, 10)])
def test_smollm2_survives_a_trip_through_a_hugging_face_folder(smollm2_gguf, tmp_path, dtype, tol, same_top1):
    hf = export_gguf_as_hf(smollm2_gguf, tmp_path / "hf", dtype)
    out = convert_dir(hf, tmp_path / "out.gguf")
    want_meta, want = meta_of(smollm2_gguf)
    got_meta, got = meta_of(out)
    for key in TOKENIZER_KEYS:
        assert got_meta.get(key) == want_meta.get(key), key
    for key in ("llama.attention.head_count", "llama.attention.head_count_kv", "llama.block_count",
                "llama.rope.dimension_count", "llama.context_length", "llama.embedding_length"):
        assert got_meta[key] == want_meta[key], key
    got_t = {t.name: t for t in got.tensors}
    assert set(got_t) == {t.name for t in want.tensors}
    for t in want.tensors:
        a = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32)
        b = gguf.quants.dequantize(got_t[t.name].data, got_t[t.name].tensor_type).astype(np.float32)
        err = np.abs(a - b).max() / max(np.abs(a).max(), 1e-30)
        assert err <= tol, f"{t.name}: max error {err:.2e} of its largest value"
    ids = [1, 9690, 198, 504, 5248, 314, 253, 4963, 2, 198, 1, 4093, 198]
    (cfg, w), (cfg2, w2) = reference.load(smollm2_gguf), reference.load(out)
    a, b = reference.forward(cfg, w, ids), reference.forward(cfg2, w2, ids)
    rel = np.linalg.norm(a - b) / np.linalg.norm(a)
    print(f"\n{dtype}: relative logit error {rel:.2e}, same top-1 {(a.argmax(-1) == b.argmax(-1)).sum()}/13")
    assert (a.argmax(-1) == b.argmax(-1)).sum() >= same_top1
    assert rel < 10 * tol


def test_minilm_converts_to_a_bert_gguf_llama_cpp_understands(minilm, model_home, minilm_folder):
    store = Store(model_home)
    (shard,) = store.manifest("minilm-l6")["shards"]
    meta, reader = meta_of(store.model_dir("minilm-l6") / shard["file"])
    assert minilm["architecture"] == "bert" and minilm["quantization"] == "F16"
    assert minilm["license"] == "apache-2.0"        # from the model card's front matter
    assert meta["bert.pooling_type"] == int(gguf.PoolingType.MEAN)
    assert meta["bert.attention.causal"] is False
    assert meta["bert.block_count"] == 6 and meta["bert.embedding_length"] == 384
    assert meta["tokenizer.ggml.model"] == "bert"
    tokens = meta["tokenizer.ggml.tokens"]
    assert len(tokens) == 30522
    assert tokens[101] == "[CLS]" and tokens[102] == "[SEP]" and tokens[0] == "[PAD]"
    assert tokens[1996] == "\u2581the" and tokens[2015] == "s"   # "the", "##s"
    assert meta["tokenizer.ggml.bos_token_id"] == 101 and meta["tokenizer.ggml.seperator_token_id"] == 102
    assert meta["tokenizer.ggml.add_bos_token"] and meta["tokenizer.ggml.add_eos_token"]  # [CLS] text [SEP]
    types = {t.name: t.tensor_type for t in reader.tensors}
    assert types["position_embd.weight"] == gguf.GGMLQuantizationType.F32
    assert types["blk.0.attn_q.weight"] == gguf.GGMLQuantizationType.F16

    # The GGUF's tensors, named back to HF, embed like the original safetensors.
    original, _ = read_hf(minilm_folder)
    want = minilm_embeddings(original, minilm_folder, TEXTS)
    got = minilm_embeddings(hf_tensors_of_gguf(reader, BERT), minilm_folder, TEXTS)
    for text, a, b in zip(TEXTS, want, got):
        assert a @ b > 0.9999, text
