"""Time budgets: how many steps fit in the seconds left, and when to plan again.

With ``TrainingConfig.max_seconds`` the loop times its steps; after
``CALIBRATION_STEPS`` it asks :func:`steps_that_fit` how long the run can be, and the
learning-rate schedule is re-planned to end there. It plans again at steps 8, 16, 32, ...
and at 80 % of the plan (:func:`replan_due`), since a machine shared with other work
changes speed. A slower machine so trains as long as a fast one, and takes fewer steps.
"""

from __future__ import annotations

import statistics

CALIBRATION_STEPS = 4
"""Steps timed before the first plan (the first of them, which allocates memory, is not
counted)."""


def replan_due(timed_steps: int, step: int, planned: int | None) -> bool:
    """Is it time to plan (again), at optimizer step ``step`` after ``timed_steps`` timed
    steps in this session, the current plan being ``planned`` (None: none yet)?"""
    if timed_steps < CALIBRATION_STEPS:
        return False
    if planned is None:
        return True
    return (step & (step - 1) == 0 and step < planned) or step == int(0.8 * planned)


def steps_that_fit(
    step_seconds: list[float], done: int, train_seconds: float, max_seconds: float, cap: int
) -> int:
    """The run's length: ``done`` steps plus as many as fit in the time left, at the
    median of the recent half of ``step_seconds`` each; at least one more, at most ``cap``."""
    timed = step_seconds[1:] or step_seconds
    per_step = statistics.median(timed[-max(3, len(timed) // 2) :])
    left = max(max_seconds - train_seconds, 0.0)
    return min(cap, done + max(int(left / max(per_step, 1e-9)), 1))
