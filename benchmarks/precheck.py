"""Checks a benchmark makes before it imports torch and transformers (seconds on a slow
CPU): a text file that is missing or not UTF-8, a folder without .txt files, a nanoGPT
folder that is not there. Each gives one line on stderr and exit status 2, as the full
checks in the scripts do."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DEFAULT_TEXT = (
    Path(__file__).resolve().parents[1].parent / "shared" / "data" / "tinyshakespeare.txt"
)
NANOGPT = Path(__file__).resolve().parents[1].parent / "shared" / "anchors" / "nanogpt"


class UnusableText(ValueError):
    """A --text that cannot be read: the message says what is wrong and what to pass."""


def text_files(paths: list[Path]) -> list[Path]:
    """The files named, and the .txt files under the folders named; several are put in
    order of file name (a novel's chapters split across folders stay in order)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(path.rglob("*.txt"))
            if not found:
                raise UnusableText(
                    f"no .txt files under the folder {path}: pass text files with --text"
                )
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise UnusableText(f"no text file at {path}: pass one with --text FILE")
    return sorted(files, key=lambda p: (p.name, str(p))) if len(files) > 1 else files


def read_texts(paths: list[Path]) -> str:
    """The texts of ``text_files(paths)``, joined by newlines."""
    parts = []
    for path in text_files(paths):
        try:
            parts.append(path.read_text(encoding="utf-8"))
        except UnicodeDecodeError as error:
            message = f"{path} is not UTF-8 text ({error.reason}): convert it first."
            raise UnusableText(message) from None
    return "\n".join(parts)


def precheck(argv: list[str]) -> None:
    """Exit with a usage error if ``argv``'s --text (or --nanogpt-dir) cannot be used."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--text", type=Path, nargs="+", default=[DEFAULT_TEXT])
    parser.add_argument("--nanogpt", action="store_true")
    parser.add_argument("--nanogpt-dir", type=Path, default=None)
    known, _ = parser.parse_known_args(argv)
    problem = None
    if known.nanogpt and not ((known.nanogpt_dir or NANOGPT) / "train.py").is_file():
        problem = (
            f"no nanoGPT at {known.nanogpt_dir or NANOGPT}: pass its folder with --nanogpt-dir"
        )
    else:
        try:
            read_texts(known.text)
        except UnusableText as error:
            problem = str(error)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        raise SystemExit(2)
