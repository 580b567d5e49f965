import json
import random
import socket
import threading
from types import SimpleNamespace

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
    # one aligned "key : value" line per entry, in the report's order
    lines = format_environment(report).splitlines()
    keys, values = zip(*(line.split(" : ", 1) for line in lines), strict=True)
    assert [key.rstrip() for key in keys] == list(report)
    assert len({len(key) for key in keys}) == 1  # padded to one width: the colons line up
    assert values == tuple(str(value) for value in report.values())


def test_environment_lines_are_padded_to_the_longest_key():
    report = {"python": "3.11.7", "torch": "2.13.0", "quick_mode": True, "gpu_memory_gb": None}
    assert format_environment(report) == (
        "python        : 3.11.7\ntorch         : 2.13.0\nquick_mode    : True\ngpu_memory_gb : None"
    )


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
    with pytest.raises(RuntimeError, match="Unknown device 'gpu': use cpu, cuda"):
        get_device("gpu")
    with pytest.raises(RuntimeError, match="runs on cpu, cuda or mps, not on 'meta'"):
        get_device("meta")


def test_set_seed_makes_every_generator_repeat():
    def draw():
        return random.random(), float(np.random.rand()), torch.rand(3).tolist()

    set_seed(123)
    first = draw()
    set_seed(123)
    assert draw() == first
    set_seed(124)
    assert draw() != first


# ------------------------------------------------------------------ which hub the probe asks


class ProbeRecorder:
    """Stands in for socket.create_connection: records each address, answers as told."""

    def __init__(self, reachable: bool = False):
        self.reachable = reachable
        self.addresses: list[tuple[str, int]] = []

    def __call__(self, address, timeout=None):
        self.addresses.append(tuple(address))
        if not self.reachable:
            raise ConnectionRefusedError("refused")
        return socket.socket()  # closed by the probe's `with`


@pytest.fixture
def probe(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    environment._online_cache.clear()
    recorder = ProbeRecorder()
    monkeypatch.setattr(socket, "create_connection", recorder)
    yield recorder
    environment._online_cache.clear()


@pytest.mark.parametrize(
    ("endpoint", "address"),
    [
        ("https://huggingface.co", ("huggingface.co", 443)),
        ("http://hub.example", ("hub.example", 80)),
        ("https://hub.example:8443", ("hub.example", 8443)),
        ("http://127.0.0.1:5678", ("127.0.0.1", 5678)),
    ],
)
def test_the_probe_asks_the_endpoint_huggingface_hub_uses(monkeypatch, probe, endpoint, address):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "ENDPOINT", endpoint)
    assert environment.hub_endpoint() == endpoint
    assert is_online() is False
    assert probe.addresses == [address]


def test_a_live_local_hub_counts_as_online(monkeypatch):
    from huggingface_hub import constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    environment._online_cache.clear()
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{port}")
    try:
        assert is_online() is True
        server.close()
        environment._online_cache.clear()
        assert is_online() is False  # the same endpoint, its port now closed
    finally:
        server.close()
        environment._online_cache.clear()


def test_offline_is_believed_only_briefly_online_for_the_session(monkeypatch, probe):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "ENDPOINT", "https://hub.example")
    clock = [1000.0]
    monkeypatch.setattr(environment, "_now", lambda: clock[0])
    assert is_online() is False
    clock[0] += 5
    assert is_online() is False and len(probe.addresses) == 1  # a recent "no" is reused
    probe.reachable = True
    clock[0] += environment.NEGATIVE_ANSWER_TTL_S
    assert is_online() is True and len(probe.addresses) == 2  # an old "no" is asked again
    probe.reachable = False
    clock[0] += 3600
    assert is_online() is True and len(probe.addresses) == 2  # "yes" is kept


def test_answers_are_kept_per_endpoint(monkeypatch, probe):
    from huggingface_hub import constants

    probe.reachable = True
    monkeypatch.setattr(constants, "ENDPOINT", "https://one.example")
    assert is_online() is True
    monkeypatch.setattr(constants, "ENDPOINT", "https://two.example")
    probe.reachable = False
    assert is_online() is False
    assert probe.addresses == [("one.example", 443), ("two.example", 443)]
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "ENDPOINT", "https://one.example")
    assert is_online() is False  # HF_HUB_OFFLINE wins over a cached "yes"
    assert len(probe.addresses) == 2


# ------------------------------------------------------------------ precision on GPUs


@pytest.fixture
def fake_gpu(monkeypatch):
    """Pretend a CUDA GPU of a given compute capability is present (no GPU needed)."""

    def install(capability: tuple[int, int], name: str) -> torch.device:
        major, minor = capability
        properties = SimpleNamespace(major=major, minor=minor, name=name, total_memory=16 * 1024**3)
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
        monkeypatch.setattr(torch.cuda, "get_device_properties", lambda device=None: properties)
        monkeypatch.setattr(torch.version, "hip", None)
        # a T4 can make bf16 tensors (emulated): torch's default check then says "supported"
        monkeypatch.setattr(
            torch.cuda, "_check_bf16_tensor_supported", lambda device: True, raising=False
        )
        return torch.device("cuda")

    return install


@pytest.mark.parametrize(
    ("capability", "name", "native_bf16", "precision"),
    [
        ((7, 5), "Tesla T4", False, "fp16"),  # Colab's free GPU: bf16 only emulated
        ((7, 0), "Tesla V100", False, "fp16"),
        ((8, 0), "A100-SXM4-40GB", True, "bf16"),
        ((8, 9), "NVIDIA L4", True, "bf16"),
    ],
)
def test_gpu_precision_follows_native_bf16(fake_gpu, capability, name, native_bf16, precision):
    from helpers.training import choose_precision

    cuda = fake_gpu(capability, name)
    assert environment.bf16_supported(cuda) is native_bf16
    assert choose_precision(cuda) == precision
    assert describe_environment(cuda)["device_name"] == name


def test_gpu_precision_without_including_emulation(fake_gpu, monkeypatch):
    """An older torch whose is_bf16_supported() has no including_emulation: capability."""
    from helpers.training import choose_precision

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)  # the emulated answer
    assert choose_precision(fake_gpu((7, 5), "Tesla T4")) == "fp16"
    assert choose_precision(fake_gpu((8, 0), "A100")) == "bf16"


@pytest.mark.parametrize(
    ("flags", "capability", "expected"),
    [
        ({"avx2", "avx512f", "avx512_bf16"}, "AVX512", True),
        ({"avx2", "avx512f", "amx_bf16"}, "AMX", True),
        ({"avx2", "avx512f", "avx512_bf16"}, "AVX2", False),  # ATEN_CPU_CAPABILITY=avx2
        ({"avx2"}, "AVX2", False),  # an AVX2-only CPU
        ({"avx2", "avx512f"}, "AVX512", False),  # AVX-512 without its bf16 instructions
    ],
)
def test_cpu_bf16_needs_the_instructions_and_torch_using_them(
    monkeypatch, flags, capability, expected
):
    monkeypatch.setattr(environment, "_cpu_flags", lambda: flags)
    monkeypatch.setattr(environment, "cpu_capability", lambda: capability)
    assert environment.bf16_supported(torch.device("cpu")) is expected


def test_seeds_are_refused_outside_the_range_every_library_takes():
    from helpers.environment import MAX_SEED, seed_problem, set_seed

    for fine in (0, 42, MAX_SEED):
        assert seed_problem("seed", fine) is None
        set_seed(fine)  # Python, NumPy and torch all take it
    for bad in (-1, MAX_SEED + 1, 2**64, 1.5, True, "7", None):
        assert "seed must be a whole number from 0 to" in seed_problem("seed", bad)
