"""What `make test`, `make test-e2e`, `make test-colab` and CI run (`make -n`: printed, not
run). Every test file runs in `make test` or in `make test-e2e`, and CI runs both."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COLAB_COURSE = "tests/test_colab_simulation.py"


def pytest_commands(target: str) -> list[str]:
    """The pytest command lines `make <target>` would run (with the venv and data present)."""
    if shutil.which("make") is None:
        pytest.fail("make is missing: the README's two commands need it")
    # the Makefile's own defaults: not a `make test TEST_WORKERS=0` this run is part of
    # (make hands its command line's settings to inner makes through MAKEFLAGS)
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    done = subprocess.run(
        ["make", "-n", "-o", ".venv/.installed", target],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert "warning" not in done.stderr, done.stderr  # e.g. a target defined twice
    joined = done.stdout.replace("\\\n", " ")
    return [line for line in joined.splitlines() if " -m pytest " in line]


def left_out_of(command: str) -> list[str]:
    """The test files a pytest command line leaves out (its --ignore=...)."""
    return re.findall(r"--ignore=(\S+)", command)


def test_make_test_runs_the_tests_and_every_notebook_but_the_end_to_end_ones():
    [command] = pytest_commands("test")
    assert " tests " in command and command.rstrip().endswith("notebooks/")
    assert "--nbval-lax" in command
    left_out = left_out_of(command)
    assert COLAB_COURSE in left_out
    # only whole files are left out, and each of them is there (a renamed file would
    # otherwise run nowhere)
    assert left_out and all((ROOT / path).is_file() for path in left_out), left_out
    # the course's own tests stay: the notebooks, training, the command line's bad inputs
    for kept in ("tests/test_training.py", "tests/test_bad_inputs.py", "tests/test_app.py"):
        assert kept not in left_out


def test_make_test_e2e_runs_every_test_file_make_test_leaves_out():
    [make_test] = pytest_commands("test")
    [command] = pytest_commands("test-e2e")
    run = command.split()
    assert sorted(left_out_of(make_test)) == sorted(p for p in run if p.startswith("tests/"))
    # two workers: the Colab course on one (it starts first: tests/conftest.py), the rest
    # on the other
    assert run[run.index("-n") + 1] == "2", command


def test_make_test_colab_runs_the_colab_course():
    [command] = pytest_commands("test-colab")
    assert command.rstrip().endswith(COLAB_COURSE)
    assert "--ignore" not in command


def test_ci_runs_make_test_and_the_end_to_end_tests():
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    runs = [line.split() for line in script.splitlines() if line.startswith("make ")]
    assert runs == [["make", "test", "test-e2e"]], runs
