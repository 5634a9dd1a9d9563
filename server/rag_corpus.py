"""The Python 3 documentation as a RAG corpus: Debian's python3-doc carries its reStructuredText
sources (html/_sources/**/*.rst.txt), a real technical corpus with structure to label by.

`inpage bench --suite search` embeds passages of it (sentences, pairs of sentences, paragraphs)
for real 384-dimensional vectors; server/bench_retrieval.py asks the FAQ's questions of it. The
package is fetched with `apt-get download` (never installed) and unpacked with dpkg-deb into the
store's corpora folder, once.
"""
from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from models.errors import ModelError

PACKAGE = "python3-doc"
DESCRIPTION = "the Python 3 documentation's reStructuredText sources, from Debian's python3-doc"


def sources(cache_dir: Path) -> Path:
    """The folder of .rst.txt sources, fetched and unpacked into CACHE_DIR on first use."""
    done = cache_dir / "python-docs"
    if done.is_dir():
        return done
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        # python3-doc is a small package that depends on the versioned one holding the files.
        deps = _run(["apt-cache", "depends", PACKAGE])
        versioned = next((m.group(1) for m in re.finditer(r"Depends: (python3\.\d+-doc)", deps)), None)
        if versioned is None:
            raise ModelError(f"apt does not know {PACKAGE}", "run on Debian or Ubuntu with apt sources enabled")
        _run(["apt-get", "download", versioned], cwd=tmp)
        (deb,) = tmp.glob("*.deb")
        _run(["dpkg-deb", "-x", str(deb), str(tmp / "x")])
        # python3.N-doc/html is a link to python3.N/html: one folder, found twice.
        (src,) = {p.resolve() for p in (tmp / "x").glob("usr/share/doc/python3*/html/_sources")}
        cache_dir.mkdir(parents=True, exist_ok=True)
        part = cache_dir / "python-docs.part"
        shutil.rmtree(part, ignore_errors=True)
        shutil.copytree(src, part)
        part.rename(done)
    return done


def _run(cmd: list[str], cwd: Path | None = None) -> str:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["failed"])[-1]
        raise ModelError(f"{' '.join(cmd)}: {last}", "check that apt can reach the Debian archive")
    return proc.stdout


def paragraphs(src: Path) -> list[str]:
    """Prose paragraphs and list items of every page, whitespace folded, in file order (markup
    lines left out)."""
    out = []
    for f in sorted(src.rglob("*.rst.txt")):
        for para in re.split(r"\n\s*\n", f.read_text(encoding="utf-8", errors="replace")):
            p = re.sub(r"^[*-] ", "", " ".join(para.split()))  # a list item keeps its words
            if len(p.split()) >= 4 and not p.startswith(("..", ":", ">>>", "=", "-", "*", "|", "+")):
                out.append(p)
    return out


def passages(src: Path) -> list[str]:
    """Distinct passages: each run of one to four neighbouring sentences, each paragraph; in
    an order fixed by their SHA-256 (a stable shuffle, so any prefix mixes the whole corpus)."""
    seen = set()
    for p in paragraphs(src):
        sentences = [s for s in re.split(r"(?<=[.!?])\s+(?=[A-Z])", p) if len(s.split()) >= 3]
        for run in range(1, 5):
            seen.update(" ".join(sentences[i:i + run]) for i in range(len(sentences) - run + 1))
        seen.add(p)
    return sorted(seen, key=lambda s: hashlib.sha256(s.encode()).digest())
