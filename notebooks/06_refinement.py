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
# # 06 · Refinement: choosing settings from measurements
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/gpt2-lab/gpt2-lab/blob/main/notebooks/06_refinement.ipynb)
#
# **Learning goals.** After this notebook you can
# 1. run a small, honest hyperparameter sweep and read it: learning rate × training
#    steps, judged on validation perplexity;
# 2. sweep decoding settings (temperature × top-p) on the metrics of notebook 05, and see
#    the quality–diversity frontier as heat maps;
# 3. choose settings by a rule stated *before* looking, not by taste;
# 4. save the chosen settings in the model's `generation_config.json`, so that
#    `pipeline("text-generation")` and the app use them.
#
# A sweep is an experiment: fix everything but what you vary, measure on data that was
# not trained on, and report the whole grid, not only the winner. Sweeps cost time, so
# their results are cached: running this notebook again is quick.

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

# %%
from helpers.data import COURSE_SPLIT, build_lm_dataset, course_documents
from helpers.environment import get_device, is_quick_mode, quick_or_full, set_seed
from helpers.modeling import load_tokenizer, locate_model

set_seed(0)
device = get_device()
tokenizer = load_tokenizer()
base = locate_model()
print(f"base model: {base.requested} -> {base.kind} ({base.location})")

documents = course_documents()  # cleaned; quick mode keeps the first 8 works

# %% [markdown]
# ## 1 · Training: learning rate × steps
#
# The learning rate is the most important training setting: too small and the loss
# creeps down, too large and it jumps around or diverges. How long to train interacts
# with it: with the learning-rate schedule decaying towards the end, a longer run is a
# different run, not the same run continued. We train one model per learning rate and
# evaluate on the validation works every few steps, which gives the whole
# learning rate × steps grid from a handful of runs.
#
# Each run starts from the same base weights (offline: the same random initialisation,
# since `seed` is fixed), sees the same data in the same order, and differs only in the
# learning rate. Offline the sweep varies the rate of the transformer and output layer;
# the embeddings keep their own, much larger rate (notebook 03, section 4).

# %%
import tempfile
from dataclasses import asdict

from helpers.sweeps import cached
from helpers.training import TrainingConfig, default_learning_rate, train

from_scratch = base.kind == "offline"
sweep_config = TrainingConfig.for_mode(  # short runs: a sweep trades length for breadth
    from_scratch=from_scratch,
    max_steps=quick_or_full(8, 80),
    batch_size=8,
    eval_every=quick_or_full(4, 20),
    eval_batches=quick_or_full(2, 16),
    checkpoint_every=0,
    progress_bar=False,
    resume=False,
)
dataset, stats = build_lm_dataset(
    documents, tokenizer, sweep_config.block_size, split_method="document", **COURSE_SPLIT
)
chars_per_token = stats.characters["validation"] / stats.tokens["validation"]
# around the default: 1e-4 for pretrained weights, 6e-3 from scratch (notebook 03)
default_rate = default_learning_rate(from_scratch)
factors = quick_or_full([1 / 3, 1], [1 / 3, 1, 3])
learning_rates = [float(f"{default_rate * factor:.2g}") for factor in factors]


def run_learning_rate_sweep() -> dict[str, list[list[float]]]:
    curves = {}
    for learning_rate in learning_rates:
        with tempfile.TemporaryDirectory() as scratch:
            config = TrainingConfig(**{**asdict(sweep_config), "learning_rate": learning_rate,
                                       "output_dir": scratch})
            result = train(config, dataset, chars_per_token=chars_per_token)
        # the evaluations of the same blocks (the last step's whole-split score is not one)
        points = result.history.comparable()
        curves[str(learning_rate)] = [[r["step"], r["perplexity"]] for r in points]
    return curves


sweep_key = {"config": asdict(sweep_config) | {"output_dir": None}, "rates": learning_rates,
             "base": base.location, "data": stats.as_dict()}
curves, from_cache = cached("learning-rate", sweep_key, run_learning_rate_sweep)
print("from cache" if from_cache else "computed now (cached for next time)")
for rate, points in curves.items():
    print(f"lr {float(rate):.1e}: " + ", ".join(f"step {s}: {p:,.0f}" for s, p in points))

# %%
import matplotlib.pyplot as plt

figure, axis = plt.subplots(figsize=(6.5, 3.8))
for rate, points in curves.items():
    axis.plot([s for s, _ in points], [p for _, p in points], "o-", label=f"lr {float(rate):.1e}")
axis.set_xlabel("optimizer step")
axis.set_ylabel("validation perplexity")
axis.set_yscale("log")
axis.set_title("Learning rate × steps")
axis.legend()
figure.tight_layout()

best_rate, best_points = min(curves.items(), key=lambda item: item[1][-1][1])
print(f"lowest final validation perplexity: lr {float(best_rate):.1e} "
      f"({best_points[-1][1]:,.1f} after {best_points[-1][0]} steps)")
assert all(points[-1][1] < points[0][1] for points in curves.values()), "a run did not learn"

# %% [markdown]
# Reading the plot: every curve starts at the same point (the same initial weights).
# The best learning rate is the one whose curve ends lowest *at the step budget you can
# afford*; rates that win early can lose late. Notebook 03's default came from exactly
# this kind of comparison. With more steps, sweep again: the best rate usually shifts
# down a little as training gets longer.

# %% [markdown]
# ## 2 · Decoding: temperature × top-p
#
# Now fix the model (the one notebook 03 trained, when it is there) and vary the decoding
# settings. For each pair (temperature, top-p) we generate continuations of the same
# prompts and measure, as in notebook 05:
#
# * **quality**: $|\log \mathrm{PPL}_{\text{generated}} - \log \mathrm{PPL}_{\text{human}}|$,
#   the distance from the perplexity of real text of the corpus (smaller is better);
# * **diversity**: distinct-2 of the continuations (larger is more varied).
#
# **The rule, stated before we look:** among the settings whose distinct-2 is at least
# 90 % of the human text's, choose the one closest to human perplexity. (If none is
# diverse enough, choose the most diverse.)

# %%
from pathlib import Path

from helpers.data import sample_passages, split_by_document
from helpers.evaluation import compare_decoders
from helpers.metrics import distinct_n
from helpers.colab import ensure_trained_model
from helpers.modeling import load_course_model

# notebook 03's fine-tuned model (on Colab: from your Drive); if there is none, this
# says so and fine-tunes one briefly. False: go on with the base model, said out loud.
TRAIN_IF_MISSING = True
ensure_trained_model(train_if_missing=TRAIN_IF_MISSING)
model, tokenizer, source = load_course_model(device=device)
splits = split_by_document(documents, **COURSE_SPLIT)
passages = sample_passages(splits["validation"]["text"], count=quick_or_full(3, 12), lines=6)
prompts = [passage.split("\n")[0] + "\n" for passage in passages]
temperatures = quick_or_full([0.7, 1.0], [0.6, 0.8, 1.0])
top_ps = quick_or_full([0.8, 0.95], [0.7, 0.85, 0.95])
grid = {f"T={t} p={p}": {"strategy": "top-p", "temperature": t, "top_p": p}
        for t in temperatures for p in top_ps}


def run_decoding_sweep() -> list[dict]:
    table = compare_decoders(model, tokenizer, prompts, passages, grid,
                             max_new_tokens=quick_or_full(16, 48), samples_per_prompt=2, seed=0)
    return [{**row, "human_perplexity": table.human_perplexity} for row in table.rows]


weights = Path(source.location) / "model.safetensors"
model_id = f"{source.location}@{weights.stat().st_mtime}" if weights.is_file() else source.location
rows, from_cache = cached("decoding", {"grid": grid, "prompts": prompts, "model": model_id,
                                       "quick": is_quick_mode()}, run_decoding_sweep)
print("from cache" if from_cache else "computed now (cached for next time)")
human_distinct = distinct_n(passages, 2)
print(f"human text: distinct-2 {human_distinct:.3f}, PPL {rows[0]['human_perplexity']:.1f}")

# %%
import numpy as np

gap = np.array([[next(r["ppl_gap"] for r in rows if r["decoder"] == f"T={t} p={p}")
                 for p in top_ps] for t in temperatures])
diversity = np.array([[next(r["distinct_2"] for r in rows if r["decoder"] == f"T={t} p={p}")
                       for p in top_ps] for t in temperatures])
figure, axes = plt.subplots(1, 2, figsize=(10, 3.8))
for axis, values, title in [(axes[0], gap, "|log PPL gap| (lower: closer to human)"),
                            (axes[1], diversity, "distinct-2 (higher: more diverse)")]:
    image = axis.imshow(values, cmap="viridis", aspect="auto")
    axis.set_xticks(range(len(top_ps)), [str(p) for p in top_ps])
    axis.set_yticks(range(len(temperatures)), [str(t) for t in temperatures])
    axis.set_xlabel("top-p")
    axis.set_ylabel("temperature")
    axis.set_title(title, fontsize=10)
    for (i, j), value in np.ndenumerate(values):
        axis.text(j, i, f"{value:.2f}", ha="center", va="center", color="white", fontsize=8)
    figure.colorbar(image, ax=axis)
figure.tight_layout()

# %% [markdown]
# Reading the maps: higher temperature and larger top-p both let more of the
# distribution through, so diversity rises towards the bottom right, and with it, past a
# point, the distance from human perplexity.

# %%
def choose(rows: list[dict], human_distinct: float) -> dict:
    """The stated rule: diverse enough (>= 90 % of human distinct-2), then closest to human."""
    diverse = [r for r in rows if r["distinct_2"] >= 0.9 * human_distinct]
    if not diverse:
        return max(rows, key=lambda r: r["distinct_2"])
    return min(diverse, key=lambda r: r["ppl_gap"])


chosen_row = choose(rows, human_distinct)
chosen_params = grid[chosen_row["decoder"]]
print(f"chosen: {chosen_row['decoder']} (gap {chosen_row['ppl_gap']:.2f}, "
      f"distinct-2 {chosen_row['distinct_2']:.3f})")

# %% [markdown]
# ## 3 · Saving the choice where everything will find it
#
# `generate`, `pipeline("text-generation")` and the app read their default decoding
# settings from the model folder's `generation_config.json`. We write the choice there,
# in the fine-tuned model's folder when notebook 03 saved one. (Without one, we write a
# copy of the model to a temporary folder instead: an untrained model's settings are not
# worth keeping.)

# %%
from transformers import GenerationConfig, pipeline

from helpers.decoding import (
    generate_text,
    make_settings,
    settings_from_generation_config,
    settings_to_generation_config,
)
from helpers.modeling import save_model

chosen = make_settings(**chosen_params, max_new_tokens=quick_or_full(24, 60))
if source.kind == "local":
    target = Path(source.location)
else:
    target = Path(tempfile.mkdtemp()) / "model"
    save_model(model, tokenizer, target)
generation_config = settings_to_generation_config(chosen, model.generation_config)
generation_config.save_pretrained(target)
print(f"wrote {target / 'generation_config.json'}:")
print((target / "generation_config.json").read_text())

reloaded = GenerationConfig.from_pretrained(target)
assert settings_from_generation_config(reloaded).top_p == chosen.top_p
generator = pipeline("text-generation", model=str(target), device=device)
assert generator.model.generation_config.top_p == chosen.top_p
assert generator.model.generation_config.temperature == chosen.temperature

# %% [markdown]
# `pipeline` picked the settings up from the folder: it now samples with the chosen
# temperature and top-p without being told. Before and after, on the same prompt:

# %%
prompt = prompts[0]
before = generate_text(model, tokenizer, [prompt], "greedy", max_new_tokens=chosen.max_new_tokens)
after = generate_text(model, tokenizer, [prompt], settings=chosen)
print(f"--- before (greedy):\n{prompt}{before[0]}\n")
print(f"--- after ({chosen_row['decoder']}):\n{prompt}{after[0]}")

from helpers.report import record

record("refinement", {"learning_rate_curves": curves, "best_learning_rate": float(best_rate),
                      "decoding_grid": rows, "chosen": chosen_row["decoder"],
                      "generation_config": generation_config.to_diff_dict(),
                      "sample_before": prompt + before[0], "sample_after": prompt + after[0]})

# %% [markdown]
# ## Summary
#
# * A sweep varies one or two settings, keeps everything else fixed, measures on held-out
#   data, and reports the whole grid.
# * One training run per learning rate with periodic evaluation gives the learning rate ×
#   steps grid; the best rate depends on the step budget.
# * Decoding settings trade quality against diversity; a rule stated in advance picks a
#   point on that frontier reproducibly.
# * `generation_config.json` carries the choice to `generate`, `pipeline` and the app.
# * Cached sweeps make re-running cheap; a change of setting or model runs afresh.
#
# ## Exercises
#
# 1. Add `top_k` as a third axis (e.g. 20, 50). Does it change the choice?
# 2. Change the rule to "closest to human rep-2". Which setting wins now? Is it better?
# 3. Extend the learning-rate sweep with one larger rate (10 × the default). What does
#    its curve look like, and why?
# 4. Repeat the decoding sweep with three different seeds. How much do the metrics move?
#    Is the difference between the best two settings larger than that?
