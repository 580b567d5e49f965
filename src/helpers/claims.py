"""Figures stated in a notebook's prose, checked against what the executed notebook printed.

Most sentences that give a figure of the run are built from the result
(``display(Markdown(f"..."))``) and cannot drift. The rest are listed in :data:`CLAIMS`:
for each, a pattern that finds the figure in the notebook's markdown and a pattern that
finds the same figure in the cells' outputs. :func:`check_executed` reads an executed
notebook and returns every claim whose two figures disagree, or whose sentence or output
is missing (the table is then out of date). ``make run`` and the tests call it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Claim:
    """A figure stated in prose (``prose``) that an output shows (``output``).

    Both patterns are regular expressions. ``output`` has a group ``(?P<value>...)``
    holding a number. When ``prose`` has one too, they agree when
    ``|stated - shown| <= absolute + relative * |shown|``; when the prose states the
    figure in words ("almost a third"), ``low <= shown <= high`` says what the words mean.
    """

    name: str
    prose: str
    output: str
    absolute: float = 0.0
    relative: float = 0.0
    low: float = -math.inf
    high: float = math.inf

    def agrees(self, stated: float | None, shown: float) -> bool:
        if not self.low <= shown <= self.high:
            return False
        return stated is None or abs(stated - shown) <= self.absolute + self.relative * abs(shown)


_NUMBER = r"(?P<value>[\d,]+(?:\.\d+)?)"

CLAIMS: dict[str, tuple[Claim, ...]] = {
    "01_setup_and_model": (
        Claim(
            "embedding share of gpt2",
            prose=r"almost a third of the model",
            output=r"gpt2's token embedding: [\d,]+ weights, (?P<value>\d+)% of the model",
            low=28,
            high=33.3,
        ),
        Claim(
            "vocabulary size",
            prose=r"vocabulary of \$V = 50\{,\}257\$",
            output=r"vocabulary size: (?P<value>\d+)",
            low=50257,
            high=50257,
        ),
    ),
    "02_dataset": (
        Claim(
            "number of merges",
            prose=r"\$256 \+ (?P<value>50\{,\}000) \+ 1",
            output=r"(?P<value>[\d,]+) merges; the first five",
        ),
        Claim(
            "padding wastes most of the compute",
            prose=r"wastes most of the",
            output=r"padded lines : [\d,]+ examples, (?P<value>[\d.]+)% padding",
            low=50,
            high=100,
        ),
    ),
    "03_fine_tuning": (
        Claim(
            "loss of a uniform guess",
            prose=r"\\ln V \\approx (?P<value>\d+\.\d+)",
            output=r"loss ln V = (?P<value>\d+\.\d+)",
            absolute=0.005,
        ),
    ),
    "04_decoding": (
        Claim(
            "greedy sentence probability",
            prose=r"\$0\.5 \\times 0\.4 = (?P<value>0\.\d+)\$",
            output=r"greedy\s+The cat sat\s+p = (?P<value>\d\.\d+)",
            absolute=0.005,
        ),
        Claim(
            "best sentence probability",
            prose=r"\$0\.4 \\times 0\.9 = (?P<value>0\.\d+)\$",
            output=r"best\s+The storm broke\s+p = (?P<value>\d\.\d+)",
            absolute=0.005,
        ),
        Claim(
            "softmax at T = 1",
            prose=r"at \$T=1\$, \$p = \((?P<value>[\d.]+),",
            output=r"T = 1\.0: p = \[(?P<value>[\d.]+),",
            absolute=5e-4,
        ),
        Claim(
            "softmax at T = 2",
            prose=r"at \$T=2\$, \$p = \((?P<value>[\d.]+),",
            output=r"T = 2\.0: p = \[(?P<value>[\d.]+),",
            absolute=5e-4,
        ),
    ),
    "05_evaluation": (
        Claim(
            "perplexity of a uniform guess",
            prose=r"vocabulary has perplexity " + _NUMBER,
            output=r"uniform over\s+50257 tokens: H = [\d.]+ nats, PPL =\s+(?P<value>[\d.]+)",
            relative=1e-4,
        ),
    ),
}
"""Checkable claims by notebook stem (``"03_fine_tuning"``)."""


def _text(value: str | list[str]) -> str:
    return "".join(value) if isinstance(value, list) else value


def markdown_text(notebook: Mapping) -> str:
    """All markdown cells of a notebook (nbformat dict), one after another."""
    return "\n\n".join(
        _text(cell.get("source", ""))
        for cell in notebook["cells"]
        if cell["cell_type"] == "markdown"
    )


def output_text(notebook: Mapping) -> str:
    """Everything the code cells printed or displayed as text or markdown."""
    parts: list[str] = []
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            if "text" in output:
                parts.append(_text(output["text"]))
            data = output.get("data", {})
            for kind in ("text/markdown", "text/plain"):
                if kind in data:
                    parts.append(_text(data[kind]))
    return "\n".join(parts)


def _number(text: str) -> float:
    return float(text.replace("{,}", "").replace(",", "").replace("\u202f", ""))


def problems_in(notebook: Mapping, claims: Iterable[Claim]) -> list[str]:
    """One line per claim that is missing from the prose or outputs, or disagrees."""
    prose, outputs = markdown_text(notebook), output_text(notebook)
    problems = []
    for claim in claims:
        said = re.search(claim.prose, prose)
        shown = re.search(claim.output, outputs)
        if said is None:
            problems.append(f"{claim.name}: the prose no longer says it ({claim.prose!r})")
        elif shown is None:
            problems.append(f"{claim.name}: no output shows it ({claim.output!r})")
        else:
            stated_text = said.groupdict().get("value")
            stated = _number(stated_text) if stated_text is not None else None
            value = _number(shown["value"])
            if math.isnan(value) or not claim.agrees(stated, value):
                problems.append(
                    f"{claim.name}: the prose says {said.group(0).strip()!r} but the output "
                    f"shows {shown['value']} ({shown.group(0).strip()!r})"
                )
    return problems


def check_executed(
    path: str | Path, claims: Mapping[str, tuple[Claim, ...]] | None = None
) -> list[str]:
    """Problems with the claims of one executed notebook (``NN_topic.ipynb`` or
    ``NN_topic.executed.ipynb``); an empty list when every stated figure is shown."""
    import nbformat

    path = Path(path)
    stem = path.name.split(".")[0]
    table = CLAIMS if claims is None else claims
    notebook = nbformat.read(path, as_version=4)
    return [f"{path.name}: {line}" for line in problems_in(notebook, table.get(stem, ()))]
