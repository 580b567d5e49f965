"""nanoGPT's character-level CPU recipe, run side by side with ``time_to_quality.py``.

The reference is the unchanged copy in ``../shared/anchors/nanogpt`` (MIT licence); its
README gives the recipe. Nothing of its code is copied here: this module writes its data
in the format its ``train.py`` reads (``data/<name>/{train,val}.bin`` of uint16 character
ids, and ``meta.pkl``), runs its ``train.py`` in a subprocess from a temporary folder that
links to the anchor's files, and loads its ``model.py`` to score the checkpoint.

Fair time: nanoGPT has no time limit, so a short calibration run measures its mean
iteration time first (after 5 warm-up iterations; the median let nanoGPT run 10-27 %
over the budget on a 2-core AVX2 CPU, where a few slow iterations are common), and the
real run gets ``max_iters = lr_decay_iters =
seconds / iteration time`` (so its learning-rate schedule, like ours, ends on time). Both
sides count training steps only: nanoGPT's evaluations (at the first and last iteration)
are left out of its time, as ours are. The time it took is read back from its log and
reported. Both are scored on the whole validation text, each character after the first
predicted once, in bits per character.
"""

from __future__ import annotations

import importlib.util
import math
import pickle
import re
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ANCHOR = Path(__file__).resolve().parents[1].parent / "shared" / "anchors" / "nanogpt"
RECIPE = [
    "config/train_shakespeare_char.py",
    "--device=cpu",
    "--compile=False",
    "--block_size=64",
    "--batch_size=12",
    "--n_layer=4",
    "--n_head=4",
    "--n_embd=128",
    "--dropout=0.0",
    "--eval_iters=20",
]
"""The anchor README's CPU recipe (``max_iters`` and ``lr_decay_iters`` are added)."""
_ITERATION = re.compile(r"^iter (\d+): loss [\d.naninf-]+, time ([\d.]+)ms", re.MULTILINE)


@dataclass
class NanoGPTResult:
    iterations: int
    train_seconds: float  # the iterations' own time, from nanoGPT's log
    ms_per_iteration: float  # measured by the calibration run
    val_chars_scored: int
    bits_per_char: float


def _prepare(text: str, folder: Path, anchor: Path) -> None:
    """A folder nanoGPT's ``train.py`` runs in: links to its files, and the data."""
    for name in ["train.py", "model.py", "configurator.py", "config"]:
        (folder / name).symlink_to(anchor / name)
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    cut = int(len(text) * 0.9)  # the same split as time_to_quality.py
    data = folder / "data" / "bench"
    data.mkdir(parents=True)
    for split, part in [("train", text[:cut]), ("val", text[cut:])]:
        np.array([stoi[c] for c in part], dtype=np.uint16).tofile(data / f"{split}.bin")
    meta = {"vocab_size": len(chars), "itos": dict(enumerate(chars)), "stoi": stoi}
    (data / "meta.pkl").write_bytes(pickle.dumps(meta))


def _run(folder: Path, iterations: int, timeout: float) -> list[float]:
    """Run nanoGPT's ``train.py`` for ``iterations``; the seconds of each iteration."""
    command = [
        sys.executable,
        "train.py",
        *RECIPE,
        f"--max_iters={iterations}",
        f"--lr_decay_iters={iterations}",
        f"--eval_interval={iterations}",  # evaluate (and save) only at the start and the end
        "--always_save_checkpoint=True",
        "--log_interval=1",
        "--dataset=bench",
        "--out_dir=out",
    ]
    done = subprocess.run(
        command, cwd=folder, capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"nanoGPT's train.py failed:\n{done.stderr[-3000:]}")
    times = {int(i): float(ms) / 1000 for i, ms in _ITERATION.findall(done.stdout)}
    if len(times) < iterations:
        raise RuntimeError(f"nanoGPT logged {len(times)} of {iterations} iterations")
    return [times[i] for i in range(iterations)]


def _load_model(anchor: Path, checkpoint_path: Path) -> torch.nn.Module:
    spec = importlib.util.spec_from_file_location("nanogpt_model", anchor / "model.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    checkpoint = torch.load(checkpoint_path, map_location="cpu", weights_only=False)
    model = module.GPT(module.GPTConfig(**checkpoint["model_args"]))
    state = {k.removeprefix("_orig_mod."): v for k, v in checkpoint["model"].items()}
    model.load_state_dict(state)
    return model.eval()


@torch.no_grad()
def _bits_per_char(model: torch.nn.Module, ids: list[int], block: int) -> tuple[int, float]:
    """Pieces of ``block + 1`` characters overlapping by one (the model reads ``block`` and
    predicts each next one): each character after the first is scored once."""
    total, count, rows = 0.0, 0, []
    for start in range(0, len(ids) - 1, block):
        piece = ids[start : start + block + 1]
        if len(piece) >= 2:
            rows.append(piece)
    for first in range(0, len(rows), 64):
        batch = rows[first : first + 64]
        width = max(len(r) for r in batch) - 1
        x = torch.zeros(len(batch), width, dtype=torch.long)
        y = torch.full((len(batch), width), -1, dtype=torch.long)
        for i, r in enumerate(batch):
            x[i, : len(r) - 1] = torch.tensor(r[:-1])
            y[i, : len(r) - 1] = torch.tensor(r[1:])
        logits, _ = model(x, y)  # with targets, nanoGPT returns every position's logits
        flat = logits.reshape(-1, logits.shape[-1]).float()
        total += F.cross_entropy(flat, y.reshape(-1), ignore_index=-1, reduction="sum").item()
        count += int((y != -1).sum())
    return count, total / count / math.log(2)


def run_nanogpt(text: str, seconds: float, anchor: Path = ANCHOR) -> NanoGPTResult:
    """Train nanoGPT's CPU recipe for ``seconds`` of iterations on ``text``'s first 90 %;
    score it on the last 10 % in bits per character."""
    if not (anchor / "train.py").is_file():
        raise FileNotFoundError(f"no nanoGPT at {anchor}: pass its folder with --nanogpt-dir")
    with tempfile.TemporaryDirectory(prefix="nanogpt-") as scratch:
        folder = Path(scratch)
        _prepare(text, folder, anchor)
        calibration = _run(folder, 30, timeout=600)
        step = statistics.fmean(calibration[5:])
        iterations = max(10, int(seconds / step))
        print(
            f"nanoGPT calibration: {step * 1000:.1f} ms/iteration -> {iterations} iterations",
            flush=True,
        )
        (folder / "out" / "ckpt.pt").unlink(missing_ok=True)
        times = _run(folder, iterations, timeout=max(600, 20 * seconds))
        # iteration 0's time includes the first evaluation: count it as a typical one
        train_seconds = statistics.median(times) + sum(times[1:])
        model = _load_model(anchor, folder / "out" / "ckpt.pt")
        meta = pickle.loads((folder / "data" / "bench" / "meta.pkl").read_bytes())
        block = model.config.block_size
    cut = int(len(text) * 0.9)
    ids = [meta["stoi"][c] for c in text[cut:]]
    scored, bpc = _bits_per_char(model, ids, block)
    return NanoGPTResult(iterations, train_seconds, step * 1000, scored, bpc)


if __name__ == "__main__":
    sys.exit(
        "nanogpt_side.py is a module, not a script: run it through "
        "benchmarks/time_to_quality.py --nanogpt (see its --help)"
    )
