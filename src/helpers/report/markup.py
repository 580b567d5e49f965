"""HTML building blocks of the run report: escaping, tables in their own scroll box,
figures with alt text, generated samples, and the page with its stylesheet.

The page is static: no script, no external resource, so it opens offline from disk.
Colours are chosen for contrast (tests/test_report_page.py computes their ratios).
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from string import Template
from typing import Any

from helpers.report.charts import Chart
from helpers.report.formatting import (
    MISSING,
    humanize,
    is_number,
    number,
    visible_lines,
)

# text and background colours of the page, checked for contrast by the tests
COLOURS = {
    "text": "#1b1b1f",
    "background": "#ffffff",
    "muted": "#4a4f57",
    "link": "#0b57a8",
    "banner_text": "#5c1a00",
    "banner_background": "#fff1e0",
    "info_text": "#0d3a63",
    "info_background": "#e8f1fb",
    "mark": "#6b6f76",
    "sample_background": "#f4f5f7",
    "best_background": "#e6f4ea",
    "border": "#c9ccd1",
}

CSS = Template("""
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;overflow-wrap:break-word;
 font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif;
 color:$text;background:$background}
main{max-width:72rem;margin:0 auto;padding:1rem 1rem 3rem}
h1{font-size:1.6rem;line-height:1.25;margin:.5rem 0 .25rem}
h2{font-size:1.3rem;margin:2.2rem 0 .6rem;padding-top:.6rem;border-top:1px solid $border}
h3{font-size:1.05rem;margin:1.4rem 0 .4rem}
p{margin:.5rem 0;max-width:70ch}
a{color:$link}
code{font-family:ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:.9em;
 overflow-wrap:anywhere}
.muted,figcaption,.note{color:$muted}
.banner{border-left:.35rem solid currentColor;padding:.7rem 1rem;margin:1rem 0;
 border-radius:.25rem}
.banner.warn{color:$banner_text;background:$banner_background}
.banner.info{color:$info_text;background:$info_background}
.lede{font-size:1.05rem;max-width:75ch}
.stats{display:grid;grid-template-columns:repeat(auto-fit,minmax(10rem,1fr));gap:.6rem;
 margin:.6rem 0;padding:0}
.stats div{border:1px solid $border;border-radius:.4rem;padding:.35rem .7rem}
.stats dt{font-size:.85rem;color:$muted}
.stats dd{margin:0;font-size:1.25rem;font-weight:600}
.stats dd small{font-size:.8rem;font-weight:400;color:$muted}
.headline{display:grid;grid-template-columns:minmax(0,1.5fr) minmax(0,1fr);gap:1.2rem;
 align-items:start}
@media (max-width:52rem){.headline{grid-template-columns:minmax(0,1fr)}}
figure{margin:.8rem 0;max-width:100%}
figure img{display:block;max-width:100%;height:auto;border:1px solid $border;
 border-radius:.25rem}
figcaption{font-size:.9rem;margin-top:.3rem}
.scroll{max-width:100%;overflow-x:auto;margin:.6rem 0;border:1px solid $border;
 border-radius:.25rem}
.scroll:focus{outline:2px solid $link}
table{border-collapse:collapse;width:100%;font-size:.92rem}
caption{text-align:left;padding:.4rem .6rem;color:$muted;font-size:.88rem}
th,td{padding:.35rem .6rem;text-align:left;vertical-align:top;border-top:1px solid $border}
thead th{border-top:0;background:$sample_background;font-weight:600}
th small{display:block;font-weight:400;color:$muted}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.best td,tr.best th{background:$best_background}
.samples td,.samples th{min-width:11rem;max-width:22rem}
pre.sample{margin:0;padding:.35rem .5rem;background:$sample_background;border-radius:.25rem;
 white-space:pre-wrap;overflow-wrap:anywhere;
 font:.85rem/1.4 ui-monospace,"DejaVu Sans Mono",monospace}
.ws{color:$mark}
.more{display:block;font-size:.8rem;color:$muted;margin-top:.15rem}
dl.legend{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:.15rem .8rem;
 font-size:.9rem}
dl.legend dt{font-weight:600}
dl.legend dd{margin:0}
@media (max-width:36rem){dl.legend{grid-template-columns:minmax(0,1fr)}
 dl.legend dd{margin-bottom:.4rem}}
details{margin:.8rem 0}
summary{cursor:pointer;font-weight:600}
.missing{border:1px dashed $border;padding:.5rem .8rem;border-radius:.25rem;color:$muted}
ul.runs{padding-left:1.2rem}
.bad{color:$banner_text;font-weight:600}
""").substitute(COLOURS)


def esc(value: Any) -> str:
    """Text made safe for HTML."""
    return html.escape(str(value), quote=True)


def figure(value: Any, key: str, text: str | None = None) -> str:
    """A figure that the tests can read back: ``<data value=...>`` holds the recorded
    number, ``data-key`` says where it comes from in ``summary.json``."""
    shown = number(value) if text is None else text
    if not is_number(value) or (isinstance(value, float) and not math.isfinite(value)):
        return esc(shown)
    return f"<data value='{esc(repr(value))}' data-key='{esc(key)}'>{esc(shown)}</data>"


def chart(chart: Chart | None) -> str:
    if chart is None:
        return ""
    return (
        f"<figure><img src='{esc(chart.src)}' alt='{esc(chart.alt)}'>"
        f"<figcaption>{esc(chart.caption)}</figcaption></figure>"
    )


def table(
    header: Sequence[str],
    rows: Iterable[Sequence[str]],
    caption: str,
    numeric: Sequence[bool] | None = None,
    row_classes: Sequence[str] | None = None,
    css_class: str = "",
) -> str:
    """A table inside its own horizontally scrolling box (the page never scrolls
    sideways). Cells are HTML already; the first cell of each row is its header."""
    numeric = list(numeric or [False] * len(header))
    head = "".join(
        f"<th scope='col'{' class=num' if n else ''}>{h}</th>"
        for h, n in zip(header, numeric, strict=True)
    )
    body = []
    for index, row in enumerate(rows):
        cells = []
        for position, (cell, is_num) in enumerate(zip(row, numeric, strict=True)):
            tag = "th scope='row'" if position == 0 else "td"
            cells.append(f"<{tag}{' class=num' if is_num else ''}>{cell}</{tag.split()[0]}>")
        kind = row_classes[index] if row_classes and row_classes[index] else ""
        body.append(f"<tr{f' class={kind}' if kind else ''}>{''.join(cells)}</tr>")
    return (
        f"<div class='scroll' role='region' tabindex='0' aria-label='{esc(caption)}'>"
        f"<table class='{css_class}'><caption>{esc(caption)}</caption><thead><tr>{head}</tr>"
        f"</thead><tbody>{''.join(body)}</tbody></table></div>"
    )


def sample(text: Any, max_lines: int = 6) -> str:
    """Generated text, cut to ``max_lines`` lines, whitespace visible but compact."""
    if not isinstance(text, str):
        return f"<span class='muted'>{MISSING}</span>"
    cut = visible_lines(text, max_lines=max_lines)
    if not cut.lines:
        return "<pre class='sample'><span class='ws'>(nothing)</span></pre>"
    shown = re.sub(
        r"(↵(?: ×[\d,]+)?|·+|→)", r"<span class='ws'>\1</span>", esc("\n".join(cut.lines))
    )
    more = ""
    if cut.hidden_lines:
        plural = "s" * (cut.hidden_lines != 1)
        more = f"<span class='more'>… {cut.hidden_lines:,} more line{plural}</span>"
    elif cut.cut:
        more = "<span class='more'>… cut</span>"
    return f"<pre class='sample'>{shown}</pre>{more}"


def also_recorded(section: Mapping[str, Any], known: Iterable[str]) -> str:
    """The keys of a section no part of the page describes, folded (``""`` when none)."""
    known = set(known)
    extra = {key: value for key, value in section.items() if key not in known}
    return f"<details><summary>Also recorded</summary>{generic(extra)}</details>" if extra else ""


def generic(value: Any, depth: int = 0) -> str:
    """Any recorded value, readably: dicts as definition lists, lists of dicts as tables,
    text with line breaks as a sample, numbers formatted."""
    if isinstance(value, Mapping):
        if not value:
            return MISSING
        items = "".join(
            f"<dt>{esc(humanize(k))}</dt><dd>{generic(v, depth + 1)}</dd>" for k, v in value.items()
        )
        return f"<dl class='legend'>{items}</dl>"
    if isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
        keys = list(dict.fromkeys(k for v in value for k in v))
        rows = [[generic(v.get(k), depth + 1) for k in keys] for v in value]
        numeric = [all(is_number(v.get(k)) for v in value) for k in keys]
        return table([esc(humanize(k)) for k in keys], rows, "Recorded values", numeric)
    if isinstance(value, list):
        if len(value) > 12:
            shown = ", ".join(generic(v, depth + 1) for v in value[:12])
            return f"{shown}, … ({len(value):,} values)"
        return ", ".join(generic(v, depth + 1) for v in value) or MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if is_number(value):
        return esc(number(value))
    if value is None:
        return MISSING
    text = str(value)
    if "\n" in text:
        return sample(text, max_lines=12)
    return esc(text)


def missing(what: str, hint: str) -> str:
    return f"<p class='missing'>Not recorded in this run: {esc(what)}. {esc(hint)}</p>"


def page(title: str, body: Sequence[str]) -> str:
    return (
        "<!doctype html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body><main>\n"
        + "\n".join(body)
        + "\n</main></body></html>\n"
    )
