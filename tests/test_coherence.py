"""Coherence as prompt-continuation cosine: a continuation for another prompt scores lower."""

import sys
import types

import numpy as np
import pytest

from helpers.coherence import (
    TFIDF_LABEL,
    CoherenceError,
    coherence,
    embedding_coherence,
    tfidf_coherence,
)

PROMPTS = [
    "The king rides out to battle with his army at dawn.",
    "The ship sails into the storm and the sailors pray.",
    "She reads the letter from her lover by the candle.",
]
OWN = [
    "His army follows the king, and the battle is bloody before noon.",
    "The storm breaks the mast; the sailors cry out as the ship sinks.",
    "By the candle she reads it again: her lover will not come.",
]


def test_tfidf_stand_in_prefers_each_prompts_own_continuation():
    matched = tfidf_coherence(PROMPTS, OWN)
    for shift in (1, 2):  # every continuation paired with another prompt
        swapped = tfidf_coherence(PROMPTS, OWN[shift:] + OWN[:shift])
        assert (swapped.values < matched.values).all()
    assert matched.method == TFIDF_LABEL and "stand-in" in matched.method
    assert np.all((matched.values >= 0) & (matched.values <= 1 + 1e-12))


def test_tfidf_by_hand():
    """Two texts, one shared word: the cosine is that word's weight share, computed here."""
    scores = tfidf_coherence(["a b"], ["b c"], idf_documents=["a b", "b c", "b"])
    idf = {"a": np.log(4 / 2) + 1, "b": np.log(4 / 4) + 1, "c": np.log(4 / 2) + 1}
    expected = idf["b"] ** 2 / (np.hypot(idf["a"], idf["b"]) * np.hypot(idf["b"], idf["c"]))
    assert scores.values[0] == pytest.approx(expected)
    assert tfidf_coherence(["x y"], ["   "]).values[0] == 0.0  # nothing to compare: 0


def test_embedding_path_uses_the_named_model_and_cosines(monkeypatch):
    """A stand-in sentence-transformers: one fixed direction per text's first word."""
    directions = {"the": [1.0, 0.0, 0.0], "his": [0.9, 0.1, 0.0], "she": [0.0, 0.0, 2.0],
                  "by": [0.0, 0.1, 1.0]}  # fmt: skip
    loaded = []

    class FakeEncoder:
        def __init__(self, name, device=None):
            loaded.append(name)

        def encode(self, texts, convert_to_numpy=True):
            return np.array([directions[t.split()[0].lower()] for t in texts])

    fake = types.ModuleType("sentence_transformers")
    fake.SentenceTransformer = FakeEncoder
    monkeypatch.setitem(sys.modules, "sentence_transformers", fake)
    prompts, own = [PROMPTS[0], PROMPTS[2]], [OWN[0], OWN[2]]
    matched = coherence(prompts, own, "embedding", model_name="some/encoder")
    swapped = embedding_coherence(prompts, own[::-1], "some/encoder")
    assert loaded == ["some/encoder", "some/encoder"]
    assert matched.values[0] == pytest.approx(0.9 / np.hypot(0.9, 0.1))
    assert (swapped.values < matched.values).all()
    assert "some/encoder" in matched.method


def test_missing_package_says_what_to_do(monkeypatch):
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # import fails
    with pytest.raises(CoherenceError, match="tfidf_coherence"):
        embedding_coherence(PROMPTS, OWN)


@pytest.mark.parametrize(
    ("prompts", "continuations", "method", "message"),
    [
        (PROMPTS, OWN[:2], "tfidf", "one continuation per prompt"),
        ("a prompt", "a text", "tfidf", "lists of texts"),
        (PROMPTS, OWN, "bert", "Unknown coherence method"),
    ],
)
def test_bad_inputs_say_what_to_change(prompts, continuations, method, message):
    with pytest.raises(CoherenceError, match=message):
        coherence(prompts, continuations, method)
