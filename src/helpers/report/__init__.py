"""One report of a whole course run: ``runs/latest/index.html`` and ``summary.json``.

Each notebook records its key figures with :func:`record` (one JSON file per section
under ``<run dir>/figures/``) and, if it likes, a picture with :func:`record_figure`.
After ``make run`` has executed every notebook, :func:`build_report` gathers them into
``summary.json`` and writes ``index.html``: a static page (no script, nothing fetched)
with its pictures in ``figures/``, results first, the environment last.
"""

from __future__ import annotations

import json
import os
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from helpers.environment import atomic_write_text, project_root
from helpers.report import headline, results
from helpers.report.formatting import duration
from helpers.report.markup import chart, esc, generic, missing, page

RUN_DIR_ENV_VAR = "GPT2LAB_RUN_DIR"
# section: (title, the notebook that records it)
SECTIONS = {
    "environment": ("Environment", "01"),
    "model": ("Model", "01"),
    "data": ("Data", "02"),
    "training": ("Training", "03"),
    "decoding": ("Decoding", "04"),
    "evaluation": ("Evaluation", "05"),
    "refinement": ("Refinement", "06"),
    "deployment": ("Deployment", "07"),
}
IMAGES = "images"


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


def _check_name(kind: str, name: str) -> None:
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", name):
        raise ValueError(
            f"{kind} {name!r} must be lower-case letters, digits, '_' or '-' "
            "(it becomes a file name), e.g. 'training' or 'kv_cache'"
        )


def record(section: str, figures: dict[str, Any], directory: str | Path | None = None) -> Path:
    """Save a notebook's key figures for the run report (written atomically)."""
    _check_name("section", section)
    target = Path(directory or run_dir()) / "figures" / f"{section}.json"
    return atomic_write_text(target, json.dumps(_jsonable(figures), indent=1, ensure_ascii=False))


def record_figure(
    section: str,
    name: str,
    figure: Any,
    alt: str,
    caption: str = "",
    directory: str | Path | None = None,
) -> Path:
    """Save a matplotlib figure for the report, shown at the end of ``section``.

    ``alt`` says in words what the figure shows (for readers who cannot see it); the
    picture goes to ``figures/images/<section>--<name>.png``, its texts next to it.
    """
    _check_name("section", section)
    _check_name("figure name", name)
    if not alt or not alt.strip():
        raise ValueError(
            f"record_figure({section!r}, {name!r}) needs alt text: one sentence saying what "
            "the figure shows, e.g. 'Line chart: loss falls from 10.8 to 6.9 in 30 steps.'"
        )
    folder = Path(directory or run_dir()) / "figures" / IMAGES
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{section}--{name}.png"
    figure.savefig(target, format="png", dpi=110, bbox_inches="tight")
    atomic_write_text(
        target.with_suffix(".json"),
        json.dumps({"alt": alt.strip(), "caption": caption}, ensure_ascii=False),
    )
    return target


def collect(directory: str | Path | None = None) -> dict[str, Any]:
    """Every recorded section of a run, by name."""
    folder = Path(directory or run_dir()) / "figures"
    return {
        path.stem: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(folder.glob("*.json"))
    }


def notebook_runs(directory: str | Path) -> list[dict[str, Any]]:
    """Each executed notebook of the run: its HTML page, whether it ran without error and
    how long its cells took (from the timings the executor stores in each cell)."""
    folder = Path(directory)
    runs = []
    for page_path in sorted(folder.glob("[0-9][0-9]_*.html")):
        entry: dict[str, Any] = {
            "name": page_path.stem,
            "html": page_path.name,
            "seconds": None,
            "ok": None,
        }
        executed = page_path.with_suffix(".ipynb")
        if executed.exists():
            try:
                cells = json.loads(executed.read_text(encoding="utf-8")).get("cells", [])
            except (OSError, ValueError):
                cells = []
            stamps = []
            for cell in cells:
                timing = cell.get("metadata", {}).get("execution", {})
                for key in ("iopub.status.busy", "shell.execute_reply"):
                    if key in timing:
                        stamps.append(datetime.fromisoformat(timing[key].replace("Z", "+00:00")))
            if stamps:
                entry["seconds"] = round((max(stamps) - min(stamps)).total_seconds(), 1)
            entry["ok"] = not any(
                output.get("output_type") == "error"
                for cell in cells
                for output in cell.get("outputs", [])
            )
        runs.append(entry)
    return runs


def _recorded_images(folder: Path) -> dict[str, list[str]]:
    """HTML for the pictures notebooks recorded, by section."""
    from helpers.report.charts import Chart

    found: dict[str, list[str]] = {}
    for picture in sorted((folder / "figures" / IMAGES).glob("*--*.png")):
        section = picture.stem.split("--", 1)[0]
        texts_path = picture.with_suffix(".json")
        texts = json.loads(texts_path.read_text(encoding="utf-8")) if texts_path.exists() else {}
        alt = texts.get("alt") or f"Figure {picture.stem.split('--', 1)[1].replace('_', ' ')}"
        source = picture.relative_to(folder).as_posix()
        found.setdefault(section, []).append(chart(Chart(source, alt, texts.get("caption", ""))))
    return found


def _notebooks_html(runs: list[dict[str, Any]]) -> str:
    if not runs:
        return missing("executed notebooks", "`make run` writes one HTML page per notebook here.")
    items = []
    for run in runs:
        took = f", {duration(run['seconds'])}" if run["seconds"] is not None else ""
        status = " <span class='bad'>failed</span>" if run["ok"] is False else ""
        items.append(f"<li><a href='{esc(run['html'])}'>{esc(run['name'])}</a>{took}{status}</li>")
    total = sum(r["seconds"] or 0 for r in runs)
    return (
        f"<p>Each page is the notebook as it ran, with its outputs ({duration(total)} of "
        f"cells in all).</p><ul class='runs'>{''.join(items)}</ul>"
    )


def render(summary: dict[str, Any], folder: Path) -> str:
    """The report page for ``summary`` (charts are saved under ``folder/figures``)."""
    charts_folder = folder / "figures"
    images = _recorded_images(folder)
    quick = (summary.get("environment") or {}).get("quick_mode")
    title = "GPT-2 Lab: the course, executed" + (" (quick mode)" if quick else "")
    body = [f"<h1>{esc(title)}</h1>"]
    if quick:
        body.append("<p class='muted'>Quick mode: less data and fewer steps than a full run.</p>")
    body.append(headline.banner(summary))
    body.append(headline.headline(summary, charts_folder))
    body += ["<h2 id='training'>Training</h2>", headline.training_section(summary, charts_folder)]
    body += images.pop("training", [])
    body += ["<h2 id='decoding'>Decoding</h2>", results.decoding_section(summary, charts_folder)]
    body += images.pop("decoding", []) + images.pop("evaluation", [])
    body += ["<h2 id='samples'>Samples side by side</h2>", results.samples_section(summary)]
    body += [
        "<h2 id='refinement'>Refinement</h2>",
        results.refinement_section(summary, charts_folder),
    ]
    body += images.pop("refinement", [])
    body += ["<h2 id='deployment'>Deployment</h2>", results.deployment_section(summary)]
    body += images.pop("deployment", [])
    others = {
        k: v
        for k, v in summary.items()
        if k not in SECTIONS and k not in ("notebooks", "notebook_runs")
    }
    if others or images:
        body.append("<h2 id='more'>Also recorded</h2>")
        body += [results.other_section(name, value) for name, value in others.items()]
        body += [html for pictures in images.values() for html in pictures]
    body += [
        "<h2 id='notebooks'>The notebooks</h2>",
        _notebooks_html(summary.get("notebook_runs", [])),
    ]
    absent = [
        f"{name} (notebook {notebook})"
        for key, (name, notebook) in SECTIONS.items()
        if key not in summary
    ]
    if absent:
        body.append(missing(", ".join(absent), "Did those notebooks run to the end?"))
    environment = summary.get("environment")
    body.append("<h2 id='environment'>Environment</h2>")
    body.append(
        f"<details><summary>Versions, device and modes</summary>{generic(environment)}</details>"
        if environment
        else missing("the environment", "Notebook 01 records it as 'environment'.")
    )
    return page(title, body)


def build_report(directory: str | Path | None = None) -> tuple[Path, Path]:
    """Write ``summary.json`` and ``index.html`` for the run in ``directory``."""
    folder = Path(directory or run_dir())
    figures = collect(folder)
    runs = notebook_runs(folder)
    summary = {"notebooks": [r["html"] for r in runs], "notebook_runs": runs, **figures}
    summary_path = atomic_write_text(
        folder / "summary.json", json.dumps(summary, indent=1, ensure_ascii=False)
    )
    index_path = atomic_write_text(folder / "index.html", render(summary, folder))
    return index_path, summary_path


__all__ = ["build_report", "collect", "record", "record_figure", "render", "run_dir"]
