"""Documents for training: load them, clean them, split them into train / validation / test.

The path of the data::

    files -> load_documents -> clean_documents -> split_documents
          -> (helpers.packing) tokenize_documents -> pack_into_blocks
          -> DatasetDict of fixed-size blocks

Every step returns a ``datasets`` object, so each can be looked at on its own;
:func:`helpers.packing.build_lm_dataset` runs them all. A document is one unit of text that
belongs together (a play, a file, a CSV row); splits never cut across documents unless the
contiguous split is chosen on purpose.
"""

from __future__ import annotations

import codecs
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import datasets
import numpy as np
from datasets import Dataset, DatasetDict

from helpers.cleaning import DataError, _quiet_datasets, clean_documents
from helpers.environment import is_online, seed_problem, similar_path

TEXT_SUFFIXES = {".txt", ".text", ".md"}
SplitMethod = Literal["auto", "document", "contiguous"]
# below this many documents "auto" cuts the text instead of assigning whole documents
MIN_DOCUMENTS_FOR_DOCUMENT_SPLIT = 10


COURSE_SPLIT: dict[str, Any] = {"validation_fraction": 0.1, "test_fraction": 0.1, "seed": 0}
"""The course's one split of its corpus (notebooks 03, 05, 06 pass it to the same calls,
so every notebook agrees on which works are training, validation and test)."""


QUICK_MODE_WORKS = 8
"""How many of the corpus's works quick mode (``GPT2LAB_QUICK=1``) keeps."""


# --------------------------------------------------------------------------- loading


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _check_text_file(path: Path, encoding: str) -> None:
    """Fail early, naming the file, on binary or wrongly encoded input."""
    raw = path.read_bytes()
    wide = codecs.lookup(encoding).name.startswith(("utf-16", "utf-32"))  # NUL bytes are normal
    if b"\x00" in raw[:8192] and not wide:
        utf16 = raw[:2] in (b"\xff\xfe", b"\xfe\xff")
        hint = " (UTF-16? pass encoding='utf-16', or --encoding utf-16)" if utf16 else ""
        raise DataError(f"{path} looks like a binary file (it contains NUL bytes), not text{hint}.")
    if wide and b"\x00" not in raw[:8192] and _is_utf8(raw):  # it would decode to nonsense
        raise DataError(
            f"{path} is UTF-8 text, not {encoding} (no NUL bytes, which {encoding} text of "
            f"Latin letters is full of): leave the encoding at 'utf-8', the default."
        )
    boms = {
        "utf-16": (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE),
        "utf-32": (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE),
    }
    name = codecs.lookup(encoding).name
    needs_bom = boms.get(name)
    try:
        if needs_bom and not raw.startswith(tuple(needs_bom)):
            raise UnicodeError(f"{encoding} text starts with a byte-order mark")
        raw.decode(encoding)
    except UnicodeError as error:  # a bad byte, or (UTF-16) no byte-order mark
        start = getattr(error, "start", 0)
        bad = raw[start : start + 4]
        others = [e for e in ("utf-8", "latin-1", "cp1252") if codecs.lookup(e).name != name]
        raise DataError(
            f"{path} is not valid {encoding} (at byte {start}: {bad!r}). Give its encoding, "
            f"e.g. {' or '.join(others)} (latin-1 and cp1252: older Western files): "
            f"encoding='{others[0]}' in Python, --encoding {others[0]} on the command line. "
            f"Or convert it to UTF-8."
        ) from error


def _text_files(folder: Path) -> list[Path]:
    files = sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES
    )
    if not files:
        raise DataError(
            f"The folder {folder} holds no text files ({', '.join(sorted(TEXT_SUFFIXES))}). "
            f"Put one .txt file per document there."
        )
    return files


def _load_text_files(files: list[Path], encoding: str, root: Path) -> Dataset:
    for path in files:
        _check_text_file(path, encoding)
    with _quiet_datasets():
        loaded = datasets.load_dataset(
            "text",
            data_files=[str(p) for p in files],
            sample_by="document",  # one row per file, line breaks kept
            encoding=encoding,
            split="train",
        )
    names = [str(p.relative_to(root)) if p != root else p.name for p in files]
    return loaded.add_column("source", names)


def _load_table(path: Path, kind: str, column: str, encoding: str) -> Dataset:
    _check_text_file(path, encoding)
    try:
        with _quiet_datasets():
            if kind == "csv":
                table = datasets.load_dataset(
                    "csv", data_files=str(path), encoding=encoding, split="train"
                )
            else:
                table = datasets.load_dataset("json", data_files=str(path), split="train")
    except Exception as error:  # the builders raise DatasetGenerationError with the cause inside
        cause = error.__cause__ or error
        if "corresponds to no data" in str(cause):  # a header and nothing else
            wanted = "a row per document" if kind == "csv" else "a JSON object per line"
            raise DataError(f"{path} holds no documents: add {wanted}.") from error
        raise DataError(f"Could not read {path} as {kind.upper()}: {cause}") from error
    where = "column" if kind == "csv" else "field"
    if column not in table.column_names:
        names = table.column_names
        other = [mark for mark in (";", "\t", "|") if len(names) == 1 and mark in names[0]]
        hint = (
            f" Its one column looks like several separated by {other[0]!r}: save it with "
            f"commas, or as .jsonl."
            if other
            else ""
        )
        raise DataError(
            f"{path} has no {where} named {column!r}; it has: {', '.join(names)}. "
            f"Pass text_column=<one of those> (--text-column on the command line).{hint}"
        )
    texts = [_as_text(value) for value in table[column]]
    sources = [f"{path.name}:{i + 1}" for i in range(len(texts))]
    strings = datasets.Features({name: datasets.Value("string") for name in ("text", "source")})
    return Dataset.from_dict({"text": texts, "source": sources}, features=strings)


def _as_text(value: object) -> str:
    """A table cell as a document: missing is empty, a list of strings is its lines, and
    anything else (a number, say) is written out as text, so that every row is a string."""
    if value is None:
        return ""
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return "\n".join(value)
    return str(value)


def _check_no_column(text_column: str, what: str) -> None:
    """A text file has no columns: a column asked of it would be ignored, so say so."""
    if text_column != "text":
        raise DataError(
            f"text_column={text_column!r} (--text-column) names a column of a .csv or a "
            f"field of a .jsonl file, but {what}, read whole: leave it out."
        )


def load_documents(
    source: str | Path,
    *,
    text_column: str = "text",
    encoding: str = "utf-8",
    split: str = "train",
) -> Dataset:
    """Load documents into a ``Dataset`` with columns ``text`` and ``source``.

    ``source`` may be a ``.txt`` file (one document), a folder of ``.txt`` files (one
    document each, sorted by path), a ``.csv`` file (one document per row, text in
    ``text_column``), a ``.jsonl`` file (one document per line, text in the field
    ``text_column``), or, online only, the name of a Hugging Face Hub dataset.
    """
    try:
        "".encode(encoding)  # also refuses codecs that are not text encodings (rot13, base64)
    except LookupError as error:
        known = "Unknown" if "not a text encoding" not in str(error) else "Not a"
        raise DataError(
            f"{known} text encoding {encoding!r}: use 'utf-8' (the default), 'latin-1' or 'cp1252'."
        ) from error
    path = Path(source).expanduser()
    if path.is_dir():
        _check_no_column(text_column, f"{path} is a folder of text files")
        return _load_text_files(_text_files(path), encoding, path)
    if path.is_file():
        if path.stat().st_size == 0:
            raise DataError(f"{path} is empty: there is no text to learn from.")
        suffix = path.suffix.lower()
        if suffix == ".csv":
            return _load_table(path, "csv", text_column, encoding)
        if suffix in {".jsonl", ".json"}:
            return _load_table(path, "json", text_column, encoding)
        _check_no_column(text_column, f"{path} is a text file")
        return _load_text_files([path], encoding, path)
    hub_name = str(source).count("/") <= 1 and not str(source).startswith((".", "/", "~"))
    meant_local = len(path.parts) > 1 and path.parent.is_dir()  # data/shakspeare: data/ is here
    if hub_name and not meant_local:
        return _load_hub_dataset(str(source), text_column, split)
    near = similar_path(path)
    hint = f" Did you mean {near}?" if near is not None else ""
    raise DataError(f"There is no file or folder {path}.{hint} Check the path.")


def _load_hub_dataset(name: str, text_column: str, split: str) -> Dataset:
    if not is_online():
        raise DataError(
            f"{name!r} is not a local file or folder, and Hub datasets need internet, which "
            f"this machine does not have. Give a path to a .txt/.csv/.jsonl file or a folder."
        )
    try:
        table = datasets.load_dataset(name, split=split)
    except Exception as error:
        raise DataError(f"Could not load the Hub dataset {name!r}: {error}") from error
    if text_column not in table.column_names:
        raise DataError(
            f"The Hub dataset {name!r} has no column {text_column!r}; it has: "
            f"{', '.join(table.column_names)}. Pass text_column=<one of those>."
        )
    table = table.select_columns([text_column]).rename_column(text_column, "text")
    return table.add_column("source", [f"{name}:{i}" for i in range(len(table))])


# ------------------------------------------------------------------------- splitting


def _check_fractions(validation_fraction: float, test_fraction: float) -> None:
    if not 0 < validation_fraction < 1:
        raise DataError(
            f"validation_fraction={validation_fraction} must be between 0 and 1 (exclusive), "
            f"e.g. 0.1 for 10 %."
        )
    if not 0 <= test_fraction < 1 or validation_fraction + test_fraction >= 1:
        raise DataError(
            f"test_fraction={test_fraction} must be in [0, 1) and leave room for training "
            f"(validation + test = {validation_fraction + test_fraction} must be below 1)."
        )


def split_by_document(
    documents: Dataset, validation_fraction: float = 0.1, test_fraction: float = 0.0, seed: int = 0
) -> DatasetDict:
    """Assign whole documents to train / validation (/ test): no text is in two splits.

    The order is shuffled with ``seed``; each held-out split gets at least one document.
    """
    _check_fractions(validation_fraction, test_fraction)
    needed = 2 + (test_fraction > 0)
    if len(documents) < needed:
        raise DataError(
            f"Splitting by document needs at least {needed} documents, there are "
            f"{len(documents)}. Use split_method='contiguous' (--split contiguous on the command "
            f"line) for a single long text."
        )
    order = np.random.default_rng(seed).permutation(len(documents))
    n_validation = max(1, round(validation_fraction * len(documents)))
    n_test = max(1, round(test_fraction * len(documents))) if test_fraction > 0 else 0
    if n_validation + n_test >= len(documents):
        raise DataError(
            f"With {len(documents)} documents, validation_fraction={validation_fraction} and "
            f"test_fraction={test_fraction} leave no document for training. Lower them, or "
            f"use split_method='contiguous' (--split contiguous on the command line)."
        )
    parts = {
        "train": order[n_validation + n_test :],
        "validation": order[:n_validation],
    }
    if n_test:
        parts["test"] = order[n_validation : n_validation + n_test]
    return DatasetDict({name: documents.select(sorted(idx)) for name, idx in parts.items()})


def _cut_at_line(text: str, position: int) -> int:
    """Move a cut to the start of the next line (or word, for text without line breaks)."""
    for boundary in ("\n", " "):
        found = text.find(boundary, position)
        if found != -1:
            return found + 1
    return position


def split_contiguous(
    documents: Dataset, validation_fraction: float = 0.1, test_fraction: float = 0.0
) -> DatasetDict:
    """Join all documents in order and hold out the *last* fraction (as nanoGPT does).

    For one long text (a single file). Documents are joined with a blank line; the cut
    falls at a line boundary. Validation text then comes from a place the model never saw
    in training, but its style may differ from the rest: that is the price of one text.
    """
    _check_fractions(validation_fraction, test_fraction)
    text = "\n\n".join(documents["text"])
    held_out = validation_fraction + test_fraction
    train_end = _cut_at_line(text, int(len(text) * (1 - held_out)))
    validation_end = _cut_at_line(text, int(len(text) * (1 - test_fraction)))
    pieces = {"train": text[:train_end], "validation": text[train_end:validation_end]}
    if test_fraction > 0:
        pieces["test"] = text[validation_end:]
    for name, piece in pieces.items():
        if not piece.strip():
            raise DataError(
                f"The contiguous split left the {name} split empty: the text is too short "
                f"({len(text):,} characters) for these fractions."
            )
    return DatasetDict(
        {
            name: Dataset.from_dict({"text": [piece], "source": [f"contiguous:{name}"]})
            for name, piece in pieces.items()
        }
    )


def split_documents(
    documents: Dataset,
    method: SplitMethod = "auto",
    validation_fraction: float = 0.1,
    test_fraction: float = 0.0,
    seed: int = 0,
) -> tuple[DatasetDict, str]:
    """Split by document or contiguously; ``"auto"`` picks by the number of documents.

    Returns the splits and the method actually used.
    """
    problem = seed_problem("seed", seed)  # (numpy's own message names no setting)
    if problem:
        raise DataError(f"The split's {problem}")
    if method == "auto":
        many = len(documents) >= MIN_DOCUMENTS_FOR_DOCUMENT_SPLIT
        method = "document" if many else "contiguous"
    if method == "document":
        return split_by_document(documents, validation_fraction, test_fraction, seed), method
    if method == "contiguous":
        return split_contiguous(documents, validation_fraction, test_fraction), method
    raise DataError(f"split method {method!r} is unknown: use 'auto', 'document' or 'contiguous'.")


def course_documents(clean: bool = True) -> Dataset:
    """The course's Shakespeare corpus as documents, obtained if needed.

    All 42 works, or the first :data:`QUICK_MODE_WORKS` in quick mode; cleaned unless
    ``clean=False`` (for callers that clean later, like
    :func:`helpers.packing.build_lm_dataset`).
    """
    from helpers.corpus import obtain_corpus
    from helpers.environment import quick_or_full

    documents = load_documents(obtain_corpus("shakespeare", quiet=True))
    keep = min(len(documents), quick_or_full(QUICK_MODE_WORKS, len(documents)))
    documents = documents.select(range(keep))
    return clean_documents(documents)[0] if clean else documents


def sample_passages(texts: Sequence[str], count: int, lines: int = 8, seed: int = 0) -> list[str]:
    """``count`` random excerpts of ``lines`` consecutive non-blank lines from ``texts``.

    Held-out passages serve as human reference text, and their first lines as prompts.
    """
    if count < 1 or lines < 1:
        raise DataError(f"count={count} and lines={lines} must both be at least 1.")
    nonblank = [[line for line in text.split("\n") if line.strip()] for text in texts]
    starts = [(i, j) for i, doc in enumerate(nonblank) for j in range(len(doc) - lines + 1)]
    if len(starts) < count:
        raise DataError(
            f"The texts hold {len(starts)} passages of {lines} lines, fewer than count={count}."
        )
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(starts), size=count, replace=False)
    return ["\n".join(nonblank[i][j : j + lines]) for i, j in (starts[k] for k in sorted(chosen))]
