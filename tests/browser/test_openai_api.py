"""The page's OpenAI-compatible endpoint: the official `openai` SDK, loaded from this origin, against
/v1/ as the service worker answers it with an open tab's engine; errors, abort, a tab closed
mid-answer, a restarted worker, two tabs, a burst of requests; structured output and tool calls;
the example page. The host never sees a /v1/ request."""
import json
import re

import jsonschema
import pytest

from .app_driver import open_app

SDK = """
const { default: OpenAI } = await import('/vendor/openai/index.mjs');
const client = new OpenAI({ baseURL: location.origin + '/v1', apiKey: 'inpage', dangerouslyAllowBrowser: true, maxRetries: 0 });
const failure = (e) => ({ status: e.status ?? null, code: e.code ?? e.error?.code ?? null, message: e.message });
"""
PERSON = {"type": "object", "properties": {"name": {"type": "string", "maxLength": 40}, "age": {"type": "integer", "minimum": 0, "maximum": 130},
                                           "city": {"type": "string", "maxLength": 40}},
          "required": ["name", "age", "city"], "additionalProperties": False}
WEATHER = [{"type": "function", "function": {"name": "get_weather", "description": "The weather now in a city",
                                             "parameters": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 30},
                                                                                             "unit": {"enum": ["celsius", "fahrenheit"]}},
                                                            "required": ["city", "unit"]}}}]
CONTROLLED = "async () => { await navigator.serviceWorker.ready; return Boolean(navigator.serviceWorker.controller); }"


def sdk(page, body, arg=None):
    """Runs `body` (JavaScript with `client` and `failure` in scope, `arg` as given) in page."""
    return page.evaluate(f"async (arg) => {{ {SDK}\n{body} }}", arg)


@pytest.fixture
def pages(context, live_server):
    """The app in one tab (its engine answers) and the example page in another (the caller)."""
    app = context.new_page()
    assert open_app(app, live_server.url) == "ready"
    assert app.evaluate(CONTROLLED)
    caller = context.new_page()
    caller.goto(f"{live_server.url}/examples/openai")
    assert caller.evaluate(CONTROLLED)
    return app, caller


def served(app):
    return app.evaluate("() => window.inpage.api.log")


def host_saw_v1(server):
    return [path for _, path, *_ in server.seen if path.startswith("/v1")]


def test_the_official_sdk_works_unchanged(pages, live_server):
    app, caller = pages
    out = sdk(caller, """
      const out = {};
      out.models = (await client.models.list()).data.map((m) => m.id);
      const r = await client.chat.completions.create({ model: 'smollm2-135m', messages: [{ role: 'user', content: 'Name a colour.' }], max_tokens: 8, temperature: 0 });
      out.plain = r;
      const stream = await client.chat.completions.create({ messages: [{ role: 'user', content: 'Name a colour.' }], max_tokens: 8, temperature: 0,
        stream: true, stream_options: { include_usage: true } });
      out.chunks = [];
      for await (const c of stream) out.chunks.push(c);
      // Abort: the SDK's controller, mid-stream; then a request that must find the engine free.
      const long = await client.chat.completions.create({ messages: [{ role: 'user', content: 'Tell a long story.' }], max_tokens: 400, stream: true, user: 'aborted-stream' });
      let n = 0;
      for await (const c of long) if (++n === 3) long.controller.abort();
      const ctrl = new AbortController();
      const pending = client.chat.completions.create({ messages: [{ role: 'user', content: 'Tell a long story.' }], max_tokens: 400, user: 'aborted-whole' }, { signal: ctrl.signal });
      setTimeout(() => ctrl.abort(), 1500);
      out.aborted = await pending.then(() => 'answered', (e) => e.constructor.name);
      out.after = (await client.chat.completions.create({ messages: [{ role: 'user', content: 'Hi' }], max_tokens: 2, user: 'after' })).choices[0].finish_reason;
      return out;
    """)
    assert "smollm2-135m" in out["models"]
    plain = out["plain"]
    assert plain["object"] == "chat.completion" and plain["model"] == "smollm2-135m"
    assert plain["choices"][0]["message"]["role"] == "assistant" and plain["choices"][0]["message"]["content"]
    assert plain["choices"][0]["finish_reason"] in ("stop", "length")
    assert plain["usage"]["completion_tokens"] <= 8 and plain["usage"]["total_tokens"] == plain["usage"]["prompt_tokens"] + plain["usage"]["completion_tokens"]
    chunks = out["chunks"]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == plain["choices"][0]["message"]["content"]  # temperature 0: the same answer, streamed
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == plain["usage"]["completion_tokens"]
    assert all("usage" not in c for c in chunks[:-1])
    assert out["aborted"] == "APIUserAbortError" and out["after"] in ("stop", "length")
    log = {e["user"]: e for e in served(app)}
    # Generation stopped in the tab, long before its 400 tokens.
    assert log["aborted-stream"]["finish_reason"] == "abort" and log["aborted-stream"]["completion_tokens"] < 100
    assert log["aborted-whole"]["finish_reason"] == "abort" and log["aborted-whole"]["completion_tokens"] < 200
    assert host_saw_v1(live_server) == []


def test_errors_take_openai_shape_and_status(pages, live_server, minilm):
    app, caller = pages
    out = sdk(caller, """
      const out = {};
      const tryIt = async (name, body) => { try { await client.chat.completions.create(body); out[name] = 'answered'; } catch (e) { out[name] = failure(e); } };
      await tryIt('unknown_model', { model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] });
      await tryIt('no_messages', { messages: [] });
      await tryIt('bad_temperature', { messages: [{ role: 'user', content: 'x' }], temperature: 9 });
      await tryIt('unsupported_schema', { messages: [{ role: 'user', content: 'x' }],
        response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'array', items: { type: 'integer' }, uniqueItems: true } } } });
      await tryIt('overflow', { messages: [{ role: 'user', content: 'hello '.repeat(5000) }], max_tokens: 4 });
      await tryIt('overflow_stream', { messages: [{ role: 'user', content: 'hello '.repeat(5000) }], max_tokens: 4, stream: true });
      await tryIt('embedding_model_for_chat', { model: 'minilm-l6', messages: [{ role: 'user', content: 'x' }] });
      const raw = await fetch('/v1/chat/completions', { method: 'POST', body: '<html>not json' });
      out.not_json = [raw.status, await raw.json()];
      const get = await fetch('/v1/chat/completions');
      out.wrong_method = get.status;
      const emb = await client.embeddings.create({ input: ['a cat', 'a kitten', 'tax law'] });
      out.embeddings = emb.data.map((d) => d.embedding.length);
      const [a, b, c] = emb.data.map((d) => d.embedding);
      const dot = (x, y) => x.reduce((s, v, i) => s + v * y[i], 0);
      out.similar = dot(a, b) > dot(a, c);
      return out;
    """)
    assert out["unknown_model"]["status"] == 404 and out["unknown_model"]["code"] == "model_not_found"
    assert "GET /v1/models" in out["unknown_model"]["message"]
    assert out["no_messages"]["status"] == 400 and "messages" in out["no_messages"]["message"]
    assert out["bad_temperature"]["status"] == 400 and "temperature" in out["bad_temperature"]["message"]
    assert out["unsupported_schema"]["status"] == 400 and out["unsupported_schema"]["code"] == "unsupported_schema"
    assert "uniqueItems" in out["unsupported_schema"]["message"]
    for key in ("overflow", "overflow_stream"):
        assert out[key]["status"] == 400 and out[key]["code"] == "context_length_exceeded", out[key]
        assert re.search(r"\d{4,} tokens, more than this model's \d+-token context", out[key]["message"])
    assert out["embedding_model_for_chat"]["status"] == 400
    assert out["not_json"][0] == 400 and "not JSON" in out["not_json"][1]["error"]["message"]
    assert out["wrong_method"] == 405
    assert out["embeddings"] == [384, 384, 384] and out["similar"]
    assert host_saw_v1(live_server) == []


def test_with_no_app_tab_open_it_says_to_open_one(context, live_server):
    app = context.new_page()
    assert open_app(app, live_server.url) == "ready"
    caller = context.new_page()
    caller.goto(f"{live_server.url}/examples/openai")
    assert caller.evaluate(CONTROLLED)
    app.close()
    out = sdk(caller, """
      const models = (await client.models.list()).data.map((m) => m.id);
      try { await client.chat.completions.create({ messages: [{ role: 'user', content: 'x' }] }); return { models }; }
      catch (e) { return { models, error: failure(e) }; }
    """)
    assert "smollm2-135m" in out["models"]  # the worker lists models itself
    assert out["error"]["status"] == 503 and out["error"]["code"] == "no_engine_tab"
    assert "open the app" in out["error"]["message"]


def test_a_tab_closed_mid_answer_ends_the_stream_with_an_error(pages):
    app, caller = pages
    sdk(caller, """
      let first;
      const started = new Promise((resolve) => { first = resolve; });
      window.__run = (async () => {
        let n = 0;
        try {
          const stream = await client.chat.completions.create({ messages: [{ role: 'user', content: 'Tell a long story.' }], max_tokens: 400, stream: true });
          for await (const c of stream) if (++n === 2) first();
          return { n, ended: 'normally' };
        } catch (e) { first(); return { n, error: failure(e) }; }
      })();
      await started;
    """)
    app.close()
    out = caller.evaluate("() => window.__run")
    assert "error" in out, out
    assert "tab that was answering closed" in out["error"]["message"]
    assert 2 <= out["n"] < 400


def test_a_restarted_service_worker_answers_the_next_request(pages, context):
    app, caller = pages
    assert sdk(caller, "return (await client.chat.completions.create({ messages: [{ role: 'user', content: 'Hi' }], max_tokens: 2 })).object") == "chat.completion"
    cdp = context.new_cdp_session(caller)
    cdp.send("ServiceWorker.enable")
    cdp.send("ServiceWorker.stopAllWorkers")
    out = sdk(caller, "return (await client.chat.completions.create({ messages: [{ role: 'user', content: 'Hi' }], max_tokens: 2 })).object")
    assert out == "chat.completion"
    assert len(served(app)) == 2


def test_two_tabs_one_answers_and_a_burst_is_answered_in_order(pages, context, live_server):
    app, caller = pages
    second = context.new_page()
    assert open_app(second, live_server.url) == "ready"
    out = sdk(caller, """
      const ids = Array.from({ length: 6 }, (_, i) => `burst-${i}`);
      const answers = await Promise.all(ids.map((user, i) => client.chat.completions.create(
        { messages: [{ role: 'user', content: `Say the number ${i}.` }], max_tokens: 3, temperature: 0, user })));
      return answers.map((a) => a.choices[0].finish_reason);
    """)
    assert len(out) == 6 and all(f in ("stop", "length") for f in out)
    logs = [served(app), served(second)]
    answered = [e["user"] for log in logs for e in log]
    assert sorted(answered) == [f"burst-{i}" for i in range(6)]  # each once: none lost, none twice
    [log] = [log for log in logs if log]  # one tab answered them all, in the order they were sent
    assert [e["user"] for e in log] == [f"burst-{i}" for i in range(6)]


def test_structured_output_and_tool_calls_through_the_sdk(pages):
    app, caller = pages
    out = sdk(caller, """
      const out = {};
      const r = await client.chat.completions.create({ messages: [{ role: 'user', content: 'Alice Smith is 34 and lives in Oslo.' }], temperature: 0, max_tokens: 80,
        response_format: { type: 'json_schema', json_schema: { name: 'person', schema: arg.person, strict: true } } });
      out.person = r.choices[0].message.content;
      const obj = await client.chat.completions.create({ messages: [{ role: 'user', content: 'Describe Oslo.' }], temperature: 0.8, seed: 3, max_tokens: 60,
        response_format: { type: 'json_object' } });
      out.object = [obj.choices[0].message.content, obj.choices[0].finish_reason];
      const messages = [{ role: 'user', content: 'What is the weather in Paris?' }];
      const first = await client.chat.completions.create({ messages, tools: arg.tools, tool_choice: 'required', temperature: 0, max_tokens: 80 });
      out.first = first.choices[0];
      const call = first.choices[0].message.tool_calls[0];
      messages.push(first.choices[0].message, { role: 'tool', tool_call_id: call.id, content: '{"temperature": 18}' });
      const second = await client.chat.completions.create({ messages, tools: arg.tools, temperature: 0, max_tokens: 30 });
      out.second = second.choices[0];
      // Streamed: deltas carry the id and name first, then the arguments in pieces.
      const stream = await client.chat.completions.create({ messages: messages.slice(0, 1), tools: arg.tools,
        tool_choice: { type: 'function', function: { name: 'get_weather' } }, temperature: 0.9, seed: 5, max_tokens: 80, stream: true });
      out.deltas = [];
      for await (const c of stream) out.deltas.push(c.choices[0]);
      return out;
    """, {"person": PERSON, "tools": WEATHER})
    jsonschema.validate(json.loads(out["person"]), PERSON)
    content, finish = out["object"]
    assert finish == "stop" and isinstance(json.loads(content), dict)
    first = out["first"]
    assert first["finish_reason"] == "tool_calls" and first["message"]["content"] is None
    [call] = first["message"]["tool_calls"]
    assert call["type"] == "function" and call["function"]["name"] == "get_weather" and call["id"].startswith("call_")
    jsonschema.validate(json.loads(call["function"]["arguments"]), WEATHER[0]["function"]["parameters"])
    assert out["second"]["finish_reason"] in ("stop", "length", "tool_calls")
    deltas = [d["delta"] for d in out["deltas"]]
    calls = [t for d in deltas for t in d.get("tool_calls", [])]
    assert calls[0]["id"].startswith("call_") and calls[0]["function"]["name"] == "get_weather"
    assert len(calls) > 3  # the arguments come in pieces as they are written
    args = "".join(t["function"].get("arguments", "") for t in calls)
    jsonschema.validate(json.loads(args), WEATHER[0]["function"]["parameters"])
    assert out["deltas"][-1]["finish_reason"] == "tool_calls"


def test_the_example_page_fills_a_form_and_calls_a_tool(pages):
    app, caller = pages
    assert app.get_attribute("#api-link", "href") == "/examples/openai"
    caller.wait_for_function("() => document.getElementById('endpoint-status').textContent.includes('smollm2-135m')")
    caller.click("#fill")
    caller.wait_for_function("() => document.getElementById('fill-json').textContent || !document.getElementById('example-error').hidden")
    assert caller.is_hidden("#example-error"), caller.inner_text("#example-error")
    form = {name: caller.input_value(f"#contact [name={name}]") for name in ("name", "age", "city", "phone")}
    assert form["name"] and form["city"] and form["age"].isdigit()
    assert re.fullmatch(r"\d{3}-\d{3}-\d{4}", form["phone"])
    caller.click("#ask")
    caller.wait_for_function("() => !document.getElementById('ask').disabled")
    assert caller.is_hidden("#example-error"), caller.inner_text("#example-error")
    assert caller.inner_text("#tool-call").startswith("get_weather(")
    assert caller.inner_text("#tool-answer").strip()
    assert app.inner_text("#api-link").startswith("API · ")
