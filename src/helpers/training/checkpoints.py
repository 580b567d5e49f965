"""Checkpoints: saved atomically, found again, copied to a folder that survives the machine.

A checkpoint is a folder ``checkpoint-000120`` written by accelerate's ``save_state``
(model, optimizer, schedule, random generators, data position) plus ``trainer_state.json``:
the run's :class:`RunState`, the settings it must share with a run that resumes it (its
fingerprint), and the size of every file, so that a half-written checkpoint is never
taken for a whole one. Each is written to a staging folder and renamed into place.

Checkpoints can live on a fast local disk (``checkpoint_dir``) while one rolling copy,
the *resume point*, goes to a folder that survives the machine (``resume_dir``, e.g.
Google Drive on Colab). :class:`Checkpoints` does all of it for a run.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from functools import partial
from pathlib import Path
from typing import Any

import torch

from helpers.environment import follow_umask
from helpers.model_source import resolve_model_name
from helpers.training.config import TrainingConfig
from helpers.training.errors import CheckpointMismatchError, DamagedCheckpointError, disk_full
from helpers.training.history import TrainingHistory

CHECKPOINT_PREFIX = "checkpoint-"
STATE_FILE = "trainer_state.json"


def checkpoint_step(path: Path) -> int | None:
    """The step number in a checkpoint folder's name (``checkpoint-000120`` -> 120)."""
    suffix = path.name.removeprefix(CHECKPOINT_PREFIX)
    return int(suffix) if path.name.startswith(CHECKPOINT_PREFIX) and suffix.isdigit() else None


def is_complete_checkpoint(path: Path) -> bool:
    """A checkpoint is usable when its state file lists files that are all there, whole."""
    try:
        state = json.loads((path / STATE_FILE).read_text(encoding="utf-8"))
        files = state["files"]
        return bool(files) and all(
            (path / name).is_file() and (path / name).stat().st_size == size
            for name, size in files.items()
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def list_checkpoints(checkpoint_dir: str | os.PathLike) -> list[Path]:
    """Complete checkpoints in ``checkpoint_dir``, oldest first (half-written ones skipped)."""
    folder = Path(checkpoint_dir)
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if p.is_dir() and checkpoint_step(p) is not None]
    return sorted((p for p in found if is_complete_checkpoint(p)), key=checkpoint_step)


def latest_checkpoint(checkpoint_dir: str | os.PathLike) -> Path | None:
    """The most recent complete checkpoint, or None."""
    checkpoints = list_checkpoints(checkpoint_dir)
    return checkpoints[-1] if checkpoints else None


def _checkpoint_entries(folder: Path) -> list[Path]:
    """Everything in ``folder`` that checkpointing wrote: ``checkpoint-*`` folders, whole or
    not, and ``.tmp-checkpoint-*`` staging folders; nothing else in it is touched."""
    if not folder.is_dir():
        return []
    return [
        p
        for p in folder.iterdir()
        if p.name.startswith((CHECKPOINT_PREFIX, f".tmp-{CHECKPOINT_PREFIX}"))
    ]


def remove_checkpoints(folder: Path, keep: Path | None = None) -> None:
    """Delete the checkpoints (and staging folders) in ``folder`` but ``keep``; then the
    folder itself if that leaves it empty."""
    for entry in _checkpoint_entries(folder):
        if entry != keep:
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
    try:
        folder.rmdir()
    except OSError:
        pass  # not empty (or not there): leave it


def files_bytes(folder: Path, recursive: bool = True) -> int:
    """Total size of the files in ``folder`` (only those directly in it unless
    ``recursive``); 0 when it is not there."""
    if not folder.is_dir():
        return 0
    total = 0
    for path in folder.rglob("*") if recursive else folder.iterdir():
        try:
            if path.is_file() and not path.is_symlink():
                total += path.stat().st_size
        except OSError:  # deleted while we looked
            pass
    return total


def parameter_bytes(model: torch.nn.Module) -> int:
    """The size of a model's weights (a weight shared by two layers counts once)."""
    unique = {id(p): p for p in model.parameters()}
    return sum(p.numel() * p.element_size() for p in unique.values())


def checkpoints_bytes(folder: Path | None) -> int:
    """Disk used by the checkpoints in ``folder`` (0 for None)."""
    if folder is None:
        return 0
    return sum(files_bytes(p) for p in _checkpoint_entries(folder) if p.is_dir())


@contextmanager
def staged_write(staging: Path | None, folder: Path, needed: Callable[[], int], what: str):
    """Around a write into ``staging``: if it fails, or Ctrl-C stops it, delete ``staging``,
    so that nothing half-written stays behind; a full disk becomes a
    :class:`~helpers.training.errors.DiskFullError` saying how much ``what`` needs
    (``needed()`` bytes, asked only then). A killed process leaves ``staging`` (nothing runs
    then): no reader trusts a staging folder, and the next write clears it."""
    try:
        yield
    except (Exception, KeyboardInterrupt) as error:
        full = None
        if isinstance(error, Exception):
            left = files_bytes(staging) if staging is not None else 0
            full = disk_full(error, folder, needed(), what, freed=left)
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        if full is not None:
            raise full from error
        raise


def _fingerprint(checkpoint: Path) -> Any:
    return json.loads((checkpoint / STATE_FILE).read_text(encoding="utf-8")).get("fingerprint")


def copy_resume_point(checkpoint: Path, resume_dir: Path) -> Path:
    """Copy ``checkpoint`` into ``resume_dir`` as its one resume point, atomically.

    The copy goes to a staging folder there and is renamed into place once whole; only then
    are the older resume points (and staging folders left by a killed copy) deleted, so a
    copy cut off at any moment leaves the previous resume point usable. A complete resume
    point of the same step is kept as it is (it resumes the same way).
    """
    final = resume_dir / checkpoint.name
    if not (is_complete_checkpoint(final) and _fingerprint(final) == _fingerprint(checkpoint)):
        staging = resume_dir / f".tmp-{checkpoint.name}"
        resume_dir.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(staging, ignore_errors=True)
        needed = partial(files_bytes, checkpoint)
        with staged_write(staging, resume_dir, needed, f"the resume point {checkpoint.name}"):
            shutil.copytree(checkpoint, staging)
        if final.exists():  # a broken folder of that name: never a usable resume point
            shutil.rmtree(final)
        os.replace(staging, final)
    remove_checkpoints(resume_dir, keep=final)
    return final


def unfinished_checkpoint(config: TrainingConfig) -> Path | None:
    """The latest checkpoint of an *unfinished* run into ``config``'s folders, or None.

    Looks in the checkpoint folder and the resume folder (e.g. Drive, after a Colab VM was
    lost). A run that reached its last step is finished: training again starts afresh.
    Notebook 03 resumes when this finds something, and starts clean otherwise.
    """
    folders = [config.checkpoint_dir, config.resume_point_dir]
    found = [p for place in folders if place is not None for p in list_checkpoints(place)]
    for checkpoint in sorted(found, key=checkpoint_step, reverse=True):
        try:
            state = json.loads((checkpoint / STATE_FILE).read_text(encoding="utf-8"))
            done, total = state["run"]["completed_steps"], state["fingerprint"]["total_steps"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        return checkpoint if done < total else None
    return None


FINGERPRINT_BEFORE_MUON = {"optimizer": "adamw", "muon_learning_rate": None}
"""What a checkpoint written before ``optimizer`` existed was trained with: it resumes."""


def run_fingerprint(
    config: TrainingConfig, train_rows: int, block: int, total_steps: int, processes: int
) -> dict[str, Any]:
    """The settings a checkpoint must share with the run that resumes it."""
    keys = [
        "model",
        "learning_rate",
        "embedding_learning_rate",
        "output_learning_rate",
        "weight_decay",
        "lr_schedule",
        "warmup_fraction",
        "min_lr_ratio",
        "batch_size",
        "grad_accum",
        "seed",
    ]
    found = {key: getattr(config, key) for key in keys}
    found["model"] = resolve_model_name(config.model)
    found["optimizer"] = config.optimizer
    found["muon_learning_rate"] = config.muon_learning_rate if config.optimizer == "muon" else None
    found.update(
        train_blocks=train_rows, block_size=block, total_steps=total_steps, processes=processes
    )
    return found


@dataclass
class RunState:
    """Everything a resumed run needs beyond accelerate's own state: how far the run got,
    what it measured, and the figures of the log window it was in. Saved in every
    checkpoint (``trainer_state.json``, under ``"run"``), loaded on resume."""

    completed_steps: int = 0
    best_val_loss: float | None = None
    evals_without_improvement: int = 0
    ema: float = 0.0  # the smoothed training loss, before bias correction
    ema_updates: int = 0
    train_seconds: float = 0.0  # time spent in training steps, evaluations excluded
    planned_steps: int | None = None  # with a time budget: the steps planned to fit it
    # has this run saved its weights in the output folder? (None: a checkpoint from before
    # this was recorded; the output folder's config.json then tells)
    weights_saved: bool | None = False
    window: list[torch.Tensor] = field(default_factory=list)  # each step's loss since the log
    window_batches: int = 0
    history: TrainingHistory = field(default_factory=TrainingHistory)

    def to_dict(self) -> dict[str, Any]:
        data = {item.name: getattr(self, item.name) for item in fields(self)}
        data["window"] = [float(x) for x in self.window]  # on the device until saved
        data["history"] = self.history.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], device: torch.device) -> RunState:
        optional = {name: data.get(name, missing) for name, missing in _OPTIONAL.items()}
        required = {
            item.name: data[item.name] for item in fields(cls) if item.name not in _OPTIONAL
        }
        state = cls(**required, **optional)
        state.window = [torch.tensor(x, device=device) for x in state.window]
        state.history = TrainingHistory.from_dict(data["history"])
        return state


_OPTIONAL = {"planned_steps": None, "weights_saved": None}
"""Added later: older checkpoints resume without them (with these values)."""


def _lacks(saved: Any) -> list[str]:
    """What this version reads from a ``trainer_state.json`` and ``saved`` does not hold."""
    if not isinstance(saved, dict):
        return ["fingerprint", "run"]
    lacks = [key for key in ("fingerprint", "run") if not isinstance(saved.get(key), dict)]
    if "run" not in lacks:
        lacks += [
            f"run.{item.name}"
            for item in fields(RunState)
            if item.name not in saved["run"] and item.name not in _OPTIONAL
        ]
    return lacks


def _clock() -> float:
    """Seconds on a monotonic clock: what resume copies are spaced by (tests replace it)."""
    return time.monotonic()


def _same_folder(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return a == b


@contextmanager
def quiet_saving():
    """Hide the per-save chatter (a shard progress bar, a note on GPT-2's tied weights)."""
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    chatty = logging.getLogger("accelerate.utils.other")
    level = chatty.level
    chatty.setLevel(logging.ERROR)
    try:
        yield
    finally:
        chatty.setLevel(level)
        if bars:
            hf_logging.enable_progress_bar()


class Checkpoints:
    """One run's checkpoints: saved, copied to the resume folder, found and loaded again.

    ``fingerprint`` (:func:`run_fingerprint`) is saved with each checkpoint and must match
    to resume. With several processes every method is called by all of them; the main
    process writes, copies and deletes.
    """

    def __init__(
        self,
        accelerator: Any,
        config: TrainingConfig,
        fingerprint: dict[str, Any],
        expected_bytes: int = 0,
    ) -> None:
        self.accelerator, self.fingerprint = accelerator, fingerprint
        self.expected_bytes = expected_bytes  # about one checkpoint's size, before the first
        self.folder, self.resume_dir = config.checkpoint_dir, config.resume_point_dir
        self.keep, self.copy_minutes = config.keep_checkpoints, config.resume_copy_minutes
        if self.resume_dir is not None and _same_folder(self.resume_dir, self.folder):
            raise ValueError(
                f"The resume folder {self.resume_dir} is the checkpoint folder: give "
                f"--resume-dir a folder of its own (it holds one copy of the latest checkpoint)."
            )
        self.last: Path | None = None  # the latest checkpoint saved or loaded
        self.last_copy = _clock()  # copies are spaced from the start of the session

    def save(self, state: RunState) -> Path:
        """Write model, optimizer, scheduler, RNG and data position to a staging folder,
        then rename it into place; keep the last ``keep``."""
        acc, folder = self.accelerator, self.folder
        final = folder / f"{CHECKPOINT_PREFIX}{state.completed_steps:06d}"
        staging = folder / f".tmp-{final.name}"
        if acc.is_main_process:
            folder.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(staging, ignore_errors=True)
        acc.wait_for_everyone()
        previous = latest_checkpoint(folder)

        def needed() -> int:  # the last checkpoint's size: this one's, near enough
            return files_bytes(previous) if previous is not None else self.expected_bytes

        mine = staging if acc.is_main_process else None
        with staged_write(mine, folder, needed, f"the checkpoint {final.name}"):
            with quiet_saving():
                acc.save_state(str(staging))
            acc.wait_for_everyone()
            if acc.is_main_process:
                files = {p.name: p.stat().st_size for p in staging.iterdir() if p.is_file()}
                saved = {"fingerprint": self.fingerprint, "run": state.to_dict(), "files": files}
                (staging / STATE_FILE).write_text(json.dumps(saved), encoding="utf-8")
                follow_umask(staging)
        if acc.is_main_process:
            if final.exists():
                shutil.rmtree(final)
            os.replace(staging, final)
            for old in list_checkpoints(folder)[: -self.keep]:
                shutil.rmtree(old, ignore_errors=True)
        acc.wait_for_everyone()
        self.last = final
        return final

    def update_resume_point(self, force: bool = False) -> None:
        """Copy the latest checkpoint to ``resume_dir`` (when set), if the last copy is
        ``resume_copy_minutes`` old (``force``: in any case)."""
        if self.resume_dir is None or self.last is None:
            return
        acc = self.accelerator
        due = _clock() - self.last_copy >= 60 * self.copy_minutes
        acc.wait_for_everyone()
        if acc.is_main_process and (force or due):
            copy_resume_point(self.last, self.resume_dir)
            self.last_copy = _clock()
        acc.wait_for_everyone()

    def remove_resume_point(self, output_dir: Path) -> None:
        """Once the run is over and its model saved in ``output_dir``, the saved model
        replaces the resume point: delete it."""
        if self.resume_dir is None:
            return
        self.accelerator.wait_for_everyone()
        if self.accelerator.is_main_process and (output_dir / "config.json").is_file():
            remove_checkpoints(self.resume_dir)
        self.accelerator.wait_for_everyone()

    def remove_all(self) -> None:
        """Delete the checkpoints in both folders (``--no-resume``)."""
        if self.accelerator.is_main_process:
            for place in [self.folder, self.resume_dir]:
                if place is not None:
                    remove_checkpoints(place)
        self.accelerator.wait_for_everyone()

    def newest_first(self) -> list[Path]:
        """The complete checkpoints in the checkpoint and the resume folder, the latest step
        first; at equal steps the checkpoint folder's first."""
        places = [self.folder] if self.resume_dir is None else [self.folder, self.resume_dir]
        found = [p for place in places for p in list_checkpoints(place)]
        return sorted(found, key=checkpoint_step, reverse=True)  # (a stable sort)

    def latest(self) -> Path | None:
        """The latest complete checkpoint in the checkpoint or the resume folder; at equal
        steps the checkpoint folder's."""
        return next(iter(self.newest_first()), None)

    def load(self, checkpoint: Path) -> RunState:
        """Load ``checkpoint`` into the prepared objects, if its run had the same settings."""
        saved = json.loads((checkpoint / STATE_FILE).read_text(encoding="utf-8"))
        lacks = _lacks(saved)
        if lacks:
            named = ", ".join(lacks[:3]) + (", ..." if len(lacks) > 3 else "")
            raise CheckpointMismatchError(
                f"The checkpoint {checkpoint} was written by another version of the course: "
                f"its {STATE_FILE} has no {named}. "
                f"Start over with --no-resume (which deletes the checkpoints in "
                f"{checkpoint.parent}), or choose another --output-dir."
            )
        before = {**FINGERPRINT_BEFORE_MUON, **saved["fingerprint"]}
        differ = {
            key: (before.get(key), now)
            for key, now in self.fingerprint.items()
            if before.get(key) != now
        }
        if differ:
            detail = ", ".join(
                f"{k}: {old!r} there, {new!r} now" for k, (old, new) in differ.items()
            )
            raise CheckpointMismatchError(
                f"The checkpoints in {checkpoint.parent} come from a run with other settings "
                f"({detail}). Use the same settings to resume, choose another --output-dir "
                f"(and --checkpoint-directory, --resume-dir if set), or start over with "
                f"--no-resume (which deletes those checkpoints)."
            )
        try:
            self.accelerator.load_state(str(checkpoint))
        except Exception as error:  # whole in size, not in content: a disk or a sync fault
            raise DamagedCheckpointError(
                f"The checkpoint {checkpoint} is damaged: its files are all there at the sizes "
                f"written, but they do not load ({type(error).__name__})."
            ) from error
        self.last = checkpoint
        return RunState.from_dict(saved["run"], self.accelerator.device)
