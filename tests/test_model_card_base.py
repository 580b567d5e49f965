"""The model card of a model fine-tuned from the course's offline base names that base."""

from __future__ import annotations

from huggingface_hub import ModelCard

from helpers import training


def test_a_fine_tuned_offline_base_is_named_and_not_linked_to_the_hub(tmp_path):
    path = training.write_model_card(
        tmp_path,
        base_model="gpt2lab-base",
        from_scratch=False,
        data_description="Shakespeare",
        summary={},
    )
    card = path.read_text()
    assert "`gpt2lab-base`, a small GPT-2 pretrained by the course" in card
    assert "not GPT-2" in card and "WebText" not in card and "from scratch" not in card
    assert ModelCard.load(path).data.base_model is None  # the Hub has no gpt2lab-base


def test_gpt2_keeps_its_hub_link_and_its_webtext_caveat(tmp_path):
    path = training.write_model_card(
        tmp_path, base_model="gpt2", from_scratch=False, data_description="", summary={}
    )
    assert "WebText" in path.read_text() and ModelCard.load(path).data.base_model == "gpt2"
