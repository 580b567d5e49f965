"""Measures of generated text: diversity, relevance to a corpus, memorisation.

Perplexity lives in :mod:`helpers.perplexity`. Everything here works on plain strings
(split into words on whitespace) or on token id lists, so it can judge any generator.

* **distinct-n** (Li et al., 2016): distinct n-grams / all n-grams, over all texts.
* **rep-n** (Su et al., 2022, SimCTG): 100 x (1 - unique n-grams / n-grams) of each
  text, averaged; **diversity** = product of (1 - rep-n / 100) for n = 2, 3, 4.
* **self-BLEU** (Zhu et al., 2018, Texygen): BLEU of each text against all the others;
  high means the texts resemble each other. BLEU itself comes from ``sacrebleu``.
* **unigram Jensen-Shannon divergence** to held-out text of the corpus: 0 when the word
  frequencies match, 1 (bit) when the vocabularies are disjoint.
* **memorisation**: the share of generated n-grams of tokens found verbatim in the
  training data, and the longest copied span, via a hashed n-gram index.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase


class MetricError(ValueError):
    """Bad input to a metric; the message says what to change."""


def _check_n(n: int) -> None:
    if n < 1:
        raise MetricError(f"n-gram size n={n} must be at least 1.")


def _texts(texts: Sequence[str]) -> list[list[str]]:
    if isinstance(texts, str):
        raise MetricError("Pass a list of texts, e.g. [text], not a single string.")
    if not texts or all(not text.strip() for text in texts):
        raise MetricError("There is no text to measure: the list is empty or all blank.")
    return [text.split() for text in texts]


def ngrams(tokens: Sequence, n: int) -> list[tuple]:
    """All n-grams of a token sequence, in order (none when it is shorter than n)."""
    _check_n(n)
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def distinct_n(texts: Sequence[str], n: int) -> float:
    """Distinct n-grams / total n-grams over all texts (0 when there are no n-grams)."""
    _check_n(n)
    grams = [gram for words in _texts(texts) for gram in ngrams(words, n)]
    return len(set(grams)) / len(grams) if grams else 0.0


def rep_n(texts: Sequence[str], n: int) -> float:
    """SimCTG's rep-n: 100 x (1 - unique n-grams / n-grams) per text, averaged over texts."""
    _check_n(n)
    ratios = []
    for words in _texts(texts):
        grams = ngrams(words, n)
        if grams:
            ratios.append(len(set(grams)) / len(grams))
    return 100 * (1 - sum(ratios) / len(ratios)) if ratios else 0.0


def simctg_diversity(texts: Sequence[str]) -> float:
    """Product of (1 - rep-n / 100) for n = 2, 3, 4: 1 means no repeated n-gram at all."""
    return math.prod(1 - rep_n(texts, n) / 100 for n in (2, 3, 4))


def self_bleu(texts: Sequence[str]) -> float:
    """Mean BLEU (0-100) of each text against all the others as references."""
    from sacrebleu.metrics import BLEU

    _texts(texts)
    texts = [text for text in texts if text.strip()]
    if len(texts) < 2:
        raise MetricError(
            f"self-BLEU compares texts with each other and needs at least 2; got {len(texts)}."
        )
    bleu = BLEU(effective_order=True)  # sentence-level BLEU, as sacrebleu recommends
    scores = [
        bleu.sentence_score(text, texts[:i] + texts[i + 1 :]).score for i, text in enumerate(texts)
    ]
    return sum(scores) / len(scores)


def unigram_js_divergence(texts: Sequence[str], reference_texts: Sequence[str]) -> float:
    """Jensen-Shannon divergence (bits, 0 to 1) between the word frequencies of two sets.

    A style/topic signal: generated text that uses the corpus's words in the corpus's
    proportions scores near 0. It ignores word order entirely.
    """
    counts = Counter(word for words in _texts(texts) for word in words)
    reference = Counter(word for words in _texts(reference_texts) for word in words)
    vocabulary = sorted(counts.keys() | reference.keys())
    p = np.array([counts[w] for w in vocabulary], dtype=float)
    q = np.array([reference[w] for w in vocabulary], dtype=float)
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2

    def kl(a: np.ndarray, b: np.ndarray) -> float:
        mask = a > 0
        return float(np.sum(a[mask] * np.log2(a[mask] / b[mask])))

    return (kl(p, m) + kl(q, m)) / 2


def ngram_overlap(texts: Sequence[str], reference_texts: Sequence[str], n: int = 2) -> float:
    """Share of the texts' word n-grams that also occur in the reference texts."""
    _check_n(n)
    known = {gram for words in _texts(reference_texts) for gram in ngrams(words, n)}
    grams = [gram for words in _texts(texts) for gram in ngrams(words, n)]
    return sum(gram in known for gram in grams) / len(grams) if grams else 0.0


# ------------------------------------------------------------------ memorisation

_HASH_BASE = np.uint64(1_000_003)


def _ngram_hashes(token_ids: Sequence[int], n: int) -> np.ndarray:
    """A 64-bit polynomial hash of every n-gram of ``token_ids`` (vectorised)."""
    ids = np.asarray(token_ids, dtype=np.uint64)
    if len(ids) < n:
        return np.empty(0, dtype=np.uint64)
    windows = np.lib.stride_tricks.sliding_window_view(ids, n)
    powers = _HASH_BASE ** np.arange(n - 1, -1, -1, dtype=np.uint64)
    with np.errstate(over="ignore"):  # arithmetic modulo 2**64 is the point
        return (windows * powers).sum(axis=1, dtype=np.uint64)


class NgramIndex:
    """Every n-gram of a training set, hashed and sorted, for fast membership tests.

    Built once (a million tokens take well under a second); a lookup is a binary search,
    so checking a generated text costs O(length x log(training size)), not a scan.
    """

    def __init__(self, token_sequences: Sequence[Sequence[int]], n: int = 8) -> None:
        _check_n(n)
        self.n = n
        hashes = [_ngram_hashes(ids, n) for ids in token_sequences]
        self._sorted = np.unique(np.concatenate(hashes)) if hashes else np.empty(0, np.uint64)

    def __len__(self) -> int:
        return len(self._sorted)

    def contains(self, token_ids: Sequence[int]) -> np.ndarray:
        """For each n-gram of ``token_ids`` (in order): is it in the training data?"""
        hashes = _ngram_hashes(token_ids, self.n)
        if len(self._sorted) == 0 or len(hashes) == 0:
            return np.zeros(len(hashes), dtype=bool)
        positions = np.searchsorted(self._sorted, hashes).clip(max=len(self._sorted) - 1)
        return self._sorted[positions] == hashes


def whitespace_token_ids(tokenizer: PreTrainedTokenizerBase) -> frozenset[int]:
    """Ids of the tokens that decode to whitespace only: spaces, tabs, newlines."""
    texts = tokenizer.batch_decode([[i] for i in range(len(tokenizer))])
    return frozenset(i for i, text in enumerate(texts) if not text.strip())


@dataclass(frozen=True)
class MemorisationReport:
    n: int
    copied_share: float  # share of generated n-grams found verbatim in training data
    longest_copied_span: int  # in tokens; 0 when no n-gram was copied
    ngrams_checked: int


def memorisation(
    generated: Sequence[Sequence[int]], index: NgramIndex, skip: Collection[int] = ()
) -> MemorisationReport:
    """How much of ``generated`` (token id lists) is copied verbatim from the training data.

    A run of k consecutive copied n-grams is a copied span of k + n - 1 tokens (spans
    shorter than n are not detected, by design: short phrases are shared by any two texts).
    An n-gram made only of ``skip`` tokens (e.g. :func:`whitespace_token_ids`) is not
    checked: a run of spaces or blank lines is in any text and says nothing of memory.
    """
    found, longest = 0, 0
    checked = 0
    skipped = np.fromiter(skip, dtype=np.int64) if skip else None
    for ids in generated:
        hits = index.contains(ids)
        counted = np.ones(len(hits), dtype=bool)
        if skipped is not None and len(hits):
            blank = np.isin(np.asarray(ids, dtype=np.int64), skipped)
            counted = ~np.lib.stride_tricks.sliding_window_view(blank, index.n).all(axis=1)
            hits = hits & counted
        checked += int(counted.sum())
        found += int(hits.sum())
        run = 0
        for hit in hits:
            run = run + 1 if hit else 0
            longest = max(longest, run + index.n - 1 if run else 0)
    return MemorisationReport(index.n, found / checked if checked else 0.0, longest, checked)
