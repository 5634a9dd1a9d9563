"""all-MiniLM-L6-v2, converted by `inpage models pull minilm-l6`, embeds in llama.cpp (wllama) in
the page like the original sentence-transformers model computes in numpy."""
import numpy as np

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
