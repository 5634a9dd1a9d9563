"""A model whose largest tensor is several times the shard size: the default model imported in
8 MiB shards, so that its 28 MiB token embedding (and the output it is tied to) has a shard of
its own. Every backend loads it, reading tensors from the shards a piece at a time, and computes
what models/reference.py computes; llama.cpp (wllama) loads the same shards and answers."""
import gguf
import numpy as np
import pytest

from models import reference
from models.shards import join_gguf
from models.store import Store
from server import create_app

from .app_driver import evaluate
from .conftest import LiveServer

SHARD = 8 * 1024 * 1024


@pytest.fixture(scope="module")
def big_tensor_server(model_home, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("big")
    home = Store(model_home)
    m = home.manifest("smollm2-135m")
    paths = sorted((home.model_dir("smollm2-135m") / s["file"] for s in m["shards"]),
                   key=lambda p: gguf.GGUFReader(p).get_field("split.no").contents())
    whole = join_gguf(paths, tmp / "smollm2.gguf")
    store = Store(tmp / "home")
    manifest = store.import_gguf(whole, "smollm2-135m", max_shard_bytes=SHARD)
    server = LiveServer(create_app({"INPAGE_HOME": store.home}))
    server.manifest, server.store = manifest, store
    yield server
    server.close()


def test_a_tensor_larger_than_a_shard_has_a_shard_of_its_own(big_tensor_server):
    store, m = big_tensor_server.store, big_tensor_server.manifest
    big = [s for s in m["shards"] if s["bytes"] > SHARD]
    assert big, "the test needs a tensor larger than the shard size"
    for s in big:
        tensors = gguf.GGUFReader(store.model_dir("smollm2-135m") / s["file"]).tensors
        assert len(tensors) == 1 and tensors[0].n_bytes >= 3 * SHARD, [t.name for t in tensors]


@pytest.mark.parametrize("backend", ["wasm", "webgpu"])
def test_our_backends_load_it_and_compute_the_reference(browser, big_tensor_server, reference_model, backend):
    cfg, weights = reference_model
    context = browser.new_context()
    try:
        page = context.new_page()
        page.set_default_timeout(600_000)
        page.goto(f"{big_tensor_server.url}/static/css/app.css")
        info = page.evaluate("""async (backend) => {
          const { createEngine } = await import('/webgpu/engine.js');
          window.big = await createEngine({ model: 'smollm2-135m', backend });
          return window.big.info;
        }""", backend)
        assert info["backend"] == backend
        tokens = page.evaluate("async () => (await window.big.backend.prompt([{ role: 'user', content: 'What is the capital of France?' }])).tokens")[:8]
        argmax, ours = evaluate(page, "big", tokens, range(8))
        expected = reference.forward(cfg, weights, tokens)
        rel = np.linalg.norm(ours - expected, axis=1) / np.linalg.norm(expected, axis=1)
        assert rel.max() <= 2e-2, f"{backend}: max relative error {rel.max():.4g}"
        assert list(ours.argmax(axis=1)) == list(expected.argmax(axis=1))
    finally:
        context.close()


def test_llama_cpp_loads_the_same_shards(browser, big_tensor_server):
    context = browser.new_context()
    try:
        page = context.new_page()
        page.set_default_timeout(600_000)
        page.goto(f"{big_tensor_server.url}/static/css/app.css")
        r = page.evaluate("""async () => {
          const { createEngine } = await import('/webgpu/engine.js');
          const engine = await createEngine({ model: 'smollm2-135m', backend: 'wllama' });
          const reply = await engine.chat.completions.create({ messages: [{ role: 'user', content: 'Say hello.' }],
            max_tokens: 8, temperature: 0 });
          return { backend: engine.info.backend, text: reply.choices[0].message.content, n: reply.usage.completion_tokens };
        }""")
        assert r["backend"] == "wllama" and r["n"] >= 1 and r["text"].strip(), r
    finally:
        context.close()
