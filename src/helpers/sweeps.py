"""Run a small hyperparameter sweep once; re-running reads the saved results.

A sweep result is stored as JSON under ``runs/sweeps/`` (git-ignored), named by what was
swept and a fingerprint of every setting that changes the answer, so a notebook that is
run again shows the same figures in seconds, and a changed setting runs afresh.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from helpers.environment import project_root

SWEEPS_ENV_VAR = "GPT2LAB_SWEEPS_DIR"


def sweeps_dir() -> Path:
    """``$GPT2LAB_SWEEPS_DIR``, else ``runs/sweeps`` in the course folder."""
    configured = os.environ.get(SWEEPS_ENV_VAR, "").strip()
    return Path(configured) if configured else project_root() / "runs" / "sweeps"


def fingerprint(settings: dict[str, Any]) -> str:
    """A short, stable hash of JSON-able settings (key order does not matter)."""
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def cached(
    name: str,
    settings: dict[str, Any],
    compute: Callable[[], Any],
    directory: str | Path | None = None,
) -> tuple[Any, bool]:
    """``compute()``'s JSON-able result for these settings, computed at most once.

    Returns ``(result, from_cache)``. The file is written atomically, so an interrupted
    sweep leaves no half-written result behind.
    """
    folder = Path(directory) if directory is not None else sweeps_dir()
    path = folder / f"{name}-{fingerprint(settings)}.json"
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))["result"], True
    result = compute()
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=folder, delete=False, suffix=".tmp") as file:
        json.dump({"settings": settings, "result": result}, file, indent=1, default=str)
    os.replace(file.name, path)
    return result, False
