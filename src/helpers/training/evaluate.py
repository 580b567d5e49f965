"""Scoring a model on validation blocks: the mean next-token loss, and what it means.

:func:`evaluate_model` scores any model on packed blocks (the notebooks' "before and
after"); :func:`evaluate_prepared` is what a run uses, on a loader that accelerate has
dealt out to every process. Both return or feed an :class:`EvalResult`, which turns the
loss into perplexity and bits per character and says which blocks it scored.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from helpers.training.blocks import blocks_from_split
from helpers.training.config import choose_precision
from helpers.training.history import EvalResult, scored_on
from helpers.training.loss import CausalLMObjective


@torch.no_grad()
def evaluate_prepared(objective: nn.Module, dataloader: DataLoader, accelerator: Any) -> tuple:
    """Summed loss and token count over a whole (prepared) dataloader, all processes."""
    inner = accelerator.unwrap_model(objective)
    inner.eval()
    totals = torch.zeros(2, dtype=torch.float64, device=accelerator.device)
    with accelerator.autocast():
        for batch in dataloader:
            sums, counts = inner.row_losses(batch["input_ids"], batch["labels"])
            rows = torch.stack([sums.double(), counts.double()], dim=1)
            totals += accelerator.gather_for_metrics(rows).sum(dim=0)  # drops padded repeats
    inner.train()
    return float(totals[0]), int(totals[1])


def evaluate_model(
    model: nn.Module,
    blocks: Any,
    *,
    batch_size: int = 8,
    precision: str = "auto",
    chars_per_token: float | None = None,
    max_batches: int | None = None,
) -> EvalResult:
    """Validation loss, perplexity and bits per character of ``model`` on packed blocks.

    ``blocks`` is a split of packed rows (``input_ids``); every position but each block's
    first is scored on the token that follows it. ``max_batches``: score only the first
    ``max_batches x batch_size`` blocks (the result's ``scored_on`` says which).
    """
    data = blocks_from_split(blocks, "validation")
    device = next(model.parameters()).device
    chosen = choose_precision(device, precision)
    objective = CausalLMObjective(model)
    was_training = model.training
    model.eval()
    total, count, rows = 0.0, 0, len(data)
    if max_batches is not None:
        rows = min(rows, max_batches * batch_size)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(chosen)
    with torch.no_grad(), torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
        for start in range(0, rows, batch_size):
            ids = data.input_ids[start : start + batch_size].to(device)
            labels = data.labels[start : start + batch_size].to(device)
            sums, counts = objective.row_losses(ids, labels)
            total, count = total + float(sums.sum()), count + int(counts.sum())
    model.train(was_training)
    return EvalResult(total / max(count, 1), count, chars_per_token, scored_on(rows, len(data)))
