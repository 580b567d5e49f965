"""Figures for training (notebook 03): loss curves, runs against the clock, the
learning-rate schedule, a live loss plot. Numbers come from ``helpers.training``'s history."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
from matplotlib.figure import Figure


def _records(history: object, kind: str) -> list[dict]:
    """The ``train`` or ``eval`` records of a TrainingHistory (or of its dict form)."""
    return list(history[kind] if isinstance(history, dict) else getattr(history, kind))


def _validation_series(evals: list[dict]) -> dict[str, list[dict]]:
    """The eval records grouped by the validation blocks they scored (``scored_on``), in
    order of first appearance: losses of different blocks are different curves."""
    series: dict[str, list[dict]] = {}
    for record in evals:
        where = record.get("scored_on")
        tokens = record.get("val_tokens")
        label = "validation" if where is None else f"validation, {where}"
        if where is not None and tokens:
            label += f" ({tokens:,} tokens)"
        series.setdefault(label, []).append(record)
    return series


def _draw_losses(axis: plt.Axes, history: object, title: str) -> None:
    from helpers.training.history import TrainingHistory

    train, evals = _records(history, "train"), _records(history, "eval")
    axis.clear()
    if train:
        steps = [r["step"] for r in train]
        axis.plot(steps, [r["loss"] for r in train], color="#4c72b0", alpha=0.3, lw=1,
                  label="train (per log)")  # fmt: skip
        axis.plot(steps, [r["smoothed_loss"] for r in train], color="#4c72b0", lw=2,
                  label="train (smoothed)")  # fmt: skip
    styles = [("o-", "#c44e52"), ("s", "#8172b2"), ("^", "#937860")]
    for index, (label, records) in enumerate(_validation_series(evals).items()):
        marker, color = styles[index % len(styles)]
        axis.plot([r["step"] for r in records], [r["val_loss"] for r in records], marker,
                  color=color, lw=2, label=label)  # fmt: skip
    # the best among losses of the same blocks (the ones the run chose its model on)
    best = TrainingHistory(train=train, eval=evals).best_eval
    if best is not None:
        axis.annotate(
            f"best {best['val_loss']:.3f}",
            (best["step"], best["val_loss"]),
            textcoords="offset points",
            xytext=(0, 10),
            ha="center",
            fontsize=8,
            color="#c44e52",
        )
    axis.set_xlabel("optimizer step")
    axis.set_ylabel("cross-entropy (nats per token)")
    axis.set_title(title)
    if train or evals:
        axis.legend(fontsize=8)
    axis.grid(alpha=0.3)


def loss_curves(history: object, title: str = "Training and validation loss") -> Figure:
    """Training loss (raw and smoothed) and validation loss against the step: one
    validation curve per set of blocks scored (e.g. the first blocks every evaluation
    scores, and the whole split the last one scores too), each labelled with it."""
    figure, axis = plt.subplots(figsize=(7, 3.8))
    _draw_losses(axis, history, title)
    figure.tight_layout()
    return figure


def loss_against_time(
    runs: Mapping[str, object], title: str = "Training loss against the clock"
) -> Figure:
    """The smoothed training loss of several runs against their seconds of training (the
    ``train_seconds`` of each log record), one curve per run, labelled with its name: a
    pretrained base and a model from scratch compared for the same seconds, say."""
    figure, axis = plt.subplots(figsize=(7, 3.8))
    for name, history in runs.items():
        train = [r for r in _records(history, "train") if "train_seconds" in r]
        if not train:
            raise ValueError(f"run {name!r} has no training log with train_seconds to plot")
        axis.plot([r["train_seconds"] for r in train], [r["smoothed_loss"] for r in train],
                  lw=2, label=name)  # fmt: skip
    axis.set_xlabel("seconds of training")
    axis.set_ylabel("training loss (nats per token, smoothed)")
    axis.set_title(title)
    axis.legend(fontsize=8)
    axis.grid(alpha=0.3)
    figure.tight_layout()
    return figure


def learning_rate_curve(
    rates: Sequence[float], warmup_steps: int = 0, title: str = "Learning-rate schedule"
) -> Figure:
    """The learning rate at each step, with the end of warmup marked."""
    figure, axis = plt.subplots(figsize=(7, 3))
    axis.plot(range(len(rates)), rates, color="#55a868", lw=2)
    if warmup_steps:
        axis.axvline(warmup_steps, color="grey", ls="--", lw=1)
        axis.annotate("end of warmup", (warmup_steps, max(rates)), textcoords="offset points",
                      xytext=(5, -12), fontsize=8)  # fmt: skip
    axis.set_xlabel("optimizer step")
    axis.set_ylabel("learning rate")
    axis.set_title(title)
    axis.grid(alpha=0.3)
    figure.tight_layout()
    return figure


class LiveLossPlot:
    """A loss plot that redraws itself in a notebook while training runs.

    Pass it as ``on_log`` to ``helpers.training.train``: it is called with the history
    after every log and evaluation and redraws at most every ``min_seconds``. Outside a
    notebook it only keeps :attr:`figure` up to date.
    """

    def __init__(self, title: str = "Training and validation loss", min_seconds: float = 1.0):
        import time

        self._clock = time.monotonic
        self.title, self.min_seconds = title, min_seconds
        self.figure, self.axis = plt.subplots(figsize=(7, 3.8))
        plt.close(self.figure)  # shown through the display handle, not again at cell end
        self._last = float("-inf")
        self._history: object = {"train": [], "eval": []}
        self.redraws = 0
        try:
            from IPython import get_ipython
            from IPython.display import display

            self._handle = display(self.figure, display_id=True) if get_ipython() else None
        except ImportError:
            self._handle = None

    def __call__(self, history: object) -> None:
        self._history = history
        if self._clock() - self._last >= self.min_seconds:
            self.redraw()

    def redraw(self) -> None:
        """Draw the latest history now (call once at the end for the final picture)."""
        _draw_losses(self.axis, self._history, self.title)
        self.figure.tight_layout()
        self.redraws += 1
        self._last = self._clock()
        if self._handle is not None:
            self._handle.update(self.figure)
