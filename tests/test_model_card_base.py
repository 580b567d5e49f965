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


def test_training_the_offline_base_names_it_and_fine_tunes_it(monkeypatch):
    from helpers.model_source import locate_model
    from helpers.offline_model import load_base_model
    from helpers.training import TrainingConfig
    from helpers.training.setup import load_base

    monkeypatch.setattr("helpers.model_source._in_hub_cache", lambda repo_id: False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    source = locate_model()
    assert source.is_offline_base
    model = load_base_model()
    for given in (source, None):  # with the source, or told only by the model's folder
        base = load_base(TrainingConfig(), model, object(), given)
        assert (base.name, base.from_scratch) == ("gpt2lab-base", False)
    assert "small pretrained base" in load_base(TrainingConfig(), model, object(), source).note
