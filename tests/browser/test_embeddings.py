"""all-MiniLM-L6-v2, converted by `inpage models pull minilm-l6`, embeds in llama.cpp (wllama) in
the page like the original sentence-transformers model computes in numpy."""
import numpy as np
import pytest

from ..hf_fixtures import read_hf
from ..hf_oracle import minilm_embeddings
from ..test_convert_real import TEXTS

EMBED = """async ([model, texts]) => {
  const { fetchManifest } = await import('/webgpu/engine.js');
  const { loadShards } = await import('/webgpu/shards.js');
  const { Wllama } = await import('/vendor/wllama/index.js');
  const { blobs } = await loadShards(await fetchManifest(model));
  const wllama = new Wllama({ default: '/vendor/wllama/wllama.wasm' }, { suppressNativeLog: true });
  // No pooling_type given: llama.cpp must take mean pooling from the GGUF's metadata.
  await wllama.loadModel(blobs, { embeddings: true, n_ctx: 512, n_gpu_layers: 0 });
  const out = [];
  for (const input of texts) out.push((await wllama.createEmbedding({ input })).data[0].embedding);
  await wllama.exit();
  return out;
}"""


def test_llama_cpp_embeds_the_converted_minilm_like_sentence_transformers(page, live_server, minilm, minilm_folder):
    page.goto(f"{live_server.url}/bench")
    got = np.array(page.evaluate(EMBED, ["minilm-l6", TEXTS]))
    want = minilm_embeddings(read_hf(minilm_folder)[0], minilm_folder, TEXTS)
    assert got.shape == (len(TEXTS), 384)
    cos = (got * want).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(want, axis=1)
    print(f"\ncosine(llama.cpp, sentence-transformers in numpy): {np.round(cos, 6)}, min {cos.min():.6f}")
    assert (cos > 0.999).all()
    # and the embeddings still tell texts apart
    unit = got / np.linalg.norm(got, axis=1, keepdims=True)
    assert (unit @ unit.T)[0, 1] < 0.9


OUR_EMBED = """async ([model, backend, batches]) => {
  const { createEngine } = await import('/webgpu/engine.js');
  const engine = await createEngine({ model, backend });
  const out = [];
  for (const input of batches) out.push(await engine.embeddings.create({ input }));
  const refusal = await engine.chat.completions.create({ messages: [{ role: 'user', content: 'hi' }] }).then(() => null, (e) => e.message);
  await engine.unload();
  return { out, info: engine.info, refusal };
}"""

# Short, long (past the model's 256-token cut), unicode, punctuation-heavy and empty texts.
VARIED = [
    "The quick brown fox jumps over the lazy dog.", "", "naïve café: résumé, Ångström — 東京タワー, Привет мир 😀",
    "Private notes never leave this browser tab.", " ".join(["The lighthouse keeper kept a careful log of every ship."] * 40),
    "x", "e-mail me at someone@example.com (re: [CLS] tokens) #42 $3.50 100%!",
]


# WebGPU: Chromium's SwiftShader here (a correctness check; no speed figure).
@pytest.mark.parametrize("backend", ["wasm", "webgpu"])
def test_our_engine_embeds_like_sentence_transformers(page, live_server, minilm, minilm_folder, backend):
    from tokenizers import Tokenizer
    from ..hf_oracle import bert_sentence_embedding
    page.goto(f"{live_server.url}/bench")
    # One call with every text (packed into shared passes), and single-text calls (a string input).
    page.set_default_timeout(600_000)
    r = page.evaluate(OUR_EMBED, ["minilm-l6", backend, [VARIED, VARIED[2], VARIED[4]]])
    assert r["info"]["backend"] == backend
    assert "embedding model" in r["refusal"]
    batch, one_unicode, one_long = r["out"]
    assert [d["index"] for d in batch["data"]] == list(range(len(VARIED)))
    got = np.array([d["embedding"] for d in batch["data"]])
    tensors, config = read_hf(minilm_folder)
    tok = Tokenizer.from_file(str(minilm_folder / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(256)  # sentence-transformers' max_seq_length for this model
    ids = [tok.encode(t).ids for t in VARIED]
    want = np.array([bert_sentence_embedding(tensors, config, i) for i in ids])
    cos = (got * want).sum(1)  # both unit length
    print(f"\ncosine(our {backend} engine, sentence-transformers in numpy): {np.round(cos, 6)}, min {cos.min():.6f}")
    assert np.allclose(np.linalg.norm(got, axis=1), 1, atol=1e-5)
    assert (cos >= 0.999).all(), [(t[:30], c) for t, c in zip(VARIED, cos) if c < 0.999]
    assert batch["usage"]["prompt_tokens"] == sum(map(len, ids)) and batch["usage"]["truncated_inputs"] == 1
    # Packing texts together changes nothing: alone, the same vectors.
    for single, i in ((one_unicode, 2), (one_long, 4)):
        assert np.array(single["data"][0]["embedding"]) @ got[i] > 0.99999


def test_wllama_is_the_embedding_fallback(page, live_server, minilm):
    page.goto(f"{live_server.url}/bench")
    texts = VARIED[:4]
    ours = page.evaluate(OUR_EMBED, ["minilm-l6", "wasm", [texts]])["out"][0]
    theirs = page.evaluate(OUR_EMBED, ["minilm-l6", "wllama", [texts]])["out"][0]
    a = np.array([d["embedding"] for d in ours["data"]])
    b = np.array([d["embedding"] for d in theirs["data"]])
    cos = (a * b).sum(1)
    print(f"\ncosine(ours, llama.cpp): {np.round(cos, 6)}")
    assert (cos >= 0.999).all()


def test_a_lost_gpu_hands_embeddings_to_wasm(page, live_server, minilm):
    # The device is destroyed under a loaded WebGPU encoder: the next request is answered by our
    # WASM engine, with the same vectors, and the engine says which backend it now runs on.
    page.goto(f"{live_server.url}/bench")
    page.set_default_timeout(600_000)
    r = page.evaluate("""async (texts) => {
      const { createEngine } = await import('/webgpu/engine.js');
      const changes = [];
      const engine = await createEngine({ model: 'minilm-l6', backend: 'webgpu', onBackendChange: (i) => changes.push(i.backend) });
      const before = (await engine.embeddings.create({ input: texts })).data.map((d) => d.embedding);
      const was = engine.info.backend;
      engine.backend.loseDevice();
      const after = (await engine.embeddings.create({ input: texts })).data.map((d) => d.embedding);
      const now = engine.info.backend;
      await engine.unload();
      return { before, after, was, now, changes };
    }""", VARIED[:3])
    assert (r["was"], r["now"], r["changes"]) == ("webgpu", "wasm", ["wasm"])
    cos = (np.array(r["before"]) * np.array(r["after"])).sum(1)
    assert (cos > 0.9999).all(), cos
