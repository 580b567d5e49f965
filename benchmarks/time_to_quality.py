"""Time to quality: train a small GPT-2 for S seconds; report validation bits per character.

    .venv/bin/python benchmarks/time_to_quality.py --text ../shared/data/tinyshakespeare.txt \
        --seconds 60

The text's first 90 % (by characters) is the training data, the last 10 % the validation
data. Both are tokenized with GPT-2's tokenizer; the model is a ``GPT2LMHeadModel`` built
from scratch. Every default is the course's own: the offline model's shape
(``OfflineModelConfig``) and the from-scratch recipe of ``helpers.training`` (learning
rates per part of the model, batch, schedule), so what wins here is what ``make run``
trains. Training runs ``helpers.training.train`` with a time limit: a short
calibration run first measures the step time, so the learning-rate schedule is planned to
end when the time does. The whole validation text is then scored: its tokens are cut into
blocks that overlap by one token, so every token but the first is predicted exactly once,
and bits per character = summed loss / ln 2 / characters. Prints figures, asserts nothing.
Reference points on this 2-core CPU (from the course's notes): nanoGPT's character-level
CPU recipe, 2.74 bits/char in 59 s; a naive 2 x 128 GPT-2, 2.89 in 60 s.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import NoReturn

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from datasets import Dataset, DatasetDict  # noqa: E402
from transformers import GPT2LMHeadModel  # noqa: E402

from helpers.environment import project_root  # noqa: E402
from helpers.modeling import (  # noqa: E402
    OfflineModelConfig,
    build_offline_model,
    count_parameters,
    gpt2_tokenizer_from_package,
)
from helpers.training import (  # noqa: E402
    FROM_SCRATCH_LEARNING_RATES,
    FROM_SCRATCH_RECIPE,
    TrainingConfig,
    evaluate_model,
    train,
)

DEFAULT_TEXT = project_root().parent / "shared" / "data" / "tinyshakespeare.txt"


def packed(ids: list[int], block: int) -> Dataset:
    """Training blocks: consecutive, non-overlapping (the last partial block is dropped)."""
    rows = [ids[i : i + block] for i in range(0, len(ids) - block + 1, block)]
    return Dataset.from_dict({"input_ids": rows, "labels": rows})


def scored_once(ids: list[int], block: int, pad: int) -> Dataset:
    """Validation blocks overlapping by one token: each token after the first is scored once."""
    rows, labels = [], []
    for start in range(0, len(ids) - 1, block - 1):
        piece = ids[start : start + block]
        rows.append(piece + [pad] * (block - len(piece)))
        labels.append(piece + [-100] * (block - len(piece)))
    return Dataset.from_dict({"input_ids": rows, "labels": labels})


def build_model(args: argparse.Namespace) -> GPT2LMHeadModel:
    """The offline model's architecture, in the shape the arguments give."""
    shape = OfflineModelConfig(
        n_layer=args.layers,
        n_embd=args.width,
        n_head=args.heads,
        n_positions=args.block_size,
        tie_word_embeddings=args.tied,
        dropout=args.dropout,
    )
    model = build_offline_model(shape, seed=args.seed)
    model.loss_type = "ForCausalLM"
    return model


def fail(message: str) -> NoReturn:
    """One clear line on stderr, no traceback; exit status 2 (a usage error)."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


def at_least(low: float, kind: type = int):
    """An argparse type: a number of ``kind`` >= ``low``, else a usage error naming it."""

    def parse(text: str):
        value = kind(text)
        if not value >= low:
            raise argparse.ArgumentTypeError(f"must be >= {low:g} (got {text})")
        return value

    return parse


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--text", type=Path, default=DEFAULT_TEXT, help="any UTF-8 text file")
    parser.add_argument(
        "--seconds", type=at_least(0.1, float), default=60.0, help="training time budget"
    )
    parser.add_argument(
        "--steps",
        type=at_least(1),
        default=None,
        help="run exactly this many steps (no time limit)",
    )
    # the defaults are the course's: the offline model and its from-scratch recipe
    shape, recipe, rates = OfflineModelConfig(), FROM_SCRATCH_RECIPE, FROM_SCRATCH_LEARNING_RATES
    parser.add_argument("--layers", type=at_least(1), default=shape.n_layer)
    parser.add_argument("--width", type=at_least(1), default=shape.n_embd)
    parser.add_argument("--heads", type=at_least(1), default=shape.n_head)
    parser.add_argument("--block-size", type=at_least(2), default=recipe["block_size"])
    parser.add_argument("--batch-size", type=at_least(1), default=recipe["batch_size"])
    parser.add_argument("--learning-rate", type=float, default=rates["body"])
    parser.add_argument("--embedding-learning-rate", type=float, default=rates["embeddings"])
    parser.add_argument("--output-learning-rate", type=float, default=rates["output"])
    parser.add_argument("--warmup-fraction", type=float, default=recipe["warmup_fraction"])
    parser.add_argument("--min-lr-ratio", type=float, default=recipe["min_lr_ratio"])
    parser.add_argument("--lr-schedule", default=recipe.get("lr_schedule", "cosine"))
    parser.add_argument("--weight-decay", type=float, default=recipe["weight_decay"])
    parser.add_argument("--adam-beta1", type=float, default=recipe["adam_beta1"])
    parser.add_argument("--adam-beta2", type=float, default=recipe["adam_beta2"])
    parser.add_argument("--dropout", type=float, default=shape.dropout)
    parser.add_argument("--precision", default="auto")
    parser.add_argument(
        "--tied",
        action=argparse.BooleanOptionalAction,
        default=shape.tie_word_embeddings,
        help="share the token embedding with the output layer (GPT-2's choice)",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    if not args.text.is_file():
        fail(f"no text file at {args.text}: pass one with --text FILE")
    try:
        text = args.text.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        fail(f"{args.text} is not UTF-8 text ({error.reason}): convert it first.")
    cut = int(len(text) * 0.9)
    tokenizer = gpt2_tokenizer_from_package(model_max_length=10**9)
    t0 = time.perf_counter()
    train_ids = tokenizer(text[:cut])["input_ids"]
    val_ids = tokenizer(text[cut:])["input_ids"]
    tokenize_s = time.perf_counter() - t0
    blocks_needed = args.batch_size * args.block_size
    if len(train_ids) < blocks_needed + args.block_size or len(val_ids) < 2:
        fail(
            f"{args.text} is too short: its first 90 % has {len(train_ids):,} tokens "
            f"(at least {blocks_needed + args.block_size:,} are needed for batches of "
            f"{args.batch_size} x {args.block_size}) and its last 10 % {len(val_ids):,} "
            f"(at least 2). Give a longer text, or a smaller --batch-size / --block-size."
        )
    data = DatasetDict(
        train=packed(train_ids, args.block_size),
        validation=scored_once(val_ids, args.block_size, tokenizer.eos_token_id),
    )
    val_chars = len(text) - cut
    scored = len(val_ids) - 1
    print(f"text: {args.text} ({len(text):,} characters)")
    print(
        f"train: {len(train_ids):,} tokens -> {len(data['train']):,} blocks of "
        f"{args.block_size}; validation: {len(val_ids):,} tokens, {val_chars:,} characters "
        f"({val_chars / len(val_ids):.3f} characters/token); tokenizing took {tokenize_s:.1f} s"
    )

    settings = dict(
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        embedding_learning_rate=args.embedding_learning_rate,
        output_learning_rate=args.output_learning_rate,
        adam_beta1=args.adam_beta1,
        adam_beta2=args.adam_beta2,
        warmup_fraction=args.warmup_fraction,
        min_lr_ratio=args.min_lr_ratio,
        lr_schedule=args.lr_schedule,
        weight_decay=args.weight_decay,
        precision=args.precision,
        eval_every=0,
        eval_batches=1,
        log_every=10,
        checkpoint_every=0,
        keep_checkpoints=1,
        resume=False,
        progress_bar=False,
        seed=args.seed,
    )
    with tempfile.TemporaryDirectory() as scratch:
        # 1. calibration: how long does a step take with this shape?
        calibration = train(
            TrainingConfig(
                output_dir=f"{scratch}/calibration", max_steps=12, **{**settings, "log_every": 1}
            ),
            data,
            model=build_model(args),
            tokenizer=tokenizer,
        )
        tokens_per_step = args.batch_size * args.block_size
        rates = sorted(r["tokens_per_second"] for r in calibration.history.train[2:])
        step_s = tokens_per_step / rates[len(rates) // 2]
        planned = args.steps or max(10, int(args.seconds / step_s * 0.97))
        print(f"calibration: {step_s * 1000:.0f} ms/step -> planning {planned} steps")

        # 2. the timed run: the schedule ends at `planned`, the clock stops it at --seconds
        model = build_model(args)
        print(
            f"model: GPT2LMHeadModel {args.layers} layers x {args.width} wide, "
            f"{args.heads} heads, context {args.block_size}, {count_parameters(model):,} parameters"
        )
        wall = time.perf_counter()
        result = train(
            TrainingConfig(
                output_dir=f"{scratch}/run",
                max_steps=planned,
                max_seconds=None if args.steps else args.seconds,
                **settings,
            ),
            data,
            model=model,
            tokenizer=tokenizer,
            chars_per_token=val_chars / scored,
        )
        wall = time.perf_counter() - wall

    # 3. the whole validation text, every token scored once
    final = evaluate_model(
        result.model,
        data["validation"],
        batch_size=32,
        precision=args.precision,
        chars_per_token=val_chars / scored,
    )
    assert final.tokens == scored
    tokens_seen = result.completed_steps * args.batch_size * args.block_size
    print()
    print(f"steps: {result.completed_steps} of {planned} planned, precision {result.precision}")
    print(
        f"training time: {result.train_seconds:.1f} s in steps "
        f"({tokens_seen / result.train_seconds:,.0f} tokens/s, "
        f"{tokens_seen / len(train_ids):.2f} epochs); {wall:.1f} s for the whole call"
    )
    print(f"validation tokens scored: {final.tokens:,} (all but the first)")
    print(f"validation loss: {final.loss:.4f} nats/token, perplexity {final.perplexity:.1f}")
    print(f"RESULT bits/char = {final.bits_per_char:.3f} after {result.train_seconds:.1f} s")
    print(f"(bits/char = {final.loss:.4f} / ln 2 / {val_chars / scored:.4f} chars per token)")
    assert math.isfinite(final.bits_per_char)


if __name__ == "__main__":
    main()
