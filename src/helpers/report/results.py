"""The report's result sections: decoding, samples side by side, refinement, deployment.

Each function takes the whole summary and returns HTML; a section whose notebook did not
record it says so. Keys nobody described are still shown (under "Also recorded").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from helpers.report import charts
from helpers.report.formatting import SPREAD_SUFFIX, humanize, is_number, metric, number
from helpers.report.markup import also_recorded, chart, esc, figure, generic, missing, sample, table

SAMPLE_LINES = 6


def _rows(value: Any) -> list[Mapping[str, Any]]:
    return [r for r in value if isinstance(r, Mapping)] if isinstance(value, list) else []


def _cell(row: Mapping[str, Any], key: str) -> str:
    """A metric's value, with its interval over seeds (± half the range) when recorded."""
    text = metric(key).format(row.get(key))
    spread = row.get(key + SPREAD_SUFFIX)
    if is_number(spread) and spread == spread and is_number(row.get(key)):
        text += f" <small>± {metric(key).format(abs(spread))}</small>"
    return text


def metric_table(rows: Sequence[Mapping[str, Any]], caption: str, chosen: Any = None) -> str:
    """Decoders (rows) by metrics (columns), with readable headers and units, then a
    one-line legend per metric."""
    keys = [
        k
        for k in dict.fromkeys(k for r in rows for k in r)
        if k != "decoder" and not k.endswith(SPREAD_SUFFIX)
    ]
    keys = [k for k in keys if any(is_number(r.get(k)) for r in rows)]
    header = ["Decoder"]
    for key in keys:
        described = metric(key)
        arrow = {"lower": " ↓", "higher": " ↑"}.get(described.better, "")
        unit = f"{described.unit}{arrow}".strip()
        header.append(esc(described.label) + (f"<small>{esc(unit)}</small>" if unit else ""))
    body = [
        [
            esc(r.get("decoder", "?"))
            + (" <small>(reference)</small>" if r.get("decoder") == "human" else "")
        ]
        + [_cell(r, k) for k in keys]
        for r in rows
    ]
    classes = ["best" if chosen is not None and r.get("decoder") == chosen else "" for r in rows]
    legend = "".join(
        f"<dt>{esc(metric(k).label)}</dt><dd>{esc(metric(k).legend or 'as recorded')}"
        f"{' (lower is better)' if metric(k).better == 'lower' else ''}"
        f"{' (higher is better)' if metric(k).better == 'higher' else ''}.</dd>"
        for k in keys
    )
    return (
        table(header, body, caption, [False] + [True] * len(keys), classes)
        + f"<details><summary>What each column means</summary><dl class='legend'>{legend}"
        "</dl><p class='note'>A dash: no value (for example, diversity of empty samples). "
        "± : half the range over the seeded runs.</p>"
        "</details>"
    )


def recorded_pictures(section: Mapping[str, Any], notebook: str) -> list[str]:
    """Pictures a notebook saved in ``figures/`` and listed under ``figures``: file names,
    or ``{"file", "alt", "caption"}`` records (better: the alt text says what it shows)."""
    from helpers.report.charts import Chart

    shown = []
    for entry in section.get("figures") or []:
        record = entry if isinstance(entry, Mapping) else {"file": entry}
        name = str(record.get("file") or "")
        if not name or "/" in name or "\\" in name:
            continue
        title = humanize(Path(name).stem.removeprefix(f"{notebook}_"))
        alt = record.get("alt") or f"Figure from notebook {notebook}: {title}."
        shown.append(chart(Chart(f"figures/{name}", str(alt), str(record.get("caption") or title))))
    return shown


def demos_section(summary: Mapping[str, Any]) -> str:
    """What notebook 04 recorded: its figures, the KV cache's speed-up, the rest."""
    decoding = summary.get("decoding")
    if not decoding:
        return ""
    parts = ["<h3>Decoders, one by one (notebook 04)</h3>"]
    cache = decoding.get("kv_cache")
    if isinstance(cache, Mapping) and is_number(cache.get("speedup")):
        speedup = figure(cache["speedup"], "decoding.kv_cache.speedup")
        said = f"The KV cache made generation {speedup}× faster"
        if is_number(cache.get("seconds_with")) and is_number(cache.get("seconds_without")):
            said += (
                f" ({number(cache['seconds_with'])} s against {number(cache['seconds_without'])} s"
            )
            if is_number(cache.get("new_tokens")):
                said += f" for {number(cache['new_tokens'])} new tokens"
            if is_number(cache.get("batch")):
                said += f", batch {number(cache['batch'])}"
            said += ")"
        if cache.get("hardware"):
            said += f" on {esc(cache['hardware'])}"
        parts.append(f"<p>{said}.</p>")
    parts += recorded_pictures(decoding, "04")
    parts.append(also_recorded(decoding, ("figures", "kv_cache")))
    return "".join(parts)


def decoding_section(summary: Mapping[str, Any], folder: Path) -> str:
    evaluation = summary.get("evaluation")
    if not evaluation:
        return demos_section(summary) + missing(
            "the evaluation", "Notebook 05 records it as 'evaluation'."
        )
    parts = [demos_section(summary)]
    scores = [
        ("validation_perplexity", "Validation perplexity (sliding windows, every token once)"),
        ("test_perplexity", "Test perplexity"),
        ("test_bits_per_character", "Test bits per character"),
        ("naive_mean_of_perplexities", "Mean of per-text perplexities (the common mistake)"),
        ("human_text_perplexity", "Perplexity of the human reference passages"),
    ]
    rows = [
        [esc(label), figure(evaluation[key], f"evaluation.{key}")]
        for key, label in scores
        if is_number(evaluation.get(key))
    ]
    if rows:
        parts.append(
            table(
                ["Held-out text", "Score"],
                rows,
                "The trained model on held-out text (lower is better)",
                [False, True],
            )
        )
    parts.append(_scored_note(evaluation.get("scored")))
    decoders = _rows(evaluation.get("decoders"))
    if decoders:
        parts.append("<h3>Decoders compared</h3>")
        parts.append(metric_table(decoders, "Each decoder's samples, measured"))
        parts.append(chart(charts.quality_diversity(decoders, folder)))
    else:
        parts.append(missing("the decoder comparison", "Notebook 05 records it as 'decoders'."))
    known = {key for key, _ in scores} | {
        "decoders", "samples", "sample_prompts", "samples_before", "scored"
    }  # fmt: skip
    parts.append(also_recorded(evaluation, known))
    return "".join(parts)


def _scored_note(scored: Any) -> str:
    """How much of each held-out split was scored (notebook 05 budgets the scoring)."""
    if not isinstance(scored, Mapping):
        return ""
    said = []
    for name, part in scored.items():
        kept = part.get("characters") if isinstance(part, Mapping) else None
        total = part.get("of") if isinstance(part, Mapping) else None
        if is_number(kept) and is_number(total) and total > 0:
            whole = "all" if kept >= total else f"{kept / total:.0%}: the start of each work"
            said.append(f"{esc(str(name))} {number(kept)} of {number(total)} characters ({whole})")
    if not said:
        return ""
    return f"<p class='note'>Scored within the evaluation's time budget: {'; '.join(said)}.</p>"


def samples_section(summary: Mapping[str, Any]) -> str:
    """One prompt per row, one decoder per column; before and after training when both
    were recorded."""
    evaluation = summary.get("evaluation") or {}
    after = evaluation.get("samples")
    parts = []
    if isinstance(after, Mapping) and after:
        before = evaluation.get("samples_before")
        before = before if isinstance(before, Mapping) else {}
        prompts = evaluation.get("sample_prompts")
        decoders = list(after)
        length = max(len(v) for v in after.values() if isinstance(v, list))
        if isinstance(prompts, list) and len(prompts) >= length:
            labels = [sample(p, max_lines=2) for p in prompts[:length]]
        else:
            labels = [f"sample {i + 1}" for i in range(length)]
            parts.append(
                "<p class='note'>The prompts were not recorded (notebook 05 records "
                "them as <code>sample_prompts</code>).</p>"
            )
        rows, header = [], ["Prompt"] + [esc(d) for d in decoders]
        if before:
            header.insert(1, "Model")
        for index, label in enumerate(labels):
            for stage, texts in (("before training", before), ("after training", after)):
                if stage.startswith("before") and not before:
                    continue
                cells = [sample(_nth(texts.get(d), index), SAMPLE_LINES) for d in decoders]
                rows.append([label] + ([esc(stage)] if before else []) + cells)
        parts.append(
            table(
                header,
                rows,
                "Continuations of the same prompts by each decoder",
                [False] * len(header),
                css_class="samples",
            )
        )
        parts.append(
            f"<p class='note'>Each sample is cut to {SAMPLE_LINES} lines. "
            "<span class='ws'>↵</span> marks a line break "
            "(<span class='ws'>↵ ×N</span>: N in a row), "
            "<span class='ws'>·</span> a space at the start or end of a line.</p>"
        )
    training_samples = _rows((summary.get("training") or {}).get("samples"))
    if training_samples:
        parts.append("<h3>Before and after training</h3>")
        rows = [
            [
                sample(s.get("prompt"), 2),
                sample(s.get("before"), SAMPLE_LINES),
                sample(s.get("after"), SAMPLE_LINES),
            ]
            for s in training_samples
        ]
        parts.append(
            table(
                ["Prompt", "Before training", "After training"],
                rows,
                "The same prompts, before and after training",
                css_class="samples",
            )
        )
    first = (summary.get("model") or {}).get("first_continuation")
    if isinstance(first, str) and first:
        parts.append(
            "<h3>The base model, before any training (notebook 01, greedy)</h3>"
            + sample(first, SAMPLE_LINES)
        )
    if not parts:
        return missing("samples", "Notebook 05 records them as 'samples' (decoder → texts).")
    return "".join(parts)


def _nth(texts: Any, index: int) -> Any:
    return texts[index] if isinstance(texts, list) and index < len(texts) else None


SETTINGS = {  # generation_config key: label (others are bookkeeping and not shown)
    "do_sample": "Sampling",
    "temperature": "Temperature",
    "top_k": "Top-k (0: off)",
    "top_p": "Top-p (nucleus)",
    "num_beams": "Beams",
    "repetition_penalty": "Repetition penalty",
    "no_repeat_ngram_size": "No-repeat n-gram size (0: off)",
    "max_new_tokens": "New tokens",
}


def refinement_section(summary: Mapping[str, Any], folder: Path) -> str:
    refinement = summary.get("refinement")
    if not refinement:
        return missing("the refinement sweeps", "Notebook 06 records them as 'refinement'.")
    parts = []
    chosen = refinement.get("chosen")
    config = refinement.get("generation_config")
    if chosen:
        parts.append(
            f"<p>Chosen decoding: <strong>{esc(chosen)}</strong>, written to the "
            "model's <code>generation_config.json</code> for <code>pipeline</code> and the app.</p>"
        )
    if isinstance(config, Mapping):
        rows = [
            [esc(label), generic(config[key])] for key, label in SETTINGS.items() if key in config
        ]
        if rows:
            parts.append(
                table(["Setting", "Value"], rows, "The chosen generation settings", [False, True])
            )
    curves = refinement.get("learning_rate_curves")
    if isinstance(curves, Mapping) and curves:
        best = refinement.get("best_learning_rate")
        parts.append("<h3>Learning rate</h3>")
        if best is not None:
            parts.append(
                f"<p>Best learning rate in the sweep: <strong>{generic(best)}</strong>.</p>"
            )
        parts.append(chart(charts.learning_rate_sweep(curves, best, folder)))
    grid = _rows(refinement.get("decoding_grid"))
    if grid:
        parts.append("<h3>Decoding settings</h3>")
        parts.append(chart(charts.quality_diversity(grid, folder, "sweep_decoding.png")))
        parts.append(metric_table(grid, "The decoding grid (chosen row highlighted)", chosen))
    before, after = refinement.get("sample_before"), refinement.get("sample_after")
    if isinstance(before, str) and isinstance(after, str):
        parts.append(
            table(
                ["", "Greedy (before)", f"{esc(chosen or 'chosen')} (after)"],
                [["Sample", sample(before, SAMPLE_LINES), sample(after, SAMPLE_LINES)]],
                "The same prompt before and after choosing the settings",
                css_class="samples",
            )
        )
    known = {
        "chosen",
        "generation_config",
        "learning_rate_curves",
        "best_learning_rate",
        "decoding_grid",
        "sample_before",
        "sample_after",
    }
    parts.append(also_recorded(refinement, known))
    return "".join(parts)


def deployment_section(summary: Mapping[str, Any]) -> str:
    deployment = summary.get("deployment")
    if not deployment:
        return missing("deployment", "Notebook 07 records it as 'deployment'.")
    parts = []
    first, per = deployment.get("time_to_first_token_ms"), deployment.get("ms_per_token")
    device = deployment.get("device")
    if is_number(first) or is_number(per):
        said = []
        if is_number(first):
            shown = figure(first, "deployment.time_to_first_token_ms")
            said.append(f"the first token came after {shown} ms")
        if is_number(per):
            said.append(f"each further token took {figure(per, 'deployment.ms_per_token')} ms")
        on = f" on {esc(device)}" if device else ""
        parts.append(f"<p>Streaming{on}: {' and '.join(said)}.</p>")
    feedback = deployment.get("feedback_file")
    if feedback:
        records = deployment.get("feedback_records")
        many = f" ({number(records)} ratings)" if is_number(records) else ""
        parts.append(f"<p>The app's 👍/👎 feedback went to <code>{esc(feedback)}</code>{many}.</p>")
    else:
        parts.append(
            missing(
                "where the app's feedback went",
                "Notebook 07 records it as 'feedback_file' (and 'feedback_records').",
            )
        )
    known = {
        "time_to_first_token_ms",
        "ms_per_token",
        "device",
        "feedback_file",
        "feedback_records",
    }
    parts.append(also_recorded(deployment, known))
    return "".join(parts)


def other_section(name: str, values: Any) -> str:
    return f"<h3>{esc(humanize(name))}</h3>{generic(values)}"
