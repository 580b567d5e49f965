"""MAUVE runs only where its package and the Hub are; elsewhere it says why, clearly."""

import sys
import types

import pytest

import helpers.environment
from helpers.mauve_score import MauveUnavailable, mauve_against_human, mauve_available


def test_offline_it_says_why_and_raises(monkeypatch):
    monkeypatch.setattr(helpers.environment, "is_online", lambda *a, **k: False)
    fake = types.ModuleType("mauve")
    monkeypatch.setitem(sys.modules, "mauve", fake)
    fake.__spec__ = types.SimpleNamespace(name="mauve")
    ok, why = mauve_available()
    assert not ok and "Hub" in why
    with pytest.raises(MauveUnavailable, match="cannot run here"):
        mauve_against_human(["a b", "c d"], ["e f", "g h"])


def test_online_it_passes_human_as_p_and_generated_as_q(monkeypatch):
    calls = []

    def compute_mauve(**kwargs):
        calls.append(kwargs)
        return types.SimpleNamespace(mauve=0.42)

    fake = types.ModuleType("mauve")
    fake.compute_mauve = compute_mauve
    fake.__spec__ = types.SimpleNamespace(name="mauve")
    monkeypatch.setitem(sys.modules, "mauve", fake)
    monkeypatch.setattr(helpers.environment, "is_online", lambda *a, **k: True)
    score = mauve_against_human(["gen 1", "gen 2"], ["human 1", "human 2"], feature_model="m")
    assert score == 0.42
    assert calls[0]["p_text"] == ["human 1", "human 2"]
    assert calls[0]["q_text"] == ["gen 1", "gen 2"]
    assert calls[0]["featurize_model_name"] == "m"


def test_too_few_texts_is_a_clear_error():
    with pytest.raises(ValueError, match="at least 2"):
        mauve_against_human(["only one"], ["a", "b"])
