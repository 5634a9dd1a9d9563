"""`inpage models report` end to end on the default model, with tiny settings: every level is
requantized, measured for perplexity and for decode speed in the page, and written out."""
import json
import math
import shutil
import subprocess
import sys

from models.pull import DEFAULT_MODEL
from models.store import Store
from server import ROOT


def test_a_short_report_measures_every_level(model_home, tmp_path):
    home = tmp_path / "home"      # a store of its own: the five levels must not crowd the shared one
    shutil.copytree(Store(model_home).model_dir(DEFAULT_MODEL), Store(home).model_dir(DEFAULT_MODEL))
    out = tmp_path / "report"
    # The real command, in a process of its own: it drives Chromium with Playwright itself, which
    # cannot share this process with pytest-playwright's running event loop.
    proc = subprocess.run([sys.executable, "-m", "server.cli", "--home", str(home), "models", "report", DEFAULT_MODEL,
                           "--out", str(out), "--windows", "1", "--ctx", "64", "--runs", "1", "--gen-tokens", "8"],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "| Q4_K_M |" in proc.stdout
    r = json.loads((out / "report.json").read_text())
    levels = [row["level"] for row in r["levels"]]
    assert levels == ["Q4_1 (stored)", "F16", "Q8_0", "Q5_K_M", "Q4_K_M", "Q3_K_M"]
    rows = {row["level"]: row for row in r["levels"]}
    sizes = [rows[x]["bytes"] for x in levels[1:]]
    assert sizes == sorted(sizes, reverse=True)
    for row in r["levels"]:
        assert math.isfinite(row["perplexity"]) and row["perplexity"] > 1
        assert row["decode_tps"] > 0 and row["backend"] == "wasm"
    # F16 holds the stored Q4_1 weights exactly widened, so it scores the same text the same way.
    assert abs(rows["F16"]["perplexity"] / rows["Q4_1 (stored)"]["perplexity"] - 1) < 0.01
    assert r["text"]["tokens"] > 30_000 and r["text"]["scored_tokens"] == 31
    assert (out / "report.png").stat().st_size > 10_000
    assert "| Q3_K_M |" in (out / "report.md").read_text()
    assert Store(home).verify("smollm2-135m-q4-k-m") == []
    assert list(Store(home).tmp_dir.iterdir()) == []
