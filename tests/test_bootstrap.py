"""The Colab bootstrap: the notebooks' first cell and helpers.bootstrap (pip, restart check)."""

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from helpers import bootstrap
from helpers.notebooks import first_code_cell

PROJECT = Path(__file__).resolve().parents[1]
STAND_IN_COLAB = PROJECT / "tests" / "colab_sim"


def _course(folder: Path, requires: list[str]) -> Path:
    """A tiny installable 'course' in a git repository."""
    folder.mkdir()
    deps = ", ".join(f'"{r}"' for r in requires)
    (folder / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=69"]\nbuild-backend = "setuptools.build_meta"\n'
        f'[project]\nname = "tiny-course"\nversion = "1.0"\ndependencies = [{deps}]\n'
        "[tool.setuptools]\npy-modules = []\n"
    )
    git = ["git", "-C", str(folder), "-c", "user.name=t", "-c", "user.email=t@localhost"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "c"], check=True)
    return folder


@pytest.fixture
def dry_pip(monkeypatch: pytest.MonkeyPatch) -> None:
    """pip resolves only, never installs, never reaches an index."""
    monkeypatch.setenv("PIP_DRY_RUN", "1")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_NO_BUILD_ISOLATION", "0")


def test_install_shows_progress_and_is_skipped_the_second_time(tmp_path, dry_pip):
    course = _course(tmp_path / "course", ["pytest"])
    shown: list[str] = []
    assert bootstrap.install_course(course, shown.append) is True
    assert any("Would install tiny-course" in line for line in shown), shown
    assert any(re.match(r"\s+\[\s*\d+ s\] ", line) for line in shown)  # timed progress lines
    head = subprocess.run(["git", "-C", str(course), "rev-parse", "HEAD"], capture_output=True)
    assert (course / bootstrap.STAMP_FILE).read_text().strip() == head.stdout.decode().strip()
    again: list[str] = []
    assert bootstrap.install_course(course, again.append) is False
    assert "already installed" in again[0]


def test_a_failed_install_shows_what_pip_said(tmp_path, dry_pip):
    course = _course(tmp_path / "course", ["gpt2lab-no-such-package-xyz>=1"])
    with pytest.raises(bootstrap.CourseInstallError) as failure:
        bootstrap.install_course(course, lambda line: None)
    message = str(failure.value)
    assert "gpt2lab-no-such-package-xyz" in message and "failed" in message
    assert not (course / bootstrap.STAMP_FILE).exists()  # a failed install is tried again


def test_a_replaced_imported_package_asks_for_a_restart(tmp_path, dry_pip, monkeypatch):
    course = _course(tmp_path / "course", [])
    # the kernel had imported pytest 0.0.1; after pip it is the installed version
    monkeypatch.setattr(bootstrap, "imported_distributions", lambda: {"pytest": "0.0.1"})
    with pytest.raises(bootstrap.RestartRequired, match=r"pytest 0\.0\.1 → .*Restart the session"):
        bootstrap.install_course(course, lambda line: None)


def test_imported_distributions_maps_modules_to_versions():
    from importlib import metadata

    found = bootstrap.imported_distributions(["pytest", "_pytest.python", "no_such_module"])
    assert found == {"pytest": metadata.version("pytest")}
    assert bootstrap.replaced_packages({"pytest": metadata.version("pytest")}) == {}
    assert bootstrap.replaced_packages({"pytest": "0.0.1"}) == {
        "pytest": ("0.0.1", metadata.version("pytest"))
    }


def test_the_bootstrap_cell_pins_this_release():
    cell = first_code_cell(PROJECT / "notebooks" / "01_setup_and_model.py")
    ref = re.search(r'"GPT2LAB_REF", "([^"]+)"', cell).group(1)
    version = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]["version"]
    assert ref == f"v{version}", "bump the bootstrap cell's GPT2LAB_REF with the version"


def test_every_colab_badge_opens_the_release_the_bootstrap_fetches():
    """A notebook opened from one ref must not fetch helpers from another: the badges of
    the README and of every notebook name the bootstrap's ref and a notebook that exists."""
    cell = first_code_cell(PROJECT / "notebooks" / "01_setup_and_model.py")
    ref = re.search(r'"GPT2LAB_REF", "([^"]+)"', cell).group(1)
    link = re.compile(
        r"colab\.research\.google\.com/github/gpt2-lab/gpt2-lab/blob/([^/]+)/([^)\s]+)"
    )
    pages = [PROJECT / "README.md", *sorted((PROJECT / "notebooks").glob("[0-9][0-9]_*.py"))]
    badges = [(page.name, *found) for page in pages for found in link.findall(page.read_text())]
    assert len(badges) >= len(pages), "every notebook (and the README) has a Colab badge"
    for page, badge_ref, path in badges:
        assert badge_ref == ref, (
            f"{page}: its Colab badge opens {badge_ref}, the bootstrap fetches {ref}"
        )
        assert (PROJECT / path).is_file(), (
            f"{page}: its Colab badge opens {path}, which does not exist"
        )


def test_the_bootstrap_cell_explains_a_failed_fetch(tmp_path):
    """Run the real cell, as Colab would, against an address that does not exist."""
    cell = first_code_cell(PROJECT / "notebooks" / "01_setup_and_model.py")
    script = tmp_path / "cell.py"
    script.write_text("import google.colab\n" + cell)
    env = {
        **os.environ,
        "PYTHONPATH": str(STAND_IN_COLAB),
        "GPT2LAB_HOME": str(tmp_path / "content"),
        "GPT2LAB_REPO": str(tmp_path / "no-such-repo"),
        "GPT2LAB_REF": "v9.9.9",
    }
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env)
    assert done.returncode != 0
    message = done.stderr[done.stderr.index("RuntimeError: ") :]
    assert "`git -C" in message and " fetch " in message, message  # which step failed
    assert "does not appear to be a git repository" in message  # git's own words
    assert "GPT2LAB_REPO=" in message and "GPT2LAB_REF=v9.9.9" in message  # what to check
    assert not (tmp_path / "content" / "gpt2-lab").exists()  # nothing half-fetched is left


def test_every_notebook_asks_colab_for_a_gpu():
    import json

    for path in sorted((PROJECT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        metadata = json.loads(path.read_text(encoding="utf-8"))["metadata"]
        assert metadata.get("accelerator") == "GPU", path.name
        assert metadata.get("colab", {}).get("gpuType") == "T4", path.name
