"""A saved folder whose weights do not match its config.json is one clear error; tied and
legacy weights still load (helpers.saved_weights, through load_model)."""

import json
from pathlib import Path

import pytest
import torch
from transformers import GPT2LMHeadModel

from helpers.modeling import (
    ModelNotAvailableError,
    load_model,
    load_model_and_tokenizer,
    save_model,
)
from helpers.saved_weights import load_saved_model


def save_small_gpt2(folder: Path, tokenizer, **config) -> Path:
    """A tiny random GPT-2 with GPT-2's vocabulary, saved with its tokenizer."""
    from transformers import GPT2Config

    shape = {"n_layer": 2, "n_embd": 16, "n_head": 2, "n_positions": 32, **config}
    torch.manual_seed(0)
    return save_model(GPT2LMHeadModel(GPT2Config(**shape)), tokenizer, folder)


def edit_config(folder: Path, **changes) -> None:
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    (folder / "config.json").write_text(json.dumps({**config, **changes}), encoding="utf-8")


@pytest.mark.parametrize(
    ("changes", "differ", "what"),
    [
        (
            {"n_layer": 4},
            "n_layer 4 in config.json, 2 in the weights",
            "24 weights it asks for are missing (transformer.h.2.",
        ),
        (
            {"n_layer": 1},
            "n_layer 1 in config.json, 2 in the weights",
            "saved weights have no place in it (transformer.h.1.",
        ),
        (
            {"n_embd": 32},
            "n_embd 32 in config.json, 16 in the weights",
            "saved weights have another shape (transformer.h.0.attn.c_attn.bias (saved 48, "
            "config 96)",
        ),
        (
            {"n_positions": 64},
            "n_positions 64 in config.json, 32 in the weights",
            "1 saved weight has another shape (transformer.wpe.weight (saved 32x16, config 64x16))",
        ),
    ],
)
def test_weights_that_do_not_match_the_config_are_an_error(
    tmp_path, gpt2_tokenizer, capsys, caplog, changes, differ, what
):
    folder = save_small_gpt2(tmp_path / "edited", gpt2_tokenizer)
    edit_config(folder, **changes)
    with pytest.raises(ModelNotAvailableError) as caught:
        load_model_and_tokenizer(folder, device="cpu")
    message = str(caught.value)
    assert message.startswith(f"The weights saved in '{folder}' do not match its config.json")
    assert differ in message and what in message, message
    assert "copy the folder again, or save the model there again" in message
    assert "\n" not in message and "ignore_mismatched_sizes" not in message
    logged = capsys.readouterr().err + caplog.text
    assert "LOAD REPORT" not in logged  # one clear error, not transformers' table as well


def test_tied_and_legacy_weights_still_load(tmp_path, gpt2_tokenizer):
    from safetensors.torch import load_file, save_file

    folder = save_small_gpt2(tmp_path / "tied", gpt2_tokenizer)
    weights = load_file(folder / "model.safetensors")
    assert "lm_head.weight" not in weights  # tied to wte: legitimately not saved
    reference = load_model(folder, device="cpu")
    # as older versions saved it: lm_head written out, and the attention masks with it
    weights["lm_head.weight"] = weights["transformer.wte.weight"].clone()
    for layer in range(2):
        weights[f"transformer.h.{layer}.attn.bias"] = torch.tril(torch.ones(1, 1, 32, 32))
        weights[f"transformer.h.{layer}.attn.masked_bias"] = torch.tensor(-1e4)
    save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})
    legacy = load_model(folder, device="cpu")
    assert legacy.lm_head.weight is legacy.transformer.wte.weight
    ids = torch.tensor([[15496, 995]])
    with torch.no_grad():
        assert torch.equal(reference(ids).logits, legacy(ids).logits)


def test_untied_config_without_lm_head_is_an_error(tmp_path, gpt2_tokenizer):
    folder = save_small_gpt2(tmp_path / "untied", gpt2_tokenizer)
    edit_config(folder, tie_word_embeddings=False)
    with pytest.raises(
        ModelNotAvailableError,
        match=r"1 weight it asks for is missing "
        r"\(lm_head.weight\)",
    ):
        load_model(folder, device="cpu")
    with pytest.raises(ModelNotAvailableError, match="do not match its config.json"):
        load_saved_model(folder)  # the check itself, without the loading around it
