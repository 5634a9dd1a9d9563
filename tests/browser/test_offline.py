"""The offline shell: after one visit the app opens and chats with no host, cross-origin isolated,
without storing model shards twice; a new version is picked up on the next load; it installs."""
from server import create_app
from server.shell import shell_manifest

from .app_driver import ask, open_app, wait_settled

CONTROLLED = "async () => { await navigator.serviceWorker.ready; return Boolean(navigator.serviceWorker.controller); }"
CACHES = """async () => {
  const out = {};
  for (const name of await caches.keys()) out[name] = (await (await caches.open(name)).keys()).map((r) => new URL(r.url).pathname);
  return out;
}"""
VERSION = """async () => {
  const worker = navigator.serviceWorker.controller;
  return await new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = (e) => resolve(e.data.version);
    worker.postMessage({ type: 'version' }, [channel.port2]);
  });
}"""


def shell_of(**config):
    app = create_app(config)
    with app.test_request_context():
        return shell_manifest()


def test_after_one_visit_the_app_opens_and_chats_with_no_host(context, page, host):
    server = host()
    assert open_app(page, server.url) == "ready"
    assert page.evaluate(CONTROLLED)
    ask(page, "Name a colour.", max_tokens=8)
    catalog = page.evaluate("async () => (await fetch('/api/models')).json()")
    server.close()
    context.set_offline(True)

    page.reload()
    assert wait_settled(page) == "ready", page.inner_text("#banners")
    assert page.evaluate("() => crossOriginIsolated") is True  # the shell kept its COOP/COEP headers
    assert page.is_visible("#offline-badge")
    assert page.get_attribute("body", "data-offline") == "true"
    assert page.locator(".msg.user").first.inner_text() == "Name a colour."  # the conversation, from IndexedDB
    answer = ask(page, "Name a fruit.", max_tokens=8)
    assert answer.locator(".body").inner_text().strip()
    assert page.inner_text("#backend-badge").startswith("wasm") and "2 threads" in page.inner_text("#backend-badge")

    caches = page.evaluate(CACHES)
    shell = shell_of()
    [shell_cache] = [name for name in caches if name.startswith("inpage-shell-")]
    assert shell_cache == f"inpage-shell-{shell['version']}"
    assert sorted(caches[shell_cache]) == sorted(shell["urls"])
    assert sorted(caches["inpage-data-v1"]) == sorted(
        ["/api/models"] + [f"/api/models/{m['id']}/manifest.json" for m in catalog["models"]])
    # Shards are kept once, by the page's own verified store, not by the service worker.
    holding_shards = [name for name, urls in caches.items() if any(u.startswith("/models/") for u in urls)]
    assert len(holding_shards) == 1 and holding_shards[0] not in (shell_cache, "inpage-data-v1")


def test_a_new_version_is_picked_up_on_the_next_load(page, host):
    first = host(APP_VERSION="1")
    assert open_app(page, first.url) == "ready"
    assert page.evaluate(CONTROLLED)
    assert page.evaluate(VERSION) == shell_of(APP_VERSION="1")["version"]
    first.app.config["APP_VERSION"] = "2"  # the host is updated

    # The browser checks /sw.js on navigation and installs the new version beside the old. If that
    # is done while this page loads, the next load is this one; if later, the page says it is ready.
    page.reload()
    ready = page.locator(".banner:has-text('A new version of inpage is ready. It opens on the next load.')")
    updated = page.locator(".banner:has-text('inpage was updated to a new version.')")
    ready.or_(updated).wait_for()
    if ready.is_visible():
        assert page.evaluate(VERSION) == shell_of(APP_VERSION="1")["version"]  # this page keeps its version
        page.reload()  # the only tab: the new version takes over, with one more reload, and says so
    updated.wait_for()
    assert wait_settled(page) == "ready"
    assert page.evaluate(VERSION) == shell_of(APP_VERSION="2")["version"]
    names = [n for n in page.evaluate(CACHES) if n.startswith("inpage-shell-")]
    assert names == [f"inpage-shell-{shell_of(APP_VERSION='2')['version']}"]  # the old shell is gone


def test_the_app_can_be_installed(page, live_server):
    page.goto(live_server.url)
    manifest = page.evaluate("""async () => {
      const link = document.querySelector('link[rel=manifest]');
      return await (await fetch(link.href)).json();
    }""")
    assert manifest["start_url"] == "/" and manifest["display"] == "standalone"
    sizes = {icon["sizes"] for icon in manifest["icons"]}
    assert {"192x192", "512x512"} <= sizes
    for icon in manifest["icons"]:
        assert page.request.get(live_server.url + icon["src"]).ok
    assert manifest["name"].startswith("inpage")
