"""Is a Hub model in the local cache? The checks :mod:`helpers.model_source` and
:mod:`helpers.modeling` make first.

A model counts as cached only when its ``config.json`` *and* its weights are (one file, or
a sharded index and every shard): loading a tokenizer caches ``config.json`` and the
tokenizer files but no weights. The tokenizer has its own check, so loading it never
needs the weights.
"""

from __future__ import annotations

import json
from pathlib import Path

from helpers.offline_model import ModelNotAvailableError

WEIGHTS_FILES = ("model.safetensors", "pytorch_model.bin")
WEIGHTS_INDEX_FILES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")


def _cached_file(repo_id: str, filename: str) -> str | None:
    """The path of ``filename`` of Hub repo ``repo_id`` in the local Hub cache, else None."""
    from huggingface_hub import try_to_load_from_cache
    from huggingface_hub.errors import HFValidationError

    try:
        found = try_to_load_from_cache(repo_id, filename)
    except HFValidationError as error:
        raise ModelNotAvailableError(
            f"'{repo_id}' is neither an existing folder nor a valid Hub model name "
            f"(such as 'gpt2' or 'distilgpt2'). Check the spelling, or pass the folder "
            f"that save_pretrained wrote."
        ) from error
    return found if isinstance(found, str) else None  # not a str: absent, or known missing


def _weights_in_hub_cache(repo_id: str) -> bool:
    """Are the model's weights cached: one file, or a sharded index and all its shards?"""
    if any(_cached_file(repo_id, name) for name in WEIGHTS_FILES):
        return True
    for index_name in WEIGHTS_INDEX_FILES:
        index = _cached_file(repo_id, index_name)
        if index is None:
            continue
        try:
            shards = set(json.loads(Path(index).read_text(encoding="utf-8"))["weight_map"].values())
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue
        if shards and all(_cached_file(repo_id, str(shard)) for shard in shards):
            return True
    return False


def _in_hub_cache(repo_id: str) -> bool:
    """Is the model in the local Hub cache: its config.json *and* all its weights?

    ``AutoTokenizer.from_pretrained`` caches config.json with the tokenizer files but no
    weights, so config.json alone does not make a model cached.
    """
    return _cached_file(repo_id, "config.json") is not None and _weights_in_hub_cache(repo_id)


def _tokenizer_in_hub_cache(repo_id: str) -> bool:
    """Is the tokenizer cached: tokenizer.json (or vocab.json + merges.txt), and a config?"""
    has_vocabulary = _cached_file(repo_id, "tokenizer.json") is not None or (
        _cached_file(repo_id, "vocab.json") is not None
        and _cached_file(repo_id, "merges.txt") is not None
    )
    knows_its_class = any(
        _cached_file(repo_id, name) for name in ("tokenizer_config.json", "config.json")
    )
    return has_vocabulary and knows_its_class
