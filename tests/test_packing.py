import pytest
from sample_documents import FIXTURES, documents

from helpers.data import DataError, split_documents
from helpers.packing import (
    PaddingReport,
    build_lm_dataset,
    pack_into_blocks,
    packing_report,
    tokenize_documents,
)

# ---------------------------------------------------------------- packing


def test_packing_keeps_every_token_in_order_but_the_remainder(gpt2_tokenizer):
    splits, _ = split_documents(documents(12, words=30), "document", 0.25, seed=0)
    tokenized = tokenize_documents(splits, gpt2_tokenizer)
    block_size = 37
    packed = pack_into_blocks(tokenized, block_size)
    for name in splits:
        stream = [t for ids in tokenized[name]["input_ids"] for t in ids]
        flat = [t for block in packed[name]["input_ids"] for t in block]
        remainder = len(stream) % block_size
        assert flat == stream[: len(stream) - remainder]
        assert all(len(block) == block_size for block in packed[name]["input_ids"])
        assert packed[name]["labels"] == packed[name]["input_ids"]
        assert packing_report(tokenized, block_size)[name].truncated_tokens == remainder


def test_documents_end_with_end_of_text(gpt2_tokenizer):
    splits, _ = split_documents(documents(12), "document", 0.25, seed=0)
    tokenized = tokenize_documents(splits, gpt2_tokenizer)
    assert all(ids[-1] == gpt2_tokenizer.eos_token_id for ids in tokenized["train"]["input_ids"])
    assert sum(
        ids.count(gpt2_tokenizer.eos_token_id) for ids in tokenized["train"]["input_ids"]
    ) == len(splits["train"])


def test_padding_report_counts_waste():
    report = PaddingReport.from_lengths([2, 4, 10], block_size=4)
    assert (report.real_tokens, report.pad_tokens, report.truncated_tokens) == (10, 2, 6)
    assert report.pad_fraction == pytest.approx(2 / 12)


# --------------------------------------------------------- the whole path


def test_build_lm_dataset_from_a_folder(gpt2_tokenizer):
    packed, stats = build_lm_dataset(
        FIXTURES / "docs_folder", gpt2_tokenizer, block_size=8, split_method="document", seed=1
    )
    assert set(packed) == {"train", "validation"}
    assert stats.documents == {"train": 2, "validation": 1}
    assert stats.blocks["train"] == stats.tokens["train"] // 8
    assert 2 < stats.chars_per_token < 6
    assert "chars/token" in str(stats)


def test_fewer_tokens_than_one_block_says_what_would_work(gpt2_tokenizer):
    with pytest.raises(
        DataError, match=r"only \d+ tokens, fewer than one block of 256.*block_size="
    ):
        build_lm_dataset(FIXTURES / "docs_folder", gpt2_tokenizer, block_size=256)


def test_block_size_larger_than_the_context(gpt2_tokenizer):
    with pytest.raises(
        DataError, match="block_size=2048 is larger than the model's context of 1024"
    ):
        build_lm_dataset(FIXTURES / "docs_folder", gpt2_tokenizer, block_size=2048)


@pytest.mark.parametrize("bad", [0, -1])
def test_max_documents_below_one_is_named(gpt2_tokenizer, bad):
    with pytest.raises(DataError, match=f"max_documents must be a whole number >= 1.*got {bad}"):
        build_lm_dataset(FIXTURES / "docs_folder", gpt2_tokenizer, block_size=8, max_documents=bad)


# ---------------------------------------------------------------- the cache's fingerprint


def _saved_and_reloaded(tokenizer, folder):
    from transformers import AutoTokenizer

    tokenizer.save_pretrained(folder)
    return AutoTokenizer.from_pretrained(folder)


def test_the_tokenizer_fingerprint_follows_what_tokenizing_depends_on(gpt2_tokenizer, tmp_path):
    from helpers.packing import tokenizer_fingerprint

    reloaded = _saved_and_reloaded(gpt2_tokenizer, tmp_path / "a")
    again = _saved_and_reloaded(gpt2_tokenizer, tmp_path / "b")  # another folder, same files
    assert tokenizer_fingerprint(reloaded) == tokenizer_fingerprint(again)
    grown = _saved_and_reloaded(gpt2_tokenizer, tmp_path / "c")
    grown.add_tokens(["Hamlet"])
    assert tokenizer_fingerprint(grown) != tokenizer_fingerprint(reloaded)
    from transformers import AutoTokenizer

    prefixed = AutoTokenizer.from_pretrained(tmp_path / "a", add_prefix_space=True)
    assert prefixed("Hamlet")["input_ids"] != reloaded("Hamlet")["input_ids"]
    assert tokenizer_fingerprint(prefixed) != tokenizer_fingerprint(reloaded)


def test_cached_tokens_are_never_those_of_another_tokenizer(gpt2_tokenizer, tmp_path):
    """Documents loaded from files get cache files, found again by fingerprint: tokenizing
    the same files with another vocabulary must not return the first one's tokens."""
    from datasets import DatasetDict

    from helpers.data import load_documents

    (tmp_path / "play.txt").write_text("Hamlet speaks to Horatio.\n" * 20, encoding="utf-8")
    splits = DatasetDict(train=load_documents(tmp_path / "play.txt"))
    plain = _saved_and_reloaded(gpt2_tokenizer, tmp_path / "plain")
    first = tokenize_documents(splits, plain)["train"]["input_ids"]
    assert tokenize_documents(splits, plain)["train"]["input_ids"] == first
    grown = _saved_and_reloaded(gpt2_tokenizer, tmp_path / "grown")
    grown.add_tokens(["Hamlet"])
    second = tokenize_documents(splits, grown)["train"]["input_ids"]
    assert second != first and len(plain) in second[0]  # the new token's id, 50257
