"""Logits transforms: pure functions on a ``[batch, vocab]`` tensor of scores.

Two kinds, applied in ``generate``'s order. The **penalties** (repetition penalty, n-gram
ban) look at the text so far; every decoder applies them, greedy and beam search too. The
**sampling filters** (temperature, top-k, top-p) reshape the distribution a token is drawn
from; only sampling applies them (``generate`` too ignores them without ``do_sample``).
Each transform is skipped at its neutral value (1.0, 0, 1.0, 1.0, 0), as ``generate`` does.
"""

from __future__ import annotations

import torch

from helpers.decoding.checks import check_parameters


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


def apply_penalties(
    scores: torch.Tensor,
    previous_ids: torch.Tensor,
    repetition_penalty: float = 1.0,
    no_repeat_ngram_size: int = 0,
    attention_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """The penalties every decoder applies, in ``generate``'s order: repetition, then n-grams.

    ``scores`` are logits for greedy search and sampling, log-probabilities for beam search
    (where ``generate`` applies them after the log-softmax).
    """
    if repetition_penalty != 1.0:
        scores = penalize_repetition(scores, previous_ids, repetition_penalty, attention_mask)
    if no_repeat_ngram_size > 0:
        scores = ban_repeated_ngrams(scores, previous_ids, no_repeat_ngram_size)
    return scores


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
    logits = apply_penalties(
        logits, previous_ids, repetition_penalty, no_repeat_ngram_size, attention_mask
    )
    if temperature != 1.0:
        logits = apply_temperature(logits, temperature)
    if top_k != 0:
        logits = filter_top_k(logits, top_k)
    if top_p < 1.0:
        logits = filter_top_p(logits, top_p)
    return logits
