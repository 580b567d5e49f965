"""Install the course on a fresh Colab runtime, visibly, and say when to restart.

The first cell of every notebook fetches the course (``git``) and then calls
:func:`install_course`. This module runs *before* the course's requirements are installed,
so it uses the standard library only. It

1. skips the work when this checkout is already installed in this runtime (re-running the
   cell costs nothing);
2. runs ``pip install -e <course>``, printing one short line per package pip fetches or
   installs (so the minute it takes is visibly moving), and keeps pip's full output to show
   when it fails;
3. compares the versions of the packages the kernel had *already imported* before and after:
   a package replaced under a running kernel leaves old and new modules mixed, so the
   intern is told to restart the session and run the cell again (or, with
   ``GPT2LAB_AUTO_RESTART=1``, the kernel is restarted for them).

``requirements.txt`` holds floors, not pins, so Colab's own packages (torch with CUDA,
matplotlib, ipywidgets) are kept whenever they are new enough.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from importlib import metadata
from pathlib import Path

STAMP_FILE = ".gpt2lab-installed"
PROGRESS_PREFIXES = ("Collecting ", "Downloading ", "Installing collected packages", "Would ")
AUTO_RESTART_ENV_VAR = "GPT2LAB_AUTO_RESTART"


class CourseInstallError(RuntimeError):
    """pip could not install the course; the message holds pip's own words."""


class RestartRequired(RuntimeError):
    """pip replaced a package the running kernel had already imported."""


def imported_distributions(modules: Iterable[str] | None = None) -> dict[str, str]:
    """Distribution name -> version for every installed package with an imported module."""
    tops = {name.split(".")[0] for name in (sys.modules if modules is None else modules)}
    owners = metadata.packages_distributions()
    found: dict[str, str] = {}
    for top in tops:
        for distribution in owners.get(top, []):
            try:
                found[distribution] = metadata.version(distribution)
            except metadata.PackageNotFoundError:
                continue
    return found


def replaced_packages(before: dict[str, str]) -> dict[str, tuple[str, str]]:
    """Of the distributions in ``before`` (name -> version), those whose installed version
    is now different (or gone): name -> (old, new)."""
    changed: dict[str, tuple[str, str]] = {}
    for name, old in before.items():
        try:
            new = metadata.version(name)
        except metadata.PackageNotFoundError:
            new = "removed"
        if new != old:
            changed[name] = (old, new)
    return changed


def _checkout_id(course_dir: Path) -> str:
    head = subprocess.run(
        ["git", "-C", str(course_dir), "rev-parse", "HEAD"], capture_output=True, text=True
    )
    return head.stdout.strip() if head.returncode == 0 else "unknown"


def run_pip(args: list[str], show: Callable[[str], None] = print) -> None:
    """Run ``pip <args>``; show a short progress line per package; raise with pip's log."""
    command = [sys.executable, "-m", "pip", *args, "--progress-bar", "off"]
    started = time.perf_counter()
    lines: list[str] = []
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    )
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line.rstrip())
        if line.startswith(PROGRESS_PREFIXES):
            show(f"  [{time.perf_counter() - started:5.0f} s] {line.strip()[:110]}")
    if process.wait() != 0:
        tail = "\n".join(lines[-40:])
        raise CourseInstallError(
            f"`pip {' '.join(args)}` failed (exit {process.returncode}). Its last lines:\n"
            f"{tail}\n\nIf a download failed, check the runtime's internet and run the cell "
            f"again; if a version conflicts, restart the session (Runtime → Restart session) "
            f"and run it again."
        )


def install_course(course_dir: str | os.PathLike, show: Callable[[str], None] = print) -> bool:
    """Install the course in ``course_dir`` into this runtime. True when pip ran.

    Raises :class:`RestartRequired` when a package the kernel had imported was replaced.
    """
    course_dir = Path(course_dir)
    stamp = course_dir / STAMP_FILE
    checkout = _checkout_id(course_dir)
    if stamp.is_file() and stamp.read_text(encoding="utf-8").strip() == checkout:
        show(f"The course ({checkout[:10]}) is already installed in this runtime.")
        return False
    show("Installing the course and what it needs (about a minute on a fresh runtime) ...")
    before = imported_distributions()
    started = time.perf_counter()
    run_pip(["install", "-e", str(course_dir)], show)
    stamp.write_text(checkout + "\n", encoding="utf-8")
    show(f"Installed in {time.perf_counter() - started:.0f} s.")
    replaced = replaced_packages(before)
    if replaced:
        which = ", ".join(f"{name} {old} → {new}" for name, (old, new) in sorted(replaced.items()))
        message = (
            f"pip replaced packages this session had already imported ({which}). Old and new "
            f"code would now mix. Restart the session (Runtime → Restart session) and run "
            f"this cell again: it will be quick."
        )
        if os.environ.get(AUTO_RESTART_ENV_VAR, "").strip() == "1":
            show(message.replace("Restart the session", "Restarting the session for you"))
            os.kill(os.getpid(), signal.SIGKILL)  # Colab starts a fresh kernel
        raise RestartRequired(message)
    return True
