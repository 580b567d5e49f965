"""Time a training step before a run, and pick a batch this machine can afford.

A run with a time budget (``TrainingConfig.max_seconds``) takes as many steps as fit. A
large batch on a slow machine then gives a handful of steps: too few for the learning
rate to warm up and decay, or for fine-tuning to move far. :func:`measure_step_seconds`
times a few steps of a short, discarded run; :func:`batch_for_steps` halves the batch
until the budget holds about the steps wanted, and :func:`choose_batch` does both;
:func:`batch_of_unfinished_run` keeps the batch of a run that will be resumed, and
:func:`automatic_batch` puts the two together for ``python -m helpers train --batch-size auto``;
:func:`with_batch_size` applies a chosen batch.

Measured with ``gpt2lab-base`` fine-tuned on the course's Shakespeare for 40 s: where a
step of 16 blocks took about 2.2 s (fp32 on a CPU as slow as a 2-core AVX2 one), batch 16
reached validation perplexity 584 in 18 steps, batch 4 356 in 61, batch 2 326 in 116;
where it took 0.29 s (bf16), batch 16 184 in 137 steps and batch 8 170 at the 240-step cap.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import tempfile
from dataclasses import dataclass, replace
from typing import Any

from helpers.training.checkpoints import STATE_FILE, unfinished_checkpoint
from helpers.training.config import SMALLEST_BATCH, TrainingConfig
from helpers.training.loop import train


def measure_step_seconds(
    config: TrainingConfig, dataset: Any, steps: int = 5, **train_kwargs: Any
) -> float:
    """Seconds per training step of ``config`` on this machine: a short run of ``steps``
    steps in a temporary folder (its printout kept back, nothing left behind), the median
    of the steps after the first two (which pay for warming up)."""
    if steps < 3:
        raise ValueError(f"steps must be >= 3 (two to warm up, then the timed ones), got {steps}.")
    with tempfile.TemporaryDirectory() as scratch:
        probe = replace(
            config, output_dir=f"{scratch}/model", checkpoint_directory=f"{scratch}/checkpoints",
            resume_dir=None, max_steps=steps, max_seconds=None, eval_every=0, eval_batches=1,
            log_every=1, checkpoint_every=0, resume=False, progress_bar=False,
        )  # fmt: skip
        report = io.StringIO()
        with contextlib.redirect_stdout(report), contextlib.redirect_stderr(report):
            result = train(probe, dataset, **train_kwargs)
    rates = sorted(r["tokens_per_second"] for r in result.history.train[2:])  # logged each step
    return config.batch_size * config.block_size / rates[len(rates) // 2]


def batch_for_steps(
    step_seconds: float,
    batch_size: int,
    budget_seconds: float,
    target_steps: int,
    smallest: int = SMALLEST_BATCH,
) -> int:
    """The batch for a run of ``budget_seconds`` whose number of steps comes closest to
    ``target_steps`` (on a log scale): ``batch_size``, whose step took ``step_seconds``, or
    a half, a quarter ... of it, down to ``smallest``. A step's time is taken as
    proportional to the batch. With the run's step cap as the target, the budget is spent
    on about as many steps as the run allows; fewer would leave it short of steps, more
    would stop it at the cap before its time is up."""
    if not (step_seconds > 0 and budget_seconds > 0 and target_steps >= 1):
        raise ValueError(
            f"step_seconds and budget_seconds must be > 0 and target_steps >= 1, got "
            f"{step_seconds}, {budget_seconds} and {target_steps}."
        )
    if not 1 <= smallest <= batch_size:
        raise ValueError(f"smallest must be between 1 and batch_size {batch_size}, got {smallest}.")

    def distance(batch: int) -> float:
        steps = budget_seconds / (step_seconds * batch / batch_size)
        return abs(math.log(steps / target_steps))

    candidates = [batch_size]
    while candidates[-1] // 2 >= smallest:
        candidates.append(candidates[-1] // 2)
    return min(candidates, key=distance)


@dataclass(frozen=True)
class BatchChoice:
    """What :func:`choose_batch` measured and chose."""

    probe_batch: int
    probe_seconds: float  # a step of probe_batch blocks, measured
    full_batch: int
    step_seconds: float  # a step of full_batch blocks, scaled from the probe
    batch: int  # the batch chosen
    budget_seconds: float

    def steps(self, batch: int) -> float:
        """About how many steps of ``batch`` blocks fit the budget."""
        return self.budget_seconds / (self.step_seconds * batch / self.full_batch)


def choose_batch(
    config: TrainingConfig,
    dataset: Any,
    budget_seconds: float,
    target_steps: int,
    probe_batch: int = 4,
    **train_kwargs: Any,
) -> BatchChoice:
    """Time a few steps at ``probe_batch`` blocks (cheap even on a slow machine), scale the
    time to ``config.batch_size`` (a step's time taken as proportional to the batch), and
    choose with :func:`batch_for_steps` the batch whose steps in ``budget_seconds`` come
    closest to ``target_steps``."""
    probe_batch = min(probe_batch, config.batch_size)
    probe = replace(config, batch_size=probe_batch)
    probe_seconds = measure_step_seconds(probe, dataset, **train_kwargs)
    step_seconds = probe_seconds * config.batch_size / probe_batch
    batch = batch_for_steps(step_seconds, config.batch_size, budget_seconds, target_steps)
    return BatchChoice(
        probe_batch, probe_seconds, config.batch_size, step_seconds, batch, budget_seconds
    )


def batch_of_unfinished_run(config: TrainingConfig) -> int | None:
    """The batch of an unfinished run into ``config``'s folders, or None. Resuming it needs
    that batch (a checkpoint holds it in its settings), whatever a new timing would choose:
    measure again only when there is nothing to resume."""
    checkpoint = unfinished_checkpoint(config)
    if checkpoint is None:
        return None
    try:
        state = json.loads((checkpoint / STATE_FILE).read_text(encoding="utf-8"))
        return int(state["fingerprint"]["batch_size"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def with_batch_size(config: TrainingConfig, batch: int) -> TrainingConfig:
    """``config`` with ``batch`` blocks a step, its periodic evaluations scoring as many
    blocks as before (``eval_batches`` rescaled; None, the whole split, stays None)."""
    blocks = config.eval_batches * config.batch_size if config.eval_batches else None
    return replace(config, batch_size=batch, eval_batches=blocks and max(1, blocks // batch))


def automatic_batch(config: TrainingConfig, dataset: Any, **train_kwargs: Any) -> tuple[int, str]:
    """The batch for ``config`` (``config.batch_size`` being the largest allowed) on this
    machine, and a line that says why: an unfinished run's batch, so that it resumes;
    else the batch whose steps in ``config.max_seconds`` come closest to the run's step
    count at the largest batch (``max_steps``, or ``epochs`` over the training blocks).
    A run without a time budget, or of several processes (each would time its own
    steps and could choose differently), is refused with what to do instead."""
    if config.max_seconds is None:
        raise ValueError(
            "--batch-size auto chooses the batch whose steps fit a time budget: give "
            "--max-seconds too (e.g. --max-seconds 600), or a number of blocks "
            "(e.g. --batch-size 8)."
        )
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ValueError(
            "--batch-size auto cannot be used with several processes: each would time its "
            "own steps and could choose another batch. Give a number (e.g. --batch-size 8)."
        )
    kept = batch_of_unfinished_run(config)
    if kept is not None:
        return kept, f"batch {kept}: the unfinished run in {config.output_dir} resumes with it"
    blocks = len(dataset["train"])
    target = config.max_steps or max(
        1, math.ceil(blocks * config.epochs / (config.batch_size * config.grad_accum))
    )
    choice = choose_batch(config, dataset, config.max_seconds, target, **train_kwargs)
    return choice.batch, (
        f"batch {choice.batch}: a step of {choice.probe_batch} blocks took "
        f"{choice.probe_seconds:.2f} s here, so {config.max_seconds:g} s hold about "
        f"{choice.steps(choice.batch):.0f} steps of {choice.batch} (the run's "
        f"{target} steps at batch {config.batch_size} would need about "
        f"{target * choice.step_seconds:.0f} s)"
    )
