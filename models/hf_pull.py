"""`inpage models pull hf.co/ORG/REPO[:QUANT]` (or `hf.co/ORG/REPO/path/to/file.gguf`): a GGUF from the
Hugging Face Hub, imported like any other.

The repo's files come from the Hub API's tree listing (`/api/models/REPO/tree/REVISION`), which gives
each LFS file's size and SHA-256. QUANT picks the GGUF whose name carries that level (Q4_K_M,
q8_0, ...); a split GGUF (NAME-00001-of-0000N.gguf) brings all its parts. Each file downloads to a
`.part` file with HTTP ranges, resuming where an interrupted pull stopped, and must match the
SHA-256 the Hub publishes before it is used. HF_TOKEN (a Hub access token) opens gated and private
repos; HF_ENDPOINT points at another Hub (a mirror). Nothing but the Hub is contacted.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .errors import ModelError
from .store import Store

PREFIXES = ("hf.co/", "huggingface.co/", "https://huggingface.co/", "https://hf.co/")
CHUNK = 1 << 20
SPLIT = re.compile(r"^(?P<stem>.*)-(?P<i>\d{5})-of-(?P<n>\d{5})\.gguf$", re.IGNORECASE)
# Quantization levels as they appear in GGUF file names, best first when a repo holds several.
DEFAULT_QUANTS = ("Q4_K_M", "Q4_K_S", "Q5_K_M", "Q4_0", "Q8_0", "Q6_K", "F16")


@dataclass(frozen=True)
class HubFile:
    path: str
    size: int
    sha256: str | None  # the LFS object id; None for a file kept in git itself


def is_hf_ref(ref: str) -> bool:
    return ref.startswith(PREFIXES)


def parse_ref(ref: str) -> tuple[str, str | None, str | None]:
    """hf.co/ORG/REPO[:QUANT] or hf.co/ORG/REPO/path/file.gguf -> (repo, quant, path)."""
    rest = ref
    for p in PREFIXES:
        if rest.startswith(p):
            rest = rest[len(p):]
            break
    quant = None
    if ":" in rest:
        rest, quant = rest.rsplit(":", 1)
    parts = [p for p in rest.split("/") if p]
    if len(parts) < 2 or (quant is not None and not quant):
        raise ModelError(f"{ref!r} is not a Hugging Face model reference",
                         "write hf.co/ORG/REPO, hf.co/ORG/REPO:QUANT or hf.co/ORG/REPO/path/file.gguf")
    repo = "/".join(parts[:2])
    path = "/".join(parts[2:]) or None
    if path is not None and not path.lower().endswith(".gguf"):
        raise ModelError(f"{path} is not a .gguf file", "name a GGUF file of the repo, or give a quantization level")
    return repo, quant, path


def endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


def _request(url: str, headers: dict | None = None) -> urllib.request.Request:
    h = {"User-Agent": "inpage"}
    token = os.environ.get("HF_TOKEN")
    if token:
        h["Authorization"] = f"Bearer {token}"
    return urllib.request.Request(url, headers={**h, **(headers or {})})


def _open(url: str, repo: str, headers: dict | None = None):
    try:
        return urllib.request.urlopen(_request(url, headers), timeout=60)
    except urllib.error.HTTPError as e:
        raise _http_error(e.code, repo) from None
    except urllib.error.URLError as e:
        raise ModelError(f"cannot reach {endpoint()}: {e.reason}", "check the network, or set HF_ENDPOINT to a mirror") from None


def _http_error(code: int, repo: str) -> ModelError:
    has_token = bool(os.environ.get("HF_TOKEN"))
    if code == 401:
        return ModelError(f"hf.co/{repo} needs a Hugging Face login (HTTP 401)",
                          "the token in HF_TOKEN was refused" if has_token else
                          "set HF_TOKEN to an access token from huggingface.co/settings/tokens")
    if code == 403:
        return ModelError(f"hf.co/{repo} is gated and this token has no access to it (HTTP 403)",
                          f"accept its terms on huggingface.co/{repo} with the account of HF_TOKEN")
    if code == 404:
        return ModelError(f"hf.co/{repo} was not found (HTTP 404)",
                          "check the name; a private repo needs HF_TOKEN" if not has_token else "check the name")
    return ModelError(f"the Hub answered HTTP {code} for hf.co/{repo}", "try again later")


def list_files(repo: str, revision: str = "main") -> list[HubFile]:
    url = f"{endpoint()}/api/models/{repo}/tree/{urllib.parse.quote(revision, safe='')}?recursive=true"
    with _open(url, repo) as r:
        entries = json.load(r)
    if not isinstance(entries, list):
        raise ModelError(f"the Hub's file list for hf.co/{repo} is not a list", "try again later")
    return [HubFile(e["path"], int(e.get("size", 0)), (e.get("lfs") or {}).get("oid"))
            for e in entries if e.get("type") == "file"]


def choose(files: list[HubFile], repo: str, quant: str | None, path: str | None) -> list[HubFile]:
    """The GGUF file(s) to fetch: the named one, or the one of QUANT; every part of a split GGUF."""
    ggufs = [f for f in files if f.path.lower().endswith(".gguf")]
    if path is not None:
        picked = [f for f in ggufs if f.path == path]
        if not picked:
            raise ModelError(f"hf.co/{repo} has no file {path}", _listing(ggufs))
    else:
        firsts = [f for f in ggufs if not SPLIT.match(f.path.rsplit("/", 1)[-1]) or
                  SPLIT.match(f.path.rsplit("/", 1)[-1])["i"] == "00001"]
        if not firsts:
            raise ModelError(f"hf.co/{repo} holds no GGUF file", "pick a repo with GGUF files (often named ...-GGUF)")
        wanted = [quant] if quant else list(DEFAULT_QUANTS)
        picked = []
        for q in wanted:
            token = re.compile(rf"(^|[^A-Za-z0-9]){re.escape(q)}([^A-Za-z0-9]|$)", re.IGNORECASE)
            picked = [f for f in firsts if token.search(f.path.rsplit("/", 1)[-1]) and "mmproj" not in f.path.lower()]
            if picked:
                break
        if not picked and quant is None and len(firsts) == 1:
            picked = firsts
        if not picked:
            raise ModelError(f"hf.co/{repo} has no GGUF file for {quant or 'a default level'}", _listing(ggufs))
        if len(picked) > 1:
            raise ModelError(f"hf.co/{repo} has several GGUF files for {quant}: {', '.join(f.path for f in picked)}",
                             "name one: hf.co/ORG/REPO/path/file.gguf")
    first = picked[0]
    m = SPLIT.match(first.path)
    if not m:
        return [first]
    n = int(m["n"])
    by_path = {f.path: f for f in ggufs}
    parts = [by_path.get(f"{m['stem']}-{i:05d}-of-{m['n']}.gguf") for i in range(1, n + 1)]
    if None in parts:
        raise ModelError(f"hf.co/{repo}: {first.path} is split in {n} parts but the repo lacks some", "pick another file")
    return parts


def _listing(ggufs: list[HubFile]) -> str:
    names = [f.path for f in ggufs][:12]
    return "its GGUF files: " + ", ".join(names) if names else "it has no GGUF files"


def download(repo: str, f: HubFile, dst: Path, revision: str = "main", progress=None) -> Path:
    """F into DST, resuming from DST.part, checked against the Hub's SHA-256 (LFS files)."""
    part = dst.with_name(dst.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    if f.size and have > f.size:
        part.unlink()
        have = 0
    url = f"{endpoint()}/{repo}/resolve/{urllib.parse.quote(revision, safe='')}/{urllib.parse.quote(f.path)}"
    if not f.size or have < f.size:
        headers = {"Range": f"bytes={have}-"} if have else {}
        with _open(url, repo, headers) as r:
            if have and r.status != 206:  # the server ignored the range: start again
                have = 0
            with part.open("ab" if have else "wb") as out:
                done = have
                while chunk := r.read(CHUNK):
                    out.write(chunk)
                    done += len(chunk)
                    if progress:
                        progress(f.path, done, f.size)
    if f.size and part.stat().st_size != f.size:
        raise ModelError(f"{f.path}: got {part.stat().st_size} of {f.size} bytes", "run the pull again to resume")
    if f.sha256:
        got = _sha256(part)
        if got != f.sha256:
            part.unlink()
            raise ModelError(f"{f.path}: SHA-256 {got[:12]}… differs from the Hub's {f.sha256[:12]}…",
                             "the download was damaged and has been deleted; run the pull again")
    part.replace(dst)
    return dst


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def default_id(repo: str, files: list[HubFile]) -> str:
    """A store id from the file name (else the repo): lower case, [a-z0-9._-], at most 64 characters."""
    stem = SPLIT.sub(r"\g<stem>", files[0].path.rsplit("/", 1)[-1])
    stem = re.sub(r"\.gguf$", "", stem, flags=re.IGNORECASE)
    return re.sub(r"[^a-z0-9._-]+", "-", stem.lower()).strip("-._")[:64] or re.sub(r"[^a-z0-9]+", "-", repo.lower())[:64]


def pull_hf(store: Store, ref: str, model_id: str | None = None, log=print, revision: str = "main") -> dict:
    repo, quant, path = parse_ref(ref)
    files = choose(list_files(repo, revision), repo, quant, path)
    model_id = model_id or default_id(repo, files)
    if store.has(model_id):
        raise ModelError(f"model {model_id!r} is already installed", "remove it first with `inpage models rm`")
    total = sum(f.size for f in files)
    log(f"hf.co/{repo}: {', '.join(f.path for f in files)} ({total / 2**20:.1f} MiB)")
    # Downloads live in the store's tmp folder under a name of the repo and file, so a second pull
    # resumes them; they are removed once imported.
    cache = store.tmp_dir / "hf" / re.sub(r"[^A-Za-z0-9.-]+", "_", repo)
    cache.mkdir(parents=True, exist_ok=True)
    local = [download(repo, f, cache / f.path.rsplit("/", 1)[-1], revision, _progress_bar(log)) for f in files]
    manifest = store.import_path(local[0], model_id, source={"kind": "huggingface", "repo": repo, "revision": revision,
                                                             "files": [f.path for f in files]})
    for p in local:
        p.unlink(missing_ok=True)
    return manifest


def _progress_bar(log):
    if log is not print or not sys.stderr.isatty():
        return None
    last = {}

    def show(name, done, size):
        pct = int(100 * done / size) if size else 0
        if last.get(name) != pct:
            last[name] = pct
            bar = "#" * (pct // 4)
            print(f"\r{name[-40:]:40} [{bar:25}] {pct:3d}%", end="", file=sys.stderr, flush=True)
            if done >= size:
                print(file=sys.stderr)
    return show
