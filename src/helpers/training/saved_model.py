"""The saved model: one folder that ``from_pretrained``, ``pipeline`` and the Hub all read.

:func:`save_best` writes it whenever a run finds a better model: the weights
(safetensors) and tokenizer through ``save_pretrained`` (:func:`save_trained_model`,
atomically, file by file), ``training_args.json`` (every setting and what it resolved
to), ``history.json`` and the model card, ``README.md``.

The card goes through ``huggingface_hub.ModelCard``: its metadata block
(:func:`card_metadata`: base model, license, datasets, pipeline tag) is what the Hub reads
to file the model under "text generation", link it to its base and show its license;
the text says what the model is, what it was trained on, how, and how well, with the
validation blocks each figure was scored on.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from huggingface_hub import ModelCard, ModelCardData
from torch import nn

from helpers.environment import atomic_write_text, follow_umask
from helpers.modeling import count_parameters
from helpers.offline_model import BASE_MODEL_NAME
from helpers.training.checkpoints import files_bytes, parameter_bytes, quiet_saving, staged_write
from helpers.training.history import EvalResult
from helpers.training.optim import warmup_steps_for

if TYPE_CHECKING:
    from helpers.training.loop import TrainingRun

HISTORY_FILE = "history.json"
ARGS_FILE = "training_args.json"

GPT2_LICENSE = "mit"
"""OpenAI released GPT-2's weights under the MIT license; a fine-tuned GPT-2 keeps it."""


def _hub_model_id(name: str) -> str | None:
    """``name`` when it names a model on the Hub (``gpt2``, ``openai-community/gpt2``),
    None for a local folder or anything else the Hub would not resolve."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    from helpers.offline_model import OFFLINE_MODEL_NAME

    if name in (OFFLINE_MODEL_NAME, BASE_MODEL_NAME):  # the course's own, not on the Hub
        return None
    if Path(name).expanduser().exists() or name.count("/") > 1:
        return None
    try:
        validate_repo_id(name)
    except HFValidationError:
        return None
    return name


def is_model_card(path: Path) -> bool:
    """Whether the file at ``path`` is a model card: a README.md that opens with the Hub's
    metadata block (YAML between two ``---`` lines), as every card the course writes does."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return re.match(r"---[ \t]*\n.*?\n---[ \t]*(\n|$)", text, re.DOTALL) is not None


def card_metadata(
    base_model: str, from_scratch: bool, datasets: Sequence[str] | None = None
) -> ModelCardData:
    """The card's metadata: a model trained from random weights has no base model (its
    architecture is GPT-2's, its weights are its own); a fine-tuned one names its base and,
    when that is GPT-2, keeps GPT-2's MIT license. ``datasets``: Hub ids of the training
    data, when it came from the Hub."""
    base = None if from_scratch else _hub_model_id(base_model)
    gpt2 = base is not None and base.removeprefix("openai-community/").startswith(
        ("gpt2", "distilgpt2")
    )
    return ModelCardData(
        base_model=base,
        license=GPT2_LICENSE if gpt2 else "other",
        datasets=list(datasets) if datasets else None,
        pipeline_tag="text-generation",
        library_name="transformers",
        tags=["gpt2", "causal-lm", "gpt2-lab"],
    )


def write_model_card(
    directory: Path,
    *,
    base_model: str,
    from_scratch: bool,
    data_description: str,
    summary: Mapping[str, Any],
    base_note: str = "",
    datasets: Sequence[str] | None = None,
) -> Path:
    """Write the model card (``README.md``): base, data, training, metrics, use, limits.

    ``summary`` holds ``architecture``, and ``training`` and ``metrics`` tables (name ->
    value); ``base_note`` adds a sentence about the base (e.g. why the offline model was
    used).
    """
    if from_scratch:
        base_text = (
            f"`{base_model}` with **random initial weights**: this model was trained *from "
            f"scratch* on the data below, not fine-tuned from pretrained GPT-2. It knows only "
            f"what that data taught it."
        )
    elif base_model == BASE_MODEL_NAME:
        base_text = (
            f"`{base_model}`, a small GPT-2 pretrained by the course on public-domain English "
            f"(see `helpers/assets/base_model/README.md`), fine-tuned on the data below. It is "
            f"not GPT-2 and knows far less English."
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
    limitation = (
        "A small model trained from scratch on one corpus: it has no general knowledge of "
        "language beyond that corpus."
        if from_scratch
        else "Its base saw about a million tokens of old public-domain English (mostly the "
        "King James Bible): expect archaic turns of phrase and little general knowledge."
        if base_model == BASE_MODEL_NAME
        else "It inherits the biases and errors of GPT-2's web pretraining data (WebText)."
    )
    text = f"""
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
characters per token of the validation text, so they compare across tokenizers. The
best checkpoint is chosen among evaluations scored on the same validation blocks
("scored on"); a loss measured on other blocks is not comparable.

## Intended use

Learning and experimentation: generating text in the style of the training data, in the
GPT-2 Lab course notebooks, the command line and the demo app.

## Limitations

* Trained on a small dataset for a short time: it imitates surface style, makes factual
  and grammatical errors, and can repeat or reproduce passages of its training text.
* {limitation}
* Not suitable for any use where the text is taken as true, safe or fair.
"""
    metadata = card_metadata(base_model, from_scratch, datasets)
    card = ModelCard(f"---\n{metadata.to_yaml()}\n---\n{text}")
    return atomic_write_text(directory / "README.md", str(card))


def card_summary(run: TrainingRun, final: EvalResult | None) -> dict[str, Any]:
    """The card's architecture line and its metrics and training tables, for ``run``."""
    cfg, best, m = run.config, run.state.history.best_eval or {}, run.model().config
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
    if best.get("scored_on"):
        metrics["scored on"] = f"{best['scored_on']} ({best['val_tokens']:,} tokens)"
    if final is not None:
        where = f", {final.scored_on} ({final.tokens:,} tokens)" if final.scored_on else ""
        metrics[f"validation loss at the end (step {run.state.completed_steps}{where})"] = (
            f"{final.loss:.4f}"
        )
    effective = cfg.batch_size * cfg.grad_accum * run.processes
    return {
        "architecture": (
            f"GPT-2, {getattr(m, 'n_layer', '?')} layers x {getattr(m, 'n_embd', '?')} wide, "
            f"{count_parameters(run.model()):,} parameters, "
            f"{getattr(m, 'n_positions', '?')}-token context"
        ),
        "metrics": metrics,
        "training": {
            "steps": f"{run.state.completed_steps} of {run.total_steps} ({run.epochs} epoch(s))",
            "block size": f"{run.block} tokens",
            "effective batch": (
                f"{cfg.batch_size} x {cfg.grad_accum} accumulation x {run.processes} "
                f"process(es) = {effective} blocks = {effective * run.block:,} tokens"
            ),
            "learning rate": (
                f"{cfg.learning_rate:g} peak (embeddings {cfg.embedding_learning_rate:g}, "
                f"output layer {cfg.output_learning_rate:g}), {cfg.lr_schedule} decay, "
                f"{warmup_steps_for(cfg, run.total_steps)} warmup steps"
            ),
            "optimizer": (
                (
                    f"Muon for the weight matrices (peak learning rate "
                    f"{cfg.muon_learning_rate:g}), AdamW for the rest "
                    if cfg.optimizer == "muon"
                    else "AdamW "
                )
                + f"(weight decay {cfg.weight_decay}, betas {cfg.adam_beta1}, "
                f"{cfg.adam_beta2}), gradient clipping at {cfg.max_grad_norm}"
            ),
            "precision": run.precision,
            "hardware": f"{run.accelerator.device.type} x {run.processes} process(es)",
            "seed": cfg.seed,
        },
    }


def training_args(run: TrainingRun) -> dict[str, Any]:
    """``training_args.json``: every setting, and what the run resolved them to."""
    return {
        **asdict(run.config),
        "resolved": {
            "base_model": run.base_name,
            "trained_from_scratch": run.from_scratch,
            "precision": run.precision,
            "device": run.accelerator.device.type,
            "processes": run.processes,
            "total_steps": run.total_steps,
            "steps_per_epoch": run.steps_per_epoch,
            "epochs": run.epochs,
            "block_size": run.block,
            "train_blocks": run.train_rows,
            "validation_blocks": run.val_rows,
            "chars_per_token": run.chars_per_token,
            "checkpoint_dir": str(run.checkpoints.folder),
            "resume_dir": None
            if run.checkpoints.resume_dir is None
            else str(run.checkpoints.resume_dir),
        },
    }


def save_trained_model(
    model: nn.Module, tokenizer: Any, directory: str | os.PathLike, extra_files: Mapping[str, str]
) -> Path:
    """``save_pretrained`` model (safetensors) + tokenizer into ``directory``, file by file.

    Everything is written to a hidden staging folder first and then moved in with atomic
    renames, so the folder never holds a half-written file; its ``checkpoints/`` stay put.
    The files get the permissions the umask gives new files (safetensors writes 0600).
    """
    target = Path(directory).expanduser()
    target.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=target))

    def needed() -> int:  # the last save's size, else the weights' and the tokenizer's
        backend = getattr(tokenizer, "backend_tokenizer", None)
        tokenizer_bytes = (
            len(backend.to_str(pretty=True).encode("utf-8")) if backend is not None else 0
        )
        return files_bytes(target, recursive=False) or parameter_bytes(model) + tokenizer_bytes

    try:
        with staged_write(staging, target, needed, "the model"):
            model.save_pretrained(staging, safe_serialization=True)
            tokenizer.save_pretrained(staging)
            for name, text in extra_files.items():
                (staging / name).write_text(text, encoding="utf-8")
            follow_umask(staging)
        # weights first, config last: a reader that sees the new config sees new weights
        names = sorted(p.name for p in staging.iterdir())
        names.sort(key=lambda n: (n != "model.safetensors", n == "config.json"))
        for name in names:
            os.replace(staging / name, target / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def save_best(run: TrainingRun, final: EvalResult | None = None, weights: bool = True) -> None:
    """Save ``run``'s model (``weights``: when it is the best so far), its arguments,
    history and card. The main process saves."""
    if not run.accelerator.is_main_process:
        return
    args = json.dumps(training_args(run), indent=1)
    if weights:
        with quiet_saving():
            save_trained_model(run.model(), run.tokenizer, run.output_dir, {ARGS_FILE: args})
        run.state.weights_saved = True
    else:
        atomic_write_text(run.output_dir / ARGS_FILE, args)
    run.state.history.save(run.output_dir / HISTORY_FILE)
    description = run.data_description or (
        f"{run.train_rows:,} training and {run.val_rows:,} validation blocks of {run.block} tokens."
    )
    write_model_card(
        run.output_dir,
        base_model=run.base_name,
        base_note=run.base_note,
        from_scratch=run.from_scratch,
        data_description=description,
        summary=card_summary(run, final),
    )
