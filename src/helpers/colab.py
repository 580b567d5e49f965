"""Where the course runs and where its work is kept: Colab (Drive, GPU) or a local machine.

On Colab every notebook runs on its own virtual machine (VM), whose disk is lost when it
disconnects, so the model notebook 03 fine-tunes must be kept on Google Drive for
notebooks 04-07 to find it. Every notebook calls :func:`setup_runtime` in its first cells:

* on Colab it mounts Drive (saying why; if the intern declines, the work stays on the VM
  and the notebook says what that costs), points the fine-tuned model
  (``GPT2LAB_TRAINED_MODEL``) and the one rolling resume point (``GPT2LAB_RESUME_DIR``)
  at Drive, and the bulky resumable checkpoints (``GPT2LAB_CHECKPOINT_DIR``) at the VM's
  local disk; on a CPU runtime it says how to get a GPU and switches to quick settings;
* locally it changes nothing and reports where the model lives.

Notebooks 04-07 then call :func:`ensure_trained_model`: it names the fine-tuned model it
found, or says plainly that there is none and fine-tunes one briefly (never a silent
switch to the base model).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from helpers.environment import QUICK_ENV_VAR, in_colab, quick_or_full
from helpers.modeling import TRAINED_MODEL_ENV_VAR, find_trained_model, trained_model_dir

HOME_ENV_VAR = "GPT2LAB_HOME"
"""Colab's working folder (default ``/content``): the course is cloned into it."""
CHECKPOINT_ENV_VAR = "GPT2LAB_CHECKPOINT_DIR"
RESUME_ENV_VAR = "GPT2LAB_RESUME_DIR"
DRIVE_COURSE_FOLDER = "gpt2-lab"
"""The course's folder in the intern's Drive (``MyDrive/gpt2-lab``)."""


def short_fine_tune_steps() -> int:
    """Steps of :func:`short_fine_tune`: 30 in quick mode, else 200 (minutes on a GPU)."""
    return quick_or_full(30, 200)


@dataclass(frozen=True)
class Runtime:
    """What :func:`setup_runtime` found and decided."""

    colab: bool
    gpu: str | None
    drive: Path | None
    trained_model: Path
    checkpoints: Path | None
    resume_point: Path | None

    def describe(self) -> str:
        where = "Google Colab" if self.colab else "this machine"
        lines = [
            f"running on        : {where}, {self.gpu or 'CPU only'}",
            f"fine-tuned model  : {self.trained_model}",
        ]
        if self.colab:
            lines.append(
                f"Google Drive      : {self.drive or 'not mounted (work stays on this VM)'}"
            )
            lines.append(f"checkpoints       : {self.checkpoints} (this VM's disk)")
            lines.append(f"resume point      : {self.resume_point or 'none (no Drive)'}")
        return "\n".join(lines)


def colab_home() -> Path:
    """Colab's working folder: ``$GPT2LAB_HOME``, else ``/content``."""
    return Path(os.environ.get(HOME_ENV_VAR, "").strip() or "/content")


def _gpu_name() -> str | None:
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


def mount_drive(mountpoint: Path) -> Path | None:
    """Mount Google Drive at ``mountpoint``; its ``MyDrive`` folder, or None if declined."""
    from google.colab import drive

    try:
        drive.mount(str(mountpoint))
    except Exception as error:  # the intern declined, or the mount timed out
        print(f"Google Drive was not mounted ({type(error).__name__}: {error}).")
        return None
    my_drive = mountpoint / "MyDrive"
    return my_drive if my_drive.is_dir() else None


CPU_RUNTIME_ADVICE = (
    "This Colab runtime has no GPU. Fine-tuning GPT-2 here would take hours, so the course "
    "switches to its quick settings (less data, fewer steps: minutes, and less learnt). "
    "For the real run: Runtime → Change runtime type → T4 GPU, then run the notebook again "
    "from the top."
)


def setup_runtime(mount: bool = True) -> Runtime:
    """Find out where the course runs; on Colab, mount Drive and set where work is kept.

    Settings already in the environment (e.g. ``GPT2LAB_TRAINED_MODEL``) are kept.
    """
    gpu = _gpu_name()
    if not in_colab():
        runtime = Runtime(False, gpu, None, trained_model_dir(), None, None)
        print(runtime.describe())
        return runtime

    home = colab_home()
    drive = None
    if mount:
        print(
            "Mounting Google Drive: this notebook runs on its own Colab VM, whose disk is "
            "lost when it disconnects. Notebook 03 keeps the fine-tuned model (and one "
            f"resume point) in MyDrive/{DRIVE_COURSE_FOLDER} so that notebooks 04-07 can use "
            "it. If you decline, everything stays on this VM: notebooks 04-07 will not find "
            "the model and will offer a short fine-tune instead."
        )
        drive = mount_drive(home / "drive")
    if drive is not None:
        course = drive / DRIVE_COURSE_FOLDER
        os.environ.setdefault(TRAINED_MODEL_ENV_VAR, str(course / "finetuned"))
        os.environ.setdefault(RESUME_ENV_VAR, str(course / "resume"))
    else:
        os.environ.setdefault(TRAINED_MODEL_ENV_VAR, str(home / "gpt2-lab-work" / "finetuned"))
    os.environ.setdefault(CHECKPOINT_ENV_VAR, str(home / "gpt2-lab-work" / "checkpoints"))
    if gpu is None:
        print(CPU_RUNTIME_ADVICE)
        if not os.environ.get(QUICK_ENV_VAR, "").strip():
            os.environ[QUICK_ENV_VAR] = "1"
    resume = os.environ.get(RESUME_ENV_VAR)
    runtime = Runtime(
        True,
        gpu,
        drive,
        trained_model_dir(),
        Path(os.environ[CHECKPOINT_ENV_VAR]),
        Path(resume) if resume else None,
    )
    print(runtime.describe())
    return runtime


def weights_fingerprint(model_dir: str | os.PathLike) -> str:
    """The first 12 hex digits of the SHA-256 of a saved model's weights file."""
    folder = Path(model_dir)
    weights = next(
        (
            folder / name
            for name in ("model.safetensors", "pytorch_model.bin")
            if (folder / name).is_file()
        ),
        None,
    )
    if weights is None:
        return "no weights file"
    digest = hashlib.sha256()
    with weights.open("rb") as file:
        for chunk in iter(lambda: file.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()[:12]


def _training_record(folder: Path) -> dict:
    """The ``resolved`` settings of ``training_args.json`` ({} when there is none)."""
    try:
        args = json.loads((folder / "training_args.json").read_text(encoding="utf-8"))
        return args.get("resolved", {}) if isinstance(args, dict) else {}
    except (OSError, ValueError):
        return {}


def using_trained_model(model_dir: str | os.PathLike) -> str:
    """'Using the fine-tuned model: ...', or 'Using the model trained from scratch: ...'
    when its weights started random (the untrained offline model): never 'fine-tuned'
    for a model that was not."""
    from_scratch = bool(_training_record(Path(model_dir)).get("trained_from_scratch"))
    what = "the model trained from scratch" if from_scratch else "the fine-tuned model"
    return f"Using {what}: {describe_trained_model(model_dir)}"


def describe_trained_model(model_dir: str | os.PathLike) -> str:
    """One line on a saved model: its base, how it was trained, its weights' fingerprint."""
    folder = Path(model_dir)
    try:
        args = json.loads((folder / "training_args.json").read_text(encoding="utf-8"))
        resolved = args.get("resolved", {})
        how = "trained from scratch" if resolved.get("trained_from_scratch") else "fine-tuned"
        base, steps = resolved.get("base_model", "?"), resolved.get("total_steps", "?")
        trained = f"{how} from {base}, {steps} steps"
    except (OSError, ValueError, AttributeError):
        trained = "no training record"
    return f"{folder} ({trained}; weights {weights_fingerprint(folder)})"


def short_fine_tune(output_dir: str | os.PathLike | None = None) -> Path:
    """Fine-tune the default base model briefly on the course corpus and save it.

    A few dozen steps in quick mode, a couple of hundred otherwise (minutes on a GPU): a
    stand-in for notebook 03's full run, so that a later notebook opened first still shows
    a fine-tuned model.
    """
    from helpers.data import COURSE_SPLIT, course_documents
    from helpers.model_source import locate_model
    from helpers.modeling import load_model_and_tokenizer
    from helpers.packing import build_lm_dataset
    from helpers.training import TrainingConfig, train

    source = locate_model()
    model, tokenizer = load_model_and_tokenizer()
    config = TrainingConfig.for_mode(
        from_scratch=source.is_offline_model,  # gpt2lab-base and Hub models: fine-tuning
        output_dir=str(output_dir or trained_model_dir()),
        max_steps=short_fine_tune_steps(),
        checkpoint_every=0,
    )
    dataset, stats = build_lm_dataset(
        course_documents(clean=False),
        tokenizer,
        config.block_size,
        split_method="document",
        **COURSE_SPLIT,
    )
    result = train(
        config,
        dataset,
        model=model,
        tokenizer=tokenizer,
        source=source,
        chars_per_token=stats.characters["validation"] / max(1, stats.tokens["validation"]),
        data_description="The course's Shakespeare corpus (a short run made by a later notebook).",
    )
    return result.output_dir


def ensure_trained_model(train_if_missing: bool = True) -> Path | None:
    """The fine-tuned model's folder, named; if there is none, say so and (by default)
    fine-tune one briefly. With ``train_if_missing=False`` the answer is None and the
    notebook goes on with the base model, which this says plainly."""
    found = find_trained_model()
    if found is not None:
        print(using_trained_model(found))
        return found
    expected = trained_model_dir()
    print(
        f"No fine-tuned model in {expected}. Notebook 03 saves it there"
        + (" (on your Drive)." if in_colab() and os.environ.get(RESUME_ENV_VAR) else ".")
    )
    from helpers.training import TrainingConfig, unfinished_checkpoint

    unfinished = unfinished_checkpoint(TrainingConfig(output_dir=str(expected)))
    if unfinished is not None and train_if_missing:
        raise RuntimeError(
            f"Notebook 03's run is unfinished (its latest checkpoint is {unfinished}): run "
            f"notebook 03 again to finish it (it resumes from there), then this notebook. "
            f"Or set TRAIN_IF_MISSING = False to go on with the base model."
        )
    if not train_if_missing:
        print(
            "Going on with the BASE model: nothing below is fine-tuned. Run notebook 03 "
            "first (or set TRAIN_IF_MISSING = True) to see a fine-tuned model."
        )
        return None
    print(
        f"Fine-tuning one now, briefly ({short_fine_tune_steps()} steps on the course "
        f"corpus), so this notebook shows a fine-tuned model. Set TRAIN_IF_MISSING = False "
        f"to use the base model."
    )
    saved = short_fine_tune(expected)
    print(using_trained_model(saved))
    return saved
