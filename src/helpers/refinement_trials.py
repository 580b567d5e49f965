"""The trials a refinement sweep runs: short training runs sized in seconds, and decoders
scored against human text of the same prompts.

Training: :func:`train_trial` trains one learning rate and seed for a budget of seconds
(``TrainingConfig.max_seconds``: the loop times its first steps and plans the schedule to
end with the budget), reads back from the run's ``training_args.json`` what the training
code resolved (the rates, whether it trained from scratch), and scores the final model on
held-out blocks.

Decoding: :func:`decoding_task` cuts held-out passages into a prompt (their first line)
and the human continuation, token-truncated to the length the decoders write;
:func:`score_decoding` measures a decoder's continuations of the same prompts the same
way: perplexity under the model (each read after its prompt) and distinct-2, and their
distance from the human continuation's, on a log scale.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from datasets import DatasetDict
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from helpers.decoding import generate_continuations
from helpers.metrics import distinct_n
from helpers.perplexity import token_perplexity
from helpers.training import ARGS_FILE, TrainingConfig, evaluate_model, train


def small_splits(dataset: Mapping[str, Any], blocks: int) -> DatasetDict:
    """The training split whole; validation and test cut to their first ``blocks`` blocks,
    so that every evaluation of a trial scores the same blocks, quickly."""
    if blocks < 1:
        raise ValueError(f"blocks must be >= 1, got {blocks}.")
    missing = {"train", "validation", "test"} - set(dataset)
    if missing:
        raise ValueError(
            f"The dataset lacks the split(s) {sorted(missing)}: build it with a test "
            f"fraction (helpers.data.COURSE_SPLIT) so the retrained models have held-out text."
        )
    return DatasetDict(
        train=dataset["train"],
        validation=dataset["validation"].select(range(min(blocks, len(dataset["validation"])))),
        test=dataset["test"].select(range(min(blocks, len(dataset["test"])))),
    )


def _quiet_train(config: TrainingConfig, dataset: DatasetDict, **kwargs: Any) -> tuple[Any, dict]:
    """``train`` with its printed report kept back; returns the result and the run's
    ``training_args.json`` (every setting and what it resolved to)."""
    with tempfile.TemporaryDirectory() as scratch:
        config = replace(config, output_dir=scratch, checkpoint_every=0, resume=False,
                         progress_bar=False)  # fmt: skip
        report = io.StringIO()  # the loop's printout and the model's banner, per trial
        with contextlib.redirect_stdout(report), contextlib.redirect_stderr(report):
            result = train(config, {"train": dataset["train"],
                                    "validation": dataset["validation"]}, **kwargs)  # fmt: skip
        args = json.loads((Path(scratch) / ARGS_FILE).read_text(encoding="utf-8"))
    return result, args


def train_trial(
    config: TrainingConfig,
    dataset: DatasetDict,
    learning_rate: float | None,
    seed: int,
    *,
    budget_seconds: float | None = None,
    chars_per_token: float | None = None,
) -> dict[str, Any]:
    """Train one learning rate and seed; the validation curve and the held-out test loss.

    ``learning_rate`` None: the training code's default for this model. ``budget_seconds``
    is the training time (``max_seconds``: the loop plans its schedule to end in it). The
    embedding and output rates follow the training code's defaults for this model (see
    ``resolve_learning_rates``); the result says what they resolved to, and whether the
    run trained from scratch.
    """
    trial = replace(config, learning_rate=learning_rate, seed=seed, max_seconds=budget_seconds)
    result, args = _quiet_train(trial, dataset, chars_per_token=chars_per_token)
    test = evaluate_model(result.model, dataset["test"], batch_size=config.batch_size)
    by_step = {record["step"]: record["val_loss"] for record in result.history.comparable()}
    curve = [[step, loss] for step, loss in sorted(by_step.items())]
    losses = [[r["train_seconds"], r["loss"]] for r in result.history.train if "loss" in r]
    return {
        "learning_rate": float(args["learning_rate"]),
        "seed": seed,
        "curve": curve,
        "val_loss": curve[-1][1],
        "test_loss": test.loss,
        "steps": result.completed_steps,
        "planned_steps": result.total_steps,
        "train_seconds": result.train_seconds,
        "out_of_time": result.out_of_time,
        "train_losses": losses,
        "output_learning_rate": float(args["output_learning_rate"]),
        "embedding_learning_rate": float(args["embedding_learning_rate"]),
        "from_scratch": bool(args["resolved"]["trained_from_scratch"]),
        "base_model": str(args["resolved"]["base_model"]),
        "precision": str(args["resolved"]["precision"]),
    }


def trained_from_scratch(model_dir: str | Path) -> bool | None:
    """What a saved model's ``training_args.json`` says: True if it was trained from random
    weights, False if fine-tuned, None if the folder has no training record."""
    try:
        args = json.loads((Path(model_dir) / ARGS_FILE).read_text(encoding="utf-8"))
        return bool(args["resolved"]["trained_from_scratch"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


# ---------------------------------------------------------------- decoding


@dataclass(frozen=True)
class DecodingTask:
    """Prompts and the human text that follows each, as token ids of equal length."""

    prompts: list[str]
    prompt_ids: list[list[int]]
    human_ids: list[list[int]]
    human_texts: list[str]
    max_new_tokens: int


def decoding_task(
    tokenizer: PreTrainedTokenizerBase, passages: Sequence[str], max_new_tokens: int
) -> DecodingTask:
    """Each passage's first line (and its newline) is a prompt; the next ``max_new_tokens``
    tokens are the human continuation. Passages too short for that are left out."""
    prompts, prompt_ids, human_ids = [], [], []
    for passage in passages:
        first, _, rest = passage.partition("\n")
        ids = tokenizer(rest)["input_ids"]
        if first.strip() and len(ids) >= max_new_tokens:
            prompts.append(first + "\n")
            prompt_ids.append(tokenizer(first + "\n")["input_ids"])
            human_ids.append(ids[:max_new_tokens])
    if len(prompts) < 2:
        raise ValueError(
            f"Only {len(prompts)} passage(s) continue for {max_new_tokens} tokens after their "
            f"first line: give more or longer passages, or fewer new tokens."
        )
    texts = [tokenizer.decode(ids) for ids in human_ids]
    return DecodingTask(prompts, prompt_ids, human_ids, texts, max_new_tokens)


def _measure(
    model: PreTrainedModel, contexts: list[list[int]], ids: list[list[int]], texts: list[str]
) -> dict[str, float]:
    rows = [i for i, row in enumerate(ids) if row]
    if not rows:
        return {"perplexity": math.nan, "distinct_2": math.nan}
    scored = token_perplexity(
        model,
        [ids[i] for i in rows],
        characters=max(1, sum(len(texts[i]) for i in rows)),
        contexts=[contexts[i] for i in rows],
    )
    return {"perplexity": scored.perplexity, "distinct_2": distinct_n(texts, 2)}


def human_reference(model: PreTrainedModel, task: DecodingTask) -> dict[str, float]:
    """The human continuations measured like a decoder's: perplexity and distinct-2."""
    return _measure(model, task.prompt_ids, task.human_ids, task.human_texts)


def distance_from_human(row: Mapping[str, float], human: Mapping[str, float]) -> float:
    """|log PPL − log PPL_human| + |log distinct-2 − log distinct-2_human|: 0 when a
    decoder's text is as predictable and as varied as the human text."""
    if not row["distinct_2"] > 0 or math.isnan(row["perplexity"]):
        return math.nan
    return abs(math.log(row["perplexity"] / human["perplexity"])) + abs(
        math.log(row["distinct_2"] / human["distinct_2"])
    )


def score_decoding(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    task: DecodingTask,
    human: Mapping[str, float],
    settings: Mapping[str, Any],
    seed: int,
) -> dict[str, float]:
    """Sample one continuation per prompt with ``settings`` (temperature, top_k, top_p,
    repetition_penalty); their perplexity, distinct-2 and distance from the human text."""
    generated = generate_continuations(
        model, tokenizer, task.prompts, "sample", max_new_tokens=task.max_new_tokens,
        seed=seed, **settings,
    )  # fmt: skip
    row = _measure(model, generated.prompt_ids, generated.new_ids, generated.texts)
    return {**row, "distance": distance_from_human(row, human)}
