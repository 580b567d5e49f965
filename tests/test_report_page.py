"""The report page's colours meet WCAG 2.1 AA contrast (4.5:1 for text)."""

import pytest

from helpers.report.markup import COLOURS, CSS


def luminance(colour: str) -> float:
    """Relative luminance of a #rrggbb colour (WCAG 2.1)."""
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(first: str, second: str) -> float:
    lighter, darker = sorted((luminance(first), luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def test_the_contrast_formula_matches_known_values():
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)


# (text, background) pairs the stylesheet puts together
PAIRS = [
    ("text", "background"),
    ("muted", "background"),
    ("link", "background"),
    ("banner_text", "banner_background"),
    ("info_text", "info_background"),
    ("text", "sample_background"),
    ("mark", "sample_background"),
    ("muted", "sample_background"),
    ("text", "best_background"),
    ("link", "info_background"),
]


@pytest.mark.parametrize(("text", "background"), PAIRS)
def test_text_colours_have_aa_contrast(text, background):
    ratio = contrast(COLOURS[text], COLOURS[background])
    assert ratio >= 4.5, f"{text} on {background}: {ratio:.2f}:1 < 4.5:1"


def test_the_stylesheet_uses_only_the_checked_colours():
    import re

    used = set(re.findall(r"#[0-9a-fA-F]{6}\b", CSS))
    assert used <= set(COLOURS.values()), used - set(COLOURS.values())
