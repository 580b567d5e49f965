from helpers.sweeps import cached, fingerprint


def test_fingerprint_ignores_key_order_but_not_values():
    assert fingerprint({"a": 1, "b": [2, 3]}) == fingerprint({"b": [2, 3], "a": 1})
    assert fingerprint({"a": 1}) != fingerprint({"a": 2})


def test_a_sweep_runs_once_per_settings(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return {"ppl": [3.5, 2.25]}

    first, hit1 = cached("lr", {"lr": [1e-3]}, compute, tmp_path)
    second, hit2 = cached("lr", {"lr": [1e-3]}, compute, tmp_path)
    third, hit3 = cached("lr", {"lr": [2e-3]}, compute, tmp_path)
    assert first == second == third == {"ppl": [3.5, 2.25]}
    assert (hit1, hit2, hit3) == (False, True, False) and len(calls) == 2
    assert not list(tmp_path.glob("*.tmp"))


def test_a_changed_training_loop_misses_the_cache_and_clears_the_stale_result(
    tmp_path, monkeypatch
):
    """Notebook 06 must not pass from results the current code did not compute."""
    from helpers import sweeps

    package = tmp_path / "helpers"
    (package / "training").mkdir(parents=True)
    loop = package / "training" / "loop.py"
    loop.write_text("def loop():\n    return 1\n")
    (package / "data.py").write_text("BLOCK = 64\n")
    monkeypatch.setattr(sweeps, "HELPERS_DIR", package)
    results = tmp_path / "sweeps"
    calls = []

    def compute():
        calls.append(1)
        return len(calls)

    assert cached("lr", {"lr": 1}, compute, results) == (1, False)
    assert cached("lr", {"lr": 1}, compute, results) == (1, True)
    assert cached("other", {"x": 1}, compute, results) == (2, False)
    loop.write_text("def loop():\n    return 2  # a changed training loop\n")
    assert cached("lr", {"lr": 1}, compute, results) == (3, False)
    assert cached("lr", {"lr": 1}, compute, results) == (3, True)
    # the result of the old code is gone; another sweep's is not this sweep's business
    names = sorted(p.name.split("-")[0] for p in results.glob("*.json"))
    assert names == ["lr", "other"]
    # only the modules named, when named
    assert cached("lr", {"lr": 1}, compute, results, code=["data"]) == (4, False)
    loop.write_text("def loop():\n    return 3\n")
    assert cached("lr", {"lr": 1}, compute, results, code=["data"]) == (4, True)


def test_by_default_the_key_covers_every_helper_module():
    from helpers import sweeps

    files = {p.relative_to(sweeps.HELPERS_DIR).as_posix() for p in sweeps.code_files()}
    assert {"training/loop.py", "training/loss.py", "data.py", "modeling.py"} <= files
    assert [p.name for p in sweeps.code_files(["data"])] == ["data.py"]
    assert "loop.py" in [p.name for p in sweeps.code_files(["training"])]
