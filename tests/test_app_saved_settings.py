"""A model's saved generation settings that lie past a slider's usual end (notebook 06 can
choose top-k 2,560) widen that slider instead of breaking the page."""

from __future__ import annotations

import torch
from transformers import GPT2Config, GPT2LMHeadModel

from helpers.app import AppConfig, build_app
from helpers.model_source import ModelSource


def _slider(app, elem_id=None, label=None):
    for block in app.blocks.values():
        if type(block).__name__ == "Slider" and (
            (elem_id and block.elem_id == elem_id) or (label and block.label == label)
        ):
            return block
    raise AssertionError(f"no slider {elem_id or label}")


def test_sliders_reach_the_saved_settings(gpt2_tokenizer, tmp_path):
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=16, n_head=2, n_positions=64)).eval()
    model.generation_config.update(
        do_sample=True, top_k=2560, temperature=3.0, repetition_penalty=2.5
    )
    source = ModelSource("tiny", "local", "tiny", "a test model")
    app = build_app(model, gpt2_tokenizer, source, AppConfig(feedback_file=str(tmp_path / "f")))
    top_k = _slider(app, elem_id="top-k")
    assert (top_k.maximum, top_k.value) == (2560, 2560)
    assert _slider(app, elem_id="temperature").maximum == 3.0
    assert _slider(app, label="Repetition penalty").maximum == 2.5


def test_ordinary_settings_keep_the_usual_ranges(gpt2_tokenizer, tmp_path):
    model = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=16, n_head=2, n_positions=64)).eval()
    model.generation_config.update(top_k=40)
    source = ModelSource("tiny", "local", "tiny", "a test model")
    app = build_app(model, gpt2_tokenizer, source, AppConfig(feedback_file=str(tmp_path / "f")))
    assert _slider(app, elem_id="top-k").maximum == 200
