"""The page's WordPiece tokenizer (webgpu/wordpiece.js) against Hugging Face's `tokenizers` on the
MiniLM model's own tokenizer.json: the same ids for varied text, and the same cut when truncating."""
import json
import subprocess

import pytest

from models.store import Store

from .test_webgpu_kernels import ROOT

TEXTS = [
    "", " ", "The quick brown fox jumps over the lazy dog.",
    "Hello, World!!! (parentheses) [brackets] {braces} -- dashes... e-mail@example.com #tag $5.00 50% a&b",
    "naïve café résumé Ångström Zoë façade", "ÉCOLE ÜBER straße İstanbul",
    "東京タワーは東京都港区にある。中文分词测试", "한국어 텍스트", "Привет, мир! Ελληνικά",
    "emoji 😀👍🏽 and symbols ™ © ° ± ∑ ∞ → ★", "tabs\tand\nnew\r\nlines   and  spaces\u00a0nbsp\u2003em",
    "zero\u200bwidth\u200d joiner \ufeffbom soft\u00adhyphen", "control\x00chars\x07here\x1b[0m \ufffd replacement",
    "unaffable antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis",
    "x" * 101 + " short", "a" * 100, "numbers 12345 3.14159 1,000,000 0x1F 2nd 3rd", "CamelCaseWord snake_case_word kebab-case",
    "مرحبا بالعالم", "שלום עולם", "हिन्दी पाठ", "ไทย ภาษา", "don't won't it's I'm y'all",
    "a literal [CLS] and [MASK] in the text, and [cls] in lower case",
]


@pytest.fixture(scope="module")
def wordpiece_ids(minilm, model_home, tmp_path_factory):
    def run(texts, max_tokens=None):
        path = tmp_path_factory.mktemp("wordpiece") / "texts.json"
        path.write_text(json.dumps(texts), encoding="utf-8")
        args = ["node", "--import", "./webgpu/node/register.js", "tests/wordpiece_encode.mjs",
                str(Store(model_home).model_dir("minilm-l6")), str(path)] + ([str(max_tokens)] if max_tokens else [])
        r = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr[-2000:]
        return json.loads(r.stdout)
    return run


@pytest.fixture(scope="module")
def hf_tokenizer(minilm_folder):
    from tokenizers import Tokenizer
    t = Tokenizer.from_file(str(minilm_folder / "tokenizer.json"))
    t.no_padding()
    t.no_truncation()
    return t


def test_wordpiece_matches_hugging_face_on_varied_text(wordpiece_ids, hf_tokenizer):
    readme = (ROOT_README := __import__("pathlib").Path(ROOT) / "README.md").read_text(encoding="utf-8")
    texts = TEXTS + [p for p in readme.split("\n\n") if p.strip()][:60]
    ours = wordpiece_ids(texts)
    for text, got in zip(texts, ours):
        want = hf_tokenizer.encode(text).ids
        assert got == want, f"{text[:60]!r}: first difference at {next(i for i, (a, b) in enumerate(zip(got + [None] * len(want), want)) if a != b)}"
    print(f"\n{len(texts)} texts, {sum(map(len, ours))} tokens, identical ids ({ROOT_README.name} paragraphs included)")


def test_wordpiece_truncates_as_sentence_transformers_does(wordpiece_ids, hf_tokenizer):
    long = " ".join(["lighthouse keeper's log, forty years"] * 80)
    hf_tokenizer.enable_truncation(256)
    try:
        want = hf_tokenizer.encode(long).ids
    finally:
        hf_tokenizer.no_truncation()
    got = wordpiece_ids([long], 256)[0]
    assert len(want) == 256 and got == want
