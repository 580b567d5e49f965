import re
import shutil
from pathlib import Path

import nbformat
import pytest

from helpers.notebooks import BOOTSTRAP_MARKER, check_notebooks, first_code_cell, numbered_stems

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


@pytest.fixture
def copy_of_notebooks(tmp_path: Path) -> Path:
    target = tmp_path / "notebooks"
    shutil.copytree(NOTEBOOKS, target, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    return target


def test_the_course_notebooks_are_paired_and_in_sync():
    assert numbered_stems(NOTEBOOKS), "the course has no notebooks"
    assert check_notebooks(NOTEBOOKS) == []


def test_every_notebook_starts_with_the_same_bootstrap_cell():
    cells = {stem: first_code_cell(NOTEBOOKS / f"{stem}.py") for stem in numbered_stems(NOTEBOOKS)}
    assert all(cell.startswith(BOOTSTRAP_MARKER) for cell in cells.values())
    assert len(set(cells.values())) == 1


def test_every_notebook_has_a_colab_badge_to_itself():
    for stem in numbered_stems(NOTEBOOKS):
        text = (NOTEBOOKS / f"{stem}.py").read_text(encoding="utf-8")
        badge = re.search(r"colab\.research\.google\.com/github/\S+?/notebooks/(\S+?\.ipynb)", text)
        assert badge and badge.group(1) == f"{stem}.ipynb", f"{stem}: badge missing or wrong"


def _first_cell_of_type(notebook, cell_type: str):
    return next(cell for cell in notebook.cells if cell.cell_type == cell_type)


def test_an_edited_notebook_is_caught(copy_of_notebooks: Path):
    stem = numbered_stems(copy_of_notebooks)[0]
    path = copy_of_notebooks / f"{stem}.ipynb"
    notebook = nbformat.read(path, as_version=4)
    _first_cell_of_type(notebook, "markdown").source += "\nAn edit made in Jupyter only."
    nbformat.write(notebook, path)
    problems = check_notebooks(copy_of_notebooks)
    assert any("out of sync" in p and stem in p for p in problems)


def test_an_edited_script_is_caught(copy_of_notebooks: Path):
    stem = numbered_stems(copy_of_notebooks)[0]
    script = copy_of_notebooks / f"{stem}.py"
    script.write_text(script.read_text(encoding="utf-8") + "\n# %%\nprint('new cell')\n")
    assert any("out of sync" in p for p in check_notebooks(copy_of_notebooks))


def test_a_changed_tag_is_caught(copy_of_notebooks: Path):
    stem = numbered_stems(copy_of_notebooks)[0]
    path = copy_of_notebooks / f"{stem}.ipynb"
    notebook = nbformat.read(path, as_version=4)
    notebook.cells[-1].metadata["tags"] = ["hide-input"]  # a tag the script does not have
    nbformat.write(notebook, path)
    assert any("out of sync" in p for p in check_notebooks(copy_of_notebooks))


def test_committed_outputs_are_caught(copy_of_notebooks: Path):
    stem = numbered_stems(copy_of_notebooks)[0]
    path = copy_of_notebooks / f"{stem}.ipynb"
    notebook = nbformat.read(path, as_version=4)
    cell = _first_cell_of_type(notebook, "code")
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="hi\n")]
    nbformat.write(notebook, path)
    assert any("outputs committed" in p for p in check_notebooks(copy_of_notebooks))


def test_missing_partners_are_caught(copy_of_notebooks: Path):
    stem = numbered_stems(copy_of_notebooks)[0]
    shutil.copy(copy_of_notebooks / f"{stem}.ipynb", copy_of_notebooks / "98_orphan.ipynb")
    shutil.copy(copy_of_notebooks / f"{stem}.py", copy_of_notebooks / "99_lonely.py")
    problems = check_notebooks(copy_of_notebooks)
    assert any("98_orphan.ipynb has no paired script" in p for p in problems)
    assert any("99_lonely.py has no paired notebook" in p for p in problems)


def test_a_different_bootstrap_cell_is_caught(copy_of_notebooks: Path):
    stem = numbered_stems(copy_of_notebooks)[0]
    script = copy_of_notebooks / f"{stem}.py"
    other = copy_of_notebooks / "99_other.py"
    other.write_text(
        script.read_text(encoding="utf-8").replace("is kept", "is kept, mostly"), encoding="utf-8"
    )
    shutil.copy(copy_of_notebooks / f"{stem}.ipynb", copy_of_notebooks / "99_other.ipynb")
    problems = check_notebooks(copy_of_notebooks)
    assert any("99_other.py: its bootstrap cell differs" in p for p in problems)


def test_an_empty_folder_is_reported(tmp_path: Path):
    assert check_notebooks(tmp_path) != []


def test_a_notebook_that_is_not_json_is_named_with_the_fix(copy_of_notebooks: Path):
    stem = numbered_stems(copy_of_notebooks)[0]
    broken = copy_of_notebooks / f"{stem}.ipynb"
    broken.write_text("{\n", encoding="utf-8")  # cut off, e.g. by a crash while saving
    problems = check_notebooks(copy_of_notebooks)
    assert [p for p in problems if str(broken) in p] == [
        f"{broken} cannot be read as a notebook (Notebook does not appear to be JSON: '{{\\n'): "
        f"regenerate it from its script with `make notebooks`."
    ]
    assert len(problems) == 1, problems  # the other pairs are still checked, and fine


def test_run_notebooks_names_a_notebook_it_cannot_read(tmp_path: Path, capsys):
    from helpers.cli import main

    (tmp_path / "01_x.py").write_text("print(1)\n", encoding="utf-8")
    (tmp_path / "01_x.ipynb").write_text("{\n", encoding="utf-8")
    assert main(["run-notebooks", "--dir", str(tmp_path), "--output", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {tmp_path / '01_x.ipynb'} cannot be read as a notebook"), err
    assert "Traceback" not in err
    a_file = tmp_path / "01_x.py"
    assert main(["run-notebooks", "--dir", str(tmp_path), "--output", str(a_file)]) == 2
    assert capsys.readouterr().err == (
        f"error: {a_file}: a file is there where a folder is needed: give another path.\n"
    )
