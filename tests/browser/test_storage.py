"""(c) Verified shards stay in browser storage; (d) a corrupt shard is refused and nothing is kept."""
from .app_driver import open_app, wait_settled

CACHED_URLS = """async () => {
  const cache = await caches.open('inpage-shards-v1');
  return (await cache.keys()).map((r) => new URL(r.url).pathname);
}"""


def shard_requests(requests):
    """Whole-shard downloads; before them the page reads each shard's header by range requests."""
    return [r.url for r in requests if "/models/" in r.url and r.url.endswith(".gguf") and "range" not in r.headers]


def test_a_reload_loads_the_model_from_browser_storage(page, live_server):
    seen = []
    page.on("request", lambda r: seen.append(r))
    assert open_app(page, live_server.url) == "ready"
    manifest = page.evaluate("() => window.inpage.engine.manifest")
    first = shard_requests(seen)
    assert len(first) == len(manifest["shards"]) == 2
    assert sorted(page.evaluate(CACHED_URLS)) == sorted(
        f"/models/{manifest['id']}/{s['sha256']}.gguf" for s in manifest["shards"])

    seen.clear()
    page.reload()
    assert wait_settled(page) == "ready"
    assert shard_requests(seen) == []
    assert page.evaluate("() => window.inpage.engine.info.shards_from_storage") == 2
    assert page.locator("#banners .error").count() == 0


def test_a_corrupt_shard_is_rejected_visibly_and_nothing_is_cached(page, corrupt_server):
    seen = []
    page.on("request", lambda r: seen.append(r))
    assert open_app(page, corrupt_server.url) == "error"
    banner = page.locator("#banners .error").inner_text()
    n = len(corrupt_server.manifest["shards"])
    assert f"Integrity check failed: shard {n} of {n} of tiny" in banner
    assert "inpage models verify tiny" in banner
    # Every shard was fetched (the good ones first), and none of them was kept.
    assert len(shard_requests(seen)) == n
    assert page.evaluate(CACHED_URLS) == []
    assert page.get_attribute("#send", "disabled") is not None
