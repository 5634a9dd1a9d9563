"""`inpage models pull hf.co/...` against a local stand-in for the Hugging Face Hub (HF_ENDPOINT): the
Hub API's tree listing, `resolve` downloads with HTTP ranges, LFS SHA-256s, gated repos."""
import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import gguf
import numpy as np
import pytest

from models.errors import ModelError
from models.hf_pull import parse_ref, pull_hf
from models.shards import split_gguf
from server.cli import main

from .ggufs import write_tiny_llama


class FakeHub:
    """repos: {"org/name": {"files": {path: bytes}, "token": None or the token it needs}}."""

    def __init__(self):
        self.repos = {}
        self.seen = []  # (path, Range header, Authorization header)
        self.corrupt = set()  # paths served with a flipped byte
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                hub.seen.append((self.path, self.headers.get("Range"), self.headers.get("Authorization")))
                parts = self.path.split("?")[0].strip("/").split("/")
                api = parts[:2] == ["api", "models"]
                repo = "/".join(parts[2:4] if api else parts[0:2])
                r = hub.repos.get(repo)
                if r is None:
                    return self.send_error(404)
                if r["token"] and self.headers.get("Authorization") != f"Bearer {r['token']}":
                    return self.send_error(403 if self.headers.get("Authorization") else 401)
                if api:
                    body = json.dumps([{"type": "file", "path": p, "size": len(b), "oid": "git-oid",
                                        "lfs": {"oid": hashlib.sha256(b).hexdigest(), "size": len(b), "pointerSize": 130}}
                                       for p, b in r["files"].items()] + [{"type": "directory", "path": "docs"}]).encode()
                    return self._send(200, body, {"Content-Type": "application/json"})
                path = "/".join(parts[4:])  # ORG/REPO/resolve/REV/PATH
                data = r["files"].get(path)
                if data is None:
                    return self.send_error(404)
                if path in hub.corrupt:
                    data = data[:100] + bytes([data[100] ^ 1]) + data[101:]
                start = int(self.headers["Range"].split("=")[1].rstrip("-")) if self.headers.get("Range") else 0
                self._send(206 if start else 200, data[start:],
                           {"Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"} if start else {})

            def _send(self, code, body, headers):
                self.send_response(code)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def hub(monkeypatch, tmp_path):
    h = FakeHub()
    monkeypatch.setenv("HF_ENDPOINT", h.url)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    tiny = write_tiny_llama(tmp_path / "tiny.gguf")
    split_dir = tmp_path / "split"
    split_dir.mkdir()
    parts = split_gguf(tiny, split_dir, 16 * 1024)
    assert len(parts) >= 3
    files = {"README.md": b"# tiny", "tiny-Q4_K_M.gguf": tiny.read_bytes(), "tiny-Q5_K_M.gguf": tiny.read_bytes()}
    files.update({f"Q8_0/tiny-Q8_0-{i + 1:05d}-of-{len(parts):05d}.gguf": p.read_bytes() for i, p in enumerate(parts)})
    h.repos["org/tiny-GGUF"] = {"files": files, "token": None}
    h.repos["org/gated-GGUF"] = {"files": {"gated-Q4_0.gguf": tiny.read_bytes()}, "token": "hf_good"}
    h.tiny = tiny
    yield h
    h.server.shutdown()


def tensors_of(path):
    return {t.name: np.asarray(t.data).tobytes() for t in gguf.GGUFReader(path).tensors}


def stored_tensors(store, model_id):
    m = store.manifest(model_id)
    out = {}
    for s in m["shards"]:
        out.update(tensors_of(store.model_dir(model_id) / s["file"]))
    return m, out


def test_a_quant_level_picks_its_file_and_imports_it(hub, store):
    m = pull_hf(store, "hf.co/org/tiny-GGUF:q4_k_m", log=lambda *_: None)
    assert m["id"] == "tiny-q4_k_m" and m["source"]["kind"] == "huggingface" and m["source"]["files"] == ["tiny-Q4_K_M.gguf"]
    assert stored_tensors(store, "tiny-q4_k_m")[1] == tensors_of(hub.tiny)
    assert not list((store.tmp_dir / "hf").rglob("*.gguf*"))  # downloads removed once imported


def test_a_split_gguf_brings_every_part(hub, store):
    m = pull_hf(store, "hf.co/org/tiny-GGUF:Q8_0", "tiny8", log=lambda *_: None)
    assert len(m["source"]["files"]) >= 3 and m["source"]["files"][0].endswith("-00001-of-" + m["source"]["files"][0][-10:])
    assert stored_tensors(store, "tiny8")[1] == tensors_of(hub.tiny)


def test_an_interrupted_download_resumes_with_a_range(hub, store):
    data = hub.repos["org/tiny-GGUF"]["files"]["tiny-Q5_K_M.gguf"]
    part = store.tmp_dir / "hf" / "org_tiny-GGUF" / "tiny-Q5_K_M.gguf.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(data[:5000])  # what a pull stopped part way leaves
    pull_hf(store, "huggingface.co/org/tiny-GGUF/tiny-Q5_K_M.gguf", "tiny5", log=lambda *_: None)
    ranges = [r for p, r, _ in hub.seen if p.endswith("/tiny-Q5_K_M.gguf")]
    assert ranges == ["bytes=5000-"]
    assert stored_tensors(store, "tiny5")[1] == tensors_of(hub.tiny)


def test_a_damaged_download_is_refused_and_deleted(hub, store):
    hub.corrupt.add("tiny-Q4_K_M.gguf")
    with pytest.raises(ModelError, match="SHA-256 .* differs from the Hub's"):
        pull_hf(store, "hf.co/org/tiny-GGUF:Q4_K_M", log=lambda *_: None)
    assert not store.has("tiny-q4_k_m")
    assert not list((store.tmp_dir / "hf").rglob("*.part"))


def test_gated_repos_take_hf_token_and_say_what_to_do(hub, store, monkeypatch):
    with pytest.raises(ModelError, match="needs a Hugging Face login .*set HF_TOKEN"):
        pull_hf(store, "hf.co/org/gated-GGUF", log=lambda *_: None)
    monkeypatch.setenv("HF_TOKEN", "hf_wrong")
    with pytest.raises(ModelError, match="gated and this token has no access"):
        pull_hf(store, "hf.co/org/gated-GGUF", log=lambda *_: None)
    monkeypatch.setenv("HF_TOKEN", "hf_good")
    m = pull_hf(store, "hf.co/org/gated-GGUF", log=lambda *_: None)  # no level given: the repo's Q4_0
    assert m["id"] == "gated-q4_0"
    assert all(a == "Bearer hf_good" for p, _, a in hub.seen[-2:])
    with pytest.raises(ModelError, match="hf.co/org/nothing was not found"):
        pull_hf(store, "hf.co/org/nothing:Q4_0", log=lambda *_: None)


def test_references_and_choices_are_checked(hub, store):
    assert parse_ref("hf.co/a/b:Q4_K_M") == ("a/b", "Q4_K_M", None)
    assert parse_ref("hf.co/a/b/sub/f.gguf") == ("a/b", None, "sub/f.gguf")
    for bad in ("hf.co/onlyorg", "hf.co/a/b:", "hf.co/a/b/readme.md"):
        with pytest.raises(ModelError):
            parse_ref(bad)
    with pytest.raises(ModelError, match="no GGUF file for Q2_K.*its GGUF files: tiny-Q4_K_M.gguf"):
        pull_hf(store, "hf.co/org/tiny-GGUF:Q2_K", log=lambda *_: None)
    with pytest.raises(ModelError, match="has no file nope.gguf"):
        pull_hf(store, "hf.co/org/tiny-GGUF/nope.gguf", log=lambda *_: None)


def test_the_cli_pulls_from_the_hub(hub, tmp_path, capsys):
    home = tmp_path / "clihome"
    main(["--home", str(home), "models", "pull", "hf.co/org/tiny-GGUF:Q4_K_M", "--id", "tiny-cli"])
    assert "tiny-cli:" in capsys.readouterr().out
