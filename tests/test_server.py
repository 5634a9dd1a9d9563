import json
import shutil

import pytest

from server.headers import CONTENT_SECURITY_POLICY, SECURITY_HEADERS

CSP_REQUIRED = ("default-src 'none'", "script-src 'self' 'wasm-unsafe-eval'", "worker-src 'self' blob:",
                "connect-src 'self'", "style-src 'self'", "img-src 'self' blob: data:", "manifest-src 'self'",
                "base-uri 'none'",
                "form-action 'none'", "frame-ancestors 'none'")


def assert_private(response):
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, name
    csp = response.headers["Content-Security-Policy"]
    assert [d.strip() for d in csp.split(";")] == list(CSP_REQUIRED)
    assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert response.headers["Cross-Origin-Embedder-Policy"] == "require-corp"
    assert response.headers["Cross-Origin-Resource-Policy"] == "same-origin"
    for feature in ("camera=()", "microphone=()", "geolocation=()"):
        assert feature in response.headers["Permissions-Policy"]


def shard_url(model, i=0):
    return f"/models/{model['id']}/{model['shards'][i]['sha256']}.gguf"


def test_csp_is_the_documented_policy():
    assert CONTENT_SECURITY_POLICY == "; ".join(CSP_REQUIRED)


@pytest.mark.parametrize("method, path, status", [
    ("GET", "/", 200),
    ("GET", "/api/models", 200),
    ("GET", "/api/models/tiny/manifest.json", 200),
    ("GET", "/static/css/app.css", 200),
    ("GET", "/static/js/app.js", 200),
    ("GET", "/webgpu/engine.js", 200),
    ("GET", "/sw.js", 200),
    ("GET", "/static/manifest.webmanifest", 200),
    ("GET", "/vendor/wllama/index.js", 200),
    ("GET", "/vendor/wllama/wllama.wasm", 200),
    ("GET", "/vendor/openai/index.mjs", 200),
    ("GET", "/examples/openai", 200),
    ("POST", "/v1/chat/completions", 503),
    ("GET", "/nope", 404),
    ("GET", "/api/models/nope/manifest.json", 404),
    ("POST", "/", 405),
    ("POST", "/api/models", 405),
])
def test_every_response_carries_the_privacy_headers(client, tiny_model, method, path, status):
    response = client.open(path, method=method)
    assert response.status_code == status
    assert_private(response)
    assert response.headers["Cache-Control"] == "no-cache"


def test_shards_are_immutable_strong_etagged_and_sized(client, tiny_model):
    shard = tiny_model["shards"][0]
    response = client.get(shard_url(tiny_model))
    assert response.status_code == 200
    assert_private(response)
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert int(response.headers["Content-Length"]) == shard["bytes"] == len(response.data)
    assert response.headers["ETag"] == f'"{shard["sha256"]}"'
    assert set(response.headers["Cache-Control"].split(", ")) == {"public", "max-age=31536000", "immutable"}
    assert response.headers["Accept-Ranges"] == "bytes"


def test_shard_ranges_and_revalidation(client, tiny_model):
    shard = tiny_model["shards"][1]
    url = shard_url(tiny_model, 1)
    whole = client.get(url).data

    part = client.get(url, headers={"Range": "bytes=10-19"})
    assert part.status_code == 206
    assert part.data == whole[10:20]
    assert part.headers["Content-Range"] == f"bytes 10-19/{shard['bytes']}"
    assert_private(part)

    suffix = client.get(url, headers={"Range": "bytes=-5"})
    assert suffix.status_code == 206 and suffix.data == whole[-5:]

    beyond = client.get(url, headers={"Range": f"bytes={shard['bytes'] + 10}-"})
    assert beyond.status_code == 416
    assert_private(beyond)

    multi = client.get(url, headers={"Range": "bytes=0-1,5-6"})
    assert multi.status_code == 416
    assert_private(multi)

    cached = client.get(url, headers={"If-None-Match": f'"{shard["sha256"]}"'})
    assert cached.status_code == 304
    assert cached.data == b""
    assert_private(cached)

    stale = client.get(url, headers={"Range": "bytes=0-3", "If-Range": '"' + "0" * 64 + '"'})
    assert stale.status_code == 200 and stale.data == whole


def test_the_catalog_lists_installed_models(client, tiny_model):
    body = client.get("/api/models").get_json()
    assert body["default"] == "tiny"
    [entry] = body["models"]
    assert entry["id"] == "tiny" and entry["n_shards"] == len(tiny_model["shards"])
    assert "shards" not in entry and "chat_template" not in entry
    assert client.get("/api/models/tiny/manifest.json").get_json() == tiny_model


def test_an_embedding_model_is_listed_but_never_the_chat_default(client, store, tiny_model):
    embed = store.model_dir("aaa-minilm")          # sorts first, so only the task keeps it from being default
    shutil.copytree(store.model_dir("tiny"), embed)
    m = json.loads((embed / "manifest.json").read_text())
    m.update(id="aaa-minilm", architecture="bert")
    (embed / "manifest.json").write_text(json.dumps(m))
    body = client.get("/api/models").get_json()
    assert body["default"] == "tiny"
    assert {e["id"]: e["task"] for e in body["models"]} == {"aaa-minilm": "embedding", "tiny": "chat"}


def test_an_empty_store_gives_an_empty_catalog(client):
    assert client.get("/api/models").get_json() == {"models": [], "default": None}


@pytest.mark.parametrize("path", [
    "/models/tiny/../manifest.json",
    "/models/tiny/%2e%2e/manifest.json",
    "/models/tiny/..%2fmanifest.json",
    "/models/tiny/manifest.json",
    "/models/..%2f..%2fetc/passwd",
    "/models/tiny/" + "0" * 64 + ".gguf",
    "/models/tiny/" + "A" * 64 + ".gguf",
    "/models/tiny/abc.gguf",
    "/models/TINY/{sha}.gguf",
    "/models/nope/{sha}.gguf",
    "/models/tiny/{sha}.gguf%00",
    "/models/tiny/{sha}",
    "/models/tiny/{sha}.gguf/x",
    "/static/../server/cli.py",
    "/static/%2e%2e/server/cli.py",
    "/static/..%2fserver%2fcli.py",
    "/webgpu/../server/cli.py",
    "/webgpu/%2e%2e/server/cli.py",
    "/webgpu/..%2fserver%2fcli.py",
    "/webgpu/%2fetc%2fpasswd",
    "/webgpu/engine.py",
    "/vendor/wllama/package.json",
    "/vendor/openai/package.json",
    "/vendor/openai/../ajv/dist/ajv.js",
    "/vendor/openai/%2e%2e/ajv/dist/ajv.js",
    "/vendor/wllama/../../package.json",
    "/vendor/%2e%2e/package.json",
    "/vendor//etc/passwd",
    "/api/models/..%2f..%2fetc/manifest.json",
    "/api/models/%2e%2e/manifest.json",
])
def test_path_traversal_gets_404(client, tiny_model, path):
    response = client.get(path.format(sha=tiny_model["shards"][0]["sha256"]))
    assert response.status_code == 404, path
    assert_private(response)


def test_the_openai_endpoint_is_answered_in_the_browser_not_here(client):
    response = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}]})
    assert response.status_code == 503
    assert response.json["error"]["code"] == "answered_in_browser"
    assert "service worker" in response.json["error"]["message"]
    assert_private(response)


def test_bodies_are_refused(client):
    response = client.post("/api/models", data=b"x" * 4096)
    assert response.status_code in (405, 413)
    assert_private(response)


def test_a_loopback_server_answers_only_loopback_host_names(tiny_model, store):
    from server import create_app
    app = create_app({"INPAGE_HOME": store.home, "TRUSTED_HOSTS": ["127.0.0.1", "localhost"]})
    client = app.test_client()
    assert client.get("/api/models", headers={"Host": "127.0.0.1:8000"}).status_code == 200
    rebound = client.get("/api/models", headers={"Host": "attacker.example"})
    assert rebound.status_code == 400
    assert_private(rebound)
