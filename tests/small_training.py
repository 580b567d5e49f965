"""What the training tests share: a few lines of verse to train on, and one torch thread
(tiny models train faster on one, and do not fight other processes). A test module
imports both: ``from small_training import LINES, one_torch_thread  # noqa: F401``."""

import pytest
import torch

LINES = [
    "To be, or not to be, that is the question:",
    "Whether 'tis nobler in the mind to suffer",
    "The slings and arrows of outrageous fortune,",
    "Or to take arms against a sea of troubles",
]


@pytest.fixture(autouse=True)
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def train_command(data, out, *extra: str, steps: int = 3) -> list[str]:
    """``python -m helpers train`` arguments for a tiny run of ``steps`` steps on ``data``."""
    return [
        "train",
        "--data", str(data),
        "--output-dir", str(out),
        "--model", "gpt2lab-tiny",
        "--split", "contiguous",
        "--max-steps", str(steps),
        "--batch-size", "2",
        "--block-size", "32",
        "--eval-every", "0",
        "--eval-batches", "2",
        "--no-progress-bar",
        *extra,
    ]  # fmt: skip
