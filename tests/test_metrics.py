import numpy as np
import pytest

from helpers.metrics import (
    MetricError,
    NgramIndex,
    distinct_n,
    memorisation,
    ngram_overlap,
    rep_n,
    self_bleu,
    simctg_diversity,
    unigram_js_divergence,
    whitespace_token_ids,
)


def test_distinct_n_by_hand():
    texts = ["a b a", "b c"]
    assert distinct_n(texts, 1) == pytest.approx(3 / 5)  # {a, b, c} of 5 words
    assert distinct_n(texts, 2) == pytest.approx(3 / 3)  # (a b) (b a) (b c)
    assert distinct_n(["a a a a"], 2) == pytest.approx(1 / 3)


def test_rep_n_is_averaged_per_text():
    assert rep_n(["a b a b a"], 2) == pytest.approx(50.0)  # ab ba ab ba: 2 unique of 4
    assert rep_n(["a b a b a", "x y z"], 2) == pytest.approx(25.0)
    assert rep_n(["one two"], 3) == 0.0  # no trigram at all


def test_simctg_diversity():
    assert simctg_diversity(["a b c d e f"]) == pytest.approx(1.0)
    assert simctg_diversity(["a b a b a b"]) < 0.2


def test_self_bleu_extremes():
    same = ["the cat sat on the mat today"] * 3
    assert self_bleu(same) == pytest.approx(100.0)
    different = ["the cat sat on the mat", "green ideas sleep furiously now", "one two three four"]
    assert self_bleu(different) < 5


def test_unigram_js_divergence_extremes():
    assert unigram_js_divergence(["a b c a"], ["a a b c"]) == pytest.approx(0.0)
    assert unigram_js_divergence(["a b"], ["c d"]) == pytest.approx(1.0)
    middle = unigram_js_divergence(["a b"], ["a c"])
    assert 0 < middle < 1


def test_ngram_overlap():
    assert ngram_overlap(["a b c"], ["a b x"], n=2) == pytest.approx(0.5)


def test_memorisation_finds_a_planted_copy():
    rng = np.random.default_rng(0)
    training = rng.integers(0, 1000, size=5000).tolist()
    planted = training[1200:1230]  # 30 tokens copied verbatim
    fresh = rng.integers(5000, 6000, size=40).tolist()  # ids never seen in training
    generated = fresh[:20] + planted + fresh[20:]
    index = NgramIndex([training], n=8)
    report = memorisation([generated, fresh], index)
    assert report.longest_copied_span == 30
    copied = 30 - 8 + 1
    assert report.ngrams_checked == (len(generated) - 7) + (len(fresh) - 7)
    assert report.copied_share == pytest.approx(copied / report.ngrams_checked)


def test_whitespace_runs_are_not_counted_as_copies():
    space, newline = 220, 198
    index = NgramIndex([[space] * 30 + [1, 2, 3, 4, 5, 6, 7, 8, 9]], n=4)
    generated = [[space] * 12 + [1, 2, 3, 4, 5] + [space, newline, space, space]]
    plain = memorisation(generated, index)
    assert (plain.ngrams_checked, plain.longest_copied_span) == (18, 17)  # spaces "copied"
    report = memorisation(generated, index, skip={space, newline})
    # the 9 all-space 4-grams and the final all-blank one are not checked; of the other 8,
    # the 5 from [space, space, space, 1] to [2, 3, 4, 5] are copied: a span of 8 tokens
    assert (report.ngrams_checked, report.longest_copied_span) == (8, 8)
    assert report.copied_share == pytest.approx(5 / 8)


def test_whitespace_token_ids_are_the_blank_tokens(gpt2_tokenizer):
    blank = whitespace_token_ids(gpt2_tokenizer)
    assert {220, 198, 628} <= blank  # " ", "\n", "\n\n"
    assert not blank & set(gpt2_tokenizer(" the cat")["input_ids"])


def test_memorisation_of_original_text_is_zero():
    index = NgramIndex([[1, 2, 3, 4, 5, 6]], n=3)
    report = memorisation([[9, 8, 7, 6, 5]], index)
    assert report.copied_share == 0 and report.longest_copied_span == 0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: distinct_n(["a b"], 0), "n=0 must be at least 1"),
        (lambda: rep_n([], 2), "empty or all blank"),
        (lambda: distinct_n(["", "  "], 1), "empty or all blank"),
        (lambda: self_bleu(["only one text"]), "at least 2; got 1"),
        (lambda: NgramIndex([[1, 2]], n=0), "n=0"),
        (lambda: distinct_n("a single string", 1), "not a single string"),
    ],
)
def test_bad_inputs(call, message):
    with pytest.raises(MetricError, match=message):
        call()
