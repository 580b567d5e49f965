"""Where the course is running: device, seeds, quick mode, Colab, online or offline.

This module imports no other helper, so every other module may import it.
"""

from __future__ import annotations

import os
import platform
import random
import socket
import sys
import threading
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

import torch

T = TypeVar("T")

QUICK_ENV_VAR = "GPT2LAB_QUICK"
_TRUE_WORDS = {"1", "true", "yes", "on"}
_FALSE_WORDS = {"", "0", "false", "no", "off"}


def _env_flag(name: str, strict: bool = True) -> bool:
    """Read an on/off environment variable; when ``strict``, anything else is a clear error."""
    raw = os.environ.get(name, "").strip().lower()
    if raw in _TRUE_WORDS:
        return True
    if raw in _FALSE_WORDS or not strict:
        return False
    raise ValueError(f"{name}={os.environ[name]!r} is not understood: set it to 1 (on) or 0 (off).")


def is_quick_mode() -> bool:
    """True when ``GPT2LAB_QUICK=1``: tests and smoke runs shrink data and steps."""
    return _env_flag(QUICK_ENV_VAR)


def quick_or_full(quick: T, full: T) -> T:
    """Pick the quick-mode value or the full value: the one place sizes are switched."""
    return quick if is_quick_mode() else full


def project_root() -> Path:
    """The course's root folder (the one holding ``notebooks/``, ``src/``, ``data/``)."""
    return Path(__file__).resolve().parents[2]


def in_colab() -> bool:
    """True inside Google Colab."""
    return "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ


def hub_offline_requested() -> bool:
    """True when the user asked the Hugging Face libraries to stay offline."""
    # read as huggingface_hub reads them: only a "true" word switches offline mode on
    return _env_flag("HF_HUB_OFFLINE", strict=False) or _env_flag(
        "TRANSFORMERS_OFFLINE", strict=False
    )


_online_cache: dict[str, bool] = {}


def is_online(host: str = "huggingface.co", port: int = 443, timeout: float = 1.5) -> bool:
    """Can the model hub be reached? Answers within ``timeout`` seconds, never more.

    With ``HF_HUB_OFFLINE=1`` the answer is False without touching the network. Otherwise
    one TCP connection is tried in a background thread, so a slow DNS server or a network
    that silently drops packets costs at most ``timeout``. The answer is cached per host.
    """
    if hub_offline_requested():
        return False
    if host in _online_cache:
        return _online_cache[host]

    answer: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                answer.append(True)
        except OSError:
            answer.append(False)

    worker = threading.Thread(target=probe, daemon=True)
    worker.start()
    worker.join(timeout)
    _online_cache[host] = bool(answer and answer[0])
    return _online_cache[host]


def get_device(prefer: str | None = None) -> torch.device:
    """The best available device: CUDA, then Apple's MPS, then the CPU.

    ``prefer`` (e.g. ``"cpu"``) forces a device; asking for one that is absent is an error.
    """
    if prefer is not None:
        device = torch.device(prefer)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("A CUDA device was asked for, but this machine has no usable GPU.")
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise RuntimeError("An MPS device was asked for, but MPS is not available here.")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def set_seed(seed: int) -> None:
    """Seed Python's ``random``, NumPy and torch (all devices) for a reproducible run."""
    import numpy as np

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # seeds CUDA and MPS generators too


def _cpuinfo_field(field: str) -> str:
    """First value of ``field`` in /proc/cpuinfo ('' where there is no such file)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.split(":", 1)[0].strip() == field:
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def _cpu_flags() -> set[str]:
    return set(_cpuinfo_field("flags").split())


def bf16_supported(device: torch.device) -> bool:
    """Does ``device`` compute in bfloat16 natively (Ampere+ GPUs, CPUs with AMX or AVX512-BF16)?"""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return bool(_cpu_flags() & {"amx_bf16", "avx512_bf16"})
    return False


def fp16_supported(device: torch.device) -> bool:
    """Is float16 mixed precision worth using on ``device`` (any CUDA GPU, or MPS)?"""
    return device.type in {"cuda", "mps"}


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def describe_environment(device: torch.device | None = None) -> dict[str, Any]:
    """A report of versions, hardware and modes, as a flat dict (printable, JSON-able)."""
    device = device or get_device()
    if device.type == "cuda":
        properties = torch.cuda.get_device_properties(device)
        device_name = properties.name
        gpu_memory_gb: float | None = round(properties.total_memory / 1024**3, 1)
    else:
        device_name = _cpuinfo_field("model name") or platform.processor() or platform.machine()
        gpu_memory_gb = None
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "transformers": _version("transformers"),
        "datasets": _version("datasets"),
        "accelerate": _version("accelerate"),
        "device": device.type,
        "device_name": device_name,
        "gpu_memory_gb": gpu_memory_gb,
        "cpu_threads": torch.get_num_threads(),
        "bf16_supported": bf16_supported(device),
        "fp16_supported": fp16_supported(device),
        "colab": in_colab(),
        "online": is_online(),
        "hf_hub_offline": hub_offline_requested(),
        "quick_mode": is_quick_mode(),
    }


def format_environment(report: dict[str, Any]) -> str:
    """Render :func:`describe_environment`'s report as aligned ``key : value`` lines."""
    width = max(len(key) for key in report)
    return "\n".join(f"{key:<{width}} : {value}" for key, value in report.items())
