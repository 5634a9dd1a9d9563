"""The router in the chat page: each answer says which tier and model answered and why; a tier can
be pinned per conversation; the remote tier (llama.cpp's real server behind the host's proxy) gets
exactly the conversations that allowed it, only after the user saw its endpoint, and no longer once
revoked; documents go remote only if the user included them."""
import json
import secrets

import pytest

from models.pull import DEFAULT_MODEL
from models.shards import join_gguf
from models.store import Store
from server.remote import Remote

from .app_driver import CSP_TRAP, ask, open_app, record_requests
from .test_library import add_files

REMOTE = "gpu-box"
STEPS = "Plan my week step by step:\n1. first list the errands\n2. then order them\n3. finally add times"


@pytest.fixture
def remote_host(host, llama_server):
    """A host whose remote tier is llama.cpp's server, with the server's key (as from the environment)."""
    return host(REMOTES=[Remote(REMOTE, llama_server.url, key=llama_server.key)])


def proxied(server):
    """The chat requests the host forwarded to the remote tier: their JSON bodies."""
    return [json.loads(body) for method, path, _, _, body in server.seen
            if method == "POST" and path == f"/api/remote/{REMOTE}/chat/completions"]


def pin(page, tier):
    page.select_option("#tier-pin", tier)


def route_of(answer):
    line = answer.locator(".route")
    return line.get_attribute("data-tier"), line.inner_text()


def test_the_remote_tier_gets_only_the_conversation_that_allowed_it(page, remote_host, llama_server):
    kept, sent, after = (f"canary{secrets.token_hex(6)}" for _ in range(3))
    requests, foreign = record_requests(page.context, remote_host.url)
    page.add_init_script(CSP_TRAP)
    assert open_app(page, remote_host.url) == "ready"
    assert page.is_visible("#remote-box") and "not allowed in this chat" in page.inner_text("#remote-status")

    # A chat pinned to remote, without consent: the answer is local, and says why.
    pin(page, "remote")
    tier, text = route_of(ask(page, f"Keep this here: {kept}", max_tokens=8))
    assert tier == "fast" and "has not allowed the remote tier, so fast answered here" in text
    assert proxied(remote_host) == []

    # Another chat allows it, after the consent panel named the endpoint.
    page.click("#new-chat")
    pin(page, "remote")
    page.click("#remote-allow")
    consent = page.inner_text("#remote-consent-text")
    assert llama_server.url in consent and REMOTE in consent
    page.click("#remote-consent-yes")
    assert llama_server.url in page.inner_text("#remote-status")
    assert llama_server.url in page.get_attribute("#prompt", "placeholder")
    answer = ask(page, f"Send this one: {sent}", max_tokens=8)
    tier, text = route_of(answer)
    assert tier == "remote" and "pinned to remote in this conversation" in text
    assert answer.inner_text().strip()
    assert float(answer.get_attribute("data-decode-tps")) > 0  # llama-server's own speed, in the stats line
    bodies = proxied(remote_host)
    assert len(bodies) == 1
    assert [m["content"] for m in bodies[0]["messages"]] == [f"Send this one: {sent}"]
    # On the server's side: what llama-server logged receiving.
    log = llama_server.log_text()
    assert sent in log and kept not in log

    # Back in the first chat: still not allowed, still local.
    page.locator("#conversation-list li", has_text=kept).locator("button.open").click()
    page.wait_for_function("(k) => document.querySelector('.msg.user')?.textContent.includes(k)", arg=kept)
    assert "not allowed in this chat" in page.inner_text("#remote-status")
    tier, _ = route_of(ask(page, f"And again {kept}", max_tokens=8))
    assert tier == "fast"
    assert len(proxied(remote_host)) == 1

    # Revoked in the second chat: it answers locally from then on.
    page.locator("#conversation-list li", has_text=sent).locator("button.open").click()
    page.wait_for_function("(k) => document.querySelector('.msg.user')?.textContent.includes(k)", arg=sent)
    page.click("#remote-revoke")
    assert "not allowed in this chat" in page.inner_text("#remote-status")
    tier, _ = route_of(ask(page, f"After revoking: {after}", max_tokens=8))
    assert tier == "fast"
    assert len(proxied(remote_host)) == 1
    assert after not in llama_server.log_text() and kept not in llama_server.log_text()

    # The page itself only ever spoke to its own origin, and never saw the server's key.
    assert foreign == []
    assert page.evaluate("() => window.__csp") == []
    assert all(llama_server.key.encode() not in r.response().body() for url, _, _, r in requests
               if "/api/remote" in url and r.method == "GET")


def test_asked_first_the_message_waits_and_can_be_answered_here(page, remote_host):
    assert open_app(page, remote_host.url) == "ready"
    page.click("details.settings summary")
    page.select_option("#without-consent", "ask")
    pin(page, "remote")
    page.fill("#prompt", "Where should this go?")
    page.click("#send")
    page.locator("#remote-consent").wait_for()
    assert "This message is waiting: pinned to remote" in page.inner_text("#remote-consent-text")
    page.click("#remote-consent-local")
    answer = page.locator(".msg.assistant[data-state=done]").first
    answer.wait_for()
    assert route_of(answer)[0] == "fast"
    assert proxied(remote_host) == []


def test_documents_go_remote_only_when_the_user_included_them(page, remote_host, minilm, tmp_path):
    canary = f"canary{secrets.token_hex(6)}"
    page.set_default_timeout(300_000)
    assert open_app(page, remote_host.url) == "ready"
    add_files(page, tmp_path, {"vault.md": f"# Vault\n\nThe vault code is {canary}. Keep it secret.\n"})
    page.wait_for_function("() => document.querySelectorAll('#library-docs li').length === 1")
    page.check("#use-library")
    pin(page, "remote")
    page.click("#remote-allow")
    page.click("#remote-consent-yes")  # documents left unticked
    answer = ask(page, "What is the vault code?", max_tokens=8)
    assert "Your documents were not sent" in route_of(answer)[1]
    assert answer.locator("details.sources").count() == 0
    assert canary not in json.dumps(proxied(remote_host))
    # Consent again, with documents included: the passages go along.
    page.click("#remote-revoke")
    page.click("#remote-allow")
    page.check("#remote-consent-docs")
    page.click("#remote-consent-yes")
    assert "with your documents" in page.inner_text("#remote-status")
    answer = ask(page, "What is the vault code?", max_tokens=8)
    assert answer.locator("details.sources").count() == 1
    bodies = proxied(remote_host)
    assert len(bodies) == 2 and canary in bodies[1]["messages"][0]["content"]


def test_the_capable_tier_takes_complex_messages_and_auto_routes_the_api(page, live_server, model_home, tmp_path):
    """Capable: the same model at 8 bits. No remote tier on this host: the route bar has none."""
    store = Store(model_home)
    capable = "smollm2-gguf-q8-0"  # the id test_requantized gives the same import
    if not store.has(capable):
        m = store.manifest(DEFAULT_MODEL)
        joined = join_gguf([store.model_dir(DEFAULT_MODEL) / s["file"] for s in m["shards"]], tmp_path / "m.gguf")
        store.import_path(joined, capable, quant="Q8_0")
    page.set_default_timeout(300_000)
    assert open_app(page, live_server.url) == "ready"
    assert page.is_hidden("#remote-box")
    page.select_option("#model-picker", DEFAULT_MODEL)
    page.wait_for_selector("body[data-engine=ready]")
    page.click("details.settings summary")
    page.select_option("#capable-model", capable)
    tier, text = route_of(ask(page, "Hello!", max_tokens=4))
    assert tier == "fast" and DEFAULT_MODEL in text and "complexity 0" in text
    tier, text = route_of(ask(page, STEPS, max_tokens=4))
    assert tier == "capable" and capable in text and "complexity 2 (several steps)" in text
    # Pinned to fast, the same message stays on the fast model.
    pin(page, "fast")
    tier, text = route_of(ask(page, STEPS, max_tokens=4))
    assert tier == "fast" and "pinned to fast" in text
    # Reloaded, the chat keeps its pin and every answer its route.
    page.reload()
    page.wait_for_selector("body[data-engine=ready]")
    assert page.input_value("#tier-pin") == "fast"
    assert [r.get_attribute("data-tier") for r in page.locator(".msg.assistant .route").all()] == ["fast", "capable", "fast"]

    # The OpenAI-compatible endpoint's model "auto" goes through the same router (local tiers only).
    caller = page.context.new_page()
    caller.goto(f"{live_server.url}/examples/openai")
    got = caller.evaluate("""async (steps) => {
      const { default: OpenAI } = await import('/vendor/openai/index.mjs');
      const client = new OpenAI({ baseURL: location.origin + '/v1', apiKey: 'inpage', dangerouslyAllowBrowser: true, maxRetries: 0 });
      const ids = (await client.models.list()).data.map((m) => m.id);
      const simple = await client.chat.completions.create({ model: 'auto', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 2 });
      const complex = await client.chat.completions.create({ model: 'auto', messages: [{ role: 'user', content: steps }], max_tokens: 2 });
      return { ids, models: [simple.model, complex.model] };
    }""", STEPS)
    assert "auto" in got["ids"]
    assert got["models"] == [DEFAULT_MODEL, capable]
    routes = [e["route"] for e in page.evaluate("() => window.inpage.api.log") if e["model"] == "auto"]
    assert [r["tier"] for r in routes[-2:]] == ["fast", "capable"]
    caller.close()
