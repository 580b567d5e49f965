"""Where the course is running: device, seeds, quick mode, Colab, online or offline.

This module imports no other helper, so every other module may import it.
"""

from __future__ import annotations

import os
import platform
import random
import socket
import sys
import tempfile
import threading
import time
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

if TYPE_CHECKING:  # imported where used: the data commands start without it
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


HF_ENDPOINT_DEFAULT = "https://huggingface.co"
NEGATIVE_ANSWER_TTL_S = 30.0
"""How long "the Hub cannot be reached" is believed before the network is probed again."""

_online_cache: dict[tuple[str, int], tuple[bool, float]] = {}
_now = time.monotonic  # the clock the cache reads (tests move it)


def hub_endpoint() -> str:
    """The Hub address huggingface_hub uses: ``$HF_ENDPOINT`` (as read when it was imported)."""
    try:
        from huggingface_hub import constants
    except ImportError:  # pragma: no cover - transformers depends on huggingface_hub
        return os.environ.get("HF_ENDPOINT", HF_ENDPOINT_DEFAULT).rstrip("/")
    return constants.ENDPOINT


def _endpoint_address(endpoint: str) -> tuple[str, int] | None:
    """``(host, port)`` of an endpoint URL: an explicit port, else 80 for http, 443 for https."""
    parts = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:  # a port that is not a number
        return None
    if not host:
        return None
    return host, port or (80 if parts.scheme == "http" else 443)


def is_online(host: str | None = None, port: int | None = None, timeout: float = 1.5) -> bool:
    """Can the model hub be reached? Answers within ``timeout`` seconds, never more.

    The hub is the one huggingface_hub talks to (:func:`hub_endpoint`, which follows
    ``HF_ENDPOINT``) unless ``host``/``port`` say otherwise. With ``HF_HUB_OFFLINE=1`` the
    answer is False without touching the network. Otherwise one TCP connection is tried in
    a background thread, so a slow DNS server or a network that silently drops packets
    costs at most ``timeout``. The answer is cached per host and port: "online" for the
    session, "offline" for :data:`NEGATIVE_ANSWER_TTL_S` seconds only, so a network that
    comes back (or a Hub that was briefly down) is noticed.
    """
    if hub_offline_requested():
        return False
    if host is None:
        address = _endpoint_address(hub_endpoint())
        if address is None:
            return False
        host, endpoint_port = address
        port = endpoint_port if port is None else port
    elif port is None:
        port = 443
    key = (host, port)
    cached = _online_cache.get(key)
    if cached is not None and (cached[0] or _now() - cached[1] < NEGATIVE_ANSWER_TTL_S):
        return cached[0]

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
    online = bool(answer and answer[0])
    _online_cache[key] = (online, _now())
    return online


def get_device(prefer: str | None = None) -> torch.device:
    """The best available device: CUDA, then Apple's MPS, then the CPU.

    ``prefer`` (e.g. ``"cpu"``) forces a device; asking for one that is absent is an error.
    """
    import torch

    if prefer is not None:
        try:
            device = torch.device(prefer)
        except RuntimeError as error:  # e.g. "gpu", "cuda:x"
            raise RuntimeError(
                f"Unknown device {prefer!r}: use cpu, cuda (or cuda:1, ...) or mps."
            ) from error
        if device.type not in ("cpu", "cuda", "mps"):  # e.g. "meta": no values to compute with
            raise RuntimeError(f"The course runs on cpu, cuda or mps, not on {prefer!r}.")
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


MAX_SEED = 2**32 - 1
"""Seeds run from 0 to this: the range that Python, NumPy and torch all take as they are."""


def seed_problem(name: str, seed: object) -> str | None:
    """Why ``seed`` cannot seed a run (a sentence naming ``name``), or None if it can."""
    if isinstance(seed, int) and not isinstance(seed, bool) and 0 <= seed <= MAX_SEED:
        return None
    return f"{name} must be a whole number from 0 to {MAX_SEED:,} (2**32 - 1), got {seed!r}."


def set_seed(seed: int) -> None:
    """Seed Python's ``random``, NumPy and torch (all devices) for a reproducible run."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # seeds CUDA and MPS generators too


def current_umask() -> int:
    """The process's umask: the permission bits that new files and folders do not get."""
    try:  # Linux says it without changing it
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # elsewhere: set it and put it back
    os.umask(mask)
    return mask


def follow_umask(path: str | os.PathLike) -> None:
    """Give ``path``, and everything in it if it is a folder, the permissions that
    ``open()`` and ``mkdir()`` would have given: 0666 (files) or 0777 (folders) less the
    umask. ``tempfile`` makes private files (0600) and folders (0700), and safetensors
    writes 0600 files: a model folder copied to a shared machine or served by a web
    server would be unreadable to everyone else."""
    mask, top = current_umask(), Path(path)
    for item in [top, *top.rglob("*")] if top.is_dir() else [top]:
        if not item.is_symlink():
            item.chmod((0o777 if item.is_dir() else 0o666) & ~mask)


def folder_problem(place: Path, flag: str) -> str | None:
    """Why ``place`` cannot become a folder to write into (a sentence naming ``flag``), or
    None if it can: the nearest existing path at or above it must be a folder this process
    may write to. Asked before long work, so that it fails at the start, not at the end."""
    for path in (place, *place.parents):
        if path.exists():
            if not path.is_dir():
                what = "is a file" if path == place else f"is under {path}, a file"
                return f"{flag} {place} {what}: give a folder (it is made if it is not there)."
            if not os.access(path, os.W_OK | os.X_OK):
                where = "" if path == place else f": {path} is not writable"
                return (
                    f"{flag} {place} cannot be written{where} (permission denied, or a "
                    f"read-only disk). Choose a folder you can write to."
                )
            return None
    return None


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` all at once: readers see the old file or the new one,
    never half of it (the text goes to a temporary file in the same folder, which is then
    renamed over ``path``). The file gets the permissions the umask gives a new file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding=encoding) as file:
            file.write(text)
        follow_umask(temp)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return path


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


_WIDE_CPU_CAPABILITIES = {"AVX512", "AVX512_VNNI", "AVX512_BF16", "AMX"}


def cpu_capability() -> str:
    """The instruction set torch's CPU kernels use ("AVX2", "AVX512", ...).

    ``ATEN_CPU_CAPABILITY=avx2`` lowers it, which ``benchmarks/as_avx2.sh`` uses to
    measure, on an AVX-512 CPU, what an AVX2-only CPU would do.
    """
    import torch

    get = getattr(torch.backends.cpu, "get_cpu_capability", None)
    return str(get()).upper() if get is not None else "DEFAULT"


def bf16_supported(device: torch.device) -> bool:
    """Does ``device`` compute in bfloat16 natively (Ampere+ GPUs, CPUs with AMX or AVX512-BF16)?

    On a CPU both must hold: the CPU has AMX or AVX512-BF16 instructions, and torch uses its
    AVX-512 kernels (it does not when ``ATEN_CPU_CAPABILITY=avx2`` limits it, as on an
    AVX2-only CPU, where bf16 is slower than fp32).
    """
    if device.type == "cuda":
        return _cuda_bf16_native(device)
    if device.type == "cpu":
        has_instructions = bool(_cpu_flags() & {"amx_bf16", "avx512_bf16"})
        return has_instructions and cpu_capability() in _WIDE_CPU_CAPABILITIES
    return False


def _cuda_bf16_native(device: torch.device) -> bool:
    """bf16 in hardware (compute capability 8.0+, e.g. A100, L4, H100), not emulated.

    ``torch.cuda.is_bf16_supported()`` alone is True on a T4 (7.5), where bf16 is emulated
    and slow; fp16 is the right choice there.
    """
    import torch

    if not torch.cuda.is_available():
        return False
    try:
        return bool(torch.cuda.is_bf16_supported(including_emulation=False))
    except TypeError:  # a torch without including_emulation (before 2.3)
        major, _ = torch.cuda.get_device_capability(device)
        return major >= 8


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
    import torch

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
        "cpu_capability": cpu_capability(),
        "bf16_supported": bf16_supported(device),
        "fp16_supported": fp16_supported(device),
        "colab": in_colab(),
        "online": is_online(),
        "hf_hub_offline": hub_offline_requested(),
        "hf_endpoint": hub_endpoint(),
        "quick_mode": is_quick_mode(),
    }


def format_environment(report: dict[str, Any]) -> str:
    """Render :func:`describe_environment`'s report as aligned ``key : value`` lines."""
    width = max(len(key) for key in report)
    return "\n".join(f"{key:<{width}} : {value}" for key, value in report.items())


def similar_path(path: str | os.PathLike) -> Path | None:
    """An existing sibling whose name is close to ``path``'s (a typo's likely target:
    ``models/finetunde`` -> ``models/finetuned``), or None."""
    import difflib

    path = Path(path).expanduser()
    try:
        siblings = [p.name for p in path.parent.iterdir()] if path.parent.is_dir() else []
    except OSError:
        return None
    close = difflib.get_close_matches(path.name, siblings, n=1, cutoff=0.75)
    return path.parent / close[0] if close else None
