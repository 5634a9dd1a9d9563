"""A Hugging Face tokenizer.json as llama.cpp's GGUF tokenizer keys.

Three kinds are read, the ones the supported architectures use:
- byte-level BPE (Llama 3, Qwen2, SmolLM): tokenizer.ggml.model "gpt2", merges, and a
  pre-tokenizer name that llama.cpp knows, recognized from the pre-tokenizer's regex;
- SentencePiece-style BPE with byte fallback (Llama 2, Mistral): model "llama", scores -id
  (sentencepiece orders BPE pieces by merge priority, so the id is the rank);
- WordPiece (BERT): model "bert", in llama.cpp's "phantom space" form: a word-initial piece gets
  a leading U+2581 and a "##" continuation piece loses its "##".
Special token ids, add_bos/add_eos and the chat template come from gguf.SpecialVocab, which
reads tokenizer.json, tokenizer_config.json and special_tokens_map.json as llama.cpp does.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import gguf

from .errors import ModelError

NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6

# Fragments of a pre-tokenizer's Split regex -> llama.cpp's name for it (tokenizer.ggml.pre).
SPLIT_REGEX_PRE = (
    (r"\p{N}{1,3}", "llama-bpe"),
    (r"[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|", "qwen2"),
)


@dataclass
class Vocab:
    model: str                       # tokenizer.ggml.model
    pre: str                         # tokenizer.ggml.pre
    tokens: list[str]
    types: list[int]
    scores: list[float] | None = None
    special: gguf.SpecialVocab | None = field(default=None, repr=False)

    def add_to_gguf(self, writer: gguf.GGUFWriter) -> None:
        writer.add_tokenizer_model(self.model)
        writer.add_tokenizer_pre(self.pre)
        writer.add_token_list(self.tokens)
        writer.add_token_types(self.types)
        if self.scores is not None:
            writer.add_token_scores(self.scores)
        if self.special is not None:
            self.special.add_to_gguf(writer, quiet=True)


def read_vocab(model_dir: Path, vocab_size: int) -> Vocab:
    """The tokenizer of MODEL_DIR, padded to VOCAB_SIZE (the embedding rows) as llama.cpp pads it."""
    path = model_dir / "tokenizer.json"
    if not path.is_file():
        raise ModelError(f"{model_dir}: no tokenizer.json", "copy the model's tokenizer.json into the folder")
    try:
        tok = json.loads(path.read_text(encoding="utf-8"))
        kind = tok["model"]["type"]
        vocab: dict[str, int] = dict(tok["model"]["vocab"])
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise ModelError(f"{path}: not a Hugging Face tokenizer ({type(e).__name__}: {e})",
                         "copy the model's tokenizer.json again") from None
    added = {a["id"]: a for a in tok.get("added_tokens", [])}
    for a in added.values():
        vocab.setdefault(a["content"], a["id"])
    n_tokens = 1 + max(vocab.values())
    if n_tokens > vocab_size:
        raise ModelError(f"{path.name} has {n_tokens} tokens but the model's embeddings have {vocab_size} rows",
                         "the tokenizer belongs to another model; use the one shipped with these weights")
    tokens = [f"[PAD{i}]" for i in range(vocab_size)]
    types = [UNUSED] * vocab_size
    for text, i in vocab.items():
        tokens[i] = text
        a = added.get(i)
        types[i] = NORMAL if a is None else (CONTROL if a.get("special") else USER_DEFINED)

    if kind == "WordPiece":
        tokens = [t if types[i] == CONTROL else (t[2:] if t.startswith("##") else "\u2581" + t)
                  for i, t in enumerate(tokens)]
        return Vocab("bert", "default", tokens, types, special=_special(model_dir, vocab_size, merges=False))
    if kind != "BPE":
        raise ModelError(f"{path.name}: tokenizer model {kind!r} is not supported", "supported: BPE, WordPiece")
    if tok["model"].get("byte_fallback"):
        scores = []
        for i, t in enumerate(tokens):
            if len(t) == 6 and t.startswith("<0x") and t.endswith(">") and types[i] == NORMAL:
                types[i] = BYTE
            if t == tok["model"].get("unk_token"):
                types[i] = UNKNOWN
            scores.append(-float(i) if types[i] == NORMAL else 0.0)
        return Vocab("llama", "default", tokens, types, scores, special=_special(model_dir, vocab_size, merges=False))
    return Vocab("gpt2", _bpe_pre(path, tok.get("pre_tokenizer")), tokens, types,
                 special=_special(model_dir, vocab_size, merges=True))


def _special(model_dir: Path, vocab_size: int, merges: bool) -> gguf.SpecialVocab:
    return gguf.SpecialVocab(model_dir, load_merges=merges, n_vocab=vocab_size)


def _bpe_pre(path: Path, pre: dict | None) -> str:
    """llama.cpp's name for a byte-level BPE pre-tokenizer."""
    steps = (pre or {}).get("pretokenizers", [pre] if pre else [])
    kinds = [s.get("type") for s in steps]
    if kinds == ["Digits", "ByteLevel"] and steps[0].get("individual_digits"):
        return "smollm"
    if kinds == ["ByteLevel"] and steps[0].get("use_regex", True):
        return "gpt-2"
    regex = next((s.get("pattern", {}).get("Regex", "") for s in steps if s.get("type") == "Split"), "")
    for fragment, name in SPLIT_REGEX_PRE:
        if fragment in regex:
            return name
    raise ModelError(f"{path.name}: byte-level BPE pre-tokenizer {kinds} is not one llama.cpp knows",
                     "supported: Llama 3, Qwen2, SmolLM and GPT-2 style tokenizers")
