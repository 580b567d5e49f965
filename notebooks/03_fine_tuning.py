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
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/gpt2-lab/gpt2-lab/blob/main/notebooks/03_fine_tuning.ipynb)
#
# **Learning goals.** After this notebook you can
# 1. state the objective GPT-2 is trained on, and see the one-token shift between inputs
#    and labels on a real block of Shakespeare;
# 2. turn a loss into perplexity and bits per character, and say what each means;
# 3. explain what AdamW, warmup with cosine decay, gradient accumulation and mixed
#    precision each do, with their formulas;
# 4. run a real training loop (built on 🤗 Accelerate), watch the training and validation
#    curves live, and recognise over-fitting and when to stop early;
# 5. interrupt a run, resume it exactly where it stopped, save the model and load it back;
# 6. say what fine-tuning a pretrained model changes, compared with training from scratch,
#    and which of the two happened on your machine.
#
# The loop lives in `helpers.training` (so the command line runs the very same code);
# this notebook prints it, explains every line and runs it.

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
# We start from the **base model**: `gpt2` (pretrained) where the Hugging Face Hub is
# reachable, otherwise the offline model. This matters for everything that follows:
#
# * with `gpt2`, this notebook **fine-tunes**: 124 M pretrained weights that already know
#   English are adapted to Shakespeare;
# * offline, it **trains from scratch**: the offline model's weights are random, so all
#   it will know is what these few minutes of Shakespeare teach it.
#
# The data is the Shakespeare corpus of notebook 02, split by work with the course's
# fixed split (`COURSE_SPLIT`, the same works are held out in every notebook), tokenized
# and packed into blocks. All sizes come from one place, `TrainingConfig.for_mode()`:
# quick mode (the tests) trains a few dozen small steps; full mode a few minutes.

# %%
import math

import torch

from helpers.data import COURSE_SPLIT, build_lm_dataset, course_documents
from helpers.environment import get_device, quick_or_full, set_seed
from helpers.modeling import count_parameters, load_model_and_tokenizer, locate_model
from helpers.training import TrainingConfig, resolve_learning_rates

set_seed(0)
device = get_device()
source = locate_model()  # $GPT2LAB_MODEL, else gpt2, else (offline) the offline model
model, tokenizer = load_model_and_tokenizer(device=device)
FROM_SCRATCH = source.is_offline_model
print(f"base model : {source.requested} -> {source.kind} ({source.location})")
print(f"parameters : {count_parameters(model):,}")
print(
    "this run   : TRAINING FROM SCRATCH (random initial weights)"
    if FROM_SCRATCH
    else "this run   : FINE-TUNING pretrained weights"
)

# the settings, and the learning rates, depend on the starting point (sections 4-5)
config = TrainingConfig.for_mode(from_scratch=FROM_SCRATCH)
config = resolve_learning_rates(config, from_scratch=FROM_SCRATCH)
documents = course_documents(clean=False)  # quick mode: the first 8 works; cleaned below
dataset, stats = build_lm_dataset(
    documents, tokenizer, config.block_size, split_method="document", **COURSE_SPLIT
)
chars_per_token = stats.characters["validation"] / stats.tokens["validation"]
print(stats)
assert {"train", "validation"} <= set(dataset)
assert len(dataset["train"][0]["input_ids"]) == config.block_size

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
#   compare across models and tokenizers (here $c \approx 3.1$: see notebook 02).
#
# `evaluate_model` scores the validation split this way (quick mode: its first blocks).

# %%
from helpers.training import evaluate_model

before = evaluate_model(
    model,
    dataset["validation"],
    batch_size=config.batch_size,
    chars_per_token=chars_per_token,
    max_batches=config.eval_batches,
)
print(f"validation tokens scored : {before.tokens:,}")
print(f"loss                     : {before.loss:.3f} nats/token (ln V = {math.log(50257):.2f})")
print(f"perplexity               : {before.perplexity:,.1f}")
print(f"bits per token / char    : {before.bits_per_token:.2f} / {before.bits_per_char:.2f}")
assert before.perplexity == math.exp(before.loss)
if FROM_SCRATCH:  # random weights: about as uncertain as a uniform guess
    assert abs(before.loss - math.log(50257)) < 1.0

# %% [markdown]
# And what the model writes before training, sampled (notebook 04 explains the
# settings). Offline, expect noise; with pretrained `gpt2`, fluent modern English.

# %%
from helpers.decoding import generate_text

PROMPTS = ["ROMEO:\n", "To be, or not"]
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
# those are for.
#
# **One learning rate per kind of weight.** "A step of about $\eta$" has a consequence
# for the token embedding. Row $i$ of it gets a gradient only from batches that contain
# token $i$; a token seen ten times in the whole run gets ten steps. Every other weight
# is trained by every position of every batch. So when training from scratch, the
# embeddings get a far larger rate (here 1.0, against $3 \cdot 10^{-3}$ for the
# transformer's weights): each occurrence of a rare token must count. The output layer is
# separate from the embedding in the offline model (GPT-2 shares them) so that it can
# keep a small rate ($6 \cdot 10^{-3}$): it is trained by every position, and it starts
# at zero, so that the untrained model predicts every token with the same probability
# instead of random favourites. These choices were measured, not guessed:
# `benchmarks/time_to_quality.py` trains the offline model for 60 s on a 2-core CPU, and
# they took it from 2.68 to 2.30 bits per character on Tiny Shakespeare (the other
# settings of that run, `FROM_SCRATCH_RECIPE`, are printed below). When fine-tuning
# pretrained weights, all parts share one small rate.

# %%
from helpers.training import FROM_SCRATCH_RECIPE, build_optimizer

if FROM_SCRATCH:
    print("from-scratch recipe:", FROM_SCRATCH_RECIPE)
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
# How big is $\eta_{\max}$? When the weights are pretrained, small (here $10^{-4}$): large
# steps would wash out what they know. When they are random there is nothing to lose,
# and a small model trains well with much larger rates (section 4).
# `resolve_learning_rates` picks them (section 1 used it), and so does the loop for any
# rate left at `None`. Every rate follows the same schedule, scaled to its own peak; the
# plot shows the rate of the transformer's weights.

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
# ## 6 · How much text per step, and in which number format
#
# **Effective batch.** One optimizer step averages the gradient over
# `batch_size × grad_accum × processes` blocks. When a batch does not fit in memory,
# *gradient accumulation* runs several smaller forward/backward passes and adds their
# gradients before the step: the same update for less memory, at the cost of time. A
# larger effective batch gives a less noisy gradient; past a point it only spends more
# compute per step.
#
# **Mixed precision.** Weights and the optimizer stay in fp32, but the matrix products
# run in a 16-bit format. *bfloat16* keeps fp32's exponent range (8 bits) with a shorter
# mantissa, so nothing overflows and no tricks are needed; it is native on recent GPUs
# and on CPUs with Intel AMX (this course's test machine trains about 1.5 times faster in
# bf16 than in fp32). *float16* has more mantissa but a narrow range: small gradients underflow to
# zero unless the loss is multiplied by a large factor before the backward pass and the
# gradients divided by it after (**loss scaling**, done for us). The loop picks bf16
# where the hardware has it, fp16 on older GPUs (Colab's T4), fp32 otherwise.

# %%
from helpers.training import choose_precision

tokens_per_step = config.batch_size * config.grad_accum * config.block_size
print(
    f"effective batch: {config.batch_size} x {config.grad_accum} accumulation x 1 process "
    f"= {config.batch_size * config.grad_accum} blocks = {tokens_per_step:,} tokens per step"
)
print(f"mixed precision on this {device.type}: {choose_precision(device)}")
print(
    f"{config.max_steps} steps x {tokens_per_step:,} tokens = "
    f"{config.max_steps * tokens_per_step / stats.tokens['train']:.2f} passes over the "
    f"{stats.tokens['train']:,} training tokens"
)

# %% [markdown]
# ## 7 · The training loop
#
# Here is the heart of `helpers.training` (the file `src/helpers/training/loop.py`),
# printed from its source. 🤗 Accelerate's `Accelerator` has already placed the model and
# data on the device, wrapped the forward pass in the chosen precision and, with several
# processes (`accelerate launch` or `torchrun`), in DistributedDataParallel. Read it top
# to bottom:
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
#   a checkpoint when they are due.

# %%
import inspect

from helpers.training import TrainingRun

print(inspect.getsource(TrainingRun.loop))

# %% [markdown]
# Two details are not in those lines. The objective computes GPT-2's output layer and
# the loss a few dozen positions at a time (`chunked_lm_loss`, derived in
# `helpers/training/loss.py`): the logits of a batch —
# tokens × 50,257 — are by far its largest tensor, and walking through them in pieces
# saves most of the passes over it. With that and a fused AdamW, this loop trains about
# 1.5 times as many tokens per second as the 🤗 `Trainer` on the course's test CPU
# (`benchmarks/train_throughput.py`). And **checkpoints** are
# written to a temporary folder and then renamed, so a crash never leaves a half-written
# one; they hold the model, the optimizer's $m$ and $v$, the schedule, the random number
# generators and the position in the data.

# %% [markdown]
# ## 8 · The run, and what happens when it is interrupted
#
# First a small demonstration, in a scratch folder with a copy of the model: a short run
# is stopped a third of the way, as if you had pressed *Stop* (Ctrl-C). The loop saves a
# checkpoint before it returns. Then **the same call again** finds the checkpoint and
# carries on from that step, with the same data order and random state, as if never
# interrupted.

# %%
import copy
import shutil
import tempfile
from pathlib import Path

from helpers.plots import LiveLossPlot
from helpers.training import train, unfinished_checkpoint

scratch = Path(tempfile.mkdtemp(prefix="gpt2lab-resume-demo-"))
demo = replace(
    config,
    output_dir=str(scratch / "model"),
    checkpoint_directory=str(scratch / "checkpoints"),
    resume_dir=str(scratch / "resume"),  # never the Drive: this is only a demonstration
    max_steps=quick_or_full(6, 30),
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
first = train(replace(demo, resume=False), dataset, model=demo_model, on_log=press_stop_at_step, **common)
print()
again = train(demo, dataset, model=demo_model, **common)
assert first.interrupted and first.completed_steps == STOP_AT
assert again.resumed_from.name == f"checkpoint-{STOP_AT:06d}"
assert again.completed_steps == demo.max_steps
shutil.rmtree(scratch)
del demo_model

# %% [markdown]
# Now the real run. Its checkpoints go to `config.checkpoint_dir`; on Colab that is the
# VM's own disk (fast, and a GPT-2 checkpoint with its optimizer state is about three
# times the weights: 1.5 GB), while **one** rolling copy, the *resume point*, goes to your
# Drive, at most every `resume_copy_minutes`. When the run ends, the final model is saved
# (on Colab: to Drive) and the resume point is deleted. If Colab disconnects mid-run,
# run the notebook again: the cell below finds the unfinished run and resumes it.
# Otherwise it starts afresh. The summary it prints says how much went where. The plot
# updates while it trains.

# %%
unfinished = unfinished_checkpoint(config)
print(f"resuming the unfinished run at {unfinished}" if unfinished else "starting a fresh run")
live = LiveLossPlot(title="loss, live")
result = train(
    replace(config, resume=unfinished is not None), dataset, model=model, on_log=live, **common
)
live.redraw()
assert result.completed_steps == config.max_steps
assert (result.resumed_from is not None) == (unfinished is not None)
assert [r["step"] for r in result.history.train] == sorted(
    {r["step"] for r in result.history.train}
)

# %% [markdown]
# The summary above says which number format was used and where the best model went.
# Everything the run did is in `result.history` (and in `history.json` next to the
# model): a training record every `log_every` steps and an evaluation every `eval_every`.
#
# Each evaluation record says **which validation blocks it scored**. Scoring the whole
# split every `eval_every` steps would cost more than the training, so the evaluations
# during the run score its first `eval_batches` batches — the same blocks every time, so
# their losses compare. The last one scores the whole split as well: the figure to
# report. A loss on other text is another number (some passages are easier than
# others), so the best model is chosen among the losses of the same blocks only; the
# plot draws the two sets as two curves.

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
# ## 9 · Over-fitting and early stopping
#
# The training loss measures how well the model fits the blocks it learns from; the
# validation loss, how well it predicts works it has never seen. While both fall the
# model is learning things that generalise. When the training loss keeps falling but
# the validation loss turns up, the model has started to **memorise** its training text:
# it over-fits. Small datasets and many passes make this come quickly, and a pretrained
# model fine-tuned too long on a small corpus loses some of what it knew.
#
# The cure is to keep the model from the step with the lowest *validation* loss, measured
# on the same blocks each time. Our loop always does: it saves the best model, not the
# last one. With
# `early_stopping_patience=N` it also stops once N evaluations in a row bring no
# improvement, saving the compute. In this short run we are nowhere near over-fitting:

# %%
best = result.history.best_eval  # among the evaluations of the same blocks
gap = result.history.eval[-1]["val_loss"] - last["loss"]
print(f"best validation loss {best['val_loss']:.3f} at step {best['step']} "
      f"(on the {best['scored_on']})")  # fmt: skip
print(f"validation loss ({result.history.eval[-1]['scored_on']}) - last training loss: "
      f"{gap:+.3f} nats")  # fmt: skip
assert best["val_loss"] == result.best_val_loss

# %% [markdown]
# ## 10 · Before and after — from the saved model
#
# The best model was saved with `save_pretrained` (weights as *safetensors*) together
# with its tokenizer, `generation_config.json`, the training arguments, the history and
# a model card (`README.md`). We load it back like any Hugging Face model and score it on
# the same validation blocks as before training (those the best model was chosen on).

# %%
print(sorted(p.name for p in result.output_dir.iterdir()))
trained, trained_tokenizer = load_model_and_tokenizer(result.output_dir, device=device)
after = evaluate_model(
    trained,
    dataset["validation"],
    batch_size=config.batch_size,
    chars_per_token=chars_per_token,
    max_batches=config.eval_batches,
)
print(f"scored on the {after.scored_on} ({after.tokens:,} tokens), as the best model was chosen")
print(f"{'':<16}{'before':>12}{'after':>12}")
for name in ["loss", "perplexity", "bits_per_token", "bits_per_char"]:
    print(f"{name:<16}{getattr(before, name):>12,.3f}{getattr(after, name):>12,.3f}")
assert before.scored_on == after.scored_on == best["scored_on"]
assert after.loss < before.loss, "training did not lower the validation loss"

from helpers.report import record

record("training", {
    "base": f"{source.requested} ({source.kind})", "steps": result.completed_steps,
    "precision": str(result.precision), "train_seconds": round(result.train_seconds, 1),
    "validation_before": before.as_dict(), "validation_after": after.as_dict(),
    "saved_to": str(result.output_dir), "history": result.history.to_dict(),
})

# %%
for prompt, text in zip(
    PROMPTS, generate_text(trained, trained_tokenizer, PROMPTS, **SAMPLE), strict=True
):
    print(f"--- {prompt!r}\n{prompt}{text}\n")

# %% [markdown]
# Offline, a few minutes of training from scratch give line breaks, capitalised speaker
# names and common short words in roughly the right places — not sense. With `gpt2` on
# Colab the same cells give fluent English that has picked up Shakespeare's vocabulary
# and layout. The saved folder works with plain `transformers` too:

# %%
from transformers import pipeline

generator = pipeline("text-generation", model=str(result.output_dir), device=device)
set_seed(0)
print(generator("ROMEO:\n", max_new_tokens=16, do_sample=True, top_k=50)[0]["generated_text"])

# %% [markdown]
# ## 11 · Fine-tuning versus training from scratch
#
# **Training from scratch** starts from random weights: everything — spelling, which
# tokens follow which, the shape of a play — must come from our data. A few million
# tokens teach a small model surface patterns; fluent language needs billions of tokens
# and far larger models.
#
# **Fine-tuning** starts from weights pretrained on about 40 GB of web text (WebText, for
# GPT-2). They already encode grammar, facts and style; fine-tuning only nudges them
# towards the new data's vocabulary, layout and tone, which is why a small learning rate
# and a few hundred steps are enough — and why too many steps on a small corpus erode
# the general knowledge (and over-fit). The model card says which of the two happened:

# %%
card = (result.output_dir / "README.md").read_text(encoding="utf-8")
print(card.split("## Training data")[0].split("---\n")[-1].strip())
assert ("from scratch" in card) == FROM_SCRATCH

# %% [markdown]
# The same run from a terminal (re-running it resumes; `--help` lists every setting):
#
# ```bash
# python -m helpers train --data data/shakespeare --max-steps 240 --batch-size 16
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
# * AdamW adapts each weight's step and decays only the matrices; from scratch, the
#   token embedding, whose rows are trained only when their token occurs, gets a learning
#   rate far above the rest (measured: 2.68 → 2.30 bits/char in 60 s); warmup then cosine
#   decay keeps early steps safe and late steps fine; effective batch = batch ×
#   accumulation × processes; bf16 where the hardware has it.
# * The loop checkpoints atomically and resumes exactly; it keeps the model with the best
#   validation loss and can stop early when that stops improving.
# * Offline this notebook trained the offline model **from scratch**; with `gpt2` it
#   fine-tunes. Notebooks 04 and later use the model saved here.
#
# ## Exercises
#
# 1. Multiply the learning rate by 10 (`replace(config, learning_rate=...)`) and run again
#    into another `output_dir`. Explain the curve. Then divide it by 10.
# 2. Halve `batch_size` and set `grad_accum=2`. Is the first step's loss the same? Is the
#    run faster or slower, and why?
# 3. Set `max_steps` to 5 × its value, `eval_every` small and `early_stopping_patience=2`
#    on 8 works. When does the validation loss turn up, and where does the run stop?
# 4. Train once with `precision="fp32"` and compare tokens/s with the bf16 run (on a CPU
#    with AMX, or on a GPU).
# 5. Interrupt a run yourself (the ■ button) and re-run the cell: what does the summary
#    say, and which checkpoint did it resume from?
# 6. Why must the validation split hold *whole works* rather than random blocks of the
#    same plays? What would the validation loss then measure?
# 7. Offline: train with `embedding_learning_rate=config.learning_rate` (one rate for
#    everything). How much higher is the validation loss after the same steps? Which
#    tokens lose most (compare the loss on frequent and on rare tokens)?
