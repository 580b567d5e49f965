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


def test_sliding_windows_diagram_draws_context_and_scored_parts():
    from helpers.perplexity import sliding_windows
    from helpers.plots import sliding_windows_diagram

    windows = sliding_windows(40, 16, 8)
    figure = sliding_windows_diagram(windows, 40)
    bars = figure.axes[0].patches
    assert len(bars) == 2 * len(windows)
    scored = sum(bar.get_width() for bar in bars[1::2])
    assert scored == 39  # every token but the first, once


def test_metric_bars_and_scatter_have_one_mark_per_decoder():
    from helpers.plots import metric_bars, quality_vs_diversity

    names = ["greedy", "top-p"]
    figure = metric_bars(names, {"distinct-2": [0.2, 0.8], "rep-2": [60, 5]}, {"rep-2": 3})
    assert len(figure.axes) == 2 and len(figure.axes[0].patches) == 2
    scatter = quality_vs_diversity(names, [1.5, 0.2], [0.2, 0.8])
    assert len(scatter.axes[0].texts) == 2
