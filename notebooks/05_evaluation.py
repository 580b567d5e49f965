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
# # 05 · Evaluation: perplexity done right, and what "good text" means
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/gpt2-lab/gpt2-lab/blob/main/notebooks/05_evaluation.ipynb)
#
# **Learning goals.** After this notebook you can
# 1. say what perplexity measures (a branching factor; the exponential of the
#    cross-entropy) and compute it correctly on texts of any length, with sliding windows;
# 2. explain the two flaws of the popular one-line perplexity snippet, with numbers;
# 3. compare models with different tokenizers in bits per character;
# 4. measure generated text for **coherence**, **relevance** and **diversity**, and catch
#    a model that only copies its training data;
# 5. compare decoding strategies on all of these at once, and read the quality–diversity
#    trade-off off a plot.

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
# ## 0 · The model and the data
#
# We evaluate the model notebook 03 fine-tuned; when there is none, the next cell says so
# and fine-tunes one briefly (or, with `TRAIN_IF_MISSING = False`, goes on with the base
# model, which it says plainly). The text comes from the course's fixed split (`COURSE_SPLIT`): the same works
# are training, validation and test in every notebook, so nothing here was trained on.

# %%
from helpers.data import COURSE_SPLIT, course_documents, split_by_document
from helpers.environment import get_device, quick_or_full, set_seed
from helpers.colab import ensure_trained_model
from helpers.modeling import load_course_model

set_seed(0)
device = get_device()
# notebook 03's fine-tuned model (on Colab: from your Drive); if there is none, this
# says so and fine-tunes one briefly. False: go on with the base model, said out loud.
TRAIN_IF_MISSING = True
ensure_trained_model(train_if_missing=TRAIN_IF_MISSING)
model, tokenizer, source = load_course_model(device=device)
print(f"model: {source.kind} ({source.location})")

documents = course_documents()  # cleaned; quick mode keeps the first 8 works
splits = split_by_document(documents, **COURSE_SPLIT)
for name, split in splits.items():
    print(f"{name:<11} {len(split):>2} works: {', '.join(split['source'][:3])} ...")

# quick mode scores a slice of each held-out work; full mode scores them whole
EVAL_CHARACTERS = quick_or_full(4_000, None)
validation_texts = [text[:EVAL_CHARACTERS] for text in splits["validation"]["text"]]
test_texts = [text[:EVAL_CHARACTERS] for text in splits["test"]["text"]]

# %% [markdown]
# ## 1 · What perplexity means
#
# A model assigns each token $x_t$ a probability $p(x_t \mid x_{<t})$. The average
# negative log-likelihood over $N$ scored tokens is the **cross-entropy** between the
# text and the model, in nats per token:
#
# $$H = -\frac{1}{N} \sum_{t} \ln p(x_t \mid x_{<t}), \qquad \mathrm{PPL} = e^{H}.$$
#
# Perplexity is a **branching factor**: a model that is always torn between $k$ equally
# likely tokens has $H = \ln k$ and $\mathrm{PPL} = k$. A uniform guess over GPT-2's
# vocabulary has perplexity 50,257; a perfect model, 1. Let us check the first claim:

# %%
import math

import torch

for k in (2, 10, 50_257):
    uniform = torch.full((k,), 1.0 / k)
    cross_entropy = -torch.log(uniform[0]).item()  # every token has probability 1/k
    print(f"uniform over {k:>6} tokens: H = {cross_entropy:6.3f} nats, PPL = {math.exp(cross_entropy):9.1f}")
    assert math.isclose(math.exp(cross_entropy), k, rel_tol=1e-4)

# %% [markdown]
# ## 2 · Why the popular snippet misleads
#
# The snippet many tutorials use is
#
# ```python
# loss = model(input_ids, labels=input_ids).loss
# perplexity = torch.exp(loss)
# ```
#
# It is right for **one text shorter than the context**. Used on a real evaluation set
# it goes wrong twice:
#
# 1. **Long texts.** A play is tens of thousands of tokens; the model reads at most its
#    context (1,024 for GPT-2, 256 for the offline model). The text must be cut, and
#    everything after the cut is silently not evaluated.
# 2. **Averaging.** Averaging the perplexities of several texts weighs a 10-token text
#    like a 10,000-token one, and averages *exponentials*, which is not the exponential
#    of the average loss. The perplexity of a corpus is $e^{H}$ with $H$ averaged over
#    **all tokens** of the corpus.
#
# `naive_perplexity` does exactly what the snippet does, so we can compare:

# %%
from helpers.perplexity import naive_perplexity, perplexity

naive = naive_perplexity(model, tokenizer, validation_texts)
correct = perplexity(model, tokenizer, validation_texts)
total_tokens = sum(len(tokenizer(t, verbose=False)["input_ids"]) for t in validation_texts)
print(f"naive  : mean of per-text PPL = {naive.mean_of_perplexities:10.2f}   "
      f"({naive.truncated_texts} of {len(validation_texts)} texts cut to the context)")
print(f"correct: corpus PPL           = {correct.perplexity:10.2f}   "
      f"({correct.tokens:,} of {total_tokens:,} tokens scored)")
assert correct.tokens == total_tokens - len(validation_texts)  # all but each first token

# %% [markdown]
# The correct number scores every token but the first of each text (it has no context);
# the naive one saw only the first context-length tokens of each work.

# %% [markdown]
# ## 3 · Sliding windows and the stride
#
# To score a long text we slide a window of `max_length` tokens along it, moving
# `stride` tokens each time. Each window scores only the tokens no earlier window scored
# and uses the overlap as context. A smaller stride gives each token more context (a
# better, lower perplexity) at the price of more forward passes:
# `stride = max_length` is fastest with the least context, `stride = 1` gives every token
# the full `max_length − 1` tokens of context. A detail the classic recipe gets wrong: a
# window's first token has no context inside the window, so it must not be scored there.

# %%
from helpers.perplexity import sliding_windows
from helpers.plots import sliding_windows_diagram

windows = sliding_windows(num_tokens=40, max_length=16, stride=8)
for begin, end, first in windows:
    print(f"tokens [{begin:>2}, {end:>2}): context {begin}-{first - 1}, scores {first}-{end - 1}")
_ = sliding_windows_diagram(windows, 40, title="40 tokens, max_length 16, stride 8")

# %% [markdown]
# On one held-out text, the stride changes the answer like this (the context of the
# model is the largest `max_length` it allows):

# %%
context = model.config.n_positions
sample_text = validation_texts[0][: quick_or_full(2_000, 20_000)]
stride_results = {}
for stride in (context, context // 2, context // 4):
    stride_results[stride] = perplexity(model, tokenizer, [sample_text], stride=stride)
    print(f"stride {stride:>4}: {stride_results[stride]}")

# %% [markdown]
# With a trained model, smaller strides give lower perplexity (more context per token);
# an untrained model gains nothing from context. Always report the stride with the
# number.
#
# **Bits per character.** Perplexity per *token* depends on the tokenizer: a tokenizer
# with longer tokens has fewer, harder predictions. Dividing the total loss by the
# number of *characters* (and by $\ln 2$ for bits) gives a number that compares models
# with different tokenizers — character-level nanoGPT included:
#
# $$\mathrm{bpc} = \frac{\sum_t -\ln p(x_t \mid x_{<t})}{\#\text{characters} \cdot \ln 2}.$$

# %% [markdown]
# ## 4 · The model on validation and test
#
# The validation works guided training choices (notebook 03 kept the checkpoint with the
# lowest validation loss); the **test** works were never used for any choice, so their
# number is the honest one to report.

# %%
test_result = perplexity(model, tokenizer, test_texts)
print(f"validation: {correct}")
print(f"test      : {test_result}")

# %% [markdown]
# ## 5 · Judging generated text
#
# Perplexity measures the model on *human* text. Generated text needs other measures;
# each captures one aspect and misses others.
#
# | aspect | measure | what it misses |
# |---|---|---|
# | **diversity** | distinct-n: distinct n-grams / all n-grams (Li et al., 2016) | grows with randomness, even for nonsense |
# | | rep-n: 100 × (1 − unique / all n-grams) per text (Su et al., 2022) | the same |
# | | self-BLEU: BLEU of each text against the others (Zhu et al., 2018) | needs several texts; word overlap only |
# | **coherence** | perplexity of the generated text under the model, compared with that of human text (Holtzman et al., 2019) | the model judging itself: it likes its own style |
# | **relevance** | Jensen–Shannon divergence of word frequencies vs held-out text | word order, meaning |
# | | perplexity under a *reference* model (the base model) | the reference's own blind spots |
# | **memorisation** | share of generated 8-token n-grams found verbatim in the training data; longest copied span | paraphrase |
#
# Generated text far *less* perplexing than human text is repetitive (greedy loops);
# far *more* perplexing, it is incoherent. Good decoding lands near the human value.
#
# One trap when scoring generated text: score the **token ids the decoder chose**, after
# their prompt, not the decoded text encoded again. BPE encoding is not the inverse of a
# decoder's choices: a model that writes `"\n"` four times has chosen token 198 four
# times, but the text `"\n\n\n\n"` encodes as two `"\n\n"` tokens (628), which the
# model never chose and may find very unlikely. `compare_decoders` keeps the ids.
# Here are the diversity measures on tiny texts we can check by hand:

# %%
from helpers.metrics import distinct_n, rep_n, self_bleu

loop = ["the king the king the king the king"]
varied = ["my lord the king is come to court today"]
print(f"distinct-2: looping {distinct_n(loop, 2):.2f}   varied {distinct_n(varied, 2):.2f}")
print(f"rep-2     : looping {rep_n(loop, 2):.1f}   varied {rep_n(varied, 2):.1f}")
print(f"self-BLEU of two identical texts: {self_bleu(loop * 2):.0f}")
assert distinct_n(loop, 2) < distinct_n(varied, 2) and rep_n(loop, 2) > rep_n(varied, 2)

# %% [markdown]
# **Memorisation.** A model that reproduces its training data verbatim "looks great"
# on every measure above. We index every 8-token n-gram of the training works once (a
# 64-bit hash each, sorted), so checking a generated text is a binary search per n-gram,
# not a scan of the corpus.
#
# One exception: an n-gram made only of whitespace tokens (a run of spaces, blank
# lines) is in any text and proves nothing, so `compare_decoders` does not count those
# (`memorisation(..., skip=whitespace_token_ids(tokenizer))`). Without it, a decoder
# that loops on spaces would score a "60-token copy".

# %%
from helpers.metrics import NgramIndex, memorisation

train_ids = tokenizer(list(splits["train"]["text"]), verbose=False)["input_ids"]
training_index = NgramIndex(train_ids, n=8)
print(f"training index: {len(training_index):,} distinct 8-grams")

train_lines = splits["train"]["text"][0].split("\n")
copied = tokenizer("\n".join(train_lines[40:52]), verbose=False)["input_ids"]  # whole lines
planted = memorisation([copied], training_index)
print(f"a passage copied from training: {planted.copied_share:.0%} of its 8-grams found, "
      f"longest copied span {planted.longest_copied_span} tokens")
assert planted.copied_share == 1.0

# %% [markdown]
# ## 6 · Decoders compared on every measure
#
# Each strategy continues the same prompts: the first line of passages drawn from the
# validation works. The passages themselves are the human reference.

# %%
from helpers.data import sample_passages
from helpers.evaluation import DEFAULT_DECODERS, compare_decoders
from helpers.modeling import load_model

passages = sample_passages(
    splits["validation"]["text"], count=quick_or_full(3, 16), lines=6, seed=0
)
prompts = [passage.split("\n")[0] + "\n" for passage in passages]
base_model = load_model(device=device)  # the reference: the untuned base model
table = compare_decoders(
    model,
    tokenizer,
    prompts,
    human_texts=passages,
    decoders=DEFAULT_DECODERS,
    training_index=training_index,
    reference_model=base_model,
    max_new_tokens=quick_or_full(16, 60),
    samples_per_prompt=quick_or_full(2, 3),
    seed=0,
)
table

# %%
print(table)
from helpers.report import record

record("evaluation", {
    "validation_perplexity": correct.perplexity, "test_perplexity": test_result.perplexity,
    "test_bits_per_character": test_result.bits_per_character,
    "naive_mean_of_perplexities": naive.mean_of_perplexities,
    "human_text_perplexity": table.human_perplexity, "decoders": table.rows,
    "samples": {name: texts[:2] for name, texts in table.samples.items()},
})
for name, texts in table.samples.items():
    print(f"\n--- {name}: {prompts[0].strip()!r} ->\n{texts[0].strip()[:300]}")
assert len(table.rows) == len(DEFAULT_DECODERS)

# %% [markdown]
# Notes for reading the table. The base model is the reference of "ref. PPL": on Colab
# that is pretrained `gpt2`, which finds fine-tuned Shakespearean text odd (high ref.
# PPL) where it finds modern prose easy. Offline the base model is the untrained
# offline model, whose output layer starts at zero: it gives every token the same
# probability, so its column is exactly the vocabulary size, 50,257, for any text.

# %%
from helpers.plots import metric_bars, quality_vs_diversity

names = table.column("decoder")
_ = metric_bars(
    names,
    {
        "generated-text PPL": table.column("perplexity"),
        "distinct-2": table.column("distinct_2"),
        "rep-2": table.column("rep_2"),
        "self-BLEU": table.column("self_bleu"),
    },
    reference={"generated-text PPL": table.human_perplexity},
)

# %%
_ = quality_vs_diversity(names, table.column("ppl_gap"), table.column("distinct_2"))

# %% [markdown]
# **The quality–diversity trade-off.** Maximisation (greedy, beam) gives the least
# diverse text: it loops (high rep-2, high self-BLEU, low distinct-2), and with a
# well-trained model its text is *less* perplexing than human text. Pure sampling at
# temperature 1 is the most diverse and drifts towards incoherence. Truncated sampling
# (top-k, top-p) and lower temperatures sit between. Each continuation's perplexity is
# scored after its prompt, as it was generated. The best decoder is the
# one nearest the human text on *both* axes — bottom right in the scatter. Notebook 06
# tunes the knobs to get there.
#
# ## Summary
#
# * Perplexity = $e^{\text{cross-entropy}}$, a branching factor. Compute it over all
#   tokens of a corpus with sliding windows; report `max_length` and `stride`.
# * The one-line snippet cuts long texts and averages per-text perplexities: both wrong.
# * Bits per character compare models across tokenizers.
# * Diversity (distinct-n, rep-n, self-BLEU), coherence (generated PPL vs human PPL),
#   relevance (word distribution, reference PPL) and memorisation (copied 8-grams) each
#   see one side of "good text"; read them together.
#
# ## Exercises
#
# 1. Compute perplexity with `stride=1` on a 500-character text and compare it with
#    `stride=max_length`. How many forward passes did each take?
# 2. Give `naive_perplexity` one short and one long text. Which one dominates the
#    average, and why is that wrong?
# 3. Add `"temperature 1.3": {"strategy": "sample", "temperature": 1.3}` to the decoders.
#    Where does it land on the scatter plot?
# 4. Lower the memorisation n-gram size to 4. How much "copying" do you find now, and
#    why is that not memorisation?
# 5. Which metric would a model that outputs a random passage of the training data
#    score best on? Which one catches it?
