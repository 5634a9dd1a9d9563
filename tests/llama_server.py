"""llama.cpp's own OpenAI-compatible server (`llama-server`) on the default model, as the remote
tier's real server in tests. `make llama-server` builds it from the llama.cpp that the
llama-cpp-python sdist vendors (the one `inpage bench --native` runs); `make test` does so first.

It runs with an API key, so a request that reaches it without the host's key is refused, and it
logs every request it is sent (--log-verbose), which is how tests see what reached the server."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BINARY = Path(os.environ.get("INPAGE_LLAMA_SERVER", ROOT / ".cache/llama-server/bin/llama-server"))


class LlamaServer:
    def __init__(self, gguf: Path, log_file: Path, *, key: str, n_ctx: int = 4096):
        if not os.access(BINARY, os.X_OK):
            raise FileNotFoundError(f"{BINARY} is missing: run `make llama-server` (make test does)")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.key = key
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.log_file = log_file
        self.process = subprocess.Popen(
            [str(BINARY), "-m", str(gguf), "--host", "127.0.0.1", "--port", str(self.port), "-c", str(n_ctx),
             "-np", "1", "-t", "2", "--api-key", key, "--log-verbose", "--log-file", str(log_file), "--no-webui"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._wait_ready()

    def _wait_ready(self, timeout_s: float = 120):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"llama-server exited with {self.process.returncode}; see {self.log_file}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise TimeoutError(f"llama-server did not become ready in {timeout_s} s; see {self.log_file}")

    def log_text(self) -> str:
        return self.log_file.read_text(errors="replace")

    def chat(self, body: dict) -> dict:
        """A request straight to the server (not through inpage), with its key."""
        req = urllib.request.Request(f"{self.url}/chat/completions", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.key}"})
        with urllib.request.urlopen(req, timeout=120) as r:
            return json.load(r)

    def close(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
