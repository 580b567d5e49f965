"""The model the notebooks after 03 (and the CLI) use: the one notebook 03 fine-tuned.

Notebook 03 (or ``python -m helpers train``) saves the fine-tuned model in
:func:`trained_model_dir`; notebooks 04-07 load it with :func:`load_course_model`, which
says which model it took and why: an explicit argument, ``$GPT2LAB_MODEL``, the saved
model (named "trained from scratch" or "fine-tuned" from its training record), or the
default model.
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


def _trained_from_scratch(folder: Path) -> bool:
    """What the saved training record says (``training_args.json``); False without one."""
    try:
        args = json.loads((folder / "training_args.json").read_text(encoding="utf-8"))
        return bool(args.get("resolved", {}).get("trained_from_scratch"))
    except (OSError, ValueError, AttributeError):
        return False


def course_model_choice(name_or_path: str | os.PathLike | None = None) -> tuple[str | None, str]:
    """Which model the notebooks after 03 (and the CLI) use, and a sentence saying why.

    An explicit argument or ``$GPT2LAB_MODEL`` wins; else the fine-tuned model notebook 03
    saved (:func:`find_trained_model`); else the default (``None``: ``gpt2``, or offline
    the offline model).
    """
    if name_or_path is not None and str(name_or_path).strip():
        return str(name_or_path), f"Using the model you asked for: {name_or_path}."
    if os.environ.get(MODEL_ENV_VAR, "").strip():
        chosen = os.environ[MODEL_ENV_VAR].strip()
        return chosen, f"Using {MODEL_ENV_VAR}={chosen}."
    trained = find_trained_model()
    if trained is not None:
        what = "trained from scratch" if _trained_from_scratch(trained) else "fine-tuned"
        return str(trained), f"Using the model {what} and saved in {trained}."
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
