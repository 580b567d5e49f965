"""What a run measured and how it ended: evaluation results, the history, the result.

Every evaluation record in the history says which validation blocks it scored
(``scored_on``) and how many tokens (``val_tokens``): periodic evaluations may score only
the first ``eval_batches`` batches, and a loss measured on other text is another number.
The best model is chosen among evaluations scored on the same blocks
(:meth:`TrainingHistory.comparable`), never by comparing across sets.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from helpers.environment import atomic_write_text
from helpers.training.config import Precision
from helpers.training.errors import TrainingError

LN2 = math.log(2)
WHOLE_SPLIT = "whole validation split"


def scored_on(blocks: int, of: int) -> str:
    """How a history names the blocks an evaluation scored: the first ``blocks`` of ``of``."""
    return WHOLE_SPLIT if blocks >= of else f"first {blocks} of {of} validation blocks"


@dataclass(frozen=True)
class EvalResult:
    """Validation metrics from the mean next-token cross-entropy ``loss`` (nats/token).

    ``scored_on`` names the blocks it was measured on (see :func:`scored_on`)."""

    loss: float
    tokens: int
    chars_per_token: float | None = None
    scored_on: str | None = None

    @property
    def perplexity(self) -> float:
        """exp(loss): the model is as unsure as a uniform choice among this many tokens."""
        return math.exp(min(self.loss, 700.0))

    @property
    def bits_per_token(self) -> float:
        return self.loss / LN2

    @property
    def bits_per_char(self) -> float | None:
        """Bits per character: comparable across tokenizers (needs characters per token)."""
        return None if not self.chars_per_token else self.bits_per_token / self.chars_per_token

    def as_dict(self) -> dict[str, Any]:
        return {
            "val_loss": self.loss,
            "perplexity": self.perplexity,
            "bits_per_token": self.bits_per_token,
            "bits_per_char": self.bits_per_char,
            "val_tokens": self.tokens,
            "scored_on": self.scored_on,
        }


@dataclass
class TrainingHistory:
    """What happened, step by step: train records and eval records, JSON round-trippable."""

    train: list[dict[str, Any]] = field(default_factory=list)
    eval: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"train": self.train, "eval": self.eval}

    def save(self, path: str | os.PathLike) -> Path:
        return atomic_write_text(path, json.dumps(self.to_dict(), indent=1))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainingHistory:
        return cls(train=list(data.get("train", [])), eval=list(data.get("eval", [])))

    @classmethod
    def load(cls, path: str | os.PathLike) -> TrainingHistory:
        path = Path(path)
        try:
            return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (UnicodeDecodeError, ValueError, AttributeError) as error:
            raise TrainingError(
                f"{path} is not a training history that can be read ({error}): it was cut "
                f"short or edited. Training again into its folder writes it anew (the run's "
                f"checkpoints keep the same records); or delete it."
            ) from error

    def comparable(self) -> list[dict[str, Any]]:
        """The evaluations the best model is chosen among: those scored on the same blocks
        as the first one (the starting point, scored like every periodic evaluation).

        When periodic evaluations score only the first ``eval_batches`` batches, the
        run's last evaluation of the whole split is not among them: other text gives
        another loss, and comparing the two would pick the easier text, not the better
        model."""
        if not self.eval:
            return []
        first = self.eval[0].get("scored_on")
        return [record for record in self.eval if record.get("scored_on") == first]

    @property
    def best_eval(self) -> dict[str, Any] | None:
        """The evaluation with the lowest validation loss among :meth:`comparable` ones."""
        records = self.comparable()
        return min(records, key=lambda r: r["val_loss"]) if records else None


def human_size(size: int) -> str:
    """Bytes in decimal units, as disks and Google Drive count them: 498 MB, 1.5 GB."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            value = size / scale
            return f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"
    return f"{size} B"


@dataclass
class TrainingResult:
    """The outcome of :func:`train`."""

    output_dir: Path
    history: TrainingHistory
    completed_steps: int
    total_steps: int
    precision: Precision
    device: str
    processes: int
    best_val_loss: float | None
    final_eval: EvalResult | None
    resumed_from: Path | None = None
    interrupted: bool = False
    stopped_early: bool = False
    out_of_time: bool = False
    model_saved: bool = False
    seconds: float = 0.0
    train_seconds: float = 0.0
    tokens_seen: int = 0
    """Tokens trained on (all processes, all sessions)."""
    max_seconds: float | None = None
    """The run's time budget (None: none)."""
    step_cap: int | None = None
    """The most steps the settings allowed (``max_steps`` or the epochs)."""
    model: nn.Module | None = field(default=None, repr=False)
    checkpoint_dir: Path | None = None
    resume_dir: Path | None = None
    model_bytes: int = 0
    """Size of the saved model's files in ``output_dir`` (not its checkpoints)."""
    checkpoint_bytes: int = 0
    """Size of the checkpoints in ``checkpoint_dir``."""
    resume_bytes: int = 0
    """Size of the resume point in ``resume_dir`` (0: none)."""

    def storage(self) -> str:
        """One line: how much each saved thing takes, and where it lives."""
        parts = [
            f"saved model {human_size(self.model_bytes)} in {self.output_dir}"
            if self.model_bytes
            else f"no saved model in {self.output_dir}",
            f"checkpoints {human_size(self.checkpoint_bytes)} in {self.checkpoint_dir}"
            if self.checkpoint_dir is not None
            else "no checkpoints",
            f"resume point {human_size(self.resume_bytes)} in {self.resume_dir}"
            if self.resume_bytes
            else f"no resume point in {self.resume_dir}"
            if self.resume_dir is not None
            else "no resume point (resume_dir not set)",
        ]
        return "; ".join(parts)

    def achieved(self) -> str:
        """One line: what a time budget bought on this machine."""
        if self.step_cap is not None and self.total_steps >= self.step_cap:
            planned = f"cap of {self.step_cap} steps"
        else:
            planned = f"{self.total_steps} steps planned to fit it"
        return (
            f"time budget {self.max_seconds:g} s: {planned}; done {self.completed_steps} steps, "
            f"{self.tokens_seen:,} tokens in {self.train_seconds:.1f} s of training"
        )

    def summary(self) -> str:
        """A few lines for the end of a run."""
        state = (
            "interrupted (checkpoint saved: re-run to resume)"
            if self.interrupted
            else "stopped early (no better validation loss)"
            if self.stopped_early
            else "stopped at the time limit"
            if self.out_of_time
            else "finished"
        )
        # after a resume, the training time counts the earlier sessions too
        times = (
            f"{self.train_seconds:.1f} s of training over all sessions, "
            f"{self.seconds:.1f} s in this call"
            if self.resumed_from
            else f"{self.train_seconds:.1f} s training, {self.seconds:.1f} s in all"
        )
        lines = [
            f"training {state}: step {self.completed_steps} of {self.total_steps}"
            + (f", resumed from {self.resumed_from.name}" if self.resumed_from else ""),
            *([self.achieved()] if self.max_seconds is not None else []),
            f"device {self.device} x {self.processes} process(es), precision {self.precision}, "
            + times,
        ]
        if self.final_eval is not None:
            e = self.final_eval
            bpc = f", {e.bits_per_char:.3f} bits/char" if e.bits_per_char else ""
            where = f" ({e.scored_on}, {e.tokens:,} tokens)" if e.scored_on else ""
            lines.append(
                f"validation{where}: loss {e.loss:.4f}, perplexity {e.perplexity:.2f}"
                f", {e.bits_per_token:.3f} bits/token{bpc}"
            )
        if self.model_saved:
            best = self.history.best_eval or {}
            where = f" on the {best['scored_on']}" if best.get("scored_on") else ""
            lines.append(
                f"best model (val loss {self.best_val_loss:.4f}{where}, step "
                f"{best.get('step', '?')}) saved in {self.output_dir}"
            )
        lines.append(self.storage())
        return "\n".join(lines)
