import pytest

from helpers.model_source import locate_model, resolve_model_name
from helpers.offline_model import BASE_MODEL_NAME, OFFLINE_MODEL_NAME, ModelNotAvailableError


def test_name_resolution_order(monkeypatch):
    assert resolve_model_name() == "gpt2"
    monkeypatch.setenv("GPT2LAB_MODEL", "distilgpt2")
    assert resolve_model_name() == "distilgpt2"
    assert resolve_model_name("gpt2-medium") == "gpt2-medium"


def test_offline_fallback_never_touches_the_network(empty_hub_cache, no_network):
    source = locate_model("gpt2")
    assert source.kind == "base" and source.is_fallback and source.is_pretrained
    assert not source.is_offline_model  # fine-tuning it is not training from scratch
    assert "HF_HUB_OFFLINE=1" in source.reason
    assert no_network == []


def test_offline_model_selected_by_name_is_not_a_fallback(no_network):
    source = locate_model(OFFLINE_MODEL_NAME)
    assert source.is_offline_model and not source.is_fallback and not source.is_pretrained
    base = locate_model(BASE_MODEL_NAME)
    assert base.is_offline_base and not base.is_fallback and base.is_pretrained


def test_on_colab_the_offline_model_is_not_a_silent_fallback(
    empty_hub_cache, monkeypatch, no_network
):
    monkeypatch.setenv("COLAB_RELEASE_TAG", "release-colab_20261101-060000")
    with pytest.raises(ModelNotAvailableError) as caught:
        locate_model("gpt2")
    message = str(caught.value)
    assert message.startswith("Cannot load 'gpt2'") and "On Colab" in message
    assert "HF_HUB_OFFLINE" in message and "GPT2LAB_MODEL=gpt2lab-base" in message
    assert "gpt2lab-tiny" in message
    assert locate_model("gpt2", allow_offline_fallback=True).is_fallback  # asked for: allowed
    assert locate_model(OFFLINE_MODEL_NAME).is_offline_model  # by name: allowed
    assert locate_model(BASE_MODEL_NAME).is_offline_base  # by name: allowed
    monkeypatch.delenv("COLAB_RELEASE_TAG")
    assert locate_model("gpt2").is_fallback  # locally the default still falls back
