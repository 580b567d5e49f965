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
# # 07 · Deployment: from a notebook to a small application
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/gpt2-lab/gpt2-lab/blob/v0.2.0/notebooks/07_deployment.ipynb)
#
# **Learning goals.** After this notebook you can
# 1. say what changes when a model leaves the notebook and serves people: load once,
#    latency, streaming, concurrency, input limits, and what you expose;
# 2. measure the latency of generation, per token and to the first token;
# 3. run the course's web app (Gradio) locally or from Colab, and read its code;
# 4. close the loop: collect 👍/👎 feedback and turn it into a small evaluation set;
# 5. know how the model and the app would be published on the Hugging Face Hub.

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
# ## 1 · A notebook is not a service
#
# In a notebook, one person runs one cell at a time and waits. A service is different:
#
# * **Load once.** Loading weights takes seconds (minutes for large models); a service
#   loads the model when it starts and keeps it in memory for every request.
# * **Latency.** People notice delays above a few hundred milliseconds. What matters is
#   the *time to the first token* and the *time per token* after it.
# * **Streaming.** Showing tokens as they are generated makes a 5-second answer feel
#   immediate. Beam search cannot stream: it only knows its best sequence at the end.
# * **Concurrency.** Two requests at once on one model compete for the same cores or
#   GPU. A queue serves them in order instead of letting them slow each other down.
# * **Limits.** A 100,000-character prompt or `max_new_tokens=10**6` must be refused with
#   a message, not run for an hour.
# * **Exposure.** A server bound to `127.0.0.1` is reachable from this machine only;
#   `0.0.0.0` or a public share link lets anyone who has the address use your model (and
#   your compute). Expose deliberately.

# %%
from helpers.environment import get_device, quick_or_full, set_seed
from helpers.colab import ensure_trained_model
from helpers.modeling import load_course_model

set_seed(0)
device = get_device()
# notebook 03's fine-tuned model (on Colab: from your Drive); if there is none, this
# says so and fine-tunes one briefly. False: go on with the base model, said out loud.
TRAIN_IF_MISSING = True
ensure_trained_model(train_if_missing=TRAIN_IF_MISSING)
model, tokenizer, source = load_course_model(device=device)  # loaded once, reused below
print(f"serving: {source.kind} ({source.location}) on {model.device}")

# %% [markdown]
# ## 2 · Measuring latency
#
# `stream_text` is the decoder the app uses: it yields the continuation after every new
# token. Timing the gaps between yields gives the time to the first token (which
# includes reading the whole prompt) and the time per later token (one step with the KV
# cache).

# %%
import math
import time

from helpers.decoding import make_settings, stream_text

settings = make_settings(strategy="top-p", top_p=0.9, max_new_tokens=quick_or_full(20, 100), seed=0)
prompt = "KING.\nWhat news from the north, my lord?\n"
stamps = []
start = time.perf_counter()
for partial in stream_text(model, tokenizer, [prompt], settings):
    stamps.append(time.perf_counter())
    final = partial
first_token = stamps[0] - start
per_token = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
print(prompt + final[0])
import statistics

mean_ms = 1000 * statistics.fmean(per_token) if per_token else math.nan
median_ms = 1000 * statistics.median(per_token) if per_token else math.nan
print(f"\ntime to first token: {first_token * 1000:.1f} ms")
print(f"time per token     : mean {mean_ms:.1f} ms, median {median_ms:.1f} ms "
      f"(over the {len(per_token)} tokens after the first)")
assert len(stamps) >= 1

from helpers.report import record

record("deployment", {"time_to_first_token_ms": round(1000 * first_token, 1),
                      "ms_per_token": round(mean_ms, 1), "median_ms_per_token": round(median_ms, 1),
                      "device": str(model.device)})

# %%
import matplotlib.pyplot as plt

figure, axis = plt.subplots(figsize=(6, 3))
axis.plot([1000 * p for p in per_token], marker=".")
axis.set_xlabel("token")
axis.set_ylabel("ms")
axis.set_title("Time per generated token, with the KV cache")
figure.tight_layout()

# %% [markdown]
# With the KV cache each step computes one new position and reads the earlier ones from
# the cache, so the cost of a step should barely grow with the text. Without it each step
# would recompute the whole sequence and grow slower as the text grows (notebook 04's
# benchmark shows by how much). What this run shows:

# %%
from IPython.display import Markdown, display

half = len(per_token) // 2
if half >= 2:
    early, late = statistics.median(per_token[:half]), statistics.median(per_token[half:])
    trend = late / early
    said = (f"the median step took {1000 * early:.1f} ms over the first {half} tokens and "
            f"{1000 * late:.1f} ms over the last {len(per_token) - half}, a ratio of "
            f"{trend:.2f}")
    said += (": about flat, as the cache promises." if 0.67 <= trend <= 1.5 else
             ": not flat here; on a busy machine other work also moves these times.")
else:
    said = "too few tokens were timed to compare early and late steps."
display(Markdown(f"In this run {said}"))

# %% [markdown]
# ## 3 · The app
#
# `helpers.app.build_app` assembles the interface from Gradio components: a prompt box,
# the strategy and its settings (their defaults come from the model's
# `generation_config.json`, which notebook 06 wrote), up to four samples side by side,
# and 👍/👎 buttons under each. Everything it computes, it asks of `helpers.decoding`.
# The checks it makes before generating are a plain function you can call yourself:

# %%
from helpers.app import AppConfig, RequestError, check_request

config = AppConfig()
form = {"strategy": "top-p", "max_new_tokens": 60, "top_p": 0.9, "temperature": 0.8}
print(check_request("To be, or not to be", form, samples=2, config=config))
for bad_form, samples in [({**form, "max_new_tokens": 5000}, 1), ({**form, "top_p": 0.0}, 1)]:
    try:
        check_request("To be", bad_form, samples, config)
    except RequestError as error:
        print("refused:", error)

# %% [markdown]
# To run the app:
#
# * **locally**: `python -m helpers app` (or `--model DIR`), then open
#   http://127.0.0.1:7860. `--host 0.0.0.0` serves your network; think first.
# * **on Colab**: the app runs on the Colab VM, whose `127.0.0.1` your browser cannot
#   reach. Colab *proxies* the port into the notebook: the cell below shows the app in a
#   frame under it, visible to you only. `SHARE = True` also makes a public
#   `*.gradio.live` link, which anyone who has it can use (and your runtime with it) until
#   the app stops: ask for it only when you mean to share.
#
# Here we start it on a free local port, check that it answers, and show it.

# %%
import socket
import urllib.request

from helpers.app import build_app, launch, show_in_notebook
from helpers.environment import in_colab

SHARE = False  # True: also make a public share link, printed by launch (see above)
with socket.socket() as probe:
    probe.bind(("127.0.0.1", 0))
    free_port = probe.getsockname()[1]
app_config = AppConfig(port=free_port, share=SHARE)
app = build_app(model, tokenizer, source, app_config)
app, url = launch(app, app_config, block=False)
with urllib.request.urlopen(url, timeout=30) as response:
    print("the app answers:", response.status)
    assert response.status == 200
shown = show_in_notebook(url)
assert shown == ("colab-proxy" if in_colab() else "local-url")
display(Markdown(
    "Above: " + ("the app in a frame, through Colab's proxy (visible to you only)"
                 if shown == "colab-proxy" else f"the app's local address, {url}, which only "
                 "this machine can open")
    + ("; a public share link was asked for (`SHARE = True`) and is printed by `launch`."
       if SHARE else "; no public share link was made (`SHARE = False`).")
))
if not in_colab():  # on Colab it keeps running for you to try; locally we stop it
    app.close()

# %% [markdown]
# ![The app](../docs/app.png)
#
# *The app serving the offline model (a screenshot the browser test takes).*

# %% [markdown]
# ## 4 · Closing the loop: feedback
#
# Every 👍/👎 appends one JSON line: the prompt, the settings, the text and the rating.
# Here we write a few ratings the way the buttons do, then read the file back.

# %%
import tempfile
from pathlib import Path

from helpers.app import read_feedback, record_feedback

feedback_file = Path(tempfile.mkdtemp()) / "feedback.jsonl"
for strategy, rating in [("greedy", -1), ("greedy", -1), ("top-p", 1), ("top-p", 1), ("top-p", -1)]:
    chosen = make_settings(strategy=strategy, top_p=0.9 if strategy == "top-p" else 1.0,
                           max_new_tokens=12, seed=1)
    text = list(stream_text(model, tokenizer, [prompt], chosen))[-1][0]
    text = text if text.strip() else "(the model ended the text at once)"
    record_feedback(feedback_file, prompt, {"strategy": strategy}, text, rating)

records = read_feedback(feedback_file)
print(f"{len(records)} ratings in {feedback_file.name}")
by_strategy: dict[str, list[int]] = {}
for rating_record in records:
    strategy = rating_record["settings"]["strategy"]
    by_strategy.setdefault(strategy, []).append(rating_record["rating"])
for strategy, ratings in by_strategy.items():
    print(f"{strategy:<8} {len(ratings)} ratings, share 👍 = {ratings.count(1) / len(ratings):.0%}")
assert sum(len(r) for r in by_strategy.values()) == 5

# %% [markdown]
# Turning feedback into an evaluation set: keep the prompts, with the liked texts as
# positive and the disliked as negative examples. Re-scoring them after each change
# (new training data, new decoding settings) tells you whether the change helped *on what
# your users asked*. With enough ratings, the liked texts can even become fine-tuning
# data (careful: a model trained on its own output drifts; mix in real text).

# %%
import json

evaluation_set = [
    {"prompt": r["prompt"], "text": r["text"], "label": "good" if r["rating"] > 0 else "bad"}
    for r in records
]
print(json.dumps(evaluation_set[0], indent=1, ensure_ascii=False))
assert {item["label"] for item in evaluation_set} == {"good", "bad"}

# %% [markdown]
# ## 5 · Publishing (shown, not run offline)
#
# The saved model folder is already what the Hugging Face Hub expects: weights
# (`model.safetensors`), `config.json`, the tokenizer, `generation_config.json` and a
# model card (`README.md`). With a Hub account and `huggingface-cli login`:
#
# ```python
# model.push_to_hub("your-name/gpt2-shakespeare")
# tokenizer.push_to_hub("your-name/gpt2-shakespeare")
# ```
#
# A **Space** runs an app for free on the Hub: a repository with an `app.py` and a
# `requirements.txt`. For this app, `app.py` is three lines:
#
# ```python
# from helpers.app import AppConfig, build_app
# from helpers.modeling import load_model_and_tokenizer, locate_model
# build_app(*load_model_and_tokenizer("your-name/gpt2-shakespeare"),
#           locate_model("your-name/gpt2-shakespeare")).launch()
# ```
#
# ## Summary
#
# * A service loads the model once, streams tokens, queues requests, caps inputs, and
#   binds to loopback unless told otherwise.
# * Latency = time to first token + time per token; with a KV cache the second is flat.
# * The app is presentation only: decoding and checks are plain, tested functions.
# * 👍/👎 feedback lands in a JSONL file that becomes an evaluation set.
#
# ## Exercises
#
# 1. Measure time per token with batch 1 and with 4 samples. Does the time per *sample*
#    token go down? Why?
# 2. Start the app, open it in two browser tabs and generate in both at once. What does
#    the queue do?
# 3. Add a slider for `no_repeat_ngram_size` to the app (`helpers/app.py`). What do you
#    need to change in `check_request`?
# 4. Rate 20 samples of two strategies in the app, then compute the share of 👍 for each
#    from the feedback file.
