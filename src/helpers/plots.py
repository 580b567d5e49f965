"""Matplotlib figures for the notebooks and the report.

Presentation only: every function takes numbers that other modules computed (``data``,
``training``, ``metrics``, ``decoding``) and returns a ``matplotlib.figure.Figure``; none
computes a metric or decodes by itself.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
from matplotlib.figure import Figure


def length_histogram(
    lengths: Sequence[int], unit: str = "characters", title: str = "Document lengths"
) -> Figure:
    """Histogram of document lengths on a log axis (corpora mix short and long texts)."""
    figure, axis = plt.subplots(figsize=(7, 3.2))
    positive = [length for length in lengths if length > 0]
    low, high = max(1, min(positive)), max(positive)
    bins = [low * (high / low) ** (i / 30) for i in range(31)] if high > low else 10
    axis.hist(positive, bins=bins, color="#4c72b0", edgecolor="white")
    axis.set_xscale("log")
    axis.set_xlabel(f"length ({unit}, log scale)")
    axis.set_ylabel("documents")
    axis.set_title(title)
    figure.tight_layout()
    return figure


def padding_vs_packing(pad_fraction: float, packed_leftover_fraction: float) -> Figure:
    """Share of each batch that is real text vs waste, for padded lines and packed blocks."""
    figure, axis = plt.subplots(figsize=(7, 2.6))
    names = ["packed blocks", "one line per example, padded"]
    waste = [packed_leftover_fraction, pad_fraction]
    real = [1 - w for w in waste]
    axis.barh(names, real, color="#55a868", label="real tokens")
    axis.barh(names, waste, left=real, color="#c44e52", label="padding / dropped")
    for row, share in enumerate(waste):
        axis.text(1.01, row, f"{share:.1%} wasted", va="center")
    axis.set_xlim(0, 1.25)
    axis.set_xlabel("share of token positions")
    axis.legend(loc="upper center", bbox_to_anchor=(0.4, -0.3), ncol=2, fontsize=8)
    figure.tight_layout()
    return figure


# --- decoding (notebook 04, the playground): numbers come from helpers.decoding ---


def next_token_bars(
    labels: Sequence[str],
    before: Sequence[float],
    after: Sequence[float],
    kept: Sequence[bool],
    kept_mass: float,
    title: str = "Next-token distribution",
) -> Figure:
    """Bars of the most likely next tokens before and after the filters; kept ones in colour."""
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.4), sharey=True)
    rows = list(range(len(labels)))[::-1]  # the most likely at the top
    colours = ["#4c72b0" if keep else "#c0c0c0" for keep in kept]
    left.barh(rows, before, color=colours)
    right.barh(rows, after, color=colours)
    left.set_yticks(rows, [repr(label) for label in labels], fontsize=8)
    left.set_title("before the filters (grey: removed by them)", fontsize=10)
    right.set_title(f"after the filters: kept mass {kept_mass:.1%}", fontsize=10)
    for axis in (left, right):
        axis.set_xlabel("probability")
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def temperature_curves(
    labels: Sequence[str], probs_by_temperature: dict[float, Sequence[float]]
) -> Figure:
    """One line per temperature over the same tokens: low T sharpens, high T flattens."""
    figure, axis = plt.subplots(figsize=(8, 3.2))
    for temperature, probs in probs_by_temperature.items():
        axis.plot(range(len(labels)), probs, marker="o", label=f"T = {temperature:g}")
    axis.set_xticks(range(len(labels)), [repr(label) for label in labels], rotation=45, fontsize=8)
    axis.set_ylabel("probability")
    axis.set_title("softmax(z / T) at several temperatures")
    axis.legend(fontsize=8)
    figure.tight_layout()
    return figure


def nucleus_cut(sorted_probs: Sequence[float], top_p: float, kept_count: int) -> Figure:
    """Cumulative mass of the tokens sorted by probability, with the top-p threshold and cut."""
    figure, axis = plt.subplots(figsize=(7, 3.2))
    total, cumulative = 0.0, []
    for prob in sorted_probs:
        total += float(prob)
        cumulative.append(total)
    ranks = range(1, len(cumulative) + 1)
    axis.step(ranks, cumulative, where="post", color="#4c72b0", label="cumulative probability")
    axis.axhline(top_p, color="#c44e52", linestyle="--", label=f"p = {top_p:g}")
    axis.axvline(kept_count, color="#55a868", linestyle=":", label=f"kept: {kept_count} tokens")
    axis.set_xscale("log")
    axis.set_xlabel("tokens, most likely first (log scale)")
    axis.set_ylabel("mass of the top tokens")
    axis.set_ylim(0, 1.02)
    axis.set_title("Nucleus (top-p): keep the smallest head whose mass reaches p")
    axis.legend(fontsize=8, loc="lower right")
    figure.tight_layout()
    return figure


def sliding_windows_diagram(
    windows: Sequence[tuple[int, int, int]], num_tokens: int, title: str = "Sliding windows"
) -> Figure:
    """One bar per window: context (grey) and the tokens it scores (coloured)."""
    figure, axis = plt.subplots(figsize=(7, 0.45 * len(windows) + 1.2))
    for row, (begin, end, first) in enumerate(windows):
        axis.barh(row, first - begin, left=begin, color="#cccccc", edgecolor="white")
        axis.barh(row, end - first, left=first, color="#4c72b0", edgecolor="white")
    axis.set_xlim(0, num_tokens)
    axis.invert_yaxis()
    axis.set_yticks(range(len(windows)), [f"window {i + 1}" for i in range(len(windows))])
    axis.set_xlabel("token position (grey: context only, blue: scored)")
    axis.set_title(title)
    figure.tight_layout()
    return figure


def metric_bars(
    names: Sequence[str],
    metrics: dict[str, Sequence[float]],
    reference: dict[str, float] | None = None,
) -> Figure:
    """One small bar chart per metric, decoders side by side; optional reference lines."""
    figure, axes = plt.subplots(1, len(metrics), figsize=(3.2 * len(metrics), 3.2))
    axes = [axes] if len(metrics) == 1 else list(axes)
    for axis, (metric, values) in zip(axes, metrics.items(), strict=True):
        axis.bar(range(len(names)), values, color="#4c72b0")
        axis.set_xticks(range(len(names)), names, rotation=40, ha="right", fontsize=8)
        axis.set_title(metric, fontsize=10)
        if reference and metric in reference:
            axis.axhline(reference[metric], color="#c44e52", linestyle="--", label="human text")
            axis.legend(fontsize=7)
    figure.tight_layout()
    return figure


def quality_vs_diversity(
    names: Sequence[str],
    quality_gap: Sequence[float],
    diversity: Sequence[float],
    diversity_label: str = "distinct-2",
) -> Figure:
    """Scatter: distance from human perplexity (lower is better) against diversity."""
    figure, axis = plt.subplots(figsize=(5.5, 4))
    axis.scatter(diversity, quality_gap, color="#4c72b0")
    for name, x, y in zip(names, diversity, quality_gap, strict=True):
        axis.annotate(name, (x, y), textcoords="offset points", xytext=(5, 4), fontsize=8)
    axis.set_xlabel(f"{diversity_label} (more diverse →)")
    axis.set_ylabel("|log PPL − log PPL(human)| (closer to human ↓)")
    axis.set_title("Quality vs diversity")
    figure.tight_layout()
    return figure


# --- training (notebook 03): numbers come from helpers.training's history ---


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
