"""Loading from the Hub, against a stand-in Hub on 127.0.0.1 (``tests/standin_hub.py``).

huggingface_hub reads HF_ENDPOINT, HF_HOME and HF_HUB_OFFLINE once, at import (and
conftest.py sets HF_HUB_OFFLINE=1 for this process), so each scenario runs in a process
of its own, with its own environment, and prints its findings as one ``RESULT {json}``
line. On Linux that process is forked from one that has imported torch and nothing that
reads those variables (``tests/cli_forkserver.py torch``): the scenario imports
huggingface_hub and transformers itself, as a fresh interpreter would.
The served model is 2 layers x 64 wide with a 1,024-token context: nothing like the offline
models (the base 4 x 128, the untrained 2 x 128, both with 128 tokens), so the tests can
tell which one was loaded.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from cli_forkserver import FORK, ForkServer
from standin_hub import DEFAULT_COMMIT, StandInHub, build_gpt2_repo

SERVED = {"n_layer": 2, "n_embd": 64, "n_positions": 1024, "vocab_size": 50257}
WEIGHTS = "/gpt2/resolve/{rev}/model.safetensors"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt")

NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))

PRELUDE = """
import json, os, sys, time
SLEPT = []  # every time.sleep: huggingface_hub's retry loop waits 1, 2, 4, 8, 8 s per file
_sleep = time.sleep
def _recorded_sleep(seconds):
    SLEPT.append(seconds)
    _sleep(seconds)
time.sleep = _recorded_sleep
def slept():
    return sum(SLEPT)
def report(**facts):
    print("RESULT " + json.dumps(facts), flush=True)
def describe(model, tokenizer=None):
    config = model.config
    keys = ("n_layer", "n_embd", "n_positions", "vocab_size")
    facts = {key: getattr(config, key) for key in keys}
    if tokenizer is not None:
        facts.update(tokens=len(tokenizer), max_length=tokenizer.model_max_length,
                     hello=tokenizer("Hello world")["input_ids"])
    return facts
"""


def scenario_environment() -> dict[str, str]:
    """This process's environment without what a scenario sets itself."""
    prefixes = ("HF_", "HUGGINGFACE_", "TRANSFORMERS_", "COLAB_", "GPT2LAB_")
    return {key: value for key, value in os.environ.items() if not key.startswith(prefixes)}


_warm: list[ForkServer] = []  # the fork server, while this module's tests run (on Linux)


@pytest.fixture(scope="module", autouse=True)
def warm_interpreter():
    if FORK:
        _warm.append(ForkServer(scenario_environment(), preload="torch"))
    yield
    while _warm:
        _warm.pop().close()


def run_python(argv: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    """``python *argv`` in a process of its own, with ``env`` on top of
    :func:`scenario_environment`: forked from the warm interpreter where there is one."""
    if not _warm:
        return subprocess.run(
            [sys.executable, *argv], env={**scenario_environment(), **env},
            capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
    out = Path(tempfile.mkdtemp(prefix="scenario-"))
    try:
        rc, stdout, stderr = _warm[0].run(argv, env, out, timeout)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return subprocess.CompletedProcess(argv, rc, stdout, stderr)


def run_scenario(
    code: str,
    *,
    endpoint: str,
    home: Path,
    offline: bool = False,
    colab: bool = False,
    timeout: float = 120,
) -> tuple[dict, subprocess.CompletedProcess]:
    """Run ``code`` in a process of its own against ``endpoint``; its RESULT and the process."""
    env = dict(
        HF_ENDPOINT=endpoint,
        HF_HOME=str(home),
        HF_HUB_OFFLINE="1" if offline else "0",
        HF_HUB_DISABLE_TELEMETRY="1",
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
        GPT2LAB_TRAINED_MODEL=str(home / "no-trained-model"),
        PYTHONUNBUFFERED="1",
    )
    if colab:
        env["COLAB_RELEASE_TAG"] = "1"
    completed = run_python(["-c", PRELUDE + textwrap.dedent(code)], env, timeout)
    results = [line for line in completed.stdout.splitlines() if line.startswith("RESULT ")]
    assert completed.returncode == 0 and results, (
        f"scenario failed (rc {completed.returncode})\n--- stdout\n{completed.stdout[-3000:]}"
        f"\n--- stderr\n{completed.stderr[-5000:]}"
    )
    return json.loads(results[-1][len("RESULT ") :]), completed


def weight_downloads(hub: StandInHub) -> int:
    return sum(hub.count("GET", WEIGHTS.format(rev=rev)) for rev in ("main", DEFAULT_COMMIT))


@pytest.fixture(scope="module")
def gpt2_repo(tmp_path_factory) -> Path:
    # random weights in a shape of their own (1,024-token context), told apart from the
    # offline models (128) by shape alone
    shape = {"n_layer": 2, "n_embd": 64, "n_head": 2, "n_positions": 1024}
    return build_gpt2_repo(tmp_path_factory.mktemp("repo") / "gpt2", **shape)


@pytest.fixture
def hub(gpt2_repo):
    with StandInHub({"gpt2": gpt2_repo}) as running:
        yield running


@pytest.fixture
def closed_endpoint() -> str:
    """An endpoint whose port was just closed: connections to it are refused.

    Function-scoped and asked for after ``hub``, so it cannot be the port of a live hub.
    """
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
    return f"http://127.0.0.1:{port}"


FRESH_LOAD = """
from huggingface_hub import try_to_load_from_cache
from helpers import model_source, modeling
tokenizer = modeling.load_tokenizer("gpt2")
weights = try_to_load_from_cache("gpt2", "model.safetensors")
kind_after_tokenizer = model_source.locate_model("gpt2").kind
model = modeling.load_model("gpt2", device="cpu")
report(kind_after_tokenizer=kind_after_tokenizer,
       weights_cached_after_tokenizer=isinstance(weights, str),
       kind_after_model=model_source.locate_model("gpt2").kind,
       model=describe(model, tokenizer))
"""


@pytest.fixture(scope="module")
def downloaded(gpt2_repo, tmp_path_factory) -> dict:
    """A fresh HF_HOME, then load_tokenizer("gpt2") and load_model("gpt2"), as a user would.

    Returns the scenario's findings, the requests the hub served, and the HF_HOME, which
    the later tests copy as "a machine where gpt2 was downloaded".
    """
    home = tmp_path_factory.mktemp("downloaded") / "hf_home"
    with StandInHub({"gpt2": gpt2_repo}) as hub:
        result, completed = run_scenario(FRESH_LOAD, endpoint=hub.endpoint, home=home)
        requests = list(hub.requests)
        weights = weight_downloads(hub)
    return {"result": result, "stderr": completed.stderr, "requests": requests,
            "weights": weights, "home": home}  # fmt: skip


def copy_home(downloaded: dict, tmp_path: Path) -> Path:
    """A copy of the HF_HOME where gpt2 was downloaded."""
    home = tmp_path / "hf_home"
    cached = downloaded["home"] / "hub" / "models--gpt2"
    assert cached.is_dir(), f"loading gpt2 from a fresh cache cached nothing: {downloaded}"
    shutil.copytree(downloaded["home"], home, symlinks=True)
    return home


def cache_part_of_gpt2(home: Path, repo_id: str, keep: set[str]) -> None:
    """Cache, under ``repo_id``, only the files named in ``keep`` of the cached gpt2."""
    hub_cache = home / "hub"
    target = hub_cache / f"models--{repo_id.replace('/', '--')}"
    if target.name != "models--gpt2":
        shutil.copytree(hub_cache / "models--gpt2", target, symlinks=True)
    snapshot = target / "snapshots" / DEFAULT_COMMIT
    for entry in list(snapshot.iterdir()):
        if entry.name not in keep:
            blob = entry.resolve()
            entry.unlink()
            blob.unlink(missing_ok=True)


def test_a_fresh_cache_loads_the_served_model_after_its_tokenizer(downloaded):
    result = downloaded["result"]
    assert result["weights_cached_after_tokenizer"] is False  # the tokenizer took no weights
    assert result["kind_after_tokenizer"] == "hub"  # tokenizer files cached != model cached
    assert result["kind_after_model"] == "hub-cache"
    assert result["model"] == {
        **SERVED,
        "tokens": 50257,
        "max_length": 1024,
        "hello": [15496, 995],
    }
    assert downloaded["weights"] == 1, downloaded["requests"]
    assert "offline model" not in downloaded["stderr"]


def test_a_partly_cached_repo_loads_the_rest_from_the_hub(downloaded, tmp_path, gpt2_repo):
    """Tokenizer cached but no weights (as AutoTokenizer leaves it), or only config.json."""
    home = copy_home(downloaded, tmp_path)
    cache_part_of_gpt2(home, "owner/config-only", {"config.json"})  # copied before gpt2 shrinks
    cache_part_of_gpt2(home, "gpt2", {"config.json", *TOKENIZER_FILES})
    code = """
    from helpers import model_source, modeling
    facts = {}
    for name in ("gpt2", "owner/config-only"):
        source = model_source.locate_model(name)
        model, tokenizer = modeling.load_model_and_tokenizer(name, device="cpu")
        facts[name] = dict(kind=source.kind, model=describe(model, tokenizer))
    report(**facts)
    """
    repos = {"gpt2": gpt2_repo, "owner/config-only": gpt2_repo}
    with StandInHub(repos) as hub:
        result, _ = run_scenario(code, endpoint=hub.endpoint, home=home)
    weights = [path for _, path in hub.requests_for("GET", "/model.safetensors")]
    for name in repos:
        assert result[name]["kind"] == "hub", name
        model = result[name]["model"]
        assert (model["n_positions"], model["n_embd"], model["max_length"]) == (1024, 64, 1024)
        assert model["tokens"] == 50257
        assert sum(path.startswith(f"/{name}/") for path in weights) == 1, hub.requests
    # the tokenizer came from the cache when it was there, from the hub when not
    assert hub.count("GET", "/tokenizer.json") == 1
    assert hub.requests_for("GET", "/tokenizer.json")[0][1].startswith("/owner/config-only/")


def test_a_cached_model_loads_quickly_when_the_hub_has_gone(downloaded, tmp_path, hub):
    home = copy_home(downloaded, tmp_path)
    # a second repo whose weights are cached but not its tokenizer
    cache_part_of_gpt2(home, "owner/no-tokenizer", {"config.json", "model.safetensors"})
    hub.stop()  # the Hub goes away: its port now refuses connections
    code = """
    from helpers import model_source, modeling
    source = model_source.locate_model("gpt2")
    model, tokenizer = modeling.load_model_and_tokenizer("gpt2", device="cpu")
    slept_loading = slept()
    try:
        modeling.load_model_and_tokenizer("owner/no-tokenizer", device="cpu")
        error = None
    except modeling.ModelNotAvailableError as raised:
        error = str(raised)
    report(kind=source.kind, slept=slept_loading, model=describe(model, tokenizer),
           error=error, error_slept=slept() - slept_loading)
    """
    result, completed = run_scenario(code, endpoint=hub.endpoint, home=home)
    # huggingface_hub's retry loop (25-47 s of sleeps when the Hub is gone) never ran: a
    # count of the waits, not a wall time, so a slow machine gets the same verdict
    assert result["slept"] == 0
    assert result["kind"] == "hub-cache"
    assert result["model"]["n_positions"] == 1024 and result["model"]["tokens"] == 50257
    assert "offline model" not in completed.stderr
    # the cache falls short and the Hub is gone: a clear error, without the retry loop
    assert result["error"].startswith("Could not load the tokenizer 'owner/no-tokenizer'")
    assert result["error_slept"] == 0


def test_offline_mode_reads_the_cache_and_never_asks_the_hub(downloaded, tmp_path, hub):
    home = copy_home(downloaded, tmp_path)
    code = """
    from helpers import environment, model_source, modeling
    source = model_source.locate_model("gpt2")
    model, tokenizer = modeling.load_model_and_tokenizer("gpt2", device="cpu")
    report(kind=source.kind, online=environment.is_online(), model=describe(model, tokenizer))
    """
    result, _ = run_scenario(code, endpoint=hub.endpoint, home=home, offline=True)
    assert result["kind"] == "hub-cache" and result["online"] is False
    assert result["model"]["n_positions"] == 1024
    assert hub.requests == []


def test_a_name_not_on_the_hub_is_one_clear_line_from_the_cli(tmp_path, hub):
    env = dict(HF_ENDPOINT=hub.endpoint, HF_HOME=str(tmp_path), HF_HUB_OFFLINE="0",
               HF_HUB_DISABLE_TELEMETRY="1", NO_PROXY="127.0.0.1,localhost")  # fmt: skip
    completed = run_python(["-m", "helpers", "model", "--model", "no-such-model-xyz"], env, 120)
    lines = [line for line in completed.stderr.splitlines() if line.strip()]
    assert completed.returncode == 2, completed.stderr
    assert "Traceback" not in completed.stderr
    assert lines == [
        f"error: no model named 'no-such-model-xyz' on the Hub at {hub.endpoint}: check the "
        f"spelling (e.g. 'gpt2', 'distilgpt2' or 'owner/name'; a private model needs "
        f"`hf auth login`), or pass the folder that save_pretrained wrote."
    ]
    assert hub.count(path_end="/no-such-model-xyz/resolve/main/config.json") >= 1


def test_the_probe_follows_hf_endpoint_and_honours_hf_hub_offline(tmp_path, hub, closed_endpoint):
    code = f"""
    from huggingface_hub import constants
    from helpers import environment
    facts = dict(endpoint=environment.hub_endpoint(), live=environment.is_online())
    constants.ENDPOINT = {closed_endpoint!r}
    facts["closed"] = environment.is_online()
    constants.ENDPOINT = facts["endpoint"]
    os.environ["HF_HUB_OFFLINE"] = "1"
    facts["offline_flag"] = environment.is_online()
    report(**facts)
    """
    result, _ = run_scenario(code, endpoint=hub.endpoint, home=tmp_path)
    assert result == {
        "endpoint": hub.endpoint,
        "live": True,
        "closed": False,
        "offline_flag": False,
    }
    assert hub.requests == []  # a TCP probe, no HTTP request


def test_without_cache_or_hub_the_offline_base_stands_in_locally_but_not_on_colab(
    tmp_path, closed_endpoint
):
    code = """
    from helpers import environment, model_source, modeling
    facts = {}
    # HF_HUB_OFFLINE=1 (set at start) and nothing cached: the pretrained base, with its banner
    source = model_source.locate_model("gpt2")
    model, tokenizer = modeling.load_model_and_tokenizer("gpt2", device="cpu")
    facts["offline_flag"] = dict(kind=source.kind, reason=source.reason,
                                 model=describe(model, tokenizer), dtype=str(model.dtype))
    # the Hub cannot be reached: locally, still the offline base ...
    del os.environ["HF_HUB_OFFLINE"]
    source = model_source.locate_model("gpt2")
    facts["hub_down"] = dict(kind=source.kind, reason=source.reason)
    # ... but on Colab an error that says what to check
    os.environ["COLAB_RELEASE_TAG"] = "1"
    facts["colab"] = environment.in_colab()
    try:
        modeling.load_model("gpt2", device="cpu")
        facts["colab_error"] = None
    except modeling.ModelNotAvailableError as error:
        facts["colab_error"] = str(error)
    facts["on_purpose"] = model_source.locate_model("gpt2", allow_offline_fallback=True).kind
    os.environ["GPT2LAB_MODEL"] = "gpt2lab-tiny"
    facts["by_name"] = model_source.locate_model().kind
    os.environ["GPT2LAB_MODEL"] = "gpt2lab-base"
    facts["base_by_name"] = model_source.locate_model().kind
    report(**facts)
    """
    result, completed = run_scenario(code, endpoint=closed_endpoint, home=tmp_path, offline=True)
    offline = result["offline_flag"]
    assert offline["kind"] == "base" and "HF_HUB_OFFLINE=1 is set" in offline["reason"]
    assert offline["model"]["n_layer"] == 4 and offline["model"]["n_positions"] == 128
    assert offline["model"]["max_length"] == 128 and offline["dtype"] == "torch.float32"
    assert completed.stderr.count("Using     : the offline base 'gpt2lab-base'") == 1
    assert "not GPT-2" in completed.stderr

    assert result["hub_down"]["kind"] == "base"
    assert f"the Hub at {closed_endpoint} cannot be reached" in result["hub_down"]["reason"]

    assert result["colab"] is True
    message = result["colab_error"]
    assert message is not None and message.startswith("Cannot load 'gpt2'"), message
    for hint in (closed_endpoint, "internet", "HF_ENDPOINT", "HF_HUB_OFFLINE"):
        assert hint in message
    assert "GPT2LAB_MODEL=gpt2lab-base" in message and "gpt2lab-tiny" in message
    assert result["on_purpose"] == "base" and result["by_name"] == "offline"
    assert result["base_by_name"] == "base"


def test_the_stand_in_hub_serves_the_pretrained_base_by_default(tmp_path):
    import torch
    from transformers import GPT2LMHeadModel

    from helpers.offline_model import load_base_model

    folder = build_gpt2_repo(tmp_path / "gpt2")
    served = GPT2LMHeadModel.from_pretrained(folder, dtype="auto")
    base = load_base_model()
    assert served.dtype == torch.float32  # stored in fp32, like the Hub's gpt2
    ids = torch.tensor([[464, 3290, 373, 257]])
    with torch.no_grad():
        assert torch.equal(served(ids).logits, base(ids).logits)
    random = build_gpt2_repo(tmp_path / "random", n_layer=1, n_embd=32, n_head=2)
    assert GPT2LMHeadModel.from_pretrained(random).config.n_layer == 1
    with pytest.raises(ValueError, match="own shape"):
        build_gpt2_repo(tmp_path / "both", n_layer=2, pretrained=True)


# ------------------------------------------------------------------ the stand-in hub itself


def http(hub: StandInHub, method: str, path: str, headers: dict | None = None):
    """(status, headers, body) of one request, straight to the hub (no proxy)."""
    request = urllib.request.Request(hub.endpoint + path, method=method, headers=headers or {})
    try:
        with NO_PROXY.open(request, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def test_the_stand_in_hub_answers_like_the_hub(gpt2_repo, tmp_path):
    config = (gpt2_repo / "config.json").read_bytes()
    with StandInHub({"gpt2": gpt2_repo, "owner/copy": gpt2_repo}) as hub:
        status, headers, body = http(hub, "HEAD", "/gpt2/resolve/main/config.json")
        assert status == 200 and body == b"" and int(headers["Content-Length"]) == len(config)
        assert headers["X-Repo-Commit"] == DEFAULT_COMMIT and headers["ETag"].startswith('"')
        status, _, body = http(hub, "GET", f"/owner/copy/resolve/{DEFAULT_COMMIT}/config.json")
        assert status == 200 and body == config
        status, headers, body = http(
            hub, "GET", "/gpt2/resolve/main/config.json", {"Range": "bytes=2-9"}
        )
        assert status == 206 and body == config[2:10]
        assert headers["Content-Range"] == f"bytes 2-9/{len(config)}"

        for path, code in [
            ("/gpt2/resolve/main/pytorch_model.bin", "EntryNotFound"),
            ("/no-such/resolve/main/config.json", "RepoNotFound"),
            ("/gpt2/resolve/v9/config.json", "RevisionNotFound"),
            ("/api/models/no-such", "RepoNotFound"),
        ]:
            status, headers, _ = http(hub, "GET", path)
            assert (status, headers["X-Error-Code"]) == (404, code), path

        status, _, body = http(hub, "GET", "/api/models/owner/copy/revision/main")
        info = json.loads(body)
        assert status == 200 and info["id"] == "owner/copy" and info["sha"] == DEFAULT_COMMIT
        assert {"rfilename": "model.safetensors"} in info["siblings"]
        status, _, body = http(hub, "GET", "/api/models/gpt2/tree/main?recursive=true")
        sizes = {entry["path"]: entry["size"] for entry in json.loads(body)}
        assert sizes["config.json"] == len(config) and "model.safetensors" in sizes
        assert http(hub, "GET", "/api/spaces/gpt2")[0] == 404
        assert hub.requests[0] == ("HEAD", "/gpt2/resolve/main/config.json")
        endpoint = hub.endpoint
    with pytest.raises(urllib.error.URLError, match="refused"):  # stopped: the port is closed
        NO_PROXY.open(endpoint, timeout=5)
