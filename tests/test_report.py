"""`inpage models report`: the text, perplexity, the table and the chart (the browser part is in
tests/browser/test_report.py)."""
import math

import numpy as np
import pytest

from models import reference
from models.convert_hf import convert_dir
from models.corpus import plain_text
from models.perplexity import log_softmax, perplexity
from server import report
from server.cli import main

from .hf_fixtures import tiny_llama_dir


def test_plain_text_keeps_the_words_and_drops_the_markup():
    md = ("# Julius Caesar\n\n## ACT I\n\n### SCENE I. Rome. A street.\n\n_Enter FLAVIUS, MARULLUS_\n\n"
          "**FLAVIUS**  \nHence! home, you idle creatures get you home:  \nIs this a holiday?\n\n\n\n"
          "_\\[Aside]_  \nmy_var stays\n")
    assert plain_text(md) == ("Julius Caesar\n\nACT I\n\nSCENE I. Rome. A street.\n\nEnter FLAVIUS, MARULLUS\n\n"
                              "FLAVIUS\nHence! home, you idle creatures get you home:\nIs this a holiday?\n\n"
                              "[Aside]\nmy_var stays\n")


def test_perplexity_scores_the_second_half_of_each_window(tmp_path):
    model = convert_dir(tiny_llama_dir(tmp_path / "hf"), tmp_path / "tiny.gguf")
    tokens = list(np.random.default_rng(1).integers(0, 265, 70))
    got = perplexity(model, tokens, n_ctx=16, n_windows=3)
    cfg, w = reference.load(model)
    nll = 0.0
    for k in range(3):
        ids = tokens[16 * k:16 * (k + 1)]
        logp = log_softmax(reference.forward(cfg, w, ids).astype(np.float64))
        nll -= sum(logp[t, ids[t + 1]] for t in range(8, 15))
    assert got["scored_tokens"] == 21 and got["windows"] == 3
    assert got["perplexity"] == pytest.approx(math.exp(nll / 21), rel=1e-9)
    with pytest.raises(ValueError, match="do not fill one"):
        perplexity(model, tokens[:10], n_ctx=16)


def sample_report():
    rows = []
    for level, mib, ppl, tps in (("Q4_1 (stored)", 94, 20.5, 80.0), ("F16", 258, 20.0, 13.0), ("Q8_0", 138, 20.1, 45.0),
                                 ("Q3_K_M", 89, 23.0, 57.0)):
        rows.append({"level": level, "bytes": mib * 2**20, "bits_per_weight": mib * 8 * 2**20 / 134.5e6,
                     "perplexity": ppl, "perplexity_change": ppl - 20.0, "perplexity_change_pct": 100 * (ppl / 20 - 1),
                     "decode_tps": tps, "backend": "wasm"})
    return {"created": "2026-11-25T00:00:00+00:00", "levels": rows,
            "model": {"id": "m", "name": "M", "quantization": "Q4_1", "parameter_count": 134_500_000},
            "text": {"description": "a play", "tokens": 9000, "scored_tokens": 2040, "n_ctx": 512, "windows": 8},
            "speed": {"runs": 3, "gen_tokens": 64, "prompt_tokens": 48, "browser": "156", "machine": "x86_64, 2 cores"}}


def test_table_and_files(tmp_path):
    r = sample_report()
    table = report.markdown_table(r).splitlines()
    assert table[2] == "| Q4_1 (stored) | 94.0 MiB | 5.86 | 20.50 | +0.50 (+2.5%) | 80.0 |"
    assert table[3] == "| F16 | 258.0 MiB | 16.09 | 20.00 | - | 13.0 |"
    assert table[5] == "| Q3_K_M | 89.0 MiB | 5.55 | 23.00 | +3.00 (+15.0%) | 57.0 |"
    report.write(r, tmp_path / "out")
    assert (tmp_path / "out/report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (tmp_path / "out/report.md").read_text()
    assert "requantized from the stored Q4_1 weights" in md and "2040 tokens scored" in md and "\n".join(table) in md


def test_bad_arguments_are_one_line(capsys, store, tiny_gguf):
    assert main(["--home", str(store.home), "models", "report", "nope"]) == 1
    assert "model 'nope' is not installed" in capsys.readouterr().err
    assert main(["--home", str(store.home), "models", "report", "nope", "--levels", "Q9_K"]) == 1
    assert "unknown quantization 'Q9_K'" in capsys.readouterr().err


def test_an_embedding_model_is_refused(capsys, minilm, model_home):
    assert main(["--home", str(model_home), "models", "report", "minilm-l6"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "minilm-l6 is a bert model" in err
