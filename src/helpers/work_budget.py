"""Fit a fixed amount of work into a budget of seconds: measure, then cut.

Training plans by seconds already (``TrainingConfig.max_seconds``, planned step by step in
``helpers/training/budget.py``). The other big costs
of the course are work of a known size done at a steady rate: scoring held-out text
costs about the same per character all the way through, so on any machine a short
sample tells how much text a budget of seconds can score. :func:`measure_rate` times
such a sample; :func:`share_budget` then gives each text an equal share (short texts
whole, the rest cut to one common length), and :func:`cut_texts` applies it and says what
was kept. A fast machine scores everything; a slow one scores less in the same time and
says so, instead of taking much longer.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass


def measure_rate(work: Callable[[], float], repeats: int = 2) -> float:
    """Units per second of ``work`` (a call that does some work and returns how many units
    it did: characters scored, tokens generated). It runs ``repeats`` times and the fastest
    counts: the first call often pays one-time costs (memory, kernels) the rest do not."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}.")
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        units = float(work())
        seconds = time.perf_counter() - start
        if not (units > 0 and math.isfinite(units)):
            raise ValueError(
                f"The timed work reported {units!r} units: it must return how many it did "
                f"(a positive number), e.g. the characters it scored."
            )
        best = max(best, units / max(seconds, 1e-9))
    return best


def share_budget(lengths: Sequence[int], budget: float) -> int | None:
    """The common cut ``c`` that spends ``budget`` units over texts of these ``lengths``:
    every text gives ``min(length, c)``, and the total is at most ``budget``. None when
    the budget holds every text whole. Each text keeps at least one unit."""
    if not lengths:
        raise ValueError("There are no texts to share the budget between.")
    if any(length < 0 for length in lengths):
        raise ValueError(f"Lengths must be >= 0, got {sorted(lengths)[:3]}.")
    if not budget > 0:
        raise ValueError(f"The budget must be > 0 units, got {budget!r}.")
    if sum(lengths) <= budget:
        return None
    remaining, left = float(budget), len(lengths)
    for length in sorted(lengths):  # the short texts fit whole; the rest share what is left
        if length * left > remaining:
            return max(1, int(remaining // left))
        remaining, left = remaining - length, left - 1
    return None  # (not reached: the total exceeds the budget)


@dataclass(frozen=True)
class CutTexts:
    """Texts cut to fit a budget, and how much of them was kept."""

    texts: list[str]
    cut: int | None  # characters kept of each text (None: all of every text)
    kept_characters: int
    total_characters: int

    @property
    def kept_share(self) -> float:
        return self.kept_characters / max(self.total_characters, 1)

    def describe(self) -> str:
        if self.cut is None:
            return f"all {self.total_characters:,} characters of the {len(self.texts)} texts"
        return (
            f"the first {self.cut:,} characters of each of the {len(self.texts)} texts: "
            f"{self.kept_characters:,} of {self.total_characters:,} characters "
            f"({self.kept_share:.0%})"
        )


def cut_texts(
    texts: Sequence[str],
    characters_per_second: float,
    seconds: float | None,
    minimum: int = 1,
) -> CutTexts:
    """The start of each text, as much as ``seconds`` of work at ``characters_per_second``
    affords, shared equally (:func:`share_budget`). ``seconds`` None keeps every text whole.
    Each text keeps at least ``minimum`` characters (or all of it), even if a tiny budget
    is then overspent: a cut too short to measure anything would waste the time it took."""
    texts = list(texts)
    total = sum(len(text) for text in texts)
    if seconds is None:
        return CutTexts(texts, None, total, total)
    if not (seconds > 0 and math.isfinite(seconds)):
        raise ValueError(f"seconds must be a positive number (or None: no cut), got {seconds!r}.")
    if not (characters_per_second > 0 and math.isfinite(characters_per_second)):
        raise ValueError(
            f"characters_per_second must be a positive number, got {characters_per_second!r}: "
            f"measure it with measure_rate."
        )
    if minimum < 1:
        raise ValueError(f"minimum must be >= 1 character, got {minimum}.")
    cut = share_budget([len(text) for text in texts], characters_per_second * seconds)
    if cut is not None and cut < minimum:
        cut = minimum if any(len(text) > minimum for text in texts) else None
    kept = texts if cut is None else [text[:cut] for text in texts]
    return CutTexts(kept, cut, sum(len(text) for text in kept), total)
