"""The notebook harness: pairs of ``NN_topic.py`` / ``NN_topic.ipynb``, checked and executed.

The jupytext script (``py:percent``) is the source that is edited; the ``.ipynb`` is
generated from it (``make notebooks``) and committed without outputs. This module finds
the pairs, reports any pair that is missing, out of sync or carries outputs, checks that
every notebook starts with the same bootstrap cell, and executes notebooks headless into a
folder with an HTML export of each (what ``make run`` does).
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

NOTEBOOK_NAME = re.compile(r"^\d\d_[a-z0-9_]+$")
BOOTSTRAP_MARKER = "# GPT-2 Lab bootstrap"


@dataclass(frozen=True)
class CellSummary:
    """What must agree between a script and its notebook: type, source, tags."""

    cell_type: str
    source: str
    tags: tuple[str, ...]


def _summarise(path: Path) -> list[CellSummary]:
    import jupytext

    notebook = jupytext.read(path)
    return [
        CellSummary(cell.cell_type, cell.source.strip(), tuple(cell.metadata.get("tags", ())))
        for cell in notebook.cells
    ]


def numbered_stems(directory: Path) -> list[str]:
    """Stems (``01_setup_and_model``) of every numbered script or notebook, sorted."""
    stems = {p.stem for p in directory.glob("[0-9][0-9]_*") if p.suffix in {".py", ".ipynb"}}
    return sorted(stems)


def _has_outputs(path: Path) -> bool:
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    return any(
        cell.get("outputs") or cell.get("execution_count")
        for cell in notebook.cells
        if cell.cell_type == "code"
    )


def first_code_cell(path: Path) -> str:
    """Source of the first code cell of a notebook or script ('' when it has none)."""
    for cell in _summarise(path):
        if cell.cell_type == "code":
            return cell.source
    return ""


def _unreadable(path: Path, error: Exception) -> str:
    """The problem line for a script or notebook that cannot be read as a notebook."""
    text = str(error).strip()
    detail = text.splitlines()[0][:120] if text else type(error).__name__
    fix = "regenerate it from its script with `make notebooks`"
    if path.suffix == ".py":
        fix = "fix the script (the .py is the source; the .ipynb is made from it)"
    return f"{path} cannot be read as a notebook ({detail}): {fix}."


def check_notebooks(directory: str | Path) -> list[str]:
    """Every problem with the notebook pairs in ``directory``; an empty list means all good."""
    directory = Path(directory)
    problems: list[str] = []
    stems = numbered_stems(directory)
    if not stems:
        return [f"No numbered notebooks (NN_topic.py / NN_topic.ipynb) found in {directory}."]
    for stem in stems:
        script, notebook = directory / f"{stem}.py", directory / f"{stem}.ipynb"
        if not NOTEBOOK_NAME.match(stem):
            problems.append(f"{stem}: name it NN_topic in lower case, e.g. 02_dataset.")
        if not script.exists():
            problems.append(f"{notebook.name} has no paired script {script.name}.")
            continue
        if not notebook.exists():
            problems.append(
                f"{script.name} has no paired notebook: run `make notebooks` to create it."
            )
            continue
        cells = {}
        for path in (script, notebook):
            try:
                cells[path] = _summarise(path)
            except Exception as error:  # e.g. an .ipynb that is not JSON: name the file
                problems.append(_unreadable(path, error))
        if len(cells) < 2:
            continue
        script_cells, notebook_cells = cells[script], cells[notebook]
        if script_cells != notebook_cells:
            where = next(
                (
                    i
                    for i, (a, b) in enumerate(zip(script_cells, notebook_cells, strict=False))
                    if a != b
                ),
                min(len(script_cells), len(notebook_cells)),
            )
            problems.append(
                f"{notebook.name} is out of sync with {script.name} (first difference at "
                f"cell {where + 1}): edit the .py and run `make notebooks`."
            )
        if _has_outputs(notebook):
            problems.append(
                f"{notebook.name} has outputs committed: run `make notebooks` to regenerate it."
            )
        bootstrap = first_code_cell(script)
        if not bootstrap.startswith(BOOTSTRAP_MARKER):
            problems.append(
                f"{script.name}: the first code cell must be the bootstrap cell "
                f"(starting with '{BOOTSTRAP_MARKER}')."
            )
    bootstraps = {}
    for stem in stems:
        if (directory / f"{stem}.py").exists():
            with contextlib.suppress(Exception):  # an unreadable script is reported above
                bootstraps[stem] = first_code_cell(directory / f"{stem}.py")
    scripts = list(bootstraps)
    reference = scripts[0] if scripts else None
    for stem, source in bootstraps.items():
        if source.startswith(BOOTSTRAP_MARKER) and source != bootstraps[reference]:
            problems.append(
                f"{stem}.py: its bootstrap cell differs from {reference}.py's; "
                f"every notebook must start with the same one."
            )
    return problems


@dataclass(frozen=True)
class NotebookRun:
    """Outcome of executing one notebook."""

    name: str
    ok: bool
    seconds: float
    executed: Path
    html: Path | None
    error: str = ""


def execute_notebooks(
    notebooks: Iterable[str | Path],
    output_dir: str | Path,
    timeout: int = 1800,
    stop_on_error: bool = True,
) -> list[NotebookRun]:
    """Execute notebooks in order with the current Python's kernel; write each executed
    notebook and its HTML export into ``output_dir``. Prints one line per notebook."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    from nbconvert import HTMLExporter

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    paths = [Path(p) for p in notebooks]
    runs: list[NotebookRun] = []
    for index, path in enumerate(paths, start=1):
        print(f"[{index}/{len(paths)}] {path.name} ...", end=" ", flush=True)
        try:
            notebook = nbformat.read(path, as_version=4)
        except Exception as error:  # not JSON, or not a notebook: name the file
            print("FAILED", flush=True)
            raise ValueError(_unreadable(path, error)) from error
        client = NotebookClient(
            notebook,
            timeout=timeout,
            kernel_name="python3",
            resources={"metadata": {"path": str(path.parent.resolve())}},
            # the kernel's start-up notice about TCP is harmless; keep the progress lines clean
            extra_arguments=["--IPKernelApp.log_level=ERROR"],
        )
        start = time.perf_counter()
        error = ""
        try:
            client.execute()
        except CellExecutionError as failure:
            error = str(failure).strip().splitlines()[-1] if str(failure).strip() else "error"
        seconds = time.perf_counter() - start
        executed = output_dir / path.name
        nbformat.write(notebook, executed)
        html_body, _ = HTMLExporter().from_notebook_node(notebook)
        html = executed.with_suffix(".html")
        html.write_text(html_body, encoding="utf-8")
        runs.append(NotebookRun(path.stem, not error, seconds, executed, html, error))
        print(f"{'ok' if not error else 'FAILED'} ({seconds:.1f} s)", flush=True)
        if error:
            print(f"    {error}\n    see {html}", flush=True)
            if stop_on_error:
                break
    return runs
