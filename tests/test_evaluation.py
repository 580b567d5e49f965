import math

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from helpers.decoding import generate_continuations
from helpers.evaluation import DEFAULT_DECODERS, compare_decoders
from helpers.metrics import NgramIndex

PROMPTS = ["To be, or not to be", "Friends, Romans, countrymen"]
HUMAN = [
    "Now is the winter of our discontent made glorious summer by this sun of York.",
    "Is this a dagger which I see before me, the handle toward my hand?",
]


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    config = GPT2Config(n_layer=1, n_embd=16, n_head=2, n_positions=64, initializer_range=0.3)
    model = GPT2LMHeadModel(config).eval()
    model.loss_type = "ForCausalLM"
    return model


def test_every_decoder_gets_a_row_with_every_metric(model, gpt2_tokenizer):
    table = compare_decoders(
        model, gpt2_tokenizer, PROMPTS, HUMAN, max_new_tokens=12, samples_per_prompt=2
    )
    assert [row["decoder"] for row in table.rows] == list(DEFAULT_DECODERS)
    for row in table.rows:
        assert row["perplexity"] > 1 and 0 <= row["distinct_2"] <= 1
        assert 0 <= row["js_divergence"] <= 1
    assert len(table.samples["greedy"]) == len(PROMPTS)  # greedy: one per prompt
    assert len(table.samples["top-p 0.9"]) == 2 * len(PROMPTS)
    text = str(table)
    assert "self-BLEU" in text and "human text of the corpus" in text
    assert "<table>" in table._repr_html_()


def test_memorisation_columns_catch_copied_text(model, gpt2_tokenizer):
    greedy = generate_continuations(model, gpt2_tokenizer, PROMPTS, "greedy", max_new_tokens=16)
    index = NgramIndex(greedy.new_ids, n=8)  # "training data" = its own output
    table = compare_decoders(
        model, gpt2_tokenizer, PROMPTS, HUMAN, {"greedy": {"strategy": "greedy"}},
        training_index=index, max_new_tokens=16,
    )  # fmt: skip
    assert table.rows[0]["copied_share"] == pytest.approx(1.0)
    assert table.rows[0]["longest_copy"] >= 8


def test_reference_model_adds_a_column(model, gpt2_tokenizer):
    """The column scores the tokens `model` chose under ANOTHER model, after their prompts."""
    torch.manual_seed(1)
    config = GPT2Config(n_layer=1, n_embd=16, n_head=2, n_positions=64, initializer_range=0.3)
    reference = GPT2LMHeadModel(config).eval()
    table = compare_decoders(
        model, gpt2_tokenizer, PROMPTS, HUMAN, {"greedy": {"strategy": "greedy"}},
        reference_model=reference, max_new_tokens=8,
    )  # fmt: skip
    generated = generate_continuations(model, gpt2_tokenizer, PROMPTS, "greedy", max_new_tokens=8)
    log_probs = []  # brute force: one unpadded forward pass per prompt + continuation
    for prompt_ids, new_ids in zip(generated.prompt_ids, generated.new_ids, strict=True):
        with torch.no_grad():
            logits = reference(torch.tensor([prompt_ids + new_ids])).logits[0].double()
        chosen = torch.log_softmax(logits, dim=-1)[len(prompt_ids) - 1 : -1]
        log_probs += chosen.gather(1, torch.tensor(new_ids)[:, None]).flatten().tolist()
    row = table.rows[0]
    assert row["reference_perplexity"] == pytest.approx(
        math.exp(-sum(log_probs) / len(log_probs)), rel=1e-5
    )
    assert not math.isclose(row["reference_perplexity"], row["perplexity"], rel_tol=1e-3)


def test_generated_tokens_are_scored_as_chosen_not_re_encoded(always_model, gpt2_tokenizer):
    """A model that always says "\\n": its greedy text is "\\n\\n\\n...", which encodes
    again as "\\n\\n" tokens the model never chose. Scoring those would report a huge
    perplexity for text the model found near-certain."""
    newline = gpt2_tokenizer("\n")["input_ids"][0]
    model = always_model(newline)
    table = compare_decoders(
        model, gpt2_tokenizer, PROMPTS, HUMAN, {"greedy": {"strategy": "greedy"}},
        max_new_tokens=10,
    )  # fmt: skip
    assert table.samples["greedy"] == ["\n" * 10] * len(PROMPTS)
    assert gpt2_tokenizer("\n" * 10)["input_ids"] != [newline] * 10
    assert table.rows[0]["perplexity"] == pytest.approx(1.0, abs=1e-3)


def test_a_run_of_spaces_is_not_reported_as_copied(always_model, gpt2_tokenizer):
    space = gpt2_tokenizer(" ")["input_ids"][0]
    index = NgramIndex([[space] * 100], n=8)  # the training data has long runs of spaces
    table = compare_decoders(
        always_model(space), gpt2_tokenizer, PROMPTS, HUMAN, {"greedy": {"strategy": "greedy"}},
        training_index=index, max_new_tokens=20,
    )  # fmt: skip
    assert table.samples["greedy"] == [" " * 20] * len(PROMPTS)
    assert table.rows[0]["copied_share"] == 0 and table.rows[0]["longest_copy"] == 0
