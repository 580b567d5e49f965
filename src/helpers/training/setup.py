"""Setting a run up: the accelerator, and the model it starts from.

:func:`make_accelerator` picks the number format for the hardware and builds 🤗
Accelerate's ``Accelerator`` (device, processes, mixed precision, gradient
accumulation). :func:`load_base` loads the model (unless one is given) and decides how
the model card names it, and whether this is fine-tuning or training from scratch.
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
from helpers.modeling import OFFLINE_MODEL_NAME, load_model_and_tokenizer
from helpers.offline_model import BASE_MODEL_DIR, BASE_MODEL_NAME
from helpers.training.config import Precision, TrainingConfig, choose_precision


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
        model, loaded = load_model_and_tokenizer(config.model, "cpu", seed=config.seed)
        tokenizer = tokenizer or loaded
    if tokenizer is None:
        raise ValueError("Pass the model's tokenizer with the model: it is saved with it.")
    name = source.requested if source else resolve_model_name(config.model)
    note = ""
    loaded_from = str(getattr(model.config, "name_or_path", "") or "")
    is_base = (source.is_offline_base if source is not None else False) or (
        source is None and loaded_from and Path(loaded_from).resolve() == BASE_MODEL_DIR
    )
    if (source is not None and source.is_offline_model) or is_base:
        name = BASE_MODEL_NAME if is_base else OFFLINE_MODEL_NAME
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
