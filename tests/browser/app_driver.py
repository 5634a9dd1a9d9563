"""Drive the chat page as a person would, without string eval (the page's CSP forbids it)."""
import base64
from urllib.parse import urlsplit

import numpy as np

SETTLED = "body[data-engine=ready], body[data-engine=error], body[data-engine=no-models]"


def open_app(page, url):
    page.goto(url)
    return wait_settled(page)


def wait_settled(page):
    page.wait_for_selector(SETTLED, state="attached")
    return page.get_attribute("body", "data-engine")


def set_generation(page, *, max_tokens, temperature=0):
    if page.get_attribute("details.settings", "open") is None:
        page.click("details.settings summary")
    page.fill("#max-tokens", str(max_tokens))
    page.dispatch_event("#max-tokens", "change")
    page.fill("#temperature", str(temperature))
    page.dispatch_event("#temperature", "change")


def ask(page, text, *, max_tokens=24, temperature=0):
    set_generation(page, max_tokens=max_tokens, temperature=temperature)
    n_done = page.locator(".msg.assistant[data-state=done]").count()
    page.fill("#prompt", text)
    page.click("#send")
    answer = page.locator(".msg.assistant[data-state=done]").nth(n_done)
    answer.wait_for()
    return answer


CSP_TRAP = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`);
});
"""


# Two engines of the default model in one page, as window properties: [[name, backend], [name, backend]];
# returns each engine's info.
TWO_ENGINES = """async (pairs) => {
  const { createEngine } = await import('/webgpu/engine.js');
  for (const [name, backend] of pairs) window[name] = await createEngine({ model: 'smollm2-135m', backend });
  return pairs.map(([name]) => window[name].info);
}"""


def evaluate(page, engine, tokens, rows=()):
    """An engine's arg-max at every position of tokens and its logits rows `rows` (float32 array)."""
    got = page.evaluate(EVALUATE, [engine, list(tokens), list(rows)])
    logits = np.stack([np.frombuffer(base64.b64decode(b), dtype=np.float32) for b in got["logits"]]) if rows else None
    return got["argmax"], logits


# An engine's logits from the page (engine = the window property holding it): arg-max at every
# position and full rows for `rows`, float32 rows as base64.
EVALUATE = """async ([engine, tokens, rows]) => {
  const r = await window[engine].backend.evaluate(tokens, rows);
  const b64 = (f) => {
    const u8 = new Uint8Array(f.buffer, f.byteOffset, f.byteLength);
    let s = '';
    for (let i = 0; i < u8.length; i += 0x8000) s += String.fromCharCode(...u8.subarray(i, i + 0x8000));
    return btoa(s);
  };
  return { argmax: Array.from(r.argmax), logits: r.logits.map(b64) };
}"""


def origin_of(url):
    if url.startswith("blob:"):
        url = url[len("blob:"):]
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def record_requests(context, origin):
    """Every request of the context, as (url, headers, body, request); any to another origin is aborted
    and listed in `foreign`. Returns (requests, foreign), filled as the page runs."""
    requests, foreign = [], []

    def guard(route):
        if origin_of(route.request.url) == origin:
            route.continue_()
        else:
            foreign.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    context.on("request", lambda r: requests.append((r.url, r.all_headers(), r.post_data_buffer or b"", r)))
    return requests, foreign


# llama.cpp's greedy continuation of a prompt text, as token ids (ignore_eos: always n tokens).
LLAMA_GREEDY = """async ([text, n]) => {
  const r = await window.ref.backend.wllama.createCompletion({
    prompt: text, max_tokens: n, temperature: 0, ignore_eos: true, logprobs: 1, cache_prompt: false });
  return { ids: r.choices[0].logprobs.content.map((c) => c.id), prompt_tokens: r.usage.prompt_tokens };
}"""


def forced_decoding(page, reference_forward, questions, n):
    """Top-1 agreement along llama.cpp's greedy continuations (window.ref, wllama) of each question's
    chat prompt: our engine (window.ours), the exact model (reference_forward(tokens) -> logits) and
    llama.cpp, pairwise. Returns (counts, positions)."""
    counts = {"ours~llama": 0, "reference~llama": 0, "ours~reference": 0}
    total = 0
    for question in questions:
        prompt = page.evaluate("(q) => window.ours.backend.prompt([{ role: 'user', content: q }])", question)
        greedy = page.evaluate(LLAMA_GREEDY, [prompt["text"], n])
        assert greedy["prompt_tokens"] == len(prompt["tokens"]), "llama.cpp tokenized the prompt differently"
        ids = np.array(greedy["ids"])
        assert len(ids) == n
        sequence = prompt["tokens"] + greedy["ids"]
        p = len(prompt["tokens"])
        # Top-1 after each prefix, against the token llama.cpp chose there.
        ours = np.array(evaluate(page, "ours", sequence)[0][p - 1:p - 1 + n])
        exact = reference_forward(sequence).argmax(axis=1)[p - 1:p - 1 + n]
        counts["ours~llama"] += int((ours == ids).sum())
        counts["reference~llama"] += int((exact == ids).sum())
        counts["ours~reference"] += int((ours == exact).sum())
        total += n
    return counts, total
