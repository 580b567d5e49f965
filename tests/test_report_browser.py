"""The run report in a real headless Chromium: its headline figures are summary.json's,
nothing overflows the page at desktop and phone widths, and every figure has alt text."""

import json
import shutil
from pathlib import Path

import pytest
from test_app_browser import CHROMIUM_ARGS

from helpers.report import build_report, record
from helpers.report.formatting import duration, number

FIXTURE = Path(__file__).parent / "fixtures" / "report_run"
WIDTHS = (1280, 390)


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[Path, dict]:
    """A quick run's recorded figures, plus what stresses a layout: a long greedy loop, a
    long unbroken line, prompts, an executed notebook, a section nobody described."""
    folder = tmp_path_factory.mktemp("report") / "run"
    shutil.copytree(FIXTURE, folder)
    evaluation = json.loads((folder / "figures" / "evaluation.json").read_text())
    evaluation["samples"]["greedy"] = ["IUS.\n" * 60, "x" * 400]
    evaluation["sample_prompts"] = ["KING HENRY:\n", "A very long prompt " * 8 + "\n"]
    record("evaluation", evaluation, folder)
    record(
        "probing",
        {
            "a_rather_long_key_name_with_many_words": "y" * 300,
            "rows": [{f"column_{i}": i * 1000.5 for i in range(14)}],
        },
        folder,
    )
    cells = [
        {
            "cell_type": "code",
            "outputs": [],
            "metadata": {
                "execution": {
                    "iopub.status.busy": "2026-11-28T04:27:10.0Z",
                    "shell.execute_reply": "2026-11-28T04:29:15.5Z",
                }
            },
        }
    ]
    (folder / "03_fine_tuning.ipynb").write_text(json.dumps({"cells": cells}))
    (folder / "03_fine_tuning.html").write_text("<html><body>notebook</body></html>")
    index, summary = build_report(folder)
    return index, json.loads(summary.read_text())


def _lookup(summary: dict, key: str):
    value = summary
    for part in key.split("."):
        value = value[part]
    return value


OVERFLOW = """() => {
  document.querySelectorAll('details').forEach(d => d.open = true);
  const width = document.documentElement.clientWidth;
  const bad = [];
  for (const el of document.body.querySelectorAll('*')) {
    if (el.closest('.scroll') && !el.classList.contains('scroll')) continue;  // scrolls in its box
    const box = el.getBoundingClientRect();
    const spills = getComputedStyle(el).overflowX === 'visible'
      && el.scrollWidth > el.clientWidth + 1 && el.clientWidth > 0;  // text wider than its element
    if (box.width && (box.right > width + 0.5 || box.left < -0.5 || spills))
      bad.push(`${el.tagName}.${el.className} ${Math.round(box.left)}..${Math.round(box.right)}`);
  }
  return {width, scroll: document.documentElement.scrollWidth, bad: bad.slice(0, 10)};
}"""


@pytest.mark.parametrize("width", WIDTHS)
def test_report_in_a_real_browser(chromium, report, width):
    from playwright.sync_api import sync_playwright

    index, summary = report
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": width, "height": 900})
        requests: list[str] = []
        page.on("request", lambda request: requests.append(request.url))
        page.goto(index.as_uri(), wait_until="load")

        # the headline's figures are the recorded ones, formatted for people
        figures = page.eval_on_selector_all(
            "#headline data[data-key]",
            "els => els.map(e => [e.dataset.key, e.getAttribute('value'), e.textContent])",
        )
        keys = {key for key, _, _ in figures}
        for needed in (
            "training.validation_before.perplexity",
            "training.validation_after.perplexity",
            "training.validation_before.bits_per_char",
            "training.validation_after.bits_per_char",
        ):
            assert needed in keys, f"{needed} missing from the headline"
        for key, value, text in figures:
            recorded = _lookup(summary, key)
            assert float(value) == recorded, key
            assert text in (number(recorded), duration(recorded)), (key, text)
        headline = page.inner_text("#headline")
        assert "50,257" in headline and "bits per character" in headline

        # nothing wider than the page: tables scroll inside their own box
        layout = page.evaluate(OVERFLOW)
        assert layout["scroll"] <= layout["width"], layout
        assert not layout["bad"], layout["bad"]

        # every figure has alt text and was loaded from the run's folder
        images = page.eval_on_selector_all(
            "img", "els => els.map(e => [e.getAttribute('src'), e.alt, e.naturalWidth])"
        )
        assert len(images) >= 4, images
        for src, alt, natural_width in images:
            assert src.startswith("figures/") and natural_width > 0, src
            assert len(alt.split()) >= 8, f"{src}: alt text too thin: {alt!r}"
        assert all(url.startswith("file://") for url in requests), requests

        # the notebook link, with its run time; the environment comes last, folded
        assert page.inner_text("a[href='03_fine_tuning.html']") == "03_fine_tuning"
        assert "2 min 06 s" in page.inner_text("#notebooks + p + ul")
        last = page.evaluate("() => document.querySelector('main').lastElementChild.tagName")
        assert last == "DETAILS"
        page.screenshot(path=str(index.parent / f"report-{width}.png"), full_page=True)
        browser.close()
