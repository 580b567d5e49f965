"""Every file and folder the course writes has the permissions the umask gives: a course
folder copied to a shared machine, or served by a web server, stays readable.

``tempfile`` makes private files (0600) and folders (0700), and safetensors writes 0600
files; written through them, the model card, history, weights, sweep and report JSON were
unreadable to anyone but their owner. Here the umask is 027, so the right modes are 0640
(files) and 0750 (folders): neither what tempfile gives nor the usual 0644 / 0755.
"""

import os
import stat

import pytest
import torch
from test_training import make_model, run

from helpers.environment import atomic_write_text, follow_umask
from helpers.modeling import build_offline_model, gpt2_tokenizer_from_package, save_model
from helpers.report import build_report, record
from helpers.sweeps import cached
from helpers.training import latest_checkpoint

FILE, FOLDER = 0o640, 0o750


@pytest.fixture
def umask_027():
    previous = os.umask(0o027)
    yield
    os.umask(previous)


@pytest.fixture(scope="module")
def tokenizer():
    return gpt2_tokenizer_from_package()


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def modes(folder) -> dict[str, int]:
    """Every file and folder under ``folder`` (itself included) whose mode is not right."""
    wrong = {}
    for path in [folder, *folder.rglob("*")]:
        expected = FOLDER if path.is_dir() else FILE
        if mode(path) != expected:
            wrong[str(path.relative_to(folder))] = oct(mode(path))
    return wrong


def test_atomic_write_text_follows_the_umask(tmp_path, umask_027):
    path = atomic_write_text(tmp_path / "new" / "notes.json", "{}")
    assert path.read_text() == "{}" and mode(path) == FILE and mode(path.parent) == FOLDER
    assert [p.name for p in path.parent.iterdir()] == ["notes.json"]  # no temporary file left
    os.umask(0o022)
    atomic_write_text(path, "[]")
    assert path.read_text() == "[]" and mode(path) == 0o644


def test_follow_umask_fixes_a_private_tree(tmp_path, umask_027):
    import tempfile
    from pathlib import Path

    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    handle, name = tempfile.mkstemp(dir=folder)
    os.close(handle)
    assert (mode(folder), mode(Path(name))) == (0o700, 0o600)  # what tempfile makes
    follow_umask(folder)
    assert (mode(folder), mode(Path(name))) == (FOLDER, FILE)


def test_a_trained_model_and_its_checkpoints_follow_the_umask(tmp_path, tokenizer, umask_027):
    torch.set_num_threads(1)
    out = tmp_path / "model"
    run(out, tokenizer, model=make_model(), max_steps=4, checkpoint_every=2)
    for name in ["README.md", "history.json", "training_args.json", "model.safetensors"]:
        assert mode(out / name) == FILE, name
    assert modes(out) == {}
    assert modes(latest_checkpoint(out / "checkpoints")) == {}


def test_a_saved_model_folder_follows_the_umask(tmp_path, tokenizer, umask_027):
    target = save_model(build_offline_model(), tokenizer, tmp_path / "saved")
    assert mode(target / "model.safetensors") == FILE and modes(target) == {}


def test_sweep_results_and_the_run_report_follow_the_umask(tmp_path, umask_027):
    cached("lr", {"lr": 1}, lambda: [1.0], tmp_path / "sweeps")
    assert modes(tmp_path / "sweeps") == {}
    record("model", {"name": "gpt2lab-tiny"}, tmp_path / "run")
    build_report(tmp_path / "run")
    assert modes(tmp_path / "run") == {}
