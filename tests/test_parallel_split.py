"""make test runs two pytest-xdist workers: the split must keep what depends on order together."""

from pathlib import Path

from conftest import start_rank, work_unit

ROOT = Path(__file__).resolve().parents[1]


def test_the_notebooks_are_one_unit_and_each_test_file_its_own():
    assert work_unit("notebooks/03_fine_tuning.ipynb::Cell 4") == "notebooks"
    assert work_unit("notebooks/04_decoding.ipynb::Cell 0") == "notebooks"
    assert work_unit("tests/test_cli.py::test_help[train]") == "tests/test_cli.py"
    assert work_unit("tests/test_app.py::Class::test_x") == "tests/test_app.py"


def test_the_longest_units_come_first_and_each_keeps_its_order():
    collected = [
        "tests/test_app.py::test_a",
        "tests/test_colab_simulation.py::test_one",
        "tests/test_colab_simulation.py::test_two",
        "notebooks/01_setup_and_model.ipynb::Cell 0",
        "notebooks/02_dataset.ipynb::Cell 0",
        "tests/test_cli.py::test_b",
    ]
    assert sorted(collected, key=start_rank) == [
        "tests/test_colab_simulation.py::test_one",
        "tests/test_colab_simulation.py::test_two",
        "notebooks/01_setup_and_model.ipynb::Cell 0",
        "notebooks/02_dataset.ipynb::Cell 0",
        "tests/test_app.py::test_a",
        "tests/test_cli.py::test_b",
    ]


def test_make_test_runs_two_single_threaded_workers():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "TEST_WORKERS ?= 2" in makefile
    assert "-n $(TEST_WORKERS)" in makefile
    assert "OMP_NUM_THREADS=1" in makefile
    assert "pytest-xdist" in (ROOT / "requirements-dev.txt").read_text(encoding="utf-8")
