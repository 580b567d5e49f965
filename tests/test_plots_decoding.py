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


# --- the degeneration figures: they draw exactly the numbers they are given ---------------


def test_probability_along_text_draws_each_text_and_its_mean():
    from helpers.plots import probability_along_text

    figure = probability_along_text({"human": [0.1, 0.3], "beam search": [0.8, 0.9, 1.0]})
    axis = figure.axes[0]
    human, human_mean, beam, beam_mean = axis.get_lines()
    assert list(human.get_ydata()) == [0.1, 0.3] and list(human.get_xdata()) == [1, 2]
    assert list(beam.get_ydata()) == [0.8, 0.9, 1.0]
    assert list(human_mean.get_ydata()) == pytest.approx([0.2, 0.2])
    assert list(beam_mean.get_ydata()) == pytest.approx([0.9, 0.9])
    labels = [t.get_text() for t in axis.get_legend().get_texts()]
    assert labels == ["human (mean 0.200)", "beam search (mean 0.900)"]
    assert "p(token" in axis.get_ylabel()


def test_repetition_loop_curve_plots_probability_against_occurrences():
    from helpers.plots import repetition_loop_curve

    figure = repetition_loop_curve([0.05, 0.4, 0.7, 0.8])
    (line,) = figure.axes[0].get_lines()
    assert list(line.get_xdata()) == [0, 1, 2, 3]
    assert list(line.get_ydata()) == [0.05, 0.4, 0.7, 0.8]
    assert "already occurred" in figure.axes[0].get_xlabel()


def test_nucleus_size_along_uses_a_log_axis_and_marks_the_vocabulary():
    from helpers.plots import nucleus_size_along

    figure = nucleus_size_along([3, 120, 1, 7], top_p=0.9, vocab_size=50257)
    axis = figure.axes[0]
    sizes, vocabulary = axis.get_lines()
    assert list(sizes.get_ydata()) == [3, 120, 1, 7]
    assert list(vocabulary.get_ydata()) == [50257, 50257]
    assert axis.get_yscale() == "log"
    assert "0.9" in axis.get_legend().get_texts()[0].get_text()


def test_beam_search_tree_draws_every_branch_with_its_score():
    from helpers.decoding import BeamNode
    from helpers.plots import beam_search_tree

    nodes = [
        BeamNode(0, None, None, 0.0, 0.0, True),
        BeamNode(1, 0, 5, -0.5, -0.5, True),
        BeamNode(1, 0, 6, -1.5, -1.5, False),
        BeamNode(2, 1, 7, -0.25, -0.75, True),
    ]
    figure = beam_search_tree(nodes, ["prompt", "a", "b", "c"])
    axis = figure.axes[0]
    texts = [t.get_text() for t in axis.texts]
    assert texts == ["prompt", "'a'  -0.50", "'b'  -1.50", "'c'  -0.75"]
    edges = axis.get_lines()
    assert len(edges) == 3  # one per branch
    kept, pruned = edges[0].get_color(), edges[1].get_color()
    assert kept != pruned and edges[2].get_color() == kept
    assert [t.get_text() for t in axis.get_xticklabels()] == ["prompt", "step 1", "step 2"]
    # the better branch of a step is drawn above the worse (the y axis is inverted)
    assert edges[0].get_ydata()[1] < edges[1].get_ydata()[1]


def test_temperature_cut_curves_mark_top_k_and_each_nucleus():
    from helpers.decoding import TemperatureCut
    from helpers.plots import temperature_cut_curves

    cuts = [
        TemperatureCut(0.5, [0.9, 0.09, 0.01], 1, 0.99, 0.9),
        TemperatureCut(2.0, [0.5, 0.3, 0.2], 3, 0.8, 1.0),
    ]
    figure = temperature_cut_curves(cuts, top_k=2, top_p=0.9)
    axis = figure.axes[0]
    lines = axis.get_lines()
    curves = [line for line in lines if len(line.get_xdata()) == 3]
    assert [list(c.get_ydata()) for c in curves] == [[0.9, 0.09, 0.01], [0.5, 0.3, 0.2]]
    verticals = sorted(line.get_xdata()[0] for line in lines if len(line.get_xdata()) == 2)
    assert verticals == [1, 2, 3]  # nucleus at T = 0.5, the top-k cut, nucleus at T = 2
    legend = [t.get_text() for t in axis.get_legend().get_texts()]
    assert legend[0] == "T = 0.5: top-k 2 keeps 99.0%, top-p 0.9 keeps 1 tokens"
    assert legend[-1] == "top-k cut (k = 2)"


def test_save_figures_writes_pngs_and_refuses_odd_names(tmp_path):
    from helpers.plots import repetition_loop_curve, save_figures

    figure = repetition_loop_curve([0.1, 0.2])
    (path,) = save_figures({"loop": figure}, tmp_path / "figures", prefix="04_")
    assert path == tmp_path / "figures" / "04_loop.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="plain file name"):
        save_figures({"../x": figure}, tmp_path)
