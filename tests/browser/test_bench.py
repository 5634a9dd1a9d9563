"""`pytest -m perf`: a short `inpage bench`; it checks that every figure is there and sane, not how fast."""
import json
import math
import os
from pathlib import Path

import pytest

from server.bench_report import SCHEMA, sane
from server.cli import main

pytestmark = pytest.mark.perf


def test_a_short_bench_reports_every_figure(model_home, tmp_path, capsys):
    out = Path(os.environ.get("INPAGE_BENCH_JSON") or tmp_path / "bench.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    report = tmp_path / "bench.html"
    code = main(["--home", str(model_home), "bench", "--runs", "2", "--prompt-tokens", "32", "--gen-tokens", "24",
                 "--json", str(out), "--html", str(report)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    result = json.loads(out.read_text())
    assert result["schema"] == SCHEMA
    assert set(result["backends"]) == {"wasm", "wllama"}
    assert sane(result) == []
    for name, r in result["backends"].items():
        assert r["threads"] >= 1 and r["isolated"] is True
        assert r["shards_from_storage_warm"] == len(result["model"]["shards"]), f"{name}: warm load downloaded"
        assert r["prompt_tokens"] >= 32
        for key in ("ttft_s", "prefill_tps", "decode_tps"):
            assert len(r[key]["runs"]) == 2
            assert r[key]["min"] <= r[key]["median"] <= r[key]["max"]
    ratio = result["ratios"]["wasm/wllama"]
    assert all(math.isfinite(v) and v > 0 for v in ratio.values())
    assert result["browser"]["version"] and result["model"]["shards"]
    assert "wasm/wllama: decode" in printed
    assert "<svg" in report.read_text()
