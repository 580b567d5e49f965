"""Which model to load, and from where: a folder, the Hub's cache, the Hub, or offline.

Which model? An explicit argument, else the ``GPT2LAB_MODEL`` environment variable, else
``"gpt2"``. :func:`locate_model` then decides where it comes from, without loading it and
without waiting: a local folder (written by ``save_pretrained``), else the local Hub cache,
else the Hub when it answers. When a Hub model cannot be had, the **offline base** stands
in: ``gpt2lab-base``, a small GPT-2 pretrained here on general English
(:mod:`helpers.offline_model`). ``gpt2lab-tiny`` (random weights, the from-scratch aside)
is used only when asked for by name, or when the base is missing. Neither is GPT-2 and
neither is called so; a banner says when one is used.

On Colab an offline model never stands in silently: there, a Hub that cannot be reached
is an error (:class:`ModelNotAvailableError`) unless an offline model is asked for by
name (``GPT2LAB_MODEL=gpt2lab-base``) or ``allow_offline_fallback=True`` is passed.

:mod:`helpers.modeling` loads what this module found.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from helpers.course_model import MODEL_ENV_VAR
from helpers.environment import (
    HF_ENDPOINT_DEFAULT,
    hub_endpoint,
    hub_offline_requested,
    in_colab,
    is_online,
    similar_path,
)
from helpers.hub_cache import _in_hub_cache
from helpers.offline_model import (
    BASE_MODEL_DIR,
    BASE_MODEL_NAME,
    OFFLINE_MODEL_NAME,
    ModelNotAvailableError,
    OfflineModelConfig,
    base_model_available,
    describe_base_model,
)

DEFAULT_MODEL_NAME = "gpt2"
OFFLINE_NAMES = (BASE_MODEL_NAME, OFFLINE_MODEL_NAME)
"""The two offline models' names: the pretrained base, the untrained from-scratch model."""


@dataclass(frozen=True)
class ModelSource:
    """Where a model comes from, and why."""

    requested: str
    kind: Literal["local", "hub-cache", "hub", "base", "offline"]
    location: str
    reason: str

    @property
    def is_offline_model(self) -> bool:
        """The untrained offline model (``gpt2lab-tiny``, random weights): training it is
        training from scratch."""
        return self.kind == "offline"

    @property
    def is_offline_base(self) -> bool:
        """The shipped pretrained offline base (``gpt2lab-base``)."""
        return self.kind == "base"

    @property
    def is_pretrained(self) -> bool:
        """Do the weights come pretrained (all but ``gpt2lab-tiny``)?"""
        return self.kind != "offline"

    @property
    def model_name(self) -> str:
        """The name of the model this source gives: ``gpt2lab-base`` or ``gpt2lab-tiny`` when
        one of them stands in, else what was asked for (training records it as the base)."""
        if self.is_offline_base:
            return BASE_MODEL_NAME
        return OFFLINE_MODEL_NAME if self.is_offline_model else self.requested

    @property
    def is_fallback(self) -> bool:
        """True when an offline model stands in for a model that was asked for."""
        return self.kind in ("base", "offline") and self.requested not in OFFLINE_NAMES


def resolve_model_name(name_or_path: str | os.PathLike | None = None) -> str:
    """The model to use: the argument, else ``$GPT2LAB_MODEL``, else ``"gpt2"``."""
    if name_or_path is not None and str(name_or_path).strip():
        return str(name_or_path).strip()
    from_env = os.environ.get(MODEL_ENV_VAR, "").strip()
    return from_env or DEFAULT_MODEL_NAME


def _looks_like_path(name: str) -> bool:
    """Hub names are ``name`` or ``owner/name``; anything else is meant as a folder."""
    return (
        name.startswith((".", "/", "~"))
        or name.endswith(("/", os.sep))
        or name.count("/") > 1
        or (os.sep != "/" and os.sep in name)
    )


def _in_a_local_folder(path: Path) -> bool:
    """``models/finetunde``: not there, but meant as a path, since ``models/`` is."""
    return len(path.parts) > 1 and path.parent.is_dir()


def _hub_name() -> str:
    """'the Hugging Face Hub', or 'the Hub at <endpoint>' when HF_ENDPOINT points elsewhere."""
    endpoint = hub_endpoint()
    return "the Hugging Face Hub" if endpoint == HF_ENDPOINT_DEFAULT else f"the Hub at {endpoint}"


def _no_hub_reason() -> str:
    """Why the Hub is not used: HF_HUB_OFFLINE, or it did not answer."""
    if hub_offline_requested():
        return "HF_HUB_OFFLINE=1 is set"
    return f"{_hub_name()} cannot be reached"


def _offline_allowed(allow_offline_fallback: bool | None) -> bool:
    """``None`` means: allowed locally, not on Colab (where it would pass unnoticed)."""
    return not in_colab() if allow_offline_fallback is None else bool(allow_offline_fallback)


def _unreachable_message(requested: str, reason: str) -> str:
    """Why a Hub model cannot be had, and what to do: the error when no fallback is allowed."""
    to_use_offline = (
        f"To use the offline model on purpose (a small GPT-2 pretrained here, not GPT-2, "
        f"for trying the course without internet), set GPT2LAB_MODEL={BASE_MODEL_NAME} "
        f"(in a notebook: os.environ['{MODEL_ENV_VAR}'] = '{BASE_MODEL_NAME}') or pass "
        f"'{BASE_MODEL_NAME}' as the model name ('{OFFLINE_MODEL_NAME}': random weights)."
    )
    if in_colab():
        return (
            f"Cannot load '{requested}': {reason}. On Colab the course does not swap in its "
            f"offline model silently. Check that this runtime has internet (reconnect it: "
            f"Runtime > Disconnect and delete runtime), that HF_ENDPOINT is unset or right "
            f"(it is {hub_endpoint()}), and that HF_HUB_OFFLINE is not set; then run the cell "
            f"again. {to_use_offline}"
        )
    return (
        f"Cannot load '{requested}': {reason}. Connect to the internet (and unset "
        f"HF_HUB_OFFLINE; the Hub is {hub_endpoint()}), pass a local folder, or allow the "
        f"offline model (allow_offline_fallback=True). {to_use_offline}"
    )


KNOWN_MODEL_NAMES = (
    "gpt2",
    "gpt2-medium",
    "gpt2-large",
    "gpt2-xl",
    "distilgpt2",
    *(f"openai-community/gpt2{size}" for size in ("", "-medium", "-large", "-xl")),
    "distilbert/distilgpt2",
    *OFFLINE_NAMES,
)
"""The names the course uses: a name close to one of them but not it is taken for a typo."""


def _close_known_name(name: str) -> str | None:
    """The known name ``name`` looks like a typo of ('gtp2' -> 'gpt2'), else None."""
    import difflib

    if name in KNOWN_MODEL_NAMES:
        return None
    close = difflib.get_close_matches(name.lower(), KNOWN_MODEL_NAMES, n=1, cutoff=0.75)
    return close[0] if close else None


def _check_json(path: Path, why_and_fix: str) -> object:
    """A saved model's JSON file that cannot be read is an error that names it; else its
    content."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise ModelNotAvailableError(
            f"The {path.name} in '{path.parent}' cannot be read, it is not valid JSON "
            f"({error}): {why_and_fix}."
        ) from error


CONFIG_FIX = "Copy the folder again, or save the model there again"
GPT2_SIZE_FIELDS = ("vocab_size", "n_positions", "n_embd", "n_layer", "n_head")
"""The config fields that give a GPT-2 its shape: each a positive whole number."""


def _check_model_config(folder: Path) -> None:
    """A folder's config.json must be readable JSON, a JSON object, and a GPT-2 config whose
    sizes are positive whole numbers: else an error that names the folder and what to do
    (rather than a random model of another kind, or a TypeError from transformers)."""
    path = folder / "config.json"
    config = _check_json(path, f"it says what the model is. {CONFIG_FIX}")
    where = f"The config.json in '{folder}'"
    if not isinstance(config, dict):
        kind = {list: "a list", str: "a string", bool: "true/false", type(None): "null"}
        raise ModelNotAvailableError(
            f"{where} is not a JSON object ({{...}}) but {kind.get(type(config), 'a number')}, "
            f"so it is not a model config. {CONFIG_FIX} (model.save_pretrained(folder))."
        )
    model_type = config.get("model_type")
    if model_type != "gpt2":
        what = "it has no model_type" if model_type is None else f"model_type {model_type!r}"
        raise ModelNotAvailableError(
            f"{where} is not a GPT-2 model config ({what}; the course loads GPT-2 models, "
            f"model_type 'gpt2'). Pass a folder saved from a GPT-2 model (e.g. the output of "
            f"notebook 03), or, if it is one, {CONFIG_FIX.lower()}."
        )
    bad = [
        f"{name}={config[name]!r}"
        for name in GPT2_SIZE_FIELDS
        if name in config
        and (
            isinstance(config[name], bool) or not isinstance(config[name], int) or config[name] < 1
        )
    ]
    if bad:
        raise ModelNotAvailableError(
            f"{where} has sizes that are not positive whole numbers ({', '.join(bad)}), so "
            f"it was edited or damaged. {CONFIG_FIX}."
        )


def locate_model(
    name_or_path: str | os.PathLike | None = None, *, allow_offline_fallback: bool | None = None
) -> ModelSource:
    """Decide where the model comes from, without loading it and without waiting.

    A folder, else the local Hub cache (when config.json and the weights are cached), else
    the Hub (when it answers), else the offline model. ``allow_offline_fallback``: ``None``
    (the default) allows the offline model locally but not on Colab; ``False`` makes a
    Hub model that cannot be had an error everywhere. An error about a name that came from
    ``$GPT2LAB_MODEL`` says so: the user may not remember setting it.
    """
    try:
        return _locate_model(name_or_path, allow_offline_fallback)
    except ModelNotAvailableError as error:
        from_env = os.environ.get(MODEL_ENV_VAR, "").strip()
        if not from_env or resolve_model_name(name_or_path) != from_env:
            raise  # (the course's commands pass the variable's value on: same name, same cause)
        raise ModelNotAvailableError(
            f"{MODEL_ENV_VAR}={from_env} (from the environment): {error} Or unset "
            f"{MODEL_ENV_VAR} to use {DEFAULT_MODEL_NAME}."
        ) from error


def _locate_model(
    name_or_path: str | os.PathLike | None, allow_offline_fallback: bool | None
) -> ModelSource:
    requested = resolve_model_name(name_or_path)
    if requested == OFFLINE_MODEL_NAME:
        return ModelSource(requested, "offline", OFFLINE_MODEL_NAME, "selected by name")
    if requested == BASE_MODEL_NAME:  # (a missing base is an error when it is loaded)
        return ModelSource(requested, "base", BASE_MODEL_NAME, "selected by name")

    folder = Path(requested).expanduser()
    if folder.is_dir():
        if not (folder / "config.json").is_file():
            raise ModelNotAvailableError(
                f"The folder '{folder}' holds no config.json, so it is not a saved model. "
                f"Pass a folder written by save_pretrained (e.g. the output of notebook 03)."
            )
        _check_model_config(folder)
        return ModelSource(requested, "local", str(folder), "a local folder")
    if folder.exists():
        raise ModelNotAvailableError(f"'{folder}' is a file; a model is a folder or a Hub name.")
    if _looks_like_path(requested) or _in_a_local_folder(folder):
        near = similar_path(folder)
        hint = f" Did you mean '{near}'?" if near is not None else ""
        raise ModelNotAvailableError(
            f"There is no folder '{folder}'.{hint} Train a model first (notebook 03 or "
            f"`python -m helpers train`), or check the path."
        )

    if _in_hub_cache(requested):
        return ModelSource(requested, "hub-cache", requested, "found in the local Hub cache")
    if is_online():
        return ModelSource(requested, "hub", requested, f"downloaded from {_hub_name()}")

    reason = f"'{requested}' is not in the local Hub cache and {_no_hub_reason()}"
    meant = _close_known_name(requested)
    if meant is not None:  # a typo: the offline model would hide it
        raise ModelNotAvailableError(
            f"Cannot load '{requested}': {reason}. Did you mean '{meant}'? Check the "
            f"spelling (Hub names are exact, e.g. 'gpt2', 'distilgpt2', '{OFFLINE_MODEL_NAME}')."
        )
    if not _offline_allowed(allow_offline_fallback):
        raise ModelNotAvailableError(_unreachable_message(requested, reason))
    if base_model_available():
        return ModelSource(requested, "base", BASE_MODEL_NAME, reason)
    reason += f"; the pretrained base is missing from {BASE_MODEL_DIR}"
    return ModelSource(requested, "offline", OFFLINE_MODEL_NAME, reason)


def offline_model_banner(source: ModelSource, config: OfflineModelConfig) -> str:
    """The message shown when the offline model is used."""
    asked = (
        f"Asked for : {source.requested}\n"
        f"Using     : the offline model '{OFFLINE_MODEL_NAME}'\n"
        f"Why       : {source.reason}\n"
    )
    what = (
        f"What it is: a small GPT-2 ({config.n_layer} layers x {config.n_embd} wide, "
        f"{config.n_positions}-token context)\n"
        f"            with GPT-2's real tokenizer and RANDOM weights. It starts untrained:\n"
        f"            it is not pretrained GPT-2, and its text is noise until trained.\n"
    )
    line = "=" * 72
    return f"{line}\n{asked}{what}{line}"


def base_model_banner(source: ModelSource) -> str:
    """The message shown when the pretrained offline base is used."""
    import textwrap

    what = textwrap.fill(
        f"{describe_base_model()}. It knows some English, far less than GPT-2 small "
        f"(12 layers x 768, 124 M parameters).",
        width=72,
        initial_indent="What it is: ",
        subsequent_indent=" " * 12,
    )
    line = "=" * 72
    return (
        f"{line}\nAsked for : {source.requested}\nUsing     : the offline base "
        f"'{BASE_MODEL_NAME}'\nWhy       : {source.reason}\n{what}\n{line}"
    )
