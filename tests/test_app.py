import json

import pytest

from helpers.app import (
    AppConfig,
    RequestError,
    check_request,
    filters_for_strategy,
    model_label,
    read_feedback,
    record_feedback,
)
from helpers.modeling import ModelSource

FORM = {
    "strategy": "top-p",
    "max_new_tokens": 20,
    "temperature": 0.8,
    "top_k": 0.0,
    "top_p": 0.9,
    "num_beams": 4.0,
    "repetition_penalty": 1.0,
    "seed": 3.0,
}


def test_a_good_request_becomes_settings():
    settings = check_request("Hello", FORM, samples=3, config=AppConfig())
    assert settings.strategy == "top-p" and settings.num_return_sequences == 3
    assert settings.top_k == 0 and isinstance(settings.top_k, int) and settings.seed == 3


def test_greedy_gives_one_sample():
    settings = check_request("Hello", {**FORM, "strategy": "greedy"}, samples=3, config=AppConfig())
    assert settings.num_return_sequences == 1


@pytest.mark.parametrize(
    ("prompt", "form", "samples", "message"),
    [
        ("x" * 2001, FORM, 1, "limit is 2,000"),
        ("Hi", {**FORM, "max_new_tokens": 500}, 1, "above this app's limit of 200"),
        ("Hi", FORM, 9, "Ask for 1 to 4 samples"),
        ("Hi", {**FORM, "top_p": 1.0}, 1, "top-p strategy needs top_p < 1"),
        ("Hi", {**FORM, "strategy": "sample", "temperature": 0}, 1, "use the greedy strategy"),
    ],
)
def test_bad_requests_get_a_message(prompt, form, samples, message):
    with pytest.raises(RequestError, match=message):
        check_request(prompt, form, samples, AppConfig())


def test_feedback_is_appended_as_json_lines(tmp_path):
    path = tmp_path / "feedback" / "f.jsonl"
    record_feedback(path, "To be", {"strategy": "greedy"}, "or not to be", 1)
    record_feedback(path, "To be", {"strategy": "greedy"}, "a fish", -1)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["rating"] for line in lines] == [1, -1]
    path.write_text(path.read_text() + '{"cut short', encoding="utf-8")  # a crash mid-line
    assert [r["text"] for r in read_feedback(path)] == ["or not to be", "a fish"]
    assert read_feedback(tmp_path / "absent.jsonl") == []


def test_feedback_needs_text_and_a_valid_rating(tmp_path):
    with pytest.raises(RequestError, match="generate first"):
        record_feedback(tmp_path / "f.jsonl", "p", {}, "  ", 1)
    with pytest.raises(RequestError, match=r"\+1 or -1"):
        record_feedback(tmp_path / "f.jsonl", "p", {}, "text", 5)


def test_the_offline_model_is_labelled_as_untrained():
    offline = ModelSource("gpt2", "offline", "gpt2lab-tiny", "offline")
    assert "untrained" in model_label(offline) and "not GPT-2" in model_label(offline)
    local = ModelSource("models/finetuned", "local", "models/finetuned", "a local folder")
    assert "fine-tuned model" in model_label(local)


def test_choosing_a_strategy_switches_its_filter_on():
    assert filters_for_strategy("top-p", 0, 1.0) == (0, 0.9)
    assert filters_for_strategy("top-k", 0, 1.0) == (50, 1.0)
    assert filters_for_strategy("top-p", 20, 0.5) == (20, 0.5)  # a choice is kept
    assert filters_for_strategy("greedy", 0, 1.0) == (0, 1.0)


def test_stream_samples_yields_growing_samples():
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from helpers.app import stream_samples
    from helpers.modeling import gpt2_tokenizer_from_package

    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=16, n_head=2, n_positions=64)).eval()
    tokenizer = gpt2_tokenizer_from_package(64)
    settings = check_request("To be", {**FORM, "max_new_tokens": 6}, samples=3, config=AppConfig())
    steps = list(stream_samples(model, tokenizer, "To be", settings))
    assert 1 < len(steps) <= 6 and all(len(step) == 3 for step in steps)
