"""Small synthetic GGUF files for tests: llama-shaped metadata and random tensors of mixed types."""
from pathlib import Path

import gguf
import numpy as np


def write_tiny_llama(path: Path, *, n_layers: int = 2, dim: int = 64, vocab: int = 96, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    w = gguf.GGUFWriter(path, "llama")
    w.add_name("tiny-test-llama")
    w.add_block_count(n_layers)
    w.add_context_length(128)
    w.add_embedding_length(dim)
    w.add_feed_forward_length(2 * dim)
    w.add_head_count(4)
    w.add_head_count_kv(2)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0)
    w.add_license("apache-2.0")
    w.add_tokenizer_model("gpt2")
    w.add_token_list([f"tok{i}" for i in range(vocab)])
    w.add_token_types([1] * vocab)
    w.add_chat_template("{% for m in messages %}{{ m['content'] }}{% endfor %}")
    w.add_array("test.float_list", [0.5, 1.5, -2.0])
    w.add_bool("test.flag", True)

    def q8(shape):
        x = rng.standard_normal(shape).astype(np.float32)
        return gguf.quants.quantize(x, gguf.GGMLQuantizationType.Q8_0)

    w.add_tensor("token_embd.weight", rng.standard_normal((vocab, dim)).astype(np.float32))
    for i in range(n_layers):
        w.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(dim, dtype=np.float32))
        for name in ("attn_q", "attn_output", "ffn_gate", "ffn_up"):
            shape = (2 * dim, dim) if name in ("ffn_gate", "ffn_up") else (dim, dim)
            w.add_tensor(f"blk.{i}.{name}.weight", q8(shape), raw_dtype=gguf.GGMLQuantizationType.Q8_0)
        w.add_tensor(f"blk.{i}.attn_k.weight", rng.standard_normal((dim // 2, dim)).astype(np.float16))
    w.add_tensor("output_norm.weight", np.ones(dim, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path
