import matplotlib

matplotlib.use("Agg")

from helpers.plots import length_histogram, padding_vs_packing  # noqa: E402


def test_length_histogram_counts_every_document():
    lengths = [10, 100, 1000, 1000, 50_000]
    figure = length_histogram(lengths)
    bars = figure.axes[0].patches
    assert sum(bar.get_height() for bar in bars) == len(lengths)
    assert figure.axes[0].get_xscale() == "log"


def test_padding_vs_packing_shows_both_shares():
    figure = padding_vs_packing(0.9, 0.001)
    labels = [text.get_text() for text in figure.axes[0].texts]
    assert labels == ["0.1% wasted", "90.0% wasted"]
