"""Training throughput: our loop vs the Hugging Face Trainer vs a naive loop, same model.

    .venv/bin/python benchmarks/train_throughput.py [--text FILE] [--steps 12] [--rounds 3]

All three train the offline model (a GPT2LMHeadModel in ``OfflineModelConfig``'s shape,
GPT-2's 50,257-token vocabulary) from the same random initialisation on the same text, in one
process, interleaved round by round so that a busy machine slows each of them alike:

* ours    - ``helpers.training.train``: packed blocks, mixed precision chosen by the
            hardware, fused AdamW, the output layer and loss computed in chunks;
* Trainer - ``transformers.Trainer`` on the same packed blocks, batch and precision;
* naive   - an intern-style loop: one line of text per example, padded to the block
            size, batch 1, fp32; only its non-pad ("useful") tokens are counted;
* ours fp32 - our loop again in fp32, to show what mixed precision brings (where the
            hardware has bf16 or fp16).

Each prints tokens/s (median over rounds), the ratios, and MFU = 6 N tokens/s divided by
the matmul peak of this machine at that precision (N = the parameters in matrix products:
the transformer blocks plus the output layer). The peak is measured at the start of every
round, and each round's rate is divided by its own round's peak: a shared machine's speed
drifts by a fifth from minute to minute, and the peak of another minute would measure the
drift, not the loop. The MFU shown is the median over rounds, with the peaks' range.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
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

from helpers.environment import get_device, project_root  # noqa: E402
from helpers.modeling import build_offline_model, gpt2_tokenizer_from_package  # noqa: E402
from helpers.training import TrainingConfig, choose_precision, train  # noqa: E402

DEFAULT_TEXT = project_root().parent / "shared" / "data" / "tinyshakespeare.txt"


def matmul_peak(dtype: torch.dtype, size: int = 2048, repeats: int = 5) -> float:
    """Best FLOP/s of a size^3 matrix product in ``dtype`` on this CPU."""
    a, b = torch.randn(size, size).to(dtype), torch.randn(size, size).to(dtype)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


def round_mfu(n_matmul: int, rates: list[float], peaks: list[float]) -> float:
    """Median over rounds of 6 N (tokens/s) / peak, each round's rate over its own peak."""
    return statistics.median(6 * n_matmul * r / p for r, p in zip(rates, peaks, strict=True))


def matmul_parameters(model: torch.nn.Module) -> int:
    """Weights used in matrix products per token: blocks + output layer (tied to wte)."""
    config = model.config
    blocks = sum(p.numel() for p in model.transformer.h.parameters())
    return blocks + config.vocab_size * config.n_embd


def ours(
    data: DatasetDict, tokenizer, steps: int, batch: int, scratch: str, precision: str = "auto"
) -> float:
    config = TrainingConfig(
        precision=precision,
        output_dir=f"{scratch}/ours",
        max_steps=steps,
        batch_size=batch,
        learning_rate=1e-3,
        eval_every=0,
        eval_batches=1,
        log_every=1,
        checkpoint_every=0,
        resume=False,
        progress_bar=False,
    )
    result = train(config, data, model=build_offline_model(seed=0), tokenizer=tokenizer)
    rates = [r["tokens_per_second"] for r in result.history.train[2:]]  # skip warm-up steps
    return statistics.median(rates)


def hf_trainer(data: DatasetDict, steps: int, batch: int, precision: str, scratch: str) -> float:
    from transformers import Trainer, TrainerCallback, TrainingArguments

    class StepClock(TrainerCallback):
        def __init__(self) -> None:
            self.times: list[float] = []

        def on_step_begin(self, args, state, control, **kwargs):
            self.start = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            self.times.append(time.perf_counter() - self.start)

    clock = StepClock()
    args = TrainingArguments(
        output_dir=f"{scratch}/trainer",
        per_device_train_batch_size=batch,
        max_steps=steps,
        learning_rate=1e-3,
        weight_decay=0.1,
        max_grad_norm=1.0,
        lr_scheduler_type="cosine",
        warmup_steps=0.05,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        use_cpu=get_device().type == "cpu",
        report_to=[],
        save_strategy="no",
        eval_strategy="no",
        logging_strategy="no",
        disable_tqdm=True,
        seed=0,
    )
    model = build_offline_model(seed=0)
    model.loss_type = "ForCausalLM"
    trainer = Trainer(model=model, args=args, train_dataset=data["train"], callbacks=[clock])
    trainer.train()
    tokens = batch * len(data["train"][0]["input_ids"])
    return statistics.median(tokens / t for t in clock.times[2:])


def naive(lines: list[str], tokenizer, steps: int, block: int) -> float:
    """One padded line per step, batch 1, fp32, the model's own loss: what many start with."""
    model = build_offline_model(seed=0)
    model.loss_type = "ForCausalLM"
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    rates = []
    for line in lines[: steps + 2]:
        start = time.perf_counter()
        enc = tokenizer(
            line, return_tensors="pt", padding="max_length", max_length=block, truncation=True
        )
        labels = enc["input_ids"].masked_fill(enc["attention_mask"] == 0, -100)
        loss = model(**enc, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        rates.append(int(enc["attention_mask"].sum()) / (time.perf_counter() - start))
    return statistics.median(rates[2:])


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
    parser.add_argument(  # the first 2 steps of each are warm-up, not measured
        "--steps", type=at_least(3), default=12, help="optimizer steps per measurement (>= 3)"
    )
    parser.add_argument("--rounds", type=at_least(1), default=3)
    parser.add_argument("--batch-size", type=at_least(1), default=8)
    parser.add_argument("--block-size", type=at_least(2), default=128)
    args = parser.parse_args()

    if not args.text.is_file():
        fail(f"no text file at {args.text}: pass one with --text FILE")
    try:
        text = args.text.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        fail(f"{args.text} is not UTF-8 text ({error.reason}): convert it first.")
    tokenizer = gpt2_tokenizer_from_package(model_max_length=10**9)
    ids = tokenizer(text[:200_000])["input_ids"]
    block = args.block_size
    rows = [ids[i : i + block] for i in range(0, len(ids) - block + 1, block)]
    if len(rows) < args.batch_size:
        fail(
            f"{args.text} is too short: its first 200,000 characters give {len(rows)} blocks "
            f"of {block} tokens, and a batch needs {args.batch_size}. Give a longer text, or "
            f"a smaller --batch-size / --block-size."
        )
    data = DatasetDict(
        train=Dataset.from_dict({"input_ids": rows, "labels": rows}),
        validation=Dataset.from_dict({"input_ids": rows[:8], "labels": rows[:8]}),
    )
    lines = [line for line in text.splitlines() if line.strip()]

    device = get_device()
    precision = choose_precision(device)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision, torch.float32)
    n_matmul = matmul_parameters(build_offline_model())
    print(f"device {device.type}, {torch.get_num_threads()} threads; mixed precision: {precision}")
    print(f"model: offline GPT-2 shape, {n_matmul:,} parameters in matrix products")
    print(f"batch {args.batch_size} x {block} tokens, {args.steps} steps, {args.rounds} rounds")

    results: dict[str, list[float]] = {"ours": [], "Trainer": [], "naive": []}
    if precision != "fp32":
        results["ours fp32"] = []
    peaks: dict[str, list[float]] = {"low": [], "fp32": []}
    with tempfile.TemporaryDirectory() as scratch:
        for round_ in range(args.rounds):
            peaks["low"].append(matmul_peak(dtype))
            peaks["fp32"].append(
                peaks["low"][-1] if dtype == torch.float32 else matmul_peak(torch.float32)
            )
            results["ours"].append(ours(data, tokenizer, args.steps, args.batch_size, scratch))
            results["Trainer"].append(
                hf_trainer(data, args.steps, args.batch_size, precision, scratch)
            )
            results["naive"].append(naive(lines, tokenizer, 3 * args.steps, block))
            if "ours fp32" in results:
                results["ours fp32"].append(
                    ours(data, tokenizer, args.steps, args.batch_size, scratch, "fp32")
                )
            print(
                f"round {round_ + 1}: "
                + ", ".join(f"{k} {v[-1]:,.0f} tok/s" for k, v in results.items())
            )

    median = {k: statistics.median(v) for k, v in results.items()}
    print()
    for name, values in (
        (precision, peaks["low"]),
        *((("fp32", peaks["fp32"]),) if precision != "fp32" else ()),
    ):
        low, high = min(values) / 1e9, max(values) / 1e9
        print(f"matmul peak (2048^3), {name}: {low:,.0f}-{high:,.0f} GFLOP/s over the rounds")
    print(f"{'loop':<10}{'precision':>10}{'tokens/s':>12}{'ms/step':>9}{'MFU':>8}")
    for name, rate in median.items():
        fp32 = name in ("naive", "ours fp32")
        prec, round_peaks = ("fp32", peaks["fp32"]) if fp32 else (precision, peaks["low"])
        step = "n/a" if name == "naive" else f"{1000 * args.batch_size * block / rate:.0f}"
        label = "  (useful tokens/s: one padded line per step)" if name == "naive" else ""
        mfu = round_mfu(n_matmul, results[name], round_peaks)
        print(f"{name:<10}{prec:>10}{rate:>12,.0f}{step:>9}{mfu:>8.1%}{label}")
    print(f"ours / Trainer = {median['ours'] / median['Trainer']:.2f}x")
    print(f"ours / naive (useful tokens) = {median['ours'] / median['naive']:.1f}x")
    if "ours fp32" in median:
        print(f"ours {precision} / ours fp32 = {median['ours'] / median['ours fp32']:.2f}x")


if __name__ == "__main__":
    main()
