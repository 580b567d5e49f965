"""Checks a benchmark makes before it imports torch and transformers (seconds on a slow
CPU): a text file that is missing or not UTF-8, a nanoGPT folder that is not there. Each
gives one line on stderr and exit status 2, as the full checks in the scripts do."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DEFAULT_TEXT = (
    Path(__file__).resolve().parents[1].parent / "shared" / "data" / "tinyshakespeare.txt"
)
NANOGPT = Path(__file__).resolve().parents[1].parent / "shared" / "anchors" / "nanogpt"


def precheck(argv: list[str]) -> None:
    """Exit with a usage error if ``argv``'s --text (or --nanogpt-dir) cannot be used."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--text", type=Path, default=DEFAULT_TEXT)
    parser.add_argument("--nanogpt", action="store_true")
    parser.add_argument("--nanogpt-dir", type=Path, default=None)
    known, _ = parser.parse_known_args(argv)
    problem = None
    if known.nanogpt and not ((known.nanogpt_dir or NANOGPT) / "train.py").is_file():
        problem = (
            f"no nanoGPT at {known.nanogpt_dir or NANOGPT}: pass its folder with --nanogpt-dir"
        )
    elif not known.text.is_file():
        problem = f"no text file at {known.text}: pass one with --text FILE"
    else:
        try:
            known.text.read_text(encoding="utf-8")
        except UnicodeDecodeError as error:
            problem = f"{known.text} is not UTF-8 text ({error.reason}): convert it first."
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        raise SystemExit(2)
