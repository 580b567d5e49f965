"""The benchmarks' command lines: a text they cannot use gives one clear line, not a
traceback, and exit status 2 (as the CLI's usage errors do)."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def benchmark(script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**__import__("os").environ, "HF_HUB_OFFLINE": "1"},
    )


@pytest.mark.parametrize("script", ["train_throughput.py", "time_to_quality.py"])
def test_a_missing_text_file_is_one_clear_line(tmp_path, script):
    missing = tmp_path / "shared" / "data" / "tinyshakespeare.txt"  # as when ../shared is absent
    done = benchmark(script, "--text", str(missing))
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.strip() == f"error: no text file at {missing}: pass one with --text FILE"
    assert done.stdout == ""


def test_text_that_is_not_utf8_or_too_short_is_one_clear_line(tmp_path):
    script = "train_throughput.py"  # (time_to_quality.py checks the same way)
    latin = tmp_path / "latin1.txt"
    latin.write_bytes("Café au lait\n".encode("latin-1"))
    done = benchmark(script, "--text", str(latin))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().startswith(f"error: {latin} is not UTF-8 text")
    short = tmp_path / "short.txt"
    short.write_text("To be, or not to be.\n", encoding="utf-8")
    done = benchmark(script, "--text", str(short))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().startswith(f"error: {short} is too short")


def test_a_missing_nanogpt_is_one_clear_line_before_any_training(tmp_path):
    text = Path(__file__).resolve().parents[1] / "data" / "milton" / "areopagitica.txt"
    missing = tmp_path / "nanogpt"
    done = benchmark(
        "time_to_quality.py", "--text", str(text), "--nanogpt", "--nanogpt-dir", str(missing)
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip() == (
        f"error: no nanoGPT at {missing}: pass its folder with --nanogpt-dir"
    )
    assert done.stdout == ""


def test_nanogpt_is_scored_on_every_character_after_the_first_once():
    """A model that gives every character the same probability scores log2(V) bits each."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        from nanogpt_side import _bits_per_char
    finally:
        sys.path.remove(str(BENCHMARKS))
    import math

    import torch

    vocab, seen = 7, []

    class Uniform(torch.nn.Module):
        def forward(self, x, y):
            seen.append(y[y != -1])
            return torch.zeros(*x.shape, vocab), None

    ids = [i % vocab for i in range(200)]
    scored, bits = _bits_per_char(Uniform(), ids, block=16)
    assert scored == len(ids) - 1  # each character after the first, once
    assert torch.cat(seen).tolist() == ids[1:]  # in order: none twice, none skipped
    assert bits == pytest.approx(math.log2(vocab))


def test_as_avx2_runs_the_command_with_avx2_kernels_and_no_cpu_bf16():
    script = str(BENCHMARKS / "as_avx2.sh")
    code = (
        "import torch; from helpers import environment as e; "
        "print(torch.backends.cpu.get_cpu_capability(), e.bf16_supported(torch.device('cpu')))"
    )
    done = subprocess.run([script, sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.split() == ["AVX2", "False"], done.stderr
    usage = subprocess.run([script], capture_output=True, text=True)
    assert usage.returncode == 2 and "usage:" in usage.stderr


def test_several_texts_or_folders_are_joined_in_order_of_file_name(tmp_path):
    """A novel whose chapters are split between train/ and validation/ folders is read in
    chapter order; a folder without .txt files is one clear line."""
    sys.path.insert(0, str(BENCHMARKS))
    from time_to_quality import load_text

    (tmp_path / "train").mkdir()
    (tmp_path / "validation").mkdir()
    for number, folder in [(1, "train"), (2, "validation"), (3, "train")]:
        (tmp_path / folder / f"chapter-{number}.txt").write_text(f"Chapter {number}.", "utf-8")
    text = load_text([tmp_path / "validation", tmp_path / "train" / "chapter-3.txt",
                      tmp_path / "train" / "chapter-1.txt"])  # fmt: skip
    assert text == "Chapter 1.\nChapter 2.\nChapter 3."
    empty = tmp_path / "empty"
    empty.mkdir()
    done = benchmark("time_to_quality.py", "--text", str(empty))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip() == (
        f"error: no .txt files under the folder {empty}: pass text files with --text"
    )


def test_scoring_gives_the_same_perplexity_every_way_and_refuses_a_zero_chunk():
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "scoring.py"), "--chunks", "7", "64"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**__import__("os").environ, "HF_HUB_OFFLINE": "1", "GPT2LAB_QUICK": "1"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    timed = [line for line in done.stdout.splitlines() if "scored tokens/s" in line]
    assert [line.split("  ")[0].strip() for line in timed] == [
        "full logits",
        "scored, chunk 7",
        "scored, chunk 64",
    ]
    assert "same perplexity every way: yes" in done.stdout
    refused = benchmark("scoring.py", "--chunks", "0")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "--chunks and --threads take whole numbers >= 1" in refused.stderr


def test_muon_step_prints_each_format_and_uses_float32_where_bf16_is_slow():
    script = [str(BENCHMARKS / "as_avx2.sh"), sys.executable, str(BENCHMARKS / "muon_step.py")]
    script += ["--steps", "1"]
    done = subprocess.run(script, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    for label in ("helpers.training.Muon (bfloat16)", "helpers.training.Muon (float32)"):
        assert re.search(re.escape(label) + r"\s+\d+\.\d ms per step", done.stdout), done.stdout
    assert "CPU capability AVX2" in done.stdout
    assert "on this CPU the course's Muon uses float32" in done.stdout


def test_mfu_divides_each_round_by_its_own_peak():
    """A machine twice as fast in round 2 (peak and rate alike) is as well used in both."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        from train_throughput import round_mfu
    finally:
        sys.path.remove(str(BENCHMARKS))
    n = 1_000_000  # 6 N = 6 MFLOP per token
    assert round_mfu(n, [1_000.0, 2_000.0], [12e9, 24e9]) == pytest.approx(0.5)
    # the max peak over the rounds with the median rate would say 0.375 here
    assert round_mfu(n, [1_000.0, 2_000.0, 1_500.0], [12e9, 24e9, 18e9]) == pytest.approx(0.5)
    with pytest.raises(ValueError):  # a rate without its round's peak is a bug, not a figure
        round_mfu(n, [1_000.0, 2_000.0], [12e9])
