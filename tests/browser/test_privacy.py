"""(b) Privacy over a full journey: load, chat, reload, chat again, export and import the
conversations, a second tab, a request through the OpenAI SDK to the page's own /v1/ endpoint, and
the app reloaded offline from its service worker. The host has a remote tier (llama.cpp's server),
which the journey's first chat is pinned to but never allows: nothing reaches the proxy or the server."""
import secrets
from urllib.parse import urlsplit

from server.remote import Remote

from .app_driver import CSP_TRAP, ask, open_app, origin_of, record_requests, wait_settled


def test_nothing_leaves_the_origin_and_the_prompt_never_reaches_the_host(page, host, tmp_path, llama_server):
    # This test stops the host, to go offline.
    live_server = host(REMOTES=[Remote("gpu-box", llama_server.url, key=llama_server.key)])
    canary = f"canary{secrets.token_hex(8)}"
    console_csp = []
    requests, foreign = record_requests(page.context, live_server.url)
    page.on("console", lambda m: "Content Security Policy" in m.text and console_csp.append(m.text))
    page.add_init_script(CSP_TRAP)
    live_server.seen.clear()

    assert open_app(page, live_server.url) == "ready"
    # The router would send this chat's messages remote (pinned there), but the chat never allowed it.
    page.select_option("#tier-pin", "remote")
    first = ask(page, f"Remember this code word: {canary}. What is it?", max_tokens=16)
    assert "has not allowed the remote tier" in first.locator(".route").inner_text()
    violations = page.evaluate("() => window.__csp")
    page.reload()
    assert wait_settled(page) == "ready"
    ask(page, f"Say the code word {canary} again.", max_tokens=16)
    # Export stays a download made in the page; importing it reads the file in the page.
    with page.expect_download() as d:
        page.click("#export-all-json")
    exported = tmp_path / "export.json"
    d.value.save_as(exported)
    assert canary in exported.read_text()
    page.set_input_files("#import-file", str(exported))
    page.locator(".banner.info").wait_for()
    violations += page.evaluate("() => window.__csp")
    # A second tab hears of the conversation from the first, inside the browser.
    other = page.context.new_page()
    other.add_init_script(CSP_TRAP)
    assert open_app(other, live_server.url) == "ready"
    assert canary in other.inner_text("#conversation-list")
    page.click("#new-chat")
    ask(page, f"One more time: {canary}?", max_tokens=8)
    other.locator(f"#conversation-list li:has-text('One more time: {canary}')").wait_for()
    violations += other.evaluate("() => window.__csp")
    # The OpenAI SDK in a page of this origin: its request, canary and all, is answered in the browser.
    caller = page.context.new_page()
    caller.add_init_script(CSP_TRAP)
    caller.goto(f"{live_server.url}/examples/openai")
    answer = caller.evaluate("""async (canary) => {
      const { default: OpenAI } = await import('/vendor/openai/index.mjs');
      const client = new OpenAI({ baseURL: location.origin + '/v1', apiKey: 'inpage', dangerouslyAllowBrowser: true, maxRetries: 0 });
      const r = await client.chat.completions.create({ messages: [{ role: 'user', content: `Repeat ${canary}` }], max_tokens: 4 });
      return r.object;
    }""", canary)
    assert answer == "chat.completion"
    violations += caller.evaluate("() => window.__csp")
    in_browser = [r for url, _, _, r in requests if urlsplit(url).path.startswith("/v1/")]
    assert sorted(r.method for r in in_browser) == ["GET", "POST"]  # the example page's list of models, and ours
    assert all(r.response().from_service_worker for r in in_browser)  # answered in the browser, not by the network
    caller.close()
    # Offline: the service worker serves the app; the chat goes on with the canary in it.
    page.evaluate("async () => { await navigator.serviceWorker.ready; }")
    seen_online = list(live_server.seen)
    live_server.close()
    page.context.set_offline(True)
    page.reload()
    assert wait_settled(page) == "ready" and page.is_visible("#offline-badge")
    ask(page, f"Offline now. The code word was {canary}.", max_tokens=8)
    violations += page.evaluate("() => window.__csp")
    assert live_server.seen == seen_online  # nothing reached the stopped host

    # The canary really was in the conversation, so its absence below means something.
    assert canary in page.locator(".msg.user").first.inner_text()

    assert foreign == []
    assert {origin_of(url) for url, *_ in requests} == {live_server.url}
    assert violations == [] and console_csp == []
    for url, headers, body, r in requests:
        if r in in_browser:
            continue  # the SDK's request carries the canary, to the service worker of this tab's origin
        assert canary not in url
        assert all(canary not in k and canary not in v for k, v in headers.items())
        assert canary.encode() not in body
    assert live_server.seen, "the recording host saw no requests"
    assert not [path for _, path, *_ in live_server.seen if path.startswith("/v1") or path.startswith("/api/remote/")]
    assert canary not in llama_server.log_text()
    for method, path, query, headers, body in live_server.seen:
        assert method in ("GET", "HEAD")
        assert canary not in path and canary not in query
        assert all(canary not in v for v in headers.values())
        assert body == b""
