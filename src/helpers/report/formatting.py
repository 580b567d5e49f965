"""Numbers, durations and generated text written for people, and the names of metrics.

The run report never shows a raw key or an unformatted float: every value goes through
one of these functions, and every metric column through :data:`METRICS` (label, unit,
a one-line legend). Unknown keys fall back to :func:`humanize`.
"""

from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass
from typing import Any

MISSING = "–"


def is_number(value: Any) -> bool:
    """True for ints and floats (bools excluded: they are flags, not figures)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def number(value: Any, digits: int | None = None) -> str:
    """A figure for people: thousands separators, precision that suits its size.

    ``digits`` forces that many decimals. Otherwise integers keep all their digits
    (``13,278,976``), floats of 1,000 and more none (``50,257``), of 100 and more none,
    of 10 and more one, of 1 and more two, and smaller ones three significant digits.
    NaN and None read as a dash.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    if not is_number(value):
        raise TypeError(f"number() formats ints and floats, not {type(value).__name__}")
    if isinstance(value, float) and math.isinf(value):
        return "∞" if value > 0 else "−∞"
    if digits is not None:
        return f"{value:,.{digits}f}".replace("-", "−")
    if isinstance(value, int):
        return f"{value:,}".replace("-", "−")
    size = abs(value)
    if size >= 100 or size == 0:
        text = f"{value:,.0f}"
    elif size >= 10:
        text = f"{value:,.1f}"
    elif size >= 1:
        text = f"{value:,.2f}"
    else:
        text = f"{value:.3g}"
    return text.replace("-", "−")


def count(value: int | float | None) -> str:
    """A large count in words: ``13.3 M``, ``124 k``; below 10,000 all digits."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    size = abs(value)
    for limit, divisor, suffix in ((1e9, 1e9, " B"), (1e6, 1e6, " M"), (1e4, 1e3, " k")):
        if size >= limit:
            scaled = value / divisor
            return f"{scaled:,.1f}{suffix}" if abs(scaled) < 100 else f"{scaled:,.0f}{suffix}"
    return number(int(round(value)))


def percent(value: float | None, digits: int = 1) -> str:
    """A share (0–1) as a percentage: ``0.9265`` → ``92.7 %``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    return f"{100 * value:.{digits}f} %"


def duration(seconds: float | None) -> str:
    """Seconds as a person says them: ``0.4 s``, ``2.5 s``, ``47 s``, ``2 min 05 s``,
    ``1 h 02 min``."""
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return MISSING
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    whole = int(round(seconds))
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


ACRONYMS = {
    "ppl": "PPL",
    "ms": "ms",
    "gb": "GB",
    "bf16": "bf16",
    "fp16": "fp16",
    "gpu": "GPU",
    "cpu": "CPU",
    "hf": "HF",
    "js": "JS",
    "bleu": "BLEU",
    "lr": "LR",
    "id": "ID",
}


def humanize(key: str) -> str:
    """A recorded key as words: ``time_to_first_token_ms`` → ``Time to first token (ms)``."""
    words = [w for w in re.split(r"[_\s]+", str(key).strip()) if w]
    if not words:
        return str(key)
    unit = ""
    if len(words) > 1 and words[-1] in ("ms", "s", "seconds", "gb"):
        unit = f" ({ACRONYMS.get(words[-1], words[-1])})"
        words = words[:-1]
    words = [ACRONYMS.get(w.lower(), w) for w in words]
    text = " ".join(words)
    return text[:1].upper() + text[1:] + unit


@dataclass(frozen=True)
class Metric:
    """How the report shows one metric column: its header, unit, formatter and legend."""

    label: str
    unit: str
    legend: str
    kind: str = "number"  # number | percent | integer
    better: str = ""  # "lower", "higher" or "" (closer to human text, or no direction)

    def format(self, value: Any) -> str:
        if not is_number(value):
            return MISSING if value is None else html.escape(str(value))
        if self.kind == "percent":
            return percent(value)
        if self.kind == "integer":
            return number(int(round(value)))
        return number(value)


METRICS: dict[str, Metric] = {
    "runs": Metric(
        "Runs",
        "seeds",
        "how many seeded runs the row averages (sampling varies "
        "with the seed; ± is half the range over them)",
        kind="integer",
    ),
    "tokens": Metric("Length", "tokens", "mean number of new tokens per continuation"),
    "perplexity": Metric(
        "Perplexity of the samples",
        "",
        "how unsurprising the continuations are to the "
        "model that wrote them (e^loss per token); very low means dull, repetitive text",
    ),
    "ppl_gap": Metric(
        "Distance from human perplexity",
        "|Δ log PPL|",
        "how far the continuations' perplexity is from that of human text, on a log scale",
        better="lower",
    ),
    "reference_perplexity": Metric(
        "Perplexity under the base model",
        "",
        "the continuations scored by the model before training: a second opinion on their fluency",
        better="lower",
    ),
    "relevance": Metric(
        "Relevance",
        "nats/token",
        "pointwise mutual information of prompt and "
        "continuation: how much more likely the continuation is after its prompt than "
        "alone",
        better="higher",
    ),
    "coherence": Metric(
        "Coherence",
        "cosine",
        "similarity of the prompt's and the continuation's "
        "embeddings (Su et al., 2022); offline a word-overlap stand-in",
        better="higher",
    ),
    "distinct_2": Metric(
        "Distinct bigrams",
        "share",
        "unique pairs of consecutive tokens ÷ all such pairs",
        better="higher",
    ),
    "rep_2": Metric(
        "Repeated bigrams",
        "%",
        "share of pairs of consecutive tokens that already occurred "
        "earlier in the same continuation",
        better="lower",
    ),
    "rep_4": Metric(
        "Repeated 4-grams", "%", "the same for runs of four tokens: loops", better="lower"
    ),
    "diversity": Metric(
        "Diversity",
        "0–1",
        "product of (1 − rep-n) for n = 2, 3, 4: 1 means no repeated phrase",
        better="higher",
    ),
    "self_bleu": Metric(
        "Self-BLEU",
        "0–100",
        "how much a decoder's continuations resemble one another (BLEU of each against the rest)",
        better="lower",
    ),
    "js_divergence": Metric(
        "Word-use divergence",
        "JS, 0–1",
        "Jensen–Shannon divergence between the continuations' word frequencies and human text's",
        better="lower",
    ),
    "copied_share": Metric(
        "Copied 8-grams",
        "%",
        "share of the continuations' 8-token spans found verbatim in the training data",
        kind="percent",
        better="lower",
    ),
    "longest_copy": Metric(
        "Longest copied span",
        "tokens",
        "the longest run of tokens copied from the training data",
        kind="integer",
        better="lower",
    ),
    "mauve": Metric(
        "MAUVE",
        "0–1",
        "how close the continuations are to human text as distributions (Pillutla et al., 2021)",
        better="higher",
    ),
    "human_perplexity": Metric(
        "Perplexity of human text",
        "",
        "the same model's perplexity on held-out human text: the target for the continuations",
    ),
}
SPREAD_SUFFIX = "_spread"  # a column's interval: half the range over seeds


def metric(key: str) -> Metric:
    """The description of a metric column; an unknown key gets its humanized name."""
    return METRICS.get(key) or Metric(humanize(key), "", "")


NEWLINE_MARK = "↵"
SPACE_MARK = "·"
TAB_MARK = "→"


@dataclass(frozen=True)
class SampleLines:
    """Generated text cut for display: the lines to show and what was left out."""

    lines: list[str]
    hidden_lines: int  # lines of the text not shown at all
    cut: bool  # whether anything of the text is not shown


def _marked(line: str) -> str:
    """Spaces at either end of a line as ``·``, tabs as ``→``."""
    stripped = line.strip(" ")
    if not stripped:
        return SPACE_MARK * len(line)
    start = len(line) - len(line.lstrip(" "))
    end = len(line) - len(line.rstrip(" "))
    return (SPACE_MARK * start + stripped + SPACE_MARK * end).replace("\t", TAB_MARK)


def visible_lines(text: str, max_lines: int = 6, max_chars: int = 320) -> SampleLines:
    """Cut a generated text to ``max_lines`` display lines with its whitespace visible.

    Every line break shows as ``↵``; a run of line breaks with nothing between them
    collapses into one display line ``↵ ×N``; spaces at either end of a line show as
    ``·`` and tabs as ``→``. Past ``max_lines`` lines or ``max_chars`` characters the
    rest is counted, not shown.
    """
    if max_lines < 1 or max_chars < 1:
        raise ValueError(
            f"max_lines and max_chars must be at least 1, not {max_lines}, {max_chars}"
        )
    raw = text.replace("\r\n", "\n").split("\n")
    shown: list[str] = []
    used, index, cut = 0, 0, False
    while index < len(raw) and len(shown) < max_lines and used < max_chars:
        line, last = raw[index], index == len(raw) - 1
        if not line and last:  # the text ends with a line break: already marked
            break
        if not line:  # a run of line breaks with nothing between
            run = 1
            while index + run < len(raw) - 1 and not raw[index + run]:
                run += 1
            shown.append(NEWLINE_MARK if run == 1 else f"{NEWLINE_MARK} ×{run}")
            index += run
            continue
        if len(line) > max_chars - used:
            line, cut = line[: max_chars - used], True
        used += len(line)
        shown.append(_marked(line) + ("…" if cut else "" if last else NEWLINE_MARK))
        index += 1
    rest = raw[index:]
    hidden = len(rest) - (1 if rest and not rest[-1] else 0)
    return SampleLines(shown, hidden, cut or hidden > 0)
