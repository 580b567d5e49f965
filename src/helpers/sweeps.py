"""Run a small hyperparameter sweep once; re-running reads the saved results.

A sweep result is stored as JSON under ``runs/sweeps/`` (git-ignored), named by what was
swept and a fingerprint of every setting that changes the answer and of the code that
computes it (the source of the ``helpers`` package): a notebook that is run again shows
the same figures in seconds, and a changed setting, or a changed training loop, runs
afresh. Results that the current code can no longer produce are deleted when it saves
its own, so the folder never serves a stale answer.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from helpers.environment import atomic_write_text, project_root

SWEEPS_ENV_VAR = "GPT2LAB_SWEEPS_DIR"
HELPERS_DIR = Path(__file__).resolve().parent
"""The ``helpers`` package, whose source :func:`code_version` hashes."""


def sweeps_dir() -> Path:
    """``$GPT2LAB_SWEEPS_DIR``, else ``runs/sweeps`` in the course folder."""
    configured = os.environ.get(SWEEPS_ENV_VAR, "").strip()
    return Path(configured) if configured else project_root() / "runs" / "sweeps"


def fingerprint(settings: dict[str, Any]) -> str:
    """A short, stable hash of JSON-able settings (key order does not matter)."""
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def code_files(modules: Sequence[str] | None = None) -> list[Path]:
    """The source files of ``modules`` of the helpers package (``"training"``: the
    package's every file; ``"data"``: ``data.py``); None: every file of the package."""
    if modules is None:
        return sorted(HELPERS_DIR.rglob("*.py"))
    found: list[Path] = []
    for name in modules:
        path = HELPERS_DIR / Path(*name.split("."))
        found += sorted(path.rglob("*.py")) if path.is_dir() else [path.with_suffix(".py")]
    return found


def code_version(modules: Sequence[str] | None = None) -> str:
    """A short hash of the source of ``modules`` (see :func:`code_files`): it changes
    whenever that code does."""
    digest = hashlib.sha256()
    for path in code_files(modules):
        digest.update(path.relative_to(HELPERS_DIR).as_posix().encode("utf-8") + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def cached(
    name: str,
    settings: dict[str, Any],
    compute: Callable[[], Any],
    directory: str | Path | None = None,
    code: Sequence[str] | None = None,
) -> tuple[Any, bool]:
    """``compute()``'s JSON-able result for these settings and this code, computed at most
    once.

    ``code`` names the helper modules the result depends on (default: the whole package);
    a change to their source is a change of key. Returns ``(result, from_cache)``. The
    file is written atomically, so an interrupted sweep leaves no half-written result
    behind; saving it deletes the results of ``name`` made by other code.
    """
    folder = Path(directory) if directory is not None else sweeps_dir()
    version = code_version(code)
    path = folder / f"{name}-{fingerprint({'settings': settings, 'code': version})}.json"
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))["result"], True
    result = compute()
    saved = {"settings": settings, "code": version, "result": result}
    atomic_write_text(path, json.dumps(saved, indent=1, default=str))
    for other in folder.glob(f"{name}-*.json"):
        if other != path and _code_of(other) != version:
            other.unlink(missing_ok=True)
    return result, False


def _code_of(path: Path) -> str | None:
    """The code version a saved result was computed with (None: unknown, or unreadable)."""
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("code")
    except (OSError, ValueError, AttributeError):
        return None
