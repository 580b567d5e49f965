"""Perplexity, computed correctly: sliding windows, every token scored exactly once.

For a text of tokens :math:`x_1 \\dots x_N`, perplexity is

.. math:: \\mathrm{PPL} = \\exp\\Big(-\\frac{1}{N-1} \\sum_{t=2}^{N} \\log p(x_t \\mid x_{<t})\\Big)

(the first token has no context and is not scored). A model sees at most ``max_length``
tokens at once, so a long text is read in windows that start every ``stride`` tokens;
each window scores only the tokens that no earlier window scored, with the tokens before
them as context (the overlap). A window never scores its own first token: that token has
no context inside the window (the bug of the classic recipe when ``stride == max_length``).
``stride == max_length`` is fastest, with the least context; ``stride == 1`` gives every
token its longest allowed context, at one forward pass per token. The losses are summed
over tokens and divided by the number of scored tokens once, over all texts: a corpus
perplexity, not an average of per-text or per-window perplexities.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from helpers.output_layer import position_losses

IGNORE_INDEX = -100  # label value that cross-entropy skips


class PerplexityError(ValueError):
    """Bad input to a perplexity computation; the message says what to change."""


@dataclass(frozen=True)
class PerplexityResult:
    perplexity: float
    mean_nll: float  # nats per scored token
    tokens: int  # tokens scored
    characters: int
    bits_per_character: float

    def __str__(self) -> str:
        return (
            f"perplexity {self.perplexity:.2f} (mean NLL {self.mean_nll:.4f} nats over "
            f"{self.tokens:,} tokens; {self.bits_per_character:.3f} bits per character)"
        )


@dataclass(frozen=True)
class Window:
    """One forward pass over ``input_ids[begin:end]``, scoring from ``first_scored`` on."""

    text_index: int
    begin: int
    end: int
    first_scored: int


def sliding_windows(
    num_tokens: int, max_length: int, stride: int, first_scored: int = 1
) -> list[tuple[int, int, int]]:
    """``(begin, end, first_scored)`` of each window over a text of ``num_tokens`` tokens.

    Window k starts at ``k * stride`` (or earlier: at least one token before the first token
    it scores, which would otherwise have no context), ends ``max_length`` tokens later or at
    the text's end, and scores the tokens that no earlier window scored.
    """
    windows = []
    scored_until = max(1, first_scored)  # token 0 has no context; a given context is not scored
    begin = 0
    while scored_until < num_tokens:
        begin = min(begin, scored_until - 1)
        end = min(begin + max_length, num_tokens)
        if end > scored_until:
            windows.append((begin, end, scored_until))
            scored_until = end
        begin += stride
    return windows


def _check_texts(texts: Sequence[str]) -> None:
    if isinstance(texts, str):
        raise PerplexityError("Pass a list of texts, e.g. [text], not a single string.")
    if not texts or all(not text.strip() for text in texts):
        raise PerplexityError("There is no text to score: the list is empty or all blank.")


def _check_windows(max_length: int, stride: int, context: int) -> None:
    if not 2 <= max_length <= context:
        raise PerplexityError(
            f"max_length={max_length} must be between 2 and the model's context ({context})."
        )
    if not 1 <= stride <= max_length:
        raise PerplexityError(
            f"stride={stride} must be between 1 and max_length={max_length}: a stride "
            f"above max_length would skip tokens, and it must move forward."
        )


@contextmanager
def _eval_mode(model: PreTrainedModel) -> Iterator[None]:
    """Score without dropout, then leave the model in the mode it was in."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def _context_length(model: PreTrainedModel) -> int:
    return int(model.config.max_position_embeddings)  # GPT-2 calls it n_positions


def perplexity(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    max_length: int | None = None,
    stride: int | None = None,
    batch_size: int = 8,
    contexts: Sequence[str] | None = None,
) -> PerplexityResult:
    """Corpus perplexity of ``texts`` under ``model`` with sliding windows.

    ``max_length`` defaults to the model's context, ``stride`` to half of ``max_length``.
    Windows of all texts are batched together (right-padded), so many short texts cost
    a few forward passes, not one each. ``contexts`` (one per text, e.g. the prompts of
    generated continuations) are read before each text but not scored.
    """
    _check_texts(texts)
    context = _context_length(model)
    _check_windows(
        context if max_length is None else max_length, 1 if stride is None else stride, context
    )
    if contexts is not None and len(contexts) != len(texts):
        raise PerplexityError(
            f"Give one context per text: {len(contexts)} contexts for {len(texts)} texts."
        )
    kept = [i for i, text in enumerate(texts) if text.strip()]
    prefixes = [
        tokenizer(contexts[i], verbose=False)["input_ids"] if contexts is not None else []
        for i in kept
    ]
    encoded = [tokenizer(texts[i], verbose=False)["input_ids"] for i in kept]
    for ids, prefix, i in zip(encoded, prefixes, kept, strict=True):
        if not prefix and len(ids) < 2:
            raise PerplexityError(
                f"The text {texts[i][:40]!r} has {len(ids)} token: perplexity needs at least 2 "
                f"(the first token has no context to be predicted from)."
            )
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    return token_perplexity(
        model,
        encoded,
        characters=sum(len(texts[i]) for i in kept),
        max_length=max_length,
        stride=stride,
        batch_size=batch_size,
        contexts=prefixes if contexts is not None else None,
        pad_token_id=pad,
    )


def plain_output_layer(model: torch.nn.Module) -> torch.nn.Linear | None:
    """The model's output layer if its logits are just that linear map of the final hidden
    states of ``model.base_model`` (GPT-2's), else None. Such a layer can be applied to
    the positions that need it only (here: those scored; in training: chunk by chunk)."""
    get_head = getattr(model, "get_output_embeddings", None)
    head = get_head() if get_head is not None else None
    plain = (
        isinstance(head, torch.nn.Linear)
        and getattr(model, "base_model", model) is not model
        and not getattr(model.config, "final_logit_softcapping", None)
    )
    return head if plain else None


SCORING_CHUNK = 256
"""Positions per output-layer product: their logits are 256 x 50,257 floats (51 MB), where
a whole batch's would be 8 windows x 1,024 positions x 50,257 (1.6 GB for GPT-2). Scoring
only what is needed matters more than this size: ``benchmarks/scoring.py`` times both."""


@torch.no_grad()
def token_losses(
    model: PreTrainedModel,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None,
    labels: torch.Tensor,
) -> torch.Tensor:
    """Next-token loss (nats, float32) at each position, 0 where the label is ``IGNORE_INDEX``.

    Position j predicts token j + 1, so ``labels`` are shifted once, here: the result is
    ``(batch, length - 1)``. The output layer, a product with all 50,257 token vectors and
    most of a small model's arithmetic, is applied only to the scored positions, a chunk
    at a time: with the default stride half of each window is context, so this halves the
    work and never holds the logits of a whole batch. The log-softmax is taken as in
    training, by vocabulary tiles on a CPU in fp32 (``helpers/output_layer.py``). Models
    whose logits are not a plain linear layer of the final hidden states fall back to
    their full logits.
    """
    targets = labels[:, 1:]
    scored = targets != IGNORE_INDEX
    losses = torch.zeros(targets.shape, dtype=torch.float32, device=input_ids.device)
    head = plain_output_layer(model)
    if head is not None:
        hidden = model.base_model(
            input_ids=input_ids, attention_mask=attention_mask, use_cache=False
        )
        rows, wanted = hidden.last_hidden_state[:, :-1][scored], targets[scored]
        chunk = SCORING_CHUNK  # read here: benchmarks/scoring.py varies it
        losses[scored] = position_losses(rows, head.weight, wanted, chunk, head.bias)
        return losses
    logits = model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits
    losses[scored] = torch.nn.functional.cross_entropy(
        logits[:, :-1].float()[scored], targets[scored], reduction="none"
    )
    return losses


def scored_nll(
    model: PreTrainedModel,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None,
    labels: torch.Tensor,
) -> float:
    """Summed next-token loss (nats) of the positions whose label is not ``IGNORE_INDEX``."""
    return float(token_losses(model, input_ids, attention_mask, labels).double().sum())


@torch.no_grad()
def token_perplexity(
    model: PreTrainedModel,
    token_ids: Sequence[Sequence[int]],
    characters: int,
    max_length: int | None = None,
    stride: int | None = None,
    batch_size: int = 8,
    contexts: Sequence[Sequence[int]] | None = None,
    pad_token_id: int = 0,
) -> PerplexityResult:
    """:func:`perplexity` of token sequences that are already ids, e.g. generated ones.

    Scoring the ids a decoder produced, rather than its decoded text encoded again, scores
    exactly the choices it made: decoding and re-encoding can merge tokens (two ``"\\n"``
    become one ``"\\n\\n"``), and the merged tokens may be ones the model never chose.
    ``characters`` (of the scored text) turns the loss into bits per character.
    ``contexts`` (ids, one sequence per text) are read before each text, not scored.
    """
    context = _context_length(model)
    max_length = context if max_length is None else max_length
    stride = max(1, max_length // 2) if stride is None else stride
    _check_windows(max_length, stride, context)
    if contexts is not None and len(contexts) != len(token_ids):
        raise PerplexityError(
            f"Give one context per text: {len(contexts)} contexts for {len(token_ids)} texts."
        )
    prefixes = [list(c) for c in contexts] if contexts is not None else [[]] * len(token_ids)
    encoded = [prefix + list(ids) for prefix, ids in zip(prefixes, token_ids, strict=True)]
    if not any(len(ids) > max(1, len(p)) for ids, p in zip(encoded, prefixes, strict=True)):
        raise PerplexityError(
            "There is no token to score: every sequence is empty, or a single token without "
            "context."
        )
    if characters < 1:
        raise PerplexityError(f"characters={characters}: the scored text must have some.")
    windows = [
        Window(i, begin, end, first)
        for i, (ids, prefix) in enumerate(zip(encoded, prefixes, strict=True))
        for begin, end, first in sliding_windows(len(ids), max_length, stride, len(prefix))
    ]
    windows.sort(key=lambda w: w.end - w.begin)  # similar lengths together: little padding
    device = model.device
    total_nll, total_tokens = 0.0, 0
    with _eval_mode(model):
        for start in range(0, len(windows), batch_size):
            batch = windows[start : start + batch_size]
            width = max(w.end - w.begin for w in batch)
            input_ids = torch.full((len(batch), width), pad_token_id, dtype=torch.long)
            labels = torch.full((len(batch), width), IGNORE_INDEX, dtype=torch.long)
            attention = torch.zeros((len(batch), width), dtype=torch.long)
            for row, w in enumerate(batch):
                ids = torch.tensor(encoded[w.text_index][w.begin : w.end])
                input_ids[row, : len(ids)] = ids
                attention[row, : len(ids)] = 1
                scored = w.first_scored - w.begin
                labels[row, scored : len(ids)] = ids[scored:]
            total_nll += scored_nll(
                model, input_ids.to(device), attention.to(device), labels.to(device)
            )
            total_tokens += int((labels[:, 1:] != IGNORE_INDEX).sum())
    mean_nll = total_nll / total_tokens
    return PerplexityResult(
        perplexity=math.exp(mean_nll),
        mean_nll=mean_nll,
        tokens=total_tokens,
        characters=characters,
        bits_per_character=total_nll / math.log(2) / characters,
    )


@dataclass(frozen=True)
class NaivePerplexityResult:
    mean_of_perplexities: float
    per_text: list[float]
    truncated_texts: int


@torch.no_grad()
def naive_perplexity(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, texts: Sequence[str]
) -> NaivePerplexityResult:
    """The common snippet, kept to show its two flaws; do not use it to report results.

    ``exp(model(ids, labels=ids).loss)`` per text: a text longer than the context must be
    cut (the rest is silently ignored), and averaging per-text perplexities weighs a
    5-token text like a 5,000-token one, and averages exponentials, which is not the
    perplexity of the corpus.
    """
    context = _context_length(model)
    _check_texts(texts)
    per_text, truncated = [], 0
    with _eval_mode(model):
        for text in (t for t in texts if t.strip()):
            ids = tokenizer(text, return_tensors="pt", verbose=False)["input_ids"]
            if ids.shape[1] > context:
                ids, truncated = ids[:, :context], truncated + 1
            if ids.shape[1] < 2:
                raise PerplexityError(f"The text {text[:40]!r} has fewer than 2 tokens.")
            ids = ids.to(model.device)
            per_text.append(math.exp(model(ids, labels=ids).loss.item()))
    return NaivePerplexityResult(sum(per_text) / len(per_text), per_text, truncated)


@torch.no_grad()
def loss_by_context(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    max_length: int | None = None,
    batch_size: int = 8,
) -> list[float]:
    """Mean loss (nats) of a token given ``k`` tokens of context, for k = 1 … max_length − 1.

    The texts are cut into non-overlapping windows of ``max_length`` tokens; position k
    of every window predicts its token from the k tokens before it. A curve that keeps
    falling means the model uses long context (and a smaller stride will help it); a
    flat tail means extra context buys nothing.
    """
    _check_texts(texts)
    context = _context_length(model)
    max_length = context if max_length is None else max_length
    _check_windows(max_length, max_length, context)
    ids = [tokenizer(t, verbose=False)["input_ids"] for t in texts if t.strip()]
    windows = [
        seq[i : i + max_length]
        for seq in ids
        for i in range(0, len(seq) - max_length + 1, max_length)
    ]
    if not windows:
        raise PerplexityError(
            f"No text holds a whole window of {max_length} tokens: pass longer texts or a "
            f"smaller max_length."
        )
    total = torch.zeros(max_length - 1, dtype=torch.float64)
    with _eval_mode(model):
        for start in range(0, len(windows), batch_size):
            batch = torch.tensor(windows[start : start + batch_size], device=model.device)
            nll = token_losses(model, batch, None, batch)  # every position scored
            total += nll.sum(0).double().cpu()
    return (total / len(windows)).tolist()
