"""The three decoders, written out: greedy search, sampling and beam search.

Each is a short loop around one model call per new token (:class:`CachedForward`, with a KV
cache). It decodes a batch of left-padded prompts under an attention mask, stops a
sequence at end-of-text and pads it afterwards, exactly as ``model.generate`` does, and
applies the same settings ``generate`` applies for that strategy: the penalties
(repetition, n-gram ban) for every decoder, the sampling filters for sampling only. The
tests check that both give the same tokens.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

import torch

from helpers.decoding.checks import check_parameters
from helpers.decoding.forward import CachedForward, check_batch, special_ids
from helpers.decoding.transforms import apply_penalties, transform_logits

if TYPE_CHECKING:  # transformers is imported where it is used: `python -m helpers` stays quick
    from transformers import PreTrainedModel

NEG = -1.0e9
"""The score that takes a beam-search candidate out of the running (as ``generate`` uses)."""

Choose = Callable[[torch.Tensor, torch.Tensor, "torch.Tensor | None"], torch.Tensor]
"""``choose(logits, ids, mask)``: the next token of each row (greedy's or sampling's rule)."""


# --------------------------------------------------------------------------------------
# Token-by-token decoders: greedy and sampling
# --------------------------------------------------------------------------------------


def token_steps(
    model: PreTrainedModel,
    input_ids: torch.Tensor,
    max_new_tokens: int,
    choose: Choose,
    attention_mask: torch.Tensor | None,
    eos_token_id: int | Sequence[int] | None,
    pad_token_id: int | None,
    use_cache: bool,
) -> Iterator[torch.Tensor]:
    """The loop shared by greedy and sampling: ``choose(logits, ids, mask)`` picks the tokens.

    Yields prompt + continuation ids after every new token (what streaming shows).

    A row that has produced end-of-text is finished: from then on it gets padding, and the
    loop stops as soon as every row is finished (or after ``max_new_tokens``).
    """
    check_parameters(max_new_tokens=max_new_tokens)
    check_batch(input_ids, attention_mask)
    eos, pad = special_ids(model, eos_token_id, pad_token_id)
    forward = CachedForward(model, attention_mask, *input_ids.shape, use_cache=use_cache)
    finished = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
    ids = input_ids
    for _ in range(max_new_tokens):
        logits = forward(ids)
        next_tokens = choose(logits, ids, forward.mask if forward.needs_mask else None)
        if eos is not None:
            next_tokens = torch.where(finished, pad, next_tokens)
            finished = finished | torch.isin(next_tokens, eos.to(ids.device))
        ids = torch.cat([ids, next_tokens[:, None]], dim=-1)
        yield ids
        if bool(finished.all()):
            break


def token_by_token(
    model: PreTrainedModel,
    input_ids: torch.Tensor,
    max_new_tokens: int,
    choose: Choose,
    attention_mask: torch.Tensor | None,
    eos_token_id: int | Sequence[int] | None,
    pad_token_id: int | None,
    use_cache: bool,
) -> torch.Tensor:
    """:func:`token_steps` run to the end: prompt + the whole continuation."""
    ids = input_ids
    steps = token_steps(
        model, input_ids, max_new_tokens, choose, attention_mask, eos_token_id,
        pad_token_id, use_cache,
    )  # fmt: skip
    for step in steps:
        ids = step
    return ids


def most_likely(
    logits: torch.Tensor, _ids: torch.Tensor, _mask: torch.Tensor | None
) -> torch.Tensor:
    """Greedy's choice: the index of the largest logit in each row."""
    return torch.argmax(logits, dim=-1)


def greedy_chooser(repetition_penalty: float = 1.0, no_repeat_ngram_size: int = 0) -> Choose:
    """Greedy's choice after the penalties: penalize the logits, then take the largest.

    ``generate`` applies the repetition penalty and the n-gram ban in greedy search too;
    at their neutral values (1.0, 0) this is :func:`most_likely`.
    """
    check_parameters(
        repetition_penalty=repetition_penalty, no_repeat_ngram_size=no_repeat_ngram_size
    )
    if repetition_penalty == 1.0 and no_repeat_ngram_size == 0:
        return most_likely

    def choose(logits: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor | None):
        logits = apply_penalties(logits, ids, repetition_penalty, no_repeat_ngram_size, mask)
        return most_likely(logits, ids, mask)

    return choose


def greedy(
    model: PreTrainedModel,
    input_ids: torch.Tensor,
    max_new_tokens: int,
    attention_mask: torch.Tensor | None = None,
    eos_token_id: int | Sequence[int] | None = None,
    *,
    repetition_penalty: float = 1.0,
    no_repeat_ngram_size: int = 0,
    pad_token_id: int | None = None,
    use_cache: bool = True,
) -> torch.Tensor:
    r"""Greedy search: always append the most likely token, $x_{t+1} = \arg\max_i z_i$.

    Returns prompt + continuation ``[batch, length]``, like ``model.generate``.
    ``eos_token_id`` defaults to the model's; finished rows are padded with
    ``pad_token_id`` (default: the model's pad id, else the first end-of-text id). The
    penalties (``repetition_penalty``, ``no_repeat_ngram_size``) change $z$ first, as in
    ``generate``.
    """
    return token_by_token(
        model,
        input_ids,
        max_new_tokens,
        greedy_chooser(repetition_penalty, no_repeat_ngram_size),
        attention_mask,
        eos_token_id,
        pad_token_id,
        use_cache,
    )


def sampler(
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    repetition_penalty: float = 1.0,
    no_repeat_ngram_size: int = 0,
    generator: torch.Generator | None = None,
) -> Choose:
    """Sampling's choice: transform the logits, then draw one token per row."""

    def draw(logits: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor | None):
        scores = transform_logits(
            logits,
            ids,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            repetition_penalty=repetition_penalty,
            no_repeat_ngram_size=no_repeat_ngram_size,
            attention_mask=mask,
        )
        probs = torch.softmax(scores, dim=-1)
        return torch.multinomial(probs, num_samples=1, generator=generator).squeeze(1)

    return draw


def sample(
    model: PreTrainedModel,
    input_ids: torch.Tensor,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    repetition_penalty: float = 1.0,
    no_repeat_ngram_size: int = 0,
    attention_mask: torch.Tensor | None = None,
    eos_token_id: int | Sequence[int] | None = None,
    generator: torch.Generator | None = None,
    *,
    pad_token_id: int | None = None,
    use_cache: bool = True,
) -> torch.Tensor:
    r"""Sampling: draw each token from the transformed distribution $\mathrm{softmax}(z')$.

    $z'$ is the logits after :func:`transform_logits` (penalties, temperature, top-k,
    top-p). With ``generator=None`` the draws come from torch's global generator, so
    ``torch.manual_seed(s)`` before this call and before ``generate(do_sample=True)`` gives
    both the same tokens.
    """
    check_parameters(
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
        repetition_penalty=repetition_penalty,
        no_repeat_ngram_size=no_repeat_ngram_size,
    )

    draw = sampler(temperature, top_k, top_p, repetition_penalty, no_repeat_ngram_size, generator)
    return token_by_token(
        model,
        input_ids,
        max_new_tokens,
        draw,
        attention_mask,
        eos_token_id,
        pad_token_id,
        use_cache,
    )


# --------------------------------------------------------------------------------------
# Beam search
# --------------------------------------------------------------------------------------


def _pick(values: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``values[b, index[b, j], ...]`` for every prompt ``b``: select beams or candidates."""
    while index.ndim < values.ndim:
        index = index[..., None]
    return torch.take_along_dim(values, index, dim=1)


def beam_search(
    model: PreTrainedModel,
    input_ids: torch.Tensor,
    max_new_tokens: int,
    num_beams: int,
    length_penalty: float = 1.0,
    no_repeat_ngram_size: int = 0,
    early_stopping: bool | str = False,
    num_return_sequences: int = 1,
    attention_mask: torch.Tensor | None = None,
    eos_token_id: int | Sequence[int] | None = None,
    *,
    repetition_penalty: float = 1.0,
    pad_token_id: int | None = None,
    use_cache: bool = True,
) -> torch.Tensor:
    r"""Beam search: follow the ``num_beams`` most likely partial sequences at once.

    A hypothesis $y$ scores $\log p(y \mid x) = \sum_t \log p(y_t \mid x, y_{<t})$. Each
    step extends every running beam by every token, keeps the best $2B$ candidates, moves
    those that end (end-of-text, or the length limit) among the top $B$ into a pool of
    finished hypotheses scored $\log p(y \mid x) / |y|^{\alpha}$ ($\alpha$ =
    ``length_penalty``, $|y|$ = new tokens), and continues with the best $B$ that did not
    end. It stops when no running beam can beat the pool's worst (``early_stopping=False``:
    judged at the current length; ``"never"``: at the longest possible), or as soon as the
    pool holds $B$ hypotheses (``True``). Returns the best ``num_return_sequences``
    hypotheses per prompt, prompt included, ``[batch * num_return_sequences, length]``.
    The penalties (``repetition_penalty``, ``no_repeat_ngram_size``) change the
    log-probabilities of each step before the candidates are ranked, as in ``generate``.
    With ``num_beams=1`` it is greedy search (with the penalties), as in ``generate``.
    """
    check_parameters(
        max_new_tokens=max_new_tokens,
        num_beams=num_beams,
        length_penalty=length_penalty,
        no_repeat_ngram_size=no_repeat_ngram_size,
        repetition_penalty=repetition_penalty,
        early_stopping=early_stopping,
        num_return_sequences=num_return_sequences,
    )
    check_batch(input_ids, attention_mask)
    if num_beams == 1:
        return greedy(
            model, input_ids, max_new_tokens, attention_mask, eos_token_id,
            repetition_penalty=repetition_penalty, no_repeat_ngram_size=no_repeat_ngram_size,
            pad_token_id=pad_token_id, use_cache=use_cache,
        )  # fmt: skip

    eos, pad = special_ids(model, eos_token_id, pad_token_id)
    batch, prompt_length = input_ids.shape
    beams, device = num_beams, input_ids.device
    n_candidates = max(2, 1 + (0 if eos is None else len(eos))) * beams  # B survive any ending
    full_length = prompt_length + max_new_tokens
    fill = pad if pad is not None else -1

    # every prompt becomes `beams` identical rows; only the first one starts "alive", or the
    # copies would all propose the same tokens
    rows = input_ids.repeat_interleave(beams, dim=0)
    mask = None if attention_mask is None else attention_mask.repeat_interleave(beams, dim=0)
    forward = CachedForward(model, mask, *rows.shape, use_cache=use_cache)
    running = rows.view(batch, beams, prompt_length)
    running_scores = torch.zeros(batch, beams, device=device)
    running_scores[:, 1:] = NEG

    # the pool of finished hypotheses: B per prompt, best first, padded to the full length
    pool = torch.full((batch, beams, full_length), fill, dtype=torch.long, device=device)
    pool_scores = torch.full((batch, beams), NEG, device=device)
    pool_lengths = torch.zeros(batch, beams, dtype=torch.long, device=device)
    pool_is_real = torch.zeros(batch, beams, dtype=torch.bool, device=device)
    improvable = torch.ones(batch, dtype=torch.bool, device=device)  # can beams still win?
    rank = torch.arange(n_candidates, device=device)

    for step in range(max_new_tokens):
        new_length = step + 1
        flat_running = running.reshape(batch * beams, -1)
        log_probs = torch.log_softmax(forward(flat_running), dim=-1)
        seen = forward.mask if forward.needs_mask else None  # padding is not text
        log_probs = apply_penalties(
            log_probs, flat_running, repetition_penalty, no_repeat_ngram_size, seen
        )
        vocab = log_probs.shape[-1]

        # 1. extend: every beam x every token; keep the best candidates of each prompt
        totals = running_scores[:, :, None] + log_probs.view(batch, beams, vocab)
        scores, flat_index = torch.topk(totals.view(batch, beams * vocab), n_candidates)
        source_beam, token = flat_index // vocab, flat_index % vocab
        candidates = torch.cat([_pick(running, source_beam), token[..., None]], dim=-1)
        ends = torch.full_like(token, new_length == max_new_tokens, dtype=torch.bool)
        if eos is not None:
            ends |= torch.isin(token, eos.to(device))

        # 2. ended candidates among the top B enter the pool, scored per length
        pool_closed = pool_is_real.all(dim=-1) & (early_stopping is True)
        enters = ends & (rank < beams) & improvable[:, None] & ~pool_closed[:, None]
        entry_scores = torch.where(enters, scores / (new_length**length_penalty), NEG)
        padded = torch.nn.functional.pad(
            candidates, (0, full_length - candidates.shape[-1]), value=fill
        )
        best = torch.topk(torch.cat([pool_scores, entry_scores], dim=1), beams).indices
        pool = _pick(torch.cat([pool, padded], dim=1), best)
        pool_scores = _pick(torch.cat([pool_scores, entry_scores], dim=1), best)
        entry_lengths = torch.full_like(token, new_length)
        pool_lengths = _pick(torch.cat([pool_lengths, entry_lengths], dim=1), best)
        pool_is_real = _pick(torch.cat([pool_is_real, enters], dim=1), best)

        # 3. continue with the best B candidates that did not end
        alive_scores = scores + ends.float() * NEG
        keep = torch.topk(alive_scores, beams).indices
        running, running_scores = _pick(candidates, keep), _pick(alive_scores, keep)
        parent = _pick(source_beam, keep)
        forward.reorder((parent + beams * torch.arange(batch, device=device)[:, None]).flatten())

        # 4. stop when no prompt can improve its pool (or its pool is full, with early stopping)
        best_length = max_new_tokens if early_stopping == "never" and length_penalty > 0 else None
        best_possible = running_scores[:, 0] / ((best_length or new_length) ** length_penalty)
        worst_pooled = torch.where(pool_is_real, pool_scores.min(-1, keepdim=True).values, NEG)
        improvable &= (best_possible[:, None] > worst_pooled).any(dim=-1)
        if not bool(improvable.any()) or (early_stopping is True and bool(pool_is_real.all())):
            break

    chosen = pool[:, :num_return_sequences].reshape(batch * num_return_sequences, full_length)
    longest = int(pool_lengths[:, :num_return_sequences].max())
    return chosen[:, : prompt_length + longest]
