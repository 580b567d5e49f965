import math

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from helpers.modeling import gpt2_tokenizer_from_package
from helpers.perplexity import (
    PerplexityError,
    naive_perplexity,
    perplexity,
    sliding_windows,
    token_perplexity,
)

CONTEXT = 24


@pytest.fixture(scope="module")
def tokenizer():
    return gpt2_tokenizer_from_package(model_max_length=CONTEXT)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    # a wide initialisation gives peaked, text-dependent predictions (not ~uniform)
    config = GPT2Config(n_layer=2, n_embd=16, n_head=2, n_positions=CONTEXT, initializer_range=0.5)
    return GPT2LMHeadModel(config).eval()


LONG = (
    "Now is the winter of our discontent made glorious summer by this sun of York; "
    "and all the clouds that lour'd upon our house in the deep bosom of the ocean buried. "
    "Now are our brows bound with victorious wreaths; our bruised arms hung up for "
    "monuments; our stern alarums changed to merry meetings, our dreadful marches to "
    "delightful measures."
)
SHORT = ["To be, or not to be.", "A horse! a horse!", "Out, damned spot! out, I say!"]


def token_logprob(model, context_ids: list[int], target: int) -> float:
    """log p(target | context) from one unbatched, unpadded forward pass."""
    with torch.no_grad():
        logits = model(torch.tensor([context_ids])).logits[0, -1]
    return torch.log_softmax(logits.double(), dim=-1)[target].item()


def brute_force_longest_context(model, ids: list[int], max_length: int) -> list[float]:
    """Each token t >= 1 with the longest context the window allows: max_length - 1 tokens."""
    return [
        token_logprob(model, ids[max(0, t - (max_length - 1)) : t], ids[t])
        for t in range(1, len(ids))
    ]


def brute_force_windows(model, ids: list[int], max_length: int, stride: int) -> list[float]:
    """Each token scored with the context its window gives, per the stated definition:
    window k starts at k*stride (at least one token before what it scores) and scores
    what earlier windows did not."""
    scores, scored_until, begin = {}, 1, 0
    while scored_until < len(ids):
        begin = min(begin, scored_until - 1)
        end = min(begin + max_length, len(ids))
        for t in range(scored_until, end):
            scores[t] = token_logprob(model, ids[begin:t], ids[t])
        scored_until = max(scored_until, end)
        begin += stride
    assert sorted(scores) == list(range(1, len(ids)))
    return list(scores.values())


def expected(logprobs: list[float]) -> float:
    return math.exp(-sum(logprobs) / len(logprobs))


def test_windows_score_every_token_exactly_once():
    for n in (2, 5, 24, 25, 100):
        for max_length in (2, 7, 24):
            for stride in range(1, max_length + 1):
                scored = [
                    t
                    for begin, end, first in sliding_windows(n, max_length, stride)
                    for t in range(first, end)
                ]
                assert scored == list(range(1, n)), (n, max_length, stride)
                windows = sliding_windows(n, max_length, stride)
                assert all(
                    first > begin and end - begin <= max_length for begin, end, first in windows
                )


def test_stride_one_equals_brute_force_on_a_long_text(model, tokenizer):
    ids = tokenizer(LONG)["input_ids"]
    assert len(ids) > 2 * CONTEXT  # longer than the context
    result = perplexity(model, tokenizer, [LONG], max_length=CONTEXT, stride=1, batch_size=5)
    truth = brute_force_longest_context(model, ids, CONTEXT)
    assert result.tokens == len(ids) - 1
    assert result.perplexity == pytest.approx(expected(truth), rel=1e-5)


@pytest.mark.parametrize(("max_length", "stride"), [(24, 24), (24, 7), (10, 3), (16, 16)])
def test_other_strides_equal_their_definition(model, tokenizer, max_length, stride):
    ids = tokenizer(LONG)["input_ids"]
    result = perplexity(model, tokenizer, [LONG], max_length=max_length, stride=stride)
    truth = brute_force_windows(model, ids, max_length, stride)
    assert result.perplexity == pytest.approx(expected(truth), rel=1e-5)


def test_many_texts_batched_give_the_corpus_perplexity(model, tokenizer):
    texts = SHORT + [LONG]
    truth = [
        lp
        for text in texts
        for lp in brute_force_windows(model, tokenizer(text)["input_ids"], 12, 5)
    ]
    for batch_size in (1, 3, 64):
        result = perplexity(model, tokenizer, texts, max_length=12, stride=5, batch_size=batch_size)
        assert result.perplexity == pytest.approx(expected(truth), rel=1e-5)
        assert result.tokens == len(truth)
    chars = sum(len(t) for t in texts)
    assert result.bits_per_character == pytest.approx(-sum(truth) / math.log(2) / chars, rel=1e-5)


def test_naive_perplexity_truncates_and_averages_per_text(model, tokenizer):
    naive = naive_perplexity(model, tokenizer, SHORT + [LONG])
    assert naive.truncated_texts == 1
    assert naive.mean_of_perplexities == pytest.approx(sum(naive.per_text) / 4)
    correct = perplexity(model, tokenizer, SHORT + [LONG])
    assert naive.mean_of_perplexities != pytest.approx(correct.perplexity, rel=1e-3)


def test_model_mode_is_restored(model, tokenizer):
    model.train()
    try:
        first = perplexity(model, tokenizer, SHORT).perplexity
        assert model.training
        assert perplexity(model, tokenizer, SHORT).perplexity == first  # no dropout noise
    finally:
        model.eval()


@pytest.mark.parametrize(
    ("texts", "kwargs", "message"),
    [
        ([], {}, "no text to score"),
        (["", "   "], {}, "no text to score"),
        ("a string", {}, "list of texts"),
        (["Hi"], {}, "has 1 token"),
        (SHORT, {"max_length": 8, "stride": 9}, "stride=9 must be between 1 and max_length=8"),
        (SHORT, {"max_length": 8, "stride": -1}, "stride=-1"),
        (SHORT, {"max_length": 8, "stride": 0}, "stride=0"),
        (SHORT, {"max_length": 0}, "max_length=0"),
        (SHORT, {"max_length": 100}, "max_length=100 must be between 2 and the model's context"),
    ],
)
def test_bad_inputs(model, tokenizer, texts, kwargs, message):
    with pytest.raises(PerplexityError, match=message):
        perplexity(model, tokenizer, texts, **kwargs)


def test_a_context_is_read_but_not_scored(model, tokenizer):
    context, text = SHORT[0], SHORT[1]
    context_ids, text_ids = tokenizer(context)["input_ids"], tokenizer(text)["input_ids"]
    ids = context_ids + text_ids
    truth = [token_logprob(model, ids[:t], ids[t]) for t in range(len(context_ids), len(ids))]
    result = perplexity(model, tokenizer, [text], contexts=[context])
    assert result.tokens == len(text_ids)
    assert result.perplexity == pytest.approx(expected(truth), rel=1e-5)
    with pytest.raises(PerplexityError, match="one context per text"):
        perplexity(model, tokenizer, [text, text], contexts=[context])


def test_token_ids_are_scored_as_given_not_as_their_text_encodes(model, tokenizer):
    newline = tokenizer("\n")["input_ids"]
    ids = tokenizer("Out, damned spot")["input_ids"] + newline * 4  # four "\n" tokens
    assert tokenizer(tokenizer.decode(ids))["input_ids"] != ids  # text merges them: "\n\n"
    context = tokenizer("Macbeth:")["input_ids"]
    full = context + ids
    truth = [token_logprob(model, full[:t], full[t]) for t in range(len(context), len(full))]
    result = token_perplexity(model, [ids], characters=20, contexts=[context])
    assert result.tokens == len(ids)
    assert result.perplexity == pytest.approx(expected(truth), rel=1e-5)
    assert result.bits_per_character == pytest.approx(-sum(truth) / math.log(2) / 20, rel=1e-5)


def test_token_perplexity_without_contexts_skips_the_first_token(model, tokenizer):
    ids = tokenizer(LONG)["input_ids"]
    truth = brute_force_windows(model, ids, CONTEXT, CONTEXT // 2)
    result = token_perplexity(model, [ids], characters=len(LONG))
    assert result.tokens == len(ids) - 1
    assert result.perplexity == pytest.approx(expected(truth), rel=1e-5)


@pytest.mark.parametrize(
    ("token_ids", "kwargs", "message"),
    [
        ([[5]], {"characters": 3}, "no token to score"),
        ([[]], {"characters": 3, "contexts": [[1, 2]]}, "no token to score"),
        ([[1, 2, 3]], {"characters": 0}, "characters=0"),
        ([[1, 2, 3]], {"characters": 3, "contexts": [[1], [2]]}, "one context per text"),
        ([[1, 2, 3]], {"characters": 3, "stride": 0}, "stride=0"),
    ],
)
def test_token_perplexity_bad_inputs(model, token_ids, kwargs, message):
    with pytest.raises(PerplexityError, match=message):
        token_perplexity(model, token_ids, **kwargs)
