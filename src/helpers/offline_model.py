"""What the course has without a network: GPT-2's tokenizer and two small offline models.

* GPT-2's real byte-level BPE tokenizer, from OpenAI's two files shipped in
  ``helpers/assets/gpt2_bpe`` (``encoder.json`` = vocabulary, ``vocab.bpe`` = merges).
* The **offline base** ``gpt2lab-base``: a small GPT-2 (same class, same tokenizer)
  pretrained here on general English (:mod:`helpers.pretraining`), shipped in
  ``helpers/assets/base_model``; the default offline, so the course fine-tunes it.
* The **from-scratch model** ``gpt2lab-tiny``: a small GPT-2 with random weights, shaped
  by :class:`OfflineModelConfig`, for the from-scratch aside.

Neither is GPT-2, and neither is ever called so.

:mod:`helpers.model_source` decides when these are used; this module only builds them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from transformers import GPT2Config, GPT2LMHeadModel, GPT2TokenizerFast, PreTrainedTokenizerBase

OFFLINE_MODEL_NAME = "gpt2lab-tiny"
"""Name that selects the random, untrained offline model on purpose
(``GPT2LAB_MODEL=gpt2lab-tiny``): the from-scratch aside."""
BASE_MODEL_NAME = "gpt2lab-base"
"""Name of the shipped pretrained offline base (``GPT2LAB_MODEL=gpt2lab-base``), the
default offline: a small GPT-2 pretrained here on general English (not GPT-2)."""
BASE_MODEL_DIR = Path(__file__).resolve().parent / "assets" / "base_model"
"""Where the pretrained base is shipped (``python -m helpers pretrain-base`` writes it)."""

GPT2_VOCAB_SIZE = 50257


class ModelNotAvailableError(RuntimeError):
    """The requested model cannot be loaded; the message says why and what to do."""


@dataclass(frozen=True)
class OfflineModelConfig:
    """Shape of the offline model: GPT-2's architecture, shrunk to train on a CPU.

    2 layers x 128 wide x 4 heads with a 128-token context: about 13.3 M parameters, most
    of them in two 50,257 x 128 tables, the token embedding and the output layer. Unlike
    GPT-2 they are separate (``tie_word_embeddings=False``), so each can have its own
    learning rate, and the output layer starts at zero: every token equally likely.
    This shape won ``benchmarks/time_to_quality.py`` (the most learnt in 60 s on 2 CPU
    cores). GPT-2 small is 12 layers x 768 wide with a 1,024-token context (124 M).
    """

    n_layer: int = 2
    n_embd: int = 128
    n_head: int = 4
    n_positions: int = 128
    tie_word_embeddings: bool = False
    dropout: float = 0.0  # a minute of training sees the data about once: nothing to over-fit

    def to_gpt2_config(self) -> GPT2Config:
        eos_id = GPT2_VOCAB_SIZE - 1
        shape = asdict(self)
        dropout = shape.pop("dropout")
        return GPT2Config(
            vocab_size=GPT2_VOCAB_SIZE,
            bos_token_id=eos_id,
            eos_token_id=eos_id,
            resid_pdrop=dropout,
            embd_pdrop=dropout,
            attn_pdrop=dropout,
            **shape,
        )


GPT2_BPE_DIR = Path(__file__).resolve().parent / "assets" / "gpt2_bpe"
"""GPT-2's BPE files, shipped with the helpers (see the README there)."""


def gpt2_bpe_files() -> tuple[Path, Path]:
    """Paths of GPT-2's ``encoder.json`` (vocabulary) and ``vocab.bpe`` (ranked merges).

    OpenAI's files, shipped in ``helpers/assets/gpt2_bpe`` with their licence.
    """
    shipped = GPT2_BPE_DIR / "encoder.json", GPT2_BPE_DIR / "vocab.bpe"
    missing = [path.name for path in shipped if not path.is_file()]
    if missing:
        raise ModelNotAvailableError(
            f"GPT-2's tokenizer files {', '.join(missing)} are missing from {GPT2_BPE_DIR}: "
            f"restore them (`git checkout -- src/helpers/assets`) and reinstall the helpers "
            f"(`pip install -e .`)."
        )
    return shipped


def gpt2_tokenizer_from_package(model_max_length: int = 1024) -> PreTrainedTokenizerBase:
    """GPT-2's byte-level BPE tokenizer built from its files (:func:`gpt2_bpe_files`).

    ``encoder.json`` maps 50,257 tokens to ids (the vocabulary) and ``vocab.bpe`` lists
    the 50,000 merges in rank order.
    """
    vocab, merges = gpt2_bpe_files()
    # transformers 5: pass vocab=/merges=; vocab_file=/merges_file= are silently ignored.
    tokenizer = GPT2TokenizerFast(
        vocab=str(vocab), merges=str(merges), model_max_length=model_max_length
    )
    return ready_tokenizer(tokenizer)


def ready_tokenizer(tokenizer: PreTrainedTokenizerBase) -> PreTrainedTokenizerBase:
    """GPT-2 has no pad token: reuse end-of-text, the usual choice (masked out anyway)."""
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def build_offline_model(config: OfflineModelConfig | None = None, seed: int = 0) -> GPT2LMHeadModel:
    """A freshly initialised small GPT-2; the same ``seed`` gives the same weights.

    With untied embeddings the output layer starts at zero, so the untrained model gives
    every token the same probability, 1/50,257 (a loss of ln 50,257 = 10.8 nats).
    """
    config = config or OfflineModelConfig()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = GPT2LMHeadModel(config.to_gpt2_config())
    if not config.tie_word_embeddings:  # a separate output layer starts at zero
        with torch.no_grad():
            model.get_output_embeddings().weight.zero_()
    return model


class BaseModelMissingError(ModelNotAvailableError):
    """The shipped pretrained base is missing or damaged."""


def base_model_available() -> bool:
    """Is the pretrained base shipped (its config and weights present)?"""
    return (BASE_MODEL_DIR / "config.json").is_file() and (
        BASE_MODEL_DIR / "model.safetensors"
    ).is_file()


def load_base_model() -> GPT2LMHeadModel:
    """The shipped pretrained base, in fp32 (it is stored in 16-bit floats to halve its size)."""
    if not base_model_available():
        raise BaseModelMissingError(
            f"The pretrained base '{BASE_MODEL_NAME}' is not in {BASE_MODEL_DIR}: restore it "
            f"(`git checkout -- src/helpers/assets/base_model`), or build it again with "
            f"`python -m helpers pretrain-base --out {BASE_MODEL_DIR}`; or use the untrained "
            f"model on purpose (GPT2LAB_MODEL={OFFLINE_MODEL_NAME})."
        )
    try:
        return GPT2LMHeadModel.from_pretrained(
            BASE_MODEL_DIR, dtype=torch.float32, local_files_only=True
        )
    except Exception as error:  # a damaged file: say which and how to restore it
        raise BaseModelMissingError(
            f"The pretrained base in {BASE_MODEL_DIR} cannot be loaded ({error}): restore it "
            f"(`git checkout -- src/helpers/assets/base_model`)."
        ) from error


def base_model_facts() -> dict:
    """What the shipped base is: its shape, parameters, training steps, seconds, hardware
    and general-text validation loss, from ``pretraining.json`` (empty if absent)."""
    import json

    try:
        record = json.loads((BASE_MODEL_DIR / "pretraining.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    result, shape = record.get("result", {}), record.get("settings", {}).get("shape", {})
    return {
        "shape": shape,
        "parameters": result.get("parameters"),
        "steps": result.get("steps"),
        "train_seconds": result.get("train_seconds"),
        "hardware": result.get("hardware"),
        "general_val_loss": result.get("saved_validation", {}).get("val_loss"),
        "sources": [
            s["key"] for s in record.get("corpus", {}).get("manifest", {}).get("sources", [])
        ],
        "command": record.get("command"),
    }


def describe_base_model() -> str:
    """One sentence: what the shipped base is (from its record), honestly not GPT-2."""
    facts = base_model_facts()
    if not facts:
        return f"'{BASE_MODEL_NAME}': a small GPT-2 pretrained here on general English; not GPT-2"
    shape = facts["shape"]
    return (
        f"'{BASE_MODEL_NAME}': a small GPT-2 ({shape.get('n_layer')} layers x "
        f"{shape.get('n_embd')} wide, {facts['parameters'] / 1e6:.1f} M parameters), "
        f"pretrained here on public-domain English ({', '.join(facts['sources'])}) for "
        f"{facts['steps']:,} steps ({facts['train_seconds']:.0f} s on {facts['hardware']}); "
        f"not GPT-2"
    )
