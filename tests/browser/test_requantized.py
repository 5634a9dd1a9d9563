"""Models imported by `inpage models import --quant` (from a GGUF, a Hugging Face folder or an ONNX
export) load in our engine and in llama.cpp, and the two agree."""
import pytest

from models.pull import DEFAULT_MODEL
from models.shards import join_gguf
from models.store import Store

from ..hf_fixtures import export_gguf_as_hf, onnx_from_hf, read_hf
from .app_driver import LLAMA_GREEDY, evaluate

LOAD_BOTH = """async (model) => {
  const { createEngine } = await import('/webgpu/engine.js');
  window.ours = await createEngine({ model, backend: 'auto' });
  window.ref = await createEngine({ model, backend: 'wllama' });
  const prompt = await window.ours.backend.prompt([{ role: 'user', content: 'Name three rivers in Europe.' }]);
  return { info: window.ours.info, prompt };
}"""


# Every --quant type from the stored GGUF, plus the converters' outputs.
TYPES = ("F16", "Q8_0", "Q6_K", "Q5_K_M", "Q5_K", "Q5_1", "Q5_0", "Q4_K_M", "Q4_K", "Q4_0", "Q3_K_M", "Q3_K", "Q2_K")


@pytest.mark.parametrize("source,quant", [("gguf", t) for t in TYPES] + [("hf-bf16", "Q4_K_M"), ("onnx", "Q8_0")])
def test_an_imported_model_runs_in_both_engines(browser, live_server, model_home, tmp_path, source, quant):
    store = Store(model_home)
    model_id = f"smollm2-{source}-{quant.lower().replace('_', '-')}"
    if not store.has(model_id):
        m = store.manifest(DEFAULT_MODEL)
        joined = join_gguf([store.model_dir(DEFAULT_MODEL) / s["file"] for s in m["shards"]], tmp_path / "m.gguf")
        if source == "gguf":
            store.import_path(joined, model_id, quant=quant)
        else:
            hf = export_gguf_as_hf(joined, tmp_path / "export", "BF16")
            if source == "onnx":
                tensors, _ = read_hf(hf)
                (hf / "model.safetensors").unlink()
                hf = onnx_from_hf(tensors, hf / "model.onnx", external=True)
            store.import_path(hf, model_id, quant=quant)
    assert store.manifest(model_id)["quantization"] in (quant, f"{quant}_S")  # Q5_K is llama.cpp's Q5_K_S file type

    context = browser.new_context()
    try:
        page = context.new_page()
        page.set_default_timeout(240_000)
        page.goto(f"{live_server.url}/bench")
        loaded = page.evaluate(LOAD_BOTH, model_id)
        assert loaded["info"]["backend"] == "wasm", loaded["info"]["reason"]
        prompt = loaded["prompt"]
        greedy = page.evaluate(LLAMA_GREEDY, [prompt["text"], 64])
        assert greedy["prompt_tokens"] == len(prompt["tokens"])
        top = evaluate(page, "ours", prompt["tokens"] + greedy["ids"])[0]
        p = len(prompt["tokens"])
        agree = sum(int(a == b) for a, b in zip(top[p - 1:p - 1 + 64], greedy["ids"]))
        print(f"\n{source} -> {quant}: top-1 agreement with llama.cpp {agree}/64")
        assert agree >= 58
    finally:
        context.close()
