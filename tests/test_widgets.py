"""The decoding playground's callbacks, driven without a browser."""

from __future__ import annotations

import html

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from helpers import widgets
from helpers.decoding import (
    DecodingSettings,
    apply_temperature,
    filter_top_k,
    filter_top_p,
    generate_continuations,
    generate_text,
    greedy,
)
from helpers.widgets import DecodingPlayground


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def model():
    """2 layers x 32 wide over GPT-2's vocabulary, 64-token context, random weights."""
    config = GPT2Config(n_layer=2, n_embd=32, n_head=2, n_positions=64, initializer_range=0.3)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return GPT2LMHeadModel(config).eval()


class Recorder:
    """Stands in for generate_text and remembers the settings each call received."""

    def __init__(self) -> None:
        self.calls: list[DecodingSettings] = []
        self.prompts: list = []

    def __call__(self, model, tokenizer, prompt, settings):
        self.calls.append(settings)
        self.prompts.append(prompt)
        return [" and so on"]


def next_logits(model, tokenizer, prompt: str) -> torch.Tensor:
    with torch.no_grad():
        return model(tokenizer(prompt, return_tensors="pt")["input_ids"]).logits[:, -1]


CONTROLS = [  # control, new value, the DecodingSettings field it must change
    ("strategy", "beam", "strategy"),
    ("temperature", 0.35, "temperature"),
    ("top_k", 17, "top_k"),
    ("top_p", 0.42, "top_p"),
    ("num_beams", 6, "num_beams"),
    ("repetition_penalty", 1.35, "repetition_penalty"),
    ("max_new_tokens", 9, "max_new_tokens"),
    ("seed", 1234, "seed"),
]


@pytest.mark.parametrize(("control", "value", "name"), CONTROLS, ids=[c[0] for c in CONTROLS])
def test_each_control_changes_what_the_decoder_gets(model, gpt2_tokenizer, control, value, name):
    recorder = Recorder()
    playground = DecodingPlayground(model, gpt2_tokenizer, "Hello", generate=recorder)
    playground.generate_button.click()
    before = recorder.calls[-1]
    assert getattr(before, name) != value
    getattr(playground, control).value = value
    playground.generate_button.click()
    after = recorder.calls[-1]
    expected = pytest.approx(value) if isinstance(value, float) else value
    assert getattr(after, name) == expected
    assert getattr(after, name) == getattr(playground.settings(), name)
    changed = {k for k in vars(before) if getattr(before, k) != getattr(after, k)}
    assert changed == {name}
    assert "and so on" in playground.output.value


def test_generate_shows_the_decoders_text(model, gpt2_tokenizer):
    playground = DecodingPlayground(
        model, gpt2_tokenizer, "To be", DecodingSettings(strategy="greedy")
    )
    playground.max_new_tokens.value = 6
    text = playground.on_generate()
    assert text == generate_text(model, gpt2_tokenizer, "To be", "greedy", max_new_tokens=6)[0]
    assert text and text in html.unescape(playground.output.value)


def test_a_new_seed_gives_a_new_sample(model, gpt2_tokenizer):
    playground = DecodingPlayground(
        model, gpt2_tokenizer, "Once", DecodingSettings(strategy="sample")
    )
    first = playground.on_generate()
    assert playground.on_generate() == first  # same seed, same draw
    playground.seed.value = 99
    assert playground.on_generate() != first


@pytest.mark.parametrize(
    ("strategy", "temperature", "top_k", "top_p"),
    [("top-p", 0.7, 0, 0.5), ("top-k", 1.3, 40, 1.0), ("sample", 0.5, 100, 0.8)],
)
def test_the_charts_kept_mass_is_what_the_filters_keep(
    model, gpt2_tokenizer, strategy, temperature, top_k, top_p
):
    settings = DecodingSettings(
        strategy=strategy, temperature=temperature, top_k=top_k, top_p=top_p
    )
    playground = DecodingPlayground(model, gpt2_tokenizer, "The king", settings)
    scaled = apply_temperature(next_logits(model, gpt2_tokenizer, "The king"), temperature)
    kept = torch.isfinite(filter_top_p(filter_top_k(scaled, top_k), top_p))[0]
    mass = float(torch.softmax(scaled, dim=-1)[0][kept].sum())
    view = playground.last_view
    assert torch.equal(view.kept, kept)
    assert view.kept_mass == pytest.approx(mass, abs=1e-6)
    assert f"{int(kept.sum())} token(s) kept, holding {mass:.1%}" in playground.info.value


def test_moving_a_slider_redraws_the_chart(model, gpt2_tokenizer):
    playground = DecodingPlayground(
        model, gpt2_tokenizer, "The", DecodingSettings(strategy="top-p", top_p=0.9)
    )
    chart, mass = playground.chart.value, playground.last_view.kept_mass
    assert bytes(chart).startswith(b"\x89PNG")
    playground.top_p.value = 0.3
    assert playground.chart.value != chart
    assert playground.last_view.kept_mass < mass


def test_choosing_a_filter_strategy_switches_its_filter_on(model, gpt2_tokenizer):
    playground = DecodingPlayground(
        model, gpt2_tokenizer, "The", DecodingSettings(strategy="sample")
    )
    playground.strategy.value = "top-k"
    assert playground.top_k.value == 50 and playground.settings().top_k == 50
    assert int(playground.last_view.kept.sum()) == 50


def test_step_appends_the_next_token_and_redraws(model, gpt2_tokenizer):
    playground = DecodingPlayground(
        model, gpt2_tokenizer, "Hello", DecodingSettings(strategy="greedy")
    )
    chart = playground.chart.value
    token = playground.on_step()
    ids = gpt2_tokenizer("Hello", return_tensors="pt")["input_ids"]
    expected = gpt2_tokenizer.decode(
        greedy(model, ids, 1, eos_token_id=gpt2_tokenizer.eos_token_id)[0, -1]
    )
    assert token == expected and playground.prompt.value == "Hello" + expected
    assert playground.chart.value != chart  # the chart now shows the token after that


def test_step_continues_the_chosen_tokens_not_their_text_encoded_again(
    gpt2_tokenizer, always_model, monkeypatch
):
    hel, lo = gpt2_tokenizer("Hel")["input_ids"], gpt2_tokenizer("lo")["input_ids"]
    # the trap: "Hel" + "lo" as text encodes again as ONE token the model never chose
    assert gpt2_tokenizer("Hello")["input_ids"] == [15496] and len(hel) == len(lo) == 1
    model = always_model(lo[0])  # always predicts "lo"
    continued = []

    def spy(model, tokenizer, prompts, **kwargs):
        continued.append(prompts)
        return generate_continuations(model, tokenizer, prompts, **kwargs)

    monkeypatch.setattr(widgets, "generate_continuations", spy)
    recorder = Recorder()
    playground = DecodingPlayground(
        model, gpt2_tokenizer, "Hel", DecodingSettings(strategy="greedy"), generate=recorder
    )
    assert playground.on_step() == "lo" and playground.prompt.value == "Hello"
    assert playground.on_step() == "lo" and playground.prompt.value == "Hellolo"
    assert continued == ["Hel", [hel + lo]]  # the second step continued the chosen ids
    assert playground.ids == hel + lo + lo  # not the text encoded again: [28254, 14057]
    playground.on_generate()
    assert recorder.prompts[-1] == [hel + lo + lo]  # Generate continues them too
    playground.prompt.value = "Hello"  # an edit by hand starts again from the text
    assert playground.prompt_tokens() is None
    playground.on_step()
    assert continued[-1] == "Hello" and playground.ids == [15496, lo[0]]


@pytest.mark.parametrize("strategy", ["greedy", "beam"])
def test_the_penalty_slider_acts_for_greedy_and_beam(model, gpt2_tokenizer, strategy):
    settings = DecodingSettings(strategy=strategy, num_beams=3, max_new_tokens=12)
    playground = DecodingPlayground(model, gpt2_tokenizer, "the the the", settings)
    plain, plain_view = playground.on_generate(), playground.last_view
    playground.repetition_penalty.value = 0.5  # < 1 favours the prompt's tokens; redraws
    penalized = playground.on_generate()
    expected = generate_text(
        model, gpt2_tokenizer, "the the the", strategy, num_beams=3, max_new_tokens=12,
        repetition_penalty=0.5,
    )  # fmt: skip
    assert penalized == expected[0] and penalized != plain
    assert not torch.equal(playground.last_view.scaled_probs, plain_view.scaled_probs)


def test_a_bad_setting_is_shown_not_raised(model, gpt2_tokenizer):
    recorder = Recorder()
    playground = DecodingPlayground(
        model, gpt2_tokenizer, "Hi", DecodingSettings(strategy="top-k", top_k=5), generate=recorder
    )
    playground.top_k.value = 0
    assert "top-k strategy needs top_k >= 1" in html.unescape(playground.info.value)
    assert playground.on_generate() == "" and recorder.calls == []


def test_the_playground_is_one_displayable_widget(model, gpt2_tokenizer):
    playground = DecodingPlayground(model, gpt2_tokenizer, "Hi")
    bundle = playground._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
