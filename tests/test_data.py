import codecs

import pytest
from datasets import Dataset
from sample_documents import FIXTURES, documents

from helpers.cleaning import (
    CleaningConfig,
    clean_documents,
    normalize_whitespace,
    strip_gutenberg_boilerplate,
)
from helpers.data import (
    DataError,
    load_documents,
    split_by_document,
    split_contiguous,
    split_documents,
)

# ---------------------------------------------------------------- loaders


def test_every_format_loads_the_same_documents():
    folder = load_documents(FIXTURES / "docs_folder")
    csv = load_documents(FIXTURES / "docs.csv", text_column="body")
    jsonl = load_documents(FIXTURES / "docs.jsonl", text_column="body")
    as_text = [[normalize_whitespace(t) for t in d["text"]] for d in (folder, csv, jsonl)]
    assert len(as_text[0]) == 3
    assert as_text[0] == as_text[1] == as_text[2]
    assert folder["source"] == ["doc1.txt", "doc2.txt", "doc3.txt"]
    assert csv["source"][0] == "docs.csv:1"


def test_csv_and_jsonl_load_with_the_default_text_column(tmp_path):
    (tmp_path / "docs.csv").write_text('text,n\n"First, a line.",1\nSecond line,2\n')
    (tmp_path / "docs.jsonl").write_text('{"text": "First, a line."}\n{"text": "Second line"}\n')
    for name in ("docs.csv", "docs.jsonl"):
        loaded = load_documents(tmp_path / name)
        assert loaded["text"] == ["First, a line.", "Second line"]
        assert loaded["source"] == [f"{name}:1", f"{name}:2"]


def test_table_cells_that_are_not_strings_become_text(tmp_path):
    """A number is written out, a list of strings is its lines, a missing value is empty:
    every document is a string, whatever the file's field held."""
    import json

    rows = [{"text": 1605}, {"text": ["To be,", "or not"]}, {"text": None}, {"text": "Words."}]
    path = tmp_path / "mixed.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    loaded = load_documents(path)
    assert loaded["text"] == ["1605", "To be,\nor not", "", "Words."]
    assert loaded["source"] == [f"mixed.jsonl:{i}" for i in range(1, 5)]
    numbers = tmp_path / "numbers.csv"
    numbers.write_text("text\n1\n2\n", encoding="utf-8")
    assert load_documents(numbers)["text"] == ["1", "2"]


def test_a_single_text_file_is_one_document():
    single = load_documents(FIXTURES / "docs_folder" / "doc2.txt")
    assert len(single) == 1 and single["text"][0].startswith("All:\nSpeak, speak.")


def test_missing_path(tmp_path):
    with pytest.raises(DataError, match="There is no file or folder .*nope"):
        load_documents(tmp_path / "nope" / "corpus.txt")


def test_empty_file_and_empty_folder(tmp_path):
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(DataError, match="empty.txt is empty"):
        load_documents(tmp_path / "empty.txt")
    (tmp_path / "folder").mkdir()
    with pytest.raises(DataError, match="holds no text files"):
        load_documents(tmp_path / "folder")


def test_binary_file(tmp_path):
    (tmp_path / "model.txt").write_bytes(b"\x00\x01\x02binary")
    with pytest.raises(DataError, match="model.txt looks like a binary file"):
        load_documents(tmp_path / "model.txt")


def test_non_utf8_file_says_which_encoding_to_try(tmp_path):
    path = tmp_path / "latin.txt"
    path.write_bytes("Café au lait, s'il vous plaît.".encode("latin-1"))
    with pytest.raises(DataError, match="latin.txt is not valid utf-8.*encoding='latin-1'") as e:
        load_documents(path)
    assert "--encoding latin-1 on the command line" in str(e.value)
    assert load_documents(path, encoding="latin-1")["text"][0].startswith("Café")


def test_utf16_text_loads_when_named_and_is_recognised_when_not(tmp_path):
    path = tmp_path / "wide.txt"
    path.write_text("To be, or not to be.", encoding="utf-16")
    with pytest.raises(DataError, match="binary file .*UTF-16\\? pass encoding='utf-16'"):
        load_documents(path)
    assert load_documents(path, encoding="utf-16")["text"] == ["To be, or not to be."]
    plain = tmp_path / "plain.txt"
    plain.write_text("To be, or not to be.", encoding="utf-8")
    # UTF-8 read as UTF-16 would be nonsense text (with or without a byte-order mark to check)
    for wide in ("utf-16", "utf-16-le", "utf-32-be"):
        with pytest.raises(DataError, match=f"plain.txt is UTF-8 text, not {wide}"):
            load_documents(plain, encoding=wide)
    le = tmp_path / "le.txt"
    le.write_bytes("To be, or not to be.".encode("utf-16-le"))
    assert load_documents(le, encoding="utf-16-le")["text"] == ["To be, or not to be."]
    with pytest.raises(DataError, match="le.txt is not valid utf-16.*encoding='utf-8'"):
        load_documents(le, encoding="utf-16")  # "utf-16" needs its byte-order mark


@pytest.mark.parametrize("codec", ["rot13", "base64", "hex"])
def test_a_codec_that_is_not_a_text_encoding_is_refused(tmp_path, codec):
    path = tmp_path / "verse.txt"
    path.write_text("To be, or not to be.", encoding="utf-8")
    with pytest.raises(DataError, match=f"Not a text encoding '{codec}': use 'utf-8'"):
        load_documents(path, encoding=codec)
    with pytest.raises(DataError, match="Unknown text encoding 'utf-9'"):
        load_documents(path, encoding="utf-9")


def test_missing_column_and_field_list_what_exists():
    with pytest.raises(DataError, match="no column named 'text'; it has: id, body"):
        load_documents(FIXTURES / "docs.csv")
    with pytest.raises(DataError, match="no field named 'content'; it has: id, body"):
        load_documents(FIXTURES / "docs.jsonl", text_column="content")


def test_hub_names_need_internet():
    with pytest.raises(DataError, match="Hub datasets need internet"):
        load_documents("tiny_shakespeare")


# --------------------------------------------------------------- cleaning


def test_cleaning_reports_what_each_step_removed():
    raw = Dataset.from_dict(
        {
            "text": [
                "Header\n*** START OF THE PROJECT GUTENBERG EBOOK HAMLET ***\nTo be, or not "
                "to be\r\n\r\n\r\n\r\nthat is the question.   \n*** END OF THE PROJECT "
                "GUTENBERG EBOOK HAMLET ***\nlicence text",
                "  \n ",
                "Cafe\u0301 society is a long enough document.",
                "Café society is a long enough document.",
            ],
            "source": ["a", "b", "c", "d"],
        }
    )
    cleaned, report = clean_documents(raw)
    assert cleaned["text"] == [
        "To be, or not to be\n\nthat is the question.",
        "Café society is a long enough document.",
    ]
    removed = {step.name: step.documents_removed for step in report.steps}
    assert removed["exact duplicates"] == 1  # equal only after NFC normalisation
    assert removed["near-empty (<20 chars)"] == 1
    gutenberg = next(s for s in report.steps if s.name == "Gutenberg boilerplate")
    assert gutenberg.characters_removed > len("licence text")
    assert "exact duplicates" in str(report)


def test_a_byte_order_mark_is_not_kept_as_text(tmp_path):
    """Some editors start a UTF-8 file with U+FEFF: invisible, yet three GPT-2 tokens."""
    (tmp_path / "bom.txt").write_bytes(codecs.BOM_UTF8 + b"A document long enough.\n")
    loaded = load_documents(tmp_path / "bom.txt")
    assert loaded["text"][0].startswith("\ufeff")  # as read: the mark is in the text
    cleaned, _ = clean_documents(loaded)
    assert cleaned["text"] == ["A document long enough."]


def test_a_split_seed_numpy_cannot_take_is_named(tmp_path):
    many = Dataset.from_dict({"text": [f"Document number {i}, long enough." for i in range(8)]})
    for method in ("document", "contiguous", "auto"):
        with pytest.raises(DataError, match=r"^The split's seed must be a whole number from 0"):
            split_documents(many, method, seed=-1)


def test_cleaning_steps_can_be_switched_off():
    raw = Dataset.from_dict({"text": ["same text here, long enough"] * 2, "source": ["a", "b"]})
    kept, report = clean_documents(raw, CleaningConfig(deduplicate=False))
    assert len(kept) == 2 and all(step.name != "exact duplicates" for step in report.steps)


def test_gutenberg_text_without_markers_is_left_alone():
    assert strip_gutenberg_boilerplate("plain text") == "plain text"


def test_nothing_left_after_cleaning_is_an_error():
    documents = Dataset.from_dict({"text": ["hi", ""], "source": ["a", "b"]})
    with pytest.raises(DataError, match="No documents are left after cleaning") as refused:
        clean_documents(documents)
    assert "shorter than 20 characters" in str(refused.value)
    assert "CleaningConfig(min_characters=...)" in str(refused.value)
    # the advice works: a lower minimum keeps the short document
    kept, _ = clean_documents(documents, CleaningConfig(min_characters=1))
    assert kept["text"] == ["hi"]


# -------------------------------------------------------------- splitting


def test_document_splits_never_share_a_document():
    docs = documents(50)
    splits = split_by_document(docs, validation_fraction=0.2, test_fraction=0.1, seed=3)
    sources = {name: set(split["source"]) for name, split in splits.items()}
    assert sources["train"].isdisjoint(sources["validation"])
    assert sources["train"].isdisjoint(sources["test"])
    assert sources["validation"].isdisjoint(sources["test"])
    assert set().union(*sources.values()) == set(docs["source"])
    assert (len(splits["validation"]), len(splits["test"])) == (10, 5)


def test_same_seed_same_split_other_seed_other_split():
    docs = documents(40)
    first = split_by_document(docs, 0.25, seed=7)["validation"]["source"]
    assert split_by_document(docs, 0.25, seed=7)["validation"]["source"] == first
    assert split_by_document(docs, 0.25, seed=8)["validation"]["source"] != first


def test_contiguous_split_holds_out_the_end_at_a_line_boundary():
    text = "\n".join(f"line {i}" for i in range(1000))
    docs = Dataset.from_dict({"text": [text], "source": ["one"]})
    splits = split_contiguous(docs, validation_fraction=0.1)
    train, validation = splits["train"]["text"][0], splits["validation"]["text"][0]
    assert train + validation == text
    assert validation.startswith("line ") and train.endswith("\n")
    assert 0.08 < len(validation) / len(text) < 0.12


def test_auto_split_picks_by_document_count():
    assert split_documents(documents(20))[1] == "document"
    assert split_documents(documents(2))[1] == "contiguous"


@pytest.mark.parametrize("fraction", [0, 1, -0.1, 1.5])
def test_validation_fraction_outside_0_1(fraction):
    with pytest.raises(DataError, match="validation_fraction=.*between 0 and 1"):
        split_by_document(documents(10), validation_fraction=fraction)


def test_too_few_documents_for_a_document_split():
    with pytest.raises(DataError, match="needs at least 2 documents.*contiguous"):
        split_by_document(documents(1))


def test_sample_passages_are_reproducible_runs_of_lines():
    from helpers.data import sample_passages

    texts = ["\n".join(f"play{d} line{i}" for i in range(30)) for d in range(3)]
    passages = sample_passages(texts, count=5, lines=4, seed=1)
    assert passages == sample_passages(texts, count=5, lines=4, seed=1)
    for passage in passages:
        rows = passage.split("\n")
        play = rows[0].split()[0]
        first = int(rows[0].split("line")[1])
        assert rows == [f"{play} line{first + k}" for k in range(4)]
    with pytest.raises(DataError, match="fewer than count=100"):
        sample_passages(texts, count=100, lines=29)


def test_course_documents_keeps_a_few_works_in_quick_mode(monkeypatch, tmp_path):
    from helpers import corpus, data

    folder = tmp_path / "shakespeare"
    folder.mkdir()
    for i in range(10):
        (folder / f"work{i}.txt").write_text(f"Play {i}   \n\n\n\nEnter a long enough line.\n")
    monkeypatch.setattr(corpus, "obtain_corpus", lambda name, quiet=False: folder)
    monkeypatch.setenv("GPT2LAB_QUICK", "1")
    quick = data.course_documents()
    assert len(quick) == data.QUICK_MODE_WORKS
    assert quick["text"][0] == "Play 0\n\nEnter a long enough line."  # cleaned
    assert data.course_documents(clean=False)["text"][0].startswith("Play 0   \n")
    monkeypatch.setenv("GPT2LAB_QUICK", "0")
    assert len(data.course_documents()) == 10
