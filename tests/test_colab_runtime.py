"""helpers.colab: Drive, GPU and the fine-tuned model, on a stand-in Colab and locally."""

import os
import sys
from pathlib import Path

import pytest

from helpers import colab
from helpers.modeling import TRAINED_MODEL_ENV_VAR

STAND_IN_COLAB = Path(__file__).resolve().parent / "colab_sim"
SETTINGS = [TRAINED_MODEL_ENV_VAR, colab.RESUME_ENV_VAR, colab.CHECKPOINT_ENV_VAR, "GPT2LAB_QUICK"]


@pytest.fixture
def on_colab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in Colab VM (``GPT2LAB_HOME``) with a Drive folder; returns the Drive."""
    monkeypatch.syspath_prepend(str(STAND_IN_COLAB))
    monkeypatch.setenv("COLAB_RELEASE_TAG", "test")
    monkeypatch.setenv("GPT2LAB_HOME", str(tmp_path / "content"))
    monkeypatch.setenv("COLAB_SIM_DRIVE", str(tmp_path / "drive"))
    monkeypatch.setenv("COLAB_SIM_LOG", str(tmp_path / "events.jsonl"))
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    yield tmp_path / "drive"
    for name in [m for m in sys.modules if m == "google" or m.startswith("google.colab")]:
        del sys.modules[name]
    for name in SETTINGS:  # setup_runtime sets these on os.environ directly
        os.environ.pop(name, None)


def test_locally_nothing_changes(monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("COLAB_RELEASE_TAG", raising=False)
    monkeypatch.setenv(TRAINED_MODEL_ENV_VAR, str(tmp_path / "mine"))
    monkeypatch.delenv(colab.RESUME_ENV_VAR, raising=False)
    runtime = colab.setup_runtime()
    assert not runtime.colab and runtime.drive is None and runtime.resume_point is None
    assert runtime.trained_model == tmp_path / "mine"
    assert colab.RESUME_ENV_VAR not in os.environ
    assert "this machine" in capsys.readouterr().out


def test_on_colab_the_model_and_resume_point_go_to_drive_checkpoints_stay_local(
    on_colab, capsys, tmp_path
):
    runtime = colab.setup_runtime()
    content = tmp_path / "content"
    assert runtime.colab and runtime.drive == content / "drive" / "MyDrive"
    assert (content / "drive").resolve() == on_colab.resolve()  # mounted where Colab mounts
    course = content / "drive" / "MyDrive" / colab.DRIVE_COURSE_FOLDER
    assert os.environ[TRAINED_MODEL_ENV_VAR] == str(course / "finetuned")
    assert os.environ[colab.RESUME_ENV_VAR] == str(course / "resume")
    checkpoints = Path(os.environ[colab.CHECKPOINT_ENV_VAR])
    assert content in checkpoints.parents and "drive" not in checkpoints.parts
    out = capsys.readouterr().out
    assert "Mounting Google Drive" in out and "If you decline" in out  # why, and what if not


def test_a_declined_drive_keeps_the_work_on_the_vm_and_says_so(on_colab, monkeypatch, capsys):
    monkeypatch.setenv("COLAB_SIM_DECLINE_DRIVE", "1")
    runtime = colab.setup_runtime()
    assert runtime.drive is None and runtime.resume_point is None
    assert "drive" not in runtime.trained_model.parts
    assert colab.RESUME_ENV_VAR not in os.environ
    out = capsys.readouterr().out
    assert "Google Drive was not mounted" in out and "not mounted (work stays on this VM)" in out


def test_settings_the_intern_made_are_kept(on_colab, monkeypatch, tmp_path):
    monkeypatch.setenv(TRAINED_MODEL_ENV_VAR, str(tmp_path / "elsewhere"))
    assert colab.setup_runtime().trained_model == tmp_path / "elsewhere"


def test_a_cpu_runtime_is_told_how_to_get_a_gpu_and_goes_quick(on_colab, monkeypatch, capsys):
    monkeypatch.setattr(colab, "_gpu_name", lambda: None)
    colab.setup_runtime()
    assert os.environ["GPT2LAB_QUICK"] == "1"
    assert "Change runtime type" in capsys.readouterr().out


def test_a_gpu_runtime_keeps_full_settings(on_colab, monkeypatch, capsys):
    monkeypatch.setattr(colab, "_gpu_name", lambda: "Tesla T4")
    runtime = colab.setup_runtime()
    assert runtime.gpu == "Tesla T4" and "GPT2LAB_QUICK" not in os.environ
    assert "Change runtime type" not in capsys.readouterr().out


def test_an_explicit_quick_setting_wins_on_a_cpu_runtime(on_colab, monkeypatch):
    monkeypatch.setattr(colab, "_gpu_name", lambda: None)
    monkeypatch.setenv("GPT2LAB_QUICK", "0")
    colab.setup_runtime()
    assert os.environ["GPT2LAB_QUICK"] == "0"


def _saved_model(folder: Path, seed: int) -> Path:
    from helpers.modeling import OfflineModelConfig, build_offline_model

    model = build_offline_model(OfflineModelConfig(n_layer=1, n_embd=16, n_head=2), seed=seed)
    model.save_pretrained(folder)
    return folder


def test_the_weights_fingerprint_tells_two_models_apart(tmp_path):
    a = colab.weights_fingerprint(_saved_model(tmp_path / "a", seed=0))
    b = colab.weights_fingerprint(_saved_model(tmp_path / "b", seed=1))
    again = colab.weights_fingerprint(tmp_path / "a")
    assert len(a) == 12 and a == again and a != b


def test_a_found_model_is_named_with_its_fingerprint(monkeypatch, tmp_path, capsys):
    folder = _saved_model(tmp_path / "finetuned", seed=0)
    monkeypatch.setenv(TRAINED_MODEL_ENV_VAR, str(folder))
    assert colab.ensure_trained_model() == folder
    out = capsys.readouterr().out
    assert f"Using the fine-tuned model: {folder}" in out
    assert colab.weights_fingerprint(folder) in out


def test_no_model_and_no_training_says_base_model_plainly(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv(TRAINED_MODEL_ENV_VAR, str(tmp_path / "none-yet"))
    assert colab.ensure_trained_model(train_if_missing=False) is None
    out = capsys.readouterr().out
    assert "No fine-tuned model in" in out and "BASE model" in out


def test_no_model_gets_a_short_fine_tune(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv(TRAINED_MODEL_ENV_VAR, str(tmp_path / "made-here"))
    monkeypatch.setenv("GPT2LAB_MODEL", "gpt2lab-tiny")
    monkeypatch.setenv("GPT2LAB_CHECKPOINT_DIR", str(tmp_path / "checkpoints"))
    monkeypatch.setattr(colab, "short_fine_tune_steps", lambda: 3)
    # the first 20,000 characters of each work: the run ends by scoring the whole
    # validation split, which would cost most of this test (a minute on a slow CPU)
    from helpers import data

    works = data.course_documents
    monkeypatch.setattr(
        data,
        "course_documents",
        lambda clean=True: works(clean).map(lambda work: {"text": work["text"][:20_000]}),
    )
    found = colab.ensure_trained_model()
    assert found == tmp_path / "made-here" and (found / "model.safetensors").is_file()
    out = capsys.readouterr().out
    assert "Fine-tuning one now, briefly (3 steps" in out
    assert "trained from scratch from gpt2lab-tiny, 3 steps" in out
    assert f"Using the model trained from scratch: {found}" in out
    assert "Using the fine-tuned model" not in out


def test_the_message_says_fine_tuned_only_for_a_fine_tuned_model(tmp_path):
    import json

    for from_scratch, expected in (
        (True, "the model trained from scratch"),
        (False, "the fine-tuned model"),
    ):
        folder = _saved_model(tmp_path / str(from_scratch), seed=0)
        record = {"resolved": {"trained_from_scratch": from_scratch, "base_model": "b"}}
        (folder / "training_args.json").write_text(json.dumps(record))
        assert colab.using_trained_model(folder).startswith(f"Using {expected}")
    assert colab.using_trained_model(_saved_model(tmp_path / "bare", seed=1)).startswith(
        "Using the fine-tuned model"
    )
