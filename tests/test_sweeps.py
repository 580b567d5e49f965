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
