"""Stated figures against shown figures (helpers.claims), on small made-up notebooks."""

from __future__ import annotations

import re

import nbformat
import pytest

from helpers.claims import CLAIMS, Claim, check_executed, output_text, problems_in

RATIO = Claim(
    "characters per token",
    prose=r"about (?P<value>\d+\.\d+) characters per token",
    output=r"characters per token: (?P<value>\d+\.\d+)",
    absolute=0.05,
)


def notebook(prose: str, printed: str, markdown_output: str = "") -> nbformat.NotebookNode:
    code = nbformat.v4.new_code_cell("print(...)")
    code.outputs = [nbformat.v4.new_output("stream", name="stdout", text=printed)]
    if markdown_output:
        code.outputs.append(
            nbformat.v4.new_output("display_data", data={"text/markdown": markdown_output})
        )
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(prose), code])


def test_a_figure_the_output_shows_passes():
    nb = notebook("The corpus has about 3.2 characters per token.", "characters per token: 3.23\n")
    assert problems_in(nb, [RATIO]) == []


def test_a_figure_the_output_contradicts_is_reported_with_both_values():
    nb = notebook("The corpus has about 3.1 characters per token.", "characters per token: 3.23\n")
    (problem,) = problems_in(nb, [RATIO])
    assert "3.1" in problem and "3.23" in problem


def test_a_claim_whose_sentence_or_output_vanished_is_reported():
    gone_from_prose = notebook("Nothing to see.", "characters per token: 3.23\n")
    gone_from_output = notebook("about 3.2 characters per token", "something else\n")
    assert "no longer says it" in problems_in(gone_from_prose, [RATIO])[0]
    assert "no output shows it" in problems_in(gone_from_output, [RATIO])[0]


def test_displayed_markdown_counts_as_output():
    nb = notebook("x", "", markdown_output="characters per token: 3.20")
    assert "characters per token: 3.20" in output_text(nb)


def test_relative_tolerance_and_thousands_separators():
    claim = Claim(
        "tokens", r"(?P<value>[\d,]+) tokens", r"tokens: (?P<value>[\d,]+)", relative=0.01
    )
    assert problems_in(notebook("1,000,000 tokens", "tokens: 1,005,000"), [claim]) == []
    assert problems_in(notebook("1,000,000 tokens", "tokens: 1,050,000"), [claim]) != []


def test_check_executed_reads_an_executed_file_by_its_stem(tmp_path):
    path = tmp_path / "03_fine_tuning.executed.ipynb"
    nbformat.write(notebook("about 9.9 characters per token", "characters per token: 3.23\n"), path)
    problems = check_executed(path, {"03_fine_tuning": (RATIO,)})
    assert len(problems) == 1 and problems[0].startswith("03_fine_tuning.executed.ipynb")
    assert check_executed(path, {}) == []


def test_a_figure_stated_in_words_is_checked_against_its_range():
    third = Claim("a third", r"almost a third", r"share: (?P<value>\d+)%", low=28, high=33.3)
    assert problems_in(notebook("almost a third of it", "share: 31%"), [third]) == []
    assert problems_in(notebook("almost a third of it", "share: 12%"), [third]) != []


def test_the_table_covers_several_notebooks():
    assert len(CLAIMS) >= 5 and sum(len(claims) for claims in CLAIMS.values()) >= 10


@pytest.mark.parametrize("stem", sorted(CLAIMS))
def test_every_claimed_sentence_is_still_in_its_notebook(stem):
    """The prose does not change when a notebook runs: check it on the sources."""
    import jupytext

    from helpers.claims import markdown_text
    from helpers.environment import project_root

    source = jupytext.read(project_root() / "notebooks" / f"{stem}.py")
    prose = markdown_text(source)
    for claim in CLAIMS[stem]:
        assert "(?P<value>" in claim.output, f"{stem}/{claim.name}: no value in {claim.output!r}"
        assert re.search(claim.prose, prose), f"{stem}/{claim.name}: {claim.prose!r} not found"
