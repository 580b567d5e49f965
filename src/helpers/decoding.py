"""Decoding strategies written out: greedy search, beam search, sampling, logits transforms.

Each decoder is a short loop around one model call per new token. It reuses the keys and
values of earlier positions from a KV cache (transformers' ``DynamicCache``), decodes a
batch of left-padded prompts under an attention mask, stops a sequence at end-of-text and
pads it afterwards, exactly as ``model.generate`` does: the tests check that both give the
same tokens. The logits transforms (temperature, top-k, top-p, repetition penalty, n-gram
ban) are pure functions on a ``[batch, vocab]`` tensor. :func:`generate_text` is the front
door from strings to strings that the notebooks, the CLI and the widgets call.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:  # transformers is imported where it is used: `python -m helpers` stays quick
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

STRATEGIES = ("greedy", "beam", "sample", "top-k", "top-p")
"""Names accepted by :func:`generate_text`: top-k and top-p are sampling with that filter on."""

_NEG = -1.0e9
"""The score that takes a beam-search candidate out of the running (as ``generate`` uses)."""


# --------------------------------------------------------------------------------------
# Checking the parameters: one clear ValueError each
# --------------------------------------------------------------------------------------

_CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "max_new_tokens": (
        lambda v: isinstance(v, int) and v >= 1,
        "max_new_tokens must be a whole number >= 1 (got {v!r}): how many tokens to add.",
    ),
    "temperature": (
        lambda v: isinstance(v, (int, float)) and v > 0,
        "temperature must be > 0 (got {v!r}). Temperature 0 means always taking the most "
        "likely token: use the greedy strategy for that.",
    ),
    "top_k": (
        lambda v: isinstance(v, int) and v >= 0,
        "top_k must be a whole number >= 0 (got {v!r}): how many of the most likely tokens "
        "to keep, e.g. 50; 0 switches the filter off.",
    ),
    "top_p": (
        lambda v: isinstance(v, (int, float)) and 0 < v <= 1,
        "top_p must be in (0, 1] (got {v!r}): the probability mass to keep, e.g. 0.9; "
        "1.0 switches the filter off.",
    ),
    "repetition_penalty": (
        lambda v: isinstance(v, (int, float)) and v > 0,
        "repetition_penalty must be > 0 (got {v!r}): 1.0 is no penalty, 1.2 a usual one.",
    ),
    "no_repeat_ngram_size": (
        lambda v: isinstance(v, int) and v >= 0,
        "no_repeat_ngram_size must be a whole number >= 0 (got {v!r}): 0 is off, 3 bans "
        "repeating any 3 tokens in a row.",
    ),
    "num_beams": (
        lambda v: isinstance(v, int) and v >= 1,
        "num_beams must be a whole number >= 1 (got {v!r}): how many hypotheses to keep.",
    ),
    "num_return_sequences": (
        lambda v: isinstance(v, int) and v >= 1,
        "num_return_sequences must be a whole number >= 1 (got {v!r}).",
    ),
    "length_penalty": (
        lambda v: isinstance(v, (int, float)),
        "length_penalty must be a number (got {v!r}): 1.0 divides by the length, 0 not at all.",
    ),
    "early_stopping": (
        lambda v: v in (True, False, "never"),
        "early_stopping must be True, False or 'never' (got {v!r}).",
    ),
}


def check_parameters(**params: Any) -> None:
    """Raise a ValueError naming the first invalid decoding parameter and a valid value."""
    for name, value in params.items():
        valid, message = _CHECKS[name]
        if isinstance(value, bool) and name != "early_stopping" or not valid(value):
            raise ValueError(message.format(v=value))
    beams, returned = params.get("num_beams"), params.get("num_return_sequences")
    if beams is not None and returned is not None and returned > beams:
        raise ValueError(
            f"num_return_sequences ({returned}) cannot exceed num_beams ({beams}): beam search "
            f"keeps only num_beams finished hypotheses. Raise num_beams or return fewer."
        )


# --------------------------------------------------------------------------------------
# Logits transforms: pure functions on [batch, vocab] scores
# --------------------------------------------------------------------------------------


def apply_temperature(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    r"""Divide the logits by the temperature $T$: $p_i \propto \exp(z_i / T)$.

    $T < 1$ sharpens the distribution (towards greedy as $T \to 0$), $T > 1$ flattens it
    (towards uniform as $T \to \infty$); the order of the tokens never changes.
    """
    check_parameters(temperature=temperature)
    return logits / temperature


def filter_top_k(logits: torch.Tensor, top_k: int) -> torch.Tensor:
    r"""Keep the $k$ highest logits of each row, set the others to $-\infty$.

    With $z_{(k)}$ the $k$-th largest logit, token $i$ survives iff $z_i \ge z_{(k)}$, so
    tokens tied with the $k$-th one survive too. ``top_k=0`` keeps everything.
    """
    check_parameters(top_k=top_k)
    if top_k == 0:
        return logits
    kth_largest = torch.topk(logits, min(top_k, logits.shape[-1])).values[..., -1:]
    return logits.masked_fill(logits < kth_largest, -float("inf"))


def filter_top_p(logits: torch.Tensor, top_p: float) -> torch.Tensor:
    r"""Nucleus filter: keep the smallest set of most likely tokens whose mass reaches $p$.

    Sort the probabilities $p_{(1)} \ge p_{(2)} \ge \dots$; token $(j)$ is dropped iff it
    and every less likely token together hold at most $1 - p$:
    $\sum_{m \ge j} p_{(m)} \le 1 - p$. Equivalently, it is kept iff the tokens more likely
    than it hold less than $p$. The most likely token always stays. Summing from the tail,
    as here, is also what ``generate`` does, so ties and rounding fall the same way.
    """
    check_parameters(top_p=top_p)
    ascending, order = torch.sort(logits, descending=False)
    tail_mass = ascending.softmax(dim=-1).cumsum(dim=-1)  # mass of this token and all below
    drop_sorted = tail_mass <= 1 - top_p
    drop_sorted[..., -1] = False  # the most likely token is never dropped
    drop = drop_sorted.scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, -float("inf"))


def penalize_repetition(
    logits: torch.Tensor,
    previous_ids: torch.Tensor,
    penalty: float,
    attention_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""Make every token already in the sequence less likely (Keskar et al., 2019, CTRL).

    For each token $i$ that occurs in ``previous_ids`` (once or many times):
    $z_i \leftarrow z_i / \theta$ if $z_i > 0$, else $z_i \cdot \theta$, so $\theta > 1$
    always lowers it. Padding (``attention_mask == 0``) does not count as occurring.
    """
    check_parameters(repetition_penalty=penalty)
    vocab = logits.shape[-1]
    if attention_mask is not None:  # send padding to a spare column that is dropped below
        previous_ids = previous_ids.masked_fill(attention_mask == 0, vocab)
    padded = torch.nn.functional.pad(logits, (0, 1))
    seen = torch.gather(padded, 1, previous_ids.clamp(max=vocab))
    penalized = torch.where(seen < 0, seen * penalty, seen / penalty)
    return padded.scatter(1, previous_ids.clamp(max=vocab), penalized)[:, :vocab]


def ban_repeated_ngrams(
    logits: torch.Tensor, previous_ids: torch.Tensor, ngram_size: int
) -> torch.Tensor:
    r"""Forbid any token that would repeat an $n$-gram already in the sequence.

    With the last $n-1$ tokens $x_{t-n+2..t}$, every earlier position $s$ where
    $x_{s..s+n-2} = x_{t-n+2..t}$ bans the token that followed there, $x_{s+n-1}$, by
    setting its logit to $-\infty$. ``ngram_size=0`` bans nothing.
    """
    check_parameters(no_repeat_ngram_size=ngram_size)
    length = previous_ids.shape[-1]
    if ngram_size == 0 or length < ngram_size:
        return logits
    suffix = previous_ids[:, length - ngram_size + 1 :]  # the n-1 tokens an n-gram would extend
    windows = previous_ids.unfold(dimension=1, size=ngram_size, step=1)  # [batch, count, n]
    repeats = (windows[..., :-1] == suffix.unsqueeze(1)).all(dim=-1)  # [batch, count]
    vocab = logits.shape[-1]
    banned = torch.where(repeats, windows[..., -1].clamp(max=vocab), vocab)  # vocab = spare
    mask = torch.zeros(logits.shape[0], vocab + 1, dtype=torch.bool, device=logits.device)
    mask.scatter_(1, banned, True)
    return logits.masked_fill(mask[:, :vocab], -float("inf"))


def transform_logits(
    logits: torch.Tensor,
    previous_ids: torch.Tensor,
    *,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    repetition_penalty: float = 1.0,
    no_repeat_ngram_size: int = 0,
    attention_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """The sampling chain, in ``generate``'s order: penalties, then temperature, then filters.

    Each step is skipped at its neutral value (1.0, 0, 1.0, 1.0, 0), as ``generate`` does.
    """
    if repetition_penalty != 1.0:
        logits = penalize_repetition(logits, previous_ids, repetition_penalty, attention_mask)
    if no_repeat_ngram_size > 0:
        logits = ban_repeated_ngrams(logits, previous_ids, no_repeat_ngram_size)
    if temperature != 1.0:
        logits = apply_temperature(logits, temperature)
    if top_k != 0:
        logits = filter_top_k(logits, top_k)
    if top_p < 1.0:
        logits = filter_top_p(logits, top_p)
    return logits


# --------------------------------------------------------------------------------------
# The model step: one forward per new token, with a KV cache
# --------------------------------------------------------------------------------------


class CachedForward:
    """Next-token logits for growing sequences, computing each position only once.

    The first call runs the whole (left-padded) prompt and fills a ``DynamicCache`` with
    every layer's keys and values; each later call feeds only the newest token and lets
    attention read the earlier positions from the cache. Positions count real tokens only
    (padding gets position 0), so a padded prompt sees the same positions as unpadded.
    With ``use_cache=False`` every call recomputes the whole sequence (for comparison).
    """

    def __init__(
        self,
        model: PreTrainedModel,
        attention_mask: torch.Tensor | None,
        batch_size: int,
        prompt_length: int,
        use_cache: bool = True,
    ) -> None:
        from transformers import DynamicCache

        device = model.device
        if attention_mask is None:
            attention_mask = torch.ones(batch_size, prompt_length, dtype=torch.long, device=device)
        self.model = model
        self.mask = attention_mask.to(device)
        positions = self.mask.long().cumsum(-1) - 1
        self.positions = positions.masked_fill(self.mask == 0, 0)
        # an all-ones mask carries no information; generate drops it too (a faster path)
        self.needs_mask = not bool((self.mask == 1).all())
        self.cache = DynamicCache(config=model.config) if use_cache else None
        self.seen = 0  # how many positions the cache holds

    @torch.no_grad()
    def __call__(self, sequences: torch.Tensor) -> torch.Tensor:
        """Logits ``[rows, vocab]`` (float32) for the token after ``sequences`` ``[rows, t]``."""
        grow = sequences.shape[1] - self.positions.shape[1]
        if grow > 0:  # one more real token per row since the last call
            step = torch.arange(1, grow + 1, device=self.positions.device)
            self.positions = torch.cat([self.positions, self.positions[:, -1:] + step], dim=-1)
            self.mask = torch.cat([self.mask, self.mask.new_ones(self.mask.shape[0], grow)], -1)
        new = sequences[:, self.seen :] if self.cache is not None else sequences
        output = self.model(
            input_ids=new.to(self.model.device),
            attention_mask=self.mask if self.needs_mask else None,
            position_ids=self.positions[:, -new.shape[1] :],
            cache=self.cache,
            use_cache=self.cache is not None,
            logits_to_keep=1,  # only the last position's logits are needed
        )
        if self.cache is not None:
            self.seen = sequences.shape[1]
        return output.logits[:, -1].to(dtype=torch.float32, device=sequences.device)

    def reorder(self, rows: torch.Tensor) -> None:
        """Make row ``r`` continue from old row ``rows[r]`` (beam search swaps beams)."""
        if self.cache is not None:
            self.cache.reorder_cache(rows.to(self.model.device))
        self.mask, self.positions = self.mask[rows], self.positions[rows]


def _special_ids(
    model: PreTrainedModel, eos_token_id: int | Sequence[int] | None, pad_token_id: int | None
) -> tuple[torch.Tensor | None, int | None]:
    """End-of-text ids (the model's when not given, like generate) and the padding id."""
    if eos_token_id is None:
        eos_token_id = model.generation_config.eos_token_id
    if eos_token_id is None:
        return None, pad_token_id
    ids = [eos_token_id] if isinstance(eos_token_id, int) else list(eos_token_id)
    if not ids:
        return None, pad_token_id
    eos = torch.tensor(ids, dtype=torch.long)
    if pad_token_id is None:
        pad_token_id = model.generation_config.pad_token_id
    return eos, int(eos[0]) if pad_token_id is None else pad_token_id


def _check_batch(input_ids: torch.Tensor, attention_mask: torch.Tensor | None) -> None:
    if input_ids.ndim != 2 or input_ids.shape[1] == 0:
        raise ValueError(
            f"input_ids must be a [batch, length] tensor with length >= 1 (got shape "
            f"{tuple(input_ids.shape)}); start an empty prompt from the <|endoftext|> token."
        )
    if attention_mask is not None and attention_mask.shape != input_ids.shape:
        raise ValueError(
            f"attention_mask has shape {tuple(attention_mask.shape)} but input_ids has "
            f"{tuple(input_ids.shape)}: give one mask value per token."
        )
    if attention_mask is not None and bool((attention_mask[:, -1] == 0).any()):
        raise ValueError(
            "Padding found at the end of a prompt: decoder-only models need LEFT padding "
            "(tokenizer.padding_side = 'left'), so that every prompt ends at the last column."
        )


# --------------------------------------------------------------------------------------
# Token-by-token decoders: greedy and sampling
# --------------------------------------------------------------------------------------


def token_steps(
    model: PreTrainedModel,
    input_ids: torch.Tensor,
    max_new_tokens: int,
    choose: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
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
    _check_batch(input_ids, attention_mask)
    eos, pad = _special_ids(model, eos_token_id, pad_token_id)
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
    choose: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
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


def greedy(
    model: PreTrainedModel,
    input_ids: torch.Tensor,
    max_new_tokens: int,
    attention_mask: torch.Tensor | None = None,
    eos_token_id: int | Sequence[int] | None = None,
    *,
    pad_token_id: int | None = None,
    use_cache: bool = True,
) -> torch.Tensor:
    r"""Greedy search: always append the most likely token, $x_{t+1} = \arg\max_i z_i$.

    Returns prompt + continuation ``[batch, length]``, like ``model.generate``.
    ``eos_token_id`` defaults to the model's; finished rows are padded with
    ``pad_token_id`` (default: the model's pad id, else the first end-of-text id).
    """
    return token_by_token(
        model,
        input_ids,
        max_new_tokens,
        most_likely,
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
) -> Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None], torch.Tensor]:
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
    With ``num_beams=1`` it is greedy search (with the n-gram ban), as in ``generate``.
    """
    check_parameters(
        max_new_tokens=max_new_tokens,
        num_beams=num_beams,
        length_penalty=length_penalty,
        no_repeat_ngram_size=no_repeat_ngram_size,
        early_stopping=early_stopping,
        num_return_sequences=num_return_sequences,
    )
    _check_batch(input_ids, attention_mask)
    if num_beams == 1:

        def most_likely_new_ngram(
            logits: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor | None
        ):
            return torch.argmax(ban_repeated_ngrams(logits, ids, no_repeat_ngram_size), dim=-1)

        return token_by_token(
            model,
            input_ids,
            max_new_tokens,
            most_likely_new_ngram,
            attention_mask,
            eos_token_id,
            pad_token_id,
            use_cache,
        )

    eos, pad = _special_ids(model, eos_token_id, pad_token_id)
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
    running_scores[:, 1:] = _NEG

    # the pool of finished hypotheses: B per prompt, best first, padded to the full length
    pool = torch.full((batch, beams, full_length), fill, dtype=torch.long, device=device)
    pool_scores = torch.full((batch, beams), _NEG, device=device)
    pool_lengths = torch.zeros(batch, beams, dtype=torch.long, device=device)
    pool_is_real = torch.zeros(batch, beams, dtype=torch.bool, device=device)
    improvable = torch.ones(batch, dtype=torch.bool, device=device)  # can beams still win?
    rank = torch.arange(n_candidates, device=device)

    for step in range(max_new_tokens):
        new_length = step + 1
        flat_running = running.reshape(batch * beams, -1)
        log_probs = torch.log_softmax(forward(flat_running), dim=-1)
        log_probs = ban_repeated_ngrams(log_probs, flat_running, no_repeat_ngram_size)
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
        entry_scores = torch.where(enters, scores / (new_length**length_penalty), _NEG)
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
        alive_scores = scores + ends.float() * _NEG
        keep = torch.topk(alive_scores, beams).indices
        running, running_scores = _pick(candidates, keep), _pick(alive_scores, keep)
        parent = _pick(source_beam, keep)
        forward.reorder((parent + beams * torch.arange(batch, device=device)[:, None]).flatten())

        # 4. stop when no prompt can improve its pool (or its pool is full, with early stopping)
        best_length = max_new_tokens if early_stopping == "never" and length_penalty > 0 else None
        best_possible = running_scores[:, 0] / ((best_length or new_length) ** length_penalty)
        worst_pooled = torch.where(pool_is_real, pool_scores.min(-1, keepdim=True).values, _NEG)
        improvable &= (best_possible[:, None] > worst_pooled).any(dim=-1)
        if not bool(improvable.any()) or (early_stopping is True and bool(pool_is_real.all())):
            break

    chosen = pool[:, :num_return_sequences].reshape(batch * num_return_sequences, full_length)
    longest = int(pool_lengths[:, :num_return_sequences].max())
    return chosen[:, : prompt_length + longest]


# --------------------------------------------------------------------------------------
# The front door: settings in, text out
# --------------------------------------------------------------------------------------


@dataclass
class DecodingSettings:
    """Every decoding choice in one place; the CLI builds its flags from these fields."""

    strategy: str = field(
        default="greedy", metadata={"help": "how to choose tokens", "choices": STRATEGIES}
    )
    max_new_tokens: int = field(default=40, metadata={"help": "tokens to add to each prompt"})
    temperature: float = field(
        default=1.0, metadata={"help": "sampling: divide the logits by this (> 0)"}
    )
    top_k: int = field(default=0, metadata={"help": "sampling: keep the k likeliest (0: off)"})
    top_p: float = field(
        default=1.0, metadata={"help": "sampling: keep the smallest set with mass p (1: off)"}
    )
    repetition_penalty: float = field(
        default=1.0, metadata={"help": "sampling: > 1 makes tokens already used less likely"}
    )
    no_repeat_ngram_size: int = field(
        default=0, metadata={"help": "sampling, beam: never repeat an n-gram of this size"}
    )
    num_beams: int = field(default=4, metadata={"help": "beam: hypotheses kept"})
    length_penalty: float = field(
        default=1.0, metadata={"help": "beam: score = log p / length**this"}
    )
    early_stopping: bool = field(
        default=False, metadata={"help": "beam: stop once num_beams hypotheses ended"}
    )
    num_return_sequences: int = field(
        default=1, metadata={"help": "continuations per prompt (beam, sampling)"}
    )
    seed: int | None = field(default=None, metadata={"help": "sampling: random seed"})

    def validate(self) -> None:
        """Raise one clear ValueError for the first setting that cannot work."""
        if self.strategy not in STRATEGIES:
            raise ValueError(
                f"Unknown strategy {self.strategy!r}: choose one of {', '.join(STRATEGIES)}."
            )
        params = {k: v for k, v in asdict(self).items() if k in _CHECKS}
        if self.strategy != "beam":
            params.pop("num_beams")
        check_parameters(**params)
        if self.strategy == "top-k" and self.top_k == 0:
            raise ValueError(
                "The top-k strategy needs top_k >= 1 (e.g. 50); use 'sample' for plain sampling."
            )
        if self.strategy == "top-p" and self.top_p == 1.0:
            raise ValueError(
                "The top-p strategy needs top_p < 1 (e.g. 0.9); use 'sample' for plain sampling."
            )
        if self.seed is not None and (
            isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0
        ):
            raise ValueError(f"seed must be a whole number >= 0 or None (got {self.seed!r}).")
        if self.strategy == "greedy" and self.num_return_sequences > 1:
            raise ValueError(
                "Greedy search gives one continuation per prompt: set num_return_sequences=1, "
                "or use beam search or sampling for several."
            )

    @property
    def samples(self) -> bool:
        return self.strategy in ("sample", "top-k", "top-p")


def make_settings(settings: DecodingSettings | None = None, **params: Any) -> DecodingSettings:
    """``settings`` (default: the defaults) with ``params`` changed, checked."""
    known = {f.name for f in fields(DecodingSettings)}
    unknown = sorted(set(params) - known)
    if unknown:
        raise ValueError(
            f"Unknown decoding parameter(s) {', '.join(unknown)}: the parameters are "
            f"{', '.join(sorted(known))}."
        )
    settings = replace(settings or DecodingSettings(), **params)
    settings.validate()
    return settings


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
    if settings.strategy == "greedy":
        return greedy(model, input_ids, settings.max_new_tokens, **common)
    if settings.strategy == "beam":
        return beam_search(
            model,
            input_ids,
            settings.max_new_tokens,
            settings.num_beams,
            length_penalty=settings.length_penalty,
            no_repeat_ngram_size=settings.no_repeat_ngram_size,
            early_stopping=settings.early_stopping,
            num_return_sequences=settings.num_return_sequences,
            **common,
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
        repetition_penalty=settings.repetition_penalty,
        no_repeat_ngram_size=settings.no_repeat_ngram_size,
        generator=generator,
        **common,
    )


def generate_kwargs(settings: DecodingSettings) -> dict[str, Any]:
    """The same choices as arguments of ``model.generate`` (to compare it with ours).

    For sampling, call ``torch.manual_seed(settings.seed)`` before ``generate``: our
    sampler's seeded generator then draws the same numbers.
    """
    kwargs: dict[str, Any] = {"max_new_tokens": settings.max_new_tokens}
    if settings.strategy == "greedy":
        return {**kwargs, "do_sample": False, "num_beams": 1}
    if settings.strategy == "beam":
        names = ("num_beams", "length_penalty", "no_repeat_ngram_size", "early_stopping")
        return {**kwargs, "do_sample": False, **{n: getattr(settings, n) for n in names},
                "num_return_sequences": settings.num_return_sequences}  # fmt: skip
    names = ("temperature", "top_k", "top_p", "repetition_penalty", "no_repeat_ngram_size")
    return {**kwargs, "do_sample": True, **{n: getattr(settings, n) for n in names},
            "num_return_sequences": settings.num_return_sequences}  # fmt: skip


def context_length(model: PreTrainedModel) -> int:
    """How many positions the model can attend to (GPT-2: ``n_positions``)."""
    config = model.config
    return int(getattr(config, "n_positions", None) or config.max_position_embeddings)


def encode_prompts(
    tokenizer: PreTrainedTokenizerBase,
    prompts: str | Sequence[str],
    max_prompt_tokens: int,
    device: torch.device | str = "cpu",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids and attention mask of a left-padded batch of prompts.

    An empty prompt starts from ``<|endoftext|>`` (what GPT-2 saw before every document);
    a prompt longer than ``max_prompt_tokens`` keeps its last tokens, with one warning.
    """
    if isinstance(prompts, str):
        prompts = [prompts]
    if not prompts or not all(isinstance(p, str) for p in prompts):
        raise ValueError("prompts must be a string or a non-empty list of strings.")
    start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    encoded = [tokenizer(p)["input_ids"] or [start] for p in prompts]
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
    prompts: str | Sequence[str],
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
    prompts: str | Sequence[str],
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
    prompts: str | Sequence[str],
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
    prompts: str | Sequence[str],
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
        choose = most_likely
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
    prompt: str,
    settings: DecodingSettings,
) -> NextTokenView:
    """Compute the :class:`NextTokenView` of ``prompt`` under ``settings``.

    Sampling strategies apply :func:`transform_logits`; greedy keeps the single most likely
    token, beam search the ``num_beams`` most likely (its first step).
    """
    settings.validate()
    input_ids, _ = encode_prompts(tokenizer, prompt, context_length(model) - 1, device=model.device)
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
        scaled = logits
        if settings.strategy == "greedy":  # exactly one token, even among ties
            final = torch.full_like(logits, -float("inf"))
            final.scatter_(1, logits.argmax(-1, keepdim=True), 0.0)
        else:
            final = filter_top_k(logits, settings.num_beams)
    scaled_probs = torch.softmax(scaled, dim=-1)[0]
    kept = torch.isfinite(final[0])
    return NextTokenView(
        model_probs=torch.softmax(logits, dim=-1)[0],
        scaled_probs=scaled_probs,
        final_probs=torch.softmax(final, dim=-1)[0],
        kept=kept,
        kept_mass=float(scaled_probs[kept].sum()),
    )


# --------------------------------------------------------------------------------------
# Our settings <-> transformers' GenerationConfig (generation_config.json)
# --------------------------------------------------------------------------------------


def settings_to_generation_config(settings: DecodingSettings, base: Any = None) -> Any:
    """A ``GenerationConfig`` that makes ``generate`` / ``pipeline`` decode as ``settings``.

    ``base`` (e.g. ``model.generation_config``) keeps its special token ids.
    """
    from transformers import GenerationConfig

    config = GenerationConfig.from_dict(base.to_dict()) if base is not None else GenerationConfig()
    kwargs = generate_kwargs(settings)
    kwargs.pop("num_return_sequences", None)
    config.update(**kwargs)
    if not settings.samples:  # keep generate from warning about unused sampling knobs
        config.update(temperature=None, top_k=None, top_p=None)
    return config


def settings_from_generation_config(config: Any) -> DecodingSettings:
    """Our :class:`DecodingSettings` for what a ``GenerationConfig`` asks of ``generate``.

    Unset fields take our defaults; the strategy follows ``do_sample``, ``num_beams`` and
    the sampling filter in use.
    """
    defaults = DecodingSettings()

    def value(name: str, default: Any) -> Any:
        found = getattr(config, name, None)
        return default if found is None else found

    beams = value("num_beams", 1)
    if value("do_sample", False):
        top_k, top_p = value("top_k", 0), value("top_p", 1.0)
        strategy = "top-p" if top_p < 1.0 else "top-k" if top_k > 0 else "sample"
    else:
        strategy, top_k, top_p = ("beam" if beams > 1 else "greedy"), 0, 1.0
    settings = DecodingSettings(
        strategy=strategy,
        max_new_tokens=value("max_new_tokens", defaults.max_new_tokens),
        temperature=value("temperature", 1.0) if strategy not in ("greedy", "beam") else 1.0,
        top_k=top_k,
        top_p=top_p,
        repetition_penalty=value("repetition_penalty", 1.0),
        no_repeat_ngram_size=value("no_repeat_ngram_size", 0),
        num_beams=beams if beams > 1 else defaults.num_beams,
        length_penalty=value("length_penalty", 1.0),
        early_stopping=value("early_stopping", False),
    )
    settings.validate()
    return settings
