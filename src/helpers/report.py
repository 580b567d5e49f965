"""One report of a whole course run: ``runs/latest/index.html`` and ``summary.json``.

Each notebook records its key figures with :func:`record` (one JSON file per section
under ``<run dir>/figures/``); after ``make run`` has executed every notebook,
:func:`build_report` gathers them into ``summary.json`` and renders ``index.html`` with
links to each executed notebook's HTML export.
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
from pathlib import Path
from typing import Any

from helpers.environment import atomic_write_text, project_root

RUN_DIR_ENV_VAR = "GPT2LAB_RUN_DIR"
SECTIONS = (
    ("environment", "Environment"),
    ("model", "Model"),
    ("data", "Data"),
    ("training", "Training"),
    ("evaluation", "Evaluation"),
    ("refinement", "Chosen generation settings"),
    ("deployment", "Deployment"),
)


def run_dir() -> Path:
    """Where this run's results go: ``$GPT2LAB_RUN_DIR``, else ``runs/latest``."""
    configured = os.environ.get(RUN_DIR_ENV_VAR, "").strip()
    return Path(configured) if configured else project_root() / "runs" / "latest"


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except TypeError:
        if isinstance(value, dict):
            return {str(k): _jsonable(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [_jsonable(v) for v in value]
        return str(value)


def record(section: str, figures: dict[str, Any], directory: str | Path | None = None) -> Path:
    """Save a notebook's key figures for the run report (written atomically)."""
    target = Path(directory or run_dir()) / "figures" / f"{section}.json"
    return atomic_write_text(target, json.dumps(_jsonable(figures), indent=1, ensure_ascii=False))


def collect(directory: str | Path | None = None) -> dict[str, Any]:
    """Every recorded section of a run, by name."""
    folder = Path(directory or run_dir()) / "figures"
    return {
        path.stem: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(folder.glob("*.json"))
    }


def _training_curve_png(history: dict[str, Any]) -> str | None:
    """Loss curves of a saved training history (``TrainingHistory.to_dict()``), drawn by
    ``helpers.plots.loss_curves`` (one validation curve per set of blocks scored), as a
    base64 PNG; None without data."""
    if not history.get("train") and not history.get("eval"):
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from helpers.plots import loss_curves

    figure = loss_curves(history, title="Training and validation loss")
    figure.set_size_inches(6.5, 3.2)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _value_html(value: Any) -> str:
    if isinstance(value, dict):
        rows = "".join(
            f"<tr><th>{html.escape(str(k))}</th><td>{_value_html(v)}</td></tr>"
            for k, v in value.items()
        )
        return f"<table>{rows}</table>"
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        keys = list(dict.fromkeys(k for v in value for k in v))
        head = "".join(f"<th>{html.escape(k)}</th>" for k in keys)
        body = "".join(
            "<tr>" + "".join(f"<td>{_value_html(v.get(k, ''))}</td>" for k in keys) + "</tr>"
            for v in value
        )
        return f"<table><tr>{head}</tr>{body}</table>"
    if isinstance(value, list):
        return "<ul>" + "".join(f"<li>{_value_html(v)}</li>" for v in value) + "</ul>"
    if isinstance(value, float):
        return f"{value:,.4g}"
    text = html.escape(str(value))
    return f"<pre>{text}</pre>" if "\n" in text else text


def build_report(directory: str | Path | None = None) -> tuple[Path, Path]:
    """Write ``summary.json`` and ``index.html`` for the run in ``directory``."""
    folder = Path(directory or run_dir())
    figures = collect(folder)
    notebooks = sorted(p.name for p in folder.glob("[0-9][0-9]_*.html"))
    summary = {"notebooks": notebooks, **figures}
    summary_path = atomic_write_text(
        folder / "summary.json", json.dumps(summary, indent=1, ensure_ascii=False)
    )

    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>GPT-2 Lab run</title>",
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse;margin:.3em 0}th,td{border:1px solid #ccc;"
        "padding:.2em .5em;text-align:left;vertical-align:top}pre{white-space:pre-wrap;"
        "margin:0}</style></head><body><h1>GPT-2 Lab: the course, executed</h1>",
    ]
    model = figures.get("model", {})
    if model.get("offline_model"):
        parts.append(
            "<p><strong>Offline run.</strong> Pretrained GPT-2 could not be downloaded, so "
            "the course used the offline model: a small GPT-2 with random initial weights, "
            "trained from scratch here. It is not GPT-2.</p>"
        )
    for key, title in SECTIONS:
        if key not in figures:
            continue
        parts.append(f"<h2>{html.escape(title)}</h2>")
        section = dict(figures[key])
        if key == "training" and isinstance(section.get("history"), dict):
            image = _training_curve_png(section.pop("history"))
            if image:
                parts.append(f"<img alt='training curve' src='data:image/png;base64,{image}'>")
        parts.append(_value_html(section))
    parts.append("<h2>Executed notebooks</h2><ul>")
    parts += [f"<li><a href='{html.escape(n)}'>{html.escape(n[:-5])}</a></li>" for n in notebooks]
    parts.append("</ul></body></html>")
    index_path = atomic_write_text(folder / "index.html", "\n".join(parts))
    return index_path, summary_path
