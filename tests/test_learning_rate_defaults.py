"""Automatic learning rates follow the starting point: random, the small base, or GPT-2."""

from __future__ import annotations

from helpers.training import TrainingConfig, default_learning_rate, resolve_learning_rates
from helpers.training.config import FINE_TUNING_LEARNING_RATE, FROM_SCRATCH_LEARNING_RATES


def test_the_small_offline_base_fine_tunes_faster_than_gpt2():
    assert default_learning_rate(False, "gpt2lab-base") == 2e-3
    assert default_learning_rate(False, "gpt2") == FINE_TUNING_LEARNING_RATE == 1e-4
    assert default_learning_rate(False) == FINE_TUNING_LEARNING_RATE
    assert default_learning_rate(True, "gpt2lab-base") == FROM_SCRATCH_LEARNING_RATES["body"]


def test_resolve_takes_the_base_from_the_argument_or_the_config():
    by_argument = resolve_learning_rates(TrainingConfig(), False, base="gpt2lab-base")
    by_config = resolve_learning_rates(TrainingConfig(model="gpt2lab-base"), False)
    assert by_argument.learning_rate == by_config.learning_rate == 2e-3
    assert by_argument.output_learning_rate == by_argument.embedding_learning_rate == 2e-3
    chosen = resolve_learning_rates(TrainingConfig(learning_rate=5e-4), False, "gpt2lab-base")
    assert chosen.learning_rate == 5e-4  # a rate that was set is never replaced
