"""Matplotlib figures for the notebooks and the report, one module per theme.

Presentation only: every function takes numbers that other modules computed (``data``,
``training``, ``metrics``, ``decoding``) and returns a ``matplotlib.figure.Figure``; none
computes a metric or decodes by itself.

- ``data.py``: document lengths, padding against packing (notebook 02);
- ``training.py``: loss curves, runs against the clock, the learning-rate schedule, the
  live loss plot (03);
- ``decoding.py``: one next-token distribution and its filters (04, the playground);
- ``degeneration.py``: the degeneration evidence, after Holtzman et al. 2020 (04);
- ``evaluation.py``: sliding windows, metric bars, quality against diversity (05).

Everything is importable from here: ``from helpers.plots import loss_curves``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from matplotlib.figure import Figure

from helpers.plots.data import length_histogram, padding_vs_packing
from helpers.plots.decoding import next_token_bars, nucleus_cut, temperature_curves
from helpers.plots.degeneration import (
    beam_search_tree,
    nucleus_size_along,
    probability_along_text,
    repetition_loop_curve,
    temperature_cut_curves,
)
from helpers.plots.evaluation import metric_bars, quality_vs_diversity, sliding_windows_diagram
from helpers.plots.training import (
    LiveLossPlot,
    learning_rate_curve,
    loss_against_time,
    loss_curves,
)


def save_figures(
    figures: Mapping[str, Figure], folder: str | Path, prefix: str = "", dpi: int = 100
) -> list[Path]:
    """Write each figure as ``<folder>/<prefix><name>.png`` (the run report shows them).

    Names must be plain file names (letters, digits, ``_`` and ``-``). Returns the paths.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, figure in figures.items():
        stem = f"{prefix}{name}"
        if not stem or not all(c.isalnum() or c in "_-" for c in stem):
            raise ValueError(
                f"Figure name {stem!r} is not a plain file name: use letters, digits, "
                "'_' and '-' only, e.g. 'beam_tree'."
            )
        path = folder / f"{stem}.png"
        figure.savefig(path, dpi=dpi)
        paths.append(path)
    return paths


__all__ = [
    "LiveLossPlot",
    "beam_search_tree",
    "learning_rate_curve",
    "length_histogram",
    "loss_against_time",
    "loss_curves",
    "metric_bars",
    "next_token_bars",
    "nucleus_cut",
    "nucleus_size_along",
    "padding_vs_packing",
    "probability_along_text",
    "quality_vs_diversity",
    "repetition_loop_curve",
    "save_figures",
    "sliding_windows_diagram",
    "temperature_cut_curves",
    "temperature_curves",
]
