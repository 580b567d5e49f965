"""Time to quality: train a small GPT-2 for S seconds; report validation bits per character.

    .venv/bin/python benchmarks/time_to_quality.py --text ../shared/data/tinyshakespeare.txt \
        --seconds 60 [--recipe adaptive|fixed|slow] [--compare] [--nanogpt]
    # prose the recipe was never tuned on: the novel Botchan (1918 translation), from the
    # offline base's general English (make prepare-data fetches it)
    .venv/bin/python benchmarks/time_to_quality.py --nanogpt \
        --text data/general/train/botchan-* data/general/validation/botchan-*

The text's first 90 % (by characters) is the training data, the last 10 % the validation
data. Both are tokenized with GPT-2's tokenizer; the model is a ``GPT2LMHeadModel`` built
from scratch in the offline model's shape (``OfflineModelConfig``). The recipe (batch,
learning rates per part of the model, schedule) is the course's: ``--recipe adaptive``
(the default) measures a step of ``FROM_SCRATCH_RECIPE``'s batch on this machine first
(not counted) and asks ``from_scratch_recipe`` for the recipe that suits that step time,
the budget and the text's size; ``fixed`` is what it picks where a step takes 156 ms
(where it was tuned) and ``slow`` where a step takes 956 ms (fp32 on a 2-core AVX2 CPU),
whatever the machine. Every recipe moves the weight matrices with Muon unless the
machine is too slow for the reference batch's 240 steps (then AdamW), trains the output
layer on the text's used vocabulary (``used_vocabulary``, exact, with a Good-Turing share
for the tokens it never uses: ``helpers/training/vocabulary.py``) and stops at
``FROM_SCRATCH_STEPS`` steps if the budget holds more (more would over-fit).
``--compare`` runs all three. Training runs
``helpers.training.train`` with a time budget (``max_seconds``): the loop times its first
steps and plans the learning-rate schedule to end with the budget. The whole validation
text is then scored: its tokens are cut into blocks that overlap by one token, so every
token but the first is predicted exactly once, and bits per character = summed loss /
ln 2 / characters. ``--nanogpt`` also runs nanoGPT's character-level CPU recipe for the
same seconds of training (``nanogpt_side.py`` says how it is timed and scored) and prints
each recipe's ratio to it. Prints figures, asserts nothing. To measure what an AVX2-only
CPU does on an AVX-512 one, run it under ``benchmarks/as_avx2.sh``.
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

if __name__ == "__main__":  # usage errors first, before the slow imports below
    from precheck import precheck

    precheck(sys.argv[1:])

import torch  # noqa: E402
from datasets import Dataset, DatasetDict  # noqa: E402
from precheck import UnusableText, read_texts, text_files  # noqa: E402
from transformers import GPT2LMHeadModel  # noqa: E402

from helpers.environment import cpu_capability, project_root  # noqa: E402
from helpers.modeling import (  # noqa: E402
    OfflineModelConfig,
    build_offline_model,
    gpt2_tokenizer_from_package,
)
from helpers.training import (  # noqa: E402
    FROM_SCRATCH_RECIPE,
    OPTIMIZERS,
    REFERENCE_STEP_SECONDS,
    SMALLEST_BATCH,
    TrainingConfig,
    evaluate_model,
    from_scratch_recipe,
    measure_step_seconds,
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


RATE_SETTINGS = [
    "learning_rate",
    "embedding_learning_rate",
    "output_learning_rate",
    "muon_learning_rate",
    "warmup_fraction",
    "min_lr_ratio",
    "weight_decay",
    "adam_beta1",
    "adam_beta2",
]
RECIPE_SETTINGS = ["batch_size", *RATE_SETTINGS, "optimizer", "used_vocabulary"]
SLOW_STEP_SECONDS = 0.956
"""A step of the course's batch in fp32 on a 2-core AVX2 CPU: ``--recipe slow`` is what
the adaptive rule picks there, used everywhere (the other fixed recipe)."""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--text",
        type=Path,
        nargs="+",
        default=[DEFAULT_TEXT],
        help="UTF-8 text files, or folders of .txt files: joined in order of file name "
        "(chapters split across folders stay in order)",
    )
    parser.add_argument(
        "--seconds", type=at_least(0.1, float), default=60.0, help="training time budget"
    )
    parser.add_argument(
        "--steps",
        type=at_least(1),
        default=None,
        help="run exactly this many steps (no time limit)",
    )
    parser.add_argument(
        "--recipe",
        choices=["adaptive", "fixed", "slow"],
        default="adaptive",
        help="adaptive: chosen from the measured step time and the text (from_scratch_recipe); "
        f"fixed / slow: the recipe chosen for a {REFERENCE_STEP_SECONDS * 1000:.0f} / "
        f"{SLOW_STEP_SECONDS * 1000:.0f} ms step, whatever the machine",
    )
    parser.add_argument(
        "--compare",
        action="store_true",
        help="run the three recipes one after another (adaptive, fixed, slow)",
    )
    parser.add_argument(
        "--nanogpt",
        action="store_true",
        help="also run nanoGPT's character-level CPU recipe for the same seconds; print the ratio",
    )
    parser.add_argument("--nanogpt-dir", type=Path, default=None, help="nanoGPT's folder")
    # the model's shape is the offline model's; the recipe's settings can be overridden
    shape = OfflineModelConfig()
    parser.add_argument("--layers", type=at_least(1), default=shape.n_layer)
    parser.add_argument("--width", type=at_least(1), default=shape.n_embd)
    parser.add_argument("--heads", type=at_least(1), default=shape.n_head)
    parser.add_argument("--block-size", type=at_least(2), default=FROM_SCRATCH_RECIPE["block_size"])
    parser.add_argument("--batch-size", type=at_least(1), default=None)
    for name in RATE_SETTINGS:
        parser.add_argument("--" + name.replace("_", "-"), type=float, default=None)
    parser.add_argument(
        "--optimizer",
        choices=list(OPTIMIZERS),
        default=None,
        help="muon: Muon for the weight matrices, AdamW for the rest (default: the recipe's)",
    )
    parser.add_argument(
        "--used-vocabulary",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="train the output layer on the tokens the text uses (default: the recipe's)",
    )
    parser.add_argument("--lr-schedule", default="cosine")
    parser.add_argument("--dropout", type=float, default=shape.dropout)
    parser.add_argument("--precision", default="auto")
    parser.add_argument(
        "--tied",
        action=argparse.BooleanOptionalAction,
        default=shape.tie_word_embeddings,
        help="share the token embedding with the output layer (GPT-2's choice)",
    )
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def described(paths: list[Path]) -> str:
    files = text_files(paths)
    if len(files) == 1:
        return str(files[0])
    return f"{len(files)} files, {files[0].name} ... {files[-1].name}"


def load_text(paths: list[Path]) -> str:
    try:
        return read_texts(paths)
    except UnusableText as error:
        fail(str(error))


def base_settings(args: argparse.Namespace) -> dict:
    return dict(
        lr_schedule=args.lr_schedule,
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


def step_seconds(args: argparse.Namespace, data: DatasetDict, tokenizer, batch: int) -> float:
    """Median time of a training step with ``batch`` blocks (a short run, then discarded),
    trained as the recipe trains: on the used vocabulary unless told otherwise."""
    used_vocabulary = args.used_vocabulary
    if used_vocabulary is None:
        used_vocabulary = FROM_SCRATCH_RECIPE["used_vocabulary"]
    config = TrainingConfig(  # (measure_step_seconds trains it in a temporary folder)
        batch_size=batch,
        block_size=args.block_size,
        learning_rate=1e-3,
        used_vocabulary=used_vocabulary,
        **base_settings(args),
    )
    return measure_step_seconds(
        config, data, steps=12, model=build_model(args), tokenizer=tokenizer
    )


def choose_recipe(
    args: argparse.Namespace, name: str, measured: float, overhead: float, train_tokens: int
) -> dict:
    """The recipe ``name`` on this machine (``measured``: seconds per reference step, of
    which ``overhead`` does not shrink with the batch); command-line settings win."""
    if name == "adaptive":
        recipe = from_scratch_recipe(measured, args.seconds, overhead, train_tokens)
    else:
        step = REFERENCE_STEP_SECONDS if name == "fixed" else SLOW_STEP_SECONDS
        recipe = from_scratch_recipe(step, args.seconds, train_tokens=train_tokens)
    for key in RECIPE_SETTINGS:
        if getattr(args, key) is not None:
            recipe[key] = getattr(args, key)
    chosen = {key: recipe[key] for key in RECIPE_SETTINGS}
    return {**chosen, "max_steps": args.steps or recipe["max_steps"]}  # --steps: exactly


def run_recipe(
    args: argparse.Namespace, data: DatasetDict, tokenizer, recipe: dict, chars_per_token: float
):
    """Train with ``recipe`` for ``--seconds`` (the schedule planned from the measured step
    time, inside ``train``), then score the whole validation text."""
    model = build_model(args)
    wall = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        result = train(
            TrainingConfig(
                output_dir=f"{scratch}/run",
                max_seconds=None if args.steps else args.seconds,
                **recipe,
                **base_settings(args),
            ),
            data,
            model=model,
            tokenizer=tokenizer,
            chars_per_token=chars_per_token,
        )
    wall = time.perf_counter() - wall
    final = evaluate_model(
        result.model,
        data["validation"],
        batch_size=32,
        precision=args.precision,
        chars_per_token=chars_per_token,
    )
    assert math.isfinite(final.bits_per_char)
    return result, final, wall


def main() -> None:
    args = parse_args()
    if args.nanogpt:
        from nanogpt_side import ANCHOR

        args.nanogpt_dir = args.nanogpt_dir or ANCHOR
        if not (args.nanogpt_dir / "train.py").is_file():
            fail(f"no nanoGPT at {args.nanogpt_dir}: pass its folder with --nanogpt-dir")
    text = load_text(args.text)
    cut = int(len(text) * 0.9)
    tokenizer = gpt2_tokenizer_from_package(model_max_length=10**9)
    t0 = time.perf_counter()
    train_ids = tokenizer(text[:cut])["input_ids"]
    val_ids = tokenizer(text[cut:])["input_ids"]
    tokenize_s = time.perf_counter() - t0
    blocks_needed = (args.batch_size or FROM_SCRATCH_RECIPE["batch_size"]) * args.block_size
    if len(train_ids) < blocks_needed + args.block_size or len(val_ids) < 2:
        fail(
            f"{described(args.text)} is too short: its first 90 % has {len(train_ids):,} tokens "
            f"(at least {blocks_needed + args.block_size:,} are needed for batches of "
            f"{blocks_needed // args.block_size} x {args.block_size}) and its last 10 % "
            f"{len(val_ids):,} (at least 2). Give a longer text, or a smaller --batch-size / "
            f"--block-size."
        )
    data = DatasetDict(
        train=packed(train_ids, args.block_size),
        validation=scored_once(val_ids, args.block_size, tokenizer.eos_token_id),
    )
    val_chars = len(text) - cut
    scored = len(val_ids) - 1
    chars_per_token = val_chars / scored
    print(f"text: {described(args.text)} ({len(text):,} characters)")
    print(
        f"train: {len(train_ids):,} tokens -> {len(data['train']):,} blocks of "
        f"{args.block_size}; validation: {len(val_ids):,} tokens, {val_chars:,} characters "
        f"({val_chars / len(val_ids):.3f} characters/token); tokenizing took {tokenize_s:.1f} s"
    )
    print(f"torch CPU capability {cpu_capability()}, {torch.get_num_threads()} threads")
    print(f"model: GPT2LMHeadModel {args.layers} layers x {args.width} wide, {args.heads} heads")

    # 1. calibration: a step of the reference batch, on this machine (not counted)
    # and of the smallest batch, to tell what part of a step does not shrink with the batch
    reference, small = FROM_SCRATCH_RECIPE["batch_size"], SMALLEST_BATCH
    measured = step_seconds(args, data, tokenizer, reference)
    measured_small = step_seconds(args, data, tokenizer, small)
    per_block = max((measured - measured_small) / (reference - small), 0.0)
    overhead = min(max(measured_small - small * per_block, 0.0), 0.9 * measured)
    print(
        f"calibration: {measured * 1000:.0f} ms per step of {reference} x {args.block_size} "
        f"tokens (the recipe was tuned at {REFERENCE_STEP_SECONDS * 1000:.0f} on the whole "
        f"vocabulary), "
        f"{measured_small * 1000:.0f} ms for {small} blocks: {overhead * 1000:.0f} ms of a "
        f"step does not shrink with the batch"
    )
    names = ["adaptive", "fixed", "slow"] if args.compare else [args.recipe]
    scores = {}
    for name in names:
        recipe = choose_recipe(args, name, measured, overhead, len(train_ids))
        print(f"\n== recipe {name}: {recipe}", flush=True)
        result, final, wall = run_recipe(args, data, tokenizer, recipe, chars_per_token)
        print(
            f"steps: {result.completed_steps} of {result.total_steps} planned, precision "
            f"{result.precision}; {result.train_seconds:.1f} s in steps "
            f"({result.tokens_seen / result.train_seconds:,.0f} tokens/s, "
            f"{result.tokens_seen / len(train_ids):.2f} epochs); {wall:.1f} s for the call"
        )
        print(
            f"validation: {final.tokens:,} tokens scored (all but the first), loss "
            f"{final.loss:.4f} nats/token = {final.bits_per_char:.3f} bits/char"
        )
        print(f"load average (1 min) after this run: {os.getloadavg()[0]:.1f}")
        print(
            f"RESULT {name} bits/char = {final.bits_per_char:.3f} "
            f"after {result.train_seconds:.1f} s"
        )
        scores[name] = final.bits_per_char

    if args.nanogpt:
        from nanogpt_side import run_nanogpt

        print("\n== nanoGPT, character-level CPU recipe", flush=True)
        nano = run_nanogpt(text, args.seconds, args.nanogpt_dir)
        print(
            f"nanoGPT: {nano.iterations} iterations in {nano.train_seconds:.1f} s "
            f"({nano.ms_per_iteration:.0f} ms each when calibrated); {nano.val_chars_scored:,} "
            f"validation characters scored"
        )
        print(f"load average (1 min) after this run: {os.getloadavg()[0]:.1f}")
        print(
            f"RESULT nanoGPT bits/char = {nano.bits_per_char:.3f} after {nano.train_seconds:.1f} s"
        )
        for name, bpc in scores.items():
            print(f"RATIO {name} / nanoGPT = {bpc / nano.bits_per_char:.3f}")


if __name__ == "__main__":
    main()
