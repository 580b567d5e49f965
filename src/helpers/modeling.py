"""Load GPT-2 and its tokenizer: from a folder, from the Hub, or offline.

Which model? An explicit argument, else the ``GPT2LAB_MODEL`` environment variable, else
``"gpt2"``. A local folder (written by ``save_pretrained``) or a Hub name loads with
``from_pretrained``; the local Hub cache is probed first and the network is only tried
when it answers. When a Hub model cannot be had, the **offline base** stands in:
``gpt2lab-base``, a small GPT-2 pretrained here on general English and shipped in
``helpers/assets/base_model``, with GPT-2's real byte-level BPE tokenizer (OpenAI's files,
shipped in ``helpers/assets/gpt2_bpe``), so offline the course fine-tunes a pretrained
model as it does on Colab. ``gpt2lab-tiny`` (random weights, the from-scratch aside) is
used only when asked for by name, or when the base is missing. Neither is GPT-2 and
neither is called so; a banner says when one is used.

On Colab an offline model never stands in silently: there, a Hub that cannot be reached
is an error (:class:`ModelNotAvailableError`) unless an offline model is asked for by
name (``GPT2LAB_MODEL=gpt2lab-base``) or ``allow_offline_fallback=True`` is passed.

The model and the tokenizer each load from the cache when *their* files are all cached
(the tokenizer is often cached without the weights); a cache-only load that fails goes to
the Hub when the Hub answers.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from safetensors import SafetensorError
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    GPT2Config,
    GPT2TokenizerFast,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

# the model notebooks 04-07 and the CLI use, after notebook 03 (re-exported here)
from helpers.course_model import (  # noqa: F401 (re-exported)
    MODEL_ENV_VAR,
    TRAINED_MODEL_ENV_VAR,
    course_model_choice,
    find_trained_model,
    load_course_model,
    trained_model_dir,
)
from helpers.environment import (
    HF_ENDPOINT_DEFAULT,
    follow_umask,
    get_device,
    hub_endpoint,
    hub_offline_requested,
    in_colab,
    is_online,
    similar_path,
)
from helpers.hub_cache import (  # noqa: F401 - modeling's names, patched by tests
    WEIGHTS_FILES,
    WEIGHTS_INDEX_FILES,
    _cached_file,
    _in_hub_cache,
    _tokenizer_in_hub_cache,
    _weights_in_hub_cache,
)
from helpers.offline_model import (  # noqa: F401 - re-exported for the course's imports
    BASE_MODEL_DIR,
    BASE_MODEL_NAME,
    GPT2_BPE_DIR,
    GPT2_VOCAB_SIZE,
    OFFLINE_MODEL_NAME,
    ModelNotAvailableError,
    OfflineModelConfig,
    base_model_available,
    build_offline_model,
    describe_base_model,
    gpt2_bpe_files,
    gpt2_tokenizer_from_package,
    ready_tokenizer,
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


def locate_model(
    name_or_path: str | os.PathLike | None = None, *, allow_offline_fallback: bool | None = None
) -> ModelSource:
    """Decide where the model comes from, without loading it and without waiting.

    A folder, else the local Hub cache (when config.json and the weights are cached), else
    the Hub (when it answers), else the offline model. ``allow_offline_fallback``: ``None``
    (the default) allows the offline model locally but not on Colab; ``False`` makes a
    Hub model that cannot be had an error everywhere.
    """
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
        _check_json(
            folder / "config.json",
            "it says what the model is. Copy the folder again, or save the model there again",
        )
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


TOKENIZER_FILES = ("tokenizer.json", "vocab.json", "tokenizer_config.json")


def _gpt2_shaped(folder: Path) -> GPT2Config | None:
    """The folder's config if it is a GPT-2 with GPT-2's vocabulary, else None."""
    try:
        config = GPT2Config.from_pretrained(folder)
    except (OSError, ValueError) as error:
        raise ModelNotAvailableError(
            f"The config.json in '{folder}' cannot be read: {error}"
        ) from error
    is_gpt2 = config.model_type == "gpt2" and config.vocab_size == GPT2_VOCAB_SIZE
    return config if is_gpt2 else None


def _local_tokenizer(folder: Path) -> PreTrainedTokenizerBase:
    """A saved folder's tokenizer; GPT-2's own when only the model was saved there."""
    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        config = _gpt2_shaped(folder)
        if config is None:
            raise ModelNotAvailableError(
                f"The folder '{folder}' holds a model but no tokenizer, and it is not a GPT-2 "
                f"with GPT-2's vocabulary. Save the tokenizer next to the model "
                f"(tokenizer.save_pretrained(folder), or helpers.modeling.save_model)."
            )
        print(f"'{folder}' holds no tokenizer files: using GPT-2's tokenizer.", file=sys.stderr)
        return gpt2_tokenizer_from_package(config.n_positions)
    try:
        return AutoTokenizer.from_pretrained(folder, local_files_only=True)
    except (OSError, ValueError) as error:
        if (folder / "vocab.json").is_file() and (folder / "merges.txt").is_file():
            # a folder with only vocab.json + merges.txt: build the tokenizer from them
            return GPT2TokenizerFast(
                vocab=str(folder / "vocab.json"), merges=str(folder / "merges.txt")
            )
        files = ", ".join(name for name in TOKENIZER_FILES if (folder / name).is_file())
        raise ModelNotAvailableError(
            f"Could not load the tokenizer saved in '{folder}' ({files}): {error}. Save it "
            f"again (tokenizer.save_pretrained(folder)), or delete those files to use "
            f"GPT-2's own tokenizer."
        ) from error


def _hub_error(repo_id: str, error: BaseException) -> ModelNotAvailableError | None:
    """A clear error when the Hub said the repo does not exist (or is gated), else None."""
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    seen: set[int] = set()
    cause: BaseException | None = error
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, GatedRepoError):
            return ModelNotAvailableError(
                f"'{repo_id}' on the Hub at {hub_endpoint()} is gated: accept its terms on its "
                f"page, then log in (`hf auth login`, or HF_TOKEN) and try again."
            )
        if isinstance(cause, RepositoryNotFoundError):
            return ModelNotAvailableError(
                f"no model named '{repo_id}' on the Hub at {hub_endpoint()}: check the spelling "
                f"(e.g. 'gpt2', 'distilgpt2' or 'owner/name'; a private model needs "
                f"`hf auth login`), or pass the folder that save_pretrained wrote."
            )
        cause = cause.__cause__ or cause.__context__
    return None


def _from_hub(loader, source: ModelSource, what: str, cache_only: bool):
    """``loader(repo, local_files_only=cache_only)``; from the Hub when the cache fails.

    A cache-only load can fail when the cache holds only part of what is needed; when the
    Hub answers, the load is tried again from it instead of raising.
    """
    repo_id = source.location
    try:
        return loader(repo_id, local_files_only=cache_only)
    except (OSError, ValueError) as error:
        clear = _hub_error(repo_id, error)
        if clear is not None:
            raise clear from error
        if not cache_only:
            raise ModelNotAvailableError(
                f"Could not load the {what} '{repo_id}' from {_hub_name()}: {error}"
            ) from error
        if not is_online():
            raise ModelNotAvailableError(
                f"Could not load the {what} '{repo_id}' from the local Hub cache, and "
                f"{_no_hub_reason()}: {error}"
            ) from error
    try:
        return loader(repo_id, local_files_only=False)
    except (OSError, ValueError) as error:
        raise _hub_error(repo_id, error) or ModelNotAvailableError(
            f"Could not load the {what} '{repo_id}' from {_hub_name()} (the local Hub cache "
            f"holds only part of it): {error}"
        ) from error


def _hub_tokenizer(repo_id: str, local_files_only: bool) -> PreTrainedTokenizerBase:
    """AutoTokenizer, with a tokenizer built from missing files (1 token) counted as a failure."""
    tokenizer = AutoTokenizer.from_pretrained(repo_id, local_files_only=local_files_only)
    if len(tokenizer) < 2:
        raise OSError(f"its tokenizer files are missing ({len(tokenizer)} token)")
    return tokenizer


def _load_tokenizer_for(source: ModelSource) -> PreTrainedTokenizerBase:
    if source.kind in ("offline", "base"):  # both: GPT-2's tokenizer, a 128-token context
        return gpt2_tokenizer_from_package(OfflineModelConfig().n_positions)
    if source.kind == "local":
        tokenizer = _local_tokenizer(Path(source.location))
    else:
        # the tokenizer's files are often cached when the weights are not (and vice versa):
        # read the cache when they are all there, whatever the model's source; without a Hub
        # read it anyway (a clear error, not transformers' long retries, if it falls short)
        cache_only = _tokenizer_in_hub_cache(source.location) or not is_online()
        tokenizer = _from_hub(_hub_tokenizer, source, "tokenizer", cache_only)
    if len(tokenizer) < 2:
        raise ModelNotAvailableError(
            f"The tokenizer loaded from '{source.location}' is empty ({len(tokenizer)} tokens): "
            f"its files are incomplete. Save it again with tokenizer.save_pretrained()."
        )
    return ready_tokenizer(tokenizer)


def load_tokenizer(
    name_or_path: str | os.PathLike | None = None, *, allow_offline_fallback: bool | None = None
) -> PreTrainedTokenizerBase:
    """The tokenizer of the model :func:`load_model` would load for the same name.

    It downloads only the tokenizer's files, never the weights.
    """
    return _load_tokenizer_for(
        locate_model(name_or_path, allow_offline_fallback=allow_offline_fallback)
    )


def _load_model_for(source: ModelSource, seed: int) -> PreTrainedModel:
    if source.kind == "offline":
        config = OfflineModelConfig()
        print(offline_model_banner(source, config), file=sys.stderr)
        return build_offline_model(config, seed=seed)
    if source.kind == "base":
        from helpers.offline_model import load_base_model

        model = load_base_model()
        print(base_model_banner(source), file=sys.stderr)
        return model
    if source.kind == "local":
        _check_generation_config(Path(source.location))
        try:
            return AutoModelForCausalLM.from_pretrained(source.location, local_files_only=True)
        except SafetensorError as error:  # a truncated or damaged weights file
            names = ", ".join(sorted(p.name for p in Path(source.location).glob("*.safetensors")))
            raise ModelNotAvailableError(
                f"The weights file {names} in '{source.location}' is damaged or incomplete "
                f"(safetensors: {error}); a copy or a save was probably cut short. Copy the "
                f"folder again, or save the model there again (model.save_pretrained, or "
                f"train it again)."
            ) from error
        except (OSError, ValueError) as error:
            raise ModelNotAvailableError(
                f"Could not load the model '{source.location}' ({source.reason}): {error}"
            ) from error
    cache_only = source.kind == "hub-cache"
    return _from_hub(AutoModelForCausalLM.from_pretrained, source, "model", cache_only)


def _check_json(path: Path, why_and_fix: str) -> None:
    """A saved model's JSON file that cannot be read is an error that names it."""
    try:
        json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise ModelNotAvailableError(
            f"The {path.name} in '{path.parent}' cannot be read, it is not valid JSON "
            f"({error}): {why_and_fix}."
        ) from error


def _check_generation_config(folder: Path) -> None:
    """A ``generation_config.json`` that cannot be read is an error, not a silent default:
    ``from_pretrained`` would drop it, and the decoding settings saved there with it."""
    if (folder / "generation_config.json").is_file():
        _check_json(
            folder / "generation_config.json",
            "the decoding settings saved there would be lost. Fix the file, or delete it to "
            "decode with the defaults (save new ones with "
            "model.generation_config.save_pretrained(folder))",
        )


def _ready_model(model: PreTrainedModel, device: torch.device) -> PreTrainedModel:
    # transformers 5 warns "loss_type=None ... unrecognized" on every GPT-2 forward with
    # labels unless the loss is named; causal LM cross-entropy is what GPT-2 uses.
    model.loss_type = "ForCausalLM"
    if model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = model.config.eos_token_id
    return model.to(device).eval()


def load_model(
    name_or_path: str | os.PathLike | None = None,
    device: str | torch.device | None = None,
    *,
    allow_offline_fallback: bool | None = None,
    seed: int = 0,
) -> PreTrainedModel:
    """Load a causal language model in eval mode on ``device`` (default: the best one).

    ``seed`` only matters for ``gpt2lab-tiny``, whose weights are random.
    ``allow_offline_fallback``: see :func:`locate_model` (default: locally yes, on Colab no).
    """
    model, _ = load_model_and_tokenizer(
        name_or_path, device, allow_offline_fallback=allow_offline_fallback, seed=seed
    )
    return model


def load_model_and_tokenizer(
    name_or_path: str | os.PathLike | None = None,
    device: str | torch.device | None = None,
    *,
    allow_offline_fallback: bool | None = None,
    seed: int = 0,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load a model and its tokenizer, locating the model once for both."""
    source = locate_model(name_or_path, allow_offline_fallback=allow_offline_fallback)
    device = get_device(str(device)) if device is not None else get_device()
    tokenizer = _load_tokenizer_for(source)
    model = _ready_model(_load_model_for(source, seed), device)
    return model, tokenizer


def count_parameters(model: torch.nn.Module, trainable_only: bool = False) -> int:
    """Number of distinct parameters (a weight shared by two layers counts once)."""
    unique = {id(p): p for p in model.parameters() if p.requires_grad or not trainable_only}
    return sum(p.numel() for p in unique.values())


def save_model(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, directory: str | os.PathLike
) -> Path:
    """Save model (safetensors) and tokenizer into ``directory``, atomically.

    Everything is written to a temporary sibling folder first and then renamed into
    place, so an interruption never leaves a half-written model where a good one was.
    """
    target = Path(directory).expanduser().resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        follow_umask(staging)  # the folder and files as the umask says, not 0700 / 0600
        if target.exists():
            retired = target.with_name(f".{target.name}.old")
            shutil.rmtree(retired, ignore_errors=True)
            target.rename(retired)
            staging.rename(target)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target
