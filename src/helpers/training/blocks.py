"""The data side of training: packed blocks as tensors, a seeded order per epoch, loaders.

Input contract: a ``datasets.DatasetDict`` (or any mapping) with ``"train"`` and
``"validation"`` splits whose rows are packed blocks ``{"input_ids": [...], "labels": [...]}``
of equal length (see ``helpers.packing.build_lm_dataset``). Anything else is refused with
one clear message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler

from helpers.training.config import TrainingConfig
from helpers.training.history import WHOLE_SPLIT, scored_on


class Blocks(Dataset):
    """Packed token blocks held as one tensor: indexing returns a training example."""

    def __init__(self, input_ids: torch.Tensor, labels: torch.Tensor) -> None:
        self.input_ids, self.labels = input_ids, labels

    def __len__(self) -> int:
        return self.input_ids.shape[0]

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.input_ids[index], "labels": self.labels[index]}


class EpochShuffleSampler(Sampler[int]):
    """A fresh permutation per epoch from ``seed + epoch``: the order depends on nothing else.

    So a resumed run sees exactly the blocks it would have seen, and every process of a
    multi-process run agrees on the order (accelerate then deals the batches out).
    """

    def __init__(self, size: int, seed: int) -> None:
        self.size, self.seed, self.epoch = size, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        return iter(torch.randperm(self.size, generator=generator).tolist())

    def __len__(self) -> int:
        return self.size


def _column_tensor(split: Any, column: str) -> torch.Tensor:
    """A column of equal-length rows as one (rows, length) tensor. A ``datasets.Dataset``
    gives it straight from its Arrow table (a training split of 20,000 blocks: 5 ms instead
    of a third of a second spent making Python lists); anything else goes through lists."""
    try:
        values = split.with_format("arrow")[:].column(column).combine_chunks()
        lengths = values.value_lengths().unique().to_pylist()
        if len(values) and len(lengths) == 1 and lengths[0] is not None:
            flat = values.flatten().to_numpy(zero_copy_only=False)
            return torch.from_numpy(flat.reshape(len(values), lengths[0]).astype("int64"))
    except (AttributeError, TypeError, KeyError, NotImplementedError, ValueError):
        pass  # not Arrow-backed, or not a list column: the general way below
    return torch.tensor(split[column], dtype=torch.long)


def blocks_from_split(split: Any, name: str) -> Blocks:
    """Turn a split of packed rows into tensors, with a clear error for anything else."""
    columns = getattr(split, "column_names", None)
    if columns is None or "input_ids" not in columns:
        raise ValueError(
            f"The '{name}' split must have an 'input_ids' column of packed token blocks "
            f"(got columns {columns}). Build the data with helpers.packing.build_lm_dataset."
        )
    if len(split) == 0:
        raise ValueError(f"The '{name}' split is empty: give more text or a smaller --block-size.")
    try:
        input_ids = _column_tensor(split, "input_ids")
        labels = _column_tensor(split, "labels" if "labels" in columns else "input_ids")
    except (ValueError, TypeError) as error:
        raise ValueError(
            f"The '{name}' split's blocks are not all the same length; pack the tokens into "
            f"equal blocks (helpers.packing.build_lm_dataset does): {error}"
        ) from error
    if input_ids.dim() != 2 or input_ids.shape != labels.shape:
        raise ValueError(
            f"The '{name}' split must hold equal-length blocks with labels of the same shape."
        )
    return Blocks(input_ids, labels)


def check_dataset(dataset: Mapping[str, Any]) -> tuple[Blocks, Blocks]:
    splits = list(dataset.keys()) if isinstance(dataset, Mapping) else None
    if splits is None or "train" not in splits or "validation" not in splits:
        raise ValueError(
            "Training needs a DatasetDict with 'train' and 'validation' splits of packed "
            f"token blocks; got {type(dataset).__name__} with splits {splits}. "
            "Build it with helpers.packing.build_lm_dataset."
        )
    train_blocks = blocks_from_split(dataset["train"], "train")
    val_blocks = blocks_from_split(dataset["validation"], "validation")
    if train_blocks.input_ids.shape[1] != val_blocks.input_ids.shape[1]:
        raise ValueError(
            f"train blocks have {train_blocks.input_ids.shape[1]} tokens but validation blocks "
            f"have {val_blocks.input_ids.shape[1]}: build both splits with one block_size."
        )
    return train_blocks, val_blocks


def check_fits_model(blocks: Blocks, model: nn.Module) -> None:
    config = model.config
    block = blocks.input_ids.shape[1]
    context = getattr(config, "n_positions", None) or getattr(config, "max_position_embeddings", 0)
    if context and block > context:
        raise ValueError(
            f"Blocks of {block} tokens are longer than the model's context of {context}: "
            f"use --block-size {context} or less."
        )
    highest = int(blocks.input_ids.max())
    if highest >= config.vocab_size:
        raise ValueError(
            f"Token id {highest} is outside the model's vocabulary of {config.vocab_size}: "
            f"the data was tokenized with another tokenizer than the model's."
        )


@dataclass
class Loaders:
    """The data loaders of a run, and which validation blocks its evaluations compare on."""

    train: DataLoader
    validation: DataLoader
    first_blocks: DataLoader | None
    """The first ``eval_batches`` batches of every process, that periodic evaluations score
    (None when they score the whole split)."""
    compared_on: str
    """How the history names the blocks that every evaluation but a run's last scores."""


def make_loaders(
    config: TrainingConfig, train_blocks: Blocks, val_blocks: Blocks, processes: int
) -> Loaders:
    """The training loader (a seeded order per epoch; own generators leave the global RNG
    alone), the validation loader, and the one periodic evaluations use."""
    if len(train_blocks) < config.batch_size * processes:
        raise ValueError(
            f"Only {len(train_blocks)} training blocks: fewer than one batch of "
            f"{config.batch_size} x {processes} process(es). Lower --batch-size or "
            f"--block-size, or give more text."
        )
    if len(train_blocks) < config.batch_size * config.grad_accum * processes:
        raise ValueError(  # every step would go over the same blocks again and again
            f"Only {len(train_blocks)} training blocks: fewer than one step of "
            f"{config.batch_size} x {config.grad_accum} accumulation x {processes} "
            f"process(es). Lower --grad-accum (or --batch-size), or give more text."
        )
    train_loader = DataLoader(
        train_blocks,
        batch_size=config.batch_size,
        sampler=EpochShuffleSampler(len(train_blocks), config.seed),
        drop_last=True,
        generator=torch.Generator().manual_seed(config.seed),
    )
    eval_loader = DataLoader(
        val_blocks, batch_size=config.batch_size, generator=torch.Generator().manual_seed(0)
    )
    rows = len(val_blocks)
    if config.eval_batches is not None:
        rows = min(rows, config.eval_batches * config.batch_size * processes)
    if rows == len(val_blocks):
        return Loaders(train_loader, eval_loader, None, WHOLE_SPLIT)
    first_blocks = DataLoader(
        Blocks(val_blocks.input_ids[:rows], val_blocks.labels[:rows]),
        batch_size=config.batch_size,
        generator=torch.Generator().manual_seed(0),
    )
    return Loaders(train_loader, eval_loader, first_blocks, scored_on(rows, len(val_blocks)))
