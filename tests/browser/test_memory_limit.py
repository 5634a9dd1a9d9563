"""How much memory the page can get, and a model that needs more refused before its download.

A tab's WebAssembly memory (wasm32, and wllama's 64-bit build alike) stops at 4 GiB. A model in
Llama-3.1-8B's shape at Q4_0 (4.2 GiB of shards) needs more: the page must say so, with the
numbers, from the shards' headers alone, without downloading the weights. The model's tensors are
zeros in a sparse file (models/synthetic.py, header_only), so it takes a few MiB of disk.
"""
import shutil

import pytest

from models import manifest as mf
from models.synthetic import write_synthetic
from server import create_app

from .app_driver import open_app
from .conftest import LiveServer

PAGE = 65536


def test_chromium_grows_a_shared_wasm_memory_to_4_gib(page, live_server):
    page.goto(f"{live_server.url}/static/css/app.css")
    got = page.evaluate("""() => {
      const out = { isolated: crossOriginIsolated };
      for (const shared of [false, true]) {
        const m = new WebAssembly.Memory({ initial: 1, maximum: 65536, shared });
        let pages = 1;
        for (const step of [4096, 256, 16, 1]) for (;;) { try { m.grow(step); pages += step; } catch { break; } }
        out[shared ? 'shared' : 'local'] = pages;
      }
      return out;
    }""")
    # 65536 pages of 64 KiB: all that wasm32 addresses. Our kernels take 65535 (the linker's limit).
    assert got == {"isolated": True, "shared": 65536, "local": 65536}


@pytest.fixture(scope="module")
def big_server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("big")
    path = write_synthetic("llama-3.1-8b", "Q4_0", tmp / "big.gguf", header_only=True)
    sha = mf.sha256_file(path)
    folder = tmp / "home" / "models" / "synthetic-8b"
    folder.mkdir(parents=True)
    shutil.move(path, folder / mf.shard_file_name(sha))
    size = (folder / mf.shard_file_name(sha)).stat().st_size
    manifest = {"format_version": mf.FORMAT_VERSION, "id": "synthetic-8b", "name": "synthetic llama-3.1-8b Q4_0",
                "architecture": "llama", "quantization": "Q4_0", "parameter_count": 8_030_261_248,
                "context_length": 8192, "license": "synthetic", "total_bytes": size,
                "shards": [{"file": mf.shard_file_name(sha), "bytes": size, "sha256": sha}]}
    mf.write(folder / "manifest.json", manifest)
    server = LiveServer(create_app({"INPAGE_HOME": tmp / "home"}))
    server.manifest = manifest
    yield server
    server.close()


def downloaded_bytes(server):
    """Bytes of shard the host was asked for: whole shards, and the spans of range requests."""
    total = 0
    for method, path, query, headers, body in server.seen:
        if not (path.startswith("/models/") and path.endswith(".gguf")):
            continue
        span = headers.get("HTTP_RANGE", "")
        if not span.startswith("bytes="):
            return float("inf")
        a, b = span.removeprefix("bytes=").split("-")
        total += int(b) - int(a) + 1
    return total


def test_a_model_too_big_for_the_page_is_refused_before_download(page, big_server):
    assert big_server.manifest["total_bytes"] > 4 * 2**30
    big_server.seen.clear()
    assert open_app(page, big_server.url) == "error"
    banner = page.locator("#banners .error").inner_text()
    assert "synthetic-8b cannot run in this page" in banner
    # The numbers: what it needs, of which weights and KV cache, and the limit.
    assert "needs 5.71 GiB of WebAssembly memory (weights 4.66 GiB, KV cache 1.00 GiB for 4096 tokens" in banner
    assert "4.00 GiB" in banner and "pick a smaller model or a lower quantization level" in banner
    # Only the header was read: a few MiB of a 4.2 GiB shard.
    assert 0 < downloaded_bytes(big_server) < 16 * 2**20
    assert page.evaluate("""async () => (await (await caches.open('inpage-shards-v1')).keys()).length""") == 0


def test_the_refusal_names_the_engine_asked_for(page, big_server):
    page.goto(f"{big_server.url}/static/css/app.css")
    for backend, expected in [("wasm", "needs 5.71 GiB of WebAssembly memory"),
                              ("wllama", "4.21 GiB of weights alone are more than the 4.00 GiB")]:
        message = page.evaluate("""async (backend) => {
          const { createEngine } = await import('/webgpu/engine.js');
          try { await createEngine({ model: 'synthetic-8b', backend }); return 'loaded'; } catch (e) { return e.message; }
        }""", backend)
        assert "synthetic-8b cannot run in this page" in message and expected in message, message
