"""Faults, injected: a disk that fills up or a Ctrl-C while a checkpoint or the model is
written, corrupt feedback, and the typos a learner makes in a notebook.

What must hold: what was saved before survives whole, nothing half-written is left where
a later run would trust it, the later run resumes from the last good checkpoint, and the
message is one line that says what to do. The runs call ``train`` in this process: a
1-layer GPT-2, a few steps, one tokenized text for all. How the command line words
these errors is checked here too (and, for every command, in tests/test_bad_inputs.py).
"""

from __future__ import annotations

import errno
import hashlib
import json
from pathlib import Path

import pytest
from small_training import LINES, one_torch_thread  # noqa: F401

from helpers.cli import main
from helpers.training import is_complete_checkpoint, latest_checkpoint, list_checkpoints


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    """A small text and a 1-layer GPT-2 with GPT-2's tokenizer."""
    from transformers import GPT2Config, GPT2LMHeadModel

    from helpers.modeling import gpt2_tokenizer_from_package, save_model

    folder = tmp_path_factory.mktemp("faults")
    (folder / "verse.txt").write_text("\n".join(LINES * 60) + "\n", encoding="utf-8")
    config = GPT2Config(n_layer=1, n_embd=16, n_head=2, n_positions=64)
    save_model(GPT2LMHeadModel(config), gpt2_tokenizer_from_package(64), folder / "tiny")
    return folder


@pytest.fixture(scope="module")
def data(files):
    """The text as packed blocks, and the tokenizer: made once (runs here share them)."""
    from helpers.modeling import load_tokenizer
    from helpers.packing import build_lm_dataset

    tokenizer = load_tokenizer(files / "tiny")
    dataset, _ = build_lm_dataset(files / "verse.txt", tokenizer, 32, split_method="contiguous")
    return dataset, tokenizer


def fit(files: Path, data, out: Path, steps: int, **settings):
    """``train`` the 1-layer GPT-2 for ``steps`` steps, a checkpoint every 2."""
    from helpers.training import TrainingConfig, train

    dataset, tokenizer = data
    config = TrainingConfig(
        model=str(files / "tiny"),
        output_dir=str(out),
        max_steps=steps,
        checkpoint_every=2,
        batch_size=2,
        eval_every=0,
        eval_batches=1,
        progress_bar=False,
        **settings,
    )
    return train(config, dataset, tokenizer=tokenizer)


def digest(folder: Path) -> dict[str, str]:
    """Each file directly in ``folder``, by the hash of its bytes."""
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir() if p.is_file()
    }


def half_written(folder: Path) -> list[str]:
    """Staging folders or files a failed write left behind, anywhere under ``folder``."""
    return [str(p) for p in folder.rglob("*") if p.name.startswith((".tmp-", ".staging-"))]


def failing_writer(real, where: str, error: BaseException):
    """``real(obj, path, ...)``, except for a path containing ``where``: half its bytes
    are written (as a filling disk does), then ``error`` is raised."""

    def write(obj, path, *args, **kwargs):
        if where in str(path):
            Path(path).write_bytes(b"\0" * 1000)
            raise error
        return real(obj, path, *args, **kwargs)

    return write


ENOSPC = OSError(errno.ENOSPC, "No space left on device")


FAULTS = [ENOSPC, KeyboardInterrupt()]


def raised(error: BaseException):
    """What a fault must come out as: a full disk as DiskFullError, Ctrl-C as it is."""
    from helpers.training import DiskFullError

    return DiskFullError if isinstance(error, OSError) else KeyboardInterrupt


@pytest.mark.parametrize("error", FAULTS, ids=["full-disk", "ctrl-c"])
def test_a_failed_checkpoint_save_keeps_the_one_before(files, data, tmp_path, monkeypatch, error):
    """Checkpoints at steps 2 and 4 of 6; writing the second fails. (A Ctrl-C there makes
    the run save a checkpoint where it stands: that one fails the same way.)"""
    import accelerate.checkpointing

    out = tmp_path / "run"
    checkpoints = out / "checkpoints"
    real = accelerate.checkpointing.save
    broken = failing_writer(real, "checkpoint-000004", error)
    monkeypatch.setattr(accelerate.checkpointing, "save", broken)
    with pytest.raises(raised(error)) as caught:
        fit(files, data, out, 6)
    if isinstance(error, OSError):
        message = str(caught.value)
        assert "\n" not in message, message
        for words in (
            f"The disk is full: writing the checkpoint checkpoint-000004 to {checkpoints} failed",
            "It needs about",
            "free",
            "run the same command again",
        ):
            assert words in message, (words, message)
    assert [p.name for p in list_checkpoints(checkpoints)] == ["checkpoint-000002"]
    assert is_complete_checkpoint(checkpoints / "checkpoint-000002")
    assert half_written(out) == [], half_written(out)
    assert not (checkpoints / "checkpoint-000004").exists()

    monkeypatch.setattr(accelerate.checkpointing, "save", real)  # space again
    result = fit(files, data, out, 6)
    assert result.resumed_from == checkpoints / "checkpoint-000002"
    assert result.completed_steps == 6 and result.model_saved
    assert latest_checkpoint(checkpoints).name == "checkpoint-000006"


@pytest.mark.parametrize("error", FAULTS, ids=["full-disk", "ctrl-c"])
def test_a_failed_model_save_keeps_the_model_before(files, data, tmp_path, monkeypatch, error):
    """A model is saved; a second run into the same folder fails to save its own."""
    import transformers.modeling_utils

    out = tmp_path / "model"
    fit(files, data, out, 2)
    before = digest(out)
    assert "model.safetensors" in before and "config.json" in before, sorted(before)

    real = transformers.modeling_utils.safe_save_file
    broken = failing_writer(real, "model.safetensors", error)
    monkeypatch.setattr(transformers.modeling_utils, "safe_save_file", broken)
    with pytest.raises(raised(error)) as caught:
        fit(files, data, out, 4, seed=1, resume=False)
    if isinstance(error, OSError):
        message = str(caught.value)
        for words in (f"writing the model to {out} failed", "It needs about", "free"):
            assert words in message, (words, message)
    assert digest(out) == before, "the model before must stay whole, not a byte changed"
    assert half_written(out) == [], half_written(out)
    # no checkpoint says the run is done: the next run resumes before the end and saves
    assert latest_checkpoint(out / "checkpoints").name == "checkpoint-000002"

    monkeypatch.setattr(transformers.modeling_utils, "safe_save_file", real)
    result = fit(files, data, out, 4, seed=1)
    assert result.resumed_from == out / "checkpoints" / "checkpoint-000002"
    assert result.completed_steps == 4 and result.model_saved
    assert digest(out)["model.safetensors"] != before["model.safetensors"]
    assert json.loads((out / "training_args.json").read_text())["seed"] == 1


@pytest.mark.parametrize(
    "error, status, line",
    [(ENOSPC, 2, "error: the disk is full ([Errno 28] No space left on device): free some"),
     (KeyboardInterrupt(), 130, "error: interrupted (Ctrl-C); nothing half-written was kept."),
     (PermissionError(13, "Permission denied", "/data/notes.txt"), 2,
      "error: /data/notes.txt: permission denied: fix its permissions (chmod) or choose "),
     (OSError(30, "Read-only file system", "/mnt/ro/out"), 2,
      "error: /mnt/ro/out: the disk is read-only: choose a path on a disk you can write to."),
     (FileExistsError(17, "File exists", "runs/x"), 2,
      "error: runs/x: a file is there where a folder is needed: give another path.")],
    ids=["full-disk", "ctrl-c", "permission", "read-only", "file-for-folder"],
)  # fmt: skip
def test_the_command_line_turns_file_system_errors_or_ctrl_c_into_one_line(
    monkeypatch, capsys, error, status, line
):
    def fails(*args, **kwargs):
        raise error

    monkeypatch.setattr("helpers.environment.describe_environment", fails)
    assert main(["env"]) == status
    err = capsys.readouterr().err
    assert err.startswith(line) and err.count("\n") == 1, err


def test_other_os_errors_keep_their_traceback(monkeypatch):
    """An error with no path, or one a user cannot fix by choosing another path, is a bug
    to report: the traceback says where it happened."""

    def fails(*args, **kwargs):
        raise OSError(5, "Input/output error", "/data/notes.txt")

    monkeypatch.setattr("helpers.environment.describe_environment", fails)
    with pytest.raises(OSError, match="Input/output error"):
        main(["env"])


def test_a_full_disk_while_copying_the_resume_point_keeps_the_one_before(tmp_path, monkeypatch):
    import shutil

    from helpers.training import DiskFullError, copy_resume_point

    def checkpoint(step: int) -> Path:
        folder = tmp_path / "local" / f"checkpoint-{step:06d}"
        folder.mkdir(parents=True)
        (folder / "model.safetensors").write_bytes(b"w" * 100)
        state = {"fingerprint": {}, "run": {}, "files": {"model.safetensors": 100}}
        (folder / "trainer_state.json").write_text(json.dumps(state))
        return folder

    drive = tmp_path / "drive"
    copy_resume_point(checkpoint(2), drive)

    def fill_up(source, target, *args, **kwargs):
        Path(target).mkdir()
        (Path(target) / "model.safetensors").write_bytes(b"w" * 10)
        raise ENOSPC

    monkeypatch.setattr(shutil, "copytree", fill_up)
    with pytest.raises(
        DiskFullError, match=f"writing the resume point checkpoint-000004 to {drive}"
    ):
        copy_resume_point(checkpoint(4), drive)
    assert [p.name for p in drive.iterdir()] == ["checkpoint-000002"], list(drive.iterdir())
    assert is_complete_checkpoint(drive / "checkpoint-000002")


def test_a_checkpoint_of_another_version_is_refused_with_the_ways_out(files, data, tmp_path):
    from helpers.training import CheckpointMismatchError

    out = tmp_path / "run"
    fit(files, data, out, 2)
    checkpoint = latest_checkpoint(out / "checkpoints")
    state = json.loads((checkpoint / "trainer_state.json").read_text())
    del state["run"]["ema"]  # a field this version reads; a later one might not write it
    state["run"]["momentum"] = 0.9
    (checkpoint / "trainer_state.json").write_text(json.dumps(state))
    with pytest.raises(CheckpointMismatchError) as caught:
        fit(files, data, out, 2)
    for words in ("was written by another version of the course", "run.ema", "--no-resume"):
        assert words in str(caught.value), (words, str(caught.value))


# --------------------------------------------------------------------------- feedback


def test_corrupt_feedback_lines_are_skipped_and_counted(tmp_path):
    from helpers.app import read_feedback, record_feedback

    path = tmp_path / "feedback.jsonl"
    record_feedback(path, "To be", {"strategy": "greedy"}, " or not", 1)
    with path.open("a", encoding="utf-8") as file:
        file.write("not json\n[1, 2]\n\n")
        file.write('{"prompt": "cut sho')  # a crash in the middle of a line: no newline
    record_feedback(path, "Hello", {"strategy": "top-p"}, " world", -1)  # on a line of its own
    with pytest.warns(UserWarning, match=r"skipped 3 line\(s\)") as caught:
        records = read_feedback(path)
    assert [r["rating"] for r in records] == [1, -1], records
    assert str(path) in str(caught[0].message)


# --------------------------------------------------------------------------- notebook typos


def test_a_misspelt_model_name_offline_says_which_name_was_meant(monkeypatch):
    from helpers.modeling import ModelNotAvailableError, load_model_and_tokenizer

    monkeypatch.setattr("helpers.model_source._in_hub_cache", lambda repo_id: False)
    monkeypatch.setattr("helpers.model_source.is_online", lambda: False)
    for typo, meant in [
        ("gtp2", "gpt2"),
        ("gpt2lab-tny", "gpt2lab-tiny"),
        ("distilgpt", "distilgpt2"),
    ]:
        with pytest.raises(ModelNotAvailableError, match=f"Did you mean '{meant}'"):
            load_model_and_tokenizer(typo)


def test_a_model_path_that_is_not_there_names_the_folder_meant(tmp_path, monkeypatch):
    from helpers.modeling import ModelNotAvailableError, load_model

    (tmp_path / "models" / "finetuned").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)  # as in a notebook: a path relative to the course folder
    with pytest.raises(ModelNotAvailableError, match="Did you mean 'models/finetuned'"):
        load_model("models/finetunde")


def test_data_typos_give_the_course_error(files, gpt2_tokenizer, monkeypatch):
    from helpers.data import DataError, load_documents
    from helpers.packing import build_lm_dataset

    table = files / "plays.csv"
    table.write_text("title,body\nHamlet,To be or not to be\n", encoding="utf-8")
    with pytest.raises(DataError, match="has no column named 'txt'; it has: title, body"):
        load_documents(table, text_column="txt")
    with pytest.raises(DataError, match="Did you mean .*verse.txt"):
        build_lm_dataset(files / "vers.txt", gpt2_tokenizer, 32)
    monkeypatch.chdir(files)
    with pytest.raises(DataError, match="There is no file or folder tiny/texts"):
        load_documents("tiny/texts")  # tiny/ is here: a path, not a Hub dataset's name


def test_a_corrupt_history_names_the_file(tmp_path):
    from helpers.training import TrainingError, TrainingHistory

    path = tmp_path / "history.json"
    path.write_text('{"train": [{"step": 1, "lo')
    with pytest.raises(TrainingError, match=f"{path} is not a training history"):
        TrainingHistory.load(path)
