"""The refinement trials' cheap parts: decoding tasks, the distance, the split checks."""

from __future__ import annotations

import math

import pytest
from datasets import Dataset

from helpers.refinement_trials import decoding_task, distance_from_human, small_splits


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
