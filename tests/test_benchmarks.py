"""The benchmarks' command lines: a text they cannot use gives one clear line, not a
traceback, and exit status 2 (as the CLI's usage errors do)."""

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
