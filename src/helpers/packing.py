"""From split documents to training blocks: tokenize, then pack into fixed-size blocks.

The path of the data, after :mod:`helpers.data` has loaded, cleaned and split it::

    DatasetDict of documents -> tokenize_documents -> pack_into_blocks
                             -> DatasetDict of fixed-size blocks

Packing joins each split's documents, separated by ``<|endoftext|>``, into one stream of
tokens and cuts it into blocks of ``block_size``: no padding. :func:`pad_lines` and
:func:`packing_report` measure the padded alternative against it. :func:`build_lm_dataset`
runs the whole path, from raw text to packed blocks, and reports its sizes
(:class:`DatasetStats`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from datasets import Dataset, DatasetDict
from datasets.fingerprint import Hasher
from transformers import PreTrainedTokenizerBase

from helpers.cleaning import (
    CleaningConfig,
    CleaningReport,
    DataError,
    _characters,
    _quiet_datasets,
    clean_documents,
)
from helpers.data import SplitMethod, _check_fractions, load_documents, split_documents

# --------------------------------------------------------------------- tokenizing & packing


@_quiet_datasets()
def tokenize_documents(splits: DatasetDict, tokenizer: PreTrainedTokenizerBase) -> DatasetDict:
    """Token ids of each document with ``<|endoftext|>`` appended, as one column.

    The end-of-text token marks where one document stops and the next begins once
    they are packed together, so the model learns not to carry context across.
    """
    eos = tokenizer.eos_token_id

    def encode(batch: dict[str, list[str]]) -> dict[str, list[list[int]]]:
        ids = tokenizer(batch["text"], verbose=False)["input_ids"]
        return {"input_ids": [doc + [eos] for doc in ids]}

    transform = Hasher.hash([encode.__code__, tokenizer_fingerprint(tokenizer)])
    return DatasetDict(
        {
            name: split.map(
                encode,
                batched=True,
                remove_columns=["text", "source"],
                desc="tokenizing",
                new_fingerprint=Hasher.hash([split._fingerprint, transform]),
            )
            for name, split in splits.items()
        }
    )


_NOT_TOKENIZING = {"added_tokens_decoder", "name_or_path", "is_local", "local_files_only"}
"""Settings that change no token ids (the added tokens are in the serialisation)."""


def tokenizer_fingerprint(tokenizer: PreTrainedTokenizerBase) -> str:
    """A hash of what tokenizing depends on, for ``datasets``' cache of mapped splits.

    Left to itself, ``Dataset.map`` hashes the function it is given, and with it the whole
    tokenizer object, through dill. A tokenizer loaded from a folder carries its 50,257
    vocabulary entries and 50,000 merges as Python objects: that took about 1 s per split
    on a 2-core CPU. A fast tokenizer's own serialisation (vocabulary, merges, normaliser,
    pre-tokenizer, special tokens) says the same in about 0.05 s; a slow one is hashed whole.
    """
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return Hasher.hash(tokenizer)
    settings = {k: v for k, v in tokenizer.init_kwargs.items() if k not in _NOT_TOKENIZING}
    return Hasher.hash([type(tokenizer).__name__, backend.to_str(), repr(settings)])


@_quiet_datasets()
def pack_into_blocks(tokenized: DatasetDict, block_size: int) -> DatasetDict:
    """Concatenate each split's tokens and cut them into blocks of ``block_size``.

    Every token is kept, in order, except the last ``total % block_size`` of each split
    (too few for a full block). ``labels`` are a copy of ``input_ids``: the model shifts
    them by one position itself when it computes the loss.
    """
    if block_size < 2:
        raise DataError(f"block_size={block_size} is too small: use at least 2 (e.g. 128).")

    def group(batch: dict[str, list[list[int]]]) -> dict[str, list[list[int]]]:
        stream = [token for doc in batch["input_ids"] for token in doc]
        usable = len(stream) // block_size * block_size
        blocks = [stream[i : i + block_size] for i in range(0, usable, block_size)]
        return {"input_ids": blocks, "labels": [list(block) for block in blocks]}

    # batch_size=None: the whole split at once, so only one remainder is dropped per split
    return tokenized.map(group, batched=True, batch_size=None, desc=f"packing into {block_size}")


@dataclass
class PaddingReport:
    """Token accounting of a padded dataset."""

    examples: int
    real_tokens: int
    pad_tokens: int
    truncated_tokens: int

    @property
    def pad_fraction(self) -> float:
        """Share of all positions in the batch that are padding."""
        return self.pad_tokens / max(1, self.real_tokens + self.pad_tokens)

    @classmethod
    def from_lengths(cls, lengths: list[int], block_size: int) -> PaddingReport:
        kept = [min(length, block_size) for length in lengths]
        return cls(
            examples=len(lengths),
            real_tokens=sum(kept),
            pad_tokens=sum(block_size - k for k in kept),
            truncated_tokens=sum(lengths) - sum(kept),
        )


def pad_lines(
    documents: Dataset, tokenizer: PreTrainedTokenizerBase, block_size: int
) -> PaddingReport:
    """The naive alternative, measured: one line per example, padded to ``block_size``.

    Lines longer than a block are truncated (those tokens are lost); shorter ones are
    filled with pad tokens that cost compute and teach nothing.
    """
    lines = [line for text in documents["text"] for line in text.split("\n") if line.strip()]
    lengths = [len(ids) for ids in tokenizer(lines, verbose=False)["input_ids"]]
    return PaddingReport.from_lengths(lengths, block_size)


def packing_report(tokenized: DatasetDict, block_size: int) -> dict[str, PaddingReport]:
    """The same accounting for packing: no pad at all, only each split's remainder is lost."""
    reports = {}
    for name, split in tokenized.items():
        total = sum(len(ids) for ids in split["input_ids"])
        reports[name] = PaddingReport(total // block_size, total - total % block_size, 0,
                                      total % block_size)  # fmt: skip
    return reports


# --------------------------------------------------------------------- the whole path


@dataclass
class DatasetStats:
    """Sizes along the way, per split."""

    split_method: str
    block_size: int
    documents: dict[str, int]
    characters: dict[str, int]
    tokens: dict[str, int]
    blocks: dict[str, int]
    cleaning: CleaningReport
    document_lengths: list[int] = field(repr=False, default_factory=list)

    @property
    def chars_per_token(self) -> float:
        """Characters per token over all splits (used to turn loss into bits per character)."""
        return sum(self.characters.values()) / max(1, sum(self.tokens.values()))

    @property
    def leftover_tokens(self) -> int:
        """Tokens dropped by packing: each split's last, incomplete block."""
        return sum(self.tokens.values()) - self.block_size * sum(self.blocks.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "split_method": self.split_method,
            "block_size": self.block_size,
            "documents": self.documents,
            "characters": self.characters,
            "tokens": self.tokens,
            "blocks": self.blocks,
            "chars_per_token": round(self.chars_per_token, 4),
        }

    def __str__(self) -> str:
        rows = [f"{'split':<12}{'documents':>10}{'characters':>13}{'tokens':>11}{'blocks':>8}"]
        for name in self.documents:
            rows.append(
                f"{name:<12}{self.documents[name]:>10,}{self.characters[name]:>13,}"
                f"{self.tokens[name]:>11,}{self.blocks[name]:>8,}"
            )
        rows.append(
            f"split: {self.split_method}, block_size: {self.block_size}, "
            f"chars/token: {self.chars_per_token:.2f}"
        )
        return "\n".join(rows)

    _repr_pretty_ = lambda self, printer, cycle: printer.text(str(self))  # noqa: E731


def check_block_size(block_size: int, tokenizer: PreTrainedTokenizerBase) -> None:
    """A block must fit in the model's context (``tokenizer.model_max_length``)."""
    context = tokenizer.model_max_length
    if block_size > context:
        raise DataError(
            f"block_size={block_size} is larger than the model's context of {context} tokens. "
            f"Use block_size <= {context}."
        )
    if block_size < 2:
        raise DataError(f"block_size={block_size} is too small: use at least 2 (e.g. 128).")


def _check_enough_tokens(tokens: dict[str, int], block_size: int) -> None:
    for name, count in tokens.items():
        if count < block_size:
            largest = 2 ** int(np.log2(max(2, count)))
            raise DataError(
                f"The {name} split has only {count:,} tokens, fewer than one block of "
                f"{block_size}. Use block_size={largest} or less, add more text"
                + (", or raise validation_fraction." if name != "train" else ".")
            )


@_quiet_datasets()
def build_lm_dataset(
    source: str | Path | Dataset,
    tokenizer: PreTrainedTokenizerBase,
    block_size: int = 128,
    *,
    validation_fraction: float = 0.1,
    test_fraction: float = 0.0,
    seed: int = 0,
    split_method: SplitMethod = "auto",
    cleaning: CleaningConfig | None = None,
    text_column: str = "text",
    encoding: str = "utf-8",
    max_documents: int | None = None,
) -> tuple[DatasetDict, DatasetStats]:
    """From raw text to packed blocks ready for training, with statistics.

    ``source`` is anything :func:`load_documents` accepts, or a loaded ``Dataset`` of
    documents. ``max_documents`` keeps the first N documents (quick runs).
    """
    check_block_size(block_size, tokenizer)
    _check_fractions(validation_fraction, test_fraction)
    if max_documents is not None and (isinstance(max_documents, bool) or max_documents < 1):
        raise DataError(
            f"max_documents must be a whole number >= 1 (or None for all), got {max_documents!r}."
        )
    documents = (
        source
        if isinstance(source, Dataset)
        else load_documents(source, text_column=text_column, encoding=encoding)
    )
    if max_documents is not None:
        documents = documents.select(range(min(max_documents, len(documents))))
    documents, report = clean_documents(documents, cleaning)
    splits, method = split_documents(
        documents, split_method, validation_fraction, test_fraction, seed
    )
    tokenized = tokenize_documents(splits, tokenizer)
    tokens = {
        name: sum(len(ids) for ids in split["input_ids"]) for name, split in tokenized.items()
    }
    _check_enough_tokens(tokens, block_size)
    packed = pack_into_blocks(tokenized, block_size)
    stats = DatasetStats(
        split_method=method,
        block_size=block_size,
        documents={name: len(split) for name, split in splits.items()},
        characters={name: _characters(split) for name, split in splits.items()},
        tokens=tokens,
        blocks={name: len(split) for name, split in packed.items()},
        cleaning=report,
        document_lengths=[len(text) for text in documents["text"]],
    )
    return packed, stats
