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
# # 03 · Fine-tuning: the training loop, watched closely
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/gpt2-lab/gpt2-lab/blob/v0.2.0/notebooks/03_fine_tuning.ipynb)
#
# **Learning goals.** After this notebook you can
# 1. state the objective GPT-2 is trained on, and see the one-token shift between inputs
#    and labels on a real block of Shakespeare;
# 2. turn a loss into perplexity and bits per character, and say what each means;
# 3. explain what AdamW, warmup with cosine decay, gradient accumulation and mixed
#    precision each do, with their formulas;
# 4. write a training loop yourself (batches, forward, loss, backward, step, schedule),
#    then run the course's loop (built on 🤗 Accelerate) with a time budget, and watch the
#    training and validation curves live;
# 5. interrupt a run, resume it exactly where it stopped, save the model and load it back;
# 6. measure what fine-tuning a pretrained model changes: the perplexity on the new text
#    before and after, what pretraining bought against training from scratch for the
#    same time, and how much of its general English the model forgets.
#
# The course's loop lives in `helpers.training` (so the command line runs the very same
# code); this notebook first writes a bare one in plain PyTorch, then prints the course's,
# explains every line and runs it.

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
# ## 1 · The model and the data
#
# We start from a **pretrained base model** and *fine-tune* it: its weights already know
# English, and training adapts them to Shakespeare. Which base depends on where you are:
#
# * with internet (Colab), `gpt2`: OpenAI's GPT-2 small, 124 M parameters pretrained on
#   web text;
# * offline, `gpt2lab-base`: the course's own small GPT-2, pretrained on general English
#   that is not Shakespeare (public-domain books and documentation, listed with their
#   licences in its model card, `src/helpers/assets/base_model/README.md`). It is not
#   GPT-2: far smaller, and it has read far less.
#
# Either way this notebook takes the same road. (`GPT2LAB_MODEL=gpt2lab-tiny` starts from
# random weights instead; section 12 does that once, as an aside, to measure what
# pretraining bought.)
#
# The data is the Shakespeare corpus of notebook 02, split by work with the course's
# fixed split (`COURSE_SPLIT`, the same works are held out in every notebook), tokenized
# and packed into blocks. All sizes come from one place, `TrainingConfig.for_mode()`;
# the training run gets a **time budget** in seconds (`max_seconds`), so a slower machine
# trains for as long and learns a little less, and the run prints what it achieved. (Quick
# mode, used by the tests, runs a fixed handful of steps instead, so that its checks do not
# depend on how busy the machine is.)
# We also keep a second validation text: held-out **general English** of the kind the
# offline base was pretrained on, to measure what fine-tuning makes the model forget.

# %%
import math

import torch
from datasets import DatasetDict
from IPython.display import Markdown, display

from helpers.base_corpus import general_split_dir
from helpers.data import COURSE_SPLIT, course_documents, load_documents
from helpers.environment import get_device, quick_or_full, set_seed
from helpers.model_source import locate_model
from helpers.modeling import count_parameters, load_model_and_tokenizer
from helpers.offline_model import BASE_MODEL_NAME, OFFLINE_MODEL_NAME
from helpers.packing import build_lm_dataset, pack_into_blocks, tokenize_documents
from helpers.training import TrainingConfig, resolve_learning_rates

set_seed(0)
device = get_device()
source = locate_model()  # $GPT2LAB_MODEL, else gpt2, else (offline) the course's base model
model, tokenizer = load_model_and_tokenizer(device=device)
FROM_SCRATCH = not source.is_pretrained  # only gpt2lab-tiny starts from random weights
if FROM_SCRATCH:
    BASE = f"`{OFFLINE_MODEL_NAME}` (random weights)"
elif source.is_offline_base:
    BASE = f"`{BASE_MODEL_NAME}` (the course's small pretrained GPT-2, not GPT-2)"
else:
    BASE = f"`{source.requested}` (pretrained, from {source.kind})"
print(f"base model : {source.requested} -> {source.kind} ({source.location})")
print(f"parameters : {count_parameters(model):,}")
print(
    "this run   : TRAINING FROM SCRATCH (random initial weights)"
    if FROM_SCRATCH
    else "this run   : FINE-TUNING pretrained weights"
)

# the settings and learning rates depend on the starting point (sections 4-5); the
# training run below stops after TRAIN_SECONDS of training steps (quick mode: after a
# fixed dozen steps, with a checkpoint every 4)
TRAIN_SECONDS = quick_or_full(None, 40.0)
QUICK_RUN = quick_or_full({"max_steps": 12, "checkpoint_every": 4}, {})
config = TrainingConfig.for_mode(from_scratch=FROM_SCRATCH, max_seconds=TRAIN_SECONDS, **QUICK_RUN)
config = resolve_learning_rates(config, from_scratch=FROM_SCRATCH, base=source.location)
documents = course_documents(clean=False)  # quick mode: the first 8 works; cleaned below
dataset, stats = build_lm_dataset(
    documents, tokenizer, config.block_size, split_method="document", **COURSE_SPLIT
)
chars_per_token = stats.characters["validation"] / stats.tokens["validation"]
print(stats)
assert {"train", "validation"} <= set(dataset)
assert len(dataset["train"][0]["input_ids"]) == config.block_size

# general English the model never trains on here: the measure of forgetting
general_documents = DatasetDict(validation=load_documents(general_split_dir("validation")))
general_tokens = tokenize_documents(general_documents, tokenizer)
general = pack_into_blocks(general_tokens, config.block_size)["validation"]
general_chars_per_token = sum(len(t) for t in general_documents["validation"]["text"]) / sum(
    len(ids) for ids in general_tokens["validation"]["input_ids"]
)
print(f"general English for the forgetting test: {len(general):,} blocks of "
      f"{config.block_size} tokens, {general_chars_per_token:.2f} characters per token")  # fmt: skip

# %% [markdown]
# ## 2 · The objective: predict the next token
#
# GPT-2 is a *causal* language model: it factorises the probability of a text
# $x_1, \dots, x_T$ left to right, $p(x) = \prod_t p_\theta(x_{t+1} \mid x_1, \dots, x_t)$.
# Training maximises that probability on our data; equivalently it minimises the
# **cross-entropy**, the average negative log-probability of each true next token:
#
# $$\mathcal{L}(\theta) = -\frac{1}{T-1} \sum_{t=1}^{T-1} \log p_\theta(x_{t+1} \mid x_{\le t}).$$
#
# One block of $T$ tokens therefore gives $T-1$ predictions at once: position $t$ sees
# tokens $1..t$ (the attention mask hides the future) and is scored on token $t+1$. So
# the *labels* are the inputs **shifted by one**. Our blocks store `labels` equal to
# `input_ids`; the shift happens inside the loss. Here it is on a real block:

# %%
block = dataset["train"][0]
ids = block["input_ids"]
assert block["labels"] == ids  # labels = inputs; the model shifts them itself
print(f"{'t':>3}  {'the model sees … x_t':<24}  {'and must predict x_t+1':<20}")
for t in range(8):
    seen, target = repr(tokenizer.decode(ids[t])), repr(tokenizer.decode(ids[t + 1]))
    print(f"{t:>3}  {seen:<24}  {target}")

# %% [markdown]
# Computing the loss by hand (shift, then cross-entropy) gives exactly the number the
# model computes when it is given `labels`:

# %%
import torch.nn.functional as F

inputs = torch.tensor([ids], device=device)
with torch.no_grad():
    out = model(input_ids=inputs, labels=inputs)
    logits = out.logits[0, :-1]  # predictions made at positions 1 .. T-1
    targets = inputs[0, 1:]  # the tokens that actually came next
    by_hand = F.cross_entropy(logits.float(), targets)
print(f"by hand: {by_hand.item():.4f}   model(labels=...).loss: {out.loss.item():.4f}")
assert torch.isclose(by_hand, out.loss, atol=1e-4)

# %% [markdown]
# ## 3 · From loss to perplexity to bits per character
#
# The loss is in **nats per token** (natural log). Three views of the same number:
#
# * **perplexity** $= e^{\mathcal{L}}$: the model is as uncertain as a fair choice among
#   that many tokens. A model that knows nothing spreads its bets evenly over the
#   vocabulary of $V = 50{,}257$ tokens: $\mathcal{L} = \ln V \approx 10.82$, perplexity
#   $V$.
# * **bits per token** $= \mathcal{L} / \ln 2$: the cost of encoding each token with the
#   model as a compressor.
# * **bits per character** $= \mathcal{L} / (\ln 2 \cdot c)$ with $c$ the characters per
#   token of the text. Tokenizers differ, characters do not, so this is the number to
#   compare across models and tokenizers.

# %%
display(Markdown(
    f"Here $c$ = {chars_per_token:.2f} characters per token on the Shakespeare validation "
    f"works (notebook 02 measured it over the whole corpus), and "
    f"{general_chars_per_token:.2f} on "
    f"the general English text."
))

# %% [markdown]
# `evaluate_model` scores packed blocks this way. We score the base model on two texts
# before any training: the first validation blocks of Shakespeare (the same blocks will
# be scored again after training), and the general English text. Scoring a block costs
# the same every time, so we time a few first and take as many as `SCORE_SECONDS`
# affords for each model (up to a cap): a slow CPU scores fewer blocks in the same time.

# %%
from helpers.work_budget import measure_rate
from helpers.training import evaluate_model


def score(model, blocks, chars_per_token, max_batches=None):
    return evaluate_model(model, blocks, batch_size=16, chars_per_token=chars_per_token,
                          max_batches=max_batches)  # fmt: skip


SCORE_SECONDS = 8.0  # per model, both texts together
probe = dataset["validation"].select(range(min(16, len(dataset["validation"]))))


def score_probe() -> int:
    """Score the probe blocks once; how many blocks that was."""
    score(model, probe, chars_per_token)
    return len(probe)


blocks_per_second = measure_rate(score_probe)
half = int(SCORE_SECONDS * blocks_per_second / 2)  # half of the blocks for each text
COMPARE_BLOCKS = min(len(dataset["validation"]), quick_or_full(32, 96), max(16, half))
compare = dataset["validation"].select(range(COMPARE_BLOCKS))  # the same blocks, every time
GENERAL_BATCHES = min(quick_or_full(2, 8), max(1, half // 16))
print(f"about {blocks_per_second:.0f} blocks a second: {COMPARE_BLOCKS} Shakespeare blocks and "
      f"{GENERAL_BATCHES * 16} general ones for each model")

before = score(model, compare, chars_per_token)
general_before = score(model, general, general_chars_per_token, GENERAL_BATCHES)
for name, result in [("Shakespeare", before), ("general English", general_before)]:
    print(f"{name:<16}: {result.tokens:>6,} tokens scored, loss {result.loss:.3f} nats/token, "
          f"perplexity {result.perplexity:,.1f}, {result.bits_per_char:.2f} bits/char")  # fmt: skip
print(f"(a uniform guess: loss ln V = {math.log(50257):.2f}, perplexity 50,257)")
assert before.perplexity == math.exp(before.loss)
if FROM_SCRATCH:  # random weights: about as uncertain as a uniform guess
    assert abs(before.loss - math.log(50257)) < 1.0

# %%
if FROM_SCRATCH:
    verdict = "random weights know nothing: both losses are close to $\\ln V$."
elif general_before.loss < before.loss:
    verdict = (
        "the pretrained base predicts general English better than Shakespeare: "
        f"perplexity {general_before.perplexity:,.0f} against {before.perplexity:,.0f}. "
        "Shakespeare is the new style it has to learn."
    )
else:
    verdict = (
        "the pretrained base already predicts Shakespeare at least as well as the general "
        f"text (perplexity {before.perplexity:,.0f} against {general_before.perplexity:,.0f})."
    )
display(Markdown(f"Before training, {BASE}: {verdict}"))

# %% [markdown]
# And what the model writes before training, sampled (notebook 04 explains the
# settings). The prompts are text the corpus really has: a speaker's name as the plays
# write it (on a line of its own, ending with a full stop; we take the most frequent one
# among the training works), and the start of a famous line.

# %%
import re
from collections import Counter

from helpers.data import clean_documents, split_by_document

course_splits = split_by_document(clean_documents(documents)[0], **COURSE_SPLIT)
speakers = Counter(
    line
    for text in course_splits["train"]["text"]
    for line in text.splitlines()
    if re.fullmatch(r"[A-Z][A-Za-z]+\.", line)
)
speaker, lines_spoken = speakers.most_common(1)[0]
print(f"most frequent speaker line in the training works: {speaker!r} ({lines_spoken} times)")
PROMPTS = [f"{speaker}\n", "To be, or not"]
assert all(any(p in text for text in course_splits["train"]["text"]) for p in PROMPTS[:1])

from helpers.decoding import generate_text

SAMPLE = dict(strategy="sample", top_k=50, max_new_tokens=quick_or_full(16, 48), seed=0)
for prompt, text in zip(PROMPTS, generate_text(model, tokenizer, PROMPTS, **SAMPLE), strict=True):
    print(f"--- {prompt!r}\n{prompt}{text}\n")

# %% [markdown]
# ## 4 · How the weights move: AdamW
#
# Each step computes the gradient $g_t = \nabla_\theta \mathcal{L}$ on a batch and moves
# every weight by **Adam**'s rule: running averages of the gradient and of its square,
#
# $$m_t = \beta_1 m_{t-1} + (1-\beta_1)\, g_t, \qquad v_t = \beta_2 v_{t-1} + (1-\beta_2)\, g_t^2,$$
#
# corrected for starting at zero ($\hat m_t = m_t / (1-\beta_1^t)$, $\hat v_t = v_t/(1-\beta_2^t)$),
# then
#
# $$\theta_t = \theta_{t-1} - \eta_t \left( \frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon} + \lambda\, \theta_{t-1} \right).$$
#
# Dividing by $\sqrt{\hat v_t}$ gives every weight a step of about $\eta$ whatever the
# scale of its gradient. The last term is **decoupled weight decay** (the "W", Loshchilov
# & Hutter, 2019): it shrinks weights towards zero directly instead of through the
# gradient, which keeps it independent of Adam's rescaling. We decay only the weight
# *matrices*: decaying a bias, a layer norm's gain or an embedding only fights what
# those are for. When fine-tuning, every part of the model shares one small peak rate;
# training from scratch gives each part its own (section 12).

# %%
from helpers.training import build_optimizer

optimizer = build_optimizer(model, config)
for group in optimizer.param_groups:
    sizes = sum(p.numel() for p in group["params"])
    print(
        f"{group['role']:<10}: {len(group['params']):>3} tensors, {sizes:>11,} weights, "
        f"peak learning rate {group['lr']:<6g}, weight decay {group['weight_decay']}"
    )
assert sum(sum(p.numel() for p in g["params"]) for g in optimizer.param_groups) == count_parameters(
    model
)
del optimizer

# %% [markdown]
# ## 5 · Warmup, then decay
#
# The learning rate $\eta_t$ changes during training. At the start Adam's $\hat v_t$ rests
# on a handful of gradients and the weights are far from any good region, so large steps
# are erratic: a **linear warmup** raises $\eta$ from 0 over the first $W$ steps. Then a
# **cosine decay** lowers it to a floor $\eta_{\min}$ at the last step $S$, so the
# optimiser settles into a minimum instead of bouncing around it:
#
# $$\eta_t = \begin{cases} \eta_{\max}\, t / W & t < W \\
#   \eta_{\min} + \tfrac12 (\eta_{\max} - \eta_{\min}) \left(1 + \cos \pi \frac{t - W}{S - W}\right) & t \ge W \end{cases}$$
#
# How big is $\eta_{\max}$? When the weights are pretrained, small: large steps would
# wash out what they know. When they are random there is nothing to lose, and a small
# model trains well with much larger rates (section 12). `resolve_learning_rates` picks
# them (section 1 used it), and so does the loop for any rate left at `None`.
#
# With a time budget the last step $S$ is not known in advance: the loop times its
# first steps, computes how many fit in the budget (never more than `max_steps`), and
# plans this same curve to end there. The plot shows it for `max_steps`.

# %%
from dataclasses import replace

from helpers.plots import learning_rate_curve
from helpers.training import learning_rate_schedule, warmup_steps_for

rates = learning_rate_schedule(config, config.max_steps)
warmup = warmup_steps_for(config, config.max_steps)
_ = learning_rate_curve(rates, warmup, title=f"peak {config.learning_rate:g}, cosine decay")
print(
    f"peak learning rate {config.learning_rate:g} after {warmup} warmup steps; last {rates[-1]:.2g}"
)
assert max(rates) == rates[warmup] == config.learning_rate
assert rates[-1] == min(rates[warmup:]) >= config.learning_rate * config.min_lr_ratio * 0.99

# %% [markdown]
# ## 6 · A training loop you can read
#
# Everything so far fits in a few lines of plain PyTorch. Here is a complete training
# loop: batches of blocks in a shuffled order, the forward pass (the model computes the
# shifted cross-entropy of section 2 when given `labels`), the backward pass, a clip of
# the gradient's norm, an AdamW step, and a warmup-then-cosine schedule from
# `transformers`. It trains a *copy* of the model for a few steps (the real run below
# starts from the base again) and scores the same validation batch before and after.

# %%
import copy
from itertools import islice

from torch.utils.data import DataLoader
from transformers import get_cosine_schedule_with_warmup

STEPS = 4  # a demonstration: the real run follows
LEARNING_RATE = 1e-3 if FROM_SCRATCH else 3e-4  # a few steps only: a brisk rate
student = copy.deepcopy(model).train()
blocks = dataset["train"].with_format("torch", columns=["input_ids"])
batches = DataLoader(blocks, batch_size=8, shuffle=True, generator=torch.Generator().manual_seed(0))
optimizer = torch.optim.AdamW(student.parameters(), lr=LEARNING_RATE, weight_decay=0.1)
schedule = get_cosine_schedule_with_warmup(optimizer, num_warmup_steps=1, num_training_steps=STEPS)
held_out = torch.tensor(dataset["validation"][:8]["input_ids"], device=device)


def held_out_loss(model) -> float:
    with torch.no_grad():
        return model(input_ids=held_out, labels=held_out).loss.item()


loss_before = held_out_loss(student)
for step, batch in enumerate(islice(batches, STEPS), start=1):
    ids = batch["input_ids"].to(device)
    loss = student(input_ids=ids, labels=ids).loss  # forward: mean next-token cross-entropy
    loss.backward()  # backward: the gradient of the loss for every weight
    torch.nn.utils.clip_grad_norm_(student.parameters(), max_norm=1.0)
    optimizer.step()  # AdamW moves every weight
    schedule.step()  # the next step's learning rate
    optimizer.zero_grad()  # gradients would otherwise add up across steps
    print(f"step {step}: training loss {loss.item():.3f}, next lr {schedule.get_last_lr()[0]:.1e}")
loss_after = held_out_loss(student)
print(f"held-out batch: loss {loss_before:.3f} before, {loss_after:.3f} after {STEPS} steps")
assert loss_after < loss_before, "a few steps should lower the loss on held-out text"
del student, optimizer, schedule

# %% [markdown]
# Each training loss is measured on a different batch, so the printed losses wobble;
# the held-out batch, scored before and after with the same weights' copy, is the fair
# comparison. That is the whole idea. What a real run adds is bookkeeping around it:
# mixed precision, gradient accumulation, evaluations on held-out text, checkpoints that
# survive a crash, resuming, the best model kept and saved, and a time budget.
# `helpers.training.train` does all of that; the next two sections explain its
# additions, then print its loop.

# %% [markdown]
# ## 7 · How much text per step, and in which number format
#
# **Effective batch.** One optimizer step averages the gradient over
# `batch_size × grad_accum × processes` blocks. When a batch does not fit in memory,
# *gradient accumulation* runs several smaller forward/backward passes and adds their
# gradients before the step: the same update for less memory, at the cost of time. A
# larger effective batch gives a less noisy gradient, but fewer steps for the same
# compute per step.
#
# **Mixed precision.** Weights and the optimizer stay in fp32, but the matrix products
# run in a 16-bit format. *bfloat16* keeps fp32's exponent range (8 bits) with a shorter
# mantissa, so nothing overflows and no tricks are needed; it is native on recent GPUs
# and on CPUs with AMX or AVX512-BF16, where it is faster than fp32 (exercise 4 measures
# by how much on your machine). *float16* has more mantissa but a narrow range: small
# gradients underflow to zero unless the loss is multiplied by a large factor before the
# backward pass and the gradients divided by it after (**loss scaling**, done for us).
# The loop picks bf16 where the hardware has it, fp16 on older GPUs (Colab's T4), fp32
# otherwise.
#
# **A batch for this machine.** The run has a budget of seconds, so the batch decides how
# many steps it takes. On a slow CPU a batch of 16 leaves a handful of steps: the learning
# rate barely warms up before it must decay, and the weights hardly move. Fine-tuning
# gains more from many smaller steps, up to the run's step cap. So we time a few steps at
# a small batch and take the batch (16, or a half, a quarter ... of it, down to 2) whose
# number of steps in the budget comes closest to the cap, `max_steps`. An unfinished run
# (section 9) keeps the batch it started with: its checkpoint can only resume with it.
# The evaluations keep scoring the same number of blocks.

# %%
from helpers.training import (
    batch_of_unfinished_run,
    choose_batch,
    choose_precision,
    with_batch_size,
)

resumed_batch = batch_of_unfinished_run(config)
if resumed_batch is not None:
    print(f"an unfinished run will be resumed: it keeps its batch of {resumed_batch}")
    config = with_batch_size(config, resumed_batch)  # (its evaluations: as many blocks)
elif config.max_seconds and not FROM_SCRATCH:  # (from scratch, the recipe decides: section 12)
    probe_data = DatasetDict(train=dataset["train"], validation=dataset["validation"].select([0]))
    choice = choose_batch(config, probe_data, config.max_seconds, target_steps=config.max_steps)
    print(f"a step of {choice.probe_batch} blocks takes {choice.probe_seconds:.2f} s here, so "
          f"one of {choice.full_batch} about {choice.step_seconds:.2f} s: "
          f"{choice.steps(choice.full_batch):.0f} steps in {config.max_seconds:g} s. "
          f"Batch {choice.batch}: about {min(choice.steps(choice.batch), config.max_steps):.0f} "
          f"steps (at most {config.max_steps})")
    config = with_batch_size(config, choice.batch)  # (evaluations: as many blocks)

tokens_per_step = config.batch_size * config.grad_accum * config.block_size
print(
    f"effective batch: {config.batch_size} x {config.grad_accum} accumulation x 1 process "
    f"= {config.batch_size * config.grad_accum} blocks = {tokens_per_step:,} tokens per step"
)
print(f"mixed precision on this {device.type}: {choose_precision(device)}")
budget = f"time budget {config.max_seconds:g} s, " if config.max_seconds else ""
print(
    f"{budget}at most {config.max_steps} steps (= "
    f"{config.max_steps * tokens_per_step / stats.tokens['train']:.2f} passes over the "
    f"{stats.tokens['train']:,} training tokens)"
)

# %% [markdown]
# ## 8 · The course's training loop
#
# Here is the heart of `helpers.training` (the file `src/helpers/training/loop.py`),
# printed from its source. Compare it with the loop of section 6. 🤗 Accelerate's
# `Accelerator` has already placed the model and data on the device, wrapped the forward
# pass in the chosen precision and, with several processes (`accelerate launch` or
# `torchrun`), in DistributedDataParallel. Read it top to bottom:
#
# * each **epoch** uses its own shuffled order (seeded), so a resumed run can skip exactly
#   the batches it had already seen;
# * `accumulate` lets gradients add up for `grad_accum` batches and only then lets the
#   optimizer and the schedule step;
# * the gradient's global norm is **clipped** to `max_grad_norm`: one bad batch cannot
#   throw the weights far;
# * a NaN or infinite loss stops the run at once, with a message (the last good
#   checkpoint stays intact);
# * after each step `after_step` logs (loss, learning rate, tokens/s), evaluates and saves
#   a checkpoint when they are due, and stops the run when its time budget is spent.

# %%
import inspect

from helpers.training import TrainingRun

print(inspect.getsource(TrainingRun.loop))

# %% [markdown]
# Two details are not in those lines. The objective computes GPT-2's output layer and
# the loss a few dozen positions at a time (`chunked_lm_loss`, derived in
# `helpers/training/loss.py`): the logits of a batch — tokens × 50,257 — are by far its
# largest tensor, and walking through them in pieces saves most of the passes over it.
# With that and a fused AdamW this loop trains more tokens per second than the 🤗
# `Trainer`; `benchmarks/train_throughput.py` measures by how much on your machine and
# prints the conditions (CPU, number format, batch). And **checkpoints** are written to a
# temporary folder and then renamed, so a crash never leaves a half-written one; they
# hold the model, the optimizer's $m$ and $v$, the schedule, the random number
# generators and the position in the data.

# %% [markdown]
# ## 9 · The run, and what happens when it is interrupted
#
# First a small demonstration, in a scratch folder with a copy of the model: a short run
# of a fixed number of steps is stopped a third of the way, as if you had pressed *Stop*
# (Ctrl-C). The loop saves a checkpoint before it returns. Then **the same call again**
# finds the checkpoint and carries on from that step, with the same data order and
# random state, as if never interrupted.

# %%
import shutil
import tempfile
from pathlib import Path

from helpers.plots import LiveLossPlot
from helpers.training import train, unfinished_checkpoint

# the runs score the same validation blocks as `before` (a few, to keep evaluations short)
run_data = DatasetDict(train=dataset["train"], validation=compare)
scratch = Path(tempfile.mkdtemp(prefix="gpt2lab-resume-demo-"))
demo = replace(
    config,
    output_dir=str(scratch / "model"),
    checkpoint_directory=str(scratch / "checkpoints"),
    resume_dir=str(scratch / "resume"),  # never the Drive: this is only a demonstration
    max_steps=6,
    max_seconds=None,  # a fixed number of steps, so that it stops where we say
    batch_size=8,
    eval_batches=None,  # score all 8 validation blocks of demo_data, at the start and the end
    log_every=1,
    eval_every=0,
    checkpoint_every=0,
    progress_bar=False,
)
STOP_AT = demo.max_steps // 3


def press_stop_at_step(history):
    """Stands in for you pressing Stop: raises KeyboardInterrupt at step STOP_AT."""
    if history.train and history.train[-1]["step"] == STOP_AT:
        raise KeyboardInterrupt


common = dict(
    tokenizer=tokenizer, source=source, chars_per_token=chars_per_token,
    data_description=f"The Shakespeare corpus of the course: {stats.documents['train']} works "
    f"for training, {stats.tokens['train']:,} tokens; {stats.documents['validation']} held-out "
    f"works for validation.",
)  # fmt: skip
demo_model = copy.deepcopy(model)
demo_data = DatasetDict(train=dataset["train"], validation=compare.select(range(8)))
first = train(
    replace(demo, resume=False), demo_data, model=demo_model, on_log=press_stop_at_step, **common
)
print()
again = train(demo, demo_data, model=demo_model, **common)
assert first.interrupted and first.completed_steps == STOP_AT
assert again.resumed_from.name == f"checkpoint-{STOP_AT:06d}"
assert again.completed_steps == demo.max_steps
shutil.rmtree(scratch)
del demo_model

# %% [markdown]
# Now the real run (with its time budget, in full mode). Its checkpoints go to
# `config.checkpoint_dir`; on Colab that is the VM's own disk (fast, and a GPT-2 checkpoint with its optimizer
# state is about three times the weights: 1.5 GB), while **one** rolling copy, the
# *resume point*, goes to your Drive, at most every `resume_copy_minutes`. When the run
# ends, the final model is saved (on Colab: to Drive) and the resume point is deleted. If
# Colab disconnects mid-run, run the notebook again: the cell below finds the unfinished
# run and resumes it. Otherwise it starts afresh. The summary it prints says how many
# steps the budget bought on this machine and how much went where. The plot updates
# while it trains.

# %%
unfinished = unfinished_checkpoint(config)
print(f"resuming the unfinished run at {unfinished}" if unfinished else "starting a fresh run")
live = LiveLossPlot(title="loss, live")
result = train(
    replace(config, resume=unfinished is not None, eval_batches=None),
    run_data, model=model, on_log=live, **common,
)  # fmt: skip
live.redraw()
assert result.completed_steps == result.total_steps or result.out_of_time
assert (result.resumed_from is not None) == (unfinished is not None)
assert [r["step"] for r in result.history.train] == sorted(
    {r["step"] for r in result.history.train}
)

# %% [markdown]
# Everything the run did is in `result.history` (and in `history.json` next to the
# model): a training record every `log_every` steps and an evaluation every `eval_every`,
# each saying which validation blocks it scored. Here every evaluation scores the same
# first validation blocks as section 3 did, so their losses compare; notebook 05 scores
# whole texts.

# %%
from helpers.plots import loss_curves

_ = loss_curves(result.history)
last = result.history.train[-1]
print(
    f"last log: step {last['step']}, loss {last['loss']:.3f}, {last['tokens_per_second']:,.0f} tokens/s"
)
for record in result.history.eval:
    print(f"step {record['step']:>4}: validation loss {record['val_loss']:.3f}, "
          f"perplexity {record['perplexity']:,.1f}   scored on the {record['scored_on']} "
          f"({record['val_tokens']:,} tokens)")  # fmt: skip

# %% [markdown]
# ## 10 · Over-fitting and early stopping
#
# The training loss measures how well the model fits the blocks it learns from; the
# validation loss, how well it predicts works it has never seen. While both fall the
# model is learning things that generalise. When the training loss keeps falling but
# the validation loss turns up, the model has started to **memorise** its training text:
# it over-fits. Small datasets and many passes make this come quickly, and a pretrained
# model fine-tuned too long on a small corpus loses some of what it knew (section 11
# measures that).
#
# The cure is to keep the model from the step with the lowest *validation* loss, measured
# on the same blocks each time. Our loop always does: it saves the best model, not the
# last one. With `early_stopping_patience=N` it also stops once N evaluations in a row
# bring no improvement, saving the compute. Where does this run stand?

# %%
best = result.history.best_eval  # among the evaluations of the same blocks
gap = result.history.eval[-1]["val_loss"] - last["loss"]
print(f"best validation loss {best['val_loss']:.3f} at step {best['step']} "
      f"(on the {best['scored_on']})")  # fmt: skip
print(f"last validation loss - last training loss: {gap:+.3f} nats")
assert best["val_loss"] == result.best_val_loss
evals = result.history.comparable()
first_eval, last_eval = evals[0], evals[-1]
if last_eval["val_loss"] < first_eval["val_loss"] and best["step"] == last_eval["step"]:
    where = ("its last evaluation is its best: the validation loss was still falling, so "
             "the run ended before any over-fitting.")  # fmt: skip
elif last_eval["val_loss"] > best["val_loss"]:
    where = (f"its best evaluation came at step {best['step']}, and the validation loss was "
             f"higher at the end: the saved model is the one from step "
             f"{best['step']}.")  # fmt: skip
else:
    where = "its validation loss did not fall below the starting point."
steps_done = result.completed_steps
display(Markdown(
    f"This run did {steps_done} step{'s' if steps_done != 1 else ''}, "
    f"{steps_done * tokens_per_step / stats.tokens['train']:.2f} passes over the training "
    f"text; {where}"
))

# %% [markdown]
# ## 11 · Before and after — from the saved model
#
# The best model was saved with `save_pretrained` (weights as *safetensors*) together
# with its tokenizer, `generation_config.json`, the training arguments, the history and
# a model card (`README.md`). We load it back like any Hugging Face model and score it
# on the same two texts as before training: the Shakespeare validation blocks, and the
# general English text. The first shows what the model learnt; the second, what it
# **forgot** — fine-tuning moves the same weights that held its general English.

# %%
print(sorted(p.name for p in result.output_dir.iterdir()))
trained, trained_tokenizer = load_model_and_tokenizer(result.output_dir, device=device)
after = score(trained, compare, chars_per_token)
general_after = score(trained, general, general_chars_per_token, GENERAL_BATCHES)
print(f"{'perplexity':<28}{'before':>12}{'after':>12}")
pairs = [("Shakespeare (validation)", before, after), ("general English", general_before, general_after)]
for name, was, now in pairs:
    print(f"{name:<28}{was.perplexity:>12,.1f}{now.perplexity:>12,.1f}")
print(f"{'bits per char, Shakespeare':<28}{before.bits_per_char:>12.3f}{after.bits_per_char:>12.3f}")
assert before.tokens == after.tokens and general_before.tokens == general_after.tokens
LEARNT_ENOUGH = result.completed_steps >= 5  # the first steps only warm the learning rate up
if LEARNT_ENOUGH:
    assert after.loss < before.loss, "training did not lower the validation loss"

# %%
learnt = before.perplexity / after.perplexity
forgot = general_after.perplexity / general_before.perplexity
too_few = (
    "" if LEARNT_ENOUGH else f"**This machine was too slow for the budget: "
    f"{result.completed_steps} step(s) are too few to learn from.** "
)
display(Markdown(
    too_few + f"In {result.train_seconds:.0f} s of training ({result.completed_steps} step(s)), "
    f"{BASE} went from perplexity **{before.perplexity:,.1f} to {after.perplexity:,.1f}** on "
    f"the Shakespeare validation works"
    + (f" ({learnt:.1f}× lower). " if learnt > 1 else " (no lower). ")
    + f"On the general English text "
    f"its perplexity went from {general_before.perplexity:,.1f} to "
    f"{general_after.perplexity:,.1f}: "
    + (f"**{forgot - 1:.0%} higher** — the price of the new style, paid in general English."
       if forgot > 1 else "no rise, so in this run nothing measurable was forgotten.")
    + ("" if not FROM_SCRATCH else " (These weights started random: there was no general "
       "English to forget.)")
))

from helpers.report import record

_ = record("training", {
    "base": f"{source.requested} ({source.kind})", "from_scratch": FROM_SCRATCH,
    "steps": result.completed_steps, "budget_seconds": config.max_seconds,
    "precision": str(result.precision), "train_seconds": round(result.train_seconds, 1),
    "validation_before": before.as_dict(), "validation_after": after.as_dict(),
    "general_before": general_before.as_dict(), "general_after": general_after.as_dict(),
    "saved_to": str(result.output_dir), "history": result.history.to_dict(),
})

# %%
for prompt, text in zip(
    PROMPTS, generate_text(trained, trained_tokenizer, PROMPTS, **SAMPLE), strict=True
):
    print(f"--- {prompt!r}\n{prompt}{text}\n")

# %% [markdown]
# Compare these samples with those of section 3, written by the same base before
# training. The saved folder works with plain `transformers` too:

# %%
from transformers import pipeline

generator = pipeline("text-generation", model=str(result.output_dir), device=device)
set_seed(0)
print(generator(PROMPTS[0], max_new_tokens=16, do_sample=True, top_k=50)[0]["generated_text"])

# %% [markdown]
# The model card says what the run started from:

# %%
card = (result.output_dir / "README.md").read_text(encoding="utf-8")
print(card.split("## Training data")[0].split("---\n")[-1].strip())
assert ("from scratch" in card) == FROM_SCRATCH

# %% [markdown]
# ## 12 · Aside: the same seconds from scratch
#
# What did pretraining buy? To see it, we train a small GPT-2 from **random weights**
# (`gpt2lab-tiny`, the same tokenizer) for as many seconds as the fine-tuning run trained,
# on the same data, and score it on the same validation blocks and on the same general
# English. (This aside is not the road the course takes; it is here to measure the
# difference.)
#
# **Training from scratch** starts from nothing: spelling, which tokens follow which, the
# shape of a play — everything must come from our data, and a few million tokens teach
# a small model surface patterns at best. **Fine-tuning** starts from weights that
# already encode much of a language; it only nudges them towards the new data's
# vocabulary, layout and tone, which is why a small learning rate and a short run are
# enough — and why too long a run on a small corpus erodes the general knowledge
# (section 11) and over-fits.
#
# **The from-scratch recipe.** Random weights call for other settings, collected in
# `FROM_SCRATCH_RECIPE` and `FROM_SCRATCH_LEARNING_RATES`, which
# `TrainingConfig.for_mode(from_scratch=True)` and
# `resolve_learning_rates(config, from_scratch=True)` apply. The main one is *one
# learning rate per kind of weight*. Adam moves each weight by about $\eta$ per step
# (section 4). Row $i$ of the token embedding gets a gradient only from batches that
# contain token $i$: a token seen ten times in the whole run gets ten steps, while every
# other weight is trained by every position of every batch. So the embeddings get a far
# larger rate, so that each occurrence of a rare token counts. The offline model
# `gpt2lab-tiny` keeps its output layer separate from the embedding (GPT-2 shares them),
# with a small rate: it is trained by every position, and it starts at zero, so that the
# untrained model predicts every token with the same probability instead of random
# favourites. These settings won `benchmarks/time_to_quality.py`, which trains for a
# fixed number of seconds and reports bits per character; run it to see what they reach
# on your machine.
#
# **Muon for the matrices.** From scratch, the recipe also moves the body's weight
# matrices (attention and MLP) with another optimizer: `optimizer="muon"`, which is
# `torch.optim.Muon`. Muon takes the momentum of a matrix's gradient $M$ and
# *orthogonalises* it: a few Newton–Schulz iterations replace $M = U\Sigma V^\top$ by about
# $UV^\top$, every singular value pushed towards 1. The step then moves the matrix about
# as far in every direction, where Adam's would mostly follow the few directions in which
# the gradient happens to be large. The embeddings, the output layer and the vectors stay
# with AdamW: an embedding row is looked up, not multiplied as a matrix. The
# orthogonalisation costs the same whatever the batch, so on a slow machine, where the
# recipe shrinks the batch, its share of each step grows: `from_scratch_recipe` keeps
# AdamW there (the cell below says which it chose). Fine-tuning keeps
# AdamW, with which the pretrained weights were trained: switching an AdamW-pretrained
# model to Muon for fine-tuning was reported to bring no gain (Liu et al., 2025, *Muon is
# Scalable for LLM Training*).
#
# **A recipe that follows the text and the machine.** `from_scratch_recipe` first picks
# the batch from the text: the power of two that makes `FROM_SCRATCH_STEPS` steps about
# `FROM_SCRATCH_PASSES` passes over it, so that a short text gets small batches and is
# not learnt by heart. The settings were tuned where one step took
# `REFERENCE_STEP_SECONDS` (printed below; bf16 on a CPU with AMX). Where a step takes
# about a second (`AVX2_STEP_SECONDS`, measured in fp32 on a 2-core AVX2-only CPU), the
# same seconds hold far fewer steps, and `from_scratch_recipe` halves the batch until
# enough steps fit: a model that sees few batches learns more from more, smaller updates.
# On every machine the recipe sets `used_vocabulary`: the output layer is trained only on
# the tokens this text uses, with every unused token sharing one row. The loss is exactly
# the full model's (the derivation is in `helpers/training/vocabulary.py`), and the
# largest product of a step shrinks from 50,257 rows to the count printed below. One
# thing is added: a share of the target goes to the unused tokens, as much as Good and
# Turing's estimate says new tokens will turn up — the share of training tokens that
# occur exactly once. Without it, a token that the validation text uses for the first
# time would get almost no probability, and its loss would be enormous. Where the
# budget holds more than `FROM_SCRATCH_STEPS` steps, the run stops there, early: the
# recipe was tuned for that many, and on a text this size more steps over-fit. The next
# cell asks the rule about both machines for this run's training text; the aside itself
# keeps the fixed recipe.

# %%
from helpers.training import (
    FROM_SCRATCH_LEARNING_RATES,
    FROM_SCRATCH_PASSES,
    FROM_SCRATCH_RECIPE,
    FROM_SCRATCH_STEPS,
    REFERENCE_STEP_SECONDS,
    UsedVocabulary,
    from_scratch_recipe,
)

print("from-scratch recipe:", FROM_SCRATCH_RECIPE)
print(f"at most {FROM_SCRATCH_STEPS} steps; the batch for about {FROM_SCRATCH_PASSES:g} passes")
print("from-scratch learning rates:", FROM_SCRATCH_LEARNING_RATES)
train_ids = torch.tensor(run_data["train"]["input_ids"])
used = UsedVocabulary.from_tokens(train_ids, model.config.vocab_size)  # None: uses them all
if used is not None:
    print(f"the training text uses {len(used.used):,} of {model.config.vocab_size:,} tokens: "
          f"{used.rows:,} rows of the output layer with used_vocabulary")
    print(f"Good-Turing share for the unused tokens: {used.unseen_mass:.3f} "
          f"(training tokens that occur once / all training tokens)")
AVX2_STEP_SECONDS = 0.956  # a step on the whole vocabulary, fp32, 2-core AVX2-only CPU
for step_seconds in (REFERENCE_STEP_SECONDS, AVX2_STEP_SECONDS):
    chosen = from_scratch_recipe(step_seconds, result.train_seconds,
                                 train_tokens=train_ids.numel())  # fmt: skip
    fit = int(result.train_seconds / step_seconds)  # steps of the reference batch
    print(f"a step of {step_seconds:.3f} s, {result.train_seconds:.0f} s of training: "
          f"batch {chosen['batch_size']}, {chosen['optimizer']}, at most {chosen['max_steps']} steps "
          f"({fit} of the reference batch would fit)")
if FROM_SCRATCH:
    print("This run already trained from random weights: section 11 is the from-scratch run.")
    scratch_result = None
else:
    scratch_model, _ = load_model_and_tokenizer(OFFLINE_MODEL_NAME, device=device)
    scratch_dir = Path(tempfile.mkdtemp(prefix="gpt2lab-from-scratch-"))
    scratch_config = TrainingConfig.for_mode(
        from_scratch=True,
        max_seconds=result.train_seconds,  # the seconds the fine-tuning run trained
        output_dir=str(scratch_dir / "model"),
        checkpoint_directory=str(scratch_dir / "checkpoints"),
        resume_dir=str(scratch_dir / "resume"),  # never the Drive
        resume=False,
        eval_batches=None,
        eval_every=0,
        checkpoint_every=0,
        progress_bar=False,
    )
    scratch_config = resolve_learning_rates(scratch_config, from_scratch=True)
    assert scratch_config.block_size == config.block_size  # the same blocks fit both
    scratch_source = locate_model(OFFLINE_MODEL_NAME)
    scratch_result = train(scratch_config, run_data, model=scratch_model, tokenizer=tokenizer,
                           source=scratch_source, chars_per_token=chars_per_token)  # fmt: skip
    from_scratch = scratch_result.final_eval  # scored on `compare`, like `before` and `after`
    assert from_scratch.tokens == after.tokens
    scratch_general = score(scratch_result.model, general, general_chars_per_token,
                            GENERAL_BATCHES)  # fmt: skip
    assert scratch_general.tokens == general_after.tokens
    shutil.rmtree(scratch_dir)

# %%
from helpers.plots import loss_against_time

if scratch_result is not None:
    base_name = BASE.split(" (")[0]
    rows = [
        (f"{base_name} before training", 0, before, general_before),
        (f"{base_name} fine-tuned, {result.train_seconds:.0f} s", result.completed_steps,
         after, general_after),  # fmt: skip
        (f"`{OFFLINE_MODEL_NAME}` from scratch, {scratch_result.train_seconds:.0f} s",
         scratch_result.completed_steps, from_scratch, scratch_general),  # fmt: skip
    ]
    table = "| model | training steps | Shakespeare perplexity | bits per char | general English perplexity |\n"
    table += "|---|---|---|---|---|\n"
    for name, steps, scored, general_scored in rows:
        table += (f"| {name} | {steps} | {scored.perplexity:,.1f} | {scored.bits_per_char:.3f} "
                  f"| {general_scored.perplexity:,.1f} |\n")  # fmt: skip
    ratio = from_scratch.perplexity / after.perplexity
    kept = scratch_general.perplexity / general_after.perplexity
    display(Markdown(
        table + f"\nGiven the seconds the fine-tuning run trained ({result.train_seconds:.0f} s), "
        f"the model trained from scratch ({scratch_result.train_seconds:.0f} s) reached "
        f"perplexity {from_scratch.perplexity:,.1f} on the validation blocks; the fine-tuned "
        f"base reached {after.perplexity:,.1f}"
        + (f", {ratio:.1f}× lower: that is what pretraining bought on the new text."
           if ratio >= 1.1 else
           f": about the same ({ratio:.2f}×). Within this budget pretraining bought little on "
           f"this text; the base did {result.completed_steps} steps against the smaller "
           f"model's {scratch_result.completed_steps}, and it was pretrained on very different "
           f"English (exercise 3 gives more time: try it on both)."
           if ratio > 1 / 1.1 else
           ": in this run, within this budget, pretraining did not help on the new text.")
        + f" On general English, which neither run trained on, the fine-tuned base has "
        f"perplexity {general_after.perplexity:,.1f} and the model from scratch "
        f"{scratch_general.perplexity:,.1f}"
        + (f" ({kept:.1f}× higher): "
           + (f"fine-tuning cost the base some of its general English (perplexity "
              f"{general_before.perplexity:,.1f} before), yet it "
              if general_after.perplexity > general_before.perplexity else "the base ")
           + "still knows far more of it than a model that has only ever seen this text."
           if kept >= 1.1 else
           ": in this run the base kept no measurable advantage there either.")
    ))
    _ = loss_against_time({
        f"{base_name.strip('`')}, fine-tuned": result.history,
        f"{OFFLINE_MODEL_NAME}, from scratch": scratch_result.history,
    }, title="The same seconds: a pretrained start against random weights")  # fmt: skip

# %% [markdown]
# The curves show where the time went. The pretrained base starts low: its first loss is
# already that of a model that knows English. The model from scratch starts at
# the loss of a uniform guess over the vocabulary, $\ln 50{,}257$, and falls fast: its steps are
# cheaper (a smaller model, an output layer trained only on the tokens this text uses)
# and its learning rates are large. A base as small as the offline `gpt2lab-base`,
# pretrained on about a million tokens, has a head start that a model from scratch can
# catch up within a minute on the new text; GPT-2's, from billions of tokens, it cannot
# catch up in any budget this course has. What the table's last column shows
# holds for any base: only the pretrained model still knows the English it was not
# fine-tuned on. (The loss of the model from scratch includes the small Good-Turing share
# of its target, so early on the two curves are not exactly the same measure; the table's
# perplexities are.)

# %% [markdown]
# The same run from a terminal (re-running it resumes; `--help` lists every setting):
#
# ```bash
# python -m helpers train --data data/shakespeare --max-seconds 600 --batch-size 16
# # several processes (GPUs, or CPU processes talking through gloo):
# accelerate launch --multi_gpu --num_processes 2 -m helpers train --data data/shakespeare
# ```
#
# ## Summary
#
# * A causal LM is trained to predict each next token: labels are the inputs shifted by
#   one, and the loss is their average cross-entropy (nats per token).
# * perplexity $= e^{\mathcal{L}}$; bits per character $= \mathcal{L} / (\ln 2 \cdot c)$
#   compares across tokenizers.
# * A training loop is a few lines: batch, forward, loss, backward, clip, AdamW step,
#   schedule step. AdamW adapts each weight's step and decays only the matrices; warmup
#   then cosine decay keeps early steps safe and late steps fine; effective batch =
#   batch × accumulation × processes; bf16 where the hardware has it.
# * The course's loop adds a time budget, checkpoints written atomically, exact resume,
#   and the model with the best validation loss kept; it can stop early when that stops
#   improving.
# * Fine-tuning starts from what pretraining bought. Sections 11 and 12 measured, on this
#   machine, how far the perplexity on the new text fell, what training from scratch
#   reached in the same seconds, how the perplexity on general English moved (the
#   forgetting), and how much of that English a model from scratch never had. Notebooks
#   04 and later use the model saved here.
#
# ## Exercises
#
# 1. Multiply the learning rate by 10 (`replace(config, learning_rate=...)`) and run again
#    into another `output_dir`. Explain the curve, and the general-English perplexity
#    after it. Then divide it by 10.
# 2. Halve `batch_size` and set `grad_accum=2`. Is the first step's loss the same? Is the
#    run faster or slower, and why?
# 3. Give the run 5 × the time budget, `eval_every` small and `early_stopping_patience=2`.
#    When does the validation loss turn up, where does the run stop, and how much more
#    general English has the model forgotten by then?
# 4. Train once with `precision="fp32"` and compare tokens/s with the bf16 run (on a CPU
#    with AMX or AVX512-BF16, or on a GPU).
# 5. Interrupt a run yourself (the ■ button) and re-run the cell: what does the summary
#    say, and which checkpoint did it resume from?
# 6. Why must the validation split hold *whole works* rather than random blocks of the
#    same plays? What would the validation loss then measure?
# 7. In the loop of section 6, leave out `optimizer.zero_grad()`. What happens to the
#    loss, and why?
# 8. From scratch (section 12): train with `embedding_learning_rate=config.learning_rate`
#    (one rate for everything). How much higher is the validation loss after the same
#    seconds? Which tokens lose most (compare the loss on frequent and on rare tokens)?
