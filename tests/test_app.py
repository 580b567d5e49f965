import json
import socket
from pathlib import Path

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
from helpers.model_source import ModelSource

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
        ("Hi", FORM, float("nan"), "samples must be a whole number"),
        ("Hi", FORM, 2.5, "samples must be a whole number"),
        ("Hi", {**FORM, "max_new_tokens": float("nan")}, 1, "max_new_tokens must be a whole"),
        ("Hi", {**FORM, "top_k": float("inf")}, 1, "top_k must be a whole number"),
        ("Hi", {**FORM, "seed": float("nan")}, 1, "seed must be a whole number"),
        ("Hi", {**FORM, "temperature": float("nan")}, 1, "temperature must be > 0 and finite"),
        ("Hi", {**FORM, "strategy": "beam", "num_beams": 100000}, 1, "num_beams must be"),
        ("Hi \ud800 there", FORM, 1, r"The prompt is not valid text \('\\ud800' at character 4"),
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
    with pytest.warns(UserWarning, match=r"skipped 1 line\(s\) that are not JSON records"):
        assert [r["text"] for r in read_feedback(path)] == ["or not to be", "a fish"]
    assert read_feedback(tmp_path / "absent.jsonl") == []


def test_a_negative_or_missing_seed_is_random():
    for seed in (-1, -1.0, None, ""):
        assert check_request("Hi", {**FORM, "seed": seed}, 1, AppConfig()).seed is None


def test_feedback_needs_text_and_a_valid_rating(tmp_path):
    with pytest.raises(RequestError, match="generate first"):
        record_feedback(tmp_path / "f.jsonl", "p", {}, "  ", 1)
    with pytest.raises(RequestError, match="generate first"):
        record_feedback(tmp_path / "f.jsonl", "p", {}, None, 1)
    with pytest.raises(RequestError, match="text is not valid text"):
        record_feedback(tmp_path / "f.jsonl", "p", {}, "bad \udc80", 1)
    assert not (tmp_path / "f.jsonl").exists()
    with pytest.raises(RequestError, match=r"\+1 or -1"):
        record_feedback(tmp_path / "f.jsonl", "p", {}, "text", 5)


def test_a_feedback_file_that_cannot_be_written_is_refused_at_startup(tmp_path):
    with pytest.raises(ValueError, match="is a folder"):
        AppConfig(feedback_file=str(tmp_path))
    (tmp_path / "a-file").write_text("", encoding="utf-8")
    with pytest.raises(ValueError, match="is a file, not a folder"):
        AppConfig(feedback_file=str(tmp_path / "a-file" / "sub" / "f.jsonl"))
    AppConfig(feedback_file=str(tmp_path / "new" / "folders" / "f.jsonl"))  # made when rated
    assert not (tmp_path / "new").exists()


def test_a_feedback_write_that_fails_later_says_so(tmp_path):
    path = tmp_path / "f.jsonl"
    AppConfig(feedback_file=str(path))
    path.mkdir()  # the file became a folder after the app started
    with pytest.raises(RequestError, match="could not be saved"):
        record_feedback(path, "p", {}, "some text", 1)


def _tiny_model(n_positions=64):
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(n_layer=1, n_embd=16, n_head=2, n_positions=n_positions)
    return GPT2LMHeadModel(config).eval()


def _endpoints(model, tokenizer, config):
    from helpers.app import api_endpoints
    from helpers.decoding import settings_from_generation_config

    defaults = settings_from_generation_config(model.generation_config)
    return api_endpoints(model, tokenizer, config, defaults, 10)


def test_the_token_cap_is_lowered_to_the_models_context(gpt2_tokenizer, tmp_path, capsys):
    from helpers.app import build_app, fit_to_model

    model = _tiny_model(n_positions=128)
    config = AppConfig(max_new_tokens_cap=100000, feedback_file=str(tmp_path / "f"))
    fitted = fit_to_model(config, model)
    assert fitted.max_new_tokens_cap == 127 and config.max_new_tokens_cap == 100000
    said = capsys.readouterr().out
    assert said.count("\n") == 1 and "lowered from 100,000 to 127" in said
    assert fit_to_model(fitted, model) is fitted and not capsys.readouterr().out
    source = ModelSource("tiny", "local", "tiny", "a test model")
    app = build_app(model, gpt2_tokenizer, source, config)
    (slider,) = [b for b in app.blocks.values() if getattr(b, "elem_id", "") == "max-new-tokens"]
    assert slider.maximum == 127
    with pytest.raises(RequestError, match="above this app's limit of 127"):
        check_request("hi", {**FORM, "max_new_tokens": 150}, 1, fitted)


def test_api_requests_the_decoders_refuse_get_a_clear_error(gpt2_tokenizer, tmp_path):
    import gradio as gr

    model = _tiny_model(n_positions=128)
    config = AppConfig(feedback_file=str(tmp_path / "f.jsonl"))  # cap 200: not fitted
    generate = _endpoints(model, gpt2_tokenizer, config)["generate"]
    with pytest.raises(gr.Error, match="leaves no room for the prompt"):
        generate("hi", max_new_tokens=150)
    with pytest.raises(gr.Error, match="samples must be a whole number"):
        generate("hi", samples=float("nan"))
    with pytest.raises(gr.Error, match="max_new_tokens must be a whole number"):
        generate("hi", max_new_tokens=float("nan"))
    with pytest.raises(gr.Error, match="The prompt is not valid text"):
        generate("\ud800")
    with pytest.raises(gr.Error, match="num_beams must be"):
        generate("hi", strategy="beam", num_beams=100000)


def test_api_feedback_failures_get_a_clear_error(gpt2_tokenizer, tmp_path):
    import gradio as gr

    path = tmp_path / "f.jsonl"
    feedback = _endpoints(_tiny_model(), gpt2_tokenizer, AppConfig(feedback_file=str(path)))[
        "feedback"
    ]
    with pytest.raises(gr.Error, match="generate first"):
        feedback("a prompt", None, 1)
    path.mkdir()
    with pytest.raises(gr.Error, match="could not be saved"):
        feedback("a prompt", "some text", 1)


def test_the_offline_model_is_labelled_as_untrained():
    offline = ModelSource("gpt2", "offline", "gpt2lab-tiny", "offline")
    assert "untrained" in model_label(offline) and "not GPT-2" in model_label(offline)
    local = ModelSource("models/finetuned", "local", "models/finetuned", "a local folder")
    assert "fine-tuned model" in model_label(local)


@pytest.mark.parametrize("kind", ["local", "hub-cache", "hub", "base", "offline"])
def test_every_kind_of_model_gets_an_honest_label(kind):
    label = model_label(ModelSource("gpt2", kind, "somewhere/model", "because"))
    assert label.startswith(("**Model:**", "⚠️")) and "somewhere/model" in label or kind == "offline"
    if kind == "base":  # the shipped base: pretrained, but neither GPT-2 nor fine-tuned
        assert "not GPT-2" in label and "not trained on your text" in label


def test_choosing_a_strategy_switches_its_filter_on():
    assert filters_for_strategy("top-p", 0, 1.0) == (0, 0.9)
    assert filters_for_strategy("top-k", 0, 1.0) == (50, 1.0)
    assert filters_for_strategy("top-p", 20, 0.5) == (20, 0.5)  # a choice is kept
    assert filters_for_strategy("greedy", 0, 1.0) == (0, 1.0)


def test_stream_samples_yields_growing_samples(gpt2_tokenizer):
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from helpers.app import stream_samples

    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=16, n_head=2, n_positions=64)).eval()
    settings = check_request("To be", {**FORM, "max_new_tokens": 6}, samples=3, config=AppConfig())
    steps = list(stream_samples(model, gpt2_tokenizer, "To be", settings))
    assert 1 < len(steps) <= 6 and all(len(step) == 3 for step in steps)


# --------------------------------------------------------------------------------------
# the app's API: /generate and /feedback, called with gradio_client on a live app
# --------------------------------------------------------------------------------------

README = Path(__file__).resolve().parents[1] / "README.md"
QUIET_SERVER = pytest.mark.filterwarnings("ignore:::gradio.queueing")
"""gradio's queue calls pandas in ways pandas 3 warns about, in the server's thread."""


def readme_api_example() -> str:
    """The python block of the README's "The app's API" subsection."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("### The app's API") :]
    return section[section.index("```python\n") + 10 : section.index("```\n", 10)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def live_app(tmp_path_factory, gpt2_tokenizer):
    """The app on a free loopback port, serving a tiny model; closed afterwards."""
    import os

    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from helpers.app import build_app, launch

    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ["NO_PROXY"] = "127.0.0.1,localhost"
    torch.manual_seed(0)
    config = GPT2Config(n_layer=1, n_embd=16, n_head=2, n_positions=64, initializer_range=0.3)
    model = GPT2LMHeadModel(config).eval()
    feedback = tmp_path_factory.mktemp("app") / "feedback.jsonl"
    app_config = AppConfig(port=free_port(), feedback_file=str(feedback))
    source = ModelSource("tiny", "local", "tiny", "a test model")
    app, url = launch(build_app(model, gpt2_tokenizer, source, app_config), app_config, False)
    yield url, model, feedback
    app.close()


@QUIET_SERVER
def test_the_readme_api_example_runs_against_the_app(live_app):
    url, _, feedback = live_app
    code = readme_api_example()
    assert 'Client("http://127.0.0.1:7860/")' in code
    names: dict = {}
    exec(code.replace("http://127.0.0.1:7860/", url), names)  # noqa: S102 - our README
    texts = names["texts"]
    assert isinstance(texts, list) and len(texts) == 2 and all(t.strip() for t in texts)
    records = read_feedback(feedback)
    assert records[-1]["rating"] == 1 and records[-1]["text"] == texts[0]
    assert records[-1]["prompt"] == "To be, or not to be"
    assert records[-1]["settings"] == {"strategy": "top-p", "top_p": 0.9, "seed": 0}


@QUIET_SERVER
def test_only_generate_and_feedback_are_exposed(live_app):
    from gradio_client import Client

    api = Client(live_app[0], verbose=False).view_api(return_format="dict", print_info=False)
    assert set(api["named_endpoints"]) == {"/generate", "/feedback"}
    assert not api["unnamed_endpoints"]
    parameters = [p["parameter_name"] for p in api["named_endpoints"]["/generate"]["parameters"]]
    assert parameters == [
        "prompt", "strategy", "samples", "max_new_tokens", "temperature", "top_k", "top_p",
        "num_beams", "repetition_penalty", "seed",
    ]  # fmt: skip


@QUIET_SERVER
def test_generate_decodes_as_the_page_does_penalties_included(live_app, gpt2_tokenizer):
    from gradio_client import Client

    from helpers.decoding import generate_text

    url, model, _ = live_app
    client = Client(url, verbose=False)
    for strategy in ("greedy", "beam"):
        request = dict(prompt="the the the", strategy=strategy, max_new_tokens=12, num_beams=3)
        plain = client.predict(**request, repetition_penalty=1.0, api_name="/generate")
        penalized = client.predict(**request, repetition_penalty=1.8, api_name="/generate")
        expected = generate_text(
            model, gpt2_tokenizer, ["the the the"], strategy, max_new_tokens=12, num_beams=3,
            repetition_penalty=1.8,
        )  # fmt: skip
        assert penalized == expected and penalized != plain  # the penalty slider acts


@QUIET_SERVER
def test_refused_api_requests_say_why(live_app):
    from gradio_client import Client

    client = Client(live_app[0], verbose=False)
    with pytest.raises(Exception, match="limit is 2,000"):
        client.predict(prompt="x" * 2001, api_name="/generate")
    with pytest.raises(Exception, match="above this app's limit of 63"):  # a 64-token model
        client.predict(prompt="p", max_new_tokens=150, api_name="/generate")
    with pytest.raises(Exception, match=r"\+1 or -1"):
        client.predict(prompt="p", text="some text", rating=3, api_name="/feedback")
    with pytest.raises(Exception, match="generate first"):
        client.predict(prompt="p", text=" ", rating=1, api_name="/feedback")
