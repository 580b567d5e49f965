"""The front door: strings in, strings out, with the decoder the settings name.

:func:`generate_text` is what the notebooks, the CLI and the widgets call;
:func:`generate_continuations` also keeps the token ids; :func:`stream_text` yields the
text after every new token (the app); :func:`next_token_view` shows what the settings do
to one next-token distribution (plots and the playground).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from helpers.decoding.decoders import (
    beam_search,
    greedy,
    greedy_chooser,
    sample,
    sampler,
    token_steps,
)
from helpers.decoding.forward import CachedForward
from helpers.decoding.settings import DecodingSettings, make_settings
from helpers.decoding.transforms import apply_penalties, filter_top_k, transform_logits

if TYPE_CHECKING:  # transformers is imported where it is used: `python -m helpers` stays quick
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


def run_decoder(
    model: PreTrainedModel,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None,
    settings: DecodingSettings,
    eos_token_id: int | Sequence[int] | None = None,
) -> torch.Tensor:
    """Run the decoder ``settings.strategy`` names; returns prompt + continuation ids."""
    settings.validate()
    common = {"attention_mask": attention_mask, "eos_token_id": eos_token_id}
    penalties = {
        "repetition_penalty": settings.repetition_penalty,
        "no_repeat_ngram_size": settings.no_repeat_ngram_size,
    }
    if settings.strategy == "greedy":
        return greedy(model, input_ids, settings.max_new_tokens, **common, **penalties)
    if settings.strategy == "beam":
        return beam_search(
            model,
            input_ids,
            settings.max_new_tokens,
            settings.num_beams,
            length_penalty=settings.length_penalty,
            early_stopping=settings.early_stopping,
            num_return_sequences=settings.num_return_sequences,
            **common,
            **penalties,
        )
    copies = settings.num_return_sequences  # sampling: draw from each prompt n times
    if copies > 1:
        input_ids = input_ids.repeat_interleave(copies, dim=0)
        if attention_mask is not None:
            common["attention_mask"] = attention_mask.repeat_interleave(copies, dim=0)
    generator = None
    if settings.seed is not None:
        generator = torch.Generator(device=model.device).manual_seed(settings.seed)
    return sample(
        model,
        input_ids,
        settings.max_new_tokens,
        temperature=settings.temperature,
        top_k=settings.top_k,
        top_p=settings.top_p,
        generator=generator,
        **common,
        **penalties,
    )


def context_length(model: PreTrainedModel) -> int:
    """How many positions the model can attend to (GPT-2: ``n_positions``)."""
    config = model.config
    return int(getattr(config, "n_positions", None) or config.max_position_embeddings)


Prompts = str | Sequence[str] | Sequence[Sequence[int]]
"""One prompt as text, or a list of prompts, each as text or as the token ids to continue."""


def _is_prompt(prompt: Any) -> bool:
    """Text, or a list of token ids (kept ids: encoding their text again may merge them)."""
    if isinstance(prompt, str):
        return True
    is_list = isinstance(prompt, (list, tuple))
    return is_list and all(isinstance(i, int) and not isinstance(i, bool) for i in prompt)


def encode_prompts(
    tokenizer: PreTrainedTokenizerBase,
    prompts: Prompts,
    max_prompt_tokens: int,
    device: torch.device | str = "cpu",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids and attention mask of a left-padded batch of prompts.

    A prompt given as token ids is used as it is. An empty prompt starts from
    ``<|endoftext|>`` (what GPT-2 saw before every document); a prompt longer than
    ``max_prompt_tokens`` keeps its last tokens, with one warning.
    """
    if isinstance(prompts, str):
        prompts = [prompts]
    if not prompts or not all(_is_prompt(p) for p in prompts):
        raise ValueError(
            "prompts must be a string or a non-empty list of strings (or of token-id lists)."
        )
    for index, prompt in enumerate(prompts):
        if isinstance(prompt, str):
            try:
                prompt.encode("utf-8")
            except UnicodeEncodeError as error:
                raise ValueError(
                    f"prompt {index + 1} is not valid text: it holds {prompt[error.start]!r} at "
                    f"character {error.start + 1}, which is not a Unicode character (bytes "
                    f"that are not UTF-8, from a terminal or file in another encoding?). "
                    f"Give the prompt as UTF-8 text."
                ) from None
    start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    encoded = [
        (tokenizer(p)["input_ids"] if isinstance(p, str) else list(p)) or [start] for p in prompts
    ]
    too_long = [len(ids) for ids in encoded if len(ids) > max_prompt_tokens]
    if too_long:
        warnings.warn(
            f"{len(too_long)} prompt(s) longer than the {max_prompt_tokens} tokens that fit "
            f"(up to {max(too_long)} tokens): kept the last {max_prompt_tokens} tokens of each.",
            stacklevel=3,
        )
        encoded = [ids[-max_prompt_tokens:] for ids in encoded]
    width = max(len(ids) for ids in encoded)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else start
    input_ids = torch.tensor([[pad] * (width - len(ids)) + ids for ids in encoded])
    mask = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in encoded])
    return input_ids.to(device), mask.to(device)


def _prepared(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Prompts,
    strategy: str | DecodingSettings | None,
    settings: DecodingSettings | None,
    params: dict[str, Any],
) -> tuple[DecodingSettings, torch.Tensor, torch.Tensor]:
    """Checked settings and the encoded prompts, leaving room for the new tokens."""
    if isinstance(strategy, DecodingSettings):  # passed positionally: a natural slip
        settings, strategy = strategy, None
    if strategy is not None:
        params["strategy"] = strategy
    settings = make_settings(settings, **params)
    room = context_length(model) - settings.max_new_tokens
    if room < 1:
        raise ValueError(
            f"max_new_tokens={settings.max_new_tokens} leaves no room for the prompt in the "
            f"model's {context_length(model)}-token context: ask for fewer new tokens."
        )
    input_ids, mask = encode_prompts(tokenizer, prompts, room, device=model.device)
    return settings, input_ids, mask


@dataclass(frozen=True)
class Continuations:
    """What a decoder produced, per output row (grouped by prompt, like ``generate``).

    ``prompt_ids`` is the prompt the row continued (without padding); ``new_ids`` the
    tokens the decoder chose, up to its end-of-text (not included); ``texts`` those tokens
    as text. Keep the ids when scoring a continuation: encoding its text again can give
    other tokens than the ones chosen.
    """

    prompt_ids: list[list[int]]
    new_ids: list[list[int]]
    texts: list[str]


def generate_continuations(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Prompts,
    strategy: str | None = None,
    *,
    settings: DecodingSettings | None = None,
    **params: Any,
) -> Continuations:
    """:func:`generate_text`, keeping the token ids of each prompt and its continuation."""
    settings, input_ids, mask = _prepared(model, tokenizer, prompts, strategy, settings, params)
    eos = tokenizer.eos_token_id
    output = run_decoder(model, input_ids, mask, settings, eos_token_id=eos).cpu()
    width = input_ids.shape[1]
    per_prompt = output.shape[0] // input_ids.shape[0]
    prompt_rows = [
        ids[keep.bool()].tolist() for ids, keep in zip(input_ids.cpu(), mask.cpu(), strict=True)
    ]
    new_ids = []
    for row in output[:, width:].tolist():
        new_ids.append(row[: row.index(eos)] if eos is not None and eos in row else row)
    return Continuations(
        prompt_ids=[prompt_rows[r // per_prompt] for r in range(output.shape[0])],
        new_ids=new_ids,
        texts=tokenizer.batch_decode(output[:, width:], skip_special_tokens=True),
    )


def generate_text(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Prompts,
    strategy: str | None = None,
    *,
    settings: DecodingSettings | None = None,
    **params: Any,
) -> list[str]:
    """Continue each prompt with one of our decoders; returns the new text only.

    ``strategy`` and ``params`` (any :class:`DecodingSettings` field) override
    ``settings``. The result holds ``num_return_sequences`` strings per prompt, grouped by
    prompt. Bad parameters raise a ValueError that says which and what to use instead.
    """
    return generate_continuations(
        model, tokenizer, prompts, strategy, settings=settings, **params
    ).texts


def stream_text(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Prompts,
    strategy: str | None = None,
    *,
    settings: DecodingSettings | None = None,
    **params: Any,
) -> Iterator[list[str]]:
    """:func:`generate_text`, token by token: yields the texts so far after each new token.

    The last yield equals what :func:`generate_text` returns for the same settings and
    seed. Beam search keeps several hypotheses until the end, so it yields once.
    """
    settings, input_ids, mask = _prepared(model, tokenizer, prompts, strategy, settings, params)
    width = input_ids.shape[1]
    eos = tokenizer.eos_token_id
    if settings.strategy == "beam":
        output = run_decoder(model, input_ids, mask, settings, eos_token_id=eos)
        yield tokenizer.batch_decode(output[:, width:], skip_special_tokens=True)
        return
    if settings.samples:
        copies = settings.num_return_sequences
        input_ids = input_ids.repeat_interleave(copies, dim=0)
        mask = mask.repeat_interleave(copies, dim=0)
        generator = None
        if settings.seed is not None:
            generator = torch.Generator(device=model.device).manual_seed(settings.seed)
        choose = sampler(
            settings.temperature, settings.top_k, settings.top_p, settings.repetition_penalty,
            settings.no_repeat_ngram_size, generator,
        )  # fmt: skip
    else:
        choose = greedy_chooser(settings.repetition_penalty, settings.no_repeat_ngram_size)
    steps = token_steps(model, input_ids, settings.max_new_tokens, choose, mask, eos, None, True)
    for ids in steps:
        yield tokenizer.batch_decode(ids[:, width:], skip_special_tokens=True)


# --------------------------------------------------------------------------------------
# What the filters do to one distribution (for plots and the playground)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NextTokenView:
    """The next-token distribution after a prompt, before and after the settings' filters.

    ``model_probs``: the model's own softmax; ``scaled_probs``: after the penalties and the
    temperature; ``final_probs``: what the decoder draws from (or picks the maximum of);
    ``kept``: tokens still possible; ``kept_mass``: their share of ``scaled_probs``.
    """

    model_probs: torch.Tensor
    scaled_probs: torch.Tensor
    final_probs: torch.Tensor
    kept: torch.Tensor
    kept_mass: float


def next_token_view(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompt: str | Sequence[int],
    settings: DecodingSettings,
) -> NextTokenView:
    """Compute the :class:`NextTokenView` of ``prompt`` (text or token ids) under ``settings``.

    Sampling strategies apply :func:`transform_logits`; greedy keeps the single most likely
    token after the penalties, beam search the ``num_beams`` most likely (its first step,
    penalizing log-probabilities as it does).
    """
    settings.validate()
    prompts = [prompt] if not isinstance(prompt, str) else prompt
    input_ids, _ = encode_prompts(
        tokenizer, prompts, context_length(model) - 1, device=model.device
    )
    logits = CachedForward(model, None, *input_ids.shape, use_cache=False)(input_ids)
    if settings.samples:
        scaled = transform_logits(
            logits,
            input_ids,
            temperature=settings.temperature,
            repetition_penalty=settings.repetition_penalty,
            no_repeat_ngram_size=settings.no_repeat_ngram_size,
        )
        final = transform_logits(scaled, input_ids, top_k=settings.top_k, top_p=settings.top_p)
    else:
        # greedy penalizes the logits; beam search, their log-probabilities
        scores = torch.log_softmax(logits, dim=-1) if settings.strategy == "beam" else logits
        scaled = apply_penalties(
            scores, input_ids, settings.repetition_penalty, settings.no_repeat_ngram_size
        )
        if settings.strategy == "greedy":  # exactly one token, even among ties
            final = torch.full_like(scaled, -float("inf"))
            final.scatter_(1, scaled.argmax(-1, keepdim=True), 0.0)
        else:
            final = filter_top_k(scaled, settings.num_beams)
    scaled_probs = torch.softmax(scaled, dim=-1)[0]
    kept = torch.isfinite(final[0])
    return NextTokenView(
        model_probs=torch.softmax(logits, dim=-1)[0],
        scaled_probs=scaled_probs,
        final_probs=torch.softmax(final, dim=-1)[0],
        kept=kept,
        kept_mass=float(scaled_probs[kept].sum()),
    )
