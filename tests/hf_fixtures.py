"""Hugging Face checkpoints and ONNX exports for the converter tests, written without torch.

- tiny_llama_dir: a random decoder (llama, qwen2, qwen3, phi3, gemma, gemma2, gemma3) with a
  byte-level BPE tokenizer, any head counts;
- export_gguf_as_hf: a real GGUF (SmolLM2) written back as an HF folder, q/k rows in HF order;
- onnx_from_hf: an ONNX file named the way torch.onnx.export names things (Linear weights
  transposed into "onnx::MatMul_N" initializers, scopes in node names).
"""
from __future__ import annotations

import json
import struct
from pathlib import Path

import gguf
import numpy as np

from models.convert_hf import unpermute_rope
from models.tensor_names import LLAMA


def write_safetensors(path: Path, tensors: dict[str, np.ndarray], dtype: str = "F32") -> Path:
    header, blobs, offset = {}, [], 0
    for name, x in tensors.items():
        x = np.ascontiguousarray(x, dtype=np.float32)
        if dtype == "BF16":
            u = x.view(np.uint32).astype(np.uint64)
            raw = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16).tobytes()
        else:
            raw = x.astype(np.float16 if dtype == "F16" else np.float32).tobytes()
        header[name] = {"dtype": dtype, "shape": list(x.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    head = json.dumps(header).encode()
    head += b" " * (-len(head) % 8)
    with path.open("wb") as f:
        f.write(struct.pack("<Q", len(head)) + head)
        for b in blobs:
            f.write(b)
    return path


def _byte_chars() -> list[str]:
    """GPT-2's byte -> printable character table."""
    keep = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    out, extra = {}, 0
    for b in range(256):
        if b in keep:
            out[b] = chr(b)
        else:
            out[b] = chr(256 + extra)
            extra += 1
    return [out[b] for b in range(256)]


SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHAT_TEMPLATE = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
                 "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
SMOLLM_PRE = {"type": "Sequence", "pretokenizers": [
    {"type": "Digits", "individual_digits": True},
    {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}]}


def write_tokenizer(d: Path, tokens: list[str], merges: list[str], types: list[int], *, bos: str, eos: str,
                    pre: dict = SMOLLM_PRE, chat_template: str = CHAT_TEMPLATE, **special: str) -> None:
    added = [{"id": i, "content": t, "special": True, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False} for i, t in enumerate(tokens) if types[i] == 3]
    tok = {"version": "1.0", "added_tokens": added, "normalizer": None, "pre_tokenizer": pre,
           "model": {"type": "BPE", "dropout": None, "unk_token": None, "byte_fallback": False,
                     "vocab": {t: i for i, t in enumerate(tokens)}, "merges": merges}}
    (d / "tokenizer.json").write_text(json.dumps(tok, ensure_ascii=False), encoding="utf-8")
    (d / "tokenizer_config.json").write_text(json.dumps(
        {"bos_token": bos, "eos_token": eos, **special, "chat_template": chat_template, "add_bos_token": False}))


# Llama 3.1's rope scaling, with an original context short enough that a tiny model's short
# prompts reach every regime: dims kept, blended and divided by the factor.
LLAMA3_ROPE = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
               "original_max_position_embeddings": 64}


def tiny_llama_dir(d: Path, *, arch: str = "LlamaForCausalLM", n_heads: int = 4, n_kv_heads: int = 2,
                   head_dim: int = 16, dim: int = 48, n_layers: int = 2, hidden_dim: int = 96, tied: bool = True,
                   bias: bool = False, dtype: str = "F32", seed: int = 0, rope_theta: float = 10000.0,
                   sliding_window: int = 4, softcaps: tuple[float, float] = (1.5, 3.0), ascii_only: bool = False,
                   rope_scaling: dict | None = None) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    # ascii_only: no token is part of a multi-byte character, so every generated text is valid
    # UTF-8 (llama.cpp's server refuses to return a reply that ends inside a character).
    chars = _byte_chars()[:128] if ascii_only else _byte_chars()
    merges = ["Ġ t", "h e", "Ġt he", "i n", "Ġ a", "e r"]
    # Phi-3's vocabulary has its chat tokens and Llama 2's <unk>, <s> and </s>: llama.cpp looks the
    # last three up by text for any model whose name says phi3.
    specials = SPECIALS + (["<unk>", "<s>", "</s>", "<|end|>", "<|user|>", "<|assistant|>"] if arch == "Phi3ForCausalLM" else [])
    tokens = chars + [m.replace(" ", "") for m in merges] + specials
    types = [1] * (len(tokens) - len(specials)) + [3] * len(specials)
    vocab = len(tokens) + 5  # embeddings padded past the tokenizer, as many checkpoints are

    def w(*shape, scale=0.2):
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    gemma = arch.startswith("Gemma")
    sandwich = arch in ("Gemma2ForCausalLM", "Gemma3ForCausalLM")

    def norm_w(n):  # Gemma stores w for a norm that multiplies by 1 + w
        return w(n, scale=0.1) + (0 if gemma else 1)

    t = {"model.embed_tokens.weight": w(vocab, dim, scale=1.0), "model.norm.weight": norm_w(dim)}
    if not tied:
        t["lm_head.weight"] = w(vocab, dim)
    q_rows, kv_rows = n_heads * head_dim, n_kv_heads * head_dim
    for i in range(n_layers):
        p = f"model.layers.{i}."
        t[p + "input_layernorm.weight"] = norm_w(dim)
        t[p + "post_attention_layernorm.weight"] = norm_w(dim)
        if sandwich:
            t[p + "pre_feedforward_layernorm.weight"] = norm_w(dim)
            t[p + "post_feedforward_layernorm.weight"] = norm_w(dim)
        if arch == "Phi3ForCausalLM":
            t[p + "self_attn.qkv_proj.weight"] = w(q_rows + 2 * kv_rows, dim)
        else:
            for name, rows in (("q_proj", q_rows), ("k_proj", kv_rows), ("v_proj", kv_rows)):
                t[p + f"self_attn.{name}.weight"] = w(rows, dim)
                if bias:
                    t[p + f"self_attn.{name}.bias"] = w(rows)
        if arch in ("Qwen3ForCausalLM", "Gemma3ForCausalLM"):
            t[p + "self_attn.q_norm.weight"] = norm_w(head_dim)
            t[p + "self_attn.k_norm.weight"] = norm_w(head_dim)
        t[p + "self_attn.o_proj.weight"] = w(dim, q_rows)
        if arch == "Phi3ForCausalLM":
            t[p + "mlp.gate_up_proj.weight"] = w(2 * hidden_dim, dim)
        else:
            t[p + "mlp.gate_proj.weight"] = w(hidden_dim, dim)
            t[p + "mlp.up_proj.weight"] = w(hidden_dim, dim)
        t[p + "mlp.down_proj.weight"] = w(dim, hidden_dim)
    model_type = {"Qwen2ForCausalLM": "qwen2", "Qwen3ForCausalLM": "qwen3", "Phi3ForCausalLM": "phi3",
                  "GemmaForCausalLM": "gemma", "Gemma2ForCausalLM": "gemma2", "Gemma3ForCausalLM": "gemma3_text"}
    config = {"architectures": [arch], "model_type": model_type.get(arch, "llama"),
              "hidden_size": dim, "intermediate_size": hidden_dim, "num_hidden_layers": n_layers,
              "num_attention_heads": n_heads, "num_key_value_heads": n_kv_heads, "vocab_size": vocab,
              "max_position_embeddings": 256, "rms_norm_eps": 1e-5 if not gemma else 1e-6, "rope_theta": rope_theta,
              "tie_word_embeddings": tied, "torch_dtype": "float32"}
    if head_dim != dim // n_heads or gemma:
        config["head_dim"] = head_dim
    if gemma:
        config["hidden_activation"] = "gelu_pytorch_tanh"
    if sandwich:
        # Small caps and windows, so that a 12-token test exercises them.
        config.update(query_pre_attn_scalar=head_dim, sliding_window=sliding_window)
    if arch == "Gemma2ForCausalLM":
        config.update(attn_logit_softcapping=softcaps[0], final_logit_softcapping=softcaps[1])
    if arch == "Gemma3ForCausalLM":
        config.update(rope_local_base_freq=10000.0, sliding_window_pattern=6, rope_scaling={"rope_type": "linear", "factor": 8.0})
    if rope_scaling:
        config["rope_scaling"] = rope_scaling
    (d / "config.json").write_text(json.dumps(config))
    write_safetensors(d / "model.safetensors", t, dtype)
    write_tokenizer(d, tokens, merges, types, bos=SPECIALS[0], eos=SPECIALS[2])
    return d


def read_hf(d: Path) -> tuple[dict[str, np.ndarray], dict]:
    """The tensors (as float32) and config of an HF folder."""
    from models.safetensors import read_dir
    return {n: r.load().astype(np.float32) for n, r in read_dir(d).items()}, json.loads((d / "config.json").read_text())


def hf_tensors_of_gguf(reader: gguf.GGUFReader, table: dict[str, str]) -> dict[str, np.ndarray]:
    """A GGUF's tensors, dequantized to float32 and named back to Hugging Face by TABLE (tensor_names.py)."""
    to_hf = {gg: hf for hf, gg in table.items()}
    out = {}
    for tensor in reader.tensors:
        parts = tensor.name.split(".")
        if parts[0] == "blk":
            name = to_hf[".".join(["blk", "{bid}"] + parts[2:])].replace("{bid}", parts[1])
        else:
            name = to_hf[tensor.name]
        out[name] = gguf.quants.dequantize(tensor.data, tensor.tensor_type).astype(np.float32).reshape(
            [int(s) for s in reversed(tensor.shape)])
    return out


def export_gguf_as_hf(src: Path, d: Path, dtype: str = "F16") -> Path:
    """A llama-architecture GGUF written as a Hugging Face folder (the inverse of the converter)."""
    d.mkdir(parents=True, exist_ok=True)
    r = gguf.GGUFReader(src)
    meta = {k: f.contents() for k, f in r.fields.items() if not k.startswith("GGUF.")}
    n_heads, n_kv = meta["llama.attention.head_count"], meta["llama.attention.head_count_kv"]
    t = hf_tensors_of_gguf(r, LLAMA)
    for name in t:
        if name.endswith("self_attn.q_proj.weight"):
            t[name] = unpermute_rope(t[name], n_heads)
        elif name.endswith("self_attn.k_proj.weight"):
            t[name] = unpermute_rope(t[name], n_kv)
    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama",
              "hidden_size": meta["llama.embedding_length"], "intermediate_size": meta["llama.feed_forward_length"],
              "num_hidden_layers": meta["llama.block_count"], "num_attention_heads": n_heads,
              "num_key_value_heads": n_kv, "vocab_size": int(t["model.embed_tokens.weight"].shape[0]),
              "max_position_embeddings": meta["llama.context_length"],
              "rms_norm_eps": meta["llama.attention.layer_norm_rms_epsilon"],
              "rope_theta": meta.get("llama.rope.freq_base", 10000.0), "tie_word_embeddings": "lm_head.weight" not in t}
    (d / "config.json").write_text(json.dumps(config))
    write_safetensors(d / "model.safetensors", t, dtype)
    tokens = meta["tokenizer.ggml.tokens"]
    types = meta["tokenizer.ggml.token_type"]
    write_tokenizer(d, tokens, meta["tokenizer.ggml.merges"], types,
                    bos=tokens[meta["tokenizer.ggml.bos_token_id"]], eos=tokens[meta["tokenizer.ggml.eos_token_id"]],
                    chat_template=meta["tokenizer.chat_template"],
                    unk_token=tokens[meta["tokenizer.ggml.unknown_token_id"]],
                    pad_token=tokens[meta["tokenizer.ggml.padding_token_id"]])
    return d


def onnx_from_hf(tensors: dict[str, np.ndarray], path: Path, *, drop: str | None = None,
                 external: bool = False) -> Path:
    """An ONNX graph holding TENSORS the way torch.onnx.export stores them; DROP leaves one weight out."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits, n = [], [], 0
    for name, x in tensors.items():
        scope = "/" + name.rsplit(".", 1)[0].replace(".", "/")
        out = f"{scope}/out_{n}"
        if name.endswith(".weight") and x.ndim == 2 and "embed" not in name:
            init = f"onnx::MatMul_{1000 + n}"
            inits.append(numpy_helper.from_array(np.ascontiguousarray(x.T), init))
            nodes.append(helper.make_node("MatMul", ["hidden", init], [out], name=f"{scope}/MatMul"))
        elif x.ndim == 2:
            inits.append(numpy_helper.from_array(x, name))
            nodes.append(helper.make_node("Gather", [name, "input_ids"], [out], name=f"{scope}/Gather"))
        else:
            inits.append(numpy_helper.from_array(x, name))
            op = "Add" if name.endswith(".bias") else "Mul"
            nodes.append(helper.make_node(op, ["hidden", name], [out], name=f"{scope}/{op}"))
        n += 1
    # a rotary cache, as exports carry: a float initializer that is no weight
    inits.append(numpy_helper.from_array(np.ones((8, 4), np.float32), "/model/rotary_emb/Constant_output_0"))
    nodes.append(helper.make_node("Mul", ["hidden", "/model/rotary_emb/Constant_output_0"], ["rot"],
                                  name="/model/rotary_emb/Mul"))
    if drop is not None:
        victim = next(i for i, node in enumerate(nodes) if node.name.startswith("/" + drop.rsplit(".", 1)[0].replace(".", "/") + "/"))
        inits = [t for t in inits if t.name != nodes[victim].input[1] and t.name != nodes[victim].input[0]]
    graph = helper.make_graph(
        nodes, "exported", [helper.make_tensor_value_info("input_ids", TensorProto.INT64, [1, None]),
                            helper.make_tensor_value_info("hidden", TensorProto.FLOAT, [1, None, None])],
        [helper.make_tensor_value_info("rot", TensorProto.FLOAT, None)], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    if external:
        onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                        location=path.name + "_data", size_threshold=0)
    else:
        onnx.save_model(model, str(path))
    return path
