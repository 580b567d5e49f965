"""Checking decoding parameters: one clear ValueError each, saying what would work."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
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
