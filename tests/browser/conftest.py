"""Browser tests: a live host on a loopback port, and Debian's Chromium driven by Playwright."""
import io
import os
import threading
from pathlib import Path

import pytest
import waitress

from models.store import Store
from server import create_app
from server.browser import CHROMIUM_ARGS, CHROMIUM_PATH

from ..ggufs import write_tiny_llama


def pytest_collection_modifyitems(items):
    here = Path(__file__).parent
    for item in items:
        if Path(item.fspath).is_relative_to(here):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not os.access(CHROMIUM_PATH, os.X_OK):
        pytest.fail(f"{CHROMIUM_PATH} is missing: `make test` installs Debian's chromium (apt-get install chromium)")
    return {**browser_type_launch_args, "executable_path": CHROMIUM_PATH, "args": CHROMIUM_ARGS}


@pytest.fixture(autouse=True)
def _timeouts(request):
    if "page" in request.fixturenames:
        page = request.getfixturevalue("page")
        page.set_default_timeout(60_000)


class LiveServer:
    """The real app on waitress, recording what reaches it (method, path, query, headers, body)."""

    def __init__(self, app):
        self.seen = []
        self.server = waitress.create_server(self._record(app), host="127.0.0.1", port=0, threads=8)
        self.url = f"http://127.0.0.1:{self.server.effective_port}"
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()

    def _record(self, app):
        def wsgi(environ, start_response):
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(body)
            headers = {k: v for k, v in environ.items() if k.startswith("HTTP_")}
            self.seen.append((environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""),
                              environ.get("QUERY_STRING", ""), headers, body))
            return app(environ, start_response)
        return wsgi

    def close(self):
        """Stops answering: the listening socket and every open (keep-alive) connection close.

        They close on the server's own thread (a socket closed under its select() fails it with
        EBADF); with nothing left to watch, its loop ends. A second close does nothing."""
        if not self.thread.is_alive():
            return

        def stop():
            for channel in list(self.server._map.values()):
                if channel is not self.server and channel is not self.server.trigger:
                    channel.close()
            self.server.close()  # the listening socket and the trigger
        self.server.trigger.pull_trigger(stop)
        self.thread.join(timeout=5)
        self.server.task_dispatcher.shutdown(timeout=5)


@pytest.fixture(scope="session")
def live_server(model_home):
    server = LiveServer(create_app({"INPAGE_HOME": model_home}))
    yield server
    server.close()


@pytest.fixture
def corrupt_server(tmp_path):
    """A host whose only model has a shard that no longer matches its manifest."""
    store = Store(tmp_path / "home")
    m = store.import_gguf(write_tiny_llama(tmp_path / "tiny.gguf"), "tiny", max_shard_bytes=32 * 1024)
    victim = store.model_dir("tiny") / m["shards"][-1]["file"]
    data = bytearray(victim.read_bytes())
    data[-100] ^= 0x55
    victim.write_bytes(bytes(data))
    server = LiveServer(create_app({"INPAGE_HOME": store.home}))
    server.manifest = m
    yield server
    server.close()


@pytest.fixture
def empty_server(tmp_path):
    server = LiveServer(create_app({"INPAGE_HOME": tmp_path / "empty"}))
    yield server
    server.close()


@pytest.fixture
def host(model_home):
    """Starts hosts that a test may stop, or change (server.app.config)."""
    started = []

    def start(**config):
        app = create_app({"INPAGE_HOME": model_home, **config})
        server = LiveServer(app)
        server.app = app
        started.append(server)
        return server
    yield start
    for server in started:
        server.close()
