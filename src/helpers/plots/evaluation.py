"""Figures for evaluation (notebook 05): sliding windows, metric bars, quality against
diversity. Numbers come from ``helpers.perplexity`` and ``helpers.metrics``."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
from matplotlib.figure import Figure


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
