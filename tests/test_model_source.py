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


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ('{"model_type": "bert"}', r"is not a GPT-2 model config \(model_type 'bert'"),
        ("{}", r"is not a GPT-2 model config \(it has no model_type"),
        ("[1, 2]", r"is not a JSON object \(\{...\}\) but a list"),
        ('"gpt2"', r"is not a JSON object \(\{...\}\) but a string"),
        ("7", r"is not a JSON object \(\{...\}\) but a number"),
        ('{"model_type": "gpt2", "n_layer": "4"}', r"not positive whole numbers \(n_layer='4'\)"),
        ('{"model_type": "gpt2", "n_embd": 0, "n_head": true}', r"\(n_embd=0, n_head=True\)"),
        ("{not json", "cannot be read, it is not valid JSON"),
    ],
)
def test_a_config_that_is_not_a_gpt2_config_is_a_clear_error(tmp_path, config, message):
    (tmp_path / "config.json").write_text(config, encoding="utf-8")
    with pytest.raises(ModelNotAvailableError, match=message) as caught:
        locate_model(tmp_path)
    text = str(caught.value)
    assert text.startswith(f"The config.json in '{tmp_path}'") and "\n" not in text
    assert "again" in text  # and what to do


def test_a_gpt2_config_is_a_local_model(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "gpt2", "n_layer": 2}')
    assert locate_model(tmp_path).kind == "local"


def test_the_model_name_is_the_stand_in_when_one_stands_in(monkeypatch):
    """What training records as the base: the offline model that was used, not the name
    that was asked for; a model that is had as asked keeps its name."""
    from helpers.model_source import ModelSource

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("helpers.model_source._in_hub_cache", lambda repo_id: False)
    assert locate_model("gpt2").model_name == "gpt2lab-base"
    assert locate_model("gpt2lab-tiny").model_name == "gpt2lab-tiny"
    assert ModelSource("distilgpt2", "hub", "distilgpt2", "it answered").model_name == "distilgpt2"


def test_an_error_about_a_name_from_gpt2lab_model_names_the_variable(tmp_path, monkeypatch):
    missing = tmp_path / "models" / "nowhere"
    monkeypatch.setenv("GPT2LAB_MODEL", str(missing))
    for given in (None, str(missing)):  # the course's commands pass the variable's value on
        with pytest.raises(ModelNotAvailableError) as error:
            locate_model(given)
        message = str(error.value)
        assert message.startswith(f"GPT2LAB_MODEL={missing} (from the environment): There is no")
        assert message.endswith("Or unset GPT2LAB_MODEL to use gpt2.")
    other = tmp_path / "other"  # a name passed in, not the variable's: no mention of it
    with pytest.raises(ModelNotAvailableError) as error:
        locate_model(str(other))
    assert "GPT2LAB_MODEL" not in str(error.value)
