import json
import random
import socket
import threading

import numpy as np
import pytest
import torch

from helpers import environment
from helpers.environment import (
    describe_environment,
    format_environment,
    get_device,
    is_online,
    is_quick_mode,
    quick_or_full,
    set_seed,
)

REPORT_KEYS = {
    "python",
    "torch",
    "transformers",
    "datasets",
    "accelerate",
    "device",
    "device_name",
    "gpu_memory_gb",
    "bf16_supported",
    "fp16_supported",
    "colab",
    "online",
    "quick_mode",
}


def test_environment_report_has_versions_device_and_modes():
    report = describe_environment(torch.device("cpu"))
    assert REPORT_KEYS <= report.keys()
    assert report["torch"] == torch.__version__
    assert report["transformers"].startswith("5.")
    assert report["device"] == "cpu" and report["gpu_memory_gb"] is None
    assert isinstance(report["bf16_supported"], bool)
    json.dumps(report)  # a report must be JSON-able for run summaries
    text = format_environment(report)
    assert f"torch          : {torch.__version__}" in text.replace("torch ", "torch ")


@pytest.mark.parametrize(
    ("value", "expected"), [("1", True), ("true", True), ("0", False), ("", False)]
)
def test_quick_mode_reads_the_environment(monkeypatch, value, expected):
    monkeypatch.setenv("GPT2LAB_QUICK", value)
    assert is_quick_mode() is expected
    assert quick_or_full("small", "big") == ("small" if expected else "big")


def test_quick_mode_rejects_unclear_values(monkeypatch):
    monkeypatch.setenv("GPT2LAB_QUICK", "maybe")
    with pytest.raises(ValueError, match="GPT2LAB_QUICK='maybe'.*1 \\(on\\) or 0 \\(off\\)"):
        is_quick_mode()


def test_offline_flag_answers_without_touching_the_network(monkeypatch, no_network):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    environment._online_cache.clear()
    assert is_online() is False
    assert no_network == []


def test_online_probe_does_not_wait_for_a_hanging_network(monkeypatch):
    """A probe that would succeed only after the timeout must count as offline."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    environment._online_cache.clear()
    release = threading.Event()

    class FakeConnection:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    def slow_connect(*args, **kwargs):
        release.wait(5)
        return FakeConnection()

    monkeypatch.setattr(socket, "create_connection", slow_connect)
    try:
        assert is_online(host="hub.invalid", timeout=0.1) is False
    finally:
        release.set()
        environment._online_cache.clear()


def test_online_probe_reports_a_reachable_host(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    environment._online_cache.clear()
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    try:
        assert is_online(host="127.0.0.1", port=server.getsockname()[1]) is True
    finally:
        server.close()
        environment._online_cache.clear()


def test_device_choice_and_missing_devices(monkeypatch):
    assert get_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert get_device() == torch.device("cpu")
    with pytest.raises(RuntimeError, match="no usable GPU"):
        get_device("cuda")


def test_set_seed_makes_every_generator_repeat():
    def draw():
        return random.random(), float(np.random.rand()), torch.rand(3).tolist()

    set_seed(123)
    first = draw()
    set_seed(123)
    assert draw() == first
    set_seed(124)
    assert draw() != first
