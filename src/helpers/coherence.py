"""Coherence: does the continuation stay on its prompt's topic? Cosine in an embedding space.

Su & Collier (2022, "Contrastive search is what you need for neural text generation";
Su et al. 2022, "A contrastive framework for neural text generation") measure coherence
as the cosine similarity of the prompt's and the continuation's sentence embeddings
(they use SimCSE, Gao et al. 2021):

.. math::

    \\mathrm{coherence}(x, y)
      = \\frac{e(x) \\cdot e(y)}{\\lVert e(x)\\rVert \\, \\lVert e(y)\\rVert}

Two embedders are offered, and every result says which one produced it:

* ``sentence-transformers`` (on Colab; the package is installed there, the model is
  downloaded from the Hub): a trained sentence encoder, :data:`DEFAULT_EMBEDDING_MODEL`.
* ``tfidf``: a **lexical stand-in** that needs nothing from the internet. Each text is a
  TF-IDF vector of its lower-cased words (IDF from the texts scored, or from documents you
  pass), so the cosine sees shared words, weighted by how rare they are, and nothing of
  meaning: a paraphrase with other words scores 0. It is not the paper's measure.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

DEFAULT_EMBEDDING_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
TFIDF_LABEL = "TF-IDF cosine (lexical stand-in, not a sentence embedding)"
_WORD = re.compile(r"[a-z0-9']+")


class CoherenceError(ValueError):
    """Bad input to a coherence computation, or an embedder that cannot run here."""


@dataclass(frozen=True)
class CoherenceScores:
    values: np.ndarray  # one cosine per (prompt, continuation) pair
    method: str  # what produced them, to print next to the numbers

    @property
    def mean(self) -> float:
        return float(np.mean(self.values))


def _check_pairs(prompts: Sequence[str], continuations: Sequence[str]) -> None:
    if isinstance(prompts, str) or isinstance(continuations, str):
        raise CoherenceError("Pass lists of texts, e.g. [prompt] and [continuation].")
    if len(prompts) != len(continuations) or not prompts:
        raise CoherenceError(
            f"Give one continuation per prompt, at least one pair: {len(prompts)} prompts, "
            f"{len(continuations)} continuations."
        )


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    dots = np.sum(a * b, axis=1)
    return np.divide(dots, norms, out=np.zeros_like(dots), where=norms > 0)


def tfidf_coherence(
    prompts: Sequence[str],
    continuations: Sequence[str],
    idf_documents: Sequence[str] | None = None,
) -> CoherenceScores:
    """The lexical stand-in: cosine of TF-IDF word vectors of each prompt and continuation.

    IDF is :math:`\\ln\\frac{1 + N}{1 + \\mathrm{df}(w)} + 1` over ``idf_documents`` (default:
    the prompts and continuations themselves), so words in every text weigh little.
    """
    _check_pairs(prompts, continuations)
    documents = list(idf_documents) if idf_documents is not None else [*prompts, *continuations]
    frequency = Counter(word for doc in documents for word in set(_words(doc)))
    vocabulary = {w: i for i, w in enumerate(sorted({w for t in (*prompts, *continuations)
                                                     for w in _words(t)}))}  # fmt: skip
    idf = np.array([math.log((1 + len(documents)) / (1 + frequency[w])) + 1 for w in vocabulary])

    def vectors(texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), len(vocabulary)))
        for row, text in enumerate(texts):
            for word, count in Counter(_words(text)).items():
                out[row, vocabulary[word]] = count
        return out * idf

    return CoherenceScores(_cosines(vectors(prompts), vectors(continuations)), TFIDF_LABEL)


def embedding_coherence(
    prompts: Sequence[str],
    continuations: Sequence[str],
    model_name: str = DEFAULT_EMBEDDING_MODEL,
    device: str | None = None,
) -> CoherenceScores:
    """Cosine of sentence embeddings from ``sentence-transformers`` (imported only here).

    Raises :class:`CoherenceError` saying what to do when the package or the model is
    not available (e.g. offline): use :func:`tfidf_coherence` there, labelled as such.
    """
    _check_pairs(prompts, continuations)
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as error:
        raise CoherenceError(
            "sentence-transformers is not installed (Colab has it): `pip install "
            "sentence-transformers`, or use tfidf_coherence, the offline stand-in."
        ) from error
    try:
        encoder = SentenceTransformer(model_name, device=device)
    except Exception as error:  # network, missing files, wrong name: all say the same thing
        raise CoherenceError(
            f"Could not load the embedding model {model_name!r} ({type(error).__name__}: "
            f"{error}). It is downloaded from the Hub: check the name and the internet, or "
            f"use tfidf_coherence, the offline stand-in."
        ) from error
    a = np.asarray(encoder.encode(list(prompts), convert_to_numpy=True), dtype=float)
    b = np.asarray(encoder.encode(list(continuations), convert_to_numpy=True), dtype=float)
    return CoherenceScores(_cosines(a, b), f"sentence-embedding cosine ({model_name})")


def coherence(
    prompts: Sequence[str],
    continuations: Sequence[str],
    method: str = "tfidf",
    *,
    model_name: str = DEFAULT_EMBEDDING_MODEL,
    idf_documents: Sequence[str] | None = None,
) -> CoherenceScores:
    """Coherence by ``method``: ``"embedding"`` (sentence-transformers) or ``"tfidf"``."""
    if method == "embedding":
        return embedding_coherence(prompts, continuations, model_name)
    if method == "tfidf":
        return tfidf_coherence(prompts, continuations, idf_documents)
    raise CoherenceError(f"Unknown coherence method {method!r}: use 'embedding' or 'tfidf'.")


def embedding_model_available(model_name: str = DEFAULT_EMBEDDING_MODEL) -> tuple[bool, str]:
    """Can :func:`embedding_coherence` run here? ``(answer, a sentence saying why)``."""
    try:
        import sentence_transformers  # noqa: F401
    except ImportError:
        return False, "sentence-transformers is not installed"
    from helpers.environment import is_online

    if not is_online():
        return False, f"the Hub is out of reach, so {model_name} cannot be downloaded"
    return True, f"sentence-transformers with {model_name}"
