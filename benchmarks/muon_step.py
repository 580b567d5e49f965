"""Muon's step on the offline model's weight matrices: bfloat16 against float32 iterations.

    .venv/bin/python benchmarks/muon_step.py
    benchmarks/as_avx2.sh .venv/bin/python benchmarks/muon_step.py   # as on an AVX2-only CPU

Times one optimizer step (the mean of ``--steps``, 20, after up to 3 of warm-up) over the
body's eight weight matrices (2 layers: attention 128 x 384 and 128 x 128, MLP 128 x 512
and 512 x 128), with ``torch.optim.Muon`` (its Newton-Schulz iterations always in
bfloat16; where torch has it) and with ``helpers.training.Muon`` in each number format.
Prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import time

import torch

from helpers.environment import bf16_supported, cpu_capability
from helpers.training import Muon

SHAPES = [(128, 384), (128, 128), (128, 512), (512, 128)] * 2


def milliseconds_per_step(make, steps: int) -> float:
    torch.manual_seed(0)
    weights = [torch.nn.Parameter(torch.randn(shape) * 0.02) for shape in SHAPES]
    for weight in weights:
        weight.grad = torch.randn_like(weight)
    optimizer = make(weights)
    for _ in range(min(3, steps)):  # warm-up, not timed
        optimizer.step()
    start = time.perf_counter()
    for _ in range(steps):
        optimizer.step()
    return (time.perf_counter() - start) / steps * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--steps", type=int, default=20, help="steps timed (after up to 3 of warm-up)"
    )
    steps = parser.parse_args().steps
    if steps < 1:
        parser.error(f"--steps must be >= 1 (got {steps})")
    cpu = torch.device("cpu")
    print(f"torch {torch.__version__}, CPU capability {cpu_capability()}, "
          f"{torch.get_num_threads()} threads, fast bf16: {bf16_supported(cpu)}")  # fmt: skip
    if hasattr(torch.optim, "Muon"):
        ms = milliseconds_per_step(lambda ws: torch.optim.Muon(ws, lr=0.05), steps)
        print(f"{'torch.optim.Muon (bfloat16)':<36} {ms:7.1f} ms per step")
    for fast in (True, False):
        ms = milliseconds_per_step(lambda ws, fast=fast: Muon(ws, lr=0.05, fast_bf16=fast), steps)
        label = f"helpers.training.Muon ({'bfloat16' if fast else 'float32'})"
        print(f"{label:<36} {ms:7.1f} ms per step")
    chosen = "bfloat16" if bf16_supported(cpu) else "float32"
    print(f"on this CPU the course's Muon uses {chosen}")


if __name__ == "__main__":
    main()
