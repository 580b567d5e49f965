"""What the course builds without a network: GPT-2's tokenizer and the offline model.

* GPT-2's real byte-level BPE tokenizer, from OpenAI's two files shipped in
  ``helpers/assets/gpt2_bpe`` (``encoder.json`` = vocabulary, ``vocab.bpe`` = merges).
* The **offline model**: a small GPT-2 (same class, same tokenizer) with random weights,
  shaped by :class:`OfflineModelConfig`. It is not pretrained GPT-2 and is never called so.

:mod:`helpers.modeling` decides when these are used; this module only builds them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from transformers import GPT2Config, GPT2LMHeadModel, GPT2TokenizerFast, PreTrainedTokenizerBase

OFFLINE_MODEL_NAME = "gpt2lab-tiny"
"""Name that selects the offline model on purpose (``GPT2LAB_MODEL=gpt2lab-tiny``)."""

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
