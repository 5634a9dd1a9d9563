"""Synthetic GGUFs for speed only: random weights in the shape of a real model, written as a file.

webgpu/synthetic.js makes the same shapes in memory for the GPU benchmark; a file is what
`inpage bench` needs to run one in the page and in native llama.cpp side by side. The weights are
random blocks with small valid scales; the vocabulary is byte-level BPE (the 256 byte symbols, a
few merges, ChatML's special tokens, then filler tokens up to the shape's vocabulary size), so the
tokenizer, the chat template and the LM head have the real model's sizes. Nothing about quality
can be read from such a model: its name says "synthetic", and so does its manifest.
"""
from __future__ import annotations

import os

from pathlib import Path

import gguf
import numpy as np

from .errors import ModelError

# As webgpu/synthetic.js SHAPES has them (tests/test_synthetic.py checks that the two agree).
SHAPES = {
    "smollm2-135m": {"arch": "llama", "n_layers": 30, "dim": 576, "hidden_dim": 1536, "n_heads": 9, "n_kv_heads": 3,
                     "vocab_size": 49152, "tied": True, "rope_theta": 100000},
    "qwen2.5-0.5b": {"arch": "qwen2", "n_layers": 24, "dim": 896, "hidden_dim": 4864, "n_heads": 14, "n_kv_heads": 2,
                     "vocab_size": 151936, "tied": True, "bias": True, "rope_theta": 1000000},
    "llama-3.2-1b": {"arch": "llama", "n_layers": 16, "dim": 2048, "hidden_dim": 8192, "n_heads": 32, "n_kv_heads": 8,
                     "vocab_size": 128256, "tied": True, "rope_theta": 500000},
    "llama-3.1-8b": {"arch": "llama", "n_layers": 32, "dim": 4096, "hidden_dim": 14336, "n_heads": 32, "n_kv_heads": 8,
                     "vocab_size": 128256, "tied": False, "rope_theta": 500000},
}
Q = gguf.GGMLQuantizationType
# Byte offsets of the f16 scales in a block, set to small normal values (no weight is NaN or huge).
F16_FIELDS = {Q.Q4_0: [0], Q.Q4_1: [0, 2], Q.Q5_0: [0], Q.Q5_1: [0, 2], Q.Q8_0: [0], Q.Q2_K: [80, 82],
              Q.Q3_K: [108], Q.Q4_K: [0, 2], Q.Q5_K: [0, 2], Q.Q6_K: [208]}
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHATML = ("{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>\n' }}"
          "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")


def byte_symbols() -> list[str]:
    """GPT-2's printable stand-ins for the 256 byte values, in byte order."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    extra = iter(range(256, 512))
    return [chr(b) if b in keep else chr(next(extra)) for b in range(256)]


def vocabulary(size: int) -> tuple[list[str], list[int], list[str]]:
    """Tokens, token types and merges of a byte-level BPE vocabulary of exactly SIZE tokens."""
    symbols = byte_symbols()
    space = symbols[ord(" ")]
    merges = [f"{space} {c}" for c in "tawsoihbcmfdlpn"] + [f"{a} {b}" for a, b in ("th", "he", "in", "er", "an", "re")]
    tokens = symbols + [m.replace(" ", "") for m in merges] + SPECIAL
    if len(tokens) > size:
        raise ModelError(f"a vocabulary of {size} tokens is too small for the {len(tokens)} it must hold")
    tokens += [f"<synthetic_{i}>" for i in range(size - len(tokens))]  # byte-level symbols only
    types = [3 if t in SPECIAL else 1 for t in tokens]
    return tokens, types, merges


def random_tensor(qtype: Q, rows: int, cols: int, rng: np.random.Generator, zero_rows=()) -> np.ndarray:
    """rows x cols weights of qtype as raw blocks (uint8, rows x row_bytes); ZERO_ROWS are all zero."""
    block, type_size = gguf.GGML_QUANT_SIZES[qtype]
    if cols % block:
        raise ModelError(f"rows of {cols} weights do not split into {qtype.name} blocks of {block}",
                         "pick a type whose block divides the shape's widths (Q4_0, Q8_0 ...)")
    n_blocks = rows * cols // block
    raw = rng.integers(0, 256, size=(n_blocks, type_size), dtype=np.uint8)
    scales = (0x2000 | rng.integers(0, 0x400, size=(n_blocks, len(F16_FIELDS[qtype])))).astype("<u2")
    for k, off in enumerate(F16_FIELDS[qtype]):  # ~0.008 to 0.016
        raw[:, off:off + 2] = scales[:, k:k + 1].view(np.uint8)
    if qtype == Q.Q8_0:
        q = raw[:, 2:].view(np.int8)
        q[q == -128] = -127
    raw = raw.reshape(rows, -1)
    per_row = cols // block
    for r in zero_rows:  # every scale and min of the row's blocks 0
        blocks = raw[r].reshape(per_row, type_size)
        for off in F16_FIELDS[qtype]:
            blocks[:, off:off + 2] = 0
    return raw


def write_synthetic(shape_name: str, qtype_name: str, path: Path, seed: int = 1, header_only: bool = False) -> Path:
    """A GGUF at PATH with random QTYPE weights in the shape SHAPE_NAME (see SHAPES).

    header_only: write the header and leave every tensor's bytes zero, as a sparse file that takes
    no disk (a model of several GiB for what happens before its weights are read)."""
    if shape_name not in SHAPES:
        raise ModelError(f"no synthetic shape {shape_name}", f"use one of {', '.join(SHAPES)}")
    qtype = getattr(Q, qtype_name, None)
    if qtype not in F16_FIELDS:
        raise ModelError(f"no synthetic weights of type {qtype_name}", f"use one of {', '.join(t.name for t in F16_FIELDS)}")
    s = SHAPES[shape_name]
    rng = np.random.default_rng(seed)
    arch, head_dim = s["arch"], s["dim"] // s["n_heads"]
    q_dim, kv_dim = s["n_heads"] * head_dim, s["n_kv_heads"] * head_dim
    w = gguf.GGUFWriter(path, arch)
    w.add_name(f"synthetic {shape_name} {qtype_name} (random weights, for speed only)")
    w.add_block_count(s["n_layers"])
    w.add_context_length(8192)
    w.add_embedding_length(s["dim"])
    w.add_feed_forward_length(s["hidden_dim"])
    w.add_head_count(s["n_heads"])
    w.add_head_count_kv(s["n_kv_heads"])
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_freq_base(float(s["rope_theta"]))
    w.add_license("synthetic")
    tokens, types, merges = vocabulary(s["vocab_size"])
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(tokens.index("<|endoftext|>"))
    w.add_eos_token_id(tokens.index("<|im_end|>"))
    w.add_add_bos_token(False)
    w.add_chat_template(CHATML)

    def add(name: str, rows: int, cols: int, zero_rows=()) -> None:
        if header_only:
            block, type_size = gguf.GGML_QUANT_SIZES[qtype]
            row_bytes = cols // block * type_size
            w.add_tensor_info(name, (rows, row_bytes), np.dtype(np.uint8), rows * row_bytes, raw_dtype=qtype)
        else:
            w.add_tensor(name, random_tensor(qtype, rows, cols, rng, zero_rows), raw_dtype=qtype)

    # The LM head's rows of the special tokens and of the bytes that are not text alone (controls,
    # UTF-8 pieces) are zero, so a greedy reply never ends early nor streams nothing: it runs to
    # the token limit in printable tokens, in our engine and in llama.cpp alike.
    silent = [tokens.index(t) for t in SPECIAL] + [b for b in range(256) if b < 32 or b >= 127]

    def ones(name: str, n: int) -> None:
        if header_only:
            w.add_tensor_info(name, (n,), np.dtype(np.float32), 4 * n)
        else:
            w.add_tensor(name, np.ones(n, dtype=np.float32))

    add("token_embd.weight", s["vocab_size"], s["dim"], silent if s["tied"] else ())
    ones("output_norm.weight", s["dim"])
    if not s["tied"]:
        add("output.weight", s["vocab_size"], s["dim"], silent)
    for i in range(s["n_layers"]):
        b = f"blk.{i}."
        ones(b + "attn_norm.weight", s["dim"])
        ones(b + "ffn_norm.weight", s["dim"])
        add(b + "attn_q.weight", q_dim, s["dim"])
        add(b + "attn_k.weight", kv_dim, s["dim"])
        add(b + "attn_v.weight", kv_dim, s["dim"])
        if s.get("bias"):
            for name, n in (("attn_q", q_dim), ("attn_k", kv_dim), ("attn_v", kv_dim)):
                w.add_tensor(f"{b}{name}.bias", np.zeros(n, dtype=np.float32))
        add(b + "attn_output.weight", s["dim"], q_dim)
        add(b + "ffn_gate.weight", s["hidden_dim"], s["dim"])
        add(b + "ffn_up.weight", s["hidden_dim"], s["dim"])
        add(b + "ffn_down.weight", s["dim"], s["hidden_dim"])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    if header_only:
        w.write_ti_data_to_file()
        w.close()
        end = path.stat().st_size
        for info in w.tensors[0].values():  # the writer's layout: each tensor padded to the alignment
            end = -(-end // w.data_alignment) * w.data_alignment + info.nbytes
        os.truncate(path, -(-end // w.data_alignment) * w.data_alignment)
        return path
    w.write_tensors_to_file()
    w.close()
    return path
