import json

from helpers.report import build_report, collect, record, run_dir


def test_run_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("GPT2LAB_RUN_DIR", str(tmp_path / "run"))
    assert run_dir() == tmp_path / "run"


def test_recorded_figures_end_up_in_summary_and_index(tmp_path):
    record("model", {"name": "gpt2lab-tiny", "offline_model": True, "parameters": 16090880},
           tmp_path)  # fmt: skip
    record(
        "training",
        {"before_ppl": 50000.0, "after_ppl": 210.5,
         "history": {"train": [{"step": 1, "loss": 10.0, "smoothed_loss": 10.0},
                              {"step": 2, "loss": 8.0, "smoothed_loss": 9.0}],
                    "eval": [{"step": 2, "val_loss": 8.5}]}},
        tmp_path,
    )  # fmt: skip
    record("evaluation", {"table": [{"decoder": "greedy", "distinct_2": 0.2}]}, tmp_path)
    (tmp_path / "01_setup_and_model.html").write_text("<html></html>")
    assert set(collect(tmp_path)) == {"model", "training", "evaluation"}

    index, summary = build_report(tmp_path)
    data = json.loads(summary.read_text())
    assert data["training"]["after_ppl"] == 210.5
    assert data["notebooks"] == ["01_setup_and_model.html"]
    page = index.read_text()
    assert "Offline run." in page and "data:image/png;base64," in page
    assert "<td>greedy</td>" in page and "href='01_setup_and_model.html'" in page


def test_values_that_json_cannot_hold_are_kept_as_text(tmp_path):
    record("data", {"path": tmp_path, "sizes": (1, 2)}, tmp_path)
    assert collect(tmp_path)["data"] == {"path": str(tmp_path), "sizes": [1, 2]}
