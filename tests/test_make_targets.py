"""What `make test`, `make test-colab` and CI run (`make -n`: printed, not run)."""

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
    done = subprocess.run(
        ["make", "-n", "-o", ".venv/.installed", target],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    joined = done.stdout.replace("\\\n", " ")
    return [line for line in joined.splitlines() if " -m pytest " in line]


def test_make_test_runs_every_test_but_the_colab_course_and_every_notebook():
    [command] = pytest_commands("test")
    assert f"--ignore={COLAB_COURSE}" in command
    assert " tests " in command and command.rstrip().endswith("notebooks/")
    assert "--nbval-lax" in command


def test_make_test_colab_runs_the_colab_course():
    [command] = pytest_commands("test-colab")
    assert command.rstrip().endswith(COLAB_COURSE)
    assert "--ignore" not in command


def test_ci_runs_make_test_and_the_colab_course():
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    runs = [line.split() for line in script.splitlines() if line.startswith("make ")]
    assert runs == [["make", "test", "test-colab"]], runs
