"""The decoding figures draw the numbers they are given."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest

from helpers.plots import next_token_bars, nucleus_cut, temperature_curves


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_next_token_bars_colour_the_kept_tokens_and_print_the_mass():
    figure = next_token_bars(
        ["a", "b", "c"], [0.5, 0.3, 0.2], [0.625, 0.375, 0.0], [True, True, False], 0.8
    )
    before, after = figure.axes
    widths = [bar.get_width() for bar in after.patches]
    assert widths == [0.625, 0.375, 0.0]
    colours = {bar.get_facecolor() for bar in before.patches}
    assert len(colours) == 2  # kept and removed differ
    assert before.patches[0].get_facecolor() == before.patches[1].get_facecolor()
    assert "80.0%" in after.get_title()


def test_temperature_curves_draw_one_line_per_temperature():
    figure = temperature_curves(["x", "y"], {0.5: [0.9, 0.1], 2.0: [0.6, 0.4]})
    lines = figure.axes[0].get_lines()
    assert [list(line.get_ydata()) for line in lines] == [[0.9, 0.1], [0.6, 0.4]]
    assert [t.get_text() for t in figure.axes[0].get_legend().get_texts()] == [
        "T = 0.5",
        "T = 2",
    ]


def test_nucleus_cut_marks_the_threshold_and_the_kept_count():
    figure = nucleus_cut([0.5, 0.3, 0.15, 0.05], 0.75, kept_count=2)
    curve, threshold, cut = figure.axes[0].get_lines()
    assert list(curve.get_ydata()) == pytest.approx([0.5, 0.8, 0.95, 1.0])
    assert list(threshold.get_ydata()) == [0.75, 0.75]
    assert list(cut.get_xdata()) == [2, 2]
