"""Figures for the data (notebook 02): document lengths, padding against packing."""

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
