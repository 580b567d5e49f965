"""The run report: recording, summary.json, and the page built from it (no browser)."""

import json
import shutil
from pathlib import Path

import pytest

from helpers.report import build_report, collect, notebook_runs, record, record_figure, run_dir
from helpers.report.headline import origin

FIXTURE = Path(__file__).parent / "fixtures" / "report_run"


def fixture_run(tmp_path: Path) -> Path:
    """A copy of a quick run's recorded figures (as the notebooks write them)."""
    folder = tmp_path / "run"
    shutil.copytree(FIXTURE, folder)
    return folder


def test_run_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("GPT2LAB_RUN_DIR", str(tmp_path / "run"))
    assert run_dir() == tmp_path / "run"


def test_values_that_json_cannot_hold_are_kept_as_text(tmp_path):
    record("data", {"path": tmp_path, "sizes": (1, 2)}, tmp_path)
    assert collect(tmp_path)["data"] == {"path": str(tmp_path), "sizes": [1, 2]}


def test_a_section_name_that_is_not_a_file_name_is_refused(tmp_path):
    with pytest.raises(ValueError, match="lower-case letters"):
        record("../evil", {}, tmp_path)


def test_record_figure_needs_alt_text_and_lands_in_its_section(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots()
    axis.plot([1, 2, 3])
    with pytest.raises(ValueError, match="needs alt text"):
        record_figure("decoding", "kv_cache", figure, " ", directory=tmp_path)
    path = record_figure(
        "decoding",
        "kv_cache",
        figure,
        "Line chart: time per token, flat.",
        "The KV cache keeps steps flat.",
        tmp_path,
    )
    plt.close(figure)
    assert path.read_bytes()[:4] == b"\x89PNG"
    record("evaluation", {"validation_perplexity": 12.5}, tmp_path)
    page = build_report(tmp_path)[0].read_text()
    assert "alt='Line chart: time per token, flat.'" in page
    assert "src='figures/images/decoding--kv_cache.png'" in page


def test_summary_holds_every_section_and_the_notebook_runs(tmp_path):
    folder = fixture_run(tmp_path)
    (folder / "01_setup_and_model.html").write_text("<html></html>")
    cells = [
        {
            "cell_type": "code",
            "outputs": [],
            "metadata": {
                "execution": {
                    "iopub.status.busy": f"2026-11-28T04:27:{second:02d}.000000Z",
                    "shell.execute_reply": f"2026-11-28T04:27:{second + 1:02d}.500000Z",
                }
            },
        }
        for second in (10, 20)
    ]
    (folder / "01_setup_and_model.ipynb").write_text(json.dumps({"cells": cells}))
    index, summary_path = build_report(folder)
    summary = json.loads(summary_path.read_text())
    recorded = {path.stem for path in (FIXTURE / "figures").glob("*.json")}
    assert recorded <= set(summary)
    assert summary["notebooks"] == ["01_setup_and_model.html"]
    assert summary["notebook_runs"][0]["seconds"] == 11.5 and summary["notebook_runs"][0]["ok"]
    page = index.read_text()
    assert "href='01_setup_and_model.html'>01_setup_and_model</a>, 12 s" in page
    # static and offline: no script, nothing loaded from elsewhere
    assert "<script" not in page and "<link" not in page and "url(" not in page
    assert "src='http" not in page and "src='/" not in page


def test_notebook_with_an_error_output_is_marked_failed(tmp_path):
    (tmp_path / "03_fine_tuning.html").write_text("<html></html>")
    cells = [{"cell_type": "code", "metadata": {}, "outputs": [{"output_type": "error"}]}]
    (tmp_path / "03_fine_tuning.ipynb").write_text(json.dumps({"cells": cells}))
    assert notebook_runs(tmp_path)[0]["ok"] is False
    assert "failed" in build_report(tmp_path)[0].read_text()


def visible_text(page: str) -> str:
    """The text a reader sees (tags and attributes left out)."""
    from html.parser import HTMLParser

    class Text(HTMLParser):
        parts: list[str] = []

        def handle_data(self, data: str) -> None:
            self.parts.append(data)

    parser = Text()
    parser.parts = []
    parser.feed(page)
    return " ".join(parser.parts)


def test_no_raw_keys_and_readable_numbers(tmp_path):
    page = visible_text(build_report(fixture_run(tmp_path))[0].read_text())
    for raw in (
        "padded_lines_pad_fraction",
        "reference_perplexity",
        "ppl_gap",
        "13278976",
        "time_to_first_token_ms",
        "50257.0",
        "e+04",
    ):
        assert raw not in page, raw
    assert "13.3 M parameters" in page and "50,257" in page


def test_the_banner_says_what_ran(tmp_path):
    folder = fixture_run(tmp_path)
    page = build_report(folder)[0].read_text()
    assert "Offline run: not GPT-2." in page and "trained from scratch" in page
    model = json.loads((folder / "figures" / "model.json").read_text())
    record("model", {**model, "location": "gpt2lab-base"}, folder)
    page = build_report(folder)[0].read_text()
    assert "Offline run: not GPT-2." in page and "pretrained here, then fine-tuned" in page
    record(
        "model",
        {
            **model,
            "source": "hub",
            "offline_model": False,
            "location": "gpt2",
            "parameters": 124439808,
        },
        folder,
    )
    page = build_report(folder)[0].read_text()
    assert "Offline run" not in page and "from the Hugging Face Hub" in page


@pytest.mark.parametrize(
    ("summary", "expected"),
    [
        (
            {"training": {"trained_from_scratch": False}, "model": {"location": "gpt2lab-tiny"}},
            "pretrained",
        ),
        ({"model": {"pretrained": False, "source": "hub"}}, "scratch"),
        ({"model": {"location": "gpt2lab-base", "source": "offline"}}, "pretrained"),
        ({"training": {"validation_before": {"perplexity": 50257.1}}}, "scratch"),
        ({"training": {"validation_before": {"perplexity": 80.0}}}, "unknown"),
    ],
)
def test_origin_prefers_what_was_recorded(summary, expected):
    assert origin(summary) == expected


def test_missing_sections_are_named_and_extra_ones_shown(tmp_path):
    folder = fixture_run(tmp_path)
    (folder / "figures" / "deployment.json").unlink()
    (folder / "figures" / "refinement.json").unlink()
    record("probing", {"attention_heads_checked": 8}, folder)
    page = build_report(folder)[0].read_text()
    assert "Not recorded in this run: deployment." in page
    assert "Refinement (notebook 06), Deployment (notebook 07)" in page
    assert "Attention heads checked" in page


def test_samples_are_cut_and_their_whitespace_is_visible(tmp_path):
    folder = fixture_run(tmp_path)
    evaluation = json.loads((folder / "figures" / "evaluation.json").read_text())
    evaluation["samples"]["greedy"] = ["IUS.\n" * 40, "\n" * 16]
    evaluation["sample_prompts"] = ["KING:\n", "QUEEN:\n"]
    record("evaluation", evaluation, folder)
    page = build_report(folder)[0].read_text()
    assert page.count("IUS.") == 6 and "… 34 more lines" in page
    assert "<span class='ws'>↵ ×16</span>" in page
    assert "KING:" in page and "sample 1" not in page


def test_the_share_of_held_out_text_scored_is_said(tmp_path):
    folder = fixture_run(tmp_path)
    evaluation = json.loads((folder / "figures" / "evaluation.json").read_text())
    evaluation["scored"] = {
        "validation": {"characters": 125_000, "of": 442_379},
        "test": {"characters": 364_260, "of": 364_260},
    }
    record("evaluation", evaluation, folder)
    page = visible_text(build_report(folder)[0].read_text())
    assert "validation 125,000 of 442,379 characters (28%: the start of each work)" in page
    assert "test 364,260 of 364,260 characters (all)" in page
    assert "'characters'" not in page  # not shown again as a raw record


def test_notebook_pictures_kv_cache_and_general_text_are_shown(tmp_path):
    folder = fixture_run(tmp_path)
    (folder / "figures" / "04_beam_tree.png").write_bytes(b"\x89PNG")
    record("decoding", {"figures": [{"file": "04_beam_tree.png", "alt": "Tree of four beams."}],
                        "kv_cache": {"speedup": 3.2, "seconds_with": 0.5, "seconds_without": 1.6}},
           folder)  # fmt: skip
    training = json.loads((folder / "figures" / "training.json").read_text())
    training.update(from_scratch=False, general_before={"perplexity": 80.5},
                    general_after={"perplexity": 95.25})  # fmt: skip
    record("training", training, folder)
    page = build_report(folder)[0].read_text()
    assert "src='figures/04_beam_tree.png' alt='Tree of four beams.'" in page
    assert "3.20</data>× faster" in page
    assert "perplexity went from <data value='80.5'" in page
    assert "fine-tuned" in page and "Also recorded</h2>" not in page
