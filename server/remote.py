"""The remote tier's proxy: the one route of the host that accepts a request body.

The page never connects to another origin (its CSP keeps `connect-src 'self'`). When the user has
allowed the remote tier in a conversation, the page posts that conversation's chat request here,
and the host forwards it to an OpenAI-compatible server its operator configured
(`inpage serve --remote NAME=URL`), with the key from the host's environment. The host never
forwards to a URL the page names and never gives the key to the page. It logs no message content:
one line per request with the tier, status, sizes and time.
"""
from __future__ import annotations

import http.client
import json
import logging
import os
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, jsonify, request

bp = Blueprint("remote", __name__)
log = logging.getLogger("inpage.remote")

NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
DEFAULT_MAX_BODY = 1 << 20  # bytes of one chat request: a long conversation, not a document dump
DEFAULT_RATE = 30  # requests per minute to one remote tier
TIMEOUT_S = 600  # a stalled server: a reply may take minutes, silence for this long ends it


@dataclass
class Remote:
    """One operator-configured OpenAI-compatible server: url is its base (…/v1)."""
    name: str
    url: str
    model: str | None = None
    key: str | None = field(default=None, repr=False)
    calls: deque = field(default_factory=deque, repr=False)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def endpoint(self) -> str:
        """The URL as the user sees it before consenting: no credentials, no query."""
        u = urlsplit(self.url)
        host = u.hostname if u.port is None else f"{u.hostname}:{u.port}"
        return f"{u.scheme}://{host}{u.path.rstrip('/')}"

    def admit(self, rate: int, now: float) -> float:
        """0 if one more request fits in the last minute's budget, else seconds until one does."""
        with self.lock:
            while self.calls and now - self.calls[0] >= 60:
                self.calls.popleft()
            if len(self.calls) >= rate:
                return 60 - (now - self.calls[0])
            self.calls.append(now)
            return 0


class RemoteConfigError(ValueError):
    pass


def parse_remotes(specs: list[str], models: list[str] = (), environ=os.environ) -> list[Remote]:
    """`--remote NAME=URL` and `--remote-model NAME=MODEL` into Remotes; the key of NAME comes
    from $INPAGE_REMOTE_KEY_NAME (NAME upper-cased, - as _). Raises RemoteConfigError."""
    remotes = {}
    for spec in specs:
        name, sep, url = spec.partition("=")
        if not sep or not NAME.match(name):
            raise RemoteConfigError(f"--remote {spec!r}: write NAME=URL, NAME in lower-case letters, digits and -, "
                                    "e.g. --remote capable=http://gpu-box:8000/v1")
        u = urlsplit(url)
        if u.scheme not in ("http", "https") or not u.hostname or u.query or u.fragment or u.username:
            raise RemoteConfigError(f"--remote {spec!r}: the URL must be http(s)://HOST[:PORT]/PATH of an OpenAI-compatible "
                                    "server (its /v1 base), without credentials: the key comes from "
                                    f"${key_variable(name)}")
        if name in remotes:
            raise RemoteConfigError(f"--remote {name} is given twice")
        remotes[name] = Remote(name, url.rstrip("/"), key=environ.get(key_variable(name)) or None)
    for spec in models:
        name, sep, model = spec.partition("=")
        if not sep or name not in remotes or not model:
            raise RemoteConfigError(f"--remote-model {spec!r}: write NAME=MODEL for a NAME given with --remote")
        remotes[name].model = model
    return list(remotes.values())


def key_variable(name: str) -> str:
    return "INPAGE_REMOTE_KEY_" + name.upper().replace("-", "_")


def remotes_of(app) -> dict[str, Remote]:
    return app.extensions["inpage_remotes"]


def install(app) -> None:
    app.extensions["inpage_remotes"] = {r.name: r for r in app.config.get("REMOTES") or []}
    app.register_blueprint(bp)


def _error(status: int, message: str, code: str, headers: dict | None = None):
    return jsonify(error={"message": message, "type": "remote_proxy", "param": None, "code": code}), status, headers or {}


@bp.get("/api/remote")
def listing():
    """The remote tiers, for the page's consent prompt: name, endpoint and model (never the key)."""
    return jsonify(remotes=[{"name": r.name, "endpoint": r.endpoint, "model": r.model}
                            for r in remotes_of(current_app).values()])


@bp.post("/api/remote/<name>/chat/completions")
def chat_completions(name):
    remote = remotes_of(current_app).get(name)
    if remote is None:
        return _error(404, f"No remote tier named {name!r} is configured on this host; its operator adds one with "
                      "`inpage serve --remote NAME=URL`.", "remote_not_configured")
    refused = _refuse_foreign()
    if refused:
        return refused
    limit = current_app.config.get("REMOTE_MAX_BODY", DEFAULT_MAX_BODY)
    if request.content_length is None:
        return _error(411, "Send the request with a Content-Length.", "length_required")
    if request.content_length > limit:
        return _error(413, f"The request is {request.content_length} bytes; this host forwards at most {limit} to a "
                      "remote tier. Start a new conversation or leave documents out.", "body_too_large")
    rate = current_app.config.get("REMOTE_RATE", DEFAULT_RATE)
    wait = remote.admit(rate, time.monotonic())
    if wait:
        return _error(429, f"The remote tier {name!r} takes {rate} requests a minute; try again in {wait:.0f} s.",
                      "rate_limited", {"Retry-After": str(max(1, round(wait)))})
    request.max_content_length = limit  # this route's limit, not the host's 1 KiB for every other route
    try:
        body = json.loads(request.get_data())
    except ValueError:
        return _error(400, "The body must be a JSON chat request.", "invalid_json")
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        return _error(400, "The body must be a chat request: a JSON object with a messages array.", "invalid_request")
    if remote.model:
        body["model"] = remote.model
    return _forward(remote, json.dumps(body).encode())


def _refuse_foreign():
    """Only a page of this host, reached by a loopback name, may spend the operator's remote tier:
    not another machine on the network, not another site's page (DNS rebinding, a cross-site form)."""
    host = request.host
    host = host[:host.index("]") + 1] if host.startswith("[") and "]" in host else host.split(":")[0]
    if host not in LOOPBACK_HOSTS:
        return _error(403, f"The remote tier is only proxied for pages opened at a loopback address (127.0.0.1, "
                      f"localhost), not {host!r}.", "not_loopback")
    origin = request.headers.get("Origin", request.host_url.rstrip("/"))
    if origin != request.host_url.rstrip("/") or request.headers.get("Sec-Fetch-Site", "same-origin") != "same-origin":
        return _error(403, "Only this host's own page may use its remote tier.", "foreign_origin")
    if request.mimetype != "application/json":
        return _error(415, "Send the chat request as application/json.", "unsupported_media_type")
    return None


def _forward(remote: Remote, body: bytes):
    u = urlsplit(remote.url)
    conn_class = http.client.HTTPSConnection if u.scheme == "https" else http.client.HTTPConnection
    conn = conn_class(u.hostname, u.port, timeout=current_app.config.get("REMOTE_TIMEOUT", TIMEOUT_S))
    headers = {"Content-Type": "application/json", "Accept": "text/event-stream, application/json"}
    if remote.key:
        headers["Authorization"] = f"Bearer {remote.key}"
    t0 = time.monotonic()
    try:
        conn.request("POST", f"{u.path.rstrip('/')}/chat/completions", body=body, headers=headers)
        upstream = conn.getresponse()
    except (OSError, http.client.HTTPException) as e:
        conn.close()
        log.info("remote %s: unreachable (%s), %d bytes in", remote.name, type(e).__name__, len(body))
        return _error(502, f"The remote tier {remote.name!r} ({remote.endpoint}) cannot be reached: {e}. Is its server "
                      "running?", "remote_unreachable")

    def relay():
        n_out = 0
        try:
            while chunk := upstream.read1(65536):
                n_out += len(chunk)
                yield chunk
        except (OSError, http.client.HTTPException) as e:
            log.info("remote %s: stream broke (%s)", remote.name, type(e).__name__)
        finally:
            conn.close()
            log.info("remote %s: HTTP %d, %d bytes in, %d bytes out, %.1f s", remote.name, upstream.status,
                     len(body), n_out, time.monotonic() - t0)

    content_type = upstream.getheader("Content-Type", "application/json")
    return Response(relay(), status=upstream.status, content_type=content_type,
                    headers={"X-Accel-Buffering": "no"})
