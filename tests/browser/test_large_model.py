"""A model of 667 MiB in 11 shards (random weights in Llama-3.2-1B's shape, models/synthetic.py)
loads in the page from a cold start and answers. Before the page held each downloaded shard as
the Cache's stored copy, the in-memory Blobs of the first eight shards made the ninth unreadable
(NotReadableError) in this Chromium."""
import pytest

from models.store import Store
from models.synthetic import write_synthetic
from server import create_app

from .conftest import LiveServer


@pytest.fixture(scope="module")
def large_server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("large")
    store = Store(tmp / "home")
    path = write_synthetic("llama-3.2-1b", "Q4_0", tmp / "synthetic.gguf")
    manifest = store.import_gguf(path, "synthetic-1b")
    path.unlink()
    server = LiveServer(create_app({"INPAGE_HOME": store.home}))
    server.manifest = manifest
    yield server
    server.close()


def test_a_667_mib_model_loads_and_answers(browser, large_server):
    m = large_server.manifest
    assert m["total_bytes"] > 600 * 2**20 and len(m["shards"]) >= 10
    context = browser.new_context()
    try:
        page = context.new_page()
        page.set_default_timeout(600_000)
        page.goto(f"{large_server.url}/static/css/app.css")
        out = page.evaluate("""async () => {
          const { createEngine } = await import('/webgpu/engine.js');
          const engine = await createEngine({ model: 'synthetic-1b', backend: 'wasm' });
          const r = await engine.chat.completions.create({ messages: [{ role: 'user', content: 'hi' }], max_tokens: 4, temperature: 0 });
          return { info: engine.info, text: r.choices[0].message.content, usage: r.usage };
        }""")
    finally:
        context.close()
    assert out["info"]["backend"] == "wasm" and out["info"]["shards_from_storage"] == 0
    assert out["usage"]["completion_tokens"] == 4 and out["text"]
