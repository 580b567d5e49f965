"""Tokens per second of our decoders vs ``model.generate``, and with vs without the KV cache.

    .venv/bin/python benchmarks/generation.py          # full: 64 new tokens; cache at 256
    GPT2LAB_QUICK=1 .venv/bin/python benchmarks/generation.py   # a smoke run
    .venv/bin/python benchmarks/generation.py --threads 1       # e.g. on a busy machine

Prints figures, asserts nothing about speed (it does report whether both gave the same
tokens). Ours vs ``generate`` runs on the offline model's shape (GPT-2's 50,257-token
vocabulary) with a 512-token context, so 256 new tokens fit after the prompt. The KV
cache is measured on that shape and on GPT-2 small's (12 layers x 768, 124 M: what the
course runs on Colab). Weights are random (speed does not depend on their values) and
there is no end-of-text, so every run makes exactly the tokens asked for. Ours and
``generate`` alternate in one process; the median of the repeats is reported.

What the cache saves is the transformer's work on earlier positions; what it cannot save
is the output layer (a 50,257-row matrix read for every new token) and the per-step cost
of calling the model. The smaller the transformer, the more those dominate, and the
smaller the cache's speed-up at batch 1.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from functools import partial

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from transformers import GPT2Config, GPT2LMHeadModel  # noqa: E402

from helpers.decoding import beam_search, greedy, sample  # noqa: E402
from helpers.environment import quick_or_full  # noqa: E402
from helpers.modeling import OfflineModelConfig, build_offline_model, count_parameters  # noqa: E402

PROMPT_TOKENS = 16
STRATEGIES = [  # name, our decoder with its arguments, the same settings for generate
    ("greedy", partial(greedy), {"do_sample": False}),
    ("beam search, 4 beams", partial(beam_search, num_beams=4), {"num_beams": 4}),
    ("sampling, top-k 50", partial(sample, top_k=50), {"do_sample": True, "top_k": 50}),
    (
        "sampling, T 0.8, top-p 0.9",
        partial(sample, temperature=0.8, top_p=0.9),
        {"do_sample": True, "temperature": 0.8, "top_k": 0, "top_p": 0.9},
    ),
]


def timed(run: Callable[[], torch.Tensor], seed: int = 0) -> tuple[float, torch.Tensor]:
    """Seconds one run takes, and its output (the seed makes sampling runs comparable)."""
    torch.manual_seed(seed)
    start = time.perf_counter()
    with torch.no_grad():
        output = run()
    return time.perf_counter() - start, output


def prompts(batch: int) -> torch.Tensor:
    return torch.randint(
        0, 50000, (batch, PROMPT_TOKENS), generator=torch.Generator().manual_seed(0)
    )


def strategies_vs_generate(model, new_tokens: int, repeats: int) -> None:
    print(f"{'strategy (batch)':<34} {'ours tok/s':>10} {'generate':>9} {'ratio':>6}   same tokens")
    for batch in (1, 8):
        ids = prompts(batch)
        for name, ours, settings in STRATEGIES:
            runs = {
                "ours": partial(ours, model, ids, new_tokens),
                "generate": partial(
                    model.generate, ids, max_new_tokens=new_tokens, pad_token_id=0, **settings
                ),
            }
            for run in runs.values():  # warm up: first calls pay one-time costs
                timed(run)
            times: dict[str, list[float]] = {"ours": [], "generate": []}
            outputs = {}
            for repeat in range(repeats):  # alternate which goes first
                for label in ("ours", "generate") if repeat % 2 == 0 else ("generate", "ours"):
                    elapsed, outputs[label] = timed(runs[label], seed=repeat)
                    times[label].append(elapsed)
            rate = {k: batch * new_tokens / statistics.median(v) for k, v in times.items()}
            same = "yes" if torch.equal(outputs["ours"], outputs["generate"]) else "NO"
            print(
                f"{f'{name} ({batch})':<34} {rate['ours']:>10,.0f} {rate['generate']:>9,.0f} "
                f"{rate['ours'] / rate['generate']:>5.2f}x   {same}"
            )


def cache_vs_none(model, new_tokens: int, repeats: int, shape: str) -> None:
    print(f"\nKV cache vs recomputing every position, greedy, {new_tokens} new tokens; {shape}")
    print(f"{'decoder (batch)':<34} {'cache tok/s':>11} {'no cache':>9} {'speed-up':>9}")
    for batch in (1, 8):
        ids = prompts(batch)
        runs = {
            "ours": partial(greedy, model, ids, new_tokens),
            "generate": partial(
                model.generate, ids, max_new_tokens=new_tokens, do_sample=False, pad_token_id=0
            ),
        }
        times: dict[tuple[str, bool], list[float]] = {}
        for repeat in range(repeats):  # alternate ours and generate; the slow no-cache once
            for label in ("ours", "generate") if repeat % 2 == 0 else ("generate", "ours"):
                for use_cache in (True, False) if repeat == 0 else (True,):
                    elapsed = timed(partial(runs[label], use_cache=use_cache))[0]
                    times.setdefault((label, use_cache), []).append(elapsed)
        for label in runs:
            cached = statistics.median(times[label, True])
            uncached = statistics.median(times[label, False])
            tokens = batch * new_tokens
            print(
                f"{f'{label} ({batch})':<34} {tokens / cached:>11,.0f} {tokens / uncached:>9,.0f} "
                f"{uncached / cached:>8.1f}x"
            )


def without_end_of_text(model: GPT2LMHeadModel) -> GPT2LMHeadModel:
    """The model in eval mode, never stopping early: every run makes all its tokens."""
    model.config.eos_token_id = model.generation_config.eos_token_id = None
    model.loss_type = "ForCausalLM"
    return model.eval()


def at_least(low: float, kind: type = int):
    """An argparse type: a number of ``kind`` >= ``low``, else a usage error naming it."""

    def parse(text: str):
        value = kind(text)
        if not value >= low:
            raise argparse.ArgumentTypeError(f"must be >= {low:g} (got {text})")
        return value

    return parse


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--threads", type=at_least(1), default=None, help="torch threads (default: all)"
    )
    parser.add_argument(
        "--skip-gpt2", action="store_true", help="leave out the cache on GPT-2 small's shape"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    new_tokens, cache_tokens, repeats = (
        quick_or_full(8, 64),
        quick_or_full(32, 256),
        quick_or_full(1, 5),
    )
    model = build_offline_model(OfflineModelConfig(n_positions=512))
    with torch.no_grad():  # its output layer starts at zero; random weights avoid ties
        model.get_output_embeddings().weight.normal_(0.0, 0.02, generator=torch.Generator())
    model = without_end_of_text(model)
    config = model.config
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; the offline model's "
        f"shape ({config.n_layer} x {config.n_embd}, 50,257 tokens); {PROMPT_TOKENS}-token "
        f"prompts; {new_tokens} new tokens; median of {repeats}\n"
    )
    strategies_vs_generate(model, new_tokens, repeats)
    offline = f"the offline model's shape, {count_parameters(model) / 1e6:.1f} M parameters"
    cache_vs_none(model, cache_tokens, repeats, offline)
    if not args.skip_gpt2:
        torch.manual_seed(0)
        gpt2 = without_end_of_text(GPT2LMHeadModel(GPT2Config()))  # GPT-2 small's shape
        shape = f"GPT-2 small's shape, {count_parameters(gpt2) / 1e6:.0f} M parameters"
        cache_vs_none(gpt2, cache_tokens, max(1, repeats // 2), shape)


if __name__ == "__main__":
    main()
