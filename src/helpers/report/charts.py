"""The report's figures, drawn from the recorded numbers and saved as PNG files.

Each function saves one figure under the run's ``figures/`` folder and returns a
:class:`Chart`: where it is (relative to ``index.html``) and an alt text that states
what the figure shows in words, built from the same numbers. Figures that notebooks
teach with come from :mod:`helpers.plots`; the rest are drawn here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers.report.formatting import number

BLUE, RED, GREY = "#1f5a99", "#b3261e", "#5f6368"


@dataclass(frozen=True)
class Chart:
    """A saved figure: its path relative to the report, alt text and caption."""

    src: str
    alt: str
    caption: str


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(figure: Any, folder: Path, name: str) -> str:
    plt = _pyplot()
    folder.mkdir(parents=True, exist_ok=True)
    figure.savefig(folder / name, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    return f"{folder.name}/{name}"


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def before_after(before: Mapping[str, Any], after: Mapping[str, Any], folder: Path) -> Chart | None:
    """Validation perplexity and bits per character, before and after training."""
    panels = [
        (key, label)
        for key, label in (
            ("perplexity", "perplexity (log scale)"),
            ("bits_per_char", "bits per character"),
        )
        if _finite(before.get(key)) and _finite(after.get(key))
    ]
    if not panels:
        return None
    plt = _pyplot()
    figure, axes = plt.subplots(1, len(panels), figsize=(2.4 * len(panels), 2.2))
    axes = [axes] if len(panels) == 1 else list(axes)
    for axis, (key, label) in zip(axes, panels, strict=True):
        values = [before[key], after[key]]
        bars = axis.bar(["before", "after"], values, color=[GREY, BLUE], width=0.6)
        if key == "perplexity":
            from matplotlib.ticker import FuncFormatter, NullFormatter

            axis.set_yscale("log")
            axis.yaxis.set_major_formatter(FuncFormatter(lambda v, _: number(float(v))))
            axis.yaxis.set_minor_formatter(NullFormatter())
        axis.bar_label(bars, labels=[number(v) for v in values], fontsize=8, padding=2)
        axis.set_title(f"validation {label}", fontsize=9)
        axis.margins(y=0.25)
        axis.tick_params(labelsize=8)
        axis.spines[["top", "right"]].set_visible(False)
    figure.tight_layout()
    words = "; ".join(
        f"validation {label.split(' (')[0]} {number(before[key])} before training and "
        f"{number(after[key])} after"
        for key, label in panels
    )
    return Chart(
        _save(figure, folder, "headline.png"),
        f"Bar chart, lower is better: {words}.",
        "Validation scores before and after training (lower is better).",
    )


def training_curves(history: Mapping[str, Any], folder: Path) -> Chart | None:
    """Training and validation loss per step, the best evaluation marked
    (:func:`helpers.plots.loss_curves`)."""
    from helpers.plots import loss_curves
    from helpers.training.history import TrainingHistory

    train, evals = list(history.get("train") or []), list(history.get("eval") or [])
    if not train and not evals:
        return None
    _pyplot()
    figure = loss_curves({"train": train, "eval": evals}, title="Training and validation loss")
    figure.set_size_inches(7.5, 3.3)
    figure.tight_layout()
    parts = []
    if train:
        parts.append(
            f"training loss goes from {number(train[0]['loss'])} at step {train[0]['step']} to "
            f"{number(train[-1]['loss'])} at step {train[-1]['step']}"
        )
    best = TrainingHistory(train=train, eval=evals).best_eval
    if best is not None:
        where = f" (scored on the {best['scored_on']})" if best.get("scored_on") else ""
        parts.append(
            f"the best validation loss, {number(best['val_loss'])}, is at step {best['step']}"
            f"{where}, marked on the curve"
        )
    return Chart(
        _save(figure, folder, "training.png"),
        "Line chart of loss (nats per token) against optimizer step: " + "; ".join(parts) + ".",
        "Loss per optimizer step. Each validation curve is labelled with the blocks it was "
        "scored on; the best validation point is marked.",
    )


def quality_diversity(
    rows: Sequence[Mapping[str, Any]], folder: Path, name: str = "quality_diversity.png"
) -> Chart | None:
    """Each decoder's distance from human perplexity against its diversity
    (:func:`helpers.plots.quality_vs_diversity`)."""
    from helpers.plots import quality_vs_diversity

    axis_key = next(
        (k for k in ("diversity", "distinct_2") if any(_finite(r.get(k)) for r in rows)), None
    )
    points = [
        r for r in rows if axis_key and _finite(r.get("ppl_gap")) and _finite(r.get(axis_key))
    ]
    if not points:
        return None
    _pyplot()
    names = [str(r.get("decoder", "?")) for r in points]
    figure = quality_vs_diversity(
        names,
        [r["ppl_gap"] for r in points],
        [r[axis_key] for r in points],
        diversity_label="diversity" if axis_key == "diversity" else "distinct bigrams",
    )
    listed = "; ".join(
        f"{n}: distance {number(r['ppl_gap'])}, {axis_key.replace('_', '-')} {number(r[axis_key])}"
        for n, r in zip(names, points, strict=True)
    )
    left_out = [str(r.get("decoder", "?")) for r in rows if r not in points]
    tail = f" Not plotted (no value): {', '.join(left_out)}." if left_out else ""
    return Chart(
        _save(figure, folder, name),
        f"Scatter plot, one point per decoder, distance from human perplexity (lower is "
        f"better) against diversity (right is more diverse). {listed}.{tail}",
        "Quality against diversity: the best decoders sit low (close to human text) and "
        "to the right (diverse).",
    )


def learning_rate_sweep(
    curves: Mapping[str, Sequence[Sequence[float]]], best: Any, folder: Path
) -> Chart | None:
    """Validation perplexity against steps, one line per learning rate."""
    series = {
        rate: [(p[0], p[1]) for p in points if len(p) >= 2 and _finite(p[0]) and _finite(p[1])]
        for rate, points in curves.items()
        if isinstance(points, Sequence)
    }
    series = {rate: points for rate, points in series.items() if points}
    if not series:
        return None
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(5.5, 3.4))
    colours = [BLUE, RED, "#2e7d32", "#6a1b9a", "#ef6c00", GREY]
    for index, (rate, points) in enumerate(series.items()):
        chosen = _same_rate(rate, best)
        axis.plot(
            *zip(*points, strict=True),
            marker="o",
            ms=3,
            color=colours[index % len(colours)],
            lw=2.5 if chosen else 1.2,
            label=f"{rate}{' (chosen)' if chosen else ''}",
        )
    axis.set_yscale("log")
    axis.set_xlabel("optimizer step")
    axis.set_ylabel("validation perplexity (log)")
    axis.set_title("Learning-rate sweep")
    axis.legend(title="learning rate", fontsize=8)
    axis.grid(alpha=0.3)
    figure.tight_layout()
    ends = "; ".join(
        f"learning rate {rate}: {number(points[-1][1])} at step {number(points[-1][0])}"
        for rate, points in series.items()
    )
    return Chart(
        _save(figure, folder, "sweep_learning_rate.png"),
        f"Line chart of validation perplexity against step for each learning rate. At the "
        f"last step: {ends}. Chosen: {best}.",
        "Validation perplexity during training, one line per learning rate.",
    )


def _same_rate(rate: Any, best: Any) -> bool:
    try:
        return math.isclose(float(rate), float(best))
    except (TypeError, ValueError):
        return False
