import json

import pytest

from server import bench_report as br
from server.cli import main


def backend(decode, prefill, ttft, cold=2.0, warm=1.0):
    return {"cold_load_s": cold, "warm_load_s": warm, "decode_tps": br.summarize([decode, decode * 1.1]),
            "prefill_tps": br.summarize([prefill]), "ttft_s": br.summarize([ttft])}


def result(wasm_decode=90.0):
    backends = {"wasm": backend(wasm_decode, 330, 0.15), "wllama": backend(24, 37, 1.2)}
    return {"schema": br.SCHEMA, "backends": backends, "ratios": br.ratios(backends)}


def test_summary_and_ratios():
    assert br.summarize([3.0, 1.0, 2.0]) == {"median": 2.0, "min": 1.0, "max": 3.0, "runs": [3.0, 1.0, 2.0]}
    r = result()["ratios"]["wasm/wllama"]
    assert r["decode"] == pytest.approx(94.5 / 25.2)
    assert r["prefill"] == pytest.approx(330 / 37)
    assert r["ttft"] == pytest.approx(1.2 / 0.15)


def test_sane_names_each_implausible_figure():
    assert br.sane(result()) == []
    bad = result()
    bad["backends"]["wasm"]["warm_load_s"] = None
    bad["backends"]["wllama"]["decode_tps"] = br.summarize([24.0, float("nan")])
    bad["backends"]["wasm"]["prefill_tps"] = br.summarize([50.0])
    problems = br.sane(bad)
    assert any("wasm: warm_load_s" in p for p in problems)
    assert any("wllama: decode_tps" in p for p in problems)
    assert any("prefill 50.0 tok/s is not faster than decode" in p for p in problems)


def test_the_gate_compares_ratios_not_times():
    baseline = result(wasm_decode=90.0)
    ok, lines = br.compare(result(wasm_decode=85.0), baseline, max_regression_pct=10)
    assert ok and any("decode" in line and "ok" in line for line in lines)
    ok, lines = br.compare(result(wasm_decode=60.0), baseline, max_regression_pct=10)
    assert not ok and any("REGRESSION" in line for line in lines)
    missing = result()
    missing["ratios"] = {}
    assert br.compare(missing, baseline, 10)[0] is False


def test_reports_render(tmp_path):
    r = result()
    r.update(created="2026-11-25T00:00:00+00:00", model={"id": "m"}, browser={"name": "chromium", "version": "1"},
             machine={"cpu_count": 2}, settings={"runs": 2}, native={"skipped": "not installed"})
    text = br.table(r)
    assert "wasm/wllama: decode" in text and "native llama.cpp: skipped" in text
    br.write_html(r, tmp_path / "r.html")
    assert "<svg" in (tmp_path / "r.html").read_text()
    br.write_json(r, tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_text())["schema"] == br.SCHEMA


def test_a_baseline_that_is_not_a_bench_file_gets_one_line(tmp_path, capsys, store):
    bogus = tmp_path / "b.json"
    bogus.write_text('{"hello": 1}')
    code = main(["--home", str(store.home), "bench", "--baseline", str(bogus)])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "is not an inpage.bench/1 file" in err
