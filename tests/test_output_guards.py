"""Where a training run may write: never among its training documents, never over a
saved model it was not asked to replace, and never over someone else's README.md.

An output folder that is the data folder (or inside it) would get the model card
(``README.md``, a text file the data loader reads) and the other files, and the next run
would train on them. An output folder that holds a saved model and no checkpoint to
resume would see that model replaced by a fresh run; ``--no-resume`` says to replace it.
A folder whose README.md is no model card (a project's own) would see it overwritten by
the model card.
The runs go through ``python -m helpers train`` in this process, on the offline model.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from small_training import LINES, one_torch_thread, train_command  # noqa: F401

from helpers import training
from helpers.cli import main
from helpers.training import TrainingConfig, TrainingError
from helpers.training.setup import check_output_outside_data, check_saved_model


@pytest.fixture(autouse=True)
def _default_checkpoint_folders(monkeypatch):
    """Checkpoints in the output folder's checkpoints/, no resume copies elsewhere."""
    monkeypatch.delenv(training.CHECKPOINT_DIR_ENV_VAR, raising=False)
    monkeypatch.delenv(training.RESUME_DIR_ENV_VAR, raising=False)


@pytest.fixture
def corpus(tmp_path) -> Path:
    """A folder of text documents, as ``--data`` takes it."""
    folder = tmp_path / "corpus"
    folder.mkdir()
    for index in range(2):
        text = "\n".join(LINES[index:] + LINES[:index]) * 40
        (folder / f"part{index}.txt").write_text(text + "\n", encoding="utf-8")
    return folder


def args(data, out, *extra):
    return train_command(data, out, *extra, steps=2)


def digest(folder: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir() if p.is_file()
    }


def last_error_line(err: str) -> str:
    return err.strip().splitlines()[-1]  # (after the offline model's banner)


# ----------------------------------------------------------------- the data folder


def test_an_output_folder_in_the_data_is_refused(corpus, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for out, words in [
        (corpus, "is the data folder"),
        (corpus / "model", "is inside the data folder"),
        (corpus / "a" / "b", "is inside the data folder"),
        (Path("corpus/../corpus"), "is the data folder"),  # the same folder, spelt otherwise
    ]:
        with pytest.raises(TrainingError) as caught:
            check_output_outside_data(out, corpus)
        message = str(caught.value)
        assert "\n" not in message and words in message, message
        assert f"Choose an --output-dir outside {corpus.resolve()}" in message, message
    (tmp_path / "link").symlink_to(corpus)
    with pytest.raises(TrainingError, match="is the data folder"):
        check_output_outside_data(tmp_path / "link", corpus)
    text = corpus / "part0.txt"
    with pytest.raises(TrainingError, match="is the data file"):
        check_output_outside_data(text, text)


def test_an_output_folder_beside_the_data_is_fine(corpus, tmp_path):
    check_output_outside_data(tmp_path / "model", corpus)  # a sibling
    check_output_outside_data(tmp_path, corpus)  # above it: its files are not in the data
    check_output_outside_data(tmp_path / "corpus-model", corpus)  # a name that starts alike
    check_output_outside_data(corpus, corpus / "part0.txt")  # beside a data file
    check_output_outside_data(tmp_path / "model", "someone/dataset")  # a Hub name: not on disk


def test_the_command_line_refuses_to_write_into_its_data(corpus, capsys):
    before = sorted(p.name for p in corpus.rglob("*"))
    assert main(args(corpus, corpus)) == 2
    err = capsys.readouterr().err
    line = last_error_line(err)
    assert line.startswith("error: --output-dir") and "is the data folder" in line, err
    assert "Traceback" not in err
    assert sorted(p.name for p in corpus.rglob("*")) == before, "nothing written in the data"


# ----------------------------------------------------------------- a saved model


def test_a_saved_model_without_checkpoints_is_not_replaced(corpus, tmp_path, capsys):
    """The probe's case: a model saved in the output folder (copied there, or left by a run
    whose checkpoints are gone), then a short run into the same folder."""
    out = tmp_path / "model"
    assert main(args(corpus, out, "--seed", "1")) == 0
    shutil.rmtree(out / "checkpoints")  # as a copied fine-tuned model has none
    before = digest(out)
    capsys.readouterr()

    assert main(args(corpus, out, "--seed", "2", "--max-steps", "3")) == 2
    err = capsys.readouterr().err
    line = last_error_line(err)
    assert line.startswith(f"error: {out} already holds a saved model"), err
    for words in ("config.json", "model.safetensors", "another --output-dir", "--no-resume"):
        assert words in line, (words, line)
    assert "Traceback" not in err
    assert digest(out) == before, "the saved model must stay as it was"
    assert not (out / "checkpoints").exists(), "refused before training"

    # the way out: --no-resume starts over and replaces it
    assert main(args(corpus, out, "--seed", "2", "--max-steps", "3", "--no-resume")) == 0
    assert json.loads((out / "training_args.json").read_text())["seed"] == 2
    assert digest(out)["model.safetensors"] != before["model.safetensors"]


def test_the_same_command_again_still_resumes_or_says_it_is_done(corpus, tmp_path, capsys):
    out = tmp_path / "model"
    assert main(args(corpus, out, "--max-steps", "4", "--checkpoint-every", "2")) == 0
    assert main(args(corpus, out, "--max-steps", "4", "--checkpoint-every", "2")) == 0
    assert "Nothing to do" in capsys.readouterr().out
    # an unfinished run (its last checkpoint gone): resumed from the one before
    shutil.rmtree(out / "checkpoints" / "checkpoint-000004")
    assert main(args(corpus, out, "--max-steps", "4", "--checkpoint-every", "2")) == 0
    assert "Resuming from" in capsys.readouterr().out


def test_the_rule_looks_at_both_checkpoint_folders(tmp_path):
    out = tmp_path / "model"
    out.mkdir()
    check_saved_model(TrainingConfig(output_dir=str(out)))  # empty: nothing to lose
    (out / "README.md").write_text("a card alone is no model\n", encoding="utf-8")
    check_saved_model(TrainingConfig(output_dir=str(out)))
    (out / "model.safetensors").write_bytes(b"weights")  # weights without config.json:
    check_saved_model(TrainingConfig(output_dir=str(out)))  # a save cut short, no model
    (out / "config.json").write_text("{}", encoding="utf-8")
    with pytest.raises(TrainingError, match=r"a saved model \(config.json, model.safetensors\)"):
        check_saved_model(TrainingConfig(output_dir=str(out)))
    check_saved_model(TrainingConfig(output_dir=str(out), resume=False))  # asked to replace

    # a complete checkpoint in the resume folder (a lost VM's Drive copy): the run resumes
    drive = tmp_path / "drive"
    checkpoint = drive / "checkpoint-000002"
    checkpoint.mkdir(parents=True)
    (checkpoint / "model.safetensors").write_bytes(b"x" * 5)
    state = {"files": {"model.safetensors": 5}, "fingerprint": {}, "run": {}}
    (checkpoint / training.checkpoints.STATE_FILE).write_text(json.dumps(state))
    check_saved_model(TrainingConfig(output_dir=str(out), resume_dir=str(drive)))
    with pytest.raises(TrainingError):  # a half-written one does not count
        (checkpoint / "model.safetensors").write_bytes(b"x")
        check_saved_model(TrainingConfig(output_dir=str(out), resume_dir=str(drive)))


def test_a_fresh_run_never_leaves_its_card_on_another_models_weights(
    corpus, tmp_path, capsys, monkeypatch
):
    """--no-resume over a saved model, and the run never beats its starting loss: the
    folder must hold this run's weights under this run's card, not the old weights."""
    out = tmp_path / "model"
    assert main(args(corpus, out, "--seed", "1")) == 0
    before = digest(out)
    real = training.loop.TrainingRun.improved

    def never_better(self, result):  # the starting loss is the best this run sees
        return real(self, result) if self.state.best_val_loss is None else False

    monkeypatch.setattr(training.loop.TrainingRun, "improved", never_better)
    assert main(args(corpus, out, "--seed", "2", "--no-resume")) == 0
    assert json.loads((out / "training_args.json").read_text())["seed"] == 2
    assert digest(out)["model.safetensors"] != before["model.safetensors"]


# ----------------------------------------------------------------- someone else's files


def test_a_readme_that_is_no_model_card_is_not_overwritten(corpus, tmp_path, capsys):
    """A project folder with its own README.md, given as --output-dir: the model card
    would overwrite it. Files of other names are no obstacle: the run writes beside them."""
    out = tmp_path / "project"
    out.mkdir()
    (out / "README.md").write_text("# My project\n\n---\nnotes\n", encoding="utf-8")
    (out / "notes.txt").write_text("mine\n", encoding="utf-8")
    before = digest(out)
    assert main(args(corpus, out)) == 2
    line = last_error_line(capsys.readouterr().err)
    assert line == (
        f"error: --output-dir {out} holds a README.md that is no model card (a project's own, "
        f"say): training writes the model card there and would overwrite it. Choose a new or "
        f"empty --output-dir, or move that README.md out of it."
    )
    assert digest(out) == before and sorted(p.name for p in out.iterdir()) == sorted(before)
    (out / "README.md").write_text("---\nlicense: mit\n---\n# A model card\n", "utf-8")
    assert main(args(corpus, out)) == 0  # a card (the Hub's metadata block first): replaced
    assert (out / "notes.txt").read_text(encoding="utf-8") == "mine\n"
    assert (out / "config.json").is_file() and "gpt2-lab" in (out / "README.md").read_text()


def test_a_run_cut_short_after_saving_its_card_still_resumes(corpus, tmp_path, capsys):
    """The run's own card and history, with checkpoints to resume from and no config.json
    (the save was cut short between renames): it resumes."""
    out = tmp_path / "model"
    command = args(corpus, out, "--checkpoint-every", "1")
    assert main(command) == 0
    (out / "config.json").unlink()  # config.json is renamed into place last
    assert (out / "README.md").is_file() and (out / "history.json").is_file()
    assert main(command) == 0
    assert "already holds" not in capsys.readouterr().err
