"""`inpage cost`: monthly cost of one workload on a cloud API, this machine and a GPU box, from a
measured bench and the router's token counts; every input shown, prices only as editable examples."""
import json

import pytest

from server.cli import main

BENCH = {"schema": "inpage.bench/1", "created": "2026-11-30T00:00:00Z", "model": {"id": "smollm2-135m", "quantization": "Q4_1"},
         "backends": {"wasm": {"threads": 2, "decode_tps": {"median": 100.0}, "prefill_tps": {"median": 1000.0}},
                      "wllama": {"threads": 2, "decode_tps": {"median": 10.0}, "prefill_tps": {"median": 100.0}}}}


def answer(tier, prompt, completion):
    return {"role": "assistant", "content": "x", "route": {"tier": tier, "model": "m", "reason": "r"},
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion}}


@pytest.fixture
def bench(tmp_path):
    path = tmp_path / "bench.json"
    path.write_text(json.dumps(BENCH))
    return path


def run(capsys, *args):
    code = main(["cost", *map(str, args)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_each_option_costs_what_its_inputs_say(capsys, bench, tmp_path):
    code, out, _ = run(capsys, "--bench", bench, "--output-share", 0.3, "--json", tmp_path / "r.json")
    assert code == 0
    r = json.loads((tmp_path / "r.json").read_text())
    o = r["options"]
    # 1M tokens a day: 300k completions, 700k prompt tokens; a 30-day month.
    assert o["cloud"]["monthly"] == pytest.approx((0.7 * 0.15 + 0.3 * 0.60) * 30)
    busy = 300_000 / 100 + 700_000 / 1000  # seconds a day at the fastest backend's measured speeds (wasm)
    assert r["measured"]["backend"] == "wasm"
    assert o["machine"]["busy_hours_per_day"] == pytest.approx(busy / 3600)
    assert o["machine"]["monthly"] == pytest.approx(busy / 3600 * 0.065 * 0.30 * 30)
    gpu_busy = 300_000 / 2500 + 700_000 / 20000
    assert o["gpu"]["monthly"] == pytest.approx(1500 + gpu_busy / 3600 * 0.7 * 0.30 * 30)
    # Break-even: where the box's fixed cost equals what the cloud charges above the box's electricity.
    per_token_cloud = (0.7 * 0.15 + 0.3 * 0.60) / 1e6
    per_token_gpu = (0.3 / 2500 + 0.7 / 20000) / 3600 * 0.7 * 0.30
    assert r["break_even"]["gpu_vs_cloud_tokens_per_day"] == pytest.approx(1500 / 30 / (per_token_cloud - per_token_gpu))
    assert r["break_even"]["machine_capacity_tokens_per_day"] == pytest.approx(86400 / (0.3 / 100 + 0.7 / 1000))
    # Every input is printed beside the result, and the prices are called examples.
    for text in ["100.0 tok/s", "1000.0 tok/s", "$0.15 per 1M prompt", "$0.6 per 1M completion", "$0.3/kWh", "65 W", "$40/month for each more machine",
                 "$1,500/month", "700 W", "2,500 completion tok/s", "examples to edit, not current prices", "Break-even"]:
        assert text in out, text


def test_past_one_machines_capacity_it_says_how_many_it_takes(capsys, bench, tmp_path):
    code, out, _ = run(capsys, "--bench", bench, "--tokens-per-day", 50_000_000, "--output-share", 0.5, "--json", tmp_path / "r.json")
    r = json.loads((tmp_path / "r.json").read_text())
    need = 25_000_000 / 100 + 25_000_000 / 1000
    machines = -(-need // 86400)
    assert r["options"]["machine"]["machines"] == machines
    energy = need / 3600 * 0.065 * 0.30 * 30
    assert r["options"]["machine"]["monthly"] == pytest.approx(energy + (machines - 1) * 40)
    assert f"needs {r['options']['machine']['machines']} machines like it" in out


def test_the_router_counts_set_the_mix_and_the_as_routed_row(capsys, bench, tmp_path):
    export = {"format": "inpage.conversations", "version": 1, "conversations": [
        {"messages": [{"role": "user", "content": "q"}, answer("fast", 300, 100), answer("capable", 300, 100),
                      answer("remote", 150, 50), {"role": "assistant", "content": "no usage"}]}]}
    path = tmp_path / "export.json"
    path.write_text(json.dumps(export))
    code, out, _ = run(capsys, "--bench", bench, "--conversations", path, "--json", tmp_path / "r.json", "--chart", tmp_path / "c.svg")
    assert code == 0
    r = json.loads((tmp_path / "r.json").read_text())
    assert r["router_counts"] == {"fast": {"prompt_tokens": 300, "completion_tokens": 100, "answers": 1},
                                  "capable": {"prompt_tokens": 300, "completion_tokens": 100, "answers": 1},
                                  "remote": {"prompt_tokens": 150, "completion_tokens": 50, "answers": 1}}
    assert r["output_share"] == pytest.approx(250 / 1000)
    assert r["as_routed"]["remote_share"] == pytest.approx(0.2)
    assert "As routed (80% local, 20% remote)" in out and "router's counts: capable 1 answers" in out
    svg = (tmp_path / "c.svg").read_text()
    assert svg.startswith("<?xml") and "tokens a day" in svg


@pytest.mark.parametrize("args,message", [
    (["--bench", "missing.json"], "run `inpage bench --json FILE`"),
    (["--backend", "webgpu"], "no backend 'webgpu'; it has wasm, wllama"),
    (["--output-share", "1.5"], "between 0 and 1"),
    (["--conversations", "missing.json"], "Export all (JSON)"),
])
def test_bad_inputs_get_one_line_that_says_what_to_do(capsys, bench, tmp_path, args, message):
    if "--bench" not in args:
        args = ["--bench", str(bench), *args]
    code, _, err = run(capsys, *[str(tmp_path / a) if a.endswith(".json") and a != str(bench) else a for a in args])
    assert code == 1
    assert err.count("\n") == 1 and message in err
