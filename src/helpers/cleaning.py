"""Cleaning a corpus before training: Unicode, whitespace, Project Gutenberg boilerplate.

Each step is a small function; :func:`clean_documents` runs the ones a
:class:`CleaningConfig` asks for and reports what each changed (:class:`CleaningReport`).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import datasets
from datasets import Dataset


@contextmanager
def _quiet_datasets() -> Iterator[None]:
    """Hide the "Downloading data" bars that ``datasets`` shows even for local files."""
    was_enabled = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if was_enabled:
            datasets.enable_progress_bars()


class DataError(ValueError):
    """Bad input data or settings; the message names the problem and the fix."""


_GUTENBERG_START = re.compile(
    r"^\*{3}\s*START OF (?:THE|THIS) PROJECT GUTENBERG E-?BOOK.*?\*{3}[^\n]*\n", re.I | re.M
)
_GUTENBERG_END = re.compile(r"^\*{3}\s*END OF (?:THE|THIS) PROJECT GUTENBERG E-?BOOK", re.I | re.M)
_TRAILING_SPACE = re.compile(r"[ \t]+\n")
_MANY_BLANK_LINES = re.compile(r"\n{3,}")


def normalize_unicode(text: str) -> str:
    """NFC: one code point sequence per character ("é" is one code point, not e + ´); and
    no byte-order mark (U+FEFF, which some editors put at the start of a file: invisible,
    yet three tokens of GPT-2's)."""
    return unicodedata.normalize("NFC", text).replace("\ufeff", "")


def normalize_whitespace(text: str) -> str:
    """Unix line endings, no trailing spaces, at most one blank line in a row."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _TRAILING_SPACE.sub("\n", text)
    return _MANY_BLANK_LINES.sub("\n\n", text).strip()


def strip_gutenberg_boilerplate(text: str) -> str:
    """Keep only what lies between Project Gutenberg's START and END markers, if present."""
    start = _GUTENBERG_START.search(text)
    if start:
        text = text[start.end() :]
    end = _GUTENBERG_END.search(text)
    if end:
        text = text[: end.start()]
    return text


@dataclass
class CleaningConfig:
    """Which cleaning steps run; each can be switched off."""

    unicode_nfc: bool = True
    whitespace: bool = True
    strip_gutenberg: bool = True
    min_characters: int = 20  # documents with fewer non-space characters are dropped
    deduplicate: bool = True


@dataclass
class CleaningStep:
    name: str
    documents_before: int
    documents_after: int
    characters_before: int
    characters_after: int

    @property
    def documents_removed(self) -> int:
        return self.documents_before - self.documents_after

    @property
    def characters_removed(self) -> int:
        return self.characters_before - self.characters_after


@dataclass
class CleaningReport:
    """What each cleaning step removed."""

    steps: list[CleaningStep] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"{'step':<22}{'documents removed':>19}{'characters removed':>20}"]
        for step in self.steps:
            lines.append(
                f"{step.name:<22}{step.documents_removed:>19,}{step.characters_removed:>20,}"
            )
        return "\n".join(lines)

    _repr_pretty_ = lambda self, printer, cycle: printer.text(str(self))  # noqa: E731


def _characters(dataset: Dataset) -> int:
    return sum(len(text) for text in dataset["text"])


@_quiet_datasets()
def clean_documents(
    documents: Dataset, config: CleaningConfig | None = None
) -> tuple[Dataset, CleaningReport]:
    """Run the enabled cleaning steps in order and report what each removed."""
    config = config or CleaningConfig()
    report = CleaningReport()

    def record(name: str, before: Dataset, after: Dataset) -> Dataset:
        report.steps.append(
            CleaningStep(name, len(before), len(after), _characters(before), _characters(after))
        )
        return after

    def rewrite(name: str, function: Callable[[str], str], dataset: Dataset) -> Dataset:
        changed = dataset.map(lambda row: {"text": function(row["text"])}, desc=name)
        return record(name, dataset, changed)

    if config.unicode_nfc:
        documents = rewrite("unicode NFC", normalize_unicode, documents)
    if config.strip_gutenberg:
        documents = rewrite("Gutenberg boilerplate", strip_gutenberg_boilerplate, documents)
    if config.whitespace:
        documents = rewrite("whitespace", normalize_whitespace, documents)
    minimum = config.min_characters
    kept = documents.filter(lambda row: len("".join(row["text"].split())) >= minimum)
    documents = record(f"near-empty (<{minimum} chars)", documents, kept)
    if config.deduplicate:
        seen: set[bytes] = set()
        keep: list[int] = []
        for index, text in enumerate(documents["text"]):
            digest = hashlib.sha1(text.encode("utf-8")).digest()
            if digest not in seen:
                seen.add(digest)
                keep.append(index)
        documents = record("exact duplicates", documents, documents.select(keep))
    if len(documents) == 0:
        raise DataError(
            "No documents are left after cleaning: every one was empty or shorter than "
            f"{minimum} characters (not counting spaces). Give more text, or, from Python, "
            "keep shorter documents with clean_documents(..., CleaningConfig(min_characters=...))."
        )
    return documents, report


# ------------------------------------------------------------------------- splitting
