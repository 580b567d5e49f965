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
# # 04 · Decoding strategies
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/gpt2-lab/gpt2-lab/blob/v0.2.0/notebooks/04_decoding.ipynb)
#
# **Learning goals.** After this notebook you can
# 1. explain why turning next-token probabilities into text is a *search problem*, and
#    why the obvious searches (greedy, beam) produce dull, repetitive text;
# 2. write greedy search, beam search and sampling yourself, with a KV cache and a
#    batch of padded prompts, and prove them equal to `model.generate` token for token;
# 3. state what temperature, top-k, top-p (nucleus), the repetition penalty and n-gram
#    blocking do to the distribution, as formulas and on a plot;
# 4. choose settings for your model with the interactive playground.
#
# Every decoder used here lives in `helpers.decoding`, and is short on purpose: each
# section prints the source it runs, then checks it against the library.

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
# ## 0 · Which model?
#
# Decoding is most interesting with a model that has learned something. Notebook 03
# saves its trained model in `models/finetuned` (on Colab: in your Drive, see the cell
# above); we use it when it is there. When it is not, the next cell says so and trains
# one briefly itself. What that model is depends on where you run: on Colab, GPT-2
# **fine-tuned** on the corpus; offline, a **small GPT-2 trained from scratch** (2 layers,
# 13 M parameters, no pretraining, see notebook 01), which knows far less English. The
# cell reads the model's training record and says which one this run uses; every
# sentence below that describes a result is computed from this run. Set
# `TRAIN_IF_MISSING = False` to go on with the base model instead (pretrained `gpt2` when
# the Hub is reachable, else the offline model with random weights, whose text is noise).
# Every mechanism below works the same either way, and the equality checks still run.

# %%
import json
from pathlib import Path

import torch
from IPython.display import Markdown, display

from helpers.environment import get_device, quick_or_full, set_seed
from helpers.colab import ensure_trained_model
from helpers.modeling import load_course_model

set_seed(0)
device = get_device()
# the model notebook 03 fine-tuned, when it is there; otherwise the default, and it says so
# notebook 03's fine-tuned model (on Colab: from your Drive); if there is none, this
# says so and fine-tunes one briefly. False: go on with the base model, said out loud.
TRAIN_IF_MISSING = True
ensure_trained_model(train_if_missing=TRAIN_IF_MISSING)
model, tokenizer, source = load_course_model(device=device)
print(f"model: {source.requested} -> {source.kind} ({source.location}) on {model.device}")


def describe_model(source) -> tuple[str, bool]:
    """What this run decodes with, in words, from the model's saved training record; and
    whether it was trained at all (fine-tuned or from scratch)."""
    record_file = Path(source.location) / "training_args.json"
    resolved = {}
    if source.kind == "local" and record_file.is_file():
        resolved = json.loads(record_file.read_text(encoding="utf-8")).get("resolved", {})
    steps = resolved.get("total_steps", "?")
    if resolved.get("trained_from_scratch"):
        return f"a small GPT-2 trained from scratch on the corpus ({steps} steps)", True
    if resolved:
        base = resolved.get("base_model", "a pretrained model")
        return f"{base} fine-tuned on the corpus ({steps} steps)", True
    if source.is_offline_model:
        return "the offline model with random weights (untrained: its text is noise)", False
    return f"{source.requested}, pretrained and not fine-tuned", True


MODEL_IS, MODEL_TRAINED = describe_model(source)
display(Markdown(f"**This run decodes with {MODEL_IS}.**"))

NEW_TOKENS = quick_or_full(12, 40)  # new tokens per continuation (quick mode: fewer)
EOS = tokenizer.eos_token_id
PROMPTS = ["To be, or not to be, that is the", "Once upon a time"]
FIGURES, ALT = {}, {}  # this notebook's figures and what each shows, for the run report

# a human passage the model never trained on (a validation work), for sections 2, 4, 7
from helpers.data import COURSE_SPLIT, course_documents, sample_passages, split_by_document

held_out = split_by_document(course_documents(), **COURSE_SPLIT)["validation"]
HUMAN = sample_passages(held_out["text"], 1, lines=12, seed=0)[0]
print(HUMAN)

# %% [markdown]
# ## 1 · Decoding is a search
#
# A language model gives the probability of a continuation $y = y_1 \dots y_T$ of a
# prompt $x$ one token at a time (notebook 01):
#
# $$p(y \mid x) = \prod_{t=1}^{T} p(y_t \mid x, y_{<t}), \qquad
#   \log p(y \mid x) = \sum_{t=1}^{T} \log p(y_t \mid x, y_{<t}).$$
#
# *Decoding* is choosing $y$. If we wanted the single most likely continuation, we would
# have to compare all $V^T$ of them: $50{,}257^{20} \approx 10^{94}$ for twenty tokens,
# more than there are atoms in the universe. So every practical decoder looks at a tiny
# part of this tree. Here is a toy tree of three-word sentences, small enough to search
# completely:

# %%
TREE = {  # next-word probabilities after each prefix
    ("The",): {"cat": 0.5, "storm": 0.4, "end": 0.1},
    ("The", "cat"): {"sat": 0.4, "ran": 0.3, "slept": 0.3},
    ("The", "storm"): {"broke": 0.9, "passed": 0.06, "grew": 0.04},
    ("The", "end"): {"came": 0.7, "is": 0.3},
}


def sentence_probability(words: tuple[str, ...]) -> float:
    """p(y | x) by the chain rule: the product of the step probabilities."""
    prob = 1.0
    for t in range(1, len(words)):
        prob *= TREE[words[:t]][words[t]]
    return prob


def toy_greedy(prefix=("The",), steps=2):
    for _ in range(steps):
        options = TREE[prefix]
        prefix = prefix + (max(options, key=options.get),)
    return prefix


def toy_beam(beams=2, prefix=("The",), steps=2):
    running = [prefix]
    for _ in range(steps):
        candidates = [seq + (word,) for seq in running for word in TREE[seq]]
        running = sorted(candidates, key=sentence_probability, reverse=True)[:beams]
    return running[0]


every_sentence = [("The", a, b) for a in TREE[("The",)] for b in TREE[("The", a)]]
best = max(every_sentence, key=sentence_probability)
for name, words in [("greedy", toy_greedy()), ("beam (2)", toy_beam()), ("best", best)]:
    print(f"{name:<9} {' '.join(words):<16} p = {sentence_probability(words):.2f}")

assert toy_greedy() == ("The", "cat", "sat") and sentence_probability(toy_greedy()) == 0.2
assert toy_beam() == best == ("The", "storm", "broke")

# %% [markdown]
# Greedy takes "cat" because it is the best *first* word, and is then stuck with a
# branch whose best continuation has probability 0.4: $0.5 \times 0.4 = 0.20$. The
# high-probability word "broke" hides behind the second-best first word:
# $0.4 \times 0.9 = 0.36$. Beam search with two beams keeps both first words alive and
# finds it. Neither is guaranteed to find the best sentence in a real model, and —
# section 4 — the best sentence is not even what we want.

# %% [markdown]
# ## 2 · Greedy search, with a KV cache, on a padded batch
#
# Greedy search appends the most likely token at every step:
# $y_t = \arg\max_i z_i$ where $z = f_\theta(x, y_{<t})$ are the logits. All our
# token-by-token decoders share one loop, `token_steps`, and differ only in *how the
# next token is chosen* (`choose`); the loop also handles end-of-text: a row that
# produced `<|endoftext|>` is finished, gets padding from then on, and the loop stops
# when every row is finished. It yields the ids after every token, so an app can show
# the text as it grows; `token_by_token` just runs it to the end. Greedy's `choose` is
# `most_likely`, after the two penalties of section 8 when they are on (`greedy_chooser`):
# `generate` applies them in greedy search too, so ours must.

# %%
import inspect

from IPython.display import Markdown, display

from helpers.decoding import greedy, greedy_chooser, most_likely, token_steps


def show(function) -> None:
    """Display the source code of a function or class from the helpers."""
    display(Markdown(f"```python\n{inspect.getsource(function)}```"))


show(token_steps)
show(most_likely)
show(greedy_chooser)
show(greedy)

# %% [markdown]
# To decode several prompts at once they must have the same length, so the shorter ones
# are padded. A decoder-only model continues the *last* column, so padding goes on the
# **left**, and an attention mask (1 = real token, 0 = padding) keeps the padding out of
# attention. `encode_prompts` does that (and starts an empty prompt from
# `<|endoftext|>`). Then the check that matters: `model.generate` with the same settings
# must give exactly the same token ids.

# %%
from helpers.decoding import context_length, encode_prompts, plain_generation_config

input_ids, attention_mask = encode_prompts(
    tokenizer, PROMPTS, context_length(model) - NEW_TOKENS, device=model.device
)
print("input ids:\n", input_ids.tolist(), "\nattention mask:\n", attention_mask.tolist())


def same_as_generate(ours: torch.Tensor, seed: int | None = None, **settings) -> bool:
    """Run model.generate on the same batch with the same settings (and the same random
    seed) and compare the token ids, all of them. Only these settings: a fresh
    GenerationConfig, not the model's saved one (notebook 06 saves the settings it
    chooses there, e.g. a repetition penalty, and generate would apply them)."""
    if seed is not None:
        torch.manual_seed(seed)
    fixed = dict(max_new_tokens=NEW_TOKENS, eos_token_id=EOS, pad_token_id=EOS)
    config = plain_generation_config(**{**fixed, **settings})
    theirs = model.generate(input_ids, attention_mask=attention_mask, generation_config=config)
    return ours.shape == theirs.shape and torch.equal(ours, theirs)


def continuations(ids: torch.Tensor) -> list[str]:
    return tokenizer.batch_decode(ids[:, input_ids.shape[1] :], skip_special_tokens=True)


greedy_ids = greedy(model, input_ids, NEW_TOKENS, attention_mask=attention_mask, eos_token_id=EOS)
for prompt, text in zip(PROMPTS, continuations(greedy_ids), strict=True):
    print(f"{prompt}|{text}")
assert same_as_generate(greedy_ids, do_sample=False, num_beams=1)

# %% [markdown]
# ### The KV cache
#
# In a transformer layer, position $t$ attends to the *keys* $k_s = W_K h_s$ and *values*
# $v_s = W_V h_s$ of all positions $s \le t$. In a causal model those never change once
# computed: a later token cannot alter an earlier position. So instead of running the
# whole sequence again for every new token (step $t$ costs work for all $t$ positions,
# $O(T^2)$ positions processed in total), we keep every layer's keys and values in a
# **KV cache** and feed only the newest token (one position per step, $O(T)$ in total;
# attention still reads all $t$ cached keys). transformers 5 provides the cache as
# `DynamicCache`, passed to the model as `cache=`. Two more details: positions count real
# tokens only, so a padded prompt gets the same position embeddings as it would alone;
# and only the last position's logits are computed (`logits_to_keep=1`), which saves a
# product with the 50,257-row output matrix for every position of the prompt.

# %%
from helpers.decoding import CachedForward

show(CachedForward)

# %% [markdown]
# First the cache must not change the result: greedy with and without it, both checked
# against `generate`. Then what it saves. On a dozen tokens there is nothing to save (the
# sequence is short, and the fixed cost of each model call dominates), so the timing
# uses a longer run: a batch of 8 prompts continued until the context is nearly full,
# with end-of-text switched off (`eos_token_id=[]`) so that every run makes exactly the
# same number of tokens. Each way runs twice, alternating, and the faster run counts
# (the other is slowed by whatever else the machine is doing). On a CPU the
# timing runs on one thread, which other work on the machine disturbs least.

# %%
import time

from helpers.environment import cpu_capability

outputs = {}
for use_cache in (True, False):
    outputs[use_cache] = greedy(model, input_ids, NEW_TOKENS, attention_mask, EOS, use_cache=use_cache)
    assert same_as_generate(outputs[use_cache], do_sample=False, use_cache=use_cache)
print("the same tokens with and without the cache:", torch.equal(outputs[True], outputs[False]))

CACHE_TOKENS = quick_or_full(64, 100)  # new tokens per prompt in the timing
cache_ids, cache_mask = encode_prompts(
    tokenizer, PROMPTS * 4, context_length(model) - CACHE_TOKENS, device=model.device
)
threads = torch.get_num_threads()
if device.type == "cpu":
    torch.set_num_threads(1)
timings = {True: float("inf"), False: float("inf")}
for _ in range(2):
    for use_cache in (True, False):
        start = time.perf_counter()
        greedy(model, cache_ids, CACHE_TOKENS, cache_mask, eos_token_id=[], use_cache=use_cache)
        if device.type == "cuda":
            torch.cuda.synchronize()  # a GPU works asynchronously: wait for it to finish
        timings[use_cache] = min(timings[use_cache], time.perf_counter() - start)
timing_threads = torch.get_num_threads()
torch.set_num_threads(threads)
speedup = timings[False] / timings[True]
print(f"{cache_ids.shape[0]} prompts x {CACHE_TOKENS} new tokens: with the cache "
      f"{timings[True]:.3f} s, without {timings[False]:.3f} s (faster of 2 each)")
hardware = f"CPU, {timing_threads} thread, torch's {cpu_capability()} kernels"
if device.type == "cuda":
    hardware = torch.cuda.get_device_name(device)
display(Markdown(
    f"On this machine ({hardware}; the time depends on it and on what else was running) "
    + (f"the cache made this run **{speedup:.1f}× faster**: it computes each position once, "
       f"while without it step $t$ recomputes all $t$ positions. It saves more the longer "
       f"the text, the larger the batch and the larger the transformer (section 12)."
       if speedup > 1 else
       f"the cache did **not** make this run faster ({speedup:.2f}×): here a step costs "
       f"about the same for one position as for all of them, because the fixed cost of "
       f"each model call dominates (section 12).")
))
if device.type == "cpu":  # on a CPU a run this long must gain (a GPU may hide the work)
    assert speedup > 1, "the cache should save time on a run this long; see section 12"

# %% [markdown]
# The cache changes the cost, not the result (the two computations may differ in the
# last digits of rounding, which could only matter between two virtually tied tokens).
#
# **Greedy's failure.** Greedy text tends to loop: once a phrase has been produced, the
# model finds repeating it likely, which makes the next repetition likelier still. Let
# us measure how often greedy repeats itself over a longer continuation — as the share of
# its new tokens that complete a 3-token sequence (a *trigram*) it has written before.

# %%
LONG = quick_or_full(30, 80)


def repeated_trigram_share(ids: list[int]) -> float:
    """Share of the tokens that end a trigram already seen earlier in the sequence."""
    seen, repeats = set(), 0
    for i in range(2, len(ids)):
        trigram = tuple(ids[i - 2 : i + 1])
        repeats += trigram in seen
        seen.add(trigram)
    return repeats / max(1, len(ids) - 2)


long_ids = greedy(model, input_ids[:1], LONG, eos_token_id=EOS)[0, input_ids.shape[1] :]
print(tokenizer.decode(long_ids, skip_special_tokens=True))
greedy_repeats = repeated_trigram_share(long_ids.tolist())
print(f"\nrepeated trigrams: {greedy_repeats:.0%} of the new tokens")
display(Markdown(
    f"Greedy's {len(long_ids)} new tokens here repeat an earlier trigram at "
    f"{greedy_repeats:.0%} of the positions"
    + (": it has fallen into a loop." if greedy_repeats >= 0.25 else
       ": little repetition in this run; longer continuations loop more.")
))

# %% [markdown]
# A larger, pretrained model loops under greedy decoding too, only in better grammar:
# Holtzman et al. (2020) show GPT-2's greedy and beam-search text repeating the same
# sentence. Why? Xu et al. ("Learning to Break the Loop", NeurIPS 2022) measured it:
# repeat a sentence $k$ times and ask the model for the probability of the next
# repetition. It grows with $k$: every repetition makes the next one likelier, a
# **self-reinforcing loop**, and greedy, which always takes the likeliest token, cannot
# get out. `repetition_loop` measures it on our model: a line of the held-out passage,
# repeated, and for each $k$ the mean probability of the tokens of copy $k+1$.

# %%
from helpers.decoding import repetition_loop
from helpers.plots import repetition_loop_curve

show(repetition_loop)
line = next(text for text in HUMAN.split("\n") if len(tokenizer(text)["input_ids"]) >= 8)
line_ids = tokenizer(" " + line.strip() + "\n")["input_ids"]
REPEATS = min(quick_or_full(6, 8), (context_length(model) - 1) // len(line_ids))
loop = repetition_loop(model, line_ids, REPEATS, prefix_ids=[EOS])
print(f"the line: {line.strip()!r} ({len(line_ids)} tokens)")
for k, prob in enumerate(loop):
    print(f"after {k} occurrence(s): mean p of the next copy = {prob:.3f}")
FIGURES["repetition_loop"] = repetition_loop_curve(loop)
ALT["repetition_loop"] = (f"Line chart: mean token probability of the next copy of a line, from "
                          f"{loop[0]:.3f} at its first occurrence to {loop[-1]:.3f} after "
                          f"{REPEATS - 1} occurrences.")
growth = loop[-1] / loop[0]
display(Markdown(
    f"The first time, the model gives this line's tokens a mean probability of "
    f"{loop[0]:.3f}; once it has occurred, {loop[1]:.3f}; after {REPEATS - 1} "
    f"occurrences, {loop[-1]:.3f} ({growth:.1f} times the first). "
    + ("The loop feeds itself here too, as Xu et al. found for larger models: a decoder "
       "that takes the likeliest token is ever more certain to repeat."
       if growth >= 2 and loop[1] > loop[0] else
       "This model does not show the steep rise Xu et al. found for larger models: it "
       "has not learnt to copy from its context yet, so its loops (above) come from "
       "its own favourite tokens rather than from what the text already says.")
))

# %% [markdown]
# Section 8 shows two cures.
#
# ## 3 · Beam search
#
# Beam search keeps the $B$ most likely partial continuations (*beams*) instead of one.
# At each step it extends every beam by every token, scores each candidate by its total
# log-probability $\log p(y_{\le t} \mid x) = \sum_{s \le t} \log p(y_s \mid x, y_{<s})$,
# and keeps the best $B$: *expand, score, prune*. That idea fits in a dozen lines. The
# version below has no end-of-text, no batch and no cache (each step reruns the whole
# sequence): only the idea. One shortcut is safe: a candidate among the $B$ best of all
# must be among the $B$ best extensions of its own beam, so each beam proposes only its
# top $B$ tokens.

# %%
from helpers.decoding import beam_search


def readable_beam_search(prompt_ids: list[int], beams: int, steps: int) -> tuple[list[int], float]:
    """The `beams` best partial sequences by summed log-probability: expand, score, prune.
    Returns the new tokens of the best sequence and its score."""
    running = [(0.0, list(prompt_ids))]  # (summed log-probability, tokens)
    for _ in range(steps):
        candidates = []
        for score, tokens in running:  # expand every beam...
            with torch.no_grad():
                logits = model(torch.tensor([tokens], device=model.device)).logits[0, -1]
            log_probs = torch.log_softmax(logits.float(), dim=-1)
            best = torch.topk(log_probs, beams)  # ...by its best tokens, scored
            for log_prob, token in zip(best.values.tolist(), best.indices.tolist(), strict=True):
                candidates.append((score + log_prob, tokens + [token]))
        candidates.sort(key=lambda candidate: candidate[0], reverse=True)
        running = candidates[:beams]  # prune: keep the best `beams`
    score, tokens = running[0]
    return tokens[len(prompt_ids) :], score


BEAMS, BEAM_STEPS = 3, quick_or_full(6, 10)
prompt_ids = tokenizer(PROMPTS[0])["input_ids"]
ours_readable, readable_score = readable_beam_search(prompt_ids, BEAMS, BEAM_STEPS)
# the helper's beam search (below), with end-of-text switched off, finds the same sequence
helper_ids = beam_search(model, torch.tensor([prompt_ids], device=model.device), BEAM_STEPS,
                         BEAMS, eos_token_id=[])[0, len(prompt_ids) :].tolist()  # fmt: skip
print(f"{PROMPTS[0]}|{tokenizer.decode(ours_readable)}   (log p = {readable_score:.2f})")
assert ours_readable == helper_ids, (ours_readable, helper_ids)
print("the same tokens as helpers.decoding.beam_search:", ours_readable == helper_ids)

# %% [markdown]
# Here is the tree such a search explores, for the first steps: at every step each kept
# beam (blue) proposes its best tokens, every branch is labelled with its summed
# log-probability, and only the $B$ best branches of the step survive; the grey ones are
# pruned. `beam_tree` is the same search, recording every branch it scored.

# %%
from helpers.decoding import beam_tree
from helpers.plots import beam_search_tree

TREE_STEPS = 4
nodes, tree_best = beam_tree(model, prompt_ids, num_beams=BEAMS, steps=TREE_STEPS)
labels = [PROMPTS[0][-12:]] + [tokenizer.decode([node.token]) for node in nodes[1:]]
FIGURES["beam_tree"] = beam_search_tree(nodes, labels)
ALT["beam_tree"] = (f"Tree of a {BEAMS}-beam search over {TREE_STEPS} steps: every branch "
                    f"scored, {BEAMS} kept per step, best summed log-probability "
                    f"{max(n.score for n in nodes if n.step == TREE_STEPS):.2f}.")
assert tree_best == readable_beam_search(prompt_ids, BEAMS, TREE_STEPS)[0]
first_best = max((n for n in nodes if n.step == 1), key=lambda n: n.score)
final_best = max((n for n in nodes if n.step == TREE_STEPS and n.kept), key=lambda n: n.score)
on_path = tree_best[0] == first_best.token
display(Markdown(
    f"After {TREE_STEPS} steps the best of the {BEAMS} beams is "
    f"`{tokenizer.decode(tree_best)!r}`, with summed log-probability {final_best.score:.2f}. "
    + (f"It starts with the best first token ({tokenizer.decode([first_best.token])!r}), "
       "so greedy search would have started the same way."
       if on_path else
       f"It does **not** start with the best first token "
       f"({tokenizer.decode([first_best.token])!r}): a branch that looked worse at step 1 "
       "won later, which is what greedy search cannot see.")
))

# %% [markdown]
# The production version adds what the idea leaves out. A candidate that produces
# `<|endoftext|>` (or reaches the length limit) is finished and goes to a pool of $B$
# finished hypotheses, scored with a **length penalty** $\alpha$:
#
# $$\text{score}(y) = \frac{\log p(y \mid x)}{|y|^{\alpha}}.$$
#
# Every log-probability is negative, so without normalisation ($\alpha = 0$) each extra
# token lowers the score and short hypotheses win; $\alpha = 1$ compares the average
# log-probability per token; a larger $\alpha$ favours longer hypotheses, a negative one
# shorter ones. Once the pool is full, the search stops when no running beam can still
# beat the pool's worst hypothesis (`early_stopping=False` judges that at the current
# length, `"never"` at the longest possible, a safe bound), or, with
# `early_stopping=True`, as soon as the pool is full. Our version keeps $2B$ candidates
# per step so that $B$ beams survive even if $B$ of them end, and mirrors `generate`'s
# rules exactly, so the two agree token for token.

# %%
show(beam_search)

# %%
BEAM_SETTINGS = [
    dict(num_beams=4, num_return_sequences=3),
    dict(num_beams=4, length_penalty=0.6, early_stopping=True, no_repeat_ngram_size=2),
]
for settings in BEAM_SETTINGS:
    beam_ids = beam_search(
        model, input_ids, NEW_TOKENS, attention_mask=attention_mask, eos_token_id=EOS, **settings
    )
    print(settings)
    for text in continuations(beam_ids):
        print(f"   |{text}")
    assert same_as_generate(beam_ids, do_sample=False, **settings)

# %% [markdown]
# With `num_return_sequences=3` each prompt gets its three best hypotheses, best first.
# Both runs equal `generate`'s output, token for token, including which hypotheses ended
# early and how they were padded.
#
# ## 4 · Why the most likely text is bland — and sampling
#
# Greedy and beam search *maximise* probability. Holtzman et al. ("The Curious Case of
# Neural Text Degeneration", ICLR 2020) compared the per-token probability of human
# text with that of beam-search text: people's word choices keep surprising the model,
# while maximisation produces text with uniformly high probability, which reads as
# generic and falls into repetition loops. Human text is not the mode of the
# distribution; it is a *typical sample* from it.
#
# Their Figure 2, computed here: the start of the held-out passage is the prompt; then
# `token_probabilities` gives $p(x_t \mid x_{<t})$ for every token of the passage's real
# continuation and of a beam-search continuation (4 beams, end-of-text off) of the same
# prompt, each from one forward pass.

# %%
from helpers.decoding import token_probabilities
from helpers.plots import probability_along_text

show(token_probabilities)
passage_ids = tokenizer(HUMAN, truncation=True, max_length=context_length(model))["input_ids"]
PROMPT_TOKENS, CONTINUATION = 24, quick_or_full(40, 64)
CONTINUATION = min(CONTINUATION, len(passage_ids) - PROMPT_TOKENS)
human_ids = passage_ids[: PROMPT_TOKENS + CONTINUATION]
beam_text_ids = beam_search(model, torch.tensor([human_ids[:PROMPT_TOKENS]], device=model.device),
                       CONTINUATION, 4, eos_token_id=[])[0].tolist()  # fmt: skip
human_probs = token_probabilities(model, human_ids, start=PROMPT_TOKENS)
beam_probs = token_probabilities(model, beam_text_ids, start=PROMPT_TOKENS)
print("prompt:", repr(tokenizer.decode(human_ids[:PROMPT_TOKENS])))
print("human: ", repr(tokenizer.decode(human_ids[PROMPT_TOKENS:])))
print("beam:  ", repr(tokenizer.decode(beam_text_ids[PROMPT_TOKENS:])))
FIGURES["human_vs_beam"] = probability_along_text(
    {"human continuation": human_probs, "beam search, 4 beams": beam_probs}
)
ALT["human_vs_beam"] = (f"Line chart: probability of each token of a human continuation (mean "
                        f"{sum(human_probs) / len(human_probs):.3f}) and of a beam-search "
                        f"continuation (mean {sum(beam_probs) / len(beam_probs):.3f}).")
human_mean, beam_mean = sum(human_probs) / len(human_probs), sum(beam_probs) / len(beam_probs)
spread = {name: float(torch.tensor(probs).std()) for name, probs in
          (("human", human_probs), ("beam", beam_probs))}  # fmt: skip
display(Markdown(
    f"Over these {CONTINUATION} tokens the model gives the human text a mean token "
    f"probability of {human_mean:.3f} (standard deviation {spread['human']:.3f}) and the "
    f"beam-search text {beam_mean:.3f} ({spread['beam']:.3f}). "
    + (("As in Holtzman et al.'s figure, the maximised text sits higher"
        + (" and steadier, while the human text keeps dropping to tokens the model found "
           "unlikely." if spread["beam"] < spread["human"] else
           ", though here it is not the steadier of the two."))
       if beam_mean > human_mean else
       "Unlike in Holtzman et al.'s figure, beam search did not find text the model rates "
       "more likely than the human's here.")
))

# %% [markdown]
# So: **sample**. Draw each token at random from the model's distribution,
# $y_t \sim \mathrm{softmax}(z)$. Every plausible continuation now has its chance, in
# proportion to its probability. The risk moves to the other end: the vocabulary has
# 50,257 tokens, and the thousands of individually unlikely ones together hold real
# probability mass, so pure sampling now and then picks a nonsensical token, and one bad
# token derails the rest of the text. The next three tools reshape the distribution
# before drawing.
#
# ## 5 · Temperature
#
# Divide the logits by a temperature $T > 0$ before the softmax:
#
# $$p_i(T) = \frac{e^{z_i / T}}{\sum_j e^{z_j / T}}.$$
#
# $T = 1$ is the model's distribution; $T \to 0$ puts all mass on the largest logit
# (greedy); $T \to \infty$ tends to the uniform distribution. The order of the tokens
# never changes, only how far apart their probabilities are. Worked example with
# $z = (2, 1, 0)$: at $T=1$, $p = (0.665, 0.245, 0.090)$; at $T=0.5$ the logits become
# $(4, 2, 0)$ and $p = (0.867, 0.117, 0.016)$; at $T=2$, $p = (0.506, 0.307, 0.186)$.

# %%
from helpers.decoding import apply_temperature
from helpers.plots import temperature_curves

show(apply_temperature)
z = torch.tensor([[2.0, 1.0, 0.0]])
for temperature, expected in [(1.0, [0.665, 0.245, 0.090]), (0.5, [0.867, 0.117, 0.016]),
                              (2.0, [0.506, 0.307, 0.186])]:
    probs = torch.softmax(apply_temperature(z, temperature), dim=-1)[0]
    print(f"T = {temperature}: p = {[round(p, 3) for p in probs.tolist()]}")
    assert torch.allclose(probs, torch.tensor(expected), atol=5e-4)

words = ["the", "a", "his", "my", "that", "one", "this", "no"]
toy_logits = torch.tensor([[3.0, 2.4, 1.5, 1.2, 0.8, 0.3, 0.0, -1.0]])
curves = {t: torch.softmax(apply_temperature(toy_logits, t), -1)[0].tolist() for t in
          (0.5, 1.0, 2.0)}
_ = temperature_curves(words, curves)

# %% [markdown]
# ## 6 · Top-k
#
# Keep only the $k$ most likely tokens and renormalise:
#
# $$p'_i \propto \begin{cases} p_i & \text{if } z_i \ge z_{(k)} \\ 0 & \text{otherwise}
#   \end{cases}$$
#
# where $z_{(k)}$ is the $k$-th largest logit (tokens tied with it stay). Fan et al.
# (2018) used $k = 10$ for story generation; $k = 40$–$50$ is common for GPT-2. Its
# weakness: $k$ is fixed. When a model is sure (for GPT-2, after "the United", "States"
# holds nearly all the mass) $k = 50$ still admits 49 poor tokens; when it is unsure
# (the first word of a sentence) 50 may cut off many good ones.

# %%
from transformers.generation.logits_process import TopKLogitsWarper, TopPLogitsWarper

from helpers.decoding import filter_top_k

show(filter_top_k)
print(filter_top_k(torch.tensor([[3.0, 1.0, 2.0, 2.0, 0.0]]), 2))  # the tie at 2.0 stays
logits = CachedForward(model, attention_mask, *input_ids.shape)(input_ids)
for k in (1, 10, 50):
    assert torch.equal(filter_top_k(logits, k), TopKLogitsWarper(k)(input_ids, logits))

# %% [markdown]
# ## 7 · Top-p, the nucleus
#
# Holtzman et al. (2020) proposed keeping the smallest set of most likely tokens whose
# probabilities add up to at least $p$, the **nucleus**. With the probabilities sorted,
# $p_{(1)} \ge p_{(2)} \ge \dots$, keep the first $m$ tokens, where
#
# $$m = \min\Big\{ j : \sum_{i \le j} p_{(i)} \ge p \Big\}.$$
#
# The number of candidates now adapts: a confident distribution keeps one or two tokens,
# a flat one keeps many. Temperature is applied first, then top-k, then top-p — the order
# `generate` uses. Here is the cut on the model's next-token distribution after the
# first prompt, at $T = 0.7$ and $p = 0.9$, and then the twelve likeliest tokens before
# and after adding top-k 5 (the kept mass is measured after temperature):

# %%
from helpers.decoding import DecodingSettings, filter_top_p, next_token_view
from helpers.plots import next_token_bars, nucleus_cut

show(filter_top_p)
TOP_P, TEMPERATURE = 0.9, 0.7
view = next_token_view(
    model, tokenizer, PROMPTS[0], DecodingSettings("top-p", temperature=TEMPERATURE, top_p=TOP_P)
)
kept_count = int(view.kept.sum())
print(f"top-p {TOP_P} at T = {TEMPERATURE} keeps {kept_count:,} of {view.kept.numel():,} "
      f"tokens, holding {view.kept_mass:.1%} of the probability")
_ = nucleus_cut(view.scaled_probs.sort(descending=True).values.tolist(), TOP_P, kept_count)

# the same distribution before and after top-k 5 and the nucleus: the colour marks what stays
both = next_token_view(
    model, tokenizer, PROMPTS[0], DecodingSettings("sample", temperature=0.7, top_k=5, top_p=0.9)
)
top = both.scaled_probs.topk(12).indices
_ = next_token_bars(
    [tokenizer.decode([int(i)]) for i in top],
    both.scaled_probs[top].tolist(),
    both.final_probs[top].tolist(),
    both.kept[top].tolist(),
    both.kept_mass,
    title=f"'{PROMPTS[0]}' -> next token, T = 0.7, top-k 5, top-p 0.9",
)

# the nucleus is as small as it can be: it holds p, one token fewer would not
sorted_kept = view.scaled_probs[view.kept].sort().values
# (float32 sums over 50,257 probabilities: equal up to rounding, hence the 1e-4)
assert view.kept_mass >= TOP_P - 1e-4
assert view.kept_mass - float(sorted_kept[0]) < TOP_P + 1e-4
scaled = apply_temperature(logits, TEMPERATURE)
for p in (1e-6, 0.5, 0.9, 1.0):
    assert torch.equal(filter_top_p(scaled, p), TopPLogitsWarper(p)(input_ids, scaled))

# %%
vocab_size = view.kept.numel()
top5_mass = float(view.scaled_probs.topk(5).values.sum())
display(Markdown(
    f"After this prompt, at $T = {TEMPERATURE}$, the nucleus of $p = {TOP_P}$ holds "
    f"**{kept_count:,} of {vocab_size:,} tokens** ({kept_count / vocab_size:.1%} of the "
    f"vocabulary), and the five likeliest tokens hold {top5_mass:.1%} of the mass. "
    + (f"The model is fairly sure here: top-k 5 alone already keeps more than the "
       f"{TOP_P:.0%} the nucleus needs." if top5_mass >= TOP_P else
       f"The model is unsure here: {kept_count:,} tokens are needed to reach {TOP_P:.0%}, "
       f"so top-k 5 cuts away most of what top-p would keep.")
    + " Either way the rules are the same, and they equal transformers' "
    "`TopKLogitsWarper` and `TopPLogitsWarper` (asserted above)."
))

# %% [markdown]
# How sure the model is changes from token to token, and that is the case for top-p:
# the number of candidates it keeps adapts, while top-k's is fixed. `nucleus_sizes`
# counts, before every token of the held-out passage, how many tokens the nucleus of
# $p = 0.9$ holds (at $T = 1$, what top-p alone would keep there).

# %%
from helpers.decoding import nucleus_sizes
from helpers.plots import nucleus_size_along

sizes = nucleus_sizes(model, passage_ids, top_p=0.9)
FIGURES["nucleus_size"] = nucleus_size_along(sizes, 0.9, vocab_size=vocab_size)
ordered = sorted(sizes)
ALT["nucleus_size"] = (f"Step chart: the top-p 0.9 nucleus along a held-out passage holds "
                       f"between {ordered[0]:,} and {ordered[-1]:,} tokens.")
display(Markdown(
    f"Along these {len(sizes)} positions the nucleus holds between **{ordered[0]:,}** and "
    f"**{ordered[-1]:,}** tokens (median {ordered[len(ordered) // 2]:,}). A fixed $k$ "
    f"cannot fit both ends: any $k$ below {ordered[-1]:,} cuts into the flattest "
    f"distributions here, any $k$ above {ordered[0]:,} lets unlikely tokens into the "
    f"sharpest."
))
assert ordered[0] < ordered[-1], "the nucleus size did not change along the passage"

# %% [markdown]
# The three knobs on one picture: the same next-token distribution at three temperatures
# (sorted, on log-log axes), the top-k cut (dashed) and, for each temperature, where the
# nucleus of $p = 0.9$ ends (dotted, in the temperature's colour). Temperature acts
# first, so it moves the nucleus; top-k's cut never moves.

# %%
from helpers.decoding import temperature_cuts
from helpers.plots import temperature_cut_curves

cuts = temperature_cuts(logits[0], [0.5, 1.0, 2.0], top_k=5, top_p=0.9)
FIGURES["temperature_cuts"] = temperature_cut_curves(cuts, top_k=5, top_p=0.9)
ALT["temperature_cuts"] = "Sorted next-token probabilities at T = 0.5, 1 and 2: " + "; ".join(
    f"T = {c.temperature:g}: top-k 5 keeps {c.top_k_mass:.1%}, top-p 0.9 keeps {c.nucleus:,} "
    "tokens" for c in cuts) + "."
display(Markdown("| $T$ | top-k 5 keeps (mass) | top-p 0.9 keeps (tokens) |\n|---|---|---|\n"
                 + "\n".join(f"| {c.temperature:g} | {c.top_k_mass:.1%} | {c.nucleus:,} |"
                              for c in cuts)))  # fmt: skip
assert cuts[0].nucleus <= cuts[1].nucleus <= cuts[2].nucleus  # lower T, smaller nucleus
assert cuts[0].top_k_mass >= cuts[1].top_k_mass >= cuts[2].top_k_mass

# %% [markdown]
#
# ## 8 · Repetition penalty and n-gram blocking
#
# Two cures for loops. The **repetition penalty** of the CTRL paper (Keskar et al.,
# 2019) lowers the logit of every token that already occurs in the text, once, by a
# factor $\theta$ (1.2 is the paper's suggestion):
#
# $$z_i \leftarrow \begin{cases} z_i / \theta & z_i > 0 \\ z_i \cdot \theta & z_i \le 0
#   \end{cases} \quad \text{for each token } i \text{ already in } (x, y_{<t}).$$
#
# **n-gram blocking** forbids exactly what a loop is: if the last $n-1$ tokens occurred
# before, followed by token $w$, then $w$ is banned ($z_w = -\infty$), so no $n$-gram
# can appear twice. It is blunt — a text about New York may name the city only once with
# $n = 2$ — but it never lets a loop start.

# %%
from helpers.decoding import ban_repeated_ngrams, penalize_repetition

show(penalize_repetition)
show(ban_repeated_ngrams)


def repeated_ngrams(ids: list[int], n: int) -> int:
    """How many n-grams occur again later in the sequence."""
    grams = [tuple(ids[i : i + n]) for i in range(len(ids) - n + 1)]
    return len(grams) - len(set(grams))


blocked = greedy(model, input_ids[:1], LONG, eos_token_id=EOS, no_repeat_ngram_size=2)[0]
blocked = blocked[: int((blocked == EOS).nonzero()[0]) if (blocked == EOS).any() else None]
plain = greedy(model, input_ids[:1], LONG, eos_token_id=EOS)[0]
print(f"repeated bigrams, greedy: {repeated_ngrams(plain.tolist(), 2)}; "
      f"greedy with no_repeat_ngram_size=2: {repeated_ngrams(blocked.tolist(), 2)}")
assert repeated_ngrams(blocked.tolist(), 2) == repeated_ngrams(input_ids[0].tolist(), 2)

# the penalties act in greedy and beam search too, exactly as generate applies them there
PENALTIES = dict(repetition_penalty=1.2, no_repeat_ngram_size=2)
penalized = greedy(model, input_ids, NEW_TOKENS, attention_mask, EOS, **PENALTIES)
assert same_as_generate(penalized, do_sample=False, num_beams=1, **PENALTIES)
penalized = beam_search(
    model, input_ids, NEW_TOKENS, 4, attention_mask=attention_mask, eos_token_id=EOS, **PENALTIES
)
assert same_as_generate(penalized, do_sample=False, num_beams=4, **PENALTIES)

# %% [markdown]
# With blocking, the only repeated bigrams left are those already in the prompt. Both
# penalties are not only for sampling: `generate` applies them in greedy and beam search
# too (beam search to the log-probabilities it ranks), and so do ours, so a
# `generation_config.json` that asks for them decodes the same in the app and in
# `pipeline`.
#
# ## 9 · Sampling, checked against `generate`
#
# Our sampler applies the transforms in `generate`'s order — penalties, temperature,
# top-k, top-p — then draws with `torch.multinomial`. Seeding torch's random generator
# with the same number before both runs makes them draw the same random numbers, so a
# correct implementation gives *the same text*, not merely text of the same kind.

# %%
from helpers.decoding import sample, sampler, transform_logits

show(transform_logits)
show(sampler)
show(sample)

# %%
SAMPLE_SETTINGS = [
    dict(temperature=1.0, top_k=0, top_p=1.0),  # pure sampling
    dict(temperature=0.7, top_k=50, top_p=1.0),
    dict(temperature=0.8, top_k=0, top_p=0.9),
    dict(temperature=1.0, top_k=40, top_p=0.95, repetition_penalty=1.2),
]
for seed, settings in enumerate(SAMPLE_SETTINGS):
    torch.manual_seed(seed)
    sampled = sample(
        model, input_ids, NEW_TOKENS, attention_mask=attention_mask, eos_token_id=EOS, **settings
    )
    print(settings)
    for text in continuations(sampled):
        print(f"   |{text}")
    assert same_as_generate(sampled, seed=seed, do_sample=True, **settings)

# %% [markdown]
# ## 10 · All strategies side by side
#
# The notebooks, the command line (`python -m helpers generate --strategy top-p --top-p
# 0.9 --prompt "..."`) and the later app all go through one front door,
# `generate_text(model, tokenizer, prompts, strategy, **settings)`: strings in, strings
# out, with the checks of every setting (try `temperature=0`). Here is every strategy on
# the same batch, each checked against `generate` once more; after the table, the most
# involved row goes through the front door too, to show that it runs the same decoder:

# %%
from helpers.decoding import generate_kwargs, generate_text, make_settings, run_decoder

STRATEGY_TABLE = [
    ("greedy", {}),
    ("greedy", dict(repetition_penalty=1.2)),
    ("beam", dict(num_beams=4)),
    ("beam", dict(num_beams=4, no_repeat_ngram_size=2)),
    ("beam", dict(num_beams=4, repetition_penalty=1.2)),
    ("sample", dict(seed=0)),
    ("sample", dict(temperature=0.7, seed=0)),
    ("top-k", dict(top_k=50, seed=0)),
    ("top-p", dict(top_p=0.9, seed=0)),
    ("top-p", dict(top_p=0.9, repetition_penalty=1.2, seed=0)),
]
rows = ["| strategy | settings | continuation | = `generate` |", "|---|---|---|---|"]
for strategy, options in STRATEGY_TABLE:
    settings = make_settings(strategy=strategy, max_new_tokens=NEW_TOKENS, **options)
    ours = run_decoder(model, input_ids, attention_mask, settings, eos_token_id=EOS)
    equal = same_as_generate(ours, seed=settings.seed, **generate_kwargs(settings))
    assert equal, f"{strategy} {options}: our decoder and generate disagree"
    text = continuations(ours)[0]
    shown = ", ".join(f"{k}={v}" for k, v in options.items()) or "–"
    cell = text.replace("|", "\\|").replace("\n", " ")
    rows.append(f"| {strategy} | {shown} | {PROMPTS[0]} **{cell}** | {'yes' if equal else 'NO'} |")
display(Markdown("\n".join(rows)))
front_door = generate_text(model, tokenizer, PROMPTS, settings=settings)
assert front_door == continuations(ours), "generate_text must run the decoder above"
print(f"generate_text with {settings.strategy}, {shown}: the same text as the table's last row")

# %% [markdown]
# (The seed makes a sampled row reproducible; change it and the sampled rows change,
# the greedy and beam rows never do.)
#
# ## 11 · The playground
#
# Type a prompt, pick a strategy, move the sliders. The chart shows the next-token
# distribution after the prompt, before and after the current temperature, top-k and
# top-p, with the tokens that stay possible in colour and the mass they hold in the
# title. **Generate** writes a continuation; **Step** appends one token to the prompt and
# redraws, so you can watch the distribution change token by token. Things to try:
# temperature 0.3 vs 1.5 at top-p 1.0; top-k 5 vs top-p 0.5 on a confident and on an
# unsure prompt; beam search with 1, 2 and 8 beams.

# %%
from helpers.widgets import DecodingPlayground

playground = DecodingPlayground(model, tokenizer, PROMPTS[0])
display(playground)

# %% [markdown]
# ## 12 · How fast, and what the cache buys
#
# `benchmarks/generation.py` times our decoders against `generate` with the same
# settings, alternating in one process, on the offline model's shape (2 layers × 128,
# the full 50,257-token vocabulary) and on GPT-2 small's (12 × 768), and prints new
# tokens per second with and without the KV cache. It asserts nothing about speed, since
# the figures depend on the machine: run it on yours
# (`python benchmarks/generation.py`; `--threads 1` on a busy machine). Both ours and
# `generate` spend their time in the same model calls, so they run at about the same
# speed, and the equality checks above hold in every case.
#
# What the cache buys depends on how much work it saves. It saves the transformer's work
# on the earlier positions. It cannot save the output layer — a 50,257-row matrix read
# once per new token — nor the fixed cost of calling the model. In a 13 M model those are
# most of a step, so on a short text at batch 1 the cache saves little (the measurement
# in section 2 uses a longer run for that reason); in GPT-2 small the transformer
# dominates, and the longer the text and the larger the batch, the more the cache saves.
#
# ## Saving the figures for the run report
#
# The figures of this notebook, and the numbers its sentences were built from, go into
# the run's folder (`runs/latest/figures/` after `make run`), where the run report
# collects them.

# %%
from helpers.plots import save_figures
from helpers.report import record, run_dir

saved = save_figures(FIGURES, run_dir() / "figures", prefix="04_")
record("decoding", {
    "model": MODEL_IS,
    "figures": [{"file": path.name, "alt": ALT[name]}
                for name, path in zip(FIGURES, saved, strict=True)],
    "kv_cache": {"new_tokens": CACHE_TOKENS, "batch": int(cache_ids.shape[0]),
                 "seconds_with": round(timings[True], 4),
                 "seconds_without": round(timings[False], 4),
                 "speedup": round(speedup, 2), "hardware": hardware},
    "greedy_repeated_trigram_share": round(greedy_repeats, 4),
    "repetition_loop": [round(p, 4) for p in loop],
    "mean_token_probability": {"human": round(human_mean, 4), "beam": round(beam_mean, 4)},
    "nucleus_size_0.9": {"min": ordered[0], "median": ordered[len(ordered) // 2],
                         "max": ordered[-1]},
    "top_p_0.9_at_T_0.7": {"tokens": kept_count, "top5_mass": round(top5_mass, 4)},
})
print("saved:", ", ".join(path.name for path in saved))

# %% [markdown]
# ## Summary
#
# * Decoding searches a tree of $V^T$ continuations; greedy follows one branch, beam
#   search $B$, and both maximise $\log p(y \mid x)$, which gives safe, bland, loopy text.
# * Sampling draws $y_t \sim \mathrm{softmax}(z / T)$; temperature sharpens or flattens,
#   top-k keeps a fixed number of tokens, top-p the smallest set holding mass $p$.
# * The repetition penalty divides (or multiplies) the logits of tokens already used;
#   n-gram blocking forbids repeating any $n$ tokens.
# * A decoder is a loop around one model call per token; the KV cache makes each call
#   cost one position instead of all; left padding and an attention mask decode a batch.
# * Our decoders are a few dozen lines each and give exactly `generate`'s tokens.
#
# ## Exercises
#
# 1. In the toy tree, change one probability so that greedy search finds the best
#    sentence. Then change it so that beam search with 2 beams does *not*.
# 2. Compute by hand the distribution of $z = (2, 1, 0)$ at $T = 0.25$. Which $T$ makes
#    the first token's probability 0.99?
# 3. Take a distribution where one token has probability 0.95. Which tokens do top-k 50
#    and top-p 0.9 keep? Now one where 1,000 tokens each have 0.001.
# 4. Run beam search with `length_penalty` $-1$, $0$, $1$ and $2$ and compare the
#    lengths of the best hypotheses. Explain the order you see.
# 5. Remove `logits_to_keep=1` from `CachedForward` and time greedy again. Why does it
#    matter so much for a 50,257-token vocabulary?
# 6. Why does `generate` apply top-k *before* top-p? Find two settings where swapping the
#    order would change the kept set.
