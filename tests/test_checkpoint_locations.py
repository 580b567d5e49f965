"""Where checkpoints go: a local checkpoint folder, one rolling resume point elsewhere.

On Colab the model goes to Google Drive; the checkpoints (model + optimizer state) go to
the VM's local disk, and at most one copy of the latest, the resume point, goes to Drive so
that a new VM can resume. These tests use the tiny model and data of ``test_training``.
"""

import json
import re
import shutil

import pytest
import torch
from test_training import config, losses, make_data, make_model

from helpers import training
from helpers.cli import build_parser
from helpers.training import (
    CHECKPOINT_DIR_ENV_VAR,
    RESUME_DIR_ENV_VAR,
    CheckpointMismatchError,
    TrainingConfig,
    TrainingRun,
    checkpoints,
    human_size,
    is_complete_checkpoint,
    list_checkpoints,
    train,
)


@pytest.fixture(autouse=True)
def _clean(monkeypatch):
    """No checkpoint or resume folder from the caller's shell; one thread (tiny models)."""
    monkeypatch.delenv(CHECKPOINT_DIR_ENV_VAR, raising=False)
    monkeypatch.delenv(RESUME_DIR_ENV_VAR, raising=False)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tokenizer(gpt2_tokenizer):
    return gpt2_tokenizer  # the session's shared one (conftest.py)


@pytest.fixture
def places(tmp_path):
    """The model folder (Drive), the checkpoint folder (the VM's disk), the resume folder."""
    return (
        tmp_path / "drive" / "model",
        tmp_path / "vm" / "checkpoints",
        tmp_path / "drive" / "resume",
    )


def fit(out, tokenizer, on_log=None, model=None, **overrides):
    return train(
        config(out, **overrides),
        make_data(),
        model=model if model is not None else make_model(),
        tokenizer=tokenizer,
        on_log=on_log,
    )


def ctrl_c_at(step):
    def on_log(history):
        if history.train and history.train[-1]["step"] == step:
            raise KeyboardInterrupt

    return on_log


def entries(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def spy_on_copies(monkeypatch) -> list[int]:
    """The steps of the checkpoints copied to the resume folder, in order."""
    copied = []
    real = training.copy_resume_point

    def spy(checkpoint, resume_dir):
        copied.append(training.checkpoint_step(checkpoint))
        return real(checkpoint, resume_dir)

    monkeypatch.setattr(checkpoints, "copy_resume_point", spy)
    return copied


def test_checkpoints_go_to_the_checkpoint_folder_not_the_model_folder(
    places, tokenizer, monkeypatch
):
    out, local, _ = places
    assert TrainingConfig(output_dir=str(out)).checkpoint_dir == out / "checkpoints"
    monkeypatch.setenv(CHECKPOINT_DIR_ENV_VAR, str(local))
    mine = TrainingConfig(output_dir=str(out)).checkpoint_dir  # a subfolder per output folder
    assert mine.parent == local and mine.name.startswith("model-")
    chosen = TrainingConfig(output_dir=str(out), checkpoint_directory=str(local / "x"))
    assert chosen.checkpoint_dir == local / "x"  # the setting beats the variable, as it is

    result = fit(out, tokenizer, max_steps=8)
    assert [p.name for p in list_checkpoints(mine)] == ["checkpoint-000004", "checkpoint-000008"]
    assert not (out / "checkpoints").exists() and not list(out.rglob("checkpoint-*"))
    assert (out / "model.safetensors").is_file() and result.checkpoint_dir == mine
    args = json.loads((out / "training_args.json").read_text())
    assert args["checkpoint_directory"] is None  # the setting as given, the folder resolved
    assert args["resolved"]["checkpoint_dir"] == str(mine)

    again = fit(out, tokenizer, max_steps=8)  # finds its checkpoints there: nothing to do
    assert again.resumed_from == mine / "checkpoint-000008" and again.history == result.history


def test_ctrl_c_leaves_one_resume_point_and_a_new_machine_resumes_from_it(
    places, tokenizer, tmp_path
):
    out, local, resume = places
    settings = dict(
        grad_accum=2,
        precision="fp32",
        checkpoint_every=2,
        checkpoint_directory=str(local),
        resume_dir=str(resume),
        resume_copy_minutes=0,
    )
    plain = {**settings, "checkpoint_directory": None, "resume_dir": None}
    straight = fit(tmp_path / "straight", tokenizer, **plain)

    first = fit(out, tokenizer, on_log=ctrl_c_at(5), **settings)
    assert first.interrupted and first.completed_steps == 5
    assert entries(resume) == ["checkpoint-000005"]  # one resume point, no staging left
    assert is_complete_checkpoint(resume / "checkpoint-000005")

    shutil.rmtree(local.parent)  # a new Colab VM: its local disk is empty
    resumed = fit(out, tokenizer, model=make_model(seed=99), **settings)
    assert resumed.resumed_from == resume / "checkpoint-000005"
    assert resumed.completed_steps == 12 and not resumed.interrupted
    assert [s for s, _, _ in losses(resumed.history)] == list(range(1, 13))
    for (s1, loss1, lr1), (s2, loss2, lr2) in zip(
        losses(straight.history), losses(resumed.history), strict=True
    ):
        assert s1 == s2 and lr1 == pytest.approx(lr2, abs=1e-12)
        assert loss1 == pytest.approx(loss2, abs=1e-6), f"step {s1} differs"
    for p1, p2 in zip(straight.model.parameters(), resumed.model.parameters(), strict=True):
        assert torch.allclose(p1, p2, atol=1e-6)
    assert not list(resume.glob("*checkpoint-*"))  # the saved model replaced it


def test_a_finished_run_deletes_its_resume_point_and_keeps_the_model(
    places, tokenizer, monkeypatch
):
    out, local, resume = places
    monkeypatch.setenv(CHECKPOINT_DIR_ENV_VAR, str(local))
    monkeypatch.setenv(RESUME_DIR_ENV_VAR, str(resume))
    copied = spy_on_copies(monkeypatch)
    result = fit(out, tokenizer, max_steps=12, checkpoint_every=4, resume_copy_minutes=0)
    assert copied == [4, 8]  # every periodic checkpoint; the final model replaces the last
    assert result.model_saved and result.resume_dir.parent == resume
    assert not list(resume.rglob("*checkpoint-*")) and result.resume_bytes == 0
    for name in ["config.json", "model.safetensors", "tokenizer.json", "history.json"]:
        assert (out / name).is_file(), name
    kept = list_checkpoints(result.checkpoint_dir)
    assert [p.name for p in kept] == ["checkpoint-000008", "checkpoint-000012"]


def test_runs_into_other_folders_leave_a_resume_point_alone(places, tokenizer, monkeypatch):
    """As on Colab, where the variables are set for every notebook: a sweep with
    --no-resume into a scratch folder must not delete the main run's resume point."""
    out, local, resume = places
    monkeypatch.setenv(CHECKPOINT_DIR_ENV_VAR, str(local))
    monkeypatch.setenv(RESUME_DIR_ENV_VAR, str(resume))
    settings = dict(checkpoint_every=2, resume_copy_minutes=0)
    stopped = fit(out, tokenizer, on_log=ctrl_c_at(5), **settings)
    point = stopped.resume_dir / "checkpoint-000005"
    assert is_complete_checkpoint(point)

    other = fit(out.parent / "sweep", tokenizer, resume=False, max_steps=4, **settings)
    assert other.resume_dir.parent == resume and other.resume_dir != stopped.resume_dir
    assert other.checkpoint_dir.parent == local and other.checkpoint_dir != stopped.checkpoint_dir
    assert is_complete_checkpoint(point) and list_checkpoints(stopped.checkpoint_dir)

    shutil.rmtree(local)  # a new VM
    resumed = fit(out, tokenizer, **settings)
    assert resumed.resumed_from == point and resumed.completed_steps == 12


def test_resume_copies_are_spaced_by_resume_copy_minutes(places, tokenizer, monkeypatch):
    out, local, resume = places
    now = {"seconds": 0.0}
    monkeypatch.setattr(checkpoints, "_clock", lambda: now["seconds"])

    def one_minute_per_step(history):
        if history.train:
            now["seconds"] = 60.0 * history.train[-1]["step"]

    copied = spy_on_copies(monkeypatch)
    fit(
        out,
        tokenizer,
        on_log=one_minute_per_step,
        max_steps=12,
        checkpoint_every=2,
        checkpoint_directory=str(local),
        resume_dir=str(resume),
        resume_copy_minutes=2.5,
    )
    # checkpoints at minutes 2, 4, 6, 8, 10; a copy once 2.5 minutes have passed since the
    # start or the last copy
    assert copied == [4, 8]


def test_with_a_long_interval_only_ctrl_c_copies(places, tokenizer, monkeypatch):
    out, local, resume = places
    copied = spy_on_copies(monkeypatch)
    result = fit(
        out,
        tokenizer,
        on_log=ctrl_c_at(7),
        checkpoint_every=2,
        checkpoint_directory=str(local),
        resume_dir=str(resume),
        resume_copy_minutes=60,
    )
    assert result.interrupted and copied == [7]
    assert entries(resume) == ["checkpoint-000007"]
    assert [p.name for p in list_checkpoints(local)] == ["checkpoint-000006", "checkpoint-000007"]


class Killed(BaseException):
    """The process dies (not an error that training handles)."""


def test_a_killed_copy_is_ignored_and_the_previous_resume_point_used(
    places, tokenizer, monkeypatch
):
    out, local, resume = places
    settings = dict(
        checkpoint_every=2,
        checkpoint_directory=str(local),
        resume_dir=str(resume),
        resume_copy_minutes=0,
    )
    real_copytree = shutil.copytree

    def dies_while_copying_step_4(src, dst, *args, **kwargs):
        copied = real_copytree(src, dst, *args, **kwargs)
        if "000004" in str(dst):
            (copied / "model.safetensors").write_bytes(b"half")
            raise Killed
        return copied

    monkeypatch.setattr(shutil, "copytree", dies_while_copying_step_4)
    with pytest.raises(Killed):
        fit(out, tokenizer, **settings)
    monkeypatch.setattr(shutil, "copytree", real_copytree)
    assert entries(resume) == [".tmp-checkpoint-000004", "checkpoint-000002"]

    shutil.rmtree(local)  # a new VM
    resumed = fit(out, tokenizer, **settings)
    assert resumed.resumed_from == resume / "checkpoint-000002"
    assert resumed.completed_steps == 12
    assert entries(resume) == []  # the dead copy was cleared up with the rest


def test_the_later_checkpoint_wins_and_must_match_the_settings(places, tokenizer):
    out, local, resume = places
    settings = dict(
        checkpoint_every=2,
        checkpoint_directory=str(local),
        resume_dir=str(resume),
        resume_copy_minutes=60,
    )
    fit(out, tokenizer, on_log=ctrl_c_at(5), **settings)  # local 4 and 5, resume point 5

    def resumes_from(**overrides):
        run = TrainingRun(
            config(out, **{**settings, **overrides}), make_data(), make_model(), tokenizer,
            None, None, "", None,
        )  # fmt: skip
        run.resume()
        return run.resumed_from

    assert resumes_from() == local / "checkpoint-000005"  # the same step: the local one
    shutil.rmtree(local / "checkpoint-000005")
    assert resumes_from() == resume / "checkpoint-000005"  # the later step
    mismatch = f"checkpoints in {re.escape(str(resume))} .*learning_rate"
    with pytest.raises(CheckpointMismatchError, match=mismatch):
        resumes_from(learning_rate=2e-2)

    def stop(history):  # right after the start: before any checkpoint is saved
        raise RuntimeError("stop")

    # --no-resume deletes the checkpoints in both places
    with pytest.raises(RuntimeError, match="stop"):
        fit(out, tokenizer, on_log=stop, resume=False, **settings)
    assert list_checkpoints(local) == [] and entries(resume) == []


def test_the_resume_folder_must_not_be_the_checkpoint_folder(places, tokenizer):
    out, local, _ = places
    with pytest.raises(ValueError, match="is the checkpoint folder"):
        fit(out, tokenizer, checkpoint_directory=str(local), resume_dir=str(local))


def folder_bytes(paths):
    return sum(f.stat().st_size for p in paths for f in p.rglob("*") if f.is_file())


def test_the_summary_gives_the_three_sizes_and_where_they_are(places, tokenizer):
    out, local, resume = places
    settings = dict(checkpoint_directory=str(local), resume_dir=str(resume), resume_copy_minutes=0)
    stopped = fit(out, tokenizer, on_log=ctrl_c_at(5), **settings)
    model_files = [p for p in out.iterdir() if p.is_file()]
    assert stopped.model_bytes == sum(p.stat().st_size for p in model_files) > 0  # step 4's
    assert stopped.checkpoint_bytes == folder_bytes(list_checkpoints(local)) > 0
    assert stopped.resume_bytes == folder_bytes([resume / "checkpoint-000005"]) > 0
    summary = stopped.summary()
    assert f"saved model {human_size(stopped.model_bytes)} in {out}" in summary
    assert f"checkpoints {human_size(stopped.checkpoint_bytes)} in {local}" in summary
    assert f"resume point {human_size(stopped.resume_bytes)} in {resume}" in summary
    assert "s training, " in summary and "s in all" in summary

    finished = fit(out, tokenizer, **settings)
    summary = finished.summary()
    assert f"no resume point in {resume}" in summary and finished.resume_bytes == 0
    # training time adds up the sessions, the call's time is this session's only
    assert "s of training over all sessions, " in summary and "s in this call" in summary
    unset = fit(out.parent / "other", tokenizer, max_steps=2)
    assert "no resume point (resume_dir not set)" in unset.summary()


def test_sizes_read_as_disks_count_them():
    assert human_size(497_759_232) == "498 MB"
    assert human_size(1_493_277_696) == "1.5 GB"
    assert human_size(3_000_000_000) == "3.0 GB"
    assert human_size(52_000) == "52 kB" and human_size(512) == "512 B"


def test_the_new_settings_have_flags_and_checks(monkeypatch):
    args = build_parser().parse_args(
        ["train", "--data", "x.txt", "--checkpoint-dir", "/vm/ckpt", "--resume-dir", "/drive/r",
         "--resume-copy-minutes", "2.5"]
    )  # fmt: skip
    assert (args.checkpoint_directory, args.resume_dir) == ("/vm/ckpt", "/drive/r")
    assert args.resume_copy_minutes == 2.5
    with pytest.raises(ValueError, match="resume_copy_minutes must be >= 0"):
        TrainingConfig(resume_copy_minutes=-1)
    monkeypatch.setenv("GPT2LAB_QUICK", "1")
    assert TrainingConfig.for_mode().resume_copy_minutes == 0
    monkeypatch.setenv("GPT2LAB_QUICK", "0")
    assert TrainingConfig.for_mode().resume_copy_minutes == 10.0
    assert TrainingConfig().resume_point_dir is None
    monkeypatch.setenv(RESUME_DIR_ENV_VAR, "~/resume")
    found = TrainingConfig(output_dir="/drive/finetuned").resume_point_dir
    assert found.parent.name == "resume" and found.name.startswith("finetuned-")
    assert "~" not in str(found) and found != TrainingConfig(output_dir="/x").resume_point_dir
    explicit = TrainingConfig(resume_dir="~/mine").resume_point_dir  # the setting, as it is
    assert explicit.name == "mine" and "~" not in str(explicit)


def test_the_same_drive_folder_through_another_mount_point_finds_its_resume_point(
    tmp_path, monkeypatch
):
    """A new Colab VM reaches Drive through its own mount point: same folder, same place."""
    drive = tmp_path / "drive"
    (drive / "finetuned").mkdir(parents=True)
    first, second = tmp_path / "vm1-mount", tmp_path / "vm2-mount"
    first.symlink_to(drive, target_is_directory=True)
    second.symlink_to(drive, target_is_directory=True)
    monkeypatch.setenv("GPT2LAB_RESUME_DIR", str(drive / "resume"))
    here = training.TrainingConfig(output_dir=str(first / "finetuned")).resume_point_dir
    there = training.TrainingConfig(output_dir=str(second / "finetuned")).resume_point_dir
    other = training.TrainingConfig(output_dir=str(drive / "elsewhere")).resume_point_dir
    assert here == there != other


def test_only_an_unfinished_run_is_offered_for_resuming(places, tokenizer):
    """unfinished_checkpoint: an interrupted run's checkpoint; nothing once it finished."""
    model_dir, _, resume = places
    cfg = config(model_dir, resume_dir=str(resume))
    assert training.unfinished_checkpoint(cfg) is None
    first = fit(model_dir, tokenizer, on_log=ctrl_c_at(3), resume_dir=str(resume))
    assert first.interrupted
    found = training.unfinished_checkpoint(cfg)
    assert found is not None and training.checkpoint_step(found) == 3
    shutil.rmtree(cfg.checkpoint_dir)  # a new machine: only the resume point is left
    assert training.unfinished_checkpoint(cfg).parent == resume
    done = fit(model_dir, tokenizer, resume_dir=str(resume))
    assert done.completed_steps == done.total_steps
    assert training.unfinished_checkpoint(cfg) is None  # finished: train afresh next time
