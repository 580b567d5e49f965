"""Train a causal language model: an explicit accelerate loop with checkpoints and a history.

The loop follows transformers' ``run_clm_no_trainer.py`` and reads top to bottom:
AdamW with weight-decay groups, linear warmup then cosine (or linear) decay, gradient
clipping and accumulation, mixed precision chosen by the hardware, periodic evaluation
(validation loss, perplexity, bits per character), atomic checkpoints with automatic
resume, and the best model saved with ``save_pretrained``. Checkpoints can live on a fast
local disk (``checkpoint_directory``) while one rolling copy, the resume point, goes to a
folder that survives the machine (``resume_dir``, e.g. Google Drive on Colab). It runs
unchanged on one process or several (``accelerate launch`` / ``torchrun``).

Input contract: a ``datasets.DatasetDict`` (or any mapping) with ``"train"`` and
``"validation"`` splits whose rows are packed blocks ``{"input_ids": [...], "labels": [...]}``
of equal length (see ``helpers.data.build_lm_dataset``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler

from helpers.environment import bf16_supported, get_device, is_quick_mode, set_seed
from helpers.modeling import (
    OFFLINE_MODEL_NAME,
    ModelSource,
    count_parameters,
    load_model_and_tokenizer,
    locate_model,
    resolve_model_name,
    trained_model_dir,
)

Precision = Literal["bf16", "fp16", "fp32"]
PRECISIONS = ("auto", "bf16", "fp16", "fp32")
SCHEDULES = {"cosine": "cosine_with_min_lr", "linear": "linear", "constant": "constant_with_warmup"}
CHECKPOINTS_SUBDIR = "checkpoints"
CHECKPOINT_DIR_ENV_VAR = "GPT2LAB_CHECKPOINT_DIR"
"""Where resumable checkpoints go when ``checkpoint_directory`` is not set (e.g. a Colab
VM's fast local disk, while the model goes to Google Drive), in a subfolder per output
folder (see ``TrainingConfig.checkpoint_dir``)."""
RESUME_DIR_ENV_VAR = "GPT2LAB_RESUME_DIR"
"""Where the one rolling resume point goes when ``resume_dir`` is not set (e.g. Drive), in
a subfolder per output folder."""
CHECKPOINT_PREFIX = "checkpoint-"
STATE_FILE = "trainer_state.json"
HISTORY_FILE = "history.json"
ARGS_FILE = "training_args.json"
LN2 = math.log(2)
FINE_TUNING_LEARNING_RATE = 1e-4
"""Default peak learning rate when the weights are pretrained: adapt them gently."""
FROM_SCRATCH_LEARNING_RATES = {"body": 3e-3, "embeddings": 1.0, "output": 6e-3}
"""Default peak learning rates when the weights start random (the offline model), per
part of the model. They won ``benchmarks/time_to_quality.py`` (60 s on 2 CPU cores): each
embedding row is trained only by the batches where its token occurs, and Adam moves a
weight by about the learning rate per step, so rare tokens' rows need large steps; the
output layer, trained by every position, wants small ones."""
FROM_SCRATCH_RECIPE: dict[str, Any] = {
    "weight_decay": 0.0,
    "adam_beta1": 0.8,
    "adam_beta2": 0.99,
    "warmup_fraction": 0.02,
    "min_lr_ratio": 0.05,
    "batch_size": 8,
    "block_size": 128,
}
"""The other settings of that winning run (``TrainingConfig.for_mode(from_scratch=True)``)."""


class TrainingError(RuntimeError):
    """A training run cannot go on; the message says why and what to change."""


class NonFiniteLossError(TrainingError):
    """The loss became NaN or infinite."""


class TrainingOutOfMemoryError(TrainingError):
    """The accelerator ran out of memory."""


class CheckpointMismatchError(TrainingError):
    """The output folder holds checkpoints of a run with different settings."""


# --------------------------------------------------------------------------- settings


def _setting(default: Any = None, help: str = "", **extra: Any) -> Any:
    """A dataclass field with its help text (the CLI's ``--flag`` help) in its metadata."""
    if callable(default) and not isinstance(default, type):
        return field(default_factory=default, metadata={"help": help, **extra})
    return field(default=default, metadata={"help": help, **extra})


@dataclass
class TrainingConfig:
    """Every setting of a training run; the CLI builds one ``--flag`` per field."""

    model: str | None = _setting(
        None, "folder, Hub name or gpt2lab-tiny (default: $GPT2LAB_MODEL, else gpt2)", type=str
    )
    output_dir: str = _setting(
        lambda: str(trained_model_dir()),
        "where the best model goes (default: the course's fine-tuned model folder)",
        type=str,
    )
    epochs: int = _setting(1, "passes over the training blocks (unless --max-steps is given)")
    max_steps: int | None = _setting(None, "optimizer steps to run (overrides --epochs)")
    learning_rate: float | None = _setting(
        None,
        "peak learning rate (default: 1e-4 to fine-tune pretrained weights, "
        "3e-3 to train from scratch)",
        type=float,
    )
    embedding_learning_rate: float | None = _setting(
        None,
        "peak learning rate of the token embedding (default: 1.0 from scratch, else "
        "--learning-rate); a token embedding shared with the output layer takes the "
        "output layer's",
        type=float,
    )
    output_learning_rate: float | None = _setting(
        None,
        "peak learning rate of the output layer (default: 6e-3 from scratch, else --learning-rate)",
        type=float,
    )
    weight_decay: float = _setting(0.1, "AdamW weight decay, on weight matrices only")
    adam_beta1: float = _setting(0.9, "AdamW beta1 (momentum)")
    adam_beta2: float = _setting(0.95, "AdamW beta2 (second-moment decay)")
    lr_schedule: str = _setting(
        "cosine",
        "decay after warmup: cosine (to min_lr_ratio x peak), linear (to 0) or constant",
        choices=["cosine", "linear", "constant"],
    )
    warmup_fraction: float = _setting(0.05, "share of the steps spent warming up from 0")
    min_lr_ratio: float = _setting(0.1, "where the cosine decay ends, as a fraction of the peak")
    batch_size: int = _setting(16, "blocks per forward pass, per process")
    grad_accum: int = _setting(1, "forward passes whose gradients add up into one step")
    block_size: int = _setting(128, "tokens per block (used when the data is built)")
    max_grad_norm: float = _setting(1.0, "clip the gradient's global norm to this (0 = off)")
    precision: str = _setting(
        "auto",
        "auto (bf16 where supported, fp16 on other GPUs, else fp32), bf16, fp16 or fp32",
        choices=list(PRECISIONS),
    )
    eval_every: int = _setting(100, "evaluate every N steps (0 = only at the start and end)")
    eval_batches: int | None = _setting(
        None, "batches per periodic evaluation (default: the whole validation split)"
    )
    log_every: int = _setting(10, "record loss, learning rate and tokens/s every N steps")
    checkpoint_every: int = _setting(200, "save a checkpoint every N steps (0 = only at the end)")
    keep_checkpoints: int = _setting(2, "how many of the latest checkpoints to keep")
    checkpoint_directory: str | None = _setting(
        None,
        "where resumable checkpoints (model + optimizer state) go, e.g. a fast local disk "
        f"(default: a subfolder per output folder in ${CHECKPOINT_DIR_ENV_VAR} if set, else "
        f"the output folder's {CHECKPOINTS_SUBDIR}/ subfolder)",
        type=str,
    )
    resume_dir: str | None = _setting(
        None,
        "a folder that survives the machine (e.g. Google Drive) for one rolling copy of the "
        "latest checkpoint, deleted once the model is saved (default: a subfolder per output "
        f"folder in ${RESUME_DIR_ENV_VAR} if set, else no copy)",
        type=str,
    )
    resume_copy_minutes: float = _setting(
        10.0,
        "copy a checkpoint to --resume-dir at most once per this many minutes of the run "
        "(0 = every checkpoint); Ctrl-C always copies",
    )
    early_stopping_patience: int | None = _setting(
        None, "stop after N evaluations without a better validation loss (default: never)"
    )
    max_seconds: float | None = _setting(
        None, "stop once training steps took this long (evaluations excluded)", type=float
    )
    seed: int = _setting(42, "seed for initialisation, data order and dropout")
    resume: bool = _setting(
        True,
        "resume from the latest good checkpoint (in the checkpoint folder or --resume-dir); "
        "--no-resume deletes the checkpoints in both",
    )
    cpu: bool = _setting(False, "train on the CPU even when a GPU is present")
    progress_bar: bool = _setting(True, "show a progress bar")
    loss_chunk_tokens: int = _setting(
        64, "compute the output layer and loss this many tokens at a time (0 = plain logits)"
    )

    def __post_init__(self) -> None:
        positive = ["epochs", "batch_size", "grad_accum", "block_size", "keep_checkpoints"]
        for name in positive:
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(
                    f"{name} must be a whole number >= 1, got {getattr(self, name)!r}."
                )
        for name in [
            "eval_every",
            "log_every",
            "checkpoint_every",
            "loss_chunk_tokens",
            "resume_copy_minutes",
        ]:
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}.")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(
                f"max_steps must be >= 1 (or None to use epochs), got {self.max_steps}."
            )
        for name in ["learning_rate", "embedding_learning_rate", "output_learning_rate"]:
            value = getattr(self, name)
            if value is not None and not (isinstance(value, (int, float)) and value > 0):
                raise ValueError(f"{name} must be > 0 (or None for auto), got {value!r}.")
        if self.weight_decay < 0 or self.max_grad_norm < 0:
            raise ValueError("weight_decay and max_grad_norm must be >= 0.")
        if not 0 <= self.warmup_fraction < 1:
            raise ValueError(f"warmup_fraction must be in [0, 1), got {self.warmup_fraction}.")
        if not 0 <= self.min_lr_ratio <= 1:
            raise ValueError(f"min_lr_ratio must be in [0, 1], got {self.min_lr_ratio}.")
        if self.lr_schedule not in SCHEDULES:
            raise ValueError(
                f"lr_schedule {self.lr_schedule!r} is unknown: "
                f"choose one of {', '.join(SCHEDULES)}."
            )
        if self.precision not in PRECISIONS:
            raise ValueError(
                f"precision {self.precision!r} is unknown: choose one of {', '.join(PRECISIONS)}."
            )
        if self.eval_batches is not None and self.eval_batches < 1:
            raise ValueError(
                f"eval_batches must be >= 1 (or None for all), got {self.eval_batches}."
            )
        if self.early_stopping_patience is not None and self.early_stopping_patience < 1:
            raise ValueError("early_stopping_patience must be >= 1 (or None for never).")
        if self.max_seconds is not None and not self.max_seconds > 0:
            raise ValueError(f"max_seconds must be > 0 (or None), got {self.max_seconds}.")

    @classmethod
    def for_mode(cls, from_scratch: bool = False, **overrides: Any) -> TrainingConfig:
        """The course's settings for the current mode, the one place where sizes switch.

        Quick mode (``GPT2LAB_QUICK=1``, the tests): a few dozen short steps, seconds on a
        CPU. Full mode (notebook 03): a few minutes on a CPU. ``from_scratch`` (random
        initial weights: the offline model) adds ``FROM_SCRATCH_RECIPE`` and, in full
        mode, the step count and batch of the benchmark run it comes from, about a
        minute on 2 CPU cores. ``overrides`` win.
        """
        quick = {
            "max_steps": 30,
            "batch_size": 8,
            "block_size": 64,
            "eval_every": 10,
            "eval_batches": 4,
            "log_every": 1,
            "checkpoint_every": 10,
            "resume_copy_minutes": 0.0,  # a resume copy at every checkpoint: tests see them
        }
        full = {
            "max_steps": 400 if from_scratch else 240,
            "batch_size": 16,
            "block_size": 128,
            "eval_every": 50 if from_scratch else 40,
            "eval_batches": 8,
            "log_every": 5,
            "checkpoint_every": 100 if from_scratch else 40,
        }
        recipe = FROM_SCRATCH_RECIPE if from_scratch else {}
        settings = {**recipe, **quick} if is_quick_mode() else {**full, **recipe}
        return cls(**{**settings, **overrides})

    @property
    def checkpoint_dir(self) -> Path:
        """Where checkpoints go: ``checkpoint_directory``; else this output folder's subfolder
        of ``$GPT2LAB_CHECKPOINT_DIR``; else the output folder's ``checkpoints/``."""
        if self.checkpoint_directory:
            return Path(self.checkpoint_directory).expanduser()
        return self._env_folder(CHECKPOINT_DIR_ENV_VAR) or (
            Path(self.output_dir).expanduser() / CHECKPOINTS_SUBDIR
        )

    @property
    def resume_point_dir(self) -> Path | None:
        """Where the rolling resume point goes: ``resume_dir``; else this output folder's
        subfolder of ``$GPT2LAB_RESUME_DIR``; else None (no copy)."""
        if self.resume_dir:
            return Path(self.resume_dir).expanduser()
        return self._env_folder(RESUME_DIR_ENV_VAR)

    def _env_folder(self, variable: str) -> Path | None:
        """``$variable``'s subfolder for this output folder (None when it is not set).

        The variables name one folder for every run (notebooks, sweeps, a short stand-in
        run); each output folder gets its own subfolder there, named after it and a hash of
        its full path, so that one run's checkpoints, ``--no-resume`` or finish never touch
        another's, as when they lived in the output folder itself. The path is resolved
        (links followed), so the same Drive folder reached from a new machine's mount point
        finds the same subfolder.
        """
        base = os.environ.get(variable, "").strip()
        if not base:
            return None
        output = Path(self.output_dir).expanduser()
        key = hashlib.sha256(str(output.resolve()).encode("utf-8")).hexdigest()[:8]
        return Path(base).expanduser() / f"{output.name or 'model'}-{key}"


def default_learning_rate(from_scratch: bool) -> float:
    """1e-4 to fine-tune pretrained weights (more would wash out what they know); 3e-3
    to train a small model from random weights, which has nothing to lose."""
    return FROM_SCRATCH_LEARNING_RATES["body"] if from_scratch else FINE_TUNING_LEARNING_RATE


def resolve_learning_rates(config: TrainingConfig, from_scratch: bool) -> TrainingConfig:
    """``config`` with every automatic (``None``) learning rate set.

    From scratch, each part gets its own default (``FROM_SCRATCH_LEARNING_RATES``);
    for pretrained weights, the embeddings and output layer follow ``learning_rate``.
    """
    body = config.learning_rate or default_learning_rate(from_scratch)
    defaults = FROM_SCRATCH_LEARNING_RATES if from_scratch else {"embeddings": body, "output": body}
    return replace(
        config,
        learning_rate=body,
        embedding_learning_rate=config.embedding_learning_rate or defaults["embeddings"],
        output_learning_rate=config.output_learning_rate or defaults["output"],
    )


def choose_precision(device: torch.device, requested: str = "auto") -> Precision:
    """The number format to train in: bf16 where the hardware has it, fp16 on other GPUs.

    bf16 keeps fp32's range, so it needs no loss scaling; it is native on Ampere+ GPUs and
    on CPUs with AMX or AVX512-BF16. fp16 (with loss scaling) is the choice on older GPUs
    such as Colab's T4. Everything else trains in fp32.
    """
    if requested not in PRECISIONS:
        raise ValueError(f"precision {requested!r} is unknown: choose one of {PRECISIONS}.")
    if requested == "auto":
        if bf16_supported(device):
            return "bf16"
        return "fp16" if device.type == "cuda" else "fp32"
    if requested == "bf16" and not bf16_supported(device):
        raise ValueError(
            f"bf16 is not supported natively on this {device.type}: use --precision auto or fp32."
        )
    if requested == "fp16" and device.type != "cuda":
        raise ValueError("fp16 training needs a CUDA GPU: use --precision auto (bf16 or fp32).")
    return requested  # type: ignore[return-value]


# --------------------------------------------------------------------------- metrics


@dataclass(frozen=True)
class EvalResult:
    """Validation metrics from the mean next-token cross-entropy ``loss`` (nats/token)."""

    loss: float
    tokens: int
    chars_per_token: float | None = None

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
        }


# --------------------------------------------------------------------------- history


@dataclass
class TrainingHistory:
    """What happened, step by step: train records and eval records, JSON round-trippable."""

    train: list[dict[str, Any]] = field(default_factory=list)
    eval: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"train": self.train, "eval": self.eval}

    def save(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        _atomic_write_text(path, json.dumps(self.to_dict(), indent=1))
        return path

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainingHistory:
        return cls(train=list(data.get("train", [])), eval=list(data.get("eval", [])))

    @classmethod
    def load(cls, path: str | os.PathLike) -> TrainingHistory:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    @property
    def best_eval(self) -> dict[str, Any] | None:
        return min(self.eval, key=lambda r: r["val_loss"]) if self.eval else None


# --------------------------------------------------------------------------- data


class _Blocks(Dataset):
    """Packed token blocks held as one tensor: indexing returns a training example."""

    def __init__(self, input_ids: torch.Tensor, labels: torch.Tensor) -> None:
        self.input_ids, self.labels = input_ids, labels

    def __len__(self) -> int:
        return self.input_ids.shape[0]

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.input_ids[index], "labels": self.labels[index]}


class EpochShuffleSampler(Sampler[int]):
    """A fresh permutation per epoch from ``seed + epoch``: the order depends on nothing else.

    So a resumed run sees exactly the blocks it would have seen, and every process of a
    multi-process run agrees on the order (accelerate then deals the batches out).
    """

    def __init__(self, size: int, seed: int) -> None:
        self.size, self.seed, self.epoch = size, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        return iter(torch.randperm(self.size, generator=generator).tolist())

    def __len__(self) -> int:
        return self.size


def _blocks_from_split(split: Any, name: str) -> _Blocks:
    """Turn a split of packed rows into tensors, with a clear error for anything else."""
    columns = getattr(split, "column_names", None)
    if columns is None or "input_ids" not in columns:
        raise ValueError(
            f"The '{name}' split must have an 'input_ids' column of packed token blocks "
            f"(got columns {columns}). Build the data with helpers.data.build_lm_dataset."
        )
    if len(split) == 0:
        raise ValueError(f"The '{name}' split is empty: give more text or a smaller --block-size.")
    try:
        input_ids = torch.tensor(split["input_ids"], dtype=torch.long)
        labels = torch.tensor(
            split["labels"] if "labels" in columns else split["input_ids"], dtype=torch.long
        )
    except (ValueError, TypeError) as error:
        raise ValueError(
            f"The '{name}' split's blocks are not all the same length; pack the tokens into "
            f"equal blocks (helpers.data.build_lm_dataset does): {error}"
        ) from error
    if input_ids.dim() != 2 or input_ids.shape != labels.shape:
        raise ValueError(
            f"The '{name}' split must hold equal-length blocks with labels of the same shape."
        )
    return _Blocks(input_ids, labels)


def _check_dataset(dataset: Mapping[str, Any]) -> tuple[_Blocks, _Blocks]:
    splits = list(dataset.keys()) if isinstance(dataset, Mapping) else None
    if splits is None or "train" not in splits or "validation" not in splits:
        raise ValueError(
            "Training needs a DatasetDict with 'train' and 'validation' splits of packed "
            f"token blocks; got {type(dataset).__name__} with splits {splits}. "
            "Build it with helpers.data.build_lm_dataset."
        )
    train_blocks = _blocks_from_split(dataset["train"], "train")
    val_blocks = _blocks_from_split(dataset["validation"], "validation")
    if train_blocks.input_ids.shape[1] != val_blocks.input_ids.shape[1]:
        raise ValueError(
            f"train blocks have {train_blocks.input_ids.shape[1]} tokens but validation blocks "
            f"have {val_blocks.input_ids.shape[1]}: build both splits with one block_size."
        )
    return train_blocks, val_blocks


def _check_fits_model(blocks: _Blocks, model: nn.Module) -> None:
    config = model.config
    block = blocks.input_ids.shape[1]
    context = getattr(config, "n_positions", None) or getattr(config, "max_position_embeddings", 0)
    if context and block > context:
        raise ValueError(
            f"Blocks of {block} tokens are longer than the model's context of {context}: "
            f"use --block-size {context} or less."
        )
    highest = int(blocks.input_ids.max())
    if highest >= config.vocab_size:
        raise ValueError(
            f"Token id {highest} is outside the model's vocabulary of {config.vocab_size}: "
            f"the data was tokenized with another tokenizer than the model's."
        )


# --------------------------------------------------------------------------- the objective


def chunked_lm_loss(
    hidden: torch.Tensor, weight: torch.Tensor, labels: torch.Tensor, chunk_tokens: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed next-token cross-entropy of ``hidden @ weight.T``, ``chunk_tokens`` rows at a time.

    With GPT-2's 50,257-token vocabulary the logits (tokens x vocabulary) are by far a
    small model's largest tensor, and the passes over them in fp32 (softmax, its gradient,
    casts) cost more than the transformer itself. Here each chunk's log-softmax is taken
    in fp32 and turned at once into its gradient, softmax - one_hot, stored in the input
    dtype (bf16 under autocast); two matrix products then give the gradients of
    ``hidden`` and ``weight``, which backward only scales. Returns ``(loss_sum, count)``;
    labels of -100 are ignored.
    """
    return _ChunkedLinearCrossEntropy.apply(hidden, weight, labels, chunk_tokens)


_SCRATCH: dict[tuple, torch.Tensor] = {}


def _scratch(name: str, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device):
    """A reusable buffer. On a CPU, allocating the tens of megabytes of a logits chunk
    anew for every chunk costs more than the arithmetic (fresh pages must be mapped and
    zeroed); a GPU's caching allocator already reuses memory, so there it is just one."""
    if device.type != "cpu":
        return torch.empty(shape, dtype=dtype, device=device)
    key = (name, dtype, device)
    buffer = _SCRATCH.get(key)
    if buffer is None or buffer.numel() < math.prod(shape):
        buffer = _SCRATCH[key] = torch.empty(math.prod(shape), dtype=dtype, device=device)
    return buffer[: math.prod(shape)].view(shape)


class _ChunkedLinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden, weight, labels, chunk_tokens):
        keep = labels != -100
        count = keep.sum()
        target = labels.clamp(min=0)
        needs_grad = ctx.needs_input_grad[0] or ctx.needs_input_grad[1]
        tokens, vocab = hidden.shape[0], weight.shape[0]
        device = hidden.device
        total = torch.zeros((), dtype=torch.float32, device=device)
        grad_logits = (
            _scratch("grad", (tokens, vocab), hidden.dtype, device) if needs_grad else None
        )
        logits_buffer = _scratch("logits", (chunk_tokens, vocab), hidden.dtype, device)
        probs_buffer = _scratch("probs", (chunk_tokens, vocab), torch.float32, device)
        rows = torch.arange(chunk_tokens, device=device)
        for start in range(0, tokens, chunk_tokens):
            end = min(start + chunk_tokens, tokens)
            n, t, k = end - start, target[start:end], keep[start:end]
            logits = torch.mm(hidden[start:end], weight.t(), out=logits_buffer[:n])
            probs = probs_buffer[:n]
            probs.copy_(logits)  # float32 from here on
            peak = probs.amax(-1, keepdim=True)
            probs.sub_(peak).exp_()  # exp(z - max): no overflow
            normaliser = probs.sum(-1, keepdim=True)
            # -log p(target) = log sum exp(z) - z_target, without taking log of a tiny p
            nll = normaliser.squeeze(1).log() + peak.squeeze(1) - logits[rows[:n], t].float()
            total += (nll * k).sum()
            if needs_grad:  # d loss / d logits = softmax - one_hot, where the label counts
                probs.div_(normaliser)
                probs[rows[:n], t] -= 1.0
                if not bool(k.all()):
                    probs[~k] = 0.0
                grad_logits[start:end].copy_(probs)
        if needs_grad:
            ctx.save_for_backward(grad_logits @ weight, (grad_logits.t() @ hidden).float())
        ctx.mark_non_differentiable(count)
        return total, count

    @staticmethod
    def backward(ctx, grad_total, _grad_count):
        grad_hidden, grad_weight = ctx.saved_tensors
        return (
            grad_hidden * grad_total.to(grad_hidden.dtype),
            grad_weight * grad_total,
            None,
            None,
        )


class CausalLMObjective(nn.Module):
    """Wraps a causal LM; ``forward`` returns the summed next-token loss and its token count.

    The labels are the inputs shifted by one: position t is scored on token t + 1. For
    GPT-2-like models (a linear output layer without bias) the output layer and the loss
    are computed in chunks (:func:`chunked_lm_loss`); any other model uses its logits.
    Being one module, it is what accelerate prepares (and DDP wraps).
    """

    def __init__(self, model: nn.Module, chunk_tokens: int = 64) -> None:
        super().__init__()
        self.model = model
        self.chunk_tokens = chunk_tokens
        head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
        self.fused = (
            chunk_tokens > 0
            and isinstance(head, nn.Linear)
            and head.bias is None
            and getattr(model, "base_model", model) is not model
            and not getattr(model.config, "final_logit_softcapping", None)
        )

    def _hidden_and_weight(self, input_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Final hidden states of positions 0..T-2 and the output layer's weight, same dtype."""
        hidden = self.model.base_model(input_ids=input_ids, use_cache=False).last_hidden_state
        hidden = hidden[:, :-1]
        weight = self.model.get_output_embeddings().weight
        if torch.is_autocast_enabled(hidden.device.type):
            dtype = torch.get_autocast_dtype(hidden.device.type)
            return hidden.to(dtype), weight.to(dtype)
        return hidden, weight.to(hidden.dtype)

    def forward(
        self, input_ids: torch.Tensor, labels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Summed loss over the batch's scored positions, and how many there are."""
        targets = labels[:, 1:].reshape(-1)
        if self.fused:
            hidden, weight = self._hidden_and_weight(input_ids)
            return chunked_lm_loss(
                hidden.reshape(-1, hidden.shape[-1]), weight, targets, self.chunk_tokens
            )
        logits = self.model(input_ids=input_ids, use_cache=False).logits[:, :-1]
        loss_sum = F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]).float(), targets, reduction="sum"
        )
        return loss_sum, (targets != -100).sum()

    @torch.no_grad()
    def row_losses(
        self, input_ids: torch.Tensor, labels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per block: summed loss and number of scored positions (for evaluation)."""
        targets = labels[:, 1:]
        if self.fused:
            hidden, weight = self._hidden_and_weight(input_ids)
        else:
            all_logits = self.model(input_ids=input_ids, use_cache=False).logits[:, :-1]
        flat_targets = targets.reshape(-1)
        step = max(self.chunk_tokens, 1) if self.fused else flat_targets.numel()
        losses = []
        for start in range(0, flat_targets.numel(), step):
            if self.fused:
                h = hidden.reshape(-1, hidden.shape[-1])[start : start + step]
                logits = h @ weight.t()
            else:
                logits = all_logits.reshape(-1, all_logits.shape[-1])[start : start + step]
            losses.append(
                F.cross_entropy(
                    logits.float(), flat_targets[start : start + step], reduction="none"
                )
            )
        sums = torch.cat(losses).view(targets.shape).sum(dim=1)
        return sums, (targets != -100).sum(dim=1)


# --------------------------------------------------------------------------- optimizer


def parameter_groups(model: nn.Module) -> dict[str, list[nn.Parameter]]:
    """The model's trainable weights by role, each listed once.

    ``output``: the output layer; ``embeddings``: the token embedding, unless it is shared
    with the output layer (then it counts as output); ``matrices``: the other weight
    matrices; ``vectors``: biases, layer-norm gains and position embeddings (no decay).
    Only the token embedding is special: its row for a token is trained only by batches
    that contain the token, while positions are trained by every block.
    """
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    tokens = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
    output = {id(p): p for p in (head.parameters() if head is not None else ()) if p.requires_grad}
    embeddings = {
        id(p): p
        for p in (tokens.parameters() if tokens is not None else ())
        if p.requires_grad and id(p) not in output
    }
    other_tables = {
        id(p)
        for module in model.modules()
        if isinstance(module, nn.Embedding)
        for p in module.parameters()
    }
    rest = [
        p
        for p in model.parameters()
        if p.requires_grad and id(p) not in output and id(p) not in embeddings
    ]
    return {
        "output": list(output.values()),
        "embeddings": list(embeddings.values()),
        "matrices": [p for p in rest if p.dim() >= 2 and id(p) not in other_tables],
        "vectors": [p for p in rest if p.dim() < 2 or id(p) in other_tables],
    }


def build_optimizer(
    model: nn.Module, config: TrainingConfig, device: torch.device | None = None
) -> torch.optim.Optimizer:
    """AdamW with a learning rate and weight decay per role of weight.

    Weight matrices and the output layer decay (``weight_decay``); biases, norm gains and
    embeddings do not (decay pulls towards zero: that only hurts them). The token
    embedding and the output layer have their own learning rates (``embedding_learning_rate``,
    ``output_learning_rate``; ``None`` means ``learning_rate``). On a CPU or CUDA
    ``device`` the fused implementation updates all weights in one pass.
    """
    lr = config.learning_rate
    if lr is None:
        raise ValueError("learning_rate is None: resolve it first (resolve_learning_rates).")
    groups = parameter_groups(model)
    settings = {
        "matrices": (lr, config.weight_decay),
        "vectors": (lr, 0.0),
        "embeddings": (config.embedding_learning_rate or lr, 0.0),
        "output": (config.output_learning_rate or lr, config.weight_decay),
    }
    return torch.optim.AdamW(
        [
            {"params": groups[role], "lr": rate, "weight_decay": decay, "role": role}
            for role, (rate, decay) in settings.items()
            if groups[role]
        ],
        lr=lr,
        betas=(config.adam_beta1, config.adam_beta2),
        fused=True if device is not None and device.type in ("cpu", "cuda") else None,
    )


def warmup_steps_for(config: TrainingConfig, total_steps: int) -> int:
    return int(round(config.warmup_fraction * total_steps))


def build_scheduler(
    optimizer: torch.optim.Optimizer, config: TrainingConfig, total_steps: int, scale: int = 1
) -> torch.optim.lr_scheduler.LRScheduler:
    """Linear warmup, then the configured decay, via ``transformers.get_scheduler``.

    ``scale`` is the number of processes: accelerate steps a prepared scheduler once per
    process for every optimizer step, so its step counts are multiplied by it.
    """
    from transformers import get_scheduler

    name = SCHEDULES[config.lr_schedule]
    extra = {"min_lr_rate": config.min_lr_ratio} if name == "cosine_with_min_lr" else None
    return get_scheduler(
        name,
        optimizer,
        num_warmup_steps=warmup_steps_for(config, total_steps) * scale,
        num_training_steps=total_steps * scale,
        scheduler_specific_kwargs=extra,
    )


def learning_rate_schedule(config: TrainingConfig, total_steps: int) -> list[float]:
    """The learning rate used at each of ``total_steps`` optimizer steps (for plots)."""
    if config.learning_rate is None:
        raise ValueError(
            "learning_rate is None (automatic): set it, e.g. "
            "replace(config, learning_rate=default_learning_rate(from_scratch=True))."
        )
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=config.learning_rate)
    scheduler = build_scheduler(optimizer, config, total_steps)
    rates = []
    for _ in range(total_steps):
        rates.append(scheduler.get_last_lr()[0])
        optimizer.step()
        scheduler.step()
    return rates


# --------------------------------------------------------------------------- checkpoints


def _atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(handle, "w", encoding="utf-8") as file:
        file.write(text)
    os.replace(temp, path)


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


def _remove_checkpoints(folder: Path, keep: Path | None = None) -> None:
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


def _files_bytes(folder: Path, recursive: bool = True) -> int:
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


def _checkpoints_bytes(folder: Path | None) -> int:
    """Disk used by the checkpoints in ``folder`` (0 for None)."""
    if folder is None:
        return 0
    return sum(_files_bytes(p) for p in _checkpoint_entries(folder) if p.is_dir())


def human_size(size: int) -> str:
    """Bytes in decimal units, as disks and Google Drive count them: 498 MB, 1.5 GB."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            value = size / scale
            return f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"
    return f"{size} B"


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
        shutil.copytree(checkpoint, staging)
        if final.exists():  # a broken folder of that name: never a usable resume point
            shutil.rmtree(final)
        os.replace(staging, final)
    _remove_checkpoints(resume_dir, keep=final)
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


def _run_fingerprint(
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
    found.update(
        train_blocks=train_rows, block_size=block, total_steps=total_steps, processes=processes
    )
    return found


# --------------------------------------------------------------------------- saving a model


def write_model_card(
    directory: Path,
    *,
    base_model: str,
    from_scratch: bool,
    data_description: str,
    summary: Mapping[str, Any],
    base_note: str = "",
) -> Path:
    """Write the model card (``README.md``): base, data, training, metrics, use, limits.

    ``base_note`` adds a sentence about the base (e.g. why the offline model was used).
    """
    if from_scratch:
        base_text = (
            f"`{base_model}` with **random initial weights**: this model was trained *from "
            f"scratch* on the data below, not fine-tuned from pretrained GPT-2. It knows only "
            f"what that data taught it."
        )
    else:
        base_text = f"`{base_model}` (pretrained weights), fine-tuned on the data below."
    if base_note:
        base_text += f" {base_note}"
    metric_lines = "\n".join(
        f"| {name} | {value} |" for name, value in summary.get("metrics", {}).items()
    )
    training_lines = "\n".join(
        f"| {name} | {value} |" for name, value in summary.get("training", {}).items()
    )
    text = f"""---
library_name: transformers
pipeline_tag: text-generation
tags: [gpt2, causal-lm, gpt2-lab]
---

# A causal language model trained with GPT-2 Lab

**Base model:** {base_text}

**Architecture:** {summary.get("architecture", "GPT-2")}

## Training data

{data_description}

## Training

| setting | value |
|---|---|
{training_lines}

## Results (validation split, best checkpoint)

| metric | value |
|---|---|
{metric_lines}

Perplexity is exp(validation loss); bits per character divide the loss in bits by the
characters per token of the validation text, so they compare across tokenizers.

## Intended use

Learning and experimentation: generating text in the style of the training data, in the
GPT-2 Lab course notebooks, the command line and the demo app.

## Limitations

* Trained on a small dataset for a short time: it imitates surface style, makes factual
  and grammatical errors, and can repeat or reproduce passages of its training text.
* {
        "A small model trained from scratch on one corpus: it has no general knowledge of "
        "language beyond that corpus."
        if from_scratch
        else "It inherits the biases and errors of GPT-2's web pretraining data (WebText)."
    }
* Not suitable for any use where the text is taken as true, safe or fair.
"""
    path = directory / "README.md"
    _atomic_write_text(path, text)
    return path


def save_trained_model(
    model: nn.Module, tokenizer: Any, directory: str | os.PathLike, extra_files: Mapping[str, str]
) -> Path:
    """``save_pretrained`` model (safetensors) + tokenizer into ``directory``, file by file.

    Everything is written to a hidden staging folder first and then moved in with atomic
    renames, so the folder never holds a half-written file; its ``checkpoints/`` stay put.
    """
    target = Path(directory).expanduser()
    target.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=target))
    try:
        model.save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)
        for name, text in extra_files.items():
            (staging / name).write_text(text, encoding="utf-8")
        # weights first, config last: a reader that sees the new config sees new weights
        names = sorted(p.name for p in staging.iterdir())
        names.sort(key=lambda n: (n != "model.safetensors", n == "config.json"))
        for name in names:
            os.replace(staging / name, target / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


# --------------------------------------------------------------------------- the run


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
            f"device {self.device} x {self.processes} process(es), precision {self.precision}, "
            + times,
        ]
        if self.final_eval is not None:
            e = self.final_eval
            bpc = f", {e.bits_per_char:.3f} bits/char" if e.bits_per_char else ""
            lines.append(
                f"validation: loss {e.loss:.4f}, perplexity {e.perplexity:.2f}"
                f", {e.bits_per_token:.3f} bits/token{bpc}"
            )
        if self.model_saved:
            lines.append(
                f"best model (val loss {self.best_val_loss:.4f}) saved in {self.output_dir}"
            )
        lines.append(self.storage())
        return "\n".join(lines)


@contextmanager
def _quiet_saving():
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


def _clock() -> float:
    """Seconds on a monotonic clock: what resume copies are spaced by (tests replace it)."""
    return time.monotonic()


def _same_folder(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return a == b


def _reset_accelerate_state() -> None:
    """Let a process (a notebook, the tests) build several accelerators, one per run."""
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state(reset_partial_state=False)
    GradientState._reset_state()


def _is_oom(error: BaseException) -> bool:
    oom = getattr(torch, "OutOfMemoryError", None) or torch.cuda.OutOfMemoryError
    return isinstance(error, oom) or "out of memory" in str(error).lower()


def _oom_message(config: TrainingConfig, block: int) -> str:
    return (
        f"The GPU ran out of memory with batch size {config.batch_size} x {block} tokens. "
        f"Lower --batch-size (and raise --grad-accum by the same factor to keep the "
        f"effective batch of {config.batch_size * config.grad_accum}), lower --block-size, "
        f"or use a smaller model."
    )


@torch.no_grad()
def _evaluate_prepared(objective: nn.Module, dataloader: DataLoader, accelerator: Any) -> tuple:
    """Summed loss and token count over a whole (prepared) dataloader, all processes."""
    inner = accelerator.unwrap_model(objective)
    inner.eval()
    totals = torch.zeros(2, dtype=torch.float64, device=accelerator.device)
    with accelerator.autocast():
        for batch in dataloader:
            sums, counts = inner.row_losses(batch["input_ids"], batch["labels"])
            rows = torch.stack([sums.double(), counts.double()], dim=1)
            totals += accelerator.gather_for_metrics(rows).sum(dim=0)  # drops padded repeats
    inner.train()
    return float(totals[0]), int(totals[1])


def evaluate_model(
    model: nn.Module,
    blocks: Any,
    *,
    batch_size: int = 8,
    precision: str = "auto",
    chars_per_token: float | None = None,
    max_batches: int | None = None,
) -> EvalResult:
    """Validation loss, perplexity and bits per character of ``model`` on packed blocks.

    ``blocks`` is a split of packed rows (``input_ids``); every position but each block's
    first is scored on the token that follows it.
    """
    data = _blocks_from_split(blocks, "validation")
    device = next(model.parameters()).device
    chosen = choose_precision(device, precision)
    objective = CausalLMObjective(model)
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(chosen)
    with torch.no_grad(), torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
        for index, start in enumerate(range(0, len(data), batch_size)):
            if max_batches is not None and index >= max_batches:
                break
            ids = data.input_ids[start : start + batch_size].to(device)
            labels = data.labels[start : start + batch_size].to(device)
            sums, counts = objective.row_losses(ids, labels)
            total, count = total + float(sums.sum()), count + int(counts.sum())
    model.train(was_training)
    return EvalResult(total / max(count, 1), count, chars_per_token)


class TrainingRun:
    """One run: its accelerator, data, model, optimizer, schedule and bookkeeping.

    :func:`train` builds it, resumes it if it can, and calls :meth:`loop`, the training
    loop itself; the other methods are what the loop calls (evaluate, log, checkpoint).
    """

    def __init__(
        self,
        config: TrainingConfig,
        dataset: Mapping[str, Any],
        model: nn.Module | None,
        tokenizer: Any,
        source: ModelSource | None,
        chars_per_token: float | None,
        data_description: str,
        on_log: Callable[[TrainingHistory], None] | None,
    ) -> None:
        from accelerate import Accelerator

        self.started = time.perf_counter()
        self.config, self.chars_per_token, self.on_log = config, chars_per_token, on_log
        self.data_description = data_description
        train_blocks, val_blocks = _check_dataset(dataset)
        self.block = train_blocks.input_ids.shape[1]

        # the accelerator: device, processes, mixed precision, gradient accumulation
        _reset_accelerate_state()
        self.precision = choose_precision(
            get_device("cpu" if config.cpu else None), config.precision
        )
        # several processes without a GPU (torchrun on a CPU machine): gloo on the CPU
        cpu_processes = not torch.cuda.is_available() and int(os.environ.get("WORLD_SIZE", 1)) > 1
        self.accelerator = acc = Accelerator(
            cpu=config.cpu or cpu_processes,
            mixed_precision={"fp32": "no"}.get(self.precision, self.precision),
            gradient_accumulation_steps=config.grad_accum,
        )
        self.processes = acc.num_processes
        set_seed(config.seed)

        # the model (and tokenizer, saved with it)
        if model is None:
            source = source or locate_model(config.model)
            model, loaded = load_model_and_tokenizer(config.model, "cpu", seed=config.seed)
            tokenizer = tokenizer or loaded
        if tokenizer is None:
            raise ValueError("Pass the model's tokenizer with the model: it is saved with it.")
        self.tokenizer = tokenizer
        _check_fits_model(train_blocks, model)
        _check_fits_model(val_blocks, model)
        model.train()
        self.base_name = source.requested if source else resolve_model_name(config.model)
        self.base_note = ""
        if source is not None and source.is_offline_model:
            self.base_name = OFFLINE_MODEL_NAME
            if source.is_fallback:
                self.base_note = (
                    f"It is the course's offline model, used in place of `{source.requested}` "
                    f"because {source.reason}."
                )
        self.from_scratch = (
            source.is_offline_model
            if source is not None
            else getattr(model.config, "name_or_path", "") in ("", OFFLINE_MODEL_NAME)
        )
        # automatic learning rates: gentle for pretrained weights, per part from scratch
        config = self.config = resolve_learning_rates(config, self.from_scratch)

        # the data: a seeded order per epoch; own generators leave the global RNG alone
        if len(train_blocks) < config.batch_size * self.processes:
            raise ValueError(
                f"Only {len(train_blocks)} training blocks: fewer than one batch of "
                f"{config.batch_size} x {self.processes} process(es). Lower --batch-size or "
                f"--block-size, or give more text."
            )
        self.train_rows, self.val_rows = len(train_blocks), len(val_blocks)
        train_loader = DataLoader(
            train_blocks,
            batch_size=config.batch_size,
            sampler=EpochShuffleSampler(len(train_blocks), config.seed),
            drop_last=True,
            generator=torch.Generator().manual_seed(config.seed),
        )
        eval_loader = DataLoader(
            val_blocks, batch_size=config.batch_size, generator=torch.Generator().manual_seed(0)
        )
        quick_eval = None
        if config.eval_batches is not None:
            rows = min(len(val_blocks), config.eval_batches * config.batch_size * self.processes)
            quick_eval = DataLoader(
                _Blocks(val_blocks.input_ids[:rows], val_blocks.labels[:rows]),
                batch_size=config.batch_size,
                generator=torch.Generator().manual_seed(0),
            )

        # optimizer and schedule; a "step" is one optimizer step (after accumulation)
        optimizer = build_optimizer(model, config, acc.device)
        objective = CausalLMObjective(model, config.loss_chunk_tokens)
        batches_per_process = math.ceil(len(train_loader) / self.processes)  # as accelerate deals
        self.steps_per_epoch = math.ceil(batches_per_process / config.grad_accum)
        self.total_steps = config.max_steps or config.epochs * self.steps_per_epoch
        self.epochs = math.ceil(self.total_steps / self.steps_per_epoch)
        scheduler = build_scheduler(optimizer, config, self.total_steps, scale=self.processes)
        (self.objective, self.optimizer, self.train_loader, self.eval_loader, self.scheduler) = (
            acc.prepare(objective, optimizer, train_loader, eval_loader, scheduler)
        )
        self.quick_eval = acc.prepare(quick_eval) if quick_eval is not None else None
        assert len(self.train_loader) == batches_per_process

        # where things go: the model, the checkpoints, the rolling resume point
        self.output_dir = Path(config.output_dir).expanduser()
        self.checkpoint_dir = config.checkpoint_dir
        self.resume_dir = config.resume_point_dir
        if self.resume_dir is not None and _same_folder(self.resume_dir, self.checkpoint_dir):
            raise ValueError(
                f"The resume folder {self.resume_dir} is the checkpoint folder: give "
                f"--resume-dir a folder of its own (it holds one copy of the latest checkpoint)."
            )
        self.last_resume_copy = _clock()  # copies are spaced from the start of the session

        # bookkeeping, all of it saved in checkpoints
        self.fingerprint = _run_fingerprint(
            config, self.train_rows, self.block, self.total_steps, self.processes
        )
        self.completed = 0
        self.best_val_loss: float | None = None
        self.evals_without_improvement = 0
        self.ema, self.ema_updates = 0.0, 0
        self.history = TrainingHistory()
        self.resumed_from: Path | None = None
        self.last_checkpoint: Path | None = None
        self.stopped_early = self.out_of_time = False
        self.train_seconds = 0.0  # time spent in training steps, evaluations excluded
        self.tokens_per_batch = config.batch_size * self.block * self.processes
        self.window: list[torch.Tensor] = []  # mean loss of each step since the last log
        self.step_losses: list[torch.Tensor] = []  # losses of this step's batches
        self.window_batches, self.window_seconds = 0, 0.0
        self.window_start = time.perf_counter()

    # ----------------------------------------------------------------- the loop

    def loop(self) -> None:
        """The training loop: forward, backward, clip, step, schedule; then log and save."""
        acc, cfg = self.accelerator, self.config
        for epoch in range(self.completed // self.steps_per_epoch, self.epochs):
            self.train_loader.set_epoch(epoch)  # this epoch's shuffled order
            skip = (self.completed - epoch * self.steps_per_epoch) * cfg.grad_accum
            batches = acc.skip_first_batches(self.train_loader, skip) if skip else self.train_loader
            batches.set_epoch(epoch)  # on resume: skip the batches already trained on
            for batch in batches:
                with acc.accumulate(self.objective):  # sync gradients every grad_accum batches
                    loss_sum, tokens = self.objective(batch["input_ids"], batch["labels"])
                    loss = loss_sum / tokens.clamp(min=1)  # mean cross-entropy per token
                    self.check_finite(loss)
                    acc.backward(loss)  # divides by grad_accum; scales the loss in fp16
                    if acc.sync_gradients and cfg.max_grad_norm > 0:
                        acc.clip_grad_norm_(self.objective.parameters(), cfg.max_grad_norm)
                    self.optimizer.step()  # a no-op until the last batch of a cycle
                    self.scheduler.step()
                    self.optimizer.zero_grad(set_to_none=True)
                self.step_losses.append(loss.detach())
                self.window_batches += 1
                if acc.sync_gradients:  # one optimizer step done
                    self.completed += 1
                    self.after_step(epoch)
                    if self.completed >= self.total_steps or self.stopped_early or self.out_of_time:
                        return

    def after_step(self, epoch: int) -> None:
        """Log, evaluate and checkpoint when they are due."""
        cfg = self.config
        self.window.append(torch.stack(self.step_losses).mean())
        self.step_losses = []
        seconds = time.perf_counter() - self.window_start  # pause the clock
        self.window_seconds += seconds
        self.train_seconds += seconds
        if cfg.max_seconds is not None and self.train_seconds >= cfg.max_seconds:
            self.out_of_time = True
        self.progress.update(1)
        if self.completed % cfg.log_every == 0 or self.completed == self.total_steps:
            self.log(epoch)
        if cfg.eval_every and self.completed % cfg.eval_every == 0:
            if self.completed < self.total_steps:
                result = self.evaluate(full=False)
                if self.improved(result):
                    self.save_best()
                elif (
                    cfg.early_stopping_patience
                    and self.evals_without_improvement >= cfg.early_stopping_patience
                ):
                    self.stopped_early = True
                self.notify()
        finished = self.completed >= self.total_steps or self.stopped_early or self.out_of_time
        if cfg.checkpoint_every and self.completed % cfg.checkpoint_every == 0 and not finished:
            self.save_checkpoint()  # (the end of the run saves one after the final evaluation)
            self.update_resume_point()
        self.window_start = time.perf_counter()  # restart the clock: tokens/s counts training only

    def check_finite(self, loss: torch.Tensor) -> None:
        if not torch.isfinite(loss):
            lr = self.scheduler.get_last_lr()[0]
            raise NonFiniteLossError(
                f"The training loss became {loss.item()} at step {self.completed + 1} "
                f"(learning rate {lr:.2e}); training stopped. The last good checkpoint is "
                f"{self.last_checkpoint or 'none'}: re-running resumes from it. Lower the "
                f"learning rate (e.g. --learning-rate {self.config.learning_rate / 10:g}), "
                f"train in bf16 or fp32 instead of fp16, or check the data."
            )

    # ----------------------------------------------------------------- logging

    def log(self, epoch: int) -> None:
        """Append a train record: mean loss since the last log, smoothed loss, lr, tokens/s."""
        local = torch.stack(self.window).mean()
        value = self.accelerator.gather(local[None]).mean().item()
        self.ema, self.ema_updates = 0.9 * self.ema + 0.1 * value, self.ema_updates + 1
        elapsed = max(self.window_seconds, 1e-9)
        record = {
            "step": self.completed,
            "epoch": epoch + 1,
            "loss": value,
            "smoothed_loss": self.ema / (1 - 0.9**self.ema_updates),  # bias-corrected EMA
            "lr": self.scheduler.get_last_lr()[0],
            "tokens_per_second": self.window_batches * self.tokens_per_batch / elapsed,
            "tokens_seen": self.completed * self.config.grad_accum * self.tokens_per_batch,
            "seconds": time.perf_counter() - self.started,
            "train_seconds": self.train_seconds,
        }
        self.history.train.append(record)
        self.window, self.window_batches, self.window_seconds = [], 0, 0.0
        self.progress.set_postfix(
            loss=f"{value:.3f}",
            lr=f"{record['lr']:.1e}",
            tok_s=f"{record['tokens_per_second']:.0f}",
        )
        self.notify()

    def notify(self) -> None:
        if self.on_log is not None and self.accelerator.is_main_process:
            self.on_log(self.history)

    def evaluate(self, full: bool) -> EvalResult:
        """Validation loss over the whole split (``full``) or its first ``eval_batches``."""
        loader = self.eval_loader if full or self.quick_eval is None else self.quick_eval
        total, count = _evaluate_prepared(self.objective, loader, self.accelerator)
        result = EvalResult(total / max(count, 1), count, self.chars_per_token)
        whole = loader is self.eval_loader
        self.history.eval.append({"step": self.completed, "full": whole, **result.as_dict()})
        return result

    def improved(self, result: EvalResult) -> bool:
        if self.best_val_loss is None or result.loss < self.best_val_loss:
            self.best_val_loss, self.evals_without_improvement = result.loss, 0
            return True
        self.evals_without_improvement += 1
        return False

    # ----------------------------------------------------------------- checkpoints

    def state(self) -> dict[str, Any]:
        """Everything beyond accelerate's own state that a resumed run needs."""
        return {
            "completed_steps": self.completed,
            "best_val_loss": self.best_val_loss,
            "evals_without_improvement": self.evals_without_improvement,
            "ema": self.ema,
            "ema_updates": self.ema_updates,
            "train_seconds": self.train_seconds,
            "window": [float(x) for x in self.window],
            "window_batches": self.window_batches,
            "epoch": self.completed // self.steps_per_epoch,
            "batches_into_epoch": (self.completed % self.steps_per_epoch) * self.config.grad_accum,
            "history": self.history.to_dict(),
        }

    def save_checkpoint(self) -> Path:
        """Write model, optimizer, scheduler, RNG and data position to a temporary folder,
        then rename it into place; keep the last ``keep_checkpoints``."""
        acc, folder = self.accelerator, self.checkpoint_dir
        final = folder / f"{CHECKPOINT_PREFIX}{self.completed:06d}"
        staging = folder / f".tmp-{final.name}"
        if acc.is_main_process:
            folder.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(staging, ignore_errors=True)
        acc.wait_for_everyone()
        with _quiet_saving():
            acc.save_state(str(staging))
        acc.wait_for_everyone()
        if acc.is_main_process:
            files = {p.name: p.stat().st_size for p in staging.iterdir() if p.is_file()}
            state = {"fingerprint": self.fingerprint, "run": self.state(), "files": files}
            (staging / STATE_FILE).write_text(json.dumps(state), encoding="utf-8")
            if final.exists():
                shutil.rmtree(final)
            os.replace(staging, final)
            for old in list_checkpoints(folder)[: -self.config.keep_checkpoints]:
                shutil.rmtree(old, ignore_errors=True)
        acc.wait_for_everyone()
        self.last_checkpoint = final
        return final

    def update_resume_point(self, force: bool = False) -> None:
        """Copy the latest checkpoint to ``resume_dir`` (when set), if the last copy is
        ``resume_copy_minutes`` old (``force``: in any case). The main process copies."""
        if self.resume_dir is None or self.last_checkpoint is None:
            return
        acc = self.accelerator
        due = _clock() - self.last_resume_copy >= 60 * self.config.resume_copy_minutes
        acc.wait_for_everyone()
        if acc.is_main_process and (force or due):
            copy_resume_point(self.last_checkpoint, self.resume_dir)
            self.last_resume_copy = _clock()
        acc.wait_for_everyone()

    def remove_resume_point(self) -> None:
        """Once the run is over and its model saved, the saved model replaces the resume
        point: delete it. The main process deletes."""
        if self.resume_dir is None:
            return
        acc = self.accelerator
        acc.wait_for_everyone()
        if acc.is_main_process and (self.output_dir / "config.json").is_file():
            _remove_checkpoints(self.resume_dir)
        acc.wait_for_everyone()

    def resume(self) -> None:
        """Load the latest complete checkpoint, from the checkpoint folder or the resume
        folder (the later step wins), if its run had the same settings."""
        acc, folder = self.accelerator, self.checkpoint_dir
        folders = [folder] if self.resume_dir is None else [folder, self.resume_dir]
        if not self.config.resume:
            if acc.is_main_process:
                for place in folders:
                    _remove_checkpoints(place)
            acc.wait_for_everyone()
            return
        # the latest step wins; at equal steps the checkpoint folder's (the first listed)
        found = [p for place in folders for p in list_checkpoints(place)]
        checkpoint = max(found, key=checkpoint_step, default=None)
        if checkpoint is None:
            return
        folder = checkpoint.parent
        saved = json.loads((checkpoint / STATE_FILE).read_text(encoding="utf-8"))
        differ = {
            key: (saved["fingerprint"].get(key), now)
            for key, now in self.fingerprint.items()
            if saved["fingerprint"].get(key) != now
        }
        if differ:
            detail = ", ".join(
                f"{k}: {old!r} there, {new!r} now" for k, (old, new) in differ.items()
            )
            raise CheckpointMismatchError(
                f"The checkpoints in {folder} come from a run with other settings ({detail}). "
                f"Use the same settings to resume, choose another --output-dir (and "
                f"--checkpoint-directory, --resume-dir if set), or start over with --no-resume "
                f"(which deletes those checkpoints)."
            )
        acc.load_state(str(checkpoint))
        run = saved["run"]
        self.completed = run["completed_steps"]
        self.best_val_loss = run["best_val_loss"]
        self.evals_without_improvement = run["evals_without_improvement"]
        self.ema, self.ema_updates = run["ema"], run["ema_updates"]
        self.train_seconds = run["train_seconds"]
        self.window = [torch.tensor(x, device=acc.device) for x in run["window"]]
        self.window_batches = run["window_batches"]
        self.history = TrainingHistory.from_dict(run["history"])
        self.resumed_from = self.last_checkpoint = checkpoint
        acc.print(f"Resuming from {checkpoint} (step {self.completed} of {self.total_steps}).")

    # ----------------------------------------------------------------- the saved model

    def model(self) -> nn.Module:
        return self.accelerator.unwrap_model(self.objective).model

    def training_args(self) -> dict[str, Any]:
        return {
            **asdict(self.config),
            "resolved": {
                "base_model": self.base_name,
                "trained_from_scratch": self.from_scratch,
                "precision": self.precision,
                "device": self.accelerator.device.type,
                "processes": self.processes,
                "total_steps": self.total_steps,
                "steps_per_epoch": self.steps_per_epoch,
                "epochs": self.epochs,
                "block_size": self.block,
                "train_blocks": self.train_rows,
                "validation_blocks": self.val_rows,
                "chars_per_token": self.chars_per_token,
                "checkpoint_dir": str(self.checkpoint_dir),
                "resume_dir": None if self.resume_dir is None else str(self.resume_dir),
            },
        }

    def card_summary(self, final: EvalResult | None) -> dict[str, Any]:
        cfg, best, m = self.config, self.history.best_eval or {}, self.model().config
        nan = float("nan")
        metrics = {
            "validation loss (nats/token)": f"{best.get('val_loss', nan):.4f}",
            "perplexity": f"{best.get('perplexity', nan):.2f}",
            "bits per token": f"{best.get('bits_per_token', nan):.3f}",
            "bits per character": f"{best['bits_per_char']:.3f}"
            if best.get("bits_per_char")
            else "n/a",
            "best at step": best.get("step", "n/a"),
        }
        if final is not None:
            metrics["validation loss at the end"] = f"{final.loss:.4f}"
        effective = cfg.batch_size * cfg.grad_accum * self.processes
        return {
            "architecture": (
                f"GPT-2, {getattr(m, 'n_layer', '?')} layers x {getattr(m, 'n_embd', '?')} wide, "
                f"{count_parameters(self.model()):,} parameters, "
                f"{getattr(m, 'n_positions', '?')}-token context"
            ),
            "metrics": metrics,
            "training": {
                "steps": f"{self.completed} of {self.total_steps} ({self.epochs} epoch(s))",
                "block size": f"{self.block} tokens",
                "effective batch": (
                    f"{cfg.batch_size} x {cfg.grad_accum} accumulation x {self.processes} "
                    f"process(es) = {effective} blocks = {effective * self.block:,} tokens"
                ),
                "learning rate": (
                    f"{cfg.learning_rate:g} peak (embeddings {cfg.embedding_learning_rate:g}, "
                    f"output layer {cfg.output_learning_rate:g}), {cfg.lr_schedule} decay, "
                    f"{warmup_steps_for(cfg, self.total_steps)} warmup steps"
                ),
                "optimizer": (
                    f"AdamW (weight decay {cfg.weight_decay}, betas {cfg.adam_beta1}, "
                    f"{cfg.adam_beta2}), gradient clipping at {cfg.max_grad_norm}"
                ),
                "precision": self.precision,
                "hardware": f"{self.accelerator.device.type} x {self.processes} process(es)",
                "seed": cfg.seed,
            },
        }

    def save_best(self, final: EvalResult | None = None, weights: bool = True) -> None:
        """Save the model (when it is the best so far), its card, arguments and history."""
        if not self.accelerator.is_main_process:
            return
        args = json.dumps(self.training_args(), indent=1)
        if weights:
            with _quiet_saving():
                save_trained_model(self.model(), self.tokenizer, self.output_dir, {ARGS_FILE: args})
        else:
            _atomic_write_text(self.output_dir / ARGS_FILE, args)
        self.history.save(self.output_dir / HISTORY_FILE)
        description = self.data_description or (
            f"{self.train_rows:,} training and {self.val_rows:,} validation blocks of "
            f"{self.block} tokens."
        )
        write_model_card(
            self.output_dir,
            base_model=self.base_name,
            base_note=self.base_note,
            from_scratch=self.from_scratch,
            data_description=description,
            summary=self.card_summary(final),
        )

    # ----------------------------------------------------------------- start to end

    def run(self) -> TrainingResult:
        from tqdm.auto import tqdm

        acc, cfg = self.accelerator, self.config
        self.resume()
        acc.print(
            f"Training {count_parameters(self.model()):,} parameters on {acc.device.type} x "
            f"{self.processes}, precision {self.precision}: {self.total_steps} steps of "
            f"{cfg.batch_size} x {cfg.grad_accum} x {self.processes} blocks of {self.block} tokens."
        )
        already_done = self.completed >= self.total_steps
        self.progress = tqdm(
            total=self.total_steps,
            initial=self.completed,
            desc="training",
            disable=not (cfg.progress_bar and acc.is_local_main_process),
        )
        interrupted = False
        try:
            if not self.history.eval:  # the starting point, for "before and after"
                self.improved(self.evaluate(full=False))
                self.notify()
            if not already_done:
                self.window_start = time.perf_counter()
                self.loop()
        except KeyboardInterrupt:
            interrupted = True
            self.optimizer.zero_grad(set_to_none=True)
            acc.step = 0  # the resumed run starts a fresh accumulation cycle
            self.step_losses, self.window_batches = [], 0
            self.progress.close()
            self.save_checkpoint()
            self.update_resume_point(force=True)
            copied = f" and copied to {self.resume_dir}" if self.resume_dir is not None else ""
            acc.print(
                f"\nInterrupted at step {self.completed}: checkpoint saved to "
                f"{self.last_checkpoint}{copied}. Run the same command again to resume."
            )
        except Exception as error:
            if _is_oom(error):
                raise TrainingOutOfMemoryError(_oom_message(cfg, self.block)) from error
            raise
        finally:
            self.progress.close()

        final = None
        if already_done:
            last = self.history.eval[-1] if self.history.eval else None
            final = (
                EvalResult(last["val_loss"], last["val_tokens"], self.chars_per_token)
                if last
                else None
            )
            acc.print(f"Nothing to do: the run in {self.output_dir} is complete.")
            self.remove_resume_point()
        elif not interrupted:
            final = self.evaluate(full=True)
            better = self.improved(final)
            self.save_checkpoint()
            self.save_best(final, weights=better or not (self.output_dir / "config.json").is_file())
            self.remove_resume_point()
            self.notify()
        acc.wait_for_everyone()
        result = TrainingResult(
            output_dir=self.output_dir,
            history=self.history,
            completed_steps=self.completed,
            total_steps=self.total_steps,
            precision=self.precision,
            device=acc.device.type,
            processes=self.processes,
            best_val_loss=self.best_val_loss,
            final_eval=final,
            resumed_from=self.resumed_from,
            interrupted=interrupted,
            stopped_early=self.stopped_early,
            out_of_time=self.out_of_time,
            train_seconds=self.train_seconds,
            model_saved=(self.output_dir / "config.json").is_file() and not interrupted,
            seconds=time.perf_counter() - self.started,
            model=acc.unwrap_model(self.objective, keep_fp32_wrapper=False).model,
            checkpoint_dir=self.checkpoint_dir,
            resume_dir=self.resume_dir,
            model_bytes=_files_bytes(self.output_dir, recursive=False),
            checkpoint_bytes=_checkpoints_bytes(self.checkpoint_dir),
            resume_bytes=_checkpoints_bytes(self.resume_dir),
        )
        acc.print(result.summary())
        return result


def train(
    config: TrainingConfig,
    dataset: Mapping[str, Any],
    *,
    model: nn.Module | None = None,
    tokenizer: Any = None,
    source: ModelSource | None = None,
    chars_per_token: float | None = None,
    data_description: str = "",
    on_log: Callable[[TrainingHistory], None] | None = None,
) -> TrainingResult:
    """Train ``model`` (default: ``config.model``, loaded) on ``dataset``; save the best.

    Resumes from the latest complete checkpoint in ``config.checkpoint_dir`` or
    ``config.resume_point_dir`` when there is one (and its settings match).
    ``chars_per_token`` of the validation text turns the loss into bits per character.
    ``on_log`` gets the history after every log and evaluation (for live plots). Ctrl-C
    saves a checkpoint (copied to the resume folder, if any) and returns with
    ``interrupted=True``.
    """
    run = TrainingRun(
        config, dataset, model, tokenizer, source, chars_per_token, data_description, on_log
    )
    return run.run()


def config_fields() -> list[str]:
    """Names of :class:`TrainingConfig`'s fields (the CLI makes a flag of each)."""
    return [f.name for f in fields(TrainingConfig)]


__all__ = [
    "unfinished_checkpoint",
    "CausalLMObjective",
    "CheckpointMismatchError",
    "EvalResult",
    "NonFiniteLossError",
    "TrainingConfig",
    "TrainingError",
    "TrainingHistory",
    "TrainingOutOfMemoryError",
    "TrainingResult",
    "TrainingRun",
    "build_optimizer",
    "build_scheduler",
    "choose_precision",
    "chunked_lm_loss",
    "config_fields",
    "default_learning_rate",
    "copy_resume_point",
    "evaluate_model",
    "human_size",
    "is_complete_checkpoint",
    "latest_checkpoint",
    "learning_rate_schedule",
    "list_checkpoints",
    "save_trained_model",
    "train",
    "write_model_card",
]
