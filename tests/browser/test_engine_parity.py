"""Our WASM engine against the numpy reference and against llama.cpp (wllama) in the same page."""
import numpy as np
import pytest

from models import reference

from .app_driver import TWO_ENGINES, evaluate, forced_decoding

# Are our ids for text exactly llama.cpp's? Force our ids into llama.cpp's KV cache with a
# token-literal grammar, then send the text: the prefix llama.cpp reuses (cache_n) covers all of
# our ids only if its own tokenization of the text starts with exactly those ids, and prompt_n
# says it has no more. <|im_start|> and <|im_end|> fence the text: special tokens split the input,
# so they do not change how the text between them is tokenized. (The texts hold no end-of-generation
# token: llama.cpp stops at one, so it cannot be forced into the cache.)
# llama.cpp's grammar refuses to force tokens that are partial UTF-8 sequences (pieces of an emoji
# or an accented letter). For such texts the check falls back to counts: for every prefix of the
# text, cut between code points, llama.cpp's token count must equal ours.
LLAMA_SAME_IDS = """async (text) => {
  const w = window.ref.backend.wllama;
  const NEWLINE = 198;
  const ours = await window.ours.backend.tokenize(text);
  const count = async (t) => {
    const r = await w.createCompletion({ prompt: '<|im_start|>' + t + '<|im_end|>', max_tokens: 1, temperature: 0, cache_prompt: true });
    return { cache_n: r.timings.cache_n, count: r.timings.cache_n + r.timings.prompt_n - 2 };
  };
  try {
    // One extra token (newline): llama.cpp never evaluates the last token it samples.
    const forced = await w.createCompletion({
      prompt: '<|im_start|>', max_tokens: ours.length + 1, temperature: 0, logprobs: 1, cache_prompt: true,
      grammar: 'root ::= ' + [...ours, NEWLINE].map((id) => `<[${id}]>`).join(' ') });
    const probe = await count(text);
    return { mode: 'ids', ours, forced: forced.choices[0].logprobs.content.map((c) => c.id),
             cache_n: probe.cache_n, llama_count: probe.count };
  } catch (e) {
    if (!/grammar/.test(e.message)) throw e;
  }
  const chars = Array.from(text);
  const mismatches = [];
  for (let c = 1; c <= chars.length; c++) {
    const prefix = chars.slice(0, c).join('');
    const n_ours = (await window.ours.backend.tokenize(prefix)).length;
    const n_llama = (await count(prefix)).count;
    if (n_ours !== n_llama) mismatches.push([prefix, n_ours, n_llama]);
  }
  return { mode: 'prefix counts', ours, prefixes: chars.length, mismatches };
}"""

TOKENIZER_CORPUS = [
    "Hello world",
    "  leading and trailing spaces  ",
    "Tabs\tand\nnewlines\n\n\nmany",
    "Whitespace runs:     \t\t   \n   end",
    "Numbers: 0 7 42 1234567890 3.14159 -12,345 1e-9",
    "Emoji 😀👍🏽🇫🇷 and a family 👩‍👩‍👧",
    "Ünïcödé: café, naïve, Straße, Ελληνικά, русский, 日本語のテキスト, 한국어, العربية",
    "def f(x):\n    return x**2  # square\n\nconst y = {a: [1, 2]};",
    "Contractions: I'm, you're, it's, they'll, we've, he'd, DON'T",
    "Special tokens: <|im_start|>user\nhi<|im_start|>assistant\n<file_sep>a.py<filename>",
    "Punctuation!!! ??? ... ---- ((( ))) @#$%^&*",
    "URL https://example.com/path?q=1&r=2 and mail a.b@c.de",
]

FORCED_PROMPTS = [
    "What is the capital of France?",
    "Write a short poem about the sea.",
    "Explain what a hash function is, in two sentences.",
    "List three fruits and their colours.",
]


@pytest.fixture(scope="module")
def engines(browser, live_server):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(240_000)
    page.goto(f"{live_server.url}/static/css/app.css")  # same origin, no app: the tests drive the engines
    info, ref = page.evaluate(TWO_ENGINES, [["ours", "wasm"], ["ref", "wllama"]])
    assert info["backend"] == "wasm" and ref["backend"] == "wllama"
    yield page
    context.close()


def test_logits_match_the_numpy_reference(engines, reference_model):
    cfg, weights = reference_model
    prompt = engines.evaluate("() => window.ours.backend.prompt([{ role: 'user', content: 'What is the capital of France?' }])")
    tokens = prompt["tokens"][:8]
    assert len(tokens) == 8
    argmax, ours = evaluate(engines, "ours", tokens, range(8))
    expected = reference.forward(cfg, weights, tokens)
    rel = np.linalg.norm(ours - expected, axis=1) / np.linalg.norm(expected, axis=1)
    print(f"\nlogits relative error per position (ours vs reference.py): {np.array2string(rel, precision=5)}")
    assert rel.max() <= 1e-2, f"max relative error {rel.max():.4g}"
    assert list(ours.argmax(axis=1)) == list(expected.argmax(axis=1)) == argmax


def test_forced_decoding_agrees_with_llama_cpp(engines, reference_model):
    """Feed llama.cpp's greedy tokens and compare top-1 choices after every prefix.

    llama.cpp's own numerics (8-bit activations, f16 KV cache) flip near-ties, so the exact float
    model does not agree with it everywhere either: we require our engine to agree with llama.cpp
    at least as often as the exact model does, and with the exact model almost always.
    """
    cfg, weights = reference_model
    counts, total = forced_decoding(engines, lambda tokens: reference.forward(cfg, weights, tokens), FORCED_PROMPTS, 128)
    rates = {k: v / total for k, v in counts.items()}
    print("\nforced decoding top-1 agreement over", total, "positions:",
          ", ".join(f"{k} {counts[k]}/{total} = {r:.2%}" for k, r in rates.items()))
    assert rates["ours~reference"] >= 0.99
    assert rates["ours~llama"] >= rates["reference~llama"] - 0.005
    assert rates["ours~llama"] >= 0.95


@pytest.mark.parametrize("text", TOKENIZER_CORPUS)
def test_token_ids_equal_llama_cpp(engines, text):
    r = engines.evaluate(LLAMA_SAME_IDS, text)
    print(f"\n{r['mode']}: {len(r['ours'])} tokens for {text[:24]!r}")
    if r["mode"] == "ids":
        assert r["forced"][:len(r["ours"])] == r["ours"], "llama.cpp did not take the forced ids"
        assert r["llama_count"] == len(r["ours"]), f"llama.cpp has {r['llama_count']} tokens, we have {len(r['ours'])}"
        assert r["cache_n"] == 1 + len(r["ours"]), f"first difference at our token {r['cache_n'] - 1}: {r['ours']}"
    else:
        assert r["prefixes"] == len(text.encode("utf-16-le")) // 2 - sum(1 for ch in text if ord(ch) > 0xFFFF)
        assert r["mismatches"] == [], f"prefix, our count, llama.cpp's count: {r['mismatches'][:5]}"
