import gguf
import numpy as np
import pytest

from models.errors import ModelError
from models.shards import join_gguf, split_gguf


def tensors_of(path):
    r = gguf.GGUFReader(path)
    return {t.name: (t.tensor_type, tuple(int(x) for x in t.shape), np.asarray(t.data).tobytes()) for t in r.tensors}


def fields_of(path):
    r = gguf.GGUFReader(path)
    return {k: f.contents() for k, f in r.fields.items() if not k.startswith(("GGUF.", "split."))}


def test_split_respects_the_size_limit_and_the_gguf_split_layout(tiny_gguf, tmp_path):
    limit = 32 * 1024
    shards = split_gguf(tiny_gguf, tmp_path, limit)
    assert len(shards) >= 3
    assert [p.name for p in shards] == [f"model-{i:05d}-of-{len(shards):05d}.gguf" for i in range(1, len(shards) + 1)]
    n_tensors = len(gguf.GGUFReader(tiny_gguf).tensors)
    for i, path in enumerate(shards):
        assert path.stat().st_size <= limit
        r = gguf.GGUFReader(path)
        assert r.get_field("split.no").contents() == i
        assert r.get_field("split.count").contents() == len(shards)
        assert r.get_field("split.tensors.count").contents() == n_tensors
        # Metadata lives in the first shard only, as llama-gguf-split writes it.
        assert (r.get_field("tokenizer.ggml.tokens") is not None) == (i == 0)


def test_shards_rejoin_into_identical_tensors_and_metadata(tiny_gguf, tmp_path):
    shards = split_gguf(tiny_gguf, tmp_path, 32 * 1024)
    joined = join_gguf(shards, tmp_path / "joined.gguf")
    assert tensors_of(joined) == tensors_of(tiny_gguf)
    assert fields_of(joined) == fields_of(tiny_gguf)
    # Tensor order is kept too.
    assert [t.name for t in gguf.GGUFReader(joined).tensors] == [t.name for t in gguf.GGUFReader(tiny_gguf).tensors]


def test_a_model_under_the_limit_stays_one_plain_file(tiny_gguf, tmp_path):
    shards = split_gguf(tiny_gguf, tmp_path, 64 * 1024 * 1024)
    assert len(shards) == 1
    assert gguf.GGUFReader(shards[0]).get_field("split.count") is None
    assert tensors_of(shards[0]) == tensors_of(tiny_gguf)


def test_a_tensor_larger_than_a_shard_gets_a_shard_of_its_own(tiny_gguf, tmp_path):
    # As llama-gguf-split does: every shard is under the limit or holds one tensor larger than it;
    # the tensors come back whole, in order, and the shards rejoin into the original.
    sizes = {t.name: int(t.n_bytes) for t in gguf.GGUFReader(tiny_gguf).tensors}
    limit = 8 * 1024
    assert sizes["token_embd.weight"] >= 3 * limit  # several times the shard size
    shards = split_gguf(tiny_gguf, tmp_path, limit)
    held = [[t.name for t in gguf.GGUFReader(p).tensors] for p in shards]
    assert [n for names in held for n in names] == list(sizes)
    oversize = [names for p, names in zip(shards, held) if p.stat().st_size > limit]
    assert ["token_embd.weight"] in oversize and all(len(names) == 1 for names in oversize), oversize
    joined = join_gguf(shards, tmp_path / "joined.gguf")
    assert tensors_of(joined) == tensors_of(tiny_gguf)
    assert fields_of(joined) == fields_of(tiny_gguf)


def test_join_refuses_shards_out_of_order(tiny_gguf, tmp_path):
    shards = split_gguf(tiny_gguf, tmp_path, 32 * 1024)
    with pytest.raises(ModelError, match="not shard 1"):
        join_gguf(list(reversed(shards)), tmp_path / "joined.gguf")
    with pytest.raises(ModelError, match="says the model has"):
        join_gguf(shards[:-1], tmp_path / "joined.gguf")
