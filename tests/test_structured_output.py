"""Constrained output from the real default model through the engine's OpenAI-shaped API, in node on
both of our backends: every answer parses and validates (Ajv) against its schema, and a tool call's
arguments validate against the function's parameters, in a call, tool result, answer exchange."""
import json
import subprocess

from models.pull import DEFAULT_MODEL
from models.store import Store

from .test_webgpu_kernels import ROOT, node_env


def run(model_home, backend, *args):
    model_dir = Store(model_home).model_dir(DEFAULT_MODEL)
    r = subprocess.run(["node", "--import", "./webgpu/node/register.js", "tests/structured_output.mjs", backend, str(model_dir), *args],
                       cwd=ROOT, env=node_env(), capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def check(out):
    for r in out["results"]:
        print(f"{out['backend']} {r['name']}: {r['text']!r} ({r['finish_reason']}, grammar {r['grammar']})")
    bad = [(r["name"], r["text"], r["error"]) for r in out["results"] if not r["valid"] or r["finish_reason"] != "stop"]
    assert not bad, bad


def test_every_schema_answer_validates_on_wasm(model_home):
    out = run(model_home, "wasm")
    assert len(out["results"]) == 21
    check(out)
    tool = out["tool"]
    assert tool["finish_reason"] == "tool_calls" and tool["call"]["function"]["name"] == "get_weather"
    assert tool["arguments_valid"], tool["call"]
    # The turn after the tool's result is an answer, not another call.
    assert tool["answer_finish_reason"] == "stop" and "tool_calls" not in tool["answer"]


def test_schema_answers_validate_on_webgpu(model_home):
    # SwiftShader runs WebGPU on the CPU here at seconds a token: two short schemas, no tools.
    out = run(model_home, "webgpu", "enum,bounded integer", "no-tools")
    assert len(out["results"]) == 2
    check(out)
