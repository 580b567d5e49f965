"""Figures of the degeneration evidence (notebook 04, the run report).

Holtzman et al. (2020) and Xu et al. (2022) argue from these pictures: the probability of
each token of human and of beam-search text, the repetition loop, the nucleus size along a
text, a beam-search tree with its scores, and one next-token distribution under several
temperatures with the top-k and top-p cuts. The numbers come from
``helpers.decoding.evidence``; these functions only draw them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

if TYPE_CHECKING:
    from helpers.decoding.evidence import BeamNode, TemperatureCut

COLOURS = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b2", "#937860"]


def probability_along_text(
    series: Mapping[str, Sequence[float]],
    title: str = "Probability of each token, given the text before it",
) -> Figure:
    """One line per text (e.g. human, beam search): $p(x_t \\mid x_{<t})$ against $t$,
    with each text's mean as a dashed line (Holtzman et al., 2020, Figure 2)."""
    figure, axis = plt.subplots(figsize=(8, 3.4))
    for colour, (name, probs) in zip(COLOURS, series.items(), strict=False):
        mean = sum(probs) / max(1, len(probs))
        axis.plot(range(1, len(probs) + 1), probs, color=colour, lw=1.5,
                  label=f"{name} (mean {mean:.3f})")  # fmt: skip
        axis.axhline(mean, color=colour, ls="--", lw=1)
    axis.set_xlabel("token of the continuation")
    axis.set_ylabel("p(token | text before it)")
    axis.set_ylim(0, 1.02)
    axis.set_title(title)
    axis.legend(fontsize=8, loc="upper right")
    axis.grid(alpha=0.3)
    figure.tight_layout()
    return figure


def repetition_loop_curve(
    probabilities: Sequence[float],
    title: str = "The repetition loop: each repeat makes the next likelier",
) -> Figure:
    """Mean token probability of the next copy of a sentence against how many copies
    came before it (entry 0: its first occurrence)."""
    figure, axis = plt.subplots(figsize=(7, 3.2))
    axis.plot(range(len(probabilities)), probabilities, "o-", color="#c44e52", lw=2)
    axis.set_xlabel("times the sentence already occurred")
    axis.set_ylabel("mean p(token) of the next copy")
    axis.set_ylim(0, 1.02)
    axis.set_xticks(range(len(probabilities)))
    axis.set_title(title)
    axis.grid(alpha=0.3)
    figure.tight_layout()
    return figure


def nucleus_size_along(
    sizes: Sequence[int],
    top_p: float,
    vocab_size: int | None = None,
    title: str = "Nucleus size along a text",
) -> Figure:
    """How many tokens top-p keeps before each token of a text (log scale); the whole
    vocabulary as a dotted line when ``vocab_size`` is given."""
    figure, axis = plt.subplots(figsize=(8, 3.2))
    axis.step(range(1, len(sizes) + 1), sizes, where="mid", color="#4c72b0",
              label=f"tokens in the top-p {top_p:g} nucleus")  # fmt: skip
    if vocab_size:
        axis.axhline(vocab_size, color="grey", ls=":", label=f"vocabulary ({vocab_size:,})")
    axis.set_yscale("log")
    axis.set_xlabel("position in the text")
    axis.set_ylabel("candidates kept (log scale)")
    axis.set_title(title)
    axis.legend(fontsize=8, loc="lower right")
    axis.grid(alpha=0.3)
    figure.tight_layout()
    return figure


def _tree_rows(nodes: Sequence[BeamNode]) -> list[float]:
    """A vertical position for every node: children under their parent, best on top."""
    rows = [0.0] * len(nodes)
    for step in range(1, max(node.step for node in nodes) + 1):
        at_step = [i for i, node in enumerate(nodes) if node.step == step]
        at_step.sort(key=lambda i: (rows[nodes[i].parent], -nodes[i].score))
        for rank, index in enumerate(at_step):
            rows[index] = rank - (len(at_step) - 1) / 2
    return rows


def beam_search_tree(
    nodes: Sequence[BeamNode],
    labels: Sequence[str],
    title: str = "Beam search: kept beams (blue) and pruned branches (grey)",
) -> Figure:
    """The branches a beam search scored, one column per step, each with its token
    (``labels[i]`` for node ``i``) and summed log-probability; kept beams in colour."""
    rows = _tree_rows(nodes)
    steps = max(node.step for node in nodes)
    height = max(rows) - min(rows) + 1
    figure, axis = plt.subplots(figsize=(2.4 * (steps + 1), 0.42 * height + 1.2))
    for index, node in enumerate(nodes):
        colour = "#4c72b0" if node.kept else "#b0b0b0"
        if node.parent is not None:
            axis.plot([nodes[node.parent].step, node.step], [rows[node.parent], rows[index]],
                      color=colour, lw=2 if node.kept else 1, zorder=1)  # fmt: skip
        text = labels[index] if node.parent is None else f"{labels[index]!r}  {node.score:.2f}"
        axis.annotate(text, (node.step, rows[index]), fontsize=8, ha="left", va="center",
                      xytext=(4, 0), textcoords="offset points",
                      color="black" if node.kept else "#808080")  # fmt: skip
        axis.scatter([node.step], [rows[index]], color=colour, s=20, zorder=2)
    axis.set_xlim(-0.1, steps + 0.9)
    axis.set_xticks(range(steps + 1), ["prompt"] + [f"step {s}" for s in range(1, steps + 1)])
    axis.set_yticks([])
    axis.invert_yaxis()
    axis.set_xlabel("each label: token, summed log-probability of its path")
    axis.set_title(title, fontsize=10)
    for side in ("left", "right", "top"):
        axis.spines[side].set_visible(False)
    figure.tight_layout()
    return figure


def temperature_cut_curves(
    cuts: Sequence[TemperatureCut],
    top_k: int,
    top_p: float,
    title: str = "One next-token distribution at several temperatures",
) -> Figure:
    """Sorted probabilities at each temperature (log-log), the top-k cut (one line) and
    each temperature's top-p cut (a dotted line in its colour)."""
    figure, axis = plt.subplots(figsize=(8, 3.6))
    for colour, cut in zip(COLOURS, cuts, strict=False):
        ranks = range(1, len(cut.sorted_probs) + 1)
        axis.plot(ranks, cut.sorted_probs, color=colour, lw=1.5,
                  label=f"T = {cut.temperature:g}: top-k {top_k} keeps {cut.top_k_mass:.1%}, "
                        f"top-p {top_p:g} keeps {cut.nucleus:,} tokens")  # fmt: skip
        axis.axvline(cut.nucleus, color=colour, ls=":", lw=1.5)
    if top_k:
        axis.axvline(top_k, color="black", ls="--", lw=1, label=f"top-k cut (k = {top_k})")
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.set_xlabel("tokens, most likely first (log scale)")
    axis.set_ylabel("probability (log scale)")
    axis.set_title(title)
    axis.legend(fontsize=7, loc="lower left")
    axis.grid(alpha=0.3)
    figure.tight_layout()
    return figure
