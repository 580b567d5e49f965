"""Streaming and generation_config round trips (the app and notebook 06 rely on them)."""

import warnings

import pytest
import torch
from transformers import GenerationConfig, GPT2Config, GPT2LMHeadModel

from helpers.decoding import (
    DecodingSettings,
    generate_text,
    make_settings,
    settings_from_generation_config,
    settings_to_generation_config,
    stream_text,
)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    config = GPT2Config(n_layer=1, n_embd=16, n_head=2, n_positions=64, initializer_range=0.3)
    return GPT2LMHeadModel(config).eval()


@pytest.mark.parametrize(
    "params",
    [
        {"strategy": "greedy"},
        {"strategy": "top-p", "top_p": 0.9, "seed": 4, "num_return_sequences": 3},
        {"strategy": "top-k", "top_k": 5, "temperature": 0.7, "seed": 1},
        {"strategy": "beam", "num_beams": 3, "num_return_sequences": 2},
        {"strategy": "greedy", "repetition_penalty": 1.4, "no_repeat_ngram_size": 2},
    ],
)
def test_the_last_streamed_texts_equal_generate_text(model, gpt2_tokenizer, params):
    prompts = ["To be, or not", "A horse"]
    expected = generate_text(model, gpt2_tokenizer, prompts, max_new_tokens=10, **params)
    steps = list(stream_text(model, gpt2_tokenizer, prompts, max_new_tokens=10, **params))
    assert steps[-1] == expected
    if params["strategy"] != "beam":
        assert len(steps) > 1  # it streamed
        for earlier, later in zip(steps, steps[1:], strict=False):
            assert all(b.startswith(a) or not a for a, b in zip(earlier, later, strict=True))


@pytest.mark.parametrize(
    "settings",
    [
        DecodingSettings(strategy="greedy", max_new_tokens=30),
        DecodingSettings(strategy="greedy", repetition_penalty=1.3, no_repeat_ngram_size=2),
        DecodingSettings(strategy="beam", num_beams=5, length_penalty=0.8, no_repeat_ngram_size=3),
        DecodingSettings(strategy="beam", num_beams=5, length_penalty=0.8, repetition_penalty=1.2),
        DecodingSettings(strategy="top-p", top_p=0.85, temperature=0.7, repetition_penalty=1.2),
        DecodingSettings(strategy="top-k", top_k=40, temperature=1.1),
        DecodingSettings(strategy="sample", temperature=0.9),
    ],
)
def test_generation_config_round_trip(tmp_path, settings):
    config = settings_to_generation_config(settings)
    config.save_pretrained(tmp_path)
    back = settings_from_generation_config(GenerationConfig.from_pretrained(tmp_path))
    names = ("strategy", "max_new_tokens", "top_k", "top_p", "repetition_penalty")
    for name in (*names, "no_repeat_ngram_size"):
        assert getattr(back, name) == getattr(settings, name), name
    if settings.samples:
        assert back.temperature == settings.temperature
    if settings.strategy == "beam":
        assert (back.num_beams, back.length_penalty) == (5, 0.8)


def test_generate_with_the_saved_config_decodes_like_our_greedy(model, gpt2_tokenizer):
    settings = make_settings(strategy="greedy", max_new_tokens=8)
    model.generation_config = settings_to_generation_config(settings, model.generation_config)
    inputs = gpt2_tokenizer(["To be, or not"], return_tensors="pt")
    output = model.generate(**inputs, pad_token_id=gpt2_tokenizer.eos_token_id)
    ours = generate_text(model, gpt2_tokenizer, ["To be, or not"], settings=settings)
    assert gpt2_tokenizer.decode(output[0, inputs["input_ids"].shape[1] :]) == ours[0]


def test_settings_may_be_passed_in_the_strategy_slot(model, gpt2_tokenizer):
    settings = make_settings(strategy="top-p", top_p=0.8, seed=2, max_new_tokens=6)
    expected = generate_text(model, gpt2_tokenizer, ["Hi"], settings=settings)
    assert generate_text(model, gpt2_tokenizer, ["Hi"], settings) == expected
    assert list(stream_text(model, gpt2_tokenizer, ["Hi"], settings))[-1] == expected


def test_a_sampling_config_on_a_beam_base_samples_as_ours_does(model, gpt2_tokenizer):
    """A base config that asked for beams must not turn sampling into beam sampling."""
    beam = make_settings(strategy="beam", num_beams=3)
    base = settings_to_generation_config(beam, model.generation_config)
    settings = make_settings(strategy="top-k", top_k=5, seed=2, max_new_tokens=8)
    config = settings_to_generation_config(settings, base)
    assert config.num_beams == 1
    inputs = gpt2_tokenizer(["To be, or not"], return_tensors="pt")
    torch.manual_seed(settings.seed)
    output = model.generate(**inputs, generation_config=config)
    ours = generate_text(model, gpt2_tokenizer, ["To be, or not"], settings=settings)
    assert gpt2_tokenizer.decode(output[0, inputs["input_ids"].shape[1] :]) == ours[0]


def test_what_our_decoders_cannot_do_is_named_not_dropped(model):
    with pytest.warns(UserWarning, match="min_new_tokens=5"):
        settings_from_generation_config(GenerationConfig(min_new_tokens=5))
    with pytest.warns(UserWarning, match="num_beams=3 .beam sampling"):
        settings_from_generation_config(GenerationConfig(do_sample=True, num_beams=3))
    with pytest.warns(UserWarning, match="max_length=30"):
        settings_from_generation_config(GenerationConfig(max_length=30))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # what a model has, or we write, needs no warning
        settings_from_generation_config(GenerationConfig(max_length=30, max_new_tokens=8))
        settings_from_generation_config(model.generation_config)
        for strategy in ("greedy", "beam", "top-p"):
            settings = make_settings(strategy=strategy, top_p=0.9, repetition_penalty=1.2)
            saved = settings_to_generation_config(settings, model.generation_config)
            settings_from_generation_config(saved)
