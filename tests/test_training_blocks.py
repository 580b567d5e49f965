"""Packed splits become tensors: straight from Arrow for a datasets.Dataset, through lists
for anything else, with the same result and the same clear errors."""

import pytest
import torch
from datasets import Dataset

from helpers.training.blocks import blocks_from_split

ROWS = [[i * 10 + j for j in range(6)] for i in range(9)]


class ListSplit(dict):
    """A split that is not Arrow-backed: a mapping of columns, as lists."""

    @property
    def column_names(self):
        return list(self)

    def __len__(self):
        return len(self["input_ids"])


def test_an_arrow_split_a_selection_of_one_and_a_plain_one_give_the_same_tensors():
    labels = [[-100, *row[1:]] for row in ROWS]
    arrow = Dataset.from_dict({"input_ids": ROWS, "labels": labels})
    whole = blocks_from_split(arrow, "train")
    assert whole.input_ids.dtype == torch.long and whole.input_ids.tolist() == ROWS
    assert whole.labels.tolist() == labels
    chosen = blocks_from_split(arrow.select([7, 2, 4]), "train")  # an indices mapping
    assert chosen.input_ids.tolist() == [ROWS[7], ROWS[2], ROWS[4]]
    plain = blocks_from_split(ListSplit(input_ids=ROWS), "train")
    assert torch.equal(plain.input_ids, whole.input_ids)
    assert torch.equal(plain.labels, plain.input_ids)  # no labels column: the ids


@pytest.mark.parametrize("split", [Dataset.from_dict, ListSplit])
def test_ragged_blocks_are_refused_either_way(split):
    ragged = (
        split(input_ids=[[1, 2, 3], [4, 5]])
        if split is ListSplit
        else split({"input_ids": [[1, 2, 3], [4, 5]]})
    )
    with pytest.raises(ValueError, match="not all the same length"):
        blocks_from_split(ragged, "train")
