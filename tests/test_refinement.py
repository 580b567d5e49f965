"""search_log_grid grows a grid past an edge winner; mean_interval gives t intervals."""

from __future__ import annotations

import json
import math
import random
import statistics

import pytest

from helpers.refinement import GridSearch, mean_interval, search_log_grid, t_quantile


def bowl(centre: float):
    """A score with its minimum at ``centre`` on a log scale, counting its calls."""
    calls: list[float] = []

    def evaluate(value: float) -> float:
        calls.append(value)
        return (math.log(value) - math.log(centre)) ** 2

    return evaluate, calls


def test_a_winner_inside_the_grid_needs_no_extension():
    evaluate, calls = bowl(1.0)
    search = search_log_grid(evaluate, [0.3, 1.0, 3.0])
    assert search.best == 1.0 and search.stopped == "interior" and search.extended == []
    assert calls == [0.3, 1.0, 3.0]


@pytest.mark.parametrize(("centre", "expected_best"), [(0.011, 0.01), (95.0, 100.0)])
def test_an_edge_winner_is_followed_until_it_is_inside(centre, expected_best):
    evaluate, calls = bowl(centre)
    search = search_log_grid(evaluate, [0.1, 1.0, 10.0], max_extensions=5)
    assert search.best == pytest.approx(expected_best)
    assert search.stopped == "interior"
    values = [value for value, _ in search.points]
    assert values[0] < search.best < values[-1]  # a neighbour on each side
    assert len(search.extended) == 2  # one step to reach it, one to see it is the best
    assert len(calls) == len(set(calls))  # nothing evaluated twice


def test_the_step_beyond_keeps_the_edge_ratio():
    evaluate, _ = bowl(1e-6)
    search = search_log_grid(evaluate, [1e-3, 3e-3, 9e-3], max_extensions=2)
    assert search.extended == pytest.approx([1e-3 / 3, 1e-3 / 9], rel=1e-2)
    assert search.extended[0] == float(f"{1e-3 / 3:.3g}")  # readable values
    assert search.stopped == "limit"  # still on the edge: not a conclusive choice
    assert "not conclusive" in search.describe("learning rate")


def test_a_search_survives_a_round_trip_through_json():
    evaluate, _ = bowl(0.01)
    search = search_log_grid(evaluate, [0.1, 1.0, 10.0])
    again = GridSearch.from_dict(json.loads(json.dumps(search.as_dict())))
    assert again == search and again.best == search.best


def test_a_bound_stops_the_extension_there():
    evaluate, _ = bowl(5.0)  # wants a top-p above 1
    search = search_log_grid(evaluate, [0.8, 0.9, 0.95], upper=1.0)
    assert search.extended == [1.0] and search.best == 1.0 and search.stopped == "bound"
    evaluate, _ = bowl(0.5)  # a repetition penalty below 1 is not allowed
    search = search_log_grid(evaluate, [1.0, 1.1, 1.2], lower=1.0)
    assert search.extended == [] and search.best == 1.0 and search.stopped == "bound"


def test_integer_grids_round_outward():
    evaluate, calls = bowl(1000.0)
    search = search_log_grid(evaluate, [5, 20, 80], integer=True, max_extensions=1)
    assert search.extended == [320.0]
    assert all(isinstance(value, int) for value in calls)
    assert isinstance(search.best, int)


def test_a_flat_score_is_never_called_an_interior_optimum():
    search = search_log_grid(lambda v: 1.0, [0.1, 1.0, 10.0], max_extensions=2)
    assert search.stopped == "limit" and len(search.extended) == 2


def test_a_failed_trial_counts_as_the_worst():
    search = search_log_grid(lambda v: math.nan if v == 1.0 else v, [0.5, 1.0, 2.0, 4.0],
                             max_extensions=0)  # fmt: skip
    assert search.best == 0.5 and search.stopped == "limit"


@pytest.mark.parametrize(
    ("grid", "options", "message"),
    [
        ([1.0], {}, "at least 2"),
        ([1.0, 1.0, 2.0], {}, "repeats"),
        ([0.0, 1.0], {}, "> 0"),
        ([0.5, 1.5], {"integer": True}, "whole numbers"),
        ([0.9, 1.1], {"upper": 1.0}, "bounds"),
        ([1.0, 2.0], {"max_extensions": -1}, "max_extensions"),
    ],
)
def test_bad_grids_are_refused_with_the_reason(grid, options, message):
    with pytest.raises(ValueError, match=message):
        search_log_grid(lambda v: v, grid, **options)


def test_the_interval_is_mean_plus_minus_t_times_the_standard_error():
    values = [1.0, 2.0, 4.0]
    interval = mean_interval(values)
    half = 4.303 * statistics.stdev(values) / math.sqrt(3)
    assert interval.mean == pytest.approx(7 / 3)
    assert (interval.low, interval.high) == pytest.approx((7 / 3 - half, 7 / 3 + half))


def test_the_interval_covers_the_true_mean_about_95_percent_of_the_time():
    rng = random.Random(0)
    covered = 0
    for _ in range(2000):
        interval = mean_interval([rng.gauss(10.0, 2.0) for _ in range(4)])
        covered += interval.low <= 10.0 <= interval.high
    assert 0.93 < covered / 2000 < 0.97


def test_intervals_need_two_seeds_and_real_numbers():
    with pytest.raises(ValueError, match="at least 2"):
        mean_interval([1.0])
    with pytest.raises(ValueError, match="NaN"):
        mean_interval([1.0, math.nan])
    with pytest.raises(ValueError, match="degree"):
        t_quantile(0)
    assert t_quantile(11) == t_quantile(10) and t_quantile(100) == pytest.approx(1.96)
