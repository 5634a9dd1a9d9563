"""Our engine on Chromium's WebGPU (SwiftShader here: correct, slow, never a speed figure).

The WebGPU backend runs in the engine's worker like the WASM one. These tests force it by name
(`auto` rightly prefers WASM on a software adapter), check it against models/reference.py and the
WASM backend, and lose the device under a reply to check the fallback.
"""
import numpy as np
import pytest

from models import reference

from .app_driver import TWO_ENGINES, ask, evaluate, open_app

# WASM's greedy continuation: what the WebGPU engine must agree with, position by position.
GREEDY = """async ([q, n]) => {
  const stream = await window.cpu.chat.completions.create({ messages: [{ role: 'user', content: q }], max_tokens: n,
    temperature: 0, stream: false });
  return stream.choices[0].message.content;
}"""

# Questions whose greedy replies run past FORCED_POSITIONS tokens (an early end would shorten the test).
FORCED_PROMPTS = [
    "Write a long story about a lighthouse keeper.",
    "Explain in detail how a hash function works.",
    "Describe the water cycle step by step.",
    "List ten fruits and describe the colour of each.",
]
FORCED_POSITIONS = 32  # per prompt: each position costs about 0.6 s on SwiftShader


@pytest.fixture(scope="module")
def engines(browser, live_server):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(600_000)
    page.goto(f"{live_server.url}/static/css/app.css")  # same origin, no app: the tests drive the engines
    info, cpu = page.evaluate(TWO_ENGINES, [["gpu", "webgpu"], ["cpu", "wasm"]])
    assert info["backend"] == "webgpu" and cpu["backend"] == "wasm"
    assert info["adapter"]["software"] is True, "CI's Chromium should have SwiftShader, not a GPU"
    yield page, info
    context.close()


def test_auto_keeps_a_software_adapter_on_wasm(engines):
    page, info = engines
    choice = page.evaluate("""async () => {
      const { chooseBackend, fetchManifest } = await import('/webgpu/engine.js');
      const { loadShards } = await import('/webgpu/shards.js');
      const manifest = await fetchManifest('smollm2-135m');
      const { blobs } = await loadShards(manifest);
      return chooseBackend('auto', manifest, blobs);
    }""")
    assert choice["name"] == "wasm"
    assert "software" in choice["reason"] and "swiftshader" in choice["reason"]
    assert "asked for by name" in info["reason"]


def test_webgpu_logits_match_the_numpy_reference(engines, reference_model):
    page, _ = engines
    cfg, weights = reference_model
    tokens = page.evaluate("() => window.gpu.backend.prompt([{ role: 'user', content: 'What is the capital of France?' }])")["tokens"][:8]
    argmax, ours = evaluate(page, "gpu", tokens, range(8))
    expected = reference.forward(cfg, weights, tokens)
    rel = np.linalg.norm(ours - expected, axis=1) / np.linalg.norm(expected, axis=1)
    print(f"\nWebGPU (Chromium) logits relative error per position: {np.array2string(rel, precision=6)}")
    assert rel.max() <= 1e-2, f"max relative error {rel.max():.4g}"
    assert list(ours.argmax(axis=1)) == list(expected.argmax(axis=1)) == argmax


def test_forced_decoding_agrees_with_the_wasm_backend(engines):
    """Feed the WASM engine's greedy reply to both backends; compare top-1 after every prefix."""
    page, _ = engines
    agree = total = 0
    for question in FORCED_PROMPTS:
        prompt = page.evaluate("(q) => window.cpu.backend.prompt([{ role: 'user', content: q }])", question)
        reply = page.evaluate(GREEDY, [question, 2 * FORCED_POSITIONS])
        reply_ids = page.evaluate("(t) => window.cpu.backend.tokenize(t)", reply)[:FORCED_POSITIONS]
        assert len(reply_ids) == FORCED_POSITIONS, f"the reply to {question!r} ended early: {reply!r}"
        sequence = prompt["tokens"] + reply_ids
        p = len(prompt["tokens"])
        cpu = np.array(evaluate(page, "cpu", sequence)[0][p - 1:])
        gpu = np.array(evaluate(page, "gpu", sequence)[0][p - 1:])
        agree += int((cpu == gpu).sum())
        total += len(cpu)
    print(f"\nforced decoding top-1 agreement, WebGPU vs WASM: {agree}/{total} = {agree / total:.2%}")
    assert total == len(FORCED_PROMPTS) * (FORCED_POSITIONS + 1)
    assert agree / total >= 0.99


def test_a_lost_gpu_stops_the_reply_keeps_the_chat_and_wasm_takes_over(page, live_server):
    page.set_default_timeout(600_000)
    assert open_app(page, f"{live_server.url}/?backend=webgpu") == "ready"
    assert page.inner_text("#backend-badge").startswith("webgpu")
    first = ask(page, "What is the capital of France?", max_tokens=2)
    assert first.locator(".body").inner_text().strip()

    # Lose the device while the next reply is being written.
    page.fill("#max-tokens", "200")
    page.dispatch_event("#max-tokens", "change")
    page.fill("#prompt", "Write a long story about a lighthouse keeper.")
    page.click("#send")
    page.locator(".msg.assistant").nth(1).locator(".body").filter(has_text="a").wait_for()
    page.evaluate("() => window.inpage.engine.backend.loseDevice()")
    page.locator(".msg.assistant[data-state=error]").wait_for()
    page.wait_for_function("() => document.getElementById('backend-badge').textContent.startsWith('wasm')")
    banners = page.inner_text("#banners")
    assert "GPU stopped working" in banners and "conversation is kept" in banners
    assert "our WASM engine took over" in page.get_attribute("#backend-badge", "title")

    # Everything typed so far is still there, on screen and in storage, and the chat goes on.
    assert page.locator(".msg.user").count() == 2
    [stored] = page.evaluate("() => window.inpage.conversations.db.list()")
    assert [m["role"] for m in stored["messages"]][:3] == ["user", "assistant", "user"]
    third = ask(page, "And of Italy?", max_tokens=4)
    assert third.locator(".body").inner_text().strip()
    assert page.locator(".msg.user").count() == 3
