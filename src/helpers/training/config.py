"""Every setting of a training run, the course's recipes, and the choices made from them.

:class:`TrainingConfig` holds the settings (the CLI builds one ``--flag`` per field, its
help text from the field's metadata); :meth:`TrainingConfig.for_mode` is the one place
where quick mode and training from scratch change them. Two settings left at "auto"
are resolved here too: the learning rates (:func:`resolve_learning_rates`, which depend
on whether the weights start pretrained or random) and the number format
(:func:`choose_precision`, which depends on the hardware).
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import torch

from helpers.environment import bf16_supported, is_quick_mode, seed_problem
from helpers.modeling import trained_model_dir

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
FINE_TUNING_LEARNING_RATE = 1e-4
"""Default peak learning rate when the weights are pretrained: adapt them gently."""
SMALL_BASE_LEARNING_RATES = {"gpt2lab-base": 2e-3}
"""Fine-tuning rates for the course's small offline base (7 M parameters): a small model
takes larger steps. Measured on Shakespeare, 30 steps of 8 x 128 tokens: 1e-3 reached a
validation loss of 6.04 (general English 4.70 -> 5.10: it forgets), 3e-4 6.37, 1e-4 6.63.
Then as notebook 03 trains it, 40 s with the batch the machine affords, validation
perplexity on its 96 compare blocks: bf16, batch 8 (about 240 steps): 5e-4 201.3, 1e-3
170.4, 2e-3 154.7, 3e-3 154.0; fp32 on a CPU as slow as a 2-core AVX2 one, batch 2 (about
100 steps): 5e-4 423.7, 1e-3 345.1, 2e-3 343.1, 3e-3 350.6. 2e-3 is at the best on both."""
FROM_SCRATCH_LEARNING_RATES = {"body": 3e-3, "embeddings": 1.0, "output": 6e-3}
"""Default peak learning rates when the weights start random (the offline model), per
part of the model. They won ``benchmarks/time_to_quality.py`` (60 s on 2 CPU cores): each
embedding row is trained only by the batches where its token occurs, and Adam moves a
weight by about the learning rate per step, so rare tokens' rows need large steps; the
output layer, trained by every position, wants small ones."""
OPTIMIZERS = ("adamw", "muon")
MUON_LEARNING_RATE = 0.05
"""Muon's peak learning rate for the body's weight matrices (``optimizer="muon"``). Measured
with ``benchmarks/time_to_quality.py`` (Tiny Shakespeare, 60 s, bf16 on an AVX512-BF16 CPU,
400 steps of 16 blocks): 0.02 gave 2.259 bits/char, 0.05 2.237 (2.225 with another seed),
0.1 2.255; AdamW alone 2.273 (2.268). Botchan (400 steps of 2): 2.067, AdamW 2.070. In
fp32 on a CPU as slow as a 2-core AVX2 one (batch 4, about 230 steps): Muon 2.414 and
2.494 (two seeds), AdamW 2.405 and 2.481, so :func:`from_scratch_recipe` keeps AdamW
on a machine that slow."""
FROM_SCRATCH_RECIPE: dict[str, Any] = {
    "optimizer": "muon",
    "weight_decay": 0.0,
    "adam_beta1": 0.8,
    "adam_beta2": 0.99,
    "warmup_fraction": 0.02,
    "min_lr_ratio": 0.05,
    "batch_size": 8,
    "block_size": 128,
    "used_vocabulary": True,
}
"""The other settings of that winning run (``TrainingConfig.for_mode(from_scratch=True)``)."""
FROM_SCRATCH_STEPS = 400
"""The recipe's length: it was tuned for about this many steps (60 s at 156 ms), and more
of them over-fit a course-sized text rather than help. Measured with the used vocabulary,
60 s budget on the fast CPU: Botchan (57 K tokens) 2.198 bits/char after 441 steps, 3.16
after 1,250; Tiny Shakespeare (302 K tokens) 2.289 after 441, 2.359 after 1,200."""
QUICK_SECONDS = 8.0
"""Quick mode's training time budget (the tests): 30 steps take about 2 s with bf16."""
FULL_SECONDS = 90.0
"""Full mode's training time budget (notebook 03): the step cap ends it first where a
step takes 156 ms (bf16); an fp32-only CPU trains this long and takes fewer steps."""
REFERENCE_STEP_SECONDS = 0.156
"""The step time it was tuned at: ``FROM_SCRATCH_RECIPE``'s batch on the whole vocabulary,
bf16 on an AMX CPU (the used vocabulary makes such a step about 3x cheaper)."""
TARGET_STEPS = 240
"""Fewer optimizer steps than this in the budget, and :func:`from_scratch_recipe` halves
the batch: a model that sees few batches learns more from more, smaller updates."""
SMALLEST_BATCH = 2
RATE_SCALE_PER_HALVING = 1.0
"""How the learning rates follow the batch: multiplied by this each time it is halved."""
MIN_THROUGHPUT_KEPT = 0.75
"""A smaller batch must keep this share of the reference batch's tokens per second."""


FROM_SCRATCH_PASSES = 2.0
"""How many passes over the training text the recipe's ``FROM_SCRATCH_STEPS`` should make:
the batch is chosen for it. Measured at 400 steps, fast CPU: Botchan (57 K tokens) 2.070
bits/char at batch 2 (1.8 passes), 2.093 at 4, 2.199 at 8 (7.2 passes), and 2.124 after
800 steps at batch 2; Tiny Shakespeare (302 K) 2.273 at batch 16 (2.7 passes), 2.291 at 8."""


def from_scratch_recipe(
    step_seconds: float,
    budget_seconds: float,
    overhead_seconds: float = 0.0,
    train_tokens: int | None = None,
) -> dict[str, Any]:
    """The from-scratch recipe for a machine where one step of ``FROM_SCRATCH_RECIPE``'s
    batch takes ``step_seconds`` and training gets ``budget_seconds``, on a training text
    of ``train_tokens`` tokens (unknown: the reference batch).

    First the text: the batch is the power of two that makes ``FROM_SCRATCH_STEPS`` steps
    closest to ``FROM_SCRATCH_PASSES`` passes over it (a short text gets a small batch, so
    that the run does not over-fit it). Then the machine: where the budget holds at least
    ``TARGET_STEPS`` steps of that batch, it stays, with ``FROM_SCRATCH_LEARNING_RATES``. On
    a slower machine (fp32 on an AVX2 CPU: about 1 s a step on the whole vocabulary, 60
    steps a minute) the batch is halved until the budget holds that many steps, as long as
    the smaller batch still trains at least ``MIN_THROUGHPUT_KEPT`` of the reference batch's
    tokens per second. A step is modelled as ``overhead_seconds`` (what does not shrink with
    the batch: the optimizer over every weight, say; measure two batch sizes to know it)
    plus a part proportional to the batch. The learning rates are scaled by
    ``RATE_SCALE_PER_HALVING`` per halving. The weight matrices move by Muon only on a
    machine whose budget holds ``TARGET_STEPS`` steps of the reference batch
    (``MUON_LEARNING_RATE`` says why). The output layer is always trained on the used
    vocabulary (``used_vocabulary``, with the unknown tokens' Good-Turing share: see
    ``training/vocabulary.py``). Where the budget holds fewer than ``TARGET_STEPS`` steps,
    its cheaper steps buy more of them (2.461 -> 2.341 bits/char on Tiny Shakespeare in 60 s
    where a step took 552 ms). Where it holds more, the run stops at ``FROM_SCRATCH_STEPS``
    (``max_steps``), sooner than the budget: more steps would over-fit, and the share still
    helps (Botchan, 441 steps: 2.280 bits/char with the whole vocabulary, 2.198 with the
    used one).
    Returns the settings as ``TrainingConfig`` fields.
    """
    if not (step_seconds > 0 and budget_seconds > 0):
        raise ValueError(
            f"step_seconds and budget_seconds must be > 0, got {step_seconds} and "
            f"{budget_seconds}: measure a step first (benchmarks/time_to_quality.py does)."
        )
    if not 0 <= overhead_seconds < step_seconds:
        raise ValueError(
            f"overhead_seconds must be >= 0 and below step_seconds ({step_seconds}), got "
            f"{overhead_seconds}: it is the part of a step that the batch does not change."
        )
    if train_tokens is not None and train_tokens < 1:
        raise ValueError(
            f"train_tokens must be >= 1 (the training text's size in tokens), got "
            f"{train_tokens}; pass None if it is not known."
        )
    reference = FROM_SCRATCH_RECIPE["batch_size"]

    def seconds(batch: int) -> float:
        return overhead_seconds + (step_seconds - overhead_seconds) * batch / reference

    def throughput(batch: int) -> float:
        return batch / seconds(batch)

    batch = reference
    if train_tokens:
        passes = FROM_SCRATCH_PASSES * train_tokens
        wanted = passes / (FROM_SCRATCH_STEPS * FROM_SCRATCH_RECIPE["block_size"])
        batch = max(SMALLEST_BATCH, 2 ** round(math.log2(max(wanted, 1.0))))
    fast_machine = budget_seconds / seconds(reference) >= TARGET_STEPS
    halvings = 0
    while (
        batch // 2 >= SMALLEST_BATCH
        and budget_seconds / seconds(batch) < TARGET_STEPS
        and throughput(batch // 2) >= MIN_THROUGHPUT_KEPT * throughput(reference)
    ):
        batch //= 2
        halvings += 1
    scale = RATE_SCALE_PER_HALVING**halvings
    rates = FROM_SCRATCH_LEARNING_RATES
    return {
        **FROM_SCRATCH_RECIPE,
        # Muon's orthogonalisation costs the same whatever the batch: on a machine too slow
        # for TARGET_STEPS steps of the reference batch, AdamW's cheaper steps did better
        "optimizer": FROM_SCRATCH_RECIPE["optimizer"] if fast_machine else "adamw",
        "batch_size": batch,
        "learning_rate": rates["body"] * scale,
        "embedding_learning_rate": rates["embeddings"] * scale,
        "output_learning_rate": rates["output"] * scale,
        "muon_learning_rate": MUON_LEARNING_RATE * scale,
        "max_steps": FROM_SCRATCH_STEPS,
    }


def batch_size_flag(text: str) -> int | str:
    """The command line's ``--batch-size``: a whole number of blocks, or ``auto``."""
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a whole number of blocks (e.g. 8) or auto, got {text!r}"
        ) from None


def _rate(value: float) -> str:
    """A learning rate as people write it: 1e-4, 2e-3, 1."""
    return f"{value:g}" if value >= 0.1 else f"{value:.0e}".replace("e-0", "e-")


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
        f"peak learning rate (default: {_rate(FINE_TUNING_LEARNING_RATE)} to fine-tune pretrained "
        "weights such as GPT-2's, "
        + ", ".join(f"{_rate(rate)} for {name}" for name, rate in SMALL_BASE_LEARNING_RATES.items())
        + f", {_rate(FROM_SCRATCH_LEARNING_RATES['body'])} to train from scratch)",
        type=float,
    )
    embedding_learning_rate: float | None = _setting(
        None,
        f"peak learning rate of the token embedding (default: "
        f"{_rate(FROM_SCRATCH_LEARNING_RATES['embeddings'])} from scratch, else "
        "--learning-rate); a token embedding shared with the output layer takes the "
        "output layer's",
        type=float,
    )
    output_learning_rate: float | None = _setting(
        None,
        f"peak learning rate of the output layer (default: "
        f"{_rate(FROM_SCRATCH_LEARNING_RATES['output'])} from scratch, else --learning-rate)",
        type=float,
    )
    weight_decay: float = _setting(0.1, "AdamW weight decay, on weight matrices only")
    adam_beta1: float = _setting(0.9, "AdamW beta1 (momentum)")
    adam_beta2: float = _setting(0.95, "AdamW beta2 (second-moment decay)")
    optimizer: str = _setting(
        "adamw",
        "adamw, or muon: Muon (training/muon.py) moves the body's weight matrices and AdamW "
        "the rest; muon is for weights that start random (the from-scratch recipe uses it)",
        choices=list(OPTIMIZERS),
    )
    muon_learning_rate: float = _setting(
        MUON_LEARNING_RATE, "peak learning rate of the weight matrices with --optimizer muon"
    )
    lr_schedule: str = _setting(
        "cosine",
        "decay after warmup: cosine (to min_lr_ratio x peak), linear (to 0) or constant",
        choices=["cosine", "linear", "constant"],
    )
    warmup_fraction: float = _setting(0.05, "share of the steps spent warming up from 0")
    min_lr_ratio: float = _setting(0.1, "where the cosine decay ends, as a fraction of the peak")
    batch_size: int = _setting(
        16,
        "blocks per forward pass, per process; on the command line also auto (with "
        "--max-seconds): of 16, 8, 4 and 2, the batch whose steps in the budget come "
        "closest to the run's steps at 16",
        type=batch_size_flag,
    )
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
        flag_aliases=("--checkpoint-dir",),  # like --resume-dir and $GPT2LAB_CHECKPOINT_DIR
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
        None,
        "training time budget in seconds (evaluations excluded): the first steps are timed, "
        "then the schedule is planned to end on time, never past --max-steps (or --epochs)",
        type=float,
    )
    seed: int = _setting(42, "seed for initialisation, data order and dropout")
    resume: bool = _setting(
        True,
        "resume from the latest good checkpoint (in the checkpoint folder or --resume-dir); "
        "--no-resume deletes the checkpoints in both and replaces a model saved in --output-dir",
    )
    cpu: bool = _setting(False, "train on the CPU even when a GPU is present")
    progress_bar: bool = _setting(True, "show a progress bar")
    used_vocabulary: bool = _setting(
        False,
        "from random weights only: train the output layer on the tokens the training data "
        "uses, the others sharing one row (exact, and several times faster; see "
        "helpers/training/vocabulary.py)",
    )
    loss_chunk_tokens: int | None = _setting(
        None,
        "compute the output layer and loss this many tokens at a time (0 = plain logits; "
        "default: 256 in fp32, 64 in bf16 or fp16)",
        type=int,
    )

    def __post_init__(self) -> None:
        _check_settings(self)

    @classmethod
    def for_mode(cls, from_scratch: bool = False, **overrides: Any) -> TrainingConfig:
        """The course's settings for the current mode, the one place where sizes switch.

        Both modes budget time (``max_seconds``) with the step count as a cap: the run
        measures its first steps, then plans the schedule to end when the time does, so a
        slower machine takes as long and learns a little less (the result says what it
        achieved), and a fast one stops at the cap. Quick mode (``GPT2LAB_QUICK=1``, the
        tests): a few dozen short steps, seconds on a CPU. Full mode (notebook 03): at most
        ``FULL_SECONDS`` of training. ``from_scratch`` (random initial weights: the
        offline model) adds ``FROM_SCRATCH_RECIPE`` and, in full mode, the step count of
        the benchmark run it comes from. ``overrides`` win.
        """
        quick = {
            "max_steps": 30,
            "max_seconds": QUICK_SECONDS,
            "batch_size": 8,
            "block_size": 64,
            "eval_every": 10,
            "eval_batches": 4,
            "log_every": 1,
            "checkpoint_every": 10,
            "resume_copy_minutes": 0.0,  # a resume copy at every checkpoint: tests see them
        }
        full = {
            "max_steps": FROM_SCRATCH_STEPS if from_scratch else 240,
            "max_seconds": FULL_SECONDS,
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


def _finite(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_settings(config: TrainingConfig) -> None:
    """Refuse settings that cannot work, naming the setting and what it must be."""
    positive = ["epochs", "batch_size", "grad_accum", "block_size", "keep_checkpoints", "log_every"]
    for name in positive:
        if not isinstance(getattr(config, name), int) or getattr(config, name) < 1:
            raise ValueError(f"{name} must be a whole number >= 1, got {getattr(config, name)!r}.")
    if problem := seed_problem("seed", config.seed):
        raise ValueError(problem)
    for name in ["eval_every", "checkpoint_every", "loss_chunk_tokens"]:
        if getattr(config, name) is not None and getattr(config, name) < 0:
            raise ValueError(f"{name} must be >= 0, got {getattr(config, name)!r}.")
    if not (_finite(config.resume_copy_minutes) and config.resume_copy_minutes >= 0):
        raise ValueError(
            f"resume_copy_minutes must be >= 0 and finite, got {config.resume_copy_minutes!r} "
            f"(0: a copy at every checkpoint)."
        )
    if config.max_steps is not None and config.max_steps < 1:
        raise ValueError(f"max_steps must be >= 1 (or None to use epochs), got {config.max_steps}.")
    for name in ["learning_rate", "embedding_learning_rate", "output_learning_rate"]:
        value = getattr(config, name)
        if value is not None and not (_finite(value) and value > 0):
            raise ValueError(f"{name} must be > 0 and finite (or None for auto), got {value!r}.")
    for name in ["weight_decay", "max_grad_norm"]:
        if not (_finite(getattr(config, name)) and getattr(config, name) >= 0):
            raise ValueError(f"{name} must be >= 0 and finite, got {getattr(config, name)!r}.")
    for name in ["adam_beta1", "adam_beta2"]:
        if not (_finite(getattr(config, name)) and 0 <= getattr(config, name) < 1):
            raise ValueError(
                f"{name} must be in [0, 1), got {getattr(config, name)!r}: Adam's moving "
                f"averages keep this share of the past (0.9 and 0.999 are usual)."
            )
    if not 0 <= config.warmup_fraction < 1:
        raise ValueError(f"warmup_fraction must be in [0, 1), got {config.warmup_fraction}.")
    if not 0 <= config.min_lr_ratio <= 1:
        raise ValueError(f"min_lr_ratio must be in [0, 1], got {config.min_lr_ratio}.")
    if config.optimizer not in OPTIMIZERS:
        raise ValueError(
            f"optimizer {config.optimizer!r} is unknown: choose one of {', '.join(OPTIMIZERS)}."
        )
    if not (_finite(config.muon_learning_rate) and config.muon_learning_rate > 0):
        raise ValueError(
            f"muon_learning_rate must be > 0 and finite, got {config.muon_learning_rate!r}."
        )
    if config.lr_schedule not in SCHEDULES:
        raise ValueError(
            f"lr_schedule {config.lr_schedule!r} is unknown: choose one of {', '.join(SCHEDULES)}."
        )
    if config.precision not in PRECISIONS:
        raise ValueError(
            f"precision {config.precision!r} is unknown: choose one of {', '.join(PRECISIONS)}."
        )
    if config.eval_batches is not None and config.eval_batches < 1:
        raise ValueError(f"eval_batches must be >= 1 (or None for all), got {config.eval_batches}.")
    if config.early_stopping_patience is not None and config.early_stopping_patience < 1:
        raise ValueError("early_stopping_patience must be >= 1 (or None for never).")
    if config.max_seconds is not None and not (
        _finite(config.max_seconds) and config.max_seconds > 0
    ):
        raise ValueError(
            f"max_seconds must be > 0 and finite (or None: no time budget), got "
            f"{config.max_seconds!r}."
        )


def default_learning_rate(from_scratch: bool, base: str | None = None) -> float:
    """1e-4 to fine-tune pretrained weights such as GPT-2's (more would wash out what they
    know); 2e-3 for the course's small offline base (``SMALL_BASE_LEARNING_RATES``); 3e-3
    to train a small model from random weights, which has nothing to lose."""
    if from_scratch:
        return FROM_SCRATCH_LEARNING_RATES["body"]
    return SMALL_BASE_LEARNING_RATES.get(str(base), FINE_TUNING_LEARNING_RATE)


def resolve_learning_rates(
    config: TrainingConfig, from_scratch: bool, base: str | None = None
) -> TrainingConfig:
    """``config`` with every automatic (``None``) learning rate set.

    From scratch, each part gets its own default (``FROM_SCRATCH_LEARNING_RATES``);
    for pretrained weights (``base`` names them; default ``config.model``), the
    embeddings and output layer follow ``learning_rate``.
    """
    body = config.learning_rate or default_learning_rate(from_scratch, base or config.model)
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
