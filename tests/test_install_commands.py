"""What `make` runs to install the course on a fresh machine (`make -n`: printed, not run)."""

import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]


def make_install(tmp_path: Path, *settings: str) -> subprocess.CompletedProcess:
    """`make -n` of creating a venv at ``tmp_path`` (none exists there): printed, not run."""
    if shutil.which("make") is None:
        pytest.fail("make is missing: the README's two commands need it")
    venv = tmp_path / "venv"
    return subprocess.run(
        ["make", "-n", f"VENV={venv}", *settings, f"{venv}/.installed"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )


def install_commands(tmp_path: Path, *settings: str) -> list[str]:
    """The install commands `make` would run."""
    done = make_install(tmp_path, *settings)
    assert done.returncode == 0, done.stderr
    return [line for line in done.stdout.splitlines() if "install" in line]


def torch_install(commands: list[str]) -> tuple[str, str]:
    """The install line that gets torch, split into its two halves: pip naming the wheel
    (``wheel="$(...)"``) and uv installing it with the rest."""
    [torch] = [c for c in commands if "--dry-run" in c]
    chooses, installs = torch.split(" && ")
    return chooses.strip(), installs


def test_pip_chooses_the_torch_wheel_and_uv_installs_it_with_the_rest(tmp_path):
    made = make_install(tmp_path).stdout
    assert f" -m venv --without-pip {tmp_path}/venv" in made, made
    commands = install_commands(tmp_path)
    # the pip a venv bundles can be years old, and twice as slow for prepare-data's
    # downloads: the venv is made without it, and the newest is installed first
    venv_python = f"{tmp_path}/venv/bin/python"
    assert (
        f" -m pip --python {venv_python} install --quiet --no-compile --upgrade pip"
        in (commands[0])
    ), commands
    # where the machine's pip cannot (missing, or older than 22.3): the bundled one, upgraded
    fallback = commands[1]
    assert fallback.lstrip().startswith("||") and " -m ensurepip " in fallback, commands
    assert fallback.index("ensurepip") < fallback.index(
        " -m pip install --quiet --no-compile --upgrade pip"
    )
    # pip, which reads this machine's wheel folders, names the torch wheel (a dry run);
    # uv installs that file together with everything else, at the pinned versions
    chooses, installs = torch_install(commands)
    assert " -m pip install --quiet --dry-run --no-deps" in chooses and "--report -" in chooses
    assert " -m uv pip install --python " in installs and '"torch @ $wheel"' in installs
    assert "-r requirements-dev.txt -c constraints.txt" in installs, installs
    [own] = [c for c in commands if "-e ." in c]
    assert " -m uv pip install --python " in own and "--no-build-isolation" in own, own
    # uv itself is pinned, like everything else make installs
    pins = (ROOT / "constraints.txt").read_text(encoding="utf-8")
    assert re.search(r"^uv==\d+\.\d+\.\d+$", pins, re.MULTILINE)
    # -e . is built with the venv's own setuptools, so it is installed and pinned too
    assert re.search(r"^setuptools==\d+\.\d+\.\d+$", pins, re.MULTILINE)
    dev = (ROOT / "requirements-dev.txt").read_text(encoding="utf-8")
    assert re.search(r"^setuptools>=", dev, re.MULTILINE)


def choose_torch_wheel(tmp_path: Path, *settings: str) -> tuple[str, subprocess.CompletedProcess]:
    """Run, for real, the command with which `make install` has pip name the torch wheel
    (with this venv's pip); returns TORCH_SPEC as make has it, and what the command did."""
    commands = install_commands(tmp_path, f"BIN={Path(sys.executable).parent}", *settings)
    chooses, _ = torch_install(commands)
    assert chooses.startswith('wheel="$(') and chooses.endswith(')"'), chooses
    done = subprocess.run(
        ["sh", "-c", chooses[len('wheel="$(') : -len(')"')]],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    return re.search(r'--report - "([^"]+)"', chooses).group(1), done


def test_the_wheel_pip_chooses_is_the_torch_that_was_asked_for(tmp_path):
    """The dry run prints one wheel's address: the one `pip install TORCH_SPEC` would take."""
    spec, done = choose_torch_wheel(tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    wheel = done.stdout.strip()
    assert re.match(r"^(file|https?)://\S+\.whl$", wheel), wheel
    # the wheel's version satisfies TORCH_SPEC, as make has it (MAKEFLAGS may change it)
    name, version = unquote(wheel.rsplit("/", 1)[1]).split("-")[:2]
    requirement = Requirement(spec)
    assert name == requirement.name == "torch"
    assert requirement.specifier.contains(version, prereleases=True), (spec, wheel)
    # a spec that no wheel satisfies fails, so the install stops there
    _, failed = choose_torch_wheel(tmp_path, "TORCH_SPEC=torch==0.0.1")
    assert failed.returncode != 0 and failed.stdout.strip() == "", failed.stdout


@pytest.mark.parametrize("installer", ["uv", "pip"])
def test_bytecode_is_compiled_once_on_every_core_after_everything_is_installed(tmp_path, installer):
    """pip would compile torch on one core (27 s here); one compileall -j 0 does it all."""
    done = make_install(tmp_path, f"INSTALLER={installer}")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    installs = [i for i, line in enumerate(lines) if " install " in line]
    pip_installs = [  # (a dry run, that only names the torch wheel, installs nothing)
        lines[i] for i in installs if " -m pip install " in lines[i] and "--dry-run" not in lines[i]
    ]
    assert pip_installs and all("--no-compile" in c for c in pip_installs), lines
    assert not any("--compile-bytecode" in lines[i] for i in installs), lines
    compiles = [i for i, line in enumerate(lines) if " -m compileall " in line]
    assert len(compiles) == 1 and compiles[0] > max(installs), lines
    assert " -j 0 " in lines[compiles[0]] and "sysconfig" in lines[compiles[0]], lines


def test_installer_pip_installs_everything_with_pip(tmp_path):
    commands = install_commands(tmp_path, "INSTALLER=pip")
    assert commands and not any("uv" in c.split() for c in commands), commands
    assert not any("uv pip" in c for c in commands), commands
    assert any(
        " -m pip install --no-compile --quiet -r requirements-dev.txt" in c for c in commands
    )


def test_an_unknown_installer_is_refused_with_the_ones_there_are(tmp_path):
    done = make_install(tmp_path, "INSTALLER=conda")
    assert done.returncode != 0
    assert "INSTALLER=conda is not an installer make knows" in done.stderr
    assert "INSTALLER=pip" in done.stderr
