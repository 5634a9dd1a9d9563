"""The app at its key states, as a person sees it: each state checked, and kept as a screenshot in
test-results/screenshots/ (a test artifact, not in git) for a person to look at."""
from pathlib import Path

import pytest

from .app_driver import open_app, set_generation, wait_settled

SHOTS = Path(__file__).resolve().parents[2] / "test-results" / "screenshots"
NO_OVERFLOW = "() => document.documentElement.scrollWidth <= window.innerWidth"
# The page's background, as a 0-255 luminance.
BACKGROUND = """() => {
  const [r, g, b] = getComputedStyle(document.body).backgroundColor.match(/\\d+/g).map(Number);
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}"""


def shot(page, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / f"{name}.png", full_page=True)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_empty_loading_answering_and_answered(browser, live_server, scheme):
    context = browser.new_context(color_scheme=scheme, viewport={"width": 1200, "height": 800})
    page = context.new_page()
    held, released = [], []
    page.route("**/models/*/*.gguf", lambda route: route.continue_() if released else held.append(route))
    page.goto(live_server.url)
    page.wait_for_function("() => document.body.dataset.engine === 'loading'")
    assert page.is_visible("#loader")
    shot(page, f"loading-{scheme}")
    released.append(True)
    for route in held:
        route.continue_()
    assert wait_settled(page) == "ready"
    assert page.locator(".msg").count() == 0 and page.inner_text("#conversation-list") == "No saved conversations yet."
    shot(page, f"empty-{scheme}")
    luminance = page.evaluate(BACKGROUND)
    assert luminance < 60 if scheme == "dark" else luminance > 200

    set_generation(page, max_tokens=200)
    page.fill("#prompt", "Tell me a story about a lighthouse.")
    page.click("#send")
    page.locator(".msg.assistant[data-state=streaming] .body p").first.wait_for()
    assert page.is_visible("#stop")
    shot(page, f"answering-{scheme}")
    page.keyboard.press("Escape")  # Esc stops the answer
    stopped = page.locator(".msg.assistant[data-state=done]")
    stopped.wait_for()
    assert stopped.get_attribute("data-finish-reason") == "abort"
    shot(page, f"answered-{scheme}")
    context.close()


def test_narrow(browser, live_server):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    assert open_app(page, live_server.url) == "ready"
    set_generation(page, max_tokens=24)
    page.click("details.settings summary")  # close it again
    page.fill("#prompt", "What is the capital of France?")
    page.click("#send")
    page.locator(".msg.assistant[data-state=done]").wait_for()
    assert page.evaluate(NO_OVERFLOW), "the page scrolls sideways on a phone"
    assert page.locator("#composer").bounding_box()["width"] <= 390
    shot(page, "narrow")
    context.close()


def test_error_and_offline(page, corrupt_server, context, host):
    assert open_app(page, corrupt_server.url) == "error"
    assert page.is_visible(".banner.error")
    shot(page, "error")

    server = host()
    offline = context.new_page()
    assert open_app(offline, server.url) == "ready"
    offline.evaluate("async () => { await navigator.serviceWorker.ready; }")
    server.close()
    context.set_offline(True)
    offline.reload()
    assert wait_settled(offline) == "ready"
    assert offline.is_visible("#offline-badge")
    shot(offline, "offline")
