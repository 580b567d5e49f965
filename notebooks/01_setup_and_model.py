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
# # 01 · Setup and the model
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/gpt2-lab/gpt2-lab/blob/v0.2.0/notebooks/01_setup_and_model.ipynb)
#
# **Learning goals.** After this notebook you can
# 1. tell what machine you are on (device, precision, Colab or local, online or offline)
#    and why each of those matters for the rest of the course;
# 2. say what GPT-2 is: a *decoder-only transformer* trained for *causal language
#    modelling*, and where its 124 M parameters live, computed two ways;
# 3. turn text into GPT-2's token ids and back, and read what byte-level BPE did;
# 4. load a model, know exactly which one you got, and let it continue a prompt, with
#    every argument of `generate` explained.
#
# The mechanics live in the course's helper package, `helpers` (in `src/helpers`); the
# ideas stay here, in the open.

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
# ## 1 · Where are we running?
#
# Three facts decide how the rest of the course behaves:
#
# * **Device.** Training a transformer is mostly large matrix multiplications. A GPU does
#   them tens of times faster than a CPU, so we pick CUDA, then Apple's MPS, then the CPU.
# * **Number formats.** Weights are stored in 32-bit floats, but the matrix products can
#   run in 16-bit formats (*mixed precision*): `bfloat16` keeps float32's range with fewer
#   digits and needs no tricks; `float16` has a narrow range and needs *loss scaling*.
#   Recent GPUs and some CPUs (those with Intel AMX or AVX512-BF16) compute bf16
#   natively; `bf16_supported` below says whether this machine does.
# * **Online or offline.** On Colab the real, pretrained GPT-2 is downloaded from the
#   Hugging Face Hub. On a machine without internet (like the one that tests this course)
#   it cannot be, and the course says so and uses a small model of its own (section 4).
#
# `GPT2LAB_QUICK=1` is the course's *quick mode*: the tests set it to shrink data and
# training steps so every notebook runs in seconds. You normally leave it off.

# %%
from helpers.environment import (
    describe_environment,
    format_environment,
    get_device,
    is_quick_mode,
    set_seed,
)

set_seed(0)  # seeds Python, NumPy and torch: the same run gives the same numbers
device = get_device()
report = describe_environment(device)
print(format_environment(report))

# %% [markdown]
# ## 2 · What GPT-2 is
#
# A **language model** assigns a probability to a sequence of tokens
# $x_1, \dots, x_T$. GPT-2 does it *causally*, one token at a time, by the chain rule of
# probability:
#
# $$p(x_1, \dots, x_T) = \prod_{t=1}^{T} p(x_t \mid x_1, \dots, x_{t-1}).$$
#
# The network reads the tokens so far and outputs a score (*logit*) for each of the
# 50,257 tokens of its vocabulary; a softmax turns the scores into the distribution of the
# next token. Training makes the true next token likely (notebook 03); generating means
# picking a token from that distribution, appending it and repeating (notebook 04).
#
# The network is a **decoder-only transformer**: a token embedding plus a position
# embedding, then $L$ identical blocks, each of
#
# * *masked* multi-head self-attention: every position looks at itself and the positions
#   before it, never after (the mask is what makes the model causal), and
# * a two-layer MLP, $d \to 4d \to d$,
#
# each wrapped in a layer norm and a residual connection; a final layer norm, and a
# linear layer back to the vocabulary that *shares its weights* with the token embedding.
#
# OpenAI released four sizes in 2019:
#
# | name | layers $L$ | width $d$ | heads | parameters |
# |---|---|---|---|---|
# | `gpt2` | 12 | 768 | 12 | 124 M |
# | `gpt2-medium` | 24 | 1024 | 16 | 355 M |
# | `gpt2-large` | 36 | 1280 | 20 | 774 M |
# | `gpt2-xl` | 48 | 1600 | 25 | 1.5 B |
#
# All have a context of $P = 1024$ positions and a vocabulary of $V = 50{,}257$.
#
# ### Counting the parameters by hand
#
# Per block: attention has a $d \times 3d$ projection to queries, keys and values plus a
# $d \times d$ output projection ($4d^2$ weights, $4d$ biases); the MLP has
# $d \times 4d$ and $4d \times d$ ($8d^2$ weights, $5d$ biases); two layer norms have
# $4d$. So a block has $12d^2 + 13d$ parameters, and the whole model
#
# $$N = \underbrace{Vd}_{\text{tokens}} + \underbrace{Pd}_{\text{positions}}
#      + L\,(12d^2 + 13d) + \underbrace{2d}_{\text{final norm}} .$$
#
# In GPT-2 the output layer adds nothing: it reuses the token embedding (*tied* weights).
# A model with a separate output layer (`tie_word_embeddings=False`, as the offline model
# below) adds another $Vd$. Let us check the formula against the real architecture. Building the models on PyTorch's `meta` device creates
# the shapes without allocating memory, so even the 1.5 B model costs nothing.

# %%
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from helpers.modeling import count_parameters


def gpt2_parameter_formula(
    vocab: int, positions: int, layers: int, width: int, tied: bool = True
) -> int:
    """N = V d + P d + L (12 d^2 + 13 d) + 2 d, plus V d for a separate output layer."""
    output_layer = 0 if tied else vocab * width
    blocks = layers * (12 * width**2 + 13 * width)
    return vocab * width + positions * width + blocks + 2 * width + output_layer


GPT2_SIZES = {  # name: (layers, width, heads)
    "gpt2": (12, 768, 12),
    "gpt2-medium": (24, 1024, 16),
    "gpt2-large": (36, 1280, 20),
    "gpt2-xl": (48, 1600, 25),
}

print(f"{'model':<12} {'formula':>15} {'counted':>15}")
for name, (layers, width, heads) in GPT2_SIZES.items():
    config = GPT2Config(n_layer=layers, n_embd=width, n_head=heads)
    with torch.device("meta"):
        counted = count_parameters(GPT2LMHeadModel(config))
    formula = gpt2_parameter_formula(config.vocab_size, config.n_positions, layers, width)
    print(f"{name:<12} {formula:>15,} {counted:>15,}")
    assert formula == counted, f"the formula is wrong for {name}"

gpt2_total = gpt2_parameter_formula(50257, 1024, 12, 768)
embedding_share = 50257 * 768 / gpt2_total
print(f"gpt2's token embedding: {50257 * 768:,} weights, {embedding_share:.0%} of the model")
assert 0.30 < embedding_share < 0.33

# %% [markdown]
# The formula and the count agree for all four sizes (the `assert` checks each). For
# `gpt2` the token embedding alone is $50{,}257 \times 768 \approx 38.6$ M parameters,
# almost a third of the model: small models spend much of their budget on the vocabulary.

# %% [markdown]
# ## 3 · Tokens: how GPT-2 reads text
#
# GPT-2 does not see characters or words but **tokens**, produced by *byte-level
# byte-pair encoding* (BPE):
#
# 1. the text is turned into bytes (so any text at all, in any script, with emoji, can be
#    encoded: nothing is ever "unknown");
# 2. starting from single bytes, a list of 50,000 *merges* learned on web text is applied
#    in order of rank: each merge glues a frequent adjacent pair into one new token
#    (`t` + `h` → `th`, `th` + `e` → `the`, …);
# 3. the result is looked up in the vocabulary: 256 byte tokens + 50,000 merged tokens
#    + one special token, `<|endoftext|>`, = **50,257** ids.
#
# Before merging, the text is pre-split so that a space stays attached to the word
# *after* it. That is why `" the"` and `"the"` are different tokens; in the token strings
# below a leading space is shown as `Ġ`.

# %%
from helpers.modeling import load_tokenizer

tokenizer = load_tokenizer()
sentence = "Wherefore art thou tokenization, O antidisestablishmentarianism? 😀"
ids = tokenizer(sentence)["input_ids"]
tokens = tokenizer.convert_ids_to_tokens(ids)
for token_id, token in zip(ids, tokens, strict=True):
    print(f"{token_id:>6}  {token!r}")
print(f"\n{len(sentence.split())} words, {len(sentence)} characters -> {len(ids)} tokens")

assert tokenizer("Hello world")["input_ids"] == [15496, 995]  # GPT-2's real ids
assert tokenizer.decode(ids) == sentence  # decoding gives back the exact text
assert len("😀".encode()) == 4 and len(tokenizer.tokenize(" 😀")) == 2
assert tokenizer.tokenize(" thou") == ["Ġthou"] and tokenizer.tokenize(" art") == ["Ġart"]

# %% [markdown]
# Read the list: frequent words (" art", " thou") are one token each; rarer ones are
# split into pieces the merges know (" token" + "ization", " ant" + "idis" +
# "establishment" + …). The emoji is four UTF-8 bytes, spread over two tokens, and the
# first of them is not a whole character on its own: decoding a *single* byte-level token
# can give `�`, while decoding the whole sequence always gives back the exact text (the
# `assert`s above check the single tokens, the two pieces of the emoji and the round trip).
#
# How many characters does a token cover on ordinary modern prose? Let us measure it on a
# paragraph of plain English:

# %%
from IPython.display import Markdown, display

prose = (
    "The train was late again this morning, so I walked to the office along the river. "
    "It was cold, but the sun came out after a while and the walk took less than half an "
    "hour. At work, the new printer had arrived; nobody knew how to connect it, and we "
    "spent most of the meeting reading its manual instead of planning the next release."
)
prose_chars_per_token = len(prose) / len(tokenizer(prose)["input_ids"])
display(Markdown(
    f"This paragraph has {len(prose)} characters in {len(tokenizer(prose)['input_ids'])} "
    f"tokens: **{prose_chars_per_token:.1f} characters per token**. Everyday words are "
    f"single tokens, so English prose costs few tokens per character; notebook 02 measures "
    f"the same ratio on Shakespeare."
))

# %% [markdown]
# Two more facts we will rely on later:

# %%
print("'the' ->", tokenizer("the")["input_ids"], "   ' the' ->", tokenizer(" the")["input_ids"])
print("end of text:", tokenizer.eos_token, "=", tokenizer.eos_token_id)
print("vocabulary size:", len(tokenizer))
print("padding uses:", tokenizer.pad_token, "(GPT-2 has no pad token of its own)")
assert len(tokenizer) == 50257 and tokenizer.eos_token_id == 50256

# %% [markdown]
# `<|endoftext|>` (id 50256) separates documents during training; GPT-2 has no padding
# token, so we reuse end-of-text for padding and mask those positions out.

# %% [markdown]
# ## 4 · Loading the model — and knowing which one you got
#
# `load_model_and_tokenizer()` resolves the name in this order: the argument, else the
# environment variable `GPT2LAB_MODEL`, else `"gpt2"`. It then
#
# 1. loads a **local folder** written by `save_pretrained` (e.g. your fine-tuned model);
# 2. otherwise looks in the local Hugging Face cache (instant);
# 3. otherwise downloads from the Hub, but only if the Hub answers (it checks first
#    instead of retrying for half a minute);
# 4. otherwise, offline, uses the course's **offline base model** `gpt2lab-base` and
#    prints a banner.
#
# **About the offline models.** Pretrained GPT-2 weights cannot be obtained without
# internet, so the course ships a model of its own. `gpt2lab-base` is a *small GPT-2*:
# the same class (`GPT2LMHeadModel`) and the same real tokenizer, but far fewer layers,
# a narrower width and a shorter context (the cell below prints its shape), pretrained
# by the course on general English text that is not the course's corpora (public-domain
# books and documentation; its model card, `src/helpers/assets/base_model/README.md`,
# lists them with their licences). It is not
# GPT-2 and knows far less English, but like GPT-2 it starts from pretrained weights, so
# notebook 03 can *fine-tune* it, as Colab users fine-tune `gpt2`. A second offline name,
# `gpt2lab-tiny`, gives a small GPT-2 with **random weights** (select it with
# `GPT2LAB_MODEL=gpt2lab-tiny`): it knows nothing, and notebook 03 uses it once to show
# what training from scratch buys in the same time. On Colab you get the real `gpt2`.

# %%
from helpers.model_source import locate_model
from helpers.modeling import load_model_and_tokenizer
from helpers.offline_model import BASE_MODEL_NAME, OFFLINE_MODEL_NAME

source = locate_model()
model, tokenizer = load_model_and_tokenizer(device=device)
n_params = count_parameters(model)
config = model.config
print(f"model source : {source.kind} ({source.location}) — {source.reason}")
print(f"architecture : {config.n_layer} layers x {config.n_embd} wide, {config.n_head} heads,")
print(f"               {config.n_positions}-token context, on {model.device}")
print(f"parameters   : {n_params:,}")
if not source.is_pretrained:
    MODEL_NAME = f"the untrained `{OFFLINE_MODEL_NAME}` (random weights, not GPT-2)"
elif source.is_offline_base:
    MODEL_NAME = f"`{BASE_MODEL_NAME}` (a small GPT-2 pretrained on general English, not GPT-2)"
else:
    MODEL_NAME = f"`{source.requested}` (pretrained weights, from {source.kind})"
print(f"this model   : {MODEL_NAME.replace('`', '')}")
THE_MODEL = MODEL_NAME[:1].upper() + MODEL_NAME[1:]  # to start a sentence

formula = gpt2_parameter_formula(
    config.vocab_size, config.n_positions, config.n_layer, config.n_embd,
    tied=config.tie_word_embeddings,
)
assert n_params == formula, "the model does not have GPT-2's architecture"

# %% [markdown]
# ## 5 · What the model actually outputs
#
# One forward pass returns, for every position, 50,257 logits: a score for each possible
# next token. The softmax $p_i = e^{z_i} / \sum_j e^{z_j}$ turns the scores of the last
# position into the next-token distribution. Here are its five most likely tokens:

# %%
prompt = "To be, or not to be, that is the"
inputs = tokenizer(prompt, return_tensors="pt").to(device)
with torch.no_grad():
    logits = model(**inputs).logits  # [batch, positions, vocabulary]
print("logits shape:", tuple(logits.shape))

next_token_probs = torch.softmax(logits[0, -1], dim=-1)
top = torch.topk(next_token_probs, k=5)
for prob, token_id in zip(top.values, top.indices, strict=True):
    print(f"{prob.item():8.4f}  {tokenizer.decode(token_id)!r}  (id {token_id.item()})")
assert torch.isclose(next_token_probs.sum(), torch.tensor(1.0, device=device), atol=1e-4)

all_tied = bool(torch.all(next_token_probs == next_token_probs[0]))
best_token = tokenizer.decode(top.indices[0])
if all_tied:
    what_it_shows = (
        f"{THE_MODEL} has no favourites at all: its output layer starts at zero, so every "
        f"logit is 0 and every token gets exactly $1/{len(next_token_probs):,} \\approx "
        f"{next_token_probs[0].item():.6f}$. The \"top five\" are five of 50,257 ties, in "
        f"no meaningful order (`torch.topk` does not promise one among equal values)."
    )
else:
    what_it_shows = (
        f"{THE_MODEL} gives {top.values[0].item():.1%} of the "
        f"probability to {best_token!r} and {top.values.sum().item():.1%} to its top five, "
        f"against {1 / len(next_token_probs):.4%} for a token under a uniform guess."
    )
display(Markdown(
    f"{what_it_shows} With `gpt2` on Colab, see whether `' question'` comes first."
))

# %% [markdown]
# ## 6 · A first continuation
#
# Generating repeats that step: choose a next token, append it, run again. The classic
# snippet is `model.generate(input_ids, max_length=100)`; here it is modernised, with
# each argument explained:

# %%
max_new_tokens = 20 if is_quick_mode() else 40
inputs = tokenizer(prompt, return_tensors="pt").to(device)
output_ids = model.generate(
    **inputs,  # input_ids AND attention_mask: which positions are real text, not padding
    max_new_tokens=max_new_tokens,  # new tokens only (max_length would count the prompt)
    do_sample=False,  # greedy: always the most likely token (notebook 04 compares the others)
    pad_token_id=tokenizer.eos_token_id,  # GPT-2 has no pad token; say which one to use
)
new_tokens = output_ids[0, inputs["input_ids"].shape[1] :]
continuation = tokenizer.decode(new_tokens, skip_special_tokens=True)
print(prompt + "|" + continuation)
assert len(new_tokens) <= max_new_tokens

distinct = len(set(new_tokens.tolist()))
if distinct == 1:
    how = (
        f"the same token, {tokenizer.decode(new_tokens[:1])!r}, {len(new_tokens)} times"
        + (": every token ties, and greedy decoding takes the first of the tied ids, 0, "
           "which is `!`" if all_tied and new_tokens[0].item() == 0 else "")
    )
else:
    how = f"{distinct} distinct tokens among {len(new_tokens)}"
display(Markdown(f"The `|` marks where the prompt ends. {THE_MODEL} continued it with {how}."))

# %% [markdown]
# The run report (`make run` writes `runs/latest/index.html`) keeps what this notebook
# found:

# %%
from helpers.report import record

_ = record("environment", report)
_ = record("model", {"asked_for": source.requested, "source": source.kind,
                 "location": source.location, "offline_model": source.is_offline_model,
                 "parameters": n_params, "layers": config.n_layer, "width": config.n_embd,
                 "context": config.n_positions, "first_continuation": prompt + continuation})

# %% [markdown]
# With `gpt2` on Colab you will typically see fluent English that drifts and may start
# repeating itself: greedy decoding is prone to loops. Notebook 04 shows why and what to do
# about it.
#
# ## Summary
#
# * The course picks the best device and reports versions, precision support and whether
#   it can reach the Hub; `GPT2LAB_QUICK=1` shrinks everything for tests.
# * GPT-2 models $p(x_t \mid x_{<t})$ with a decoder-only transformer; its parameter count
#   $Vd + Pd + L(12d^2+13d) + 2d$ matches the real architecture for all four sizes.
# * Byte-level BPE turns any text into ids from a 50,257-token vocabulary; a leading
#   space is part of the token; `<|endoftext|>` = 50256 separates documents.
# * `load_model_and_tokenizer()` tells you where the model came from. Offline it is the
#   course's small pretrained `gpt2lab-base` (not GPT-2), and it says so;
#   `gpt2lab-tiny` is a small GPT-2 with random weights, for training from scratch.
# * `generate` needs the attention mask, a pad token id, and `max_new_tokens`.
#
# ## Exercises
#
# 1. Tokenize a sentence in another language and one with emoji. How many tokens per
#    character do you get compared with English, and why?
# 2. Find a word that is one token with a leading space and several tokens without it.
# 3. Use the formula to find the parameter count of a 6-layer, 512-wide GPT-2 with a
#    512-token context. Check it with the `meta` device.
# 4. What fraction of `gpt2-xl`'s parameters are in the token embedding? And of `gpt2`'s?
# 5. On Colab, set `GPT2LAB_MODEL=distilgpt2` before loading and compare the top-5 next
#    tokens with `gpt2`'s.
