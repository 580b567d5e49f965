"""Checking decoding parameters: one clear ValueError each, saying what would work."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

MAX_BEAMS = 64
"""More hypotheses than this cost memory (each keeps its own cache) and hardly change the
result: beam search gains little beyond a few dozen (4 to 16 is usual)."""
MAX_SEQUENCES = 256
"""The most sequences one call returns: each is decoded in the same batch, in memory."""


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "max_new_tokens": (
        lambda v: isinstance(v, int) and v >= 1,
        "max_new_tokens must be a whole number >= 1 (got {v!r}): how many tokens to add.",
    ),
    "temperature": (
        lambda v: _number(v) and v > 0,
        "temperature must be > 0 and finite (got {v!r}). Temperature 0 means always taking "
        "the most likely token: use the greedy strategy for that.",
    ),
    "top_k": (
        lambda v: isinstance(v, int) and v >= 0,
        "top_k must be a whole number >= 0 (got {v!r}): how many of the most likely tokens "
        "to keep, e.g. 50; 0 switches the filter off.",
    ),
    "top_p": (
        lambda v: _number(v) and 0 < v <= 1,
        "top_p must be in (0, 1] (got {v!r}): the probability mass to keep, e.g. 0.9; "
        "1.0 switches the filter off.",
    ),
    "repetition_penalty": (
        lambda v: _number(v) and v > 0,
        "repetition_penalty must be > 0 and finite (got {v!r}): 1.0 is no penalty, 1.2 a "
        "usual one.",
    ),
    "no_repeat_ngram_size": (
        lambda v: isinstance(v, int) and v >= 0,
        "no_repeat_ngram_size must be a whole number >= 0 (got {v!r}): 0 is off, 3 bans "
        "repeating any 3 tokens in a row.",
    ),
    "num_beams": (
        lambda v: isinstance(v, int) and 1 <= v <= MAX_BEAMS,
        f"num_beams must be a whole number from 1 to {MAX_BEAMS} (got {{v!r}}): how many "
        "hypotheses to keep; 4 to 16 is usual.",
    ),
    "num_return_sequences": (
        lambda v: isinstance(v, int) and 1 <= v <= MAX_SEQUENCES,
        f"num_return_sequences must be a whole number from 1 to {MAX_SEQUENCES} (got {{v!r}}).",
    ),
    "length_penalty": (
        _number,
        "length_penalty must be a finite number (got {v!r}): 1.0 divides by the length, 0 "
        "not at all.",
    ),
    "early_stopping": (
        lambda v: v in (True, False, "never"),
        "early_stopping must be True, False or 'never' (got {v!r}).",
    ),
}
"""For each parameter: the test a valid value passes, and the message when it fails."""


def check_parameters(**params: Any) -> None:
    """Raise a ValueError naming the first invalid decoding parameter and a valid value."""
    for name, value in params.items():
        valid, message = CHECKS[name]
        if isinstance(value, bool) and name != "early_stopping" or not valid(value):
            raise ValueError(message.format(v=value))
    beams, returned = params.get("num_beams"), params.get("num_return_sequences")
    if beams is not None and returned is not None and returned > beams:
        raise ValueError(
            f"num_return_sequences ({returned}) cannot exceed num_beams ({beams}): beam search "
            f"keeps only num_beams finished hypotheses. Raise num_beams or return fewer."
        )
