"""(b) Privacy over a full journey: load, chat, reload, chat again."""
import secrets
from urllib.parse import urlsplit

from .app_driver import CSP_TRAP, ask, open_app, wait_settled


def origin_of(url):
    if url.startswith("blob:"):
        url = url[len("blob:"):]
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def test_nothing_leaves_the_origin_and_the_prompt_never_reaches_the_host(page, live_server):
    canary = f"canary{secrets.token_hex(8)}"
    context = page.context
    requests, foreign, console_csp = [], [], []

    def guard(route):
        if origin_of(route.request.url) == live_server.url:
            route.continue_()
        else:
            foreign.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    context.on("request", lambda r: requests.append(
        (r.url, r.all_headers(), r.post_data_buffer or b"")))
    page.on("console", lambda m: "Content Security Policy" in m.text and console_csp.append(m.text))
    page.add_init_script(CSP_TRAP)
    live_server.seen.clear()

    assert open_app(page, live_server.url) == "ready"
    ask(page, f"Remember this code word: {canary}. What is it?", max_tokens=16)
    violations = page.evaluate("() => window.__csp")
    page.reload()
    assert wait_settled(page) == "ready"
    ask(page, f"Say the code word {canary} again.", max_tokens=16)
    violations += page.evaluate("() => window.__csp")

    # The canary really was in the conversation, so its absence below means something.
    assert canary in page.locator(".msg.user").first.inner_text()

    assert foreign == []
    assert {origin_of(url) for url, _, _ in requests} == {live_server.url}
    assert violations == [] and console_csp == []
    for url, headers, body in requests:
        assert canary not in url
        assert all(canary not in k and canary not in v for k, v in headers.items())
        assert canary.encode() not in body
    assert live_server.seen, "the recording host saw no requests"
    for method, path, query, headers, body in live_server.seen:
        assert method in ("GET", "HEAD")
        assert canary not in path and canary not in query
        assert all(canary not in v for v in headers.values())
        assert body == b""
