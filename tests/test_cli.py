from server.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_import_list_verify_rm(capsys, store, tiny_gguf):
    home = str(store.home)
    code, out, _ = run(capsys, "--home", home, "models", "import", str(tiny_gguf), "--id", "tiny")
    assert code == 0 and out.startswith("imported tiny: llama Q8_0")
    code, out, _ = run(capsys, "--home", home, "models", "list")
    assert code == 0 and "tiny" in out and "Q8_0" in out
    code, out, _ = run(capsys, "--home", home, "models", "verify", "tiny")
    assert code == 0 and "OK" in out
    code, out, _ = run(capsys, "--home", home, "models", "rm", "tiny")
    assert code == 0 and store.list() == []


def test_verify_of_a_corrupt_model_names_the_shard_and_fails(capsys, store, tiny_model):
    shard = tiny_model["shards"][-1]
    (store.model_dir("tiny") / shard["file"]).write_bytes(b"x" * shard["bytes"])
    code, _, err = run(capsys, "--home", str(store.home), "models", "verify", "tiny")
    assert code == 1
    assert f"shard {shard['file']}: sha256 mismatch" in err


def test_bad_input_gets_one_line_and_exit_1(capsys, store, tmp_path):
    bad = tmp_path / "notes.gguf"
    bad.write_text("hello")
    code, out, err = run(capsys, "--home", str(store.home), "models", "import", str(bad))
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith("inpage: notes.gguf: not a GGUF file")
    code, _, err = run(capsys, "--home", str(store.home), "models", "verify", "nope")
    assert code == 1 and "is not installed" in err


def test_list_on_an_empty_store_says_how_to_pull(capsys, store):
    code, out, _ = run(capsys, "--home", str(store.home), "models", "list")
    assert code == 0 and "inpage models pull smollm2-135m" in out
