"""The model the notebooks after 03 (and the CLI) use: the one notebook 03 fine-tuned.

Notebook 03 (or ``python -m helpers train``) saves the fine-tuned model in
:func:`trained_model_dir`; notebooks 04-07 load it with :func:`load_course_model`, which
says which model it took and why: an explicit argument; else the saved model (named
"trained from scratch" or "fine-tuned" from its training record), unless
``$GPT2LAB_MODEL`` names another model than the one it was trained from; else
``$GPT2LAB_MODEL``; else the default model.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from helpers.environment import project_root

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from helpers.model_source import ModelSource

MODEL_ENV_VAR = "GPT2LAB_MODEL"
TRAINED_MODEL_ENV_VAR = "GPT2LAB_TRAINED_MODEL"


def trained_model_dir() -> Path:
    """Where the course keeps the fine-tuned model (notebook 03 / ``helpers train``).

    ``$GPT2LAB_TRAINED_MODEL`` if set (e.g. a Google Drive folder on Colab), else
    ``models/finetuned`` in the course folder (git-ignored).
    """
    from_env = os.environ.get(TRAINED_MODEL_ENV_VAR, "").strip()
    return Path(from_env).expanduser() if from_env else project_root() / "models" / "finetuned"


def find_trained_model() -> Path | None:
    """The fine-tuned model's folder if one has been saved there, else None."""
    folder = trained_model_dir()
    return folder if (folder / "config.json").is_file() else None


def _training_record(folder: Path) -> dict:
    """What the saved training record says (``training_args.json``'s ``resolved`` part);
    empty without one."""
    try:
        args = json.loads((folder / "training_args.json").read_text(encoding="utf-8"))
        resolved = args.get("resolved", {})
        return resolved if isinstance(resolved, dict) else {}
    except (OSError, ValueError, AttributeError):
        return {}


def _same_model(wanted: str, base: object) -> bool:
    """Is ``wanted`` (a name or folder) the model that ``base`` (a training record's
    ``base_model``) names? Offline, a Hub name stands for the base it falls back to."""
    if not isinstance(base, str) or not base:
        return False
    if wanted == base:
        return True
    wanted_path, base_path = Path(wanted).expanduser(), Path(base).expanduser()
    if wanted_path.exists() and base_path.exists():
        return wanted_path.resolve() == base_path.resolve()
    from helpers.model_source import locate_model

    try:
        return base == locate_model(wanted).model_name
    except Exception:  # noqa: BLE001 (it cannot be had: loading it will say why)
        return False


def course_model_choice(name_or_path: str | os.PathLike | None = None) -> tuple[str | None, str]:
    """Which model the notebooks after 03 (and the CLI) use, and a sentence saying why.

    An explicit argument wins. Else the model notebook 03 saved (:func:`find_trained_model`),
    unless ``$GPT2LAB_MODEL`` names another model than the one it was trained from: the
    variable picks the model to start from, so a course run with ``GPT2LAB_MODEL=X`` goes
    on with X fine-tuned, and a later ``GPT2LAB_MODEL=Y`` gets Y itself. Else
    ``$GPT2LAB_MODEL``; else the default (``None``: ``gpt2``, or offline the offline model).
    """
    if name_or_path is not None and str(name_or_path).strip():
        return str(name_or_path), f"Using the model you asked for: {name_or_path}."
    wanted = os.environ.get(MODEL_ENV_VAR, "").strip()
    folder = trained_model_dir()
    if folder.exists() and not folder.is_dir():
        named = (
            f"{TRAINED_MODEL_ENV_VAR}={folder}" if os.environ.get(TRAINED_MODEL_ENV_VAR) else folder
        )
        raise ValueError(
            f"{named} is a file, not a folder: the fine-tuned model is saved as a folder of "
            f"files. Point {TRAINED_MODEL_ENV_VAR} at a folder (or unset it for models/finetuned)."
        )
    trained = find_trained_model()
    if trained is not None:
        record = _training_record(trained)
        base = record.get("base_model")
        if not wanted or _same_model(wanted, base):
            what = "trained from scratch" if record.get("trained_from_scratch") else "fine-tuned"
            origin = f" from {base}" if isinstance(base, str) and base else ""
            return str(trained), f"Using the model {what}{origin} and saved in {trained}."
        known = f"from {base}" if isinstance(base, str) and base else "from an unrecorded model"
        return wanted, (
            f"Using {MODEL_ENV_VAR}={wanted} itself: the model saved in {trained} was trained "
            f"{known}, not from it (notebook 03 fine-tunes {wanted})."
        )
    if wanted:
        return wanted, f"Using {MODEL_ENV_VAR}={wanted}."
    return None, (
        f"No fine-tuned model in {trained_model_dir()} yet (notebook 03 or "
        f"`python -m helpers train` saves one there): using the default model instead."
    )


def load_course_model(
    name_or_path: str | os.PathLike | None = None, device: str | torch.device | None = None
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase, ModelSource]:
    """:func:`course_model_choice`, loaded, with its reason printed and its source returned."""
    from helpers.model_source import locate_model
    from helpers.modeling import load_model_and_tokenizer

    chosen, reason = course_model_choice(name_or_path)
    print(reason)
    source = locate_model(chosen)
    model, tokenizer = load_model_and_tokenizer(chosen, device)
    return model, tokenizer, source
