"""The report's formatting helpers: numbers, durations, keys and samples for people."""

import math

import pytest

from helpers.report.formatting import (
    count,
    duration,
    humanize,
    metric,
    number,
    percent,
    visible_lines,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (13278976, "13,278,976"),
        (50257.013861170606, "50,257"),
        (983.1459725711197, "983"),
        (30.395702596747558, "30.4"),
        (3.099143478522959, "3.10"),
        (0.6927107776490375, "0.693"),
        (0.0, "0"),
        (-12.5, "−12.5"),
        (math.nan, "–"),
        (None, "–"),
        (math.inf, "∞"),
    ],
)
def test_number_picks_a_precision_that_suits_the_size(value, expected):
    assert number(value) == expected


def test_number_with_fixed_digits_and_bad_input():
    assert number(1234.5678, digits=2) == "1,234.57"
    with pytest.raises(TypeError, match="not str"):
        number("12")


def test_counts_percentages_and_durations():
    assert count(13278976) == "13.3 M" and count(124439808) == "124 M"
    assert count(295522) == "296 k" and count(2016) == "2,016"
    assert percent(0.9265) == "92.7 %" and percent(math.nan) == "–"
    assert duration(2.5) == "2.5 s" and duration(47.4) == "47 s"
    assert duration(125) == "2 min 05 s" and duration(3720) == "1 h 02 min"


def test_keys_become_words_and_metrics_have_legends():
    assert humanize("time_to_first_token_ms") == "Time to first token (ms)"
    assert humanize("gpu_memory_gb") == "GPU memory (GB)"
    assert metric("ppl_gap").label == "Distance from human perplexity"
    assert metric("ppl_gap").legend and metric("ppl_gap").better == "lower"
    assert metric("copied_share").format(0.125) == "12.5 %"
    unknown = metric("coherence_score")
    assert unknown.label == "Coherence score" and unknown.format(math.nan) == "–"


def test_visible_lines_collapse_runs_and_cut_long_samples():
    blank = visible_lines("\n" * 16)
    assert blank.lines == ["↵ ×16"] and not blank.cut
    loop = visible_lines("IUS.\n" * 40, max_lines=6)
    assert loop.lines == ["IUS.↵"] * 6 and loop.hidden_lines == 34 and loop.cut
    spaced = visible_lines("  hello\tworld  \nfoo\n\n\nbar")
    assert spaced.lines == ["··hello→world··↵", "foo↵", "↵ ×2", "bar"]
    long = visible_lines("x" * 500, max_chars=100)
    assert long.lines == ["x" * 100 + "…"] and long.cut
    assert visible_lines("").lines == []
    with pytest.raises(ValueError, match="at least 1"):
        visible_lines("text", max_lines=0)
