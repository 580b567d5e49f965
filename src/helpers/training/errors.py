"""What stops a training run, each error with a message that says what to change."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

import torch


class TrainingError(RuntimeError):
    """A training run cannot go on; the message says why and what to change."""


class NonFiniteLossError(TrainingError):
    """The loss became NaN or infinite."""


class TrainingOutOfMemoryError(TrainingError):
    """The accelerator ran out of memory."""


class CheckpointMismatchError(TrainingError):
    """The output folder holds checkpoints of a run with different settings."""


class DamagedCheckpointError(TrainingError):
    """A checkpoint's files are all there at the sizes written, but they do not load."""


class DiskFullError(TrainingError):
    """The disk filled up while a checkpoint or the model was written; what was there
    before is intact."""


def disk_full(
    error: BaseException, folder: Path, needed: int, what: str, freed: int = 0
) -> DiskFullError | None:
    """A :class:`DiskFullError` when writing ``what`` to ``folder`` failed for lack of space,
    else None (``error`` is something else: raise it as it is).

    The writers say it differently (``OSError`` ENOSPC; "No space left on device (os error
    28)" in the text of safetensors' and tokenizers' errors; torch.save's "unexpected
    pos"), so a failed write also counts as a full disk when the disk has less free space
    than the ``needed`` bytes, counting the ``freed`` bytes that
    the failed write left behind (call it before deleting them: a file the writer still
    holds open keeps its space until the error is gone)."""
    from helpers.training.history import human_size

    full = (isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT)) or (
        os.strerror(errno.ENOSPC) in str(error)
    )
    try:
        free = shutil.disk_usage(folder if folder.exists() else folder.parent).free + freed
    except OSError:
        free = None
    if not full and (free is None or free >= needed):
        return None
    more = needed - free if free is not None else 0
    short = f"at least {human_size(more)} more" if more > 0 else "space"
    return DiskFullError(
        f"The disk is full: writing {what} to {folder} failed ({error}). It needs about "
        f"{human_size(needed)}: free {short} on that disk (delete old models or runs, "
        f"their checkpoints/ folders, or empty the trash), or write elsewhere "
        f"(--output-dir, --checkpoint-directory). What was saved before is intact: run "
        f"the same command again to go on."
    )


def is_out_of_memory(error: BaseException) -> bool:
    oom = getattr(torch, "OutOfMemoryError", None) or torch.cuda.OutOfMemoryError
    return isinstance(error, oom) or "out of memory" in str(error).lower()


def out_of_memory(batch_size: int, grad_accum: int, block: int) -> TrainingOutOfMemoryError:
    return TrainingOutOfMemoryError(
        f"The GPU ran out of memory with batch size {batch_size} x {block} tokens. "
        f"Lower --batch-size (and raise --grad-accum by the same factor to keep the "
        f"effective batch of {batch_size * grad_accum}), lower --block-size, "
        f"or use a smaller model."
    )
