"""The course on its real path, simulated: Colab VMs, a shared Drive, a stand-in Hub.

The whole course runs once (module fixture), the way Colab runs it (see
``tests/colab_sim/simulate.py``): each notebook in a fresh kernel on an empty VM folder,
only Drive shared, ``gpt2`` served by a stand-in Hub, quick mode. Notebook 03 is run
twice: the first VM is cut off mid-training (a disconnect), the second resumes from the
resume point on Drive. The tests below then check what each notebook did.
"""

import hashlib
import json
import re
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE / "colab_sim"))

from simulate import (  # noqa: E402
    PROJECT,
    ColabSimulation,
    fetch_corpus_archive,
    pinned_ref,
    resume_points,
    run_course,
    snapshot_repository,
)
from standin_hub import StandInHub, build_gpt2_repo  # noqa: E402

COURSE = Path("MyDrive") / "gpt2-lab"
NOTEBOOKS = [
    "01_setup_and_model",
    "02_dataset",
    "03_fine_tuning",
    "04_decoding",
    "05_evaluation",
    "06_refinement",
    "07_deployment",
]


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """Run the course on the simulated Colab; returns (simulation, runs by name, hub)."""
    root = tmp_path_factory.mktemp("colab")
    served = build_gpt2_repo(root / "hub" / "gpt2")
    repo = snapshot_repository(PROJECT, root / "course-repo", pinned_ref())
    links = fetch_corpus_archive(PROJECT / "runs" / "colab-sim-cache")
    with StandInHub({"gpt2": served}) as hub:
        sim = ColabSimulation(root / "sim", hub.endpoint, repo, links)
        runs = run_course(sim, NOTEBOOKS)
        runs["hub_requests"] = list(hub.requests)
        yield sim, runs, served


def _using(text: str) -> list[str]:
    return re.findall(r"Using the fine-tuned model: (.*)", text)


def test_every_notebook_runs_on_its_own_vm(course):
    sim, runs, _ = course
    for name in NOTEBOOKS:
        run = runs[name]
        assert run.ok, f"{name} failed on the simulated Colab:\n{run.error}"
        assert f"Fetching the course: {sim.course_repo} at {pinned_ref()}" in run.text
        # the course was installed from the VM's own clone, not from this checkout
        assert (run.vm / "content" / "gpt2-lab" / ".gpt2lab-installed").is_file()
    assert len({runs[name].vm for name in NOTEBOOKS}) == len(NOTEBOOKS)


def test_notebook_01_loads_the_served_gpt2_not_the_offline_model(course):
    _, runs, _ = course
    text = runs["01_setup_and_model"].text
    assert "Using     : the offline model" not in text
    assert "model source : hub (gpt2)" in text, text[-3000:]
    weights = [p for m, p in runs["hub_requests"] if m == "GET" and p.endswith("model.safetensors")]
    assert weights, "the weights never came from the stand-in Hub"


def test_notebook_03_fine_tunes_the_pretrained_model(course):
    sim, runs, _ = course
    assert "FINE-TUNING pretrained weights" in runs["03_fine_tuning"].text
    args = json.loads((sim.drive / COURSE / "finetuned" / "training_args.json").read_text())
    assert args["resolved"]["base_model"] == "gpt2"
    assert args["resolved"]["trained_from_scratch"] is False
    assert args["learning_rate"] == 1e-4  # the fine-tuning rate, not the from-scratch recipe
    assert args["embedding_learning_rate"] == args["learning_rate"]


def test_a_disconnect_during_notebook_03_resumes_from_drive(course):
    sim, runs, _ = course
    cut, again = runs["03_disconnected"], runs["03_fine_tuning"]
    assert cut.killed and not cut.ok
    resume = [name for name in runs["drive_after_disconnect"] if "/resume/" in name]
    assert resume, "no resume point on Drive when the VM was lost"
    # the VM can be lost while the rolling resume point is being replaced: both are listed
    steps = sorted({int(re.search(r"checkpoint-(\d+)", name).group(1)) for name in resume})
    found = re.search(r"Resuming from \S*/resume/\S+/checkpoint-(\d+) \(step (\d+) of", again.text)
    assert found, again.text[-3000:]
    assert int(found.group(1)) == int(found.group(2)) in steps
    # once the run completed, the resume point is gone; the checkpoints never were on Drive
    assert not resume_points(sim.drive)
    assert not any("checkpoints/" in name for name in runs["drive_after_03"])


def test_what_notebook_03_leaves_on_drive_stays_small(course):
    """Drive holds the model (the best so far, then the final one): the weights' size plus
    at most 5 MB (tokenizer, config, card, history). While a run is unfinished it also holds
    ONE resume point, about three times the weights (the weights, Adam's m and v). The
    checkpoints, a few resume points' worth, never go there."""
    sim, runs, _ = course
    weights = (sim.drive / COURSE / "finetuned" / "model.safetensors").stat().st_size
    model_files = weights + 5_000_000
    assert sum(runs["drive_after_03"].values()) <= model_files
    during = runs["drive_after_disconnect"]
    points = {re.search(r"checkpoint-\d+", name).group(0) for name in during if "/resume/" in name}
    assert len(points) == 1, points
    resume_bytes = sum(size for name, size in during.items() if "/resume/" in name)
    assert resume_bytes <= 3.2 * weights
    assert sum(during.values()) <= model_files + resume_bytes


def test_notebooks_04_to_07_use_exactly_the_model_notebook_03_saved(course):
    sim, runs, _ = course
    saved = sim.drive / COURSE / "finetuned"
    digest = hashlib.sha256((saved / "model.safetensors").read_bytes()).hexdigest()[:12]
    for name in NOTEBOOKS[3:]:
        text = runs[name].text
        assert "Fine-tuning one now" not in text, f"{name} did not find 03's model"
        used = _using(text)
        assert used and all(f"weights {digest})" in line for line in used), (name, used)
        assert all("/drive/MyDrive/gpt2-lab/finetuned " in line for line in used), used


def test_notebook_07_shows_the_app_through_colabs_proxy_and_not_publicly(course):
    sim, runs, _ = course
    shown = sim.events("serve_kernel_port_as_iframe")
    assert shown and shown[-1]["status"] == 200
    assert "gradio" in shown[-1]["body"].lower()
    assert "gradio.live" not in runs["07_deployment"].text


def test_every_stated_figure_agrees_with_what_the_notebook_showed(course):
    """Issue 12 A: the prose's checkable figures (helpers.claims) against the outputs."""
    from helpers.claims import CLAIMS, check_executed

    sim, runs, _ = course
    checked = 0
    for name in NOTEBOOKS:
        executed = runs[name].vm / f"{name}.executed.ipynb"
        assert executed.is_file(), f"{name}: no executed copy at {executed}"
        assert check_executed(executed) == []
        checked += len(CLAIMS.get(name, ()))
    assert checked >= 10
