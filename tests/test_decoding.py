"""Our decoders against ``model.generate``, token for token; transforms against transformers'."""

from __future__ import annotations

import copy
import warnings
from dataclasses import replace
from functools import lru_cache

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel
from transformers.generation.logits_process import (
    LogitsProcessorList,
    NoRepeatNGramLogitsProcessor,
    RepetitionPenaltyLogitsProcessor,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from helpers.decoding import (
    DecodingSettings,
    apply_temperature,
    ban_repeated_ngrams,
    beam_search,
    filter_top_k,
    filter_top_p,
    generate_continuations,
    generate_kwargs,
    generate_text,
    greedy,
    make_settings,
    next_token_view,
    penalize_repetition,
    plain_generation_config,
    sample,
    settings_from_generation_config,
    transform_logits,
)

VOCAB, PAD, NEW = 64, 63, 12  # a tiny vocabulary; the pad id; new tokens per test run


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny models run fastest on one thread, and a busy machine does not slow them down."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@lru_cache
def tiny_model(seed: int, vocab: int = VOCAB, positions: int = 64) -> GPT2LMHeadModel:
    """2 layers x 32 wide, no end-of-text of its own (each test picks one), random weights.

    A wide initialisation (0.3) gives peaked distributions, so greedy and beam search
    repeat themselves and end-of-text can be made likely, as with a trained model.
    """
    config = GPT2Config(
        n_layer=2,
        n_embd=32,
        n_head=2,
        vocab_size=vocab,
        n_positions=positions,
        bos_token_id=None,
        eos_token_id=None,
        initializer_range=0.3,
    )
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = GPT2LMHeadModel(config).eval()
    model.loss_type = "ForCausalLM"
    return model


def padded_batch(seed: int, lengths: tuple[int, ...] = (5, 2, 7)) -> tuple[torch.Tensor, ...]:
    """Prompts of different lengths, left-padded with PAD, and their attention mask."""
    generator = torch.Generator().manual_seed(seed)
    width = max(lengths)
    ids = torch.randint(0, VOCAB - 1, (len(lengths), width), generator=generator)
    mask = torch.ones_like(ids)
    for row, length in enumerate(lengths):
        ids[row, : width - length] = PAD
        mask[row, : width - length] = 0
    return ids, mask


def eos_reached_by(run, prompt_length: int, step: int) -> int:
    """An end-of-text id that row 0 produces within ``step`` new tokens: what a free run
    (no end-of-text) put there. With it, some rows stop early and get padded."""
    return int(run(None)[0, prompt_length + step])


def assert_row_ends_at_eos(ids: torch.Tensor, prompt_length: int, eos: int) -> None:
    new = ids[0, prompt_length:]
    assert (new == eos).any(), "row 0 should have produced end-of-text"
    end = int((new == eos).nonzero()[0])
    assert (new[end + 1 :] == PAD).all(), "after end-of-text a row holds only padding"


# --------------------------------------------------------------------------------------
# greedy
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_greedy_equals_generate_on_a_padded_batch(seed):
    model = tiny_model(seed)
    ids, mask = padded_batch(seed)

    def reference(eos):
        return model.generate(
            ids,
            attention_mask=mask,
            max_new_tokens=NEW,
            do_sample=False,
            num_beams=1,
            eos_token_id=eos,
            pad_token_id=PAD,
        )

    eos = eos_reached_by(reference, ids.shape[1], step=2)
    ours = greedy(model, ids, NEW, attention_mask=mask, eos_token_id=eos, pad_token_id=PAD)
    assert torch.equal(ours, reference(eos))
    assert_row_ends_at_eos(ours, ids.shape[1], eos)


PENALTY_CASES = [
    dict(repetition_penalty=1.5),
    dict(repetition_penalty=0.7),  # < 1 favours repeating: allowed, as in generate
    dict(no_repeat_ngram_size=2),
    dict(repetition_penalty=1.3, no_repeat_ngram_size=3),
]


def greedy_reference(model, ids, mask, eos, **penalties):
    return model.generate(
        ids,
        attention_mask=mask,
        max_new_tokens=NEW,
        do_sample=False,
        num_beams=1,
        eos_token_id=eos,
        pad_token_id=PAD,
        **penalties,
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(
    "options", PENALTY_CASES, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items())
)
def test_greedy_with_penalties_equals_generate(options, seed):
    """generate applies the penalties in greedy search too: so must we."""
    model = tiny_model(seed)
    ids, mask = padded_batch(seed + 30)
    eos = eos_reached_by(
        lambda e: greedy_reference(model, ids, mask, e, **options), ids.shape[1], step=3
    )
    expected = greedy_reference(model, ids, mask, eos, **options)
    ours = greedy(
        model, ids, NEW, attention_mask=mask, eos_token_id=eos, pad_token_id=PAD, **options
    )
    assert torch.equal(ours, expected)


SAVED_BY_REFINEMENT = dict(repetition_penalty=1.5, no_repeat_ngram_size=1, top_k=5)
"""Settings a model may carry in generation_config.json (notebook 06 saves such)."""


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_plain_generation_config_ignores_the_models_saved_settings(seed):
    """Notebook 04 compares our greedy and sampling with generate; a model saved by
    notebook 06 carries a penalty that generate would otherwise apply."""
    model = copy.deepcopy(tiny_model(seed))
    model.generation_config.update(**SAVED_BY_REFINEMENT)
    ids, mask = padded_batch(seed + 30)
    ours = greedy(model, ids, NEW, attention_mask=mask, pad_token_id=PAD)
    fixed = dict(max_new_tokens=NEW, pad_token_id=PAD)
    config = plain_generation_config(do_sample=False, **fixed)
    assert torch.equal(ours, model.generate(ids, attention_mask=mask, generation_config=config))
    # the trap this avoids: arguments alone leave the saved penalty in force
    saved = model.generate(ids, attention_mask=mask, do_sample=False, num_beams=1, **fixed)
    assert not torch.equal(ours, saved)
    settings = dict(do_sample=True, temperature=0.8, **fixed)
    torch.manual_seed(seed)
    theirs = model.generate(
        ids, attention_mask=mask, generation_config=plain_generation_config(**settings)
    )
    torch.manual_seed(seed)
    mine = sample(model, ids, NEW, temperature=0.8, attention_mask=mask, pad_token_id=PAD)
    assert torch.equal(mine, theirs)


@pytest.mark.parametrize(
    "options", PENALTY_CASES, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items())
)
def test_the_penalties_change_what_greedy_chooses(options):
    """Without this the equality above could hold because the penalties never bite."""
    changed = []
    for seed in (0, 1, 2):
        model = tiny_model(seed)
        ids, mask = padded_batch(seed + 30)
        plain = greedy_reference(model, ids, mask, None)
        changed.append(not torch.equal(plain, greedy_reference(model, ids, mask, None, **options)))
    assert any(changed)


@pytest.mark.parametrize("use_cache", [True, False])
def test_greedy_without_padding_or_mask_and_without_cache(use_cache):
    model = tiny_model(4)
    ids = torch.randint(0, VOCAB - 1, (1, 6), generator=torch.Generator().manual_seed(4))
    expected = model.generate(
        ids, max_new_tokens=20, do_sample=False, pad_token_id=PAD, use_cache=use_cache
    )
    assert torch.equal(greedy(model, ids, 20, use_cache=use_cache), expected)
    assert expected.shape == (1, 26)  # no end-of-text: all 20 tokens


def test_the_cache_holds_every_position_once():
    model = tiny_model(0)
    ids, mask = padded_batch(0)
    from helpers.decoding import CachedForward

    forward = CachedForward(model, mask, *ids.shape)
    forward(ids)
    forward(torch.cat([ids, ids[:, :1]], dim=1))
    assert forward.cache.get_seq_length() == ids.shape[1] + 1
    assert forward.positions[:, -1].tolist() == [5, 2, 7]  # real tokens only, from 0


# --------------------------------------------------------------------------------------
# beam search
# --------------------------------------------------------------------------------------

BEAM_CASES = [
    dict(num_beams=2),
    dict(num_beams=2, length_penalty=2.0),  # its stopping guess is tested: longer ones win
    dict(
        num_beams=3,
        length_penalty=0.5,
        no_repeat_ngram_size=2,
        early_stopping=True,
        num_return_sequences=2,
    ),
    dict(num_beams=4, length_penalty=2.0, early_stopping="never", num_return_sequences=4),
    dict(num_beams=2, length_penalty=2.0, early_stopping="never", num_return_sequences=2),
    dict(num_beams=4, length_penalty=-1.0, no_repeat_ngram_size=3, num_return_sequences=3),
    dict(num_beams=3, early_stopping=True, num_return_sequences=3),
    dict(num_beams=1, no_repeat_ngram_size=2),
    # generate applies the repetition penalty to beam search's log-probabilities too
    dict(num_beams=3, repetition_penalty=1.5),
    dict(num_beams=2, repetition_penalty=0.7, no_repeat_ngram_size=2, num_return_sequences=2),
    dict(
        num_beams=4,
        repetition_penalty=1.2,
        length_penalty=0.5,
        early_stopping=True,
        num_return_sequences=3,
    ),  # fmt: skip
    dict(num_beams=1, repetition_penalty=1.3),
]


@pytest.mark.parametrize("seed", [0, 2, 3])
@pytest.mark.parametrize(
    "options", BEAM_CASES, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items())
)
def test_beam_search_equals_generate(options, seed):
    model = tiny_model(seed)
    ids, mask = padded_batch(seed + 10)

    def reference(eos):
        return model.generate(
            ids,
            attention_mask=mask,
            max_new_tokens=NEW,
            do_sample=False,
            eos_token_id=eos,
            pad_token_id=PAD,
            **options,
        )

    # the best first token of row 0 as end-of-text: hypotheses end from the first step on
    eos = int(greedy(model, ids, 1, attention_mask=mask)[0, -1])
    expected = reference(eos)
    ours = beam_search(
        model, ids, NEW, attention_mask=mask, eos_token_id=eos, pad_token_id=PAD, **options
    )
    assert ours.shape == expected.shape
    assert torch.equal(ours, expected)
    if options.get("length_penalty", 1.0) < 0:  # short hypotheses win: they end at eos
        assert_row_ends_at_eos(ours, ids.shape[1], eos)


def test_the_repetition_penalty_changes_what_beam_search_keeps():
    """Without this the beam cases above could pass because the penalty never bites."""
    changed = []
    for seed in (0, 2, 3):
        model = tiny_model(seed)
        ids, mask = padded_batch(seed + 10)
        runs = [
            model.generate(
                ids,
                attention_mask=mask,
                max_new_tokens=NEW,
                do_sample=False,
                num_beams=3,
                pad_token_id=PAD,
                repetition_penalty=penalty,
            )  # fmt: skip
            for penalty in (1.0, 1.5)
        ]
        changed.append(not torch.equal(*runs))
    assert any(changed)


# --------------------------------------------------------------------------------------
# sampling
# --------------------------------------------------------------------------------------

SAMPLE_CASES = [
    dict(temperature=1.0, top_k=0, top_p=1.0),
    dict(temperature=0.7, top_k=10, top_p=1.0),
    dict(temperature=1.3, top_k=0, top_p=0.8, repetition_penalty=1.2),
    dict(temperature=0.5, top_k=5, top_p=0.9, repetition_penalty=1.5, no_repeat_ngram_size=2),
    dict(temperature=1.0, top_k=1, top_p=1.0),
    dict(temperature=2.0, top_k=0, top_p=1e-6, repetition_penalty=0.8),
]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(
    "options", SAMPLE_CASES, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items())
)
def test_sample_equals_generate_after_the_same_seed(options, seed):
    model = tiny_model(seed)
    ids, mask = padded_batch(seed + 20)

    def reference(eos):
        torch.manual_seed(seed)
        return model.generate(
            ids,
            attention_mask=mask,
            max_new_tokens=NEW,
            do_sample=True,
            eos_token_id=eos,
            pad_token_id=PAD,
            **options,
        )

    eos = eos_reached_by(reference, ids.shape[1], step=2)
    expected = reference(eos)
    torch.manual_seed(seed)
    ours = sample(
        model, ids, NEW, attention_mask=mask, eos_token_id=eos, pad_token_id=PAD, **options
    )
    assert torch.equal(ours, expected)
    assert_row_ends_at_eos(ours, ids.shape[1], eos)
    # a seeded generator of our own draws the same numbers as the seeded global one
    generator = torch.Generator().manual_seed(seed)
    again = sample(
        model,
        ids,
        NEW,
        attention_mask=mask,
        eos_token_id=eos,
        pad_token_id=PAD,
        generator=generator,
        **options,
    )
    assert torch.equal(again, expected)


def test_different_seeds_give_different_samples():
    model = tiny_model(0)
    ids, mask = padded_batch(0)
    draws = {
        tuple(
            sample(model, ids, NEW, attention_mask=mask, generator=torch.Generator().manual_seed(s))
            .flatten()
            .tolist()
        )
        for s in range(3)
    }
    assert len(draws) == 3


# --------------------------------------------------------------------------------------
# logits transforms against transformers' processors
# --------------------------------------------------------------------------------------


def random_logits(seed: int = 0, vocab: int = 40) -> torch.Tensor:
    """Rows with ties, extreme values, masked tokens, a flat row and a one-hot-like row."""
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(7, vocab, generator=generator) * 3
    logits[0] = torch.randint(-2, 3, (vocab,), generator=generator).float()  # many ties
    logits[1, :10] = logits[1, 10:20]  # exact duplicates
    logits[2, 5], logits[2, 6] = 80.0, -80.0  # extreme values
    logits[3, ::3] = -float("inf")  # tokens already ruled out
    logits[4] = 0.0  # all equal
    logits[5, 7] = 1e4  # one token holds all the mass
    logits[6] = logits[6] * 1e-3  # almost flat
    return logits


def previous_tokens(seed: int = 0, length: int = 14, alphabet: int = 4) -> torch.Tensor:
    """Sequences from a small alphabet: many repeated tokens and n-grams."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, alphabet, (7, length), generator=generator)


@pytest.mark.parametrize("temperature", [0.05, 0.7, 1.0, 2.5])
def test_temperature_matches_transformers(temperature):
    logits = random_logits()
    expected = TemperatureLogitsWarper(temperature)(None, logits.clone())
    assert torch.equal(apply_temperature(logits, temperature), expected)


@pytest.mark.parametrize("top_k", [1, 2, 5, 39, 40, 100])
def test_top_k_matches_transformers(top_k):
    for seed in range(3):
        logits = random_logits(seed)
        expected = TopKLogitsWarper(top_k)(None, logits.clone())
        assert torch.equal(filter_top_k(logits, top_k), expected)
    assert torch.equal(filter_top_k(logits, 0), logits)  # 0 switches the filter off


@pytest.mark.parametrize("top_p", [1e-6, 0.05, 0.3, 0.9, 0.999, 1.0])
def test_top_p_matches_transformers(top_p):
    for seed in range(3):
        logits = random_logits(seed)
        expected = TopPLogitsWarper(top_p)(None, logits.clone())
        assert torch.equal(filter_top_p(logits, top_p), expected)
    # a tiny p keeps exactly the most likely token of a row without ties
    kept = torch.isfinite(filter_top_p(random_logits(0), 1e-6))
    assert kept[2].sum() == 1 and kept[2, 5]


def test_top_p_keeps_the_smallest_head_reaching_p():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    assert torch.isfinite(filter_top_p(logits, 0.75)).tolist() == [[True, True, False, False]]
    assert torch.isfinite(filter_top_p(logits, 0.85)).tolist() == [[True, True, True, False]]


@pytest.mark.parametrize("penalty", [0.5, 1.0, 1.3, 2.0])
def test_repetition_penalty_matches_transformers(penalty):
    logits, previous = random_logits(1), previous_tokens(1, alphabet=12)
    expected = RepetitionPenaltyLogitsProcessor(penalty)(previous, logits.clone())
    assert torch.equal(penalize_repetition(logits, previous, penalty), expected)
    # left padding does not count as text, as generate treats it
    mask = torch.ones_like(previous)
    mask[1, :5], mask[4, :13] = 0, 0
    ignore = (mask != 0).int().argmax(dim=1)
    processor = RepetitionPenaltyLogitsProcessor(penalty, prompt_ignore_length=ignore)
    expected = processor(previous, logits.clone())
    assert torch.equal(penalize_repetition(logits, previous, penalty, mask), expected)


def test_repetition_penalty_lowers_seen_tokens_whatever_their_sign():
    logits = torch.tensor([[2.0, -2.0, 1.0]])
    penalized = penalize_repetition(logits, torch.tensor([[0, 1, 1]]), 2.0)
    assert penalized.tolist() == [[1.0, -4.0, 1.0]]  # once per token, even when repeated


@pytest.mark.parametrize("size", [1, 2, 3, 4, 20])
def test_ngram_ban_matches_transformers(size):
    for seed in range(3):
        logits, previous = random_logits(seed), previous_tokens(seed)
        expected = NoRepeatNGramLogitsProcessor(size)(previous, logits.clone())
        assert torch.equal(ban_repeated_ngrams(logits, previous, size), expected)


def test_ngram_ban_forbids_exactly_the_repeating_continuation():
    logits = torch.zeros(1, 5)
    banned = ban_repeated_ngrams(logits, torch.tensor([[1, 2, 3, 1, 2, 4, 1]]), 3)
    assert torch.isinf(banned).tolist() == [[False, False, False, False, False]]
    banned = ban_repeated_ngrams(logits, torch.tensor([[1, 2, 3, 1, 2, 4, 1, 2]]), 3)
    assert torch.isinf(banned).tolist() == [[False, False, False, True, True]]


def test_the_whole_chain_matches_generates_processor_list():
    logits, previous = random_logits(2), previous_tokens(2, alphabet=40)
    chain = LogitsProcessorList(
        [
            RepetitionPenaltyLogitsProcessor(1.3),
            NoRepeatNGramLogitsProcessor(2),
            TemperatureLogitsWarper(0.8),
            TopKLogitsWarper(12),
            TopPLogitsWarper(0.7),
        ]
    )
    ours = transform_logits(
        logits,
        previous,
        temperature=0.8,
        top_k=12,
        top_p=0.7,
        repetition_penalty=1.3,
        no_repeat_ngram_size=2,
    )
    assert torch.equal(ours, chain(previous, logits.clone()))


# --------------------------------------------------------------------------------------
# the front door: strings in, strings out
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def word_model():
    """A tiny model over GPT-2's real 50,257-token vocabulary (64-token context)."""
    return tiny_model(7, vocab=50257)


def test_generate_text_matches_generate_on_a_padded_batch(word_model, gpt2_tokenizer):
    prompts = ["To be, or not to be", "Hello"]
    inputs = gpt2_tokenizer(prompts, return_tensors="pt", padding=True, padding_side="left")
    expected = word_model.generate(
        **inputs,
        max_new_tokens=8,
        do_sample=False,
        eos_token_id=gpt2_tokenizer.eos_token_id,
        pad_token_id=gpt2_tokenizer.eos_token_id,
    )
    new_text = gpt2_tokenizer.batch_decode(
        expected[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True
    )
    assert (
        generate_text(word_model, gpt2_tokenizer, prompts, "greedy", max_new_tokens=8) == new_text
    )


PENALIZED = dict(repetition_penalty=1.4, no_repeat_ngram_size=2)


@pytest.mark.parametrize(
    ("strategy", "options"),
    [
        ("greedy", {}),
        ("beam", dict(num_beams=3, num_return_sequences=2)),
        ("top-k", dict(top_k=8, seed=5, num_return_sequences=2)),
    ],
)
def test_every_strategy_honours_the_penalties_as_generate_does(
    word_model, gpt2_tokenizer, strategy, options
):
    """The app's and the CLI's penalty settings act for every strategy, as in generate."""
    prompts = ["To be, or not to be", "Hello"]
    inputs = gpt2_tokenizer(prompts, return_tensors="pt", padding=True, padding_side="left")
    settings = make_settings(strategy=strategy, max_new_tokens=10, **PENALIZED, **options)
    if settings.seed is not None:
        torch.manual_seed(settings.seed)
    expected = word_model.generate(
        **inputs,
        # the penalties said here again: what generate does must not hang on generate_kwargs
        **{**generate_kwargs(settings), **PENALIZED},
        eos_token_id=gpt2_tokenizer.eos_token_id,
        pad_token_id=gpt2_tokenizer.eos_token_id,
    )
    new_text = gpt2_tokenizer.batch_decode(
        expected[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True
    )
    ours = generate_text(word_model, gpt2_tokenizer, prompts, settings=settings)
    assert ours == new_text
    unpenalized = generate_text(
        word_model, gpt2_tokenizer, prompts, settings=replace(settings, repetition_penalty=1.0,
                                                         no_repeat_ngram_size=0),
    )  # fmt: skip
    assert ours != unpenalized  # the penalties changed the text: the test has teeth


@pytest.mark.parametrize(
    "config",
    [
        dict(do_sample=False, num_beams=1, repetition_penalty=1.4),
        dict(do_sample=False, num_beams=1, no_repeat_ngram_size=2),
        dict(do_sample=False, num_beams=3, repetition_penalty=1.4),
    ],
    ids=["greedy-repetition", "greedy-ngram", "beam-repetition"],
)
def test_a_generation_config_decodes_as_generate_decodes_it(word_model, gpt2_tokenizer, config):
    """What the app and the CLI read from generation_config.json, pipeline reads too."""
    from transformers import GenerationConfig

    eos = gpt2_tokenizer.eos_token_id
    saved = GenerationConfig(max_new_tokens=10, eos_token_id=eos, pad_token_id=eos, **config)
    prompts = ["To be, or not to be", "Hello"]
    inputs = gpt2_tokenizer(prompts, return_tensors="pt", padding=True, padding_side="left")
    expected = word_model.generate(**inputs, generation_config=saved)
    new_text = gpt2_tokenizer.batch_decode(
        expected[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True
    )
    settings = settings_from_generation_config(saved)
    assert generate_text(word_model, gpt2_tokenizer, prompts, settings=settings) == new_text


def test_continuations_keep_the_chosen_ids_up_to_end_of_text(word_model, gpt2_tokenizer):
    prompts = ["To be, or not to be", "Hello"]
    eos = gpt2_tokenizer.eos_token_id
    result = generate_continuations(
        word_model, gpt2_tokenizer, prompts, "top-k", top_k=5, seed=3, num_return_sequences=2,
        max_new_tokens=8,
    )  # fmt: skip
    encoded = [gpt2_tokenizer(p)["input_ids"] for p in prompts]
    assert result.prompt_ids == [encoded[0], encoded[0], encoded[1], encoded[1]]  # no padding
    assert result.texts == generate_text(
        word_model, gpt2_tokenizer, prompts, "top-k", top_k=5, seed=3, num_return_sequences=2,
        max_new_tokens=8,
    )  # fmt: skip
    for ids, text in zip(result.new_ids, result.texts, strict=True):
        assert eos not in ids and len(ids) <= 8
        assert gpt2_tokenizer.decode(ids) == text


def test_continuations_stop_at_end_of_text(always_model, gpt2_tokenizer):
    model = always_model(gpt2_tokenizer.eos_token_id)
    result = generate_continuations(model, gpt2_tokenizer, ["Hello", "A b c"], max_new_tokens=6)
    assert result.new_ids == [[], []] and result.texts == ["", ""]


def test_an_empty_prompt_starts_from_end_of_text(word_model, gpt2_tokenizer):
    text = generate_text(word_model, gpt2_tokenizer, "", "greedy", max_new_tokens=5)
    start = torch.tensor([[gpt2_tokenizer.eos_token_id]])
    expected = greedy(word_model, start, 5, eos_token_id=gpt2_tokenizer.eos_token_id)
    assert text == gpt2_tokenizer.batch_decode(expected[:, 1:], skip_special_tokens=True)
    assert text[0]


def test_an_over_long_prompt_keeps_its_last_tokens_and_says_so_once(word_model, gpt2_tokenizer):
    long_text = " ".join(f"word{i}" for i in range(60))  # > 64 tokens
    ids = gpt2_tokenizer(long_text)["input_ids"]
    assert len(ids) > 64
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        texts = generate_text(word_model, gpt2_tokenizer, [long_text, long_text], max_new_tokens=8)
    assert len(caught) == 1 and "kept the last 56 tokens" in str(caught[0].message)
    expected = greedy(
        word_model, torch.tensor([ids[-56:]]), 8, eos_token_id=gpt2_tokenizer.eos_token_id
    )
    assert texts[0] == texts[1] == gpt2_tokenizer.decode(expected[0, 56:], skip_special_tokens=True)


def test_beam_returns_its_best_hypotheses_per_prompt(word_model, gpt2_tokenizer):
    prompts = ["Once upon a time", "The"]
    three = generate_text(
        word_model,
        gpt2_tokenizer,
        prompts,
        "beam",
        num_beams=4,
        num_return_sequences=3,
        max_new_tokens=6,
    )
    one = generate_text(word_model, gpt2_tokenizer, prompts, "beam", num_beams=4, max_new_tokens=6)
    assert len(three) == 6 and [three[0], three[3]] == one
    assert len(set(three[:3])) == 3  # three different hypotheses


def test_sampling_is_reproducible_with_a_seed(word_model, gpt2_tokenizer):
    def draw(seed):
        return generate_text(
            word_model,
            gpt2_tokenizer,
            ["Hi", "Yes"],
            "top-p",
            top_p=0.9,
            seed=seed,
            num_return_sequences=2,
            max_new_tokens=6,
        )

    first = draw(1)
    assert len(first) == 4 and draw(1) == first and draw(2) != first


def test_the_view_reports_the_mass_the_filters_keep(word_model, gpt2_tokenizer):
    settings = DecodingSettings(strategy="top-p", top_p=0.5, temperature=0.7)
    view = next_token_view(word_model, gpt2_tokenizer, "Hello", settings)
    with torch.no_grad():
        logits = word_model(gpt2_tokenizer("Hello", return_tensors="pt")["input_ids"]).logits[:, -1]
    scaled = apply_temperature(logits, 0.7)
    kept = torch.isfinite(filter_top_p(scaled, 0.5))[0]
    assert torch.equal(view.kept, kept)
    assert view.kept_mass == pytest.approx(float(torch.softmax(scaled, -1)[0][kept].sum()))
    assert view.kept_mass >= 0.5
    assert float(view.final_probs[~kept].sum()) == 0.0


BAD_PARAMETERS = [
    (dict(strategy="sample", temperature=0.0), "use the greedy strategy"),
    (dict(strategy="sample", temperature=-1.0), "temperature must be > 0"),
    (dict(strategy="top-p", top_p=0.0), r"top_p must be in \(0, 1\]"),
    (dict(strategy="top-p", top_p=1.5), r"top_p must be in \(0, 1\]"),
    (dict(strategy="sample", top_k=-1), "top_k must be a whole number >= 0"),
    (dict(strategy="beam", num_beams=0), "num_beams must be a whole number from 1 to 64"),
    (dict(strategy="beam", num_beams=100_000), "num_beams must be a whole number from 1 to 64"),
    (dict(strategy="sample", num_return_sequences=10**6), "num_return_sequences must be"),
    (dict(strategy="sample", temperature=float("inf")), "temperature must be > 0 and finite"),
    (dict(strategy="sample", temperature=float("nan")), "temperature must be > 0 and finite"),
    (dict(strategy="top-p", top_p=float("nan")), r"top_p must be in \(0, 1\]"),
    (dict(strategy="beam", length_penalty=float("nan")), "length_penalty must be a finite"),
    (dict(max_new_tokens=0), "max_new_tokens must be a whole number >= 1"),
    (dict(strategy="beam", num_beams=4, num_return_sequences=5), "cannot exceed num_beams"),
    (dict(strategy="sample", repetition_penalty=0.0), "repetition_penalty must be > 0"),
    (dict(strategy="sample", no_repeat_ngram_size=-2), "no_repeat_ngram_size must be"),
    (dict(strategy="nucleus"), "Unknown strategy 'nucleus'"),
    (dict(topk=5), "Unknown decoding parameter"),
    (dict(strategy="top-k", top_k=0), "top-k strategy needs top_k >= 1"),
    (dict(strategy="top-p", top_p=1.0), "top-p strategy needs top_p < 1"),
    (dict(strategy="greedy", num_return_sequences=2), "one continuation per prompt"),
    (dict(strategy="sample", seed=-1), "seed must be"),
    (dict(max_new_tokens=64), "leaves no room for the prompt"),
]


@pytest.mark.parametrize(("params", "message"), BAD_PARAMETERS, ids=lambda v: str(v)[:40])
def test_bad_parameters_give_one_clear_error(word_model, gpt2_tokenizer, params, message):
    with pytest.raises(ValueError, match=message):
        generate_text(word_model, gpt2_tokenizer, "Hello", **params)


def test_a_prompt_that_is_not_unicode_text_is_named(word_model, gpt2_tokenizer):
    with pytest.raises(ValueError, match=r"prompt 2 is not valid text.*character 3.*UTF-8"):
        generate_text(word_model, gpt2_tokenizer, ["fine", "ab\udce9"], max_new_tokens=2)


@pytest.mark.parametrize("prompts", [[], [1, 2], None])
def test_bad_prompts_give_one_clear_error(word_model, gpt2_tokenizer, prompts):
    with pytest.raises(ValueError, match="prompts must be a string or a non-empty list"):
        generate_text(word_model, gpt2_tokenizer, prompts)


def test_the_decoders_check_their_own_arguments():
    model = tiny_model(0)
    ids, mask = padded_batch(0)
    with pytest.raises(ValueError, match="max_new_tokens must be"):
        greedy(model, ids, 0, attention_mask=mask)
    with pytest.raises(ValueError, match="use the greedy strategy"):
        sample(model, ids, 3, temperature=0.0, attention_mask=mask)
    with pytest.raises(ValueError, match="cannot exceed num_beams"):
        beam_search(model, ids, 3, 2, num_return_sequences=3, attention_mask=mask)
    with pytest.raises(ValueError, match="early_stopping must be"):
        beam_search(model, ids, 3, 2, early_stopping="soon", attention_mask=mask)
    with pytest.raises(ValueError, match="LEFT padding"):
        greedy(model, ids, 3, attention_mask=mask.flip(1))
    with pytest.raises(ValueError, match="length >= 1"):
        greedy(model, ids[:, :0], 3)
