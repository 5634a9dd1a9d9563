"""The remote tier's proxy (server/remote.py): forwards only to operator-configured servers, with
the host's key, within size and rate limits, streaming, and logging no content. Against llama.cpp's
real OpenAI-compatible server (tests/llama_server.py)."""
import json
import logging
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from server import create_app
from server.cli import main as cli_main
from server.remote import Remote, RemoteConfigError, parse_remotes

from .test_server import assert_private

LOCAL = {"Host": "127.0.0.1:8000", "Origin": "http://127.0.0.1:8000", "Sec-Fetch-Site": "same-origin"}


def chat(text, **extra):
    return {"messages": [{"role": "user", "content": text}], "max_tokens": 8, "temperature": 0, **extra}


def proxy_app(store, remotes, **config):
    return create_app({"INPAGE_HOME": store.home, "REMOTES": remotes, **config})


@pytest.fixture
def real(store, llama_server):
    """A host whose remote tier `capable` is the real llama-server, with its key from the environment."""
    remotes = parse_remotes(["capable=" + llama_server.url], environ={"INPAGE_REMOTE_KEY_CAPABLE": llama_server.key})
    return proxy_app(store, remotes).test_client()


def test_the_listing_names_each_endpoint_and_never_its_key(store):
    remotes = parse_remotes(["capable=http://gpu-box:8000/v1/", "cloud=https://api.example.com/v1"],
                            ["cloud=big-model"], environ={"INPAGE_REMOTE_KEY_CLOUD": "sk-secret-123"})
    response = proxy_app(store, remotes).test_client().get("/api/remote")
    assert response.json == {"remotes": [
        {"name": "capable", "endpoint": "http://gpu-box:8000/v1", "model": None},
        {"name": "cloud", "endpoint": "https://api.example.com/v1", "model": "big-model"}]}
    assert b"sk-secret" not in response.data
    assert "sk-secret" not in repr(remotes)
    assert_private(response)


def test_with_no_remote_configured_the_listing_is_empty_and_nothing_is_forwarded(client):
    assert client.get("/api/remote").json == {"remotes": []}
    response = client.post("/api/remote/capable/chat/completions", json=chat("hi"), headers=LOCAL)
    assert response.status_code == 404 and response.json["error"]["code"] == "remote_not_configured"
    assert "--remote NAME=URL" in response.json["error"]["message"]


@pytest.mark.parametrize("spec", ["capable", "Capable=http://x/v1", "capable=ftp://x/v1", "capable=http://u:p@x/v1",
                                  "capable=http://x/v1?target=y", "capable=/v1"])
def test_bad_remote_specs_are_refused_with_what_to_write(spec):
    with pytest.raises(RemoteConfigError, match="--remote"):
        parse_remotes([spec])


def test_inpage_serve_refuses_a_bad_remote_in_one_line(capsys):
    assert cli_main(["serve", "--remote", "capable=gpu-box:8000"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "http(s)://HOST[:PORT]/PATH" in err


def test_the_page_cannot_choose_where_a_request_goes(store):
    remotes = [Remote("capable", "http://127.0.0.1:9/v1")]  # discard port: nothing listens
    client = proxy_app(store, remotes).test_client()
    for path in ["/api/remote/http:%2F%2Fevil.example/chat/completions", "/api/remote/evil/chat/completions",
                 "/api/remote/capable/completions", "/api/remote/capable/../../x"]:
        response = client.post(path, json=chat("hi"), headers=LOCAL)
        assert response.status_code in (404, 405), path
    # A URL in the body is not a target: the configured server is (and here it does not answer).
    response = client.post("/api/remote/capable/chat/completions", headers=LOCAL,
                           json=chat("hi", base_url="http://evil.example/v1", url="http://evil.example/v1"))
    assert response.status_code == 502 and "127.0.0.1:9" in response.json["error"]["message"]


def test_oversized_and_unsized_bodies_are_refused(store):
    client = proxy_app(store, [Remote("capable", "http://127.0.0.1:9/v1")], REMOTE_MAX_BODY=2000).test_client()
    big = json.dumps(chat("x" * 3000))
    response = client.post("/api/remote/capable/chat/completions", data=big, content_type="application/json", headers=LOCAL)
    assert response.status_code == 413 and response.json["error"]["code"] == "body_too_large"
    assert_private(response)
    unsized = client.post("/api/remote/capable/chat/completions", data=big, content_type="application/json",
                          headers={**LOCAL, "Transfer-Encoding": "chunked"})
    assert unsized.status_code in (411, 413)
    # Every other route still takes no body.
    assert client.post("/api/remote", data=b"x" * 4096).status_code in (405, 413)


@pytest.mark.parametrize("headers,code", [
    ({"Host": "192.168.1.20:8000"}, "not_loopback"),
    ({"Host": "gpu-box.lan"}, "not_loopback"),
    ({"Origin": "http://attacker.example"}, "foreign_origin"),
    ({"Sec-Fetch-Site": "cross-site"}, "foreign_origin"),
])
def test_only_a_page_of_this_host_at_a_loopback_name_may_use_the_proxy(store, headers, code):
    client = proxy_app(store, [Remote("capable", "http://127.0.0.1:9/v1")]).test_client()
    response = client.post("/api/remote/capable/chat/completions", json=chat("hi"), headers={**LOCAL, **headers})
    assert response.status_code == 403 and response.json["error"]["code"] == code


def test_a_form_post_is_not_a_chat_request(store):
    client = proxy_app(store, [Remote("capable", "http://127.0.0.1:9/v1")]).test_client()
    response = client.post("/api/remote/capable/chat/completions", data="messages=hi", headers=LOCAL,
                           content_type="text/plain")
    assert response.status_code == 415


def test_the_rate_limit_answers_429_with_retry_after(store):
    client = proxy_app(store, [Remote("capable", "http://127.0.0.1:9/v1")], REMOTE_RATE=2).test_client()
    codes = [client.post("/api/remote/capable/chat/completions", json=chat("hi"), headers=LOCAL).status_code
             for _ in range(3)]
    assert codes == [502, 502, 429]
    response = client.post("/api/remote/capable/chat/completions", json=chat("hi"), headers=LOCAL)
    assert 1 <= int(response.headers["Retry-After"]) <= 60


def test_a_real_server_answers_through_the_proxy_with_the_hosts_key(real, llama_server, caplog):
    canary = f"canary{secrets.token_hex(6)}"
    caplog.set_level(logging.INFO, logger="inpage.remote")
    response = real.post("/api/remote/capable/chat/completions", headers=LOCAL,
                         json=chat(f"Repeat the word {canary}.", stream=True, stream_options={"include_usage": True}))
    assert response.status_code == 200, response.data
    assert response.mimetype == "text/event-stream"
    events = [line[len("data: "):] for line in response.data.decode().splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert any(c.get("usage") for c in chunks)
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert_private(response)
    # The server got the message (it logs each request), and the key was the host's: it refuses others.
    assert canary in llama_server.log_text()
    # The host logged the request, and not its content.
    lines = [r.getMessage() for r in caplog.records if r.name == "inpage.remote"]
    assert any("capable: HTTP 200" in line for line in lines), lines
    assert not any(canary in line for line in lines)


def test_without_the_key_the_real_server_refuses(store, llama_server):
    client = proxy_app(store, parse_remotes(["capable=" + llama_server.url], environ={})).test_client()
    response = client.post("/api/remote/capable/chat/completions", json=chat("hi"), headers=LOCAL)
    assert response.status_code == 401


def test_the_configured_model_replaces_the_pages(store):
    """llama-server answers whatever model is named, so a recording stand-in shows what was sent."""
    seen = []

    class Upstream(BaseHTTPRequestHandler):
        def do_POST(self):
            seen.append((self.path, self.headers.get("Authorization"), json.loads(self.rfile.read(int(self.headers["Content-Length"])))))
            body = b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n'
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    upstream = ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    try:
        remotes = parse_remotes([f"capable=http://127.0.0.1:{upstream.server_port}/v1"], ["capable=served-name"],
                                environ={"INPAGE_REMOTE_KEY_CAPABLE": "sk-host"})
        client = proxy_app(store, remotes).test_client()
        response = client.post("/api/remote/capable/chat/completions", json=chat("hi", model="page-chose-this"), headers=LOCAL)
        assert response.status_code == 200 and b"[DONE]" in response.data
    finally:
        upstream.shutdown()
    assert seen == [("/v1/chat/completions", "Bearer sk-host", chat("hi", model="served-name"))]
