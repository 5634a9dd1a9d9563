import json
import re
import struct

import gguf
import pytest

from models import manifest as mf
from models.errors import ModelError
from models.shards import join_gguf

from .test_shards import tensors_of


def test_import_writes_a_manifest_and_content_addressed_shards(store, tiny_gguf, tiny_model):
    m = tiny_model
    assert m["format_version"] == mf.FORMAT_VERSION
    assert (m["id"], m["architecture"], m["quantization"], m["license"]) == ("tiny", "llama", "Q8_0", "apache-2.0")
    assert m["context_length"] == 128
    assert m["chat_template"].startswith("{% for m in messages %}")
    assert m["parameter_count"] == sum(int(t.n_elements) for t in gguf.GGUFReader(tiny_gguf).tensors)
    assert len(m["shards"]) >= 3
    d = store.model_dir("tiny")
    assert sorted(p.name for p in d.iterdir()) == sorted([s["file"] for s in m["shards"]] + ["manifest.json"])
    for s in m["shards"]:
        assert s["file"] == f"{s['sha256']}.gguf"
        assert mf.sha256_file(d / s["file"]) == s["sha256"]
        assert (d / s["file"]).stat().st_size == s["bytes"]
    assert m["total_bytes"] == sum(s["bytes"] for s in m["shards"])
    assert json.loads((d / "manifest.json").read_text()) == m
    # The stored shards are the model: they re-join into the imported tensors.
    joined = join_gguf([d / s["file"] for s in m["shards"]], d.parent.parent / "joined.gguf")
    assert tensors_of(joined) == tensors_of(tiny_gguf)


def test_list_and_remove(store, tiny_model):
    assert [m["id"] for m in store.list()] == ["tiny"]
    store.remove("tiny")
    assert store.list() == []
    assert not store.model_dir("tiny").exists()
    with pytest.raises(ModelError, match="not installed"):
        store.remove("tiny")


def test_verify_names_the_corrupt_shard(store, tiny_model):
    assert store.verify("tiny") == []
    victim = tiny_model["shards"][1]
    path = store.model_dir("tiny") / victim["file"]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    problems = store.verify("tiny")
    assert [(p.file, p.problem) for p in problems] == [(victim["file"], "sha256 mismatch (corrupt)")]


def test_verify_reports_missing_and_short_shards(store, tiny_model):
    first, second = tiny_model["shards"][:2]
    (store.model_dir("tiny") / first["file"]).unlink()
    with (store.model_dir("tiny") / second["file"]).open("r+b") as f:
        f.truncate(10)
    problems = {p.file: p.problem for p in store.verify("tiny")}
    assert problems[first["file"]] == "missing"
    assert problems[second["file"]] == f"10 bytes, expected {second['bytes']}"


def test_importing_the_same_id_twice_is_refused_unless_replacing(store, tiny_gguf, tiny_model):
    with pytest.raises(ModelError, match="already installed"):
        store.import_gguf(tiny_gguf, "tiny")
    m = store.import_gguf(tiny_gguf, "tiny", replace=True)
    assert len(m["shards"]) == 1
    assert store.verify("tiny") == []


def _assert_nothing_left(store):
    assert not store.models_dir.exists() or list(store.models_dir.iterdir()) == []
    assert not store.tmp_dir.exists() or list(store.tmp_dir.iterdir()) == []


@pytest.mark.parametrize("cut", [0, 3, 23, 40, 200, 2000, -1000, -1])
def test_a_truncated_gguf_fails_with_one_line_and_leaves_nothing(store, tiny_gguf, tmp_path, cut):
    data = tiny_gguf.read_bytes()
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(data[:cut] if cut >= 0 else data[:len(data) + cut])
    with pytest.raises(ModelError) as e:
        store.import_gguf(bad, "bad")
    assert "\n" not in str(e.value) and "bad.gguf" in str(e.value)
    _assert_nothing_left(store)


@pytest.mark.parametrize("patch, message", [
    (lambda d: b"GGUX" + d[4:], "not a GGUF file"),
    (lambda d: d[:4] + struct.pack("<I", 99) + d[8:], "version 99"),
    (lambda d: d[:8] + struct.pack("<Q", 2**62) + d[16:], "declares"),
    (lambda d: d[:16] + struct.pack("<Q", 2**40) + d[24:], "declares"),
])
def test_a_malformed_header_is_named(store, tiny_gguf, tmp_path, patch, message):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(patch(tiny_gguf.read_bytes()))
    with pytest.raises(ModelError, match=message):
        store.import_gguf(bad, "bad")
    _assert_nothing_left(store)


def test_a_failure_during_sharding_leaves_nothing(store, tiny_gguf):
    with pytest.raises(ModelError, match="header and metadata alone"):
        store.import_gguf(tiny_gguf, "tiny", max_shard_bytes=1024)
    _assert_nothing_left(store)


def test_a_damaged_manifest_is_skipped_by_list_and_reported_by_name(store, tiny_model):
    (store.model_dir("tiny") / "manifest.json").write_text('{"format_version": 1}')
    assert store.list() == []
    with pytest.raises(ModelError, match="missing or mistyped key 'id'"):
        store.manifest("tiny")


@pytest.mark.parametrize("bad_id", ["../x", "A", "", "a/b", "x" * 65, ".hidden"])
def test_model_ids_are_checked(store, tiny_gguf, bad_id):
    with pytest.raises(ModelError, match="bad model id"):
        store.import_gguf(tiny_gguf, bad_id)


def test_shard_path_only_answers_for_listed_hashes(store, tiny_model):
    sha = tiny_model["shards"][0]["sha256"]
    assert store.shard_path("tiny", sha) == store.model_dir("tiny") / f"{sha}.gguf"
    assert store.shard_path("tiny", "0" * 64) is None
    assert store.shard_path("nope", sha) is None


def _patched_offset(tiny_gguf, tmp_path, delta):
    """The tiny GGUF with its second tensor's data offset moved by delta bytes."""
    data = bytearray(tiny_gguf.read_bytes())
    f = gguf.GGUFReader(tiny_gguf).tensors[1].field
    at = f.offset + sum(p.nbytes for p in f.parts[:-1])
    (offset,) = struct.unpack_from("<Q", data, at)
    struct.pack_into("<Q", data, at, offset + delta)
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(bytes(data))
    return bad


def test_importer_and_page_refuse_a_misaligned_tensor_alike(store, tiny_gguf, tmp_path):
    """A data offset that is not a multiple of general.alignment: `inpage models import` and the
    page's reader (webgpu/gguf.js, in node) both refuse it, naming the tensor and the field."""
    import subprocess

    from .test_webgpu_kernels import ROOT, node_env
    bad = _patched_offset(tiny_gguf, tmp_path, 4)
    expected = "tensor blk.0.attn_norm.weight: data offset 24580 is not a multiple of general.alignment 32"
    with pytest.raises(ModelError, match=expected):
        store.import_gguf(bad, "bad")
    _assert_nothing_left(store)
    page = ("const { readGGUF } = await import('./webgpu/gguf.js'); const { openModel } = await import('./webgpu/node/runtime.js');"
            "try { await readGGUF(await openModel([process.argv[1]])); console.log('accepted'); } catch (e) { console.log(e.message); }")
    r = subprocess.run(["node", "--input-type=module", "-e", page, str(bad)], cwd=ROOT, env=node_env(),
                       capture_output=True, text=True, timeout=60)
    assert expected in r.stdout, r.stdout + r.stderr


@pytest.mark.parametrize("at, value, message", [
    (24 + 8 + 20, 77, "key general.architecture: unknown value type 77"),  # the first key (20 bytes), its type
    (24, 2**40, "key #1: a 1099511627776-byte string at byte 32 runs past the end of the file"),
])
def test_a_bad_field_is_named_in_the_files_terms(store, tiny_gguf, tmp_path, at, value, message):
    data = bytearray(tiny_gguf.read_bytes())
    struct.pack_into("<I" if value < 2**32 else "<Q", data, at, value)
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(bytes(data))
    with pytest.raises(ModelError, match=re.escape(message)):
        store.import_gguf(bad, "bad")
    _assert_nothing_left(store)
