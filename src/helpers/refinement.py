"""Choosing a setting honestly: grids that grow past an edge winner, and seeds with intervals.

:func:`search_log_grid` tries a 1-D grid of positive values (a learning rate, a
temperature, a top-k) and, while the best value sits on an edge of what was tried, adds
the next point beyond that edge, one log-step further, until the best is inside the tried
range, reaches a bound the setting cannot pass (top-p cannot exceed 1), or the number of
extensions runs out. A winner on the edge of its grid is not a choice: the best value may
lie beyond it. :func:`mean_interval` summarises the same measurement over several seeds
as a mean and a Student-t confidence interval.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

# two-sided 97.5 % quantiles of Student's t, by degrees of freedom (for 95 % intervals)
T_975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
         9: 2.262, 10: 2.228, 12: 2.179, 15: 2.131, 20: 2.086, 30: 2.042}  # fmt: skip
Z_975 = 1.960


@dataclass
class GridSearch:
    """What :func:`search_log_grid` tried, in order, and what it concluded."""

    initial: list[float]
    tried: list[tuple[float, float]] = field(default_factory=list)
    """``(value, score)`` in the order they were evaluated (the initial grid first)."""
    stopped: Literal["interior", "bound", "limit"] = "interior"
    """Why the search ended: the best is inside the tried range; it sits on a bound the
    setting cannot pass; or on an edge with no extensions left (then it is not a
    conclusive choice, and the notebook says so)."""
    integer: bool = False
    """Whole-number values (top-k): :attr:`best` is then an ``int``."""

    @property
    def extended(self) -> list[float]:
        """The values added beyond the initial grid."""
        return [value for value, _ in self.tried[len(self.initial) :]]

    @property
    def points(self) -> list[tuple[float, float]]:
        """``(value, score)`` sorted by value."""
        return sorted(self.tried)

    @property
    def best(self) -> float:
        value = min(self.tried, key=lambda item: _key(item[1]))[0]
        return int(value) if self.integer else value

    @property
    def best_score(self) -> float:
        return min(_key(score) for _, score in self.tried)

    def score_of(self, value: float) -> float:
        return next(score for tried, score in self.tried if tried == value)

    def as_dict(self) -> dict[str, Any]:
        """JSON-able (for a cached sweep); :meth:`from_dict` reads it back."""
        return {"initial": self.initial, "tried": [list(t) for t in self.tried],
                "stopped": self.stopped, "integer": self.integer}  # fmt: skip

    @classmethod
    def from_dict(cls, saved: dict[str, Any]) -> GridSearch:
        return cls(
            initial=[float(v) for v in saved["initial"]],
            tried=[(float(v), float(s)) for v, s in saved["tried"]],
            stopped=saved["stopped"],
            integer=bool(saved.get("integer", False)),
        )

    def describe(self, name: str) -> str:
        """One sentence on the outcome, for the notebook's prose."""
        values = [value for value, _ in self.points]
        grown = (
            f", extended to {', '.join(f'{v:g}' for v in self.extended)}" if self.extended else ""
        )
        where = {
            "interior": "inside the tried range, so it is a real optimum of this grid",
            "bound": "on a bound the setting cannot pass",
            "limit": "still on the edge after every allowed extension: not conclusive",
        }[self.stopped]
        return (
            f"{name}: tried {', '.join(f'{v:g}' for v in values)} "
            f"(initial grid {', '.join(f'{v:g}' for v in self.initial)}{grown}); "
            f"best {self.best:g}, {where}."
        )


def _key(score: float) -> float:
    """Scores are minimised; a failed (NaN) trial counts as the worst."""
    return math.inf if math.isnan(score) else score


def _check_grid(
    grid: Sequence[float], lower: float | None, upper: float | None, integer: bool
) -> list[float]:
    values = sorted(float(v) for v in grid)
    if len(values) < 2:
        raise ValueError(f"A grid needs at least 2 values to have edges, got {list(grid)}.")
    if len(set(values)) != len(values):
        raise ValueError(f"The grid repeats a value: {list(grid)}. Give distinct values.")
    if values[0] <= 0 or any(math.isnan(v) or math.isinf(v) for v in values):
        raise ValueError(f"A log-scale grid needs finite values > 0, got {list(grid)}.")
    if integer and any(v != int(v) for v in values):
        raise ValueError(f"integer=True needs whole numbers, got {list(grid)}.")
    if lower is not None and upper is not None and lower >= upper:
        raise ValueError(f"lower ({lower}) must be below upper ({upper}).")
    if (lower is not None and values[0] < lower) or (upper is not None and values[-1] > upper):
        raise ValueError(f"The grid {list(grid)} leaves the bounds [{lower}, {upper}].")
    return values


def _beyond(
    edge: float, neighbour: float, bound: float | None, integer: bool, tried: set[float]
) -> float | None:
    """The next point past ``edge``, one log-step (edge / neighbour) further; clipped to
    ``bound``; None if nothing new lies there."""
    value = float(f"{edge * (edge / neighbour):.3g}")  # 3 significant digits: readable values
    if bound is not None:
        value = max(value, bound) if value < edge else min(value, bound)
    if integer:
        value = float(math.floor(value) if value < edge else math.ceil(value))
        if bound is not None and (value - bound) * (edge - bound) < 0:
            value = float(bound)
    return None if value in tried or value <= 0 else value


def search_log_grid(
    evaluate: Callable[[float], float],
    grid: Sequence[float],
    *,
    lower: float | None = None,
    upper: float | None = None,
    integer: bool = False,
    max_extensions: int = 3,
) -> GridSearch:
    """Minimise ``evaluate(value)`` over ``grid``, growing the grid while its best is on an edge.

    The step beyond an edge repeats the ratio between the edge and its neighbour (a
    log-scale grid keeps its spacing). ``lower``/``upper`` bound the values the setting
    allows; ``integer`` rounds outward (top-k). Each value is evaluated once.
    """
    if max_extensions < 0:
        raise ValueError(f"max_extensions must be >= 0, got {max_extensions}.")
    values = _check_grid(grid, lower, upper, integer)
    search = GridSearch(initial=values, integer=integer)
    for value in values:
        search.tried.append((value, float(evaluate(int(value) if integer else value))))
    for _ in range(max_extensions + 1):
        ordered = [value for value, _ in search.points]
        tied = {value for value, score in search.tried if _key(score) == search.best_score}
        if ordered[0] not in tied and ordered[-1] not in tied:
            search.stopped = "interior"
            return search
        at_low = ordered[0] in tied  # an edge that ties with the best counts as the best
        edge, neighbour = (ordered[0], ordered[1]) if at_low else (ordered[-1], ordered[-2])
        bound = lower if at_low else upper
        if bound is not None and edge == bound:
            search.stopped = "bound"
            return search
        if len(search.tried) - len(values) >= max_extensions:
            break
        nxt = _beyond(edge, neighbour, bound, integer, set(ordered))
        if nxt is None:
            search.stopped = "bound"
            return search
        search.tried.append((nxt, float(evaluate(int(nxt) if integer else nxt))))
    search.stopped = "limit"
    return search


@dataclass(frozen=True)
class Interval:
    """A mean over ``n`` seeds and its two-sided confidence interval."""

    mean: float
    low: float
    high: float
    n: int
    confidence: float = 0.95

    def __str__(self) -> str:
        return f"{self.mean:.3g} [{self.low:.3g}, {self.high:.3g}]"

    def overlaps(self, other: Interval) -> bool:
        return self.low <= other.high and other.low <= self.high


def t_quantile(degrees: int) -> float:
    """Student's t 97.5 % quantile for ``degrees`` of freedom (the nearest tabulated lower
    degrees, which errs wide; the normal 1.96 beyond 30)."""
    if degrees < 1:
        raise ValueError(f"A t quantile needs >= 1 degree of freedom, got {degrees}.")
    if degrees > 30:
        return Z_975
    return T_975[max(d for d in T_975 if d <= degrees)]


def mean_interval(values: Sequence[float]) -> Interval:
    """The mean of ``values`` (one per seed) with its 95 % Student-t interval:
    mean ± t(n-1) · s / √n, where s is the sample standard deviation."""
    data = [float(v) for v in values]
    if len(data) < 2:
        raise ValueError(f"An interval needs at least 2 seeds, got {len(data)}: add seeds.")
    if any(math.isnan(v) for v in data):
        raise ValueError(f"A seed's value is NaN: {data}. Check the runs before summarising.")
    mean = statistics.fmean(data)
    half = t_quantile(len(data) - 1) * statistics.stdev(data) / math.sqrt(len(data))
    return Interval(mean, mean - half, mean + half, len(data))
