"""Setting a run up: where it may write, the accelerator, and the model it starts from.

:func:`make_accelerator` picks the number format for the hardware and builds 🤗
Accelerate's ``Accelerator`` (device, processes, mixed precision, gradient
accumulation). Before anything is trained, :func:`check_output_outside_data`,
:func:`check_saved_model` and :func:`check_output_files` refuse an output folder whose
files would land among the training documents, replace a saved model no one asked to
replace, or overwrite a README.md that is no model card. :func:`load_base` loads the
model (unless one is given) and decides how the model card names it, and whether this is
fine-tuning or training from scratch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from helpers.environment import get_device
from helpers.model_source import ModelSource, locate_model, resolve_model_name
from helpers.modeling import OFFLINE_MODEL_NAME, load_model, load_model_and_tokenizer
from helpers.offline_model import BASE_MODEL_DIR, BASE_MODEL_NAME
from helpers.training.checkpoints import list_checkpoints
from helpers.training.config import Precision, TrainingConfig, choose_precision
from helpers.training.errors import TrainingError
from helpers.training.saved_model import is_model_card

MODEL_FILES = ("config.json", "model.safetensors", "model.safetensors.index.json",
               "pytorch_model.bin")  # fmt: skip
"""What ``save_pretrained`` leaves in a folder. Its ``config.json`` (written last) marks a
saved model, as everywhere in the course (``find_trained_model``, ``TrainingResult``)."""


def _resolved(path: Path) -> Path:
    try:
        return path.expanduser().resolve()
    except OSError:
        return path.expanduser().absolute()


def check_output_outside_data(output_dir: str | os.PathLike, data: str | os.PathLike) -> None:
    """Refuse an ``output_dir`` that is the training data (a folder or file on disk) or lies
    inside it: the model card (``README.md``) and the other files would be written among
    the documents, and the next load of the data would train on them. Data that is not on
    disk (a Hub dataset's name) cannot be written into: nothing to check."""
    source = Path(data).expanduser()
    if not source.exists():
        return
    source, output = _resolved(source), _resolved(Path(output_dir))
    if output != source and source not in output.parents:
        return
    where = "is the data folder" if output == source else "is inside the data folder"
    where = where if source.is_dir() else where.replace("data folder", "data file")
    raise TrainingError(
        f"--output-dir {output} {where} --data {source}: the model, its README.md and "
        f"checkpoints would be written among the training documents (and trained on next "
        f"time). Choose an --output-dir outside {source}."
    )


def saved_model_files(folder: Path) -> list[str]:
    """The files of a saved model (``MODEL_FILES``) in ``folder``; none when it holds no
    ``config.json``, the mark of a saved model."""
    if not (folder / "config.json").is_file():
        return []
    return [name for name in MODEL_FILES if (folder / name).is_file()]


def _has_checkpoints(config: TrainingConfig) -> bool:
    """Whether the checkpoint folder or the resume folder holds a checkpoint to resume."""
    places = [config.checkpoint_dir, config.resume_point_dir]
    return any(list_checkpoints(place) for place in places if place is not None)


def check_saved_model(config: TrainingConfig) -> None:
    """Refuse to train into an output folder that holds a saved model this run would not
    resume from: a run that resumes (``resume``, the default) but finds no checkpoint in
    the checkpoint folder or the resume folder would start afresh and replace that model
    (copied there, or left by a run whose checkpoints are gone). ``resume=False``
    (``--no-resume``: start over) is the explicit way to replace it; a run that finds its
    checkpoints resumes as ever (and a finished one says it has nothing to do)."""
    output = Path(config.output_dir).expanduser()
    found = saved_model_files(output)
    if not config.resume or not found or _has_checkpoints(config):
        return
    raise TrainingError(
        f"{output} already holds a saved model ({', '.join(found)}) and no checkpoint to "
        f"resume its run from, so training would replace it: choose another --output-dir, "
        f"or start over with --no-resume (resume=False) to replace that model."
    )


def check_output_files(config: TrainingConfig) -> None:
    """Refuse an output folder whose ``README.md`` is no model card (a project's own README,
    say) when it holds no saved model and no run to resume: training writes the model card
    there, and would overwrite it."""
    output = Path(config.output_dir).expanduser()
    readme = output / "README.md"
    if not readme.is_file() or saved_model_files(output) or _has_checkpoints(config):
        return
    if not is_model_card(readme):
        raise TrainingError(
            f"--output-dir {output} holds a README.md that is no model card (a project's own, "
            f"say): training writes the model card there and would overwrite it. Choose a new "
            f"or empty --output-dir, or move that README.md out of it."
        )


def _reset_accelerate_state() -> None:
    """Let a process (a notebook, the tests) build several accelerators, one per run."""
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state(reset_partial_state=False)
    GradientState._reset_state()


def make_accelerator(config: TrainingConfig) -> tuple[Precision, Any]:
    """The number format, and the accelerator: device, processes, mixed precision,
    gradient accumulation."""
    from accelerate import Accelerator

    _reset_accelerate_state()
    precision = choose_precision(get_device("cpu" if config.cpu else None), config.precision)
    # several processes without a GPU (torchrun on a CPU machine): gloo on the CPU
    cpu_processes = not torch.cuda.is_available() and int(os.environ.get("WORLD_SIZE", 1)) > 1
    accelerator = Accelerator(
        cpu=config.cpu or cpu_processes,
        mixed_precision={"fp32": "no"}.get(precision, precision),
        gradient_accumulation_steps=config.grad_accum,
    )
    return precision, accelerator


@dataclass
class Base:
    """The model a run starts from, its tokenizer, and how the model card names it."""

    model: nn.Module
    tokenizer: Any
    name: str
    note: str
    from_scratch: bool


def load_base(
    config: TrainingConfig, model: nn.Module | None, tokenizer: Any, source: ModelSource | None
) -> Base:
    """``model`` (else ``config.model``, loaded) and its tokenizer (saved with it). Random
    weights (the offline model) mean training from scratch."""
    if model is None:
        source = source or locate_model(config.model)
        if tokenizer is None:
            model, tokenizer = load_model_and_tokenizer(config.model, "cpu", seed=config.seed)
        else:  # (the caller's tokenizer, e.g. the one the data was tokenized with)
            model = load_model(config.model, "cpu", seed=config.seed)
    if tokenizer is None:
        raise ValueError("Pass the model's tokenizer with the model: it is saved with it.")
    name = source.model_name if source else resolve_model_name(config.model)
    note = ""
    loaded_from = str(getattr(model.config, "name_or_path", "") or "")
    is_base = (source.is_offline_base if source is not None else False) or (
        source is None and loaded_from and Path(loaded_from).resolve() == BASE_MODEL_DIR
    )
    if is_base:  # (also a model passed in that was loaded from the shipped base's folder)
        name = BASE_MODEL_NAME
    if source is not None and source.is_fallback:
        what = "small pretrained base" if is_base else "offline model"
        note = (
            f"It is the course's {what} `{name}`, used in place of `{source.requested}` "
            f"because {source.reason}."
        )
    from_scratch = (
        source.is_offline_model
        if source is not None
        else getattr(model.config, "name_or_path", "") in ("", OFFLINE_MODEL_NAME)
    )
    return Base(model, tokenizer, name, note, from_scratch)
