"""Training on two processes at once (``torchrun``, DDP): each rank trains on its share of
the batches, they agree on the validation loss, and the main process alone saves the
model, the checkpoints and the resume point. Two fresh Pythons each import torch and
transformers, so this runs in ``make test-e2e`` (Makefile: ``E2E``), not ``make test``."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from helpers.training import list_checkpoints

DDP_SCRIPT = """
import os, sys, torch
sys.path.insert(0, {tests!r})
from test_training import make_data, make_model, config
from helpers.modeling import gpt2_tokenizer_from_package
from helpers.training import train
seen = []  # the resume folder after each log of the main process
def look(history):
    names = sorted(os.listdir({resume!r})) if os.path.isdir({resume!r}) else []
    seen.append(f"{{history.train[-1]['step'] if history.train else 0}}:{{'+'.join(names)}}")
result = train(config({out!r}, max_steps=6, checkpoint_every=3, resume_dir={resume!r},
                      resume_copy_minutes=0), make_data(),
               model=make_model(), tokenizer=gpt2_tokenizer_from_package(), on_log=look)
line = f"RESULT {{result.processes}} {{result.completed_steps}} "
line += str(result.history.eval[-1]["val_loss"]) + " " + ",".join(seen or ["-"])
# one file per rank: two processes printing to one pipe can interleave their lines
with open(os.path.join({out!r}, "..", f"result-{{os.environ['RANK']}}.txt"), "w") as file:
    file.write(line)
"""


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_two_processes_train_with_ddp_and_save_one_model(tmp_path):
    script = tmp_path / "ddp_run.py"
    out, resume = tmp_path / "out", tmp_path / "resume"
    script.write_text(
        textwrap.dedent(
            DDP_SCRIPT.format(tests=str(Path(__file__).parent), out=str(out), resume=str(resume))
        )
    )
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            "2",
            "--master_port",
            str(free_port()),
            str(script),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**__import__("os").environ, "OMP_NUM_THREADS": "1"},
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    results = [(tmp_path / f"result-{rank}.txt").read_text().split() for rank in (0, 1)]
    assert [r[1:3] for r in results] == [["2", "6"], ["2", "6"]]  # both ranks, 6 steps each
    assert results[0][3] == results[1][3]  # they agree on the validation loss
    args = json.loads((out / "training_args.json").read_text())
    assert args["resolved"]["processes"] == 2
    assert (out / "model.safetensors").is_file()
    assert [p.name for p in list_checkpoints(out / "checkpoints")] == [
        "checkpoint-000003",
        "checkpoint-000006",
    ]
    assert (out / "checkpoints" / "checkpoint-000006" / "random_states_1.pkl").is_file()
    # the main process copied step 3's checkpoint to the resume folder, and deleted it at
    # the end (the other process never calls on_log)
    assert "4:checkpoint-000003" in results[0][4].split(",") and results[1][4] == "-"
    assert not resume.exists()
