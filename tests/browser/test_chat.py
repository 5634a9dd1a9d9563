"""(a) Chat in the page with the real default model."""
from .app_driver import ask, open_app, set_generation

COUNT_CHUNKS = """async () => {
  const stream = await window.inpage.engine.chat.completions.create({
    messages: [{ role: 'user', content: 'Write a short story about a cat who learns to sail.' }],
    stream: true, max_tokens: 32, temperature: 0, seed: 1,
  });
  let content_chunks = 0;
  let last = null;
  for await (const chunk of stream) {
    if (chunk.choices[0].delta.content) content_chunks++;
    last = chunk;
  }
  return { content_chunks, last };
}"""


def test_tokens_stream_then_a_usage_chunk_closes_the_reply(page, live_server):
    assert open_app(page, live_server.url) == "ready"
    result = page.evaluate(COUNT_CHUNKS)
    # Our engine sends the page a chunk at most every 20 ms, so a chunk may carry several tokens:
    # the tokens are counted by the usage, the streaming by the chunks.
    assert result["content_chunks"] >= 4
    last = result["last"]
    assert last["object"] == "chat.completion.chunk"
    assert last["choices"][0]["finish_reason"] == "length"
    usage = last["usage"]
    assert usage["completion_tokens"] == 32 >= 16
    assert usage["prompt_tokens"] > 10
    extra = usage["extra"]
    assert 0 <= extra["cached_prompt_tokens"] < usage["prompt_tokens"]
    assert extra["decode_tokens_per_s"] > 0
    assert extra["prefill_tokens_per_s"] > 0
    assert 0 < extra["time_to_first_token_s"] < 60


def test_the_page_answers_and_shows_its_speed(page, live_server):
    assert open_app(page, live_server.url) == "ready"
    badge = page.inner_text("#backend-badge")
    assert badge.startswith("wasm") and "thread" in badge  # auto picks our engine for this model
    assert "our WASM engine runs llama" in page.get_attribute("#backend-badge", "title")
    assert page.evaluate("() => crossOriginIsolated") is True
    answer = ask(page, "What is the capital of France?", max_tokens=24)
    assert int(answer.get_attribute("data-completion-tokens")) >= 1
    assert float(answer.get_attribute("data-decode-tps")) > 0
    assert "tok/s" in answer.locator(".stats").inner_text()
    assert answer.locator(".body").inner_text().strip()


def test_stop_keeps_the_partial_answer_and_chat_goes_on(page, live_server):
    assert open_app(page, live_server.url) == "ready"
    set_generation(page, max_tokens=400)
    page.fill("#prompt", "Tell me a long story about the sea.")
    page.click("#send")
    body = page.locator(".msg.assistant[data-state=streaming] .body")
    body.wait_for()
    page.locator(".msg.assistant[data-state=streaming] .body p").first.wait_for()
    page.click("#stop")
    stopped = page.locator(".msg.assistant[data-state=done]").first
    stopped.wait_for()
    assert stopped.get_attribute("data-finish-reason") == "abort"
    assert int(stopped.get_attribute("data-completion-tokens")) < 400
    assert stopped.locator(".body").inner_text().strip()
    again = ask(page, "Say hello.", max_tokens=8)
    assert again.get_attribute("data-finish-reason") in ("stop", "length")


def test_the_conversation_survives_a_reload_and_new_chat_clears_it(page, live_server):
    assert open_app(page, live_server.url) == "ready"
    ask(page, "Name a colour.", max_tokens=8)
    page.reload()
    assert page.locator(".msg.user").inner_text() == "Name a colour."
    assert page.locator(".msg.assistant").count() == 1
    page.click("#new-chat")
    assert page.locator(".msg").count() == 0
    page.reload()
    assert page.locator(".msg").count() == 0


def test_model_html_is_shown_as_text_never_parsed(page, live_server):
    page.goto(live_server.url)
    hostile = ('<img src=x onerror="window.__pwned=1"> **bold** <script>window.__pwned=2</script>\n'
               '```\n<b>code</b>\n```')
    page.evaluate("(chat) => localStorage.setItem('inpage.chat.v1', JSON.stringify(chat))", [
        {"role": "user", "content": "<i>hi</i>"},
        {"role": "assistant", "content": hostile},
    ])
    page.reload()
    answer = page.locator(".msg.assistant .body")
    answer.wait_for()
    assert page.locator(".msg img, .msg script, .msg b, .msg i").count() == 0
    assert "<img src=x" in answer.inner_text()
    assert answer.locator("strong").inner_text() == "bold"
    assert answer.locator("pre code").inner_text() == "<b>code</b>"
    assert page.locator(".msg.user").inner_text() == "<i>hi</i>"
    assert page.evaluate("() => window.__pwned") is None


def test_an_empty_host_says_how_to_install_a_model(page, empty_server):
    assert open_app(page, empty_server.url) == "no-models"
    assert "inpage models pull smollm2-135m" in page.inner_text("#banners")


OVERFLOW = """async () => {
  const { createEngine } = await import('/webgpu/engine.js');
  const e = await createEngine({ model: 'smollm2-135m', backend: 'wasm', contextLength: 64 });
  let error = null;
  try {
    await e.chat.completions.create({ messages: [{ role: 'user', content: 'word '.repeat(200) }], max_tokens: 8 });
  } catch (err) {
    error = err.message;
  }
  const r = await e.chat.completions.create({
    messages: [{ role: 'user', content: 'Write a long story about a dragon.' }], max_tokens: 500, temperature: 0 });
  await e.unload();
  return { error, finish: r.choices[0].finish_reason, used: r.usage.prompt_tokens + r.usage.completion_tokens };
}"""


def test_a_conversation_longer_than_the_context_is_refused_and_replies_stop_at_its_end(page, live_server):
    page.goto(f"{live_server.url}/bench")
    r = page.evaluate(OVERFLOW)
    assert "more than this model's 64-token context. Start a new chat." in r["error"]
    assert r["finish"] == "length"
    assert 32 < r["used"] <= 64 + 1  # the last token is emitted, never stored in the 64-slot cache
