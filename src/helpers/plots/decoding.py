"""Figures for one next-token distribution (notebook 04, the playground): the bars
before and after the filters, temperature curves, the nucleus cut. Numbers come from
``helpers.decoding``."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
from matplotlib.figure import Figure


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
