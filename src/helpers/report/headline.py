"""The top of the report: what ran (the banner), the headline, the data, and training.

Every sentence is built from the recorded numbers; what was not recorded is said to be
missing, never guessed. The headline's numbers are wrapped in ``<data>`` elements that
carry the recorded value, so a test can check them against ``summary.json``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from helpers.report import charts
from helpers.report.formatting import count, duration, is_number, number, percent
from helpers.report.markup import also_recorded, chart, esc, figure, missing, sample, table

GPT2_VOCABULARY = 50257


def _get(mapping: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(mapping, Mapping):
            return None
        mapping = mapping.get(key)
    return mapping


def origin(summary: Mapping[str, Any]) -> str:
    """How the trained model began: ``"scratch"`` (random weights), ``"pretrained"``
    (an offline base or GPT-2, then fine-tuned) or ``"unknown"``.

    Read from what the notebooks recorded, in this order: ``training.trained_from_scratch``
    (or ``training.from_scratch``, or ``refinement.trained_from_scratch``);
    ``model.pretrained``; the offline model's name (``gpt2lab-tiny`` is random,
    ``gpt2lab-base`` pretrained); a Hub model (pretrained); and last the validation
    perplexity before training: a model that scores the vocabulary size (50,257) guesses
    uniformly, so it started from nothing.
    """
    training, model = summary.get("training") or {}, summary.get("model") or {}
    refinement = summary.get("refinement") or {}
    for flag in (training.get("trained_from_scratch"), training.get("from_scratch"),
                 refinement.get("trained_from_scratch")):  # fmt: skip
        if isinstance(flag, bool):
            return "scratch" if flag else "pretrained"
    if isinstance(model.get("pretrained"), bool):
        return "pretrained" if model["pretrained"] else "scratch"
    name = str(model.get("location") or "")
    if name == "gpt2lab-tiny":
        return "scratch"
    if name == "gpt2lab-base" or model.get("source") in ("hub", "hub-cache"):
        return "pretrained"
    before = _get(training, "validation_before", "perplexity")
    if is_number(before) and before >= 0.9 * GPT2_VOCABULARY:
        return "scratch"
    return "unknown"


def _shape(model: Mapping[str, Any]) -> str:
    parts = []
    if is_number(model.get("parameters")):
        parts.append(f"{count(model['parameters'])} parameters")
    if is_number(model.get("layers")) and is_number(model.get("width")):
        parts.append(f"{model['layers']} layers × {model['width']} wide")
    if is_number(model.get("context")):
        parts.append(f"{number(model['context'])}-token context")
    return ", ".join(parts)


def _is_offline(model: Mapping[str, Any]) -> bool:
    """The offline model (random weights) or the offline base (pretrained by the course)."""
    return bool(model.get("offline_model")) or model.get("source") in ("offline", "base")


def model_phrase(summary: Mapping[str, Any]) -> str:
    """Which model, in words (HTML)."""
    model = summary.get("model") or {}
    shape = _shape(model)
    shape = f" ({esc(shape)})" if shape else ""
    name = model.get("location") or model.get("asked_for") or "?"
    start = origin(summary)
    if _is_offline(model):
        if start == "pretrained":
            on = f" on {esc(model['pretrained_on'])}" if model.get("pretrained_on") else ""
            return (
                f"the offline base <code>{esc(name)}</code>, a small GPT-2{shape} "
                f"pretrained here{on}"
            )
        return (
            f"the offline model <code>{esc(name)}</code>, a small GPT-2{shape} "
            "with random initial weights"
        )
    if model.get("source") in ("hub", "hub-cache"):
        asked = esc(model.get("asked_for", name))
        return f"GPT-2 <code>{asked}</code> from the Hugging Face Hub{shape}"
    if model:
        return f"the model in <code>{esc(name)}</code>{shape}"
    return "a model that was not recorded"


def banner(summary: Mapping[str, Any]) -> str:
    """A warning when the offline model ran (it is not GPT-2), a note otherwise."""
    model = summary.get("model") or {}
    if not model:
        return ""
    start = origin(summary)
    if _is_offline(model):
        asked = model.get("asked_for")
        why = (
            f"<code>{esc(asked)}</code> was asked for, but the run was offline, so it used "
            if asked and asked != model.get("location")
            else "This run used, as chosen, "
        )
        if start == "pretrained":
            what = (
                "pretrained here, then fine-tuned. Its numbers are that small model's, not GPT-2's."
            )
        elif start == "scratch":
            what = (
                "with random initial weights, trained from scratch. Its numbers show what a "
                "short training from scratch gives, not what GPT-2 does."
            )
        else:
            what = "trained here. Its numbers are that small model's, not GPT-2's."
        name = esc(model.get("location") or "?")
        kind = "offline base" if start == "pretrained" else "offline model"
        return (
            f"<p class='banner warn' role='note'><strong>Offline run: not GPT-2.</strong> "
            f"{why}the {kind} <code>{name}</code>, a small GPT-2 {what}</p>"
        )
    verb = "fine-tuned here" if start != "scratch" else "trained from scratch here"
    return f"<p class='banner info' role='note'>Model: {model_phrase(summary)}, {verb}.</p>"


def _hardware(environment: Mapping[str, Any]) -> str:
    if not environment:
        return ""
    device = str(environment.get("device") or "")
    name = environment.get("device_name")
    if device.startswith("cuda"):
        memory = environment.get("gpu_memory_gb")
        memory = f", {number(memory)} GB" if is_number(memory) else ""
        where = f"on a GPU ({esc(name or device)}{memory})"
    else:
        threads = environment.get("cpu_threads")
        threads = f", {threads} threads" if is_number(threads) else ""
        where = f"on a CPU ({esc(name or device or 'unknown')}{threads})"
    return where + (" on Colab" if environment.get("colab") else "")


def headline(summary: Mapping[str, Any], folder: Path) -> str:
    """The sentences and the small figure a reader needs first."""
    training = summary.get("training") or {}
    data = summary.get("data") or {}
    environment = summary.get("environment") or {}
    start = origin(summary)
    verb = {"scratch": "trained from scratch", "pretrained": "fine-tuned"}.get(start, "trained")
    words = [f"{model_phrase(summary)[:1].upper()}{model_phrase(summary)[1:]} was {verb}"]
    if data:
        corpus = esc(data.get("corpus") or "the course's corpus")
        tokens = _get(data, "tokens", "train")
        documents = _get(data, "documents", "train")
        amount = [
            f"{number(tokens)} training tokens" if is_number(tokens) else "",
            f"{number(documents)} documents" if is_number(documents) else "",
        ]
        amount = " in ".join(a for a in amount if a)
        words.append(f"on {corpus}" + (f" ({amount})" if amount else ""))
    if training:
        steps, seconds = training.get("steps"), training.get("train_seconds")
        seen = _get(training, "history", "train")
        seen = seen[-1].get("tokens_seen") if seen else None
        how = []
        if is_number(steps):
            how.append(f"{figure(steps, 'training.steps')} optimizer steps")
        if is_number(seen):
            how.append(f"{number(seen)} tokens seen")
        if is_number(seconds):
            how.append(
                f"{figure(seconds, 'training.train_seconds', duration(seconds))} of training"
            )
        budget = training.get("budget_seconds")
        if is_number(budget) and is_number(seconds):
            how[-1] += f" (a budget of {duration(budget)})"
        if training.get("precision"):
            how.append(f"in {esc(training['precision'])}")
        if how:
            words.append("for " + ", ".join(how))
    if environment:
        words.append(_hardware(environment))
    parts = ["<p class='lede'>" + " ".join(words) + ".</p>"]

    before, after = training.get("validation_before") or {}, training.get("validation_after") or {}
    if is_number(before.get("perplexity")) and is_number(after.get("perplexity")):

        def pair(name: str) -> str:
            first = figure(before[name], f"training.validation_before.{name}")
            second = figure(after[name], f"training.validation_after.{name}")
            return f"{first} to <strong>{second}</strong>"

        sentence = f"Validation perplexity went from {pair('perplexity')}"
        if is_number(before.get("bits_per_char")) and is_number(after.get("bits_per_char")):
            sentence += f" and bits per character from {pair('bits_per_char')}"
        where = after.get("scored_on")
        tokens = after.get("val_tokens")
        if where:
            sentence += f" (both scored on the {esc(where)}" + (
                f", {number(tokens)} tokens)" if is_number(tokens) else ")"
            )
        parts.append(f"<p class='lede'>{sentence}. Lower is better for both.</p>")
    else:
        parts.append(
            missing(
                "validation scores before and after training",
                "Notebook 03 records them as validation_before and validation_after.",
            )
        )
    stats = _stats(summary)
    picture = chart(charts.before_after(before, after, folder)) if before and after else ""
    return (
        f"<section id='headline' aria-label='Headline'><div class='headline'><div>"
        f"{''.join(parts)}</div><div>{picture}</div></div>{stats}{_data_details(data)}</section>"
    )


def _stats(summary: Mapping[str, Any]) -> str:
    evaluation = summary.get("evaluation") or {}
    deployment = summary.get("deployment") or {}
    cards = []
    for value, key, label, unit in (
        (evaluation.get("test_perplexity"), "evaluation.test_perplexity", "Test perplexity", ""),
        (
            evaluation.get("test_bits_per_character"),
            "evaluation.test_bits_per_character",
            "Test bits per character",
            "",
        ),
        (
            deployment.get("time_to_first_token_ms"),
            "deployment.time_to_first_token_ms",
            "Time to first token",
            "ms",
        ),
        (deployment.get("ms_per_token"), "deployment.ms_per_token", "Time per token", "ms"),
    ):
        if is_number(value):
            small = f" <small>{unit}</small>" if unit else ""
            cards.append(f"<div><dt>{label}</dt><dd>{figure(value, key)}{small}</dd></div>")
    return f"<dl class='stats'>{''.join(cards)}</dl>" if cards else ""


def _data_details(data: Mapping[str, Any]) -> str:
    if not data:
        return missing("the data", "Notebook 02 records its dataset statistics as 'data'.")
    rows = []
    for key, label in (
        ("documents", "Documents"),
        ("characters", "Characters"),
        ("tokens", "Tokens"),
        ("blocks", "Blocks"),
    ):
        split = data.get(key)
        if isinstance(split, Mapping):
            rows.append(
                [label]
                + [
                    esc(number(split.get(s))) if is_number(split.get(s)) else "–"
                    for s in ("train", "validation")
                ]
            )
    notes = []
    if is_number(data.get("block_size")):
        notes.append(f"blocks of {number(data['block_size'])} tokens")
    if is_number(data.get("chars_per_token")):
        notes.append(f"{number(data['chars_per_token'])} characters per token")
    if data.get("split_method"):
        notes.append(f"split by {esc(data['split_method'])}")
    if is_number(data.get("padded_lines_pad_fraction")):
        notes.append(
            f"padding one line per example would have wasted "
            f"{percent(data['padded_lines_pad_fraction'])} of each batch (packing wastes none)"
        )
    body = table(["", "Training", "Validation"], rows, "The data, by split", [False, True, True])
    cleaning = data.get("cleaning")
    cleaning = f"<h3>Cleaning</h3>{sample(cleaning, max_lines=12)}" if cleaning else ""
    return (
        "<details><summary>The data</summary>"
        f"<p>{'; '.join(notes).capitalize()}.</p>{body}{cleaning}</details>"
        if notes
        else f"<details><summary>The data</summary>{body}{cleaning}</details>"
    )


def _general_text(training: Mapping[str, Any]) -> str:
    """What fine-tuning did to the model on general text (what it may have forgotten)."""
    before, after = training.get("general_before"), training.get("general_after")
    if not (isinstance(before, Mapping) and isinstance(after, Mapping)):
        return ""
    if not (is_number(before.get("perplexity")) and is_number(after.get("perplexity"))):
        return ""
    first = figure(before["perplexity"], "training.general_before.perplexity")
    second = figure(after["perplexity"], "training.general_after.perplexity")
    where = f" (scored on the {esc(after['scored_on'])})" if after.get("scored_on") else ""
    return (
        f"<p>On general English text{where}, perplexity went from {first} to {second}: "
        "a rise is what the model forgot of general text while it learnt the corpus.</p>"
    )


def training_section(summary: Mapping[str, Any], folder: Path) -> str:
    training = summary.get("training")
    if not training:
        return missing("training", "Notebook 03 records it as 'training'.")
    history = training.get("history") or {}
    picture = chart(charts.training_curves(history, folder)) if history else ""
    evals = list(history.get("eval") or [])
    parts = [picture]
    if evals:
        from helpers.training.history import TrainingHistory

        best = TrainingHistory(train=list(history.get("train") or []), eval=evals).best_eval
        rows, classes = [], []
        for record in evals:
            is_best = record is best
            rows.append(
                [
                    esc(number(record.get("step"))) + (" <strong>best</strong>" if is_best else ""),
                    esc(record.get("scored_on") or "–"),
                    esc(number(record.get("val_loss"))),
                    esc(number(record.get("perplexity"))),
                    esc(number(record.get("bits_per_char"))),
                ]
            )
            classes.append("best" if is_best else "")
        parts.append(
            table(
                [
                    "Step",
                    "Scored on",
                    "Loss <small>nats/token</small>",
                    "Perplexity",
                    "Bits per character",
                ],
                rows,
                "Every validation of the run",
                [True, False, True, True, True],
                classes,
            )
        )
        if best is not None:
            parts.append(
                f"<p>The model kept is the one with the lowest validation loss among "
                f"evaluations of the same blocks: step {esc(number(best['step']))}, loss "
                f"{esc(number(best['val_loss']))}.</p>"
            )
    general = _general_text(training)
    if general:
        parts.append(general)
    if training.get("saved_to"):
        parts.append(f"<p class='note'>Saved to <code>{esc(training['saved_to'])}</code>.</p>")
    known = {
        "base",
        "steps",
        "precision",
        "train_seconds",
        "validation_before",
        "validation_after",
        "saved_to",
        "history",
        "trained_from_scratch",
        "from_scratch",
        "budget_seconds",
        "general_before",
        "general_after",
    }
    parts.append(also_recorded(training, known))
    return "".join(parts)
