"""Load GPT-2 and its tokenizer: from a folder, from the Hub, or offline.

:func:`~helpers.model_source.locate_model` decides where the model comes from (a folder,
the local Hub cache, the Hub, or an offline model); this module loads it from there,
turns the Hub's errors into clear ones, and saves a model with its tokenizer. A saved
folder loads through :func:`helpers.saved_weights.load_saved_model`, which refuses weights
that do not match the folder's ``config.json``. Offline,
GPT-2's real byte-level BPE tokenizer comes from OpenAI's files shipped in
``helpers/assets/gpt2_bpe``, so offline the course fine-tunes a pretrained model with
GPT-2's tokenizer, as it does on Colab.

The model and the tokenizer each load from the cache when *their* files are all cached
(the tokenizer is often cached without the weights); a cache-only load that fails goes to
the Hub when the Hub answers.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    GenerationConfig,
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
from helpers.environment import follow_umask, get_device, hub_endpoint, is_online
from helpers.hub_cache import _tokenizer_in_hub_cache
from helpers.model_source import (
    ModelSource,
    _check_json,
    _hub_name,
    _no_hub_reason,
    base_model_banner,
    locate_model,
    offline_model_banner,
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
from helpers.saved_weights import load_saved_model

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
            return load_saved_model(Path(source.location))
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


def _check_generation_config(folder: Path) -> None:
    """A ``generation_config.json`` that cannot be read is an error, not a silent default:
    ``from_pretrained`` would drop it, and the decoding settings saved there with it."""
    path = folder / "generation_config.json"
    if not path.is_file():
        return
    fix = (
        "Fix the file, or delete it to decode with the defaults (save new ones with "
        "model.generation_config.save_pretrained(folder))"
    )
    saved = _check_json(path, f"the decoding settings saved there would be lost. {fix}")
    where = f"The generation_config.json in '{folder}'"
    if not isinstance(saved, dict):
        raise ModelNotAvailableError(f"{where} holds no settings ({saved!r:.40}). {fix}.")
    try:  # the values' kinds too: a string where a number belongs fails deep in transformers
        GenerationConfig.from_dict(saved)
    except (TypeError, ValueError) as error:
        detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ModelNotAvailableError(
            f"{where} has a setting that cannot be used ({detail}). {fix}."
        ) from error


def _ready_model(model: PreTrainedModel, device: torch.device) -> PreTrainedModel:
    # transformers 5 warns "loss_type=None ... unrecognized" on every GPT-2 forward with
    # labels unless the loss is named; causal LM cross-entropy is what GPT-2 uses.
    model.loss_type = "ForCausalLM"
    if model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = model.config.eos_token_id
    return model.to(device).eval()


def _model_for(
    source: ModelSource, device: str | torch.device | None, seed: int
) -> PreTrainedModel:
    """The located model, ready on ``device`` (default: the best one), in eval mode."""
    device = get_device(str(device)) if device is not None else get_device()
    return _ready_model(_load_model_for(source, seed), device)


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
    source = locate_model(name_or_path, allow_offline_fallback=allow_offline_fallback)
    return _model_for(source, device, seed)


def load_model_and_tokenizer(
    name_or_path: str | os.PathLike | None = None,
    device: str | torch.device | None = None,
    *,
    allow_offline_fallback: bool | None = None,
    seed: int = 0,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load a model and its tokenizer, locating the model once for both."""
    source = locate_model(name_or_path, allow_offline_fallback=allow_offline_fallback)
    tokenizer = _load_tokenizer_for(source)
    return _model_for(source, device, seed), tokenizer


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
