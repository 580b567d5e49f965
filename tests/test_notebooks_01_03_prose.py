"""The prose of notebooks 01-03 states no measured figure it cannot show.

A figure measured in a notebook (a time, a speed-up, a ratio, a perplexity) changes with
the machine, the mode and the model, so the notebooks build such sentences from the
values (``display(Markdown(f"..."))``) or assert them in the cell that shows them. These
tests scan the notebooks' sources (the jupytext ``.py`` files) for markdown that states
one anyway, and check the corpus facts that notebook 03's sample prompts rely on.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
OWN = ["01_setup_and_model", "02_dataset", "03_fine_tuning"]

MEASURED = re.compile(
    r"(?<![\w.$])\d[\d,]*(?:\.\d+)?\$?\s*"
    r"(?:×|x\b|times\b|%|s\b|seconds\b|minutes\b|bits\b|characters per token|nats\b|tokens/s)"
)
"""A number followed by the unit of something measured."""

ALLOWED = {
    "the last 10 % of the text is validation",  # a setting, not a measurement
    "exponent range (8 bits)",  # bfloat16's format, by definition
    "Give the run 5 × the time budget",  # an exercise's setting
}
"""Phrases with a number and a unit that state a definition or a setting."""


def markdown_lines(notebook: str) -> list[str]:
    """The lines of the markdown cells of ``notebooks/<notebook>.py``."""
    text = (NOTEBOOKS / f"{notebook}.py").read_text(encoding="utf-8")
    cells = re.split(r"^# %%", text, flags=re.MULTILINE)
    return [line for cell in cells if cell.startswith(" [markdown]") for line in cell.splitlines()]


def stated_figures(lines: list[str]) -> list[str]:
    """Lines that state a measured figure, except the allowed phrases."""
    return [
        line
        for line in lines
        if MEASURED.search(line) and not any(phrase in line for phrase in ALLOWED)
    ]


def test_the_scan_finds_a_typed_in_figure():
    lines = [
        "# this loop trains about 1.5 times as many tokens per second",
        "# (here $c \\approx 3.1$ characters per token)",
        "# a 128-token example is over 90 % padding",
        "# training took 406.1 s",
    ]
    assert stated_figures(lines) == lines
    assert stated_figures(["# 50,257 tokens", "# GPT-2 small, 124 M parameters"]) == []


@pytest.mark.parametrize("notebook", OWN)
def test_markdown_states_no_measured_figure(notebook):
    found = stated_figures(markdown_lines(notebook))
    assert not found, (
        f"{notebook}.py states measured figures in markdown: {found}. Build the sentence "
        f"from the value (display(Markdown(f'...'))) or assert it in the cell that shows it."
    )


@pytest.mark.parametrize(
    "typed_in",
    [
        "ROMEO:",  # the corpus writes speakers as 'Romeo.' on a line of their own
        "256 for the offline",  # the context comes from the model's config
        "listed by token id",  # torch.topk gives ties in no promised order
        "1.5 times as many tokens",  # a speed-up without its conditions
    ],
)
def test_notebooks_drop_the_claims_the_outputs_contradicted(typed_in):
    for notebook in OWN:
        text = (NOTEBOOKS / f"{notebook}.py").read_text(encoding="utf-8")
        assert typed_in not in text, f"{notebook}.py still says {typed_in!r}"


def test_the_corpus_writes_speakers_as_notebook_03_expects():
    """Notebook 03's first prompt is the most frequent 'Name.' line of the training works;
    the plays must write speakers that way, and (almost) never as 'NAME:'."""
    from helpers.data import COURSE_SPLIT, course_documents, split_by_document

    splits = split_by_document(course_documents(), **COURSE_SPLIT)
    lines = [line for text in splits["train"]["text"] for line in text.splitlines()]
    speakers = [line for line in lines if re.fullmatch(r"[A-Z][A-Za-z]+\.", line)]
    assert len(speakers) > 100, "the training works have no 'Name.' speaker lines"
    with_colon = [line for line in lines if re.fullmatch(r"[A-Z][A-Za-z]+:", line)]
    assert len(with_colon) < 0.01 * len(speakers), with_colon[:5]  # e.g. a "SCENE:" heading
    assert "ROMEO:" not in lines
