import math

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

import helpers.perplexity as perplexity_module
from helpers.perplexity import (
    PerplexityError,
    loss_by_context,
    naive_perplexity,
    perplexity,
    scored_nll,
    sliding_windows,
    token_perplexity,
)

CONTEXT = 24


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


def full_context(model, ids: list[int], first: int = 1) -> list[float]:
    """Each token from ``first`` on, read after ALL the tokens before it: the definition of
    perplexity itself, for a text short enough for one forward pass."""
    return [token_logprob(model, ids[:t], ids[t]) for t in range(first, len(ids))]


def context_start(t: int, max_length: int, stride: int) -> int:
    """Where the context of token t starts, from the rule stated in ``perplexity``'s
    docstring, not from its loop: windows start every ``stride`` tokens, and token t is
    scored by the first window that reaches it, the first start b with b + max_length > t.
    Windows must overlap by one token (a window never scores its own first token), so a
    stride of max_length moves as one of max_length - 1 would."""
    step = min(stride, max_length - 1)
    return 0 if t < max_length else ((t - max_length) // step + 1) * step


def windowed(model, ids: list[int], max_length: int, stride: int) -> list[float]:
    """Each token t >= 1 read after the tokens from ``context_start(t)`` on."""
    return [
        token_logprob(model, ids[context_start(t, max_length, stride) : t], ids[t])
        for t in range(1, len(ids))
    ]


def expected(logprobs: list[float]) -> float:
    return math.exp(-sum(logprobs) / len(logprobs))


def test_windows_score_every_token_exactly_once_with_the_stated_context():
    for n in (2, 5, 24, 25, 100):
        for max_length in (2, 7, 24):
            for stride in range(1, max_length + 1):
                windows = sliding_windows(n, max_length, stride)
                scored = [t for begin, end, first in windows for t in range(first, end)]
                assert scored == list(range(1, n)), (n, max_length, stride)
                assert all(
                    first > begin and end - begin <= max_length for begin, end, first in windows
                )
                starts = [begin for begin, end, first in windows for _ in range(first, end)]
                stated = [context_start(t, max_length, stride) for t in range(1, n)]
                assert starts == stated, (n, max_length, stride)


def test_a_text_that_fits_one_window_gets_its_full_context_at_every_stride(model, gpt2_tokenizer):
    ids = gpt2_tokenizer(SHORT[2])["input_ids"]
    truth = full_context(model, ids)
    for max_length in (len(ids), CONTEXT):
        for stride in range(1, max_length + 1):
            result = perplexity(
                model, gpt2_tokenizer, [SHORT[2]], max_length=max_length, stride=stride
            )
            assert result.tokens == len(ids) - 1
            assert result.perplexity == pytest.approx(expected(truth), rel=1e-5), stride


def test_stride_one_equals_brute_force_on_a_long_text(model, gpt2_tokenizer):
    ids = gpt2_tokenizer(LONG)["input_ids"]
    assert len(ids) > 2 * CONTEXT  # longer than the context
    result = perplexity(model, gpt2_tokenizer, [LONG], max_length=CONTEXT, stride=1, batch_size=5)
    truth = brute_force_longest_context(model, ids, CONTEXT)
    assert result.tokens == len(ids) - 1
    assert result.perplexity == pytest.approx(expected(truth), rel=1e-5)


@pytest.mark.parametrize(("max_length", "stride"), [(24, 24), (24, 7), (10, 3), (16, 16)])
def test_other_strides_equal_their_definition(model, gpt2_tokenizer, max_length, stride):
    ids = gpt2_tokenizer(LONG)["input_ids"]
    result = perplexity(model, gpt2_tokenizer, [LONG], max_length=max_length, stride=stride)
    truth = windowed(model, ids, max_length, stride)
    assert result.tokens == len(truth) == len(ids) - 1
    assert result.perplexity == pytest.approx(expected(truth), rel=1e-5)


def test_many_texts_batched_give_the_corpus_perplexity(model, gpt2_tokenizer):
    texts = SHORT + [LONG]
    truth = [
        lp for text in texts for lp in windowed(model, gpt2_tokenizer(text)["input_ids"], 12, 5)
    ]
    for batch_size in (1, 3, 64):
        result = perplexity(
            model, gpt2_tokenizer, texts, max_length=12, stride=5, batch_size=batch_size
        )
        assert result.perplexity == pytest.approx(expected(truth), rel=1e-5)
        assert result.tokens == len(truth)
    chars = sum(len(t) for t in texts)
    assert result.bits_per_character == pytest.approx(-sum(truth) / math.log(2) / chars, rel=1e-5)


def test_naive_perplexity_truncates_and_averages_per_text(model, gpt2_tokenizer):
    naive = naive_perplexity(model, gpt2_tokenizer, SHORT + [LONG])
    assert naive.truncated_texts == 1
    assert naive.mean_of_perplexities == pytest.approx(sum(naive.per_text) / 4)
    correct = perplexity(model, gpt2_tokenizer, SHORT + [LONG])
    assert naive.mean_of_perplexities != pytest.approx(correct.perplexity, rel=1e-3)


def test_model_mode_is_restored(model, gpt2_tokenizer):
    model.train()
    try:
        first = perplexity(model, gpt2_tokenizer, SHORT).perplexity
        assert model.training
        assert perplexity(model, gpt2_tokenizer, SHORT).perplexity == first  # no dropout noise
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
def test_bad_inputs(model, gpt2_tokenizer, texts, kwargs, message):
    with pytest.raises(PerplexityError, match=message):
        perplexity(model, gpt2_tokenizer, texts, **kwargs)


def test_a_context_is_read_but_not_scored(model, gpt2_tokenizer):
    context, text = SHORT[0], SHORT[1]
    context_ids, text_ids = gpt2_tokenizer(context)["input_ids"], gpt2_tokenizer(text)["input_ids"]
    ids = context_ids + text_ids
    truth = full_context(model, ids, first=len(context_ids))
    result = perplexity(model, gpt2_tokenizer, [text], contexts=[context])
    assert result.tokens == len(text_ids)
    assert result.perplexity == pytest.approx(expected(truth), rel=1e-5)
    with pytest.raises(PerplexityError, match="one context per text"):
        perplexity(model, gpt2_tokenizer, [text, text], contexts=[context])


def test_token_ids_are_scored_as_given_not_as_their_text_encodes(model, gpt2_tokenizer):
    newline = gpt2_tokenizer("\n")["input_ids"]
    ids = gpt2_tokenizer("Out, damned spot")["input_ids"] + newline * 4  # four "\n" tokens
    assert (
        gpt2_tokenizer(gpt2_tokenizer.decode(ids))["input_ids"] != ids
    )  # text merges them: "\n\n"
    context = gpt2_tokenizer("Macbeth:")["input_ids"]
    full = context + ids
    truth = full_context(model, full, first=len(context))
    result = token_perplexity(model, [ids], characters=20, contexts=[context])
    assert result.tokens == len(ids)
    assert result.perplexity == pytest.approx(expected(truth), rel=1e-5)
    assert result.bits_per_character == pytest.approx(-sum(truth) / math.log(2) / 20, rel=1e-5)


def test_token_perplexity_without_contexts_skips_the_first_token(model, gpt2_tokenizer):
    ids = gpt2_tokenizer(LONG)["input_ids"]
    truth = windowed(model, ids, CONTEXT, CONTEXT // 2)
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


def test_loss_by_context_is_the_mean_loss_at_each_context_length(model, gpt2_tokenizer):
    """Checked against one unpadded pass per token: position k of every whole window."""
    max_length = 8
    curve = loss_by_context(model, gpt2_tokenizer, [LONG, LONG[:60]], max_length=max_length)
    assert len(curve) == max_length - 1
    windows = []
    for text in (LONG, LONG[:60]):
        ids = gpt2_tokenizer(text)["input_ids"]
        windows += [
            ids[i : i + max_length] for i in range(0, len(ids) - max_length + 1, max_length)
        ]
    for k in (1, 4, max_length - 1):
        expected = -sum(token_logprob(model, w[:k], w[k]) for w in windows) / len(windows)
        assert curve[k - 1] == pytest.approx(expected, abs=1e-4)


def test_loss_by_context_needs_a_whole_window(model, gpt2_tokenizer):
    with pytest.raises(PerplexityError, match="whole window of 20 tokens"):
        loss_by_context(model, gpt2_tokenizer, ["To be."], max_length=20)


def _scored_batch(vocab: int):
    torch.manual_seed(1)
    input_ids = torch.randint(0, vocab, (3, CONTEXT))
    attention = torch.ones_like(input_ids)
    attention[2, 15:] = 0  # a right-padded row
    labels = input_ids.clone()
    labels[0, :12] = -100  # context only: a later window's overlap
    labels[2, 15:] = -100
    return input_ids, attention, labels


def _full_logits_nll(model, input_ids, attention, labels) -> float:
    with torch.no_grad():
        logits = model(input_ids=input_ids, attention_mask=attention).logits[:, :-1]
    return torch.nn.functional.cross_entropy(
        logits.double().reshape(-1, logits.shape[-1]),
        labels[:, 1:].reshape(-1),
        ignore_index=-100,
        reduction="sum",
    ).item()


@pytest.mark.parametrize("chunk", [1, 5, 1024])
def test_scored_nll_applies_the_output_layer_to_scored_positions_only(model, monkeypatch, chunk):
    monkeypatch.setattr(perplexity_module, "SCORING_CHUNK", chunk)
    input_ids, attention, labels = _scored_batch(model.config.vocab_size)
    calls, plain = [], perplexity_module.position_losses

    def spy(hidden, weight, labels, chunk_tokens, bias=None):
        calls.append((hidden.shape[0], chunk_tokens, weight is model.lm_head.weight))
        return plain(hidden, weight, labels, chunk_tokens, bias)

    monkeypatch.setattr(perplexity_module, "position_losses", spy)
    got = scored_nll(model, input_ids, attention, labels)
    assert got == pytest.approx(_full_logits_nll(model, input_ids, attention, labels), rel=1e-5)
    # the output layer's rows: the scored positions only (no logits for context or padding)
    assert calls == [(int((labels[:, 1:] != -100).sum()), chunk, True)]


def test_scored_nll_falls_back_to_full_logits_when_the_head_is_not_plain(model, monkeypatch):
    monkeypatch.setattr(model.config, "final_logit_softcapping", 30.0, raising=False)
    input_ids, attention, labels = _scored_batch(model.config.vocab_size)
    got = scored_nll(model, input_ids, attention, labels)
    assert got == pytest.approx(_full_logits_nll(model, input_ids, attention, labels), rel=1e-5)
