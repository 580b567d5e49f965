"""Tokens per second of our decoders vs ``model.generate``, and with vs without the KV cache.

    .venv/bin/python benchmarks/generation.py          # full: 64 new tokens; cache at 256
    GPT2LAB_QUICK=1 .venv/bin/python benchmarks/generation.py   # a smoke run
    .venv/bin/python benchmarks/generation.py --threads 1       # e.g. on a busy machine

Prints figures, asserts nothing about speed (it does report whether both gave the same
tokens). The model has the offline model's shape (4 layers x 256, GPT-2's 50,257-token
vocabulary) with a 512-token context, so 256 new tokens fit after the prompt, and no
end-of-text, so every run makes exactly the tokens asked for. Ours and ``generate``
alternate in one process; the median of the repeats is reported.
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

from helpers.decoding import beam_search, greedy, sample  # noqa: E402
from helpers.environment import quick_or_full  # noqa: E402
from helpers.modeling import OfflineModelConfig, build_offline_model  # noqa: E402

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


def cache_vs_none(model, new_tokens: int, repeats: int) -> None:
    print(f"\nKV cache vs recomputing every position, greedy, {new_tokens} new tokens")
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    threads = parser.parse_args().threads
    if threads:
        torch.set_num_threads(threads)
    new_tokens, cache_tokens, repeats = (
        quick_or_full(8, 64),
        quick_or_full(32, 256),
        quick_or_full(1, 5),
    )
    model = build_offline_model(OfflineModelConfig(n_positions=512)).eval()
    model.config.eos_token_id = model.generation_config.eos_token_id = None  # run to the end
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; a 4 x 256 GPT-2 over "
        f"50,257 tokens; {PROMPT_TOKENS}-token prompts; {new_tokens} new tokens; "
        f"median of {repeats}\n"
    )
    strategies_vs_generate(model, new_tokens, repeats)
    cache_vs_none(model, cache_tokens, repeats)


if __name__ == "__main__":
    main()
