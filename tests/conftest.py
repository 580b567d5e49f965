"""Shared test set-up: the suite runs offline, whatever the machine can reach."""

import os

# must be set before transformers / huggingface_hub are imported (read once at import)
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _no_model_override(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings in the caller's shell (or left by a test) must not change what tests load
    or where they write: the model, and the checkpoint and resume folders."""
    for name in ("GPT2LAB_MODEL", "GPT2LAB_CHECKPOINT_DIR", "GPT2LAB_RESUME_DIR"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def gpt2_tokenizer():
    """GPT-2's real BPE tokenizer (1,024-token context), built once for the whole session.

    Shared by every test: do not change it (pass ``padding_side=`` to a call instead of
    setting it), or one test's change leaks into the next.
    """
    from helpers.modeling import gpt2_tokenizer_from_package

    return gpt2_tokenizer_from_package()


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


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    """An empty Hugging Face cache in place of the real one: behave as on a fresh machine."""
    from huggingface_hub import constants

    cache = tmp_path / "hf_cache"
    cache.mkdir()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    return cache


@pytest.fixture
def empty_hub_cache(hub_cache):
    return hub_cache


@pytest.fixture(params=[2048, 7], ids=["one-tile", "tiles-of-7"])
def vocab_tile(request, monkeypatch) -> int:
    """The CPU's vocabulary tile (``helpers.output_layer.CPU_VOCAB_TILE``): larger than the
    tests' small vocabularies (one tile), or 7 rows (several tiles, the last one short)."""
    from helpers import output_layer

    monkeypatch.setattr(output_layer, "CPU_VOCAB_TILE", request.param)
    return request.param


@pytest.fixture
def always_model():
    """A factory: ``always_model(token)`` is a tiny GPT-2 whose every prediction is ``token``.

    Its final layer norm ignores the input and outputs (a large multiple of) that token's
    own embedding, so the tied output layer ranks it first with probability ~1.
    """
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    def build(token: int, vocab: int = 50257, positions: int = 64) -> GPT2LMHeadModel:
        torch.manual_seed(0)
        config = GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=vocab, n_positions=positions)
        model = GPT2LMHeadModel(config).eval()
        model.loss_type = "ForCausalLM"
        with torch.no_grad():
            embedding = model.transformer.wte.weight[token]
            embedding.mul_(10 / embedding.norm())
            model.transformer.ln_f.weight.zero_()
            model.transformer.ln_f.bias.copy_(embedding * 5)
        return model

    return build


@pytest.fixture(scope="module")
def chromium() -> str:
    """Debian's Chromium for the real-browser tests (the app, the run report); CI must have it."""
    from test_app_browser import find_chromium

    path = find_chromium()
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("Chromium is missing in CI: .ci/run must `apt-get install -y chromium`.")
        pytest.skip(
            "No Chromium here; to run the browser test: `sudo apt-get install -y chromium`."
        )
    return path


# Parallel runs: make test runs pytest-xdist's two workers (``-n 2``). Each test file runs
# on one worker, so its module fixtures are built once, and the notebooks run together,
# in order, on one worker (04-07 use the model that 03 trains). The two longest parts,
# the simulated Colab course and the notebooks, start first, one on each worker.
LONGEST_FIRST = ("tests/test_colab_simulation.py", "notebooks/")


def work_unit(nodeid: str) -> str:
    """The unit a worker runs whole: the notebooks together, otherwise the test's file."""
    path = nodeid.split("::")[0]
    return "notebooks" if path.startswith("notebooks/") else path


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    from xdist.scheduler import LoadScopeScheduling

    class ByWorkUnit(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    config.option.loadscopereorder = False  # keep the order below: the longest first
    return ByWorkUnit(config, log)


def start_rank(nodeid: str) -> int:
    """Where a test's unit starts: the units of ``LONGEST_FIRST`` in that order, then the rest."""
    starts = [i for i, prefix in enumerate(LONGEST_FIRST) if nodeid.startswith(prefix)]
    return starts[0] if starts else len(LONGEST_FIRST)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: start_rank(item.nodeid))  # stable: each unit keeps its order
