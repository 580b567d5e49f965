import math

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from helpers.decoding import generate_continuations
from helpers.evaluation import (
    DEFAULT_DECODERS,
    HUMAN,
    SPREAD,
    ComparisonTable,
    compare_decoders,
    holtzman_orderings,
)
from helpers.metrics import NgramIndex
from helpers.relevance import pmi_per_token

PROMPTS = ["To be, or not to be", "Friends, Romans, countrymen"]
HUMAN_TEXTS = [  # passages that start with their prompt: the rest is the human continuation
    PROMPTS[0] + ", that is the question: whether 'tis nobler in the mind to suffer the "
    "slings and arrows of outrageous fortune, or to take arms against a sea of troubles.",
    PROMPTS[1] + ", lend me your ears; I come to bury Caesar, not to praise him. The evil "
    "that men do lives after them; the good is oft interred with their bones.",
]
GREEDY = {"greedy": {"strategy": "greedy"}}


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    config = GPT2Config(n_layer=1, n_embd=16, n_head=2, n_positions=64, initializer_range=0.3)
    model = GPT2LMHeadModel(config).eval()
    model.loss_type = "ForCausalLM"
    return model


def test_every_decoder_and_the_human_text_get_comparable_rows(model, gpt2_tokenizer):
    table = compare_decoders(
        model, gpt2_tokenizer, PROMPTS, HUMAN_TEXTS, max_new_tokens=12, seeds=(0, 1)
    )
    assert table.column("decoder") == [HUMAN, *DEFAULT_DECODERS]
    for row in table.rows:
        assert row["tokens"] == 12  # the same length everywhere
        assert row["perplexity"] > 1 and 0 <= row["distinct_2"] <= 1
        assert math.isfinite(row["relevance"]) and 0 <= row["coherence"] <= 1
    for name, texts in table.samples.items():
        assert len(texts) == len(PROMPTS), name  # one text per prompt, beam included
    sampled = [n for n, p in DEFAULT_DECODERS.items() if p["strategy"] != "greedy" and
               p["strategy"] != "beam"]  # fmt: skip
    for row in table.rows:
        assert (row["decoder"] in sampled) == (SPREAD.join(["perplexity", ""]) in row)
        assert row["runs"] == (2 if row["decoder"] in sampled else 1)
    text = str(table)
    assert "self-BLEU" in text and "relevance" in text and "±" in text
    assert "stand-in" in table.coherence_method and "<table>" in table._repr_html_()


def test_the_human_row_is_what_followed_each_prompt(model, gpt2_tokenizer):
    table = compare_decoders(model, gpt2_tokenizer, PROMPTS, HUMAN_TEXTS, GREEDY, max_new_tokens=10)
    for prompt, passage, text in zip(PROMPTS, HUMAN_TEXTS, table.samples[HUMAN], strict=True):
        rest = gpt2_tokenizer(passage[len(prompt) :])["input_ids"][:10]
        assert text == gpt2_tokenizer.decode(rest)
    assert table.human_perplexity == table.row(HUMAN)["perplexity"]
    assert table.row(HUMAN)["ppl_gap"] == 0


def test_end_of_text_does_not_shorten_a_decoder(always_model, gpt2_tokenizer):
    """A model that always predicts <|endoftext|> would stop at once; the table asks for
    the same number of tokens from every decoder, so it does not stop."""
    model = always_model(gpt2_tokenizer.eos_token_id)
    table = compare_decoders(
        model, gpt2_tokenizer, PROMPTS, HUMAN_TEXTS, {**GREEDY, "beam 2": {"strategy": "beam",
        "num_beams": 2}}, max_new_tokens=8,
    )  # fmt: skip
    assert table.row("greedy")["tokens"] == table.row("beam 2")["tokens"] == 8


def test_self_bleu_is_across_prompts(always_model, gpt2_tokenizer):
    """A model that says the same thing whatever the prompt: self-BLEU 100, rep-2 high;
    the human continuations of different prompts share little."""
    model = always_model(gpt2_tokenizer(" the")["input_ids"][0])
    table = compare_decoders(model, gpt2_tokenizer, PROMPTS, HUMAN_TEXTS, GREEDY, max_new_tokens=12)
    greedy, human = table.row("greedy"), table.row(HUMAN)
    assert greedy["self_bleu"] == pytest.approx(100)
    assert human["self_bleu"] < 20
    assert greedy["rep_2"] > 80 > human["rep_2"]


def test_relevance_is_pmi_under_the_reference_model(model, gpt2_tokenizer):
    torch.manual_seed(1)
    config = GPT2Config(n_layer=1, n_embd=16, n_head=2, n_positions=64, initializer_range=0.3)
    reference = GPT2LMHeadModel(config).eval()
    table = compare_decoders(
        model, gpt2_tokenizer, PROMPTS, HUMAN_TEXTS, GREEDY, reference_model=reference,
        max_new_tokens=8,
    )  # fmt: skip
    generated = generate_continuations(model, gpt2_tokenizer, PROMPTS, "greedy", max_new_tokens=8)
    assert all(len(ids) == 8 for ids in generated.new_ids)  # no end-of-text: same tokens
    expected = pmi_per_token(
        reference, generated.prompt_ids, generated.new_ids, gpt2_tokenizer.eos_token_id
    ).mean()
    assert table.row("greedy")["relevance"] == pytest.approx(expected, abs=1e-5)
    itself = compare_decoders(model, gpt2_tokenizer, PROMPTS, HUMAN_TEXTS, GREEDY, max_new_tokens=8)
    assert not math.isclose(itself.row("greedy")["relevance"], expected, rel_tol=1e-3)
    assert table.relevance_model != itself.relevance_model


def test_memorisation_columns_catch_copied_text(model, gpt2_tokenizer):
    greedy = generate_continuations(model, gpt2_tokenizer, PROMPTS, "greedy", max_new_tokens=16)
    index = NgramIndex(greedy.new_ids, n=8)  # "training data" = its own output
    table = compare_decoders(
        model, gpt2_tokenizer, PROMPTS, HUMAN_TEXTS, GREEDY, training_index=index,
        max_new_tokens=16,
    )  # fmt: skip
    assert table.row("greedy")["copied_share"] == pytest.approx(1.0)
    assert table.row("greedy")["longest_copy"] >= 8
    assert table.row(HUMAN)["copied_share"] == 0


def test_generated_tokens_are_scored_as_chosen_not_re_encoded(always_model, gpt2_tokenizer):
    """A model that always says "\\n": its greedy text is "\\n\\n\\n...", which encodes
    again as "\\n\\n" tokens the model never chose. Scoring those would report a huge
    perplexity for text the model found near-certain."""
    newline = gpt2_tokenizer("\n")["input_ids"][0]
    model = always_model(newline)
    table = compare_decoders(model, gpt2_tokenizer, PROMPTS, HUMAN_TEXTS, GREEDY, max_new_tokens=10)
    assert table.samples["greedy"] == ["\n" * 10] * len(PROMPTS)
    assert gpt2_tokenizer("\n" * 10)["input_ids"] != [newline] * 10
    assert table.row("greedy")["perplexity"] == pytest.approx(1.0, abs=1e-3)
    assert table.row("greedy")["rep_2"] > 80  # a loop of blank lines is a repetition


def test_a_run_of_spaces_is_not_reported_as_copied(always_model, gpt2_tokenizer):
    space = gpt2_tokenizer(" ")["input_ids"][0]
    index = NgramIndex([[space] * 100], n=8)  # the training data has long runs of spaces
    table = compare_decoders(
        always_model(space), gpt2_tokenizer, PROMPTS, HUMAN_TEXTS, GREEDY,
        training_index=index, max_new_tokens=20,
    )  # fmt: skip
    assert table.samples["greedy"] == [" " * 20] * len(PROMPTS)
    assert table.row("greedy")["copied_share"] == 0 and table.row("greedy")["longest_copy"] == 0


def test_older_spelling_and_bad_inputs(model, gpt2_tokenizer):
    sampled = {"top-k 5": {"strategy": "top-k", "top_k": 5}}
    table = compare_decoders(
        model, gpt2_tokenizer, PROMPTS, HUMAN_TEXTS, sampled, max_new_tokens=6,
        samples_per_prompt=3, seed=4,
    )  # fmt: skip
    assert table.seeds == (4, 5, 6) and table.row("top-k 5")["runs"] == 3
    with pytest.raises(ValueError, match="one human text per prompt"):
        compare_decoders(model, gpt2_tokenizer, PROMPTS, HUMAN_TEXTS[:1], GREEDY)
    with pytest.raises(ValueError, match="seeds is empty"):
        compare_decoders(model, gpt2_tokenizer, PROMPTS, HUMAN_TEXTS, GREEDY, seeds=())
    with (  # 60 new tokens leave the small model's context little room for the prompts
        pytest.warns(UserWarning, match="fewer than 60 tokens"),
        pytest.warns(UserWarning, match="kept the last"),
    ):
        compare_decoders(model, gpt2_tokenizer, PROMPTS, HUMAN_TEXTS, GREEDY, max_new_tokens=60)


def _table(values: dict[str, tuple[float, float, float, float]]) -> ComparisonTable:
    """rows from {name: (rep_2, self_bleu, perplexity, spread of each)}."""
    rows = [
        {"decoder": n, "rep_2": r, "self_bleu": b, "perplexity": p, "rep_2" + SPREAD: s,
         "self_bleu" + SPREAD: s, "perplexity" + SPREAD: s}
        for n, (r, b, p, s) in values.items()
    ]  # fmt: skip
    return ComparisonTable(rows, human_perplexity=values[HUMAN][2])


def test_holtzman_orderings_hold_and_break_on_the_numbers():
    paper = _table({HUMAN: (1, 31, 12.4, 0), "greedy": (60, 50, 1.5, 0),
                    "beam 4": (40, 44, 1.5, 0), "pure sampling": (1, 28, 22.7, 0.5),
                    "top-p 0.95": (2, 32, 13.1, 0.5)})  # fmt: skip
    assert [c.holds for c in holtzman_orderings(paper)] == [True, True, True]
    assert all(c.separated for c in holtzman_orderings(paper))
    broken = _table({HUMAN: (1, 31, 30.0, 0), "greedy": (60, 50, 1.5, 0),
                     "beam 4": (1.5, 44, 1.5, 0), "pure sampling": (1, 28, 22.7, 0.5),
                     "top-p 0.95": (2, 43, 13.1, 5)})  # fmt: skip
    checks = holtzman_orderings(broken)
    assert [c.holds for c in checks] == [False, True, False]
    assert not checks[1].separated  # 43 ± 5 overlaps beam's 44
    assert "human 30.0" in checks[2].evidence and "pure sampling 22.7 ± 0.5" in checks[2].evidence
