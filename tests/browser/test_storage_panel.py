"""Storage the user can see and control: the panel's figures, deleting a model, a full quota while
downloading, storage the browser evicted, and two tabs that download a model once."""
import re

from .app_driver import ask, open_app, wait_settled
from .test_storage import CACHED_URLS, shard_requests


def open_panel(page):
    if page.get_attribute("#storage", "open") is None:
        page.click("#storage summary")
    page.wait_for_function("() => document.querySelector('#storage-usage').textContent.includes('inpage uses')")


def test_the_panel_shows_what_is_stored_and_deletes_a_model(page, live_server):
    seen = []
    page.on("request", lambda r: seen.append(r))
    assert open_app(page, live_server.url) == "ready"
    ask(page, "Name a colour.", max_tokens=8)
    open_panel(page)
    usage = page.inner_text("#storage-usage")
    assert "this browser allows it" in usage and "persistent" in usage
    model = page.locator("#storage-models li[data-id='smollm2-135m']")
    size = page.evaluate("() => window.inpage.engine.manifest.total_bytes")
    assert f"{size / 2**20:.1f} MiB" in model.inner_text() and "last used" in model.inner_text()
    assert page.inner_text("#storage-conversations").startswith("1 conversation, about ")
    assert page.inner_text("#storage-documents").startswith("1 document collection")

    page.once("dialog", lambda d: d.accept())
    model.locator("button").click()
    page.wait_for_function("() => !document.querySelector(\"#storage-models li[data-id='smollm2-135m']\")")
    assert page.inner_text("#storage-models") == "No models stored in this browser."
    assert page.evaluate(CACHED_URLS) == []
    seen.clear()
    page.reload()  # deleted by the user: downloaded again, without an eviction notice
    assert wait_settled(page) == "ready"
    assert len(shard_requests(seen)) == 2
    assert "removed" not in page.inner_text("#banners")


def test_storage_the_browser_cleared_is_noticed_and_the_model_downloads_again(page, live_server):
    assert open_app(page, live_server.url) == "ready"
    ask(page, "Name a colour.", max_tokens=8)
    # What eviction does: this origin's stored data is gone (localStorage is not quota-managed).
    page.evaluate("""async () => {
      await caches.delete('inpage-shards-v1');
      const db = window.inpage.conversations.db;
      for (const c of await db.list()) await db.delete(c.id);
    }""")
    page.reload()
    assert wait_settled(page) == "ready"
    banners = page.inner_text("#banners")
    assert "The browser removed smollm2-135m from its storage to free space" in banners
    assert "Your saved conversations are no longer in this browser's storage" in banners
    assert page.evaluate("() => window.inpage.engine.info.shards_from_storage") == 0
    page.reload()  # said once
    assert wait_settled(page) == "ready"
    assert "removed" not in page.inner_text("#banners")


def test_a_full_quota_while_downloading_says_so_with_the_numbers_and_stores_nothing(context, page, live_server):
    cdp = context.new_cdp_session(page)
    cdp.send("Storage.overrideQuotaForOrigin", {"origin": live_server.url, "quotaSize": 8 * 2**20})
    assert open_app(page, live_server.url) == "ready"  # it runs from memory
    warning = page.inner_text("#banners")
    # (The override refuses writes, but this Chromium's estimate() still reports the real quota.)
    assert re.search(r"The model could not be stored in this browser: browser storage is full "
                     r"\(\d+\.\d MiB used of \d+\.\d MiB allowed, and this shard is \d+\.\d MiB\)\. "
                     r"It runs from memory now", warning), warning
    assert page.evaluate(CACHED_URLS) == []
    assert ask(page, "Say hello.", max_tokens=8).locator(".body").inner_text().strip()


def test_two_tabs_download_a_model_once(context, live_server):
    seen = []
    context.on("request", lambda r: seen.append(r))
    first, second = context.new_page(), context.new_page()
    first.goto(live_server.url)
    second.goto(live_server.url)
    assert wait_settled(first) == "ready" and wait_settled(second) == "ready"
    assert len(shard_requests(seen)) == 2  # the second tab waited for the first, then read storage
    assert second.evaluate("() => window.inpage.engine.info.shards_from_storage") + \
        first.evaluate("() => window.inpage.engine.info.shards_from_storage") == 2
