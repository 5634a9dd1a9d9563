"""A native CPU embedder on the same GGUF, for `inpage bench --suite embed`: ONNX Runtime.

The BERT sentence encoder of a GGUF (all-MiniLM-L6-v2 from `inpage models pull minilm-l6`) is
written out as an ONNX graph with float32 weights: the model's own F16 weights, widened, so both
sides run the same numbers. Tokens come from Hugging Face `tokenizers` with the GGUF's vocabulary.
ONNX Runtime runs it at its default optimization level, which fuses LayerNorm and GELU as it does
for a torch export. The graph is BertModel, then sentence-transformers' mean pooling over the
attention mask and L2 normalization, as the page computes.

Importing this module fails with ImportError where onnxruntime or tokenizers is missing
(pip install 'inpage[rag-bench]'); the bench then reports the native column as skipped.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import gguf
import numpy as np
import onnx
import onnxruntime
import tokenizers
from onnx import TensorProto, helper, numpy_helper

OPSET = 17  # LayerNormalization
CONTROL = 3  # llama.cpp's token type for [CLS], [SEP], [PAD], ...


def read_encoder(path: Path) -> tuple[dict[str, np.ndarray], dict, list[str]]:
    """(tensors as float32 numpy arrays in GGUF names, config, WordPiece vocabulary) of a BERT GGUF."""
    r = gguf.GGUFReader(str(path))

    def field(key):
        f = r.fields[key]
        return f.parts[f.data[0]][0]

    arch = bytes(r.fields["general.architecture"].parts[r.fields["general.architecture"].data[0]]).decode()
    if arch != "bert":
        raise ValueError(f"{path.name} is a {arch} model; the native embedder runs BERT encoders")
    config = {
        "n_layers": int(field("bert.block_count")),
        "n_heads": int(field("bert.attention.head_count")),
        "eps": float(field("bert.attention.layer_norm_epsilon")),
        "max_seq_length": int(field("sentence_transformers.max_seq_length")),
    }
    tensors = {}
    for t in r.tensors:
        # A quantized encoder runs on its dequantized weights: the same model the page runs.
        a = np.asarray(t.data) if t.tensor_type.name in ("F32", "F16") else gguf.quants.dequantize(t.data, t.tensor_type)
        tensors[t.name] = a.astype(np.float32).reshape([int(n) for n in reversed(t.shape)])
    tok = r.fields["tokenizer.ggml.tokens"]
    types = r.fields["tokenizer.ggml.token_type"]
    vocab = []
    for i, idx in enumerate(tok.data):
        s = bytes(tok.parts[idx]).decode()
        kind = int(types.parts[types.data[i]][0])
        vocab.append(s if kind == CONTROL else (s[1:] if s.startswith("\u2581") else "##" + s))
    return tensors, config, vocab


def onnx_encoder(t: dict[str, np.ndarray], c: dict) -> onnx.ModelProto:
    """The graph: input_ids, attention_mask (batch, seq) int64 -> embeddings (batch, dim) float32."""
    nodes, inits = [], []
    d = t["token_embd.weight"].shape[1]
    hd = d // c["n_heads"]

    def const(name, value):
        inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(kind, inputs, name, **attrs):
        nodes.append(helper.make_node(kind, inputs, [name], name=name, **attrs))
        return name

    def linear(x, w, b, name):  # GGUF weights are (out, in): MatMul wants (in, out)
        return op("Add", [op("MatMul", [x, const(w, t[w].T.copy())], name + ".mm"), const(b, t[b])], name)

    def layernorm(x, w, b, name):
        return op("LayerNormalization", [x, const(w, t[w]), const(b, t[b])], name, axis=-1, epsilon=c["eps"])

    # Embeddings: word + position + token type 0, then LayerNorm.
    seq = op("Gather", [op("Shape", ["input_ids"], "ids.shape"), const("one", np.array(1))], "seq", axis=0)
    positions = op("Range", [const("zero", np.array(0)), seq, const("step", np.array(1))], "positions")
    x = op("Add", [op("Gather", [const("token_embd.weight", t["token_embd.weight"]), "input_ids"], "words"),
                   op("Gather", [const("position_embd.weight", t["position_embd.weight"]), positions], "pos")], "wp")
    x = op("Add", [x, const("token_type0", t["token_types.weight"][0])], "embd")
    x = layernorm(x, "token_embd_norm.weight", "token_embd_norm.bias", "embd.norm")
    # Additive mask over keys: 0 where attended, -1e9 at padding; (batch, 1, 1, seq).
    maskf = op("Cast", ["attention_mask"], "maskf", to=TensorProto.FLOAT)
    bias = op("Mul", [op("Sub", [maskf, const("onef", np.float32(1))], "mask.m1"), const("big", np.float32(1e9))], "mask.bias")
    bias = op("Unsqueeze", [bias, const("axes12", np.array([1, 2]))], "mask.bias4")
    heads_shape = const("heads.shape", np.array([0, 0, c["n_heads"], hd]))
    flat_shape = const("flat.shape", np.array([0, 0, d]))
    scale = const("scale", np.float32(1 / math.sqrt(hd)))
    for i in range(c["n_layers"]):
        p = f"blk.{i}."

        def heads(name, perm):
            y = linear(x, p + f"attn_{name}.weight", p + f"attn_{name}.bias", p + name)
            return op("Transpose", [op("Reshape", [y, heads_shape], p + name + ".4d")], p + name + ".t", perm=perm)

        q, k, v = heads("q", [0, 2, 1, 3]), heads("k", [0, 2, 3, 1]), heads("v", [0, 2, 1, 3])
        scores = op("Add", [op("Mul", [op("MatMul", [q, k], p + "qk"), scale], p + "qk.s"), bias], p + "scores")
        att = op("MatMul", [op("Softmax", [scores], p + "probs", axis=-1), v], p + "att")
        att = op("Reshape", [op("Transpose", [att], p + "att.t", perm=[0, 2, 1, 3]), flat_shape], p + "att.flat")
        x = op("Add", [x, linear(att, p + "attn_output.weight", p + "attn_output.bias", p + "o")], p + "res1")
        x = layernorm(x, p + "attn_output_norm.weight", p + "attn_output_norm.bias", p + "norm1")
        h = linear(x, p + "ffn_up.weight", p + "ffn_up.bias", p + "up")
        erf = op("Erf", [op("Div", [h, const(p + "sqrt2", np.float32(math.sqrt(2)))], p + "h.s")], p + "erf")
        gelu = op("Mul", [op("Mul", [h, op("Add", [erf, "onef"], p + "erf1")], p + "h.erf"),
                          const(p + "half", np.float32(0.5))], p + "gelu")
        x = op("Add", [x, linear(gelu, p + "ffn_down.weight", p + "ffn_down.bias", p + "down")], p + "res2")
        x = layernorm(x, p + "layer_output_norm.weight", p + "layer_output_norm.bias", p + "norm2")
    # Mean pooling over the attended tokens, then L2 normalization.
    m = op("Unsqueeze", [maskf, const("axis2", np.array([2]))], "mask3")
    seq_axis = const("seq.axis", np.array([1]))
    total = op("ReduceSum", [op("Mul", [x, m], "masked"), seq_axis], "sum", keepdims=0)
    mean = op("Div", [total, op("ReduceSum", [m, seq_axis], "count", keepdims=0)], "mean")
    out = op("LpNormalization", [mean], "embeddings", axis=-1, p=2)
    graph = helper.make_graph(
        nodes, "bert_sentence_encoder",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"])],
        [helper.make_tensor_value_info(out, TensorProto.FLOAT, ["batch", d])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])


class NativeEmbedder:
    """ONNX Runtime on THREADS cores: embed(texts) -> (len(texts), dim) float32, L2-normalized."""

    def __init__(self, gguf_path: Path, threads: int):
        tensors, self.config, vocab = read_encoder(gguf_path)
        model = onnx_encoder(tensors, self.config)
        opts = onnxruntime.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
        self.tokenizer = tokenizers.BertWordPieceTokenizer({t: i for i, t in enumerate(vocab)}, lowercase=True)
        self.tokenizer.enable_truncation(self.config["max_seq_length"])
        self.tokenizer.enable_padding(pad_id=vocab.index("[PAD]"))

    def tokens(self, texts: list[str]) -> list[int]:
        return [len(e.ids) for e in self.tokenizer.encode_batch(texts)]

    def embed(self, texts: list[str]) -> np.ndarray:
        enc = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        return self.session.run(None, {"input_ids": ids, "attention_mask": mask})[0]


def measure(gguf_path: Path, chunks: list[str], threads: int, batch: int, runs: int) -> dict:
    """Chunks/s of ONNX Runtime over CHUNKS in batches of BATCH: the median of RUNS passes (after a warm-up)."""
    emb = NativeEmbedder(gguf_path, threads)
    emb.embed(chunks[:batch])
    rates = []
    for _ in range(runs):
        t0 = time.perf_counter()
        for i in range(0, len(chunks), batch):
            emb.embed(chunks[i:i + batch])
        rates.append(len(chunks) / (time.perf_counter() - t0))
    return {"engine": f"onnxruntime {onnxruntime.__version__} (CPU, float32)", "threads": threads, "batch": batch,
            "chunks_per_s": rates}
