"""``python -m helpers train`` end to end, on a small text file and the offline model."""

import json
import re

import pytest
from small_training import LINES, one_torch_thread, train_command  # noqa: F401

from helpers.cli import main


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "verse.txt"
    path.write_text("\n".join(LINES * 60) + "\n", encoding="utf-8")
    return path


def args(text_file, out, *extra):
    return train_command(text_file, out, *extra)


def test_train_saves_resumes_and_refuses_changed_settings(text_file, tmp_path, capsys):
    out = tmp_path / "model"
    assert main(args(text_file, out, "--lr", "0.01", "--grad-accum", "2", "--seed", "7")) == 0
    printed = capsys.readouterr().out
    assert "training finished: step 3 of 3" in printed and "bits/char" in printed
    saved = json.loads((out / "training_args.json").read_text())
    assert (saved["learning_rate"], saved["grad_accum"], saved["seed"]) == (0.01, 2, 7)
    assert saved["resolved"]["trained_from_scratch"] is True
    assert "trained *from scratch*" in (out / "README.md").read_text()
    assert (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file()

    # the same command again: resumes from the last checkpoint, nothing left to do
    assert main(args(text_file, out, "--lr", "0.01", "--grad-accum", "2", "--seed", "7")) == 0
    assert "Nothing to do" in capsys.readouterr().out

    # other settings: one clear line, with the ways out
    assert main(args(text_file, out, "--lr", "0.01", "--grad-accum", "4", "--seed", "7")) == 2
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]  # (after the offline model's banner)
    assert last.startswith("error: The checkpoints in") and "grad_accum: 2 there, 4 now" in last
    assert "--no-resume" in last and "Traceback" not in err


def test_bad_training_flags_give_one_clear_line(text_file, tmp_path, capsys):
    assert main(args(text_file, tmp_path / "m", "--learning-rate", "-1")) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: learning_rate must be > 0") and "Traceback" not in err


def test_missing_data_gives_one_clear_line(tmp_path, capsys):
    assert main(args(tmp_path / "nothing.txt", tmp_path / "m")) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "nothing.txt" in err


def test_a_time_budget_says_what_it_achieved(text_file, tmp_path, capsys):
    assert main(args(text_file, tmp_path / "m", "--max-seconds", "600")) == 0
    printed = capsys.readouterr().out
    # a fast run: the step cap ends it, and the summary says so with the tokens it saw
    tokens = 3 * 2 * 32
    assert f"time budget 600 s: cap of 3 steps; done 3 steps, {tokens:,} tokens in" in printed


def test_auto_batch_is_chosen_by_timing_and_saved_with_the_run(text_file, tmp_path, capsys):
    out = tmp_path / "m"
    assert main(args(text_file, out, "--batch-size", "auto", "--max-seconds", "120")) == 0
    printed = capsys.readouterr().out
    chosen = re.search(r"--batch-size auto: batch (\d+): a step of 4 blocks took", printed)
    assert chosen, printed[-2000:]
    saved = json.loads((out / "training_args.json").read_text())
    assert saved["batch_size"] == int(chosen.group(1)) in (2, 4, 8, 16)


def test_auto_batch_without_a_budget_or_with_a_bad_value_is_one_clear_line(
    text_file, tmp_path, capsys, monkeypatch
):
    monkeypatch.delenv("GPT2LAB_QUICK", raising=False)  # (quick mode's defaults set a budget)
    assert main(args(text_file, tmp_path / "m", "--batch-size", "auto")) == 2
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: --batch-size auto chooses the batch whose steps fit a time")
    assert "give --max-seconds too" in last
    with pytest.raises(SystemExit) as stopped:  # argparse's usage error
        main(args(text_file, tmp_path / "m", "--batch-size", "lots"))
    err = capsys.readouterr().err
    assert stopped.value.code == 2 and "Traceback" not in err
    assert "expected a whole number of blocks (e.g. 8) or auto, got 'lots'" in err
    assert not (tmp_path / "m").exists()


def test_the_tokenizer_is_loaded_once(text_file, tmp_path, monkeypatch):
    """The data is tokenized with the tokenizer that is saved with the model: reading
    tokenizer.json (about 0.5 s) once is enough, and ``load_model`` reads none."""
    from helpers import modeling

    loads, load = [], modeling._load_tokenizer_for
    monkeypatch.setattr(modeling, "_load_tokenizer_for", lambda s: loads.append(s) or load(s))
    assert main(args(text_file, tmp_path / "model")) == 0
    assert len(loads) == 1
    assert modeling.load_model("gpt2lab-tiny", "cpu") is not None and len(loads) == 1
