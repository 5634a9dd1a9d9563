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


def test_bench_runs_webgpu_on_a_software_adapter_and_counts_its_work_per_token(model_home, tmp_path, capsys):
    out = tmp_path / "bench.json"
    code = main(["--home", str(model_home), "bench", "--backend", "webgpu", "--runs", "1", "--prompt-tokens", "8",
                 "--gen-tokens", "3", "--json", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    result = json.loads(out.read_text())
    assert set(result["backends"]) == {"webgpu"}
    r = result["backends"]["webgpu"]
    # Headless Chromium's WebGPU here is SwiftShader: measured, and marked as no GPU figure.
    assert r["software_adapter"] is True and r["adapter"]["software"] is True
    assert "webgpu (software adapter, not a GPU figure)" in printed
    assert sane(result) == []
    # The fusion target, from the engine's own counters: at most 8 dispatches per layer plus the
    # embedding, final norm, output and arg-max; one submit and a 4-byte token id per step.
    n_layers = 30  # SmolLM2-135M
    assert r["per_token"] == {"dispatches_per_token": 8 * n_layers + 4, "submits_per_token": 1, "readback_bytes_per_token": 4}
    assert "244 dispatches, 1 submits and 4 bytes read back per decoded token" in printed
    print(printed)


def test_the_structured_suite_compares_constrained_and_free_decoding(model_home, tmp_path, capsys):
    out = tmp_path / "structured.json"
    code = main(["--home", str(model_home), "bench", "--suite", "structured", "--runs", "1", "--gen-tokens", "96",
                 "--json", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    result = json.loads(out.read_text())
    assert set(result["modes"]) == {"json_object", "json_schema"} and result["backend"] == "wasm"
    for mode, m in result["modes"].items():
        assert 0 < m["completion_tokens"]["median"] <= 96
        assert m["grammar"]["steps"] >= m["completion_tokens"]["median"] - 1
        assert math.isfinite(result["ratio_to_free"][mode]) and result["ratio_to_free"][mode] > 0
    assert "json_schema" in printed and "ratio" in printed
