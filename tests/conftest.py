"""Shared test set-up: the suite runs offline, whatever the machine can reach."""

import os

# must be set before transformers / huggingface_hub are imported (read once at import)
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _no_model_override(monkeypatch: pytest.MonkeyPatch) -> None:
    """A GPT2LAB_MODEL set in the caller's shell must not change what tests load."""
    monkeypatch.delenv("GPT2LAB_MODEL", raising=False)


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list:
    """Fail loudly if code under test opens a network connection; returns the attempts."""
    import socket

    attempts: list = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket, "create_connection", refuse)
    return attempts
