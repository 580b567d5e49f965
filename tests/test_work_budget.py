import itertools
import time

import pytest

from helpers.work_budget import cut_texts, measure_rate, share_budget


def test_share_budget_keeps_short_texts_whole_and_cuts_the_rest_equally():
    cut = share_budget([10, 100, 1_000], budget=310)
    assert cut == 200  # 10 and 100 whole, then 200 left for the longest text
    assert share_budget([10, 1_000, 1_000], budget=310) == 150  # 300 shared by two


@pytest.mark.parametrize("lengths", [[5, 5, 5], [1, 2, 3, 400], [7], [0, 50, 50, 9_999]])
@pytest.mark.parametrize("budget", [1, 3, 17, 120, 10_000])
def test_share_budget_never_overspends_and_uses_what_it_can(lengths, budget):
    cut = share_budget(lengths, budget)
    if cut is None:
        assert sum(lengths) <= budget
        return
    spent = sum(min(length, cut) for length in lengths)
    assert spent <= max(budget, len(lengths))  # (each text keeps at least one unit)
    # one more unit per cut text would overspend: the cut is as large as it can be
    cut_texts_count = sum(length > cut for length in lengths)
    assert cut == 1 or spent + cut_texts_count > budget


def test_share_budget_refuses_what_makes_no_sense():
    with pytest.raises(ValueError, match="no texts"):
        share_budget([], 10)
    with pytest.raises(ValueError, match="budget must be > 0"):
        share_budget([3], 0)
    with pytest.raises(ValueError, match=">= 0"):
        share_budget([3, -1], 5)


def test_cut_texts_keeps_the_start_of_each_text_and_says_so():
    texts = ["a" * 40, "b" * 400, "c" * 4_000]
    result = cut_texts(texts, characters_per_second=100.0, seconds=2.0)  # 200 characters
    assert result.cut == 80
    assert result.texts == ["a" * 40, "b" * 80, "c" * 80]
    assert (result.kept_characters, result.total_characters) == (200, 4_440)
    assert "the first 80 characters of each of the 3 texts" in result.describe()
    assert "200 of 4,440" in result.describe()


def test_cut_texts_with_room_or_without_a_budget_keeps_everything():
    texts = ["one text", "another"]
    for seconds in (None, 10.0):
        result = cut_texts(texts, characters_per_second=100.0, seconds=seconds)
        assert result.texts == texts and result.cut is None and result.kept_share == 1.0
        assert result.describe().startswith("all 15 characters")


def test_cut_texts_keeps_a_minimum_of_each_text_when_the_budget_is_tiny():
    texts = ["x" * 50, "y" * 5_000]
    result = cut_texts(texts, characters_per_second=10.0, seconds=1.0, minimum=500)
    assert result.texts == ["x" * 50, "y" * 500] and result.cut == 500
    whole = cut_texts(["x" * 50, "y" * 60], characters_per_second=10.0, seconds=1.0, minimum=500)
    assert whole.cut is None and whole.texts == ["x" * 50, "y" * 60]
    with pytest.raises(ValueError, match="minimum"):
        cut_texts(texts, 10.0, 1.0, minimum=0)


@pytest.mark.parametrize("seconds", [0, -1.0, float("nan"), float("inf")])
def test_cut_texts_refuses_a_budget_that_is_not_a_positive_number(seconds):
    with pytest.raises(ValueError, match="seconds must be a positive number"):
        cut_texts(["text"], 100.0, seconds)


def test_cut_texts_refuses_a_rate_that_was_not_measured():
    with pytest.raises(ValueError, match="measure it with measure_rate"):
        cut_texts(["text"], 0.0, 5.0)


def test_measure_rate_counts_units_per_second_and_keeps_the_fastest_run():
    delays = itertools.chain([0.05], itertools.repeat(0.01))  # a slow first call

    def work() -> int:
        time.sleep(next(delays))
        return 100

    rate = measure_rate(work, repeats=2)
    assert 2_000 < rate <= 10_000  # 100 units in about 0.01 s, not 0.05 s


def test_measure_rate_needs_work_that_reports_its_units():
    with pytest.raises(ValueError, match="positive number"):
        measure_rate(lambda: 0)
    with pytest.raises(ValueError, match="repeats"):
        measure_rate(lambda: 1, repeats=0)
