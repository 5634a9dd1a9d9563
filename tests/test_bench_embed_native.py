"""The native embedder of `inpage bench --suite embed` computes the same model as the page: its
ONNX graph, built from our GGUF, against the original checkpoint's sentence-transformers oracle."""
import numpy as np

from models.store import Store
from server.bench_embed_native import NativeEmbedder

from .hf_fixtures import read_hf
from .hf_oracle import minilm_embeddings

# Batched together, so the shorter texts are padded: the mask must keep padding out of attention
# and out of the mean.
TEXTS = ["The quick brown fox jumps over the lazy dog.", "x",
         "A lighthouse keeper kept a careful log of every ship that passed the headland, and each evening "
         "he compared his notes with the almanac."]


def test_onnx_runtime_embeds_our_gguf_like_sentence_transformers(minilm, model_home, minilm_folder):
    store = Store(model_home)
    (shard,) = store.manifest("minilm-l6")["shards"]
    native = NativeEmbedder(store.model_dir("minilm-l6") / shard["file"], threads=1)
    got = native.embed(TEXTS)
    original, _ = read_hf(minilm_folder)
    want = minilm_embeddings(original, minilm_folder, TEXTS)
    cosine = (got * want).sum(axis=1)
    assert cosine.min() > 0.999, cosine
    assert np.allclose(np.linalg.norm(got, axis=1), 1, atol=1e-5)
    # Each text alone gives the same vector as in the padded batch.
    alone = np.concatenate([native.embed([t]) for t in TEXTS])
    assert np.abs(alone - got).max() < 1e-5


def test_a_quantized_encoder_runs_on_its_dequantized_weights(minilm, model_home, minilm_folder, tmp_path):
    # `inpage bench --suite embed --model` of a requantized encoder: the native side reads the same
    # Q8_0 weights the page does, dequantized, and stays close to the original model.
    from models.requantize import requantize_gguf
    store = Store(model_home)
    (shard,) = store.manifest("minilm-l6")["shards"]
    q8 = requantize_gguf(store.model_dir("minilm-l6") / shard["file"], tmp_path / "minilm-q8.gguf", "Q8_0")
    got = NativeEmbedder(q8, threads=1).embed(TEXTS)
    original, _ = read_hf(minilm_folder)
    cosine = (got * minilm_embeddings(original, minilm_folder, TEXTS)).sum(axis=1)
    assert 0.99 < cosine.min() < 1 - 1e-6, cosine  # close, and not the float weights themselves
