import math

import matplotlib

matplotlib.use("Agg")

from helpers.plots import LiveLossPlot, learning_rate_curve, loss_curves  # noqa: E402
from helpers.training import TrainingHistory  # noqa: E402


def history(steps: int = 10) -> TrainingHistory:
    train = [
        {"step": s, "loss": 5 / s, "smoothed_loss": 5 / math.sqrt(s), "lr": 1e-3}
        for s in range(1, steps + 1)
    ]
    evals = [{"step": s, "val_loss": v} for s, v in [(0, 6.0), (5, 2.0), (10, 2.5)]]
    return TrainingHistory(train=train, eval=evals)


def test_loss_curves_draw_train_smoothed_and_validation():
    figure = loss_curves(history())
    lines = figure.axes[0].get_lines()
    assert [line.get_label() for line in lines] == [
        "train (per log)",
        "train (smoothed)",
        "validation",
    ]
    assert list(lines[2].get_ydata()) == [6.0, 2.0, 2.5]
    assert [t.get_text() for t in figure.axes[0].texts] == ["best 2.000"]


def test_loss_curves_accept_the_saved_json_form():
    figure = loss_curves(history().to_dict())
    assert len(figure.axes[0].get_lines()) == 3


def test_learning_rate_curve_marks_the_end_of_warmup():
    rates = [i / 10 for i in range(10)] + [1.0 - i / 100 for i in range(90)]
    figure = learning_rate_curve(rates, warmup_steps=10)
    curve, marker = figure.axes[0].get_lines()
    assert list(curve.get_ydata()) == rates
    assert list(marker.get_xdata()) == [10, 10]


def test_live_plot_redraws_at_most_every_min_seconds():
    always = LiveLossPlot(min_seconds=0.0)
    for _ in range(3):
        always(history())
    assert always.redraws == 3
    assert len(always.axis.get_lines()) == 3
    rarely = LiveLossPlot(min_seconds=3600)
    for _ in range(3):
        rarely(history())
    assert rarely.redraws == 1  # the first call draws, the rest wait
    rarely.redraw()
    assert rarely.redraws == 2


def test_each_set_of_validation_blocks_is_its_own_labelled_curve():
    """Losses scored on different blocks are not one curve, and the best is marked among
    the losses of the blocks the run chose its model on, not the lowest number drawn."""
    subset, whole = "first 8 of 64 validation blocks", "whole validation split"
    evals = [
        {"step": s, "val_loss": v, "scored_on": subset, "val_tokens": 1016}
        for s, v in [(0, 6.0), (5, 3.0), (10, 3.2)]
    ] + [{"step": 10, "val_loss": 2.5, "scored_on": whole, "val_tokens": 8128}]
    figure = loss_curves(TrainingHistory(train=history().train, eval=evals).to_dict())
    lines = figure.axes[0].get_lines()
    assert [line.get_label() for line in lines[2:]] == [
        f"validation, {subset} (1,016 tokens)",
        f"validation, {whole} (8,128 tokens)",
    ]
    assert list(lines[2].get_ydata()) == [6.0, 3.0, 3.2] and list(lines[3].get_ydata()) == [2.5]
    assert [t.get_text() for t in figure.axes[0].texts] == ["best 3.000"]
    legend = [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
    assert f"validation, {whole} (8,128 tokens)" in legend


def test_loss_against_time_draws_one_curve_per_run_on_its_seconds():
    from helpers.plots import loss_against_time

    base = [{"step": s, "smoothed_loss": 4 - s / 10, "train_seconds": 0.5 * s} for s in (1, 2, 3)]
    scratch = [{"step": s, "smoothed_loss": 9 - s, "train_seconds": 0.2 * s} for s in (1, 2)]
    figure = loss_against_time(
        {"base": {"train": base, "eval": []}, "scratch": TrainingHistory(train=scratch)}
    )
    lines = figure.axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["base", "scratch"]
    assert list(lines[0].get_xdata()) == [0.5, 1.0, 1.5]
    assert list(lines[1].get_ydata()) == [8, 7]
    assert figure.axes[0].get_xlabel() == "seconds of training"


def test_loss_against_time_names_a_run_without_timed_logs():
    import pytest

    from helpers.plots import loss_against_time

    with pytest.raises(ValueError, match="'empty'"):
        loss_against_time({"empty": TrainingHistory(train=[{"step": 1, "smoothed_loss": 1.0}])})
