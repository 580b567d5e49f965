"""The refinement trials' cheap parts: decoding tasks, the distance, the split checks."""

from __future__ import annotations

import math

import pytest
from datasets import Dataset

from helpers.refinement_trials import (
    batch_for_steps,
    decoding_task,
    distance_from_human,
    measure_step_seconds,
    small_splits,
)
from helpers.training import TrainingConfig


def test_a_task_cuts_each_passage_into_prompt_and_equal_length_human_text(gpt2_tokenizer):
    passages = ["KING.\nWhat news from the north, my lord, and what of the south?",
                "QUEEN.\nNone, madam, none at all; the roads are quiet and the rivers low.",
                "FOOL.\nAy."]  # fmt: skip
    task = decoding_task(gpt2_tokenizer, passages, max_new_tokens=6)
    assert task.prompts == ["KING.\n", "QUEEN.\n"]  # the fool's line is too short: left out
    assert all(len(ids) == 6 for ids in task.human_ids)
    assert task.human_texts[0] == gpt2_tokenizer.decode(
        gpt2_tokenizer(passages[0][6:])["input_ids"][:6]
    )
    with pytest.raises(ValueError, match="fewer new tokens"):
        decoding_task(gpt2_tokenizer, passages, max_new_tokens=500)


def test_the_distance_is_zero_for_human_like_text_and_grows_either_way():
    human = {"perplexity": 50.0, "distinct_2": 0.8}
    assert distance_from_human(human, human) == 0.0
    duller = distance_from_human({"perplexity": 5.0, "distinct_2": 0.2}, human)
    wilder = distance_from_human({"perplexity": 500.0, "distinct_2": 0.8}, human)
    assert duller == pytest.approx(math.log(10) + math.log(4)) and wilder == pytest.approx(
        math.log(10)
    )
    assert math.isnan(distance_from_human({"perplexity": 5.0, "distinct_2": 0.0}, human))


def test_small_splits_need_a_test_split_and_cut_the_held_out_ones():
    rows = Dataset.from_dict({"input_ids": [[1, 2]] * 5, "labels": [[1, 2]] * 5})
    cut = small_splits({"train": rows, "validation": rows, "test": rows}, blocks=2)
    assert (len(cut["train"]), len(cut["validation"]), len(cut["test"])) == (5, 2, 2)
    with pytest.raises(ValueError, match="test fraction"):
        small_splits({"train": rows, "validation": rows}, blocks=2)


@pytest.mark.parametrize(
    ("step_seconds", "expected"),
    [(0.1, 16), (0.3, 8), (0.6, 4), (2.0, 2), (20.0, 2)],  # 5 s, at least 20 steps
)
def test_the_trial_batch_is_halved_until_the_budget_holds_enough_steps(step_seconds, expected):
    batch = batch_for_steps(step_seconds, 16, budget_seconds=5.0, min_steps=20, smallest=2)
    assert batch == expected
    if batch > 2:  # the batch chosen fits the steps; it is the largest that does
        assert 5.0 / (step_seconds * batch / 16) >= 20
    if batch < 16:
        assert 5.0 / (step_seconds * 2 * batch / 16) < 20


def test_the_trial_batch_needs_measured_numbers():
    with pytest.raises(ValueError, match="step_seconds"):
        batch_for_steps(0.0, 16, 5.0, 20)
    with pytest.raises(ValueError, match="smallest"):
        batch_for_steps(0.5, 16, 5.0, 20, smallest=32)


def test_a_step_is_timed_on_a_short_run(tmp_path):
    rows = Dataset.from_dict({"input_ids": [[i % 50 + 1] * 16 for i in range(40)]})
    rows = rows.map(lambda row: {"labels": row["input_ids"]})
    config = TrainingConfig(model="gpt2lab-tiny", batch_size=4, block_size=16, progress_bar=False,
                            output_dir=str(tmp_path / "unused"))  # fmt: skip
    seconds = measure_step_seconds(config, {"train": rows, "validation": rows}, steps=4)
    assert 0 < seconds < 5
    assert not (tmp_path / "unused").exists()  # the timing run leaves nothing behind
    with pytest.raises(ValueError, match="steps must be >= 3"):
        measure_step_seconds(config, {"train": rows, "validation": rows}, steps=2)
