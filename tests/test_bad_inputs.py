"""Every command line, on bad inputs: one clear line and the right exit status, never a
traceback.

One table (:data:`ROWS`): each row is a command line (``python -m helpers ...`` or a
benchmark script), the exit status it must end with, and a phrase its message must
contain. For a failing command the message is the last line of stderr, and it must be
one line that starts with ``error:`` (argparse's usage errors: ``...: error:``); for a
command that succeeds, the phrase is looked for in all it printed. A row fails on any
"Traceback (most recent call last)" in what the command printed.

The commands run through a fork server (tests/cli_forkserver.py: the libraries are
imported once, each command runs in a forked child exactly as ``python -m`` would run
it), with a timeout; the rows marked ``fresh`` run in a new interpreter instead, to keep
the fork server honest (and off Linux every row does, slower). Everything the rows
read is made once (:func:`work`): small texts, a 1-layer GPT-2 folder and broken copies
of it. No row trains for more than 2 steps.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cli_forkserver import FORK, ForkServer

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 120  # seconds per command: a hung command fails its row, not the session
ENV = {  # every row: offline, quick, the offline model unless a row says otherwise
    "HF_HUB_OFFLINE": "1",
    "GPT2LAB_QUICK": "1",
    "GPT2LAB_MODEL": "gpt2lab-tiny",
    "GPT2LAB_CHECKPOINT_DIR": None,
    "GPT2LAB_RESUME_DIR": None,
    "TOKENIZERS_PARALLELISM": "false",
    "OMP_NUM_THREADS": "1",
}
LINES = [
    "To be, or not to be, that is the question:",
    "Whether 'tis nobler in the mind to suffer",
    "The slings and arrows of outrageous fortune,",
    "Or to take arms against a sea of troubles",
]
TRAIN = (  # a run of 2 steps on the small text: with {out} an output folder of its own
    "train", "--data", "{w}/verse.txt", "--model", "{w}/good", "--output-dir", "{out}",
    "--split", "contiguous", "--max-steps", "2", "--batch-size", "2", "--block-size", "32",
    "--eval-every", "0", "--eval-batches", "1", "--no-progress-bar",
)  # fmt: skip


@dataclass(frozen=True)
class Row:
    """One command line and what it must give: ``argv`` after ``python -m helpers`` (or a
    script under benchmarks/ first), with ``{w}`` the shared work folder, ``{out}`` a new
    folder for this row and ``{busy_port}`` a port that is taken."""

    category: str
    name: str
    argv: tuple[str, ...]
    status: int
    phrase: str
    env: dict[str, str] = field(default_factory=dict)
    fresh: bool = False  # run in a new interpreter, not the fork server

    def __str__(self) -> str:
        return self.name


FILES = "missing, empty, binary or tiny files"
TABLES = "wrong columns, broken JSONL, folders without texts"
MODELS = "model folders and names: config-only, not GPT-2, missing, misspelt"
SETTINGS = "negative, zero or impossible settings"
CORRUPT = "corrupt files: weights, tokenizer, configs, history"
RUNS = "checkpoints from another version, half-written or unreadable"
PORTS = "the app's host and port: out of range, taken, not this machine"
BENCH = "benchmark scripts"

ROWS = [
    # --- missing, empty, binary or tiny files
    Row(FILES, "stats-missing-file", ("dataset-stats", "--data", "{w}/nothing.txt"), 2,
        "There is no file or folder"),
    Row(FILES, "stats-empty-file", ("dataset-stats", "--data", "{w}/empty.txt"), 2, "is empty"),
    Row(FILES, "stats-binary-file", ("dataset-stats", "--data", "{w}/binary.txt"), 2,
        "looks like a binary file"),
    Row(FILES, "stats-latin1-file", ("dataset-stats", "--data", "{w}/latin1.txt"), 2,
        "is not valid utf-8"),
    Row(FILES, "stats-tiny-file", ("dataset-stats", "--data", "{w}/tiny.txt"), 2,
        "No documents are left after cleaning"),
    Row(FILES, "stats-misspelt-file", ("dataset-stats", "--data", "{w}/vers.txt"), 2,
        "Did you mean {w}/verse.txt"),
    Row(FILES, "train-missing-file", (*TRAIN[:2], "{w}/nothing.txt", *TRAIN[3:]), 2,
        "There is no file or folder"),
    Row(FILES, "train-tiny-file", (*TRAIN[:2], "{w}/tiny.txt", *TRAIN[3:]), 2,
        "No documents are left after cleaning"),
    Row(FILES, "stats-unknown-encoding",
        ("dataset-stats", "--data", "{w}/verse.txt", "--encoding", "utf-9"), 2, "utf-9"),
    Row(FILES, "check-notebooks-missing-folder", ("check-notebooks", "--dir", "{w}/nowhere"), 2,
        "--dir {w}/nowhere does not exist: give the folder of the numbered notebooks"),
    Row(FILES, "check-notebooks-folder-is-a-file", ("check-notebooks", "--dir", "{w}/verse.txt"),
        2, "--dir {w}/verse.txt is a file: give the folder"),
    # --- wrong columns, broken JSONL, folders without texts
    Row(TABLES, "stats-csv-wrong-column", ("dataset-stats", "--data", "{w}/columns.csv"), 2,
        "has no column named 'text'"),
    Row(TABLES, "stats-jsonl-wrong-field", ("dataset-stats", "--data", "{w}/fields.jsonl"), 2,
        "has no field named 'text'"),
    Row(TABLES, "stats-jsonl-broken", ("dataset-stats", "--data", "{w}/broken.jsonl"), 2,
        "as JSON"),
    Row(TABLES, "stats-jsonl-default-field", ("dataset-stats", "--data",
                                              "{w}/default-field.jsonl", "--block-size", "16"),
        0, "split: "),
    Row(TABLES, "stats-csv-header-only", ("dataset-stats", "--data", "{w}/header-only.csv"), 2,
        "holds no documents: add a row per document"),
    Row(TABLES, "stats-csv-semicolons", ("dataset-stats", "--data", "{w}/semicolons.csv"), 2,
        "separated by ';'"),
    Row(TABLES, "stats-jsonl-numbers-not-text", ("dataset-stats", "--data", "{w}/numbers.jsonl"),
        2, "No documents are left after cleaning"),
    Row(TABLES, "stats-folder-without-texts", ("dataset-stats", "--data", "{w}/no-texts"), 2,
        "holds no text files"),
    Row(TABLES, "stats-text-column-of-a-text-file",
        ("dataset-stats", "--data", "{w}/verse.txt", "--text-column", "body"), 2,
        "names a column of a .csv or a field of a .jsonl file, but {w}/verse.txt is a text file"),
    Row(TABLES, "train-csv-wrong-column",
        (*TRAIN[:2], "{w}/columns.csv", *TRAIN[3:], "--text-column", "plot"), 2,
        "has no column named 'plot'"),
    # --- model folders and names
    Row(MODELS, "model-missing-folder", ("model", "--model", "{w}/no-such-model/"), 2,
        "There is no folder"),
    Row(MODELS, "model-folder-without-config", ("model", "--model", "{w}/no-texts"), 2,
        "holds no config.json"),
    Row(MODELS, "model-misspelt-folder", ("model", "--model", "{w}/goood"), 2,
        "Did you mean '{w}/good'"),
    Row(MODELS, "model-is-a-file", ("model", "--model", "{w}/verse.txt"), 2, "is a file"),
    Row(MODELS, "model-config-only", ("model", "--model", "{w}/config-only"), 2,
        "model.safetensors"),
    Row(MODELS, "generate-not-gpt2", ("generate", "--model", "{w}/not-gpt2"), 2,
        "not a GPT-2"),
    Row(MODELS, "model-misspelt-name", ("model", "--model", "gtp2"), 2, "Did you mean 'gpt2'"),
    Row(MODELS, "model-invalid-hub-name", ("model", "--model", "not a name!"), 2,
        "neither an existing folder nor a valid Hub model name"),
    Row(MODELS, "model-no-fallback-offline", ("model", "--model", "gpt2", "--no-fallback"), 2,
        "Cannot load 'gpt2'"),
    Row(MODELS, "model-unknown-device", ("model", "--device", "tpu"), 2, "tpu"),
    # --- negative, zero or impossible settings
    Row(SETTINGS, "train-negative-lr", (*TRAIN, "--learning-rate", "-1"), 2,
        "learning_rate must be > 0"),
    Row(SETTINGS, "train-infinite-lr", (*TRAIN, "--learning-rate", "inf"), 2,
        "learning_rate must be > 0 and finite"),
    Row(SETTINGS, "train-zero-log-every", (*TRAIN, "--log-every", "0"), 2,
        "log_every must be a whole number >= 1"),
    Row(SETTINGS, "train-beta-over-1", (*TRAIN, "--adam-beta1", "1.5"), 2,
        "adam_beta1 must be in [0, 1)"),
    Row(SETTINGS, "train-zero-documents", (*TRAIN, "--max-documents", "0"), 2,
        "max_documents must be a whole number >= 1"),
    Row(SETTINGS, "train-zero-batch", (*TRAIN, "--batch-size", "0"), 2,
        "batch_size must be a whole number >= 1"),
    Row(SETTINGS, "train-auto-batch-without-budget", (*TRAIN, "--batch-size", "auto"), 2,
        "give --max-seconds too", env={"GPT2LAB_QUICK": None}),  # (quick mode sets one)
    Row(SETTINGS, "train-batch-not-a-number", (*TRAIN, "--batch-size", "lots"), 2,
        "expected a whole number of blocks (e.g. 8) or auto, got 'lots'"),
    Row(SETTINGS, "train-seed-too-large", (*TRAIN, "--seed", str(2**64)), 2,
        "seed must be a whole number from 0 to"),
    Row(SETTINGS, "train-negative-steps", (*TRAIN, "--max-steps", "-3"), 2,
        "max_steps must be >= 1"),
    Row(SETTINGS, "train-unknown-optimizer", (*TRAIN, "--optimizer", "sgd"), 2,
        "argument --optimizer: invalid choice: 'sgd'"),
    Row(SETTINGS, "train-muon-rate-zero", (*TRAIN, "--optimizer", "muon",
        "--muon-learning-rate", "0"), 2, "muon_learning_rate must be > 0"),
    Row(SETTINGS, "train-block-over-context", (*TRAIN, "--block-size", "512"), 2,
        "context of 64"),
    Row(SETTINGS, "train-output-is-a-file", (*TRAIN[:6], "{w}/verse.txt", *TRAIN[7:]), 2,
        "verse.txt"),
    Row(SETTINGS, "stats-zero-block", ("dataset-stats", "--data", "{w}/verse.txt",
                                       "--block-size", "0"), 2, "block_size=0 is too small"),
    Row(SETTINGS, "stats-validation-fraction-over-1",
        ("dataset-stats", "--data", "{w}/verse.txt", "--validation-fraction", "1.5"), 2,
        "validation"),
    Row(SETTINGS, "generate-zero-tokens", ("generate", "--max-new-tokens", "0"), 2,
        "max_new_tokens"),
    Row(SETTINGS, "generate-zero-temperature",
        ("generate", "--strategy", "sample", "--temperature", "0"), 2, "temperature"),
    Row(SETTINGS, "generate-top-p-over-1", ("generate", "--strategy", "top-p", "--top-p", "1.5"),
        2, "top_p"),
    Row(SETTINGS, "generate-zero-beams", ("generate", "--strategy", "beam", "--num-beams", "0"),
        2, "num_beams"),
    Row(SETTINGS, "generate-too-many-beams",
        ("generate", "--strategy", "beam", "--num-beams", "100000"), 2, "from 1 to 64"),
    Row(SETTINGS, "generate-prompt-not-text",
        ("generate", "--model", "{w}/good", "--prompt", "caf\udce9"), 2, "is not valid text"),
    Row(SETTINGS, "generate-greedy-several", ("generate", "--num-return-sequences", "3"), 2,
        "Greedy search gives one continuation"),
    Row(SETTINGS, "generate-negative-seed", ("generate", "--strategy", "sample", "--seed", "-1"),
        2, "seed must be a whole number from 0 to"),
    Row(SETTINGS, "generate-seed-too-large",
        ("generate", "--strategy", "sample", "--seed", str(2**64)), 2, "(2**32 - 1)"),
    Row(SETTINGS, "generate-unknown-strategy", ("generate", "--strategy", "nucleus"), 2,
        "invalid choice: 'nucleus'"),
    Row(SETTINGS, "generate-prompt-over-context",
        ("generate", "--model", "{w}/good", "--prompt", "word " * 100, "--max-new-tokens", "2"),
        0, "kept the last 62 tokens"),
    Row(SETTINGS, "env-misspelt-flag", ("env", "--jsn"), 2, "unrecognized arguments: --jsn"),
    Row(SETTINGS, "env-quick-mode-not-understood", ("env",), 2,
        "GPT2LAB_QUICK='maybe' is not understood", env={"GPT2LAB_QUICK": "maybe"}),
    Row(SETTINGS, "generate-empty-prompt", ("generate", "--model", "{w}/good", "--prompt", "",
                                            "--max-new-tokens", "2"), 0, "--- 1 (greedy)"),
    Row(SETTINGS, "prepare-data-unknown-corpus", ("prepare-data", "--corpus", "shakespare"), 2,
        "invalid choice: 'shakespare'"),
    Row(SETTINGS, "generate-trained-model-is-a-file", ("generate", "--max-new-tokens", "2"), 2,
        "GPT2LAB_TRAINED_MODEL={w}/verse.txt is a file, not a folder",
        env={"GPT2LAB_MODEL": None, "GPT2LAB_TRAINED_MODEL": "{w}/verse.txt"}),
    Row(SETTINGS, "train-negative-split-seed", (*TRAIN, "--split-seed", "-1"), 2,
        "--split-seed must be a whole number from 0 to 4,294,967,295"),
    Row(SETTINGS, "stats-negative-seed", ("dataset-stats", "--data", "{w}/verse.txt", "--seed",
                                          "-1", "--split", "document"), 2,
        "--seed must be a whole number from 0"),
    Row(SETTINGS, "run-notebooks-zero-timeout", ("run-notebooks", "--timeout", "0"), 2,
        "--timeout 0 is not a time limit: give the seconds a cell may run, at least 1"),
    Row(SETTINGS, "app-zero-concurrency", ("app", "--concurrency", "0", "--port", "0"), 2,
        "concurrency"),
    # --- corrupt files
    Row(CORRUPT, "generate-truncated-weights", ("generate", "--model", "{w}/truncated"), 2,
        "model.safetensors", fresh=True),
    Row(CORRUPT, "generate-weights-cut-in-half", ("generate", "--model", "{w}/half"), 2,
        "model.safetensors"),
    Row(CORRUPT, "model-truncated-weights", ("model", "--model", "{w}/truncated"), 2,
        "model.safetensors"),
    Row(CORRUPT, "generate-tokenizer-not-json", ("generate", "--model", "{w}/bad-tokenizer"), 2,
        "(tokenizer.json, tokenizer_config.json)"),
    Row(CORRUPT, "generate-generation-config-not-json",
        ("generate", "--model", "{w}/bad-generation-config"), 2,
        "The generation_config.json in '{w}/bad-generation-config' cannot be read"),
    Row(CORRUPT, "model-generation-config-wrong-kind",
        ("model", "--model", "{w}/generation-config-wrong-kind"), 2,
        "The generation_config.json in '{w}/generation-config-wrong-kind' has a setting that "
        "cannot be used"),
    Row(CORRUPT, "app-generation-config-impossible",
        ("app", "--model", "{w}/generation-config-impossible", "--port", "0"), 2,
        "The model's generation config (its generation_config.json, which notebook 06 saves) "
        "asks for a setting that cannot work: temperature must be > 0"),
    Row(CORRUPT, "generate-config-not-json", ("generate", "--model", "{w}/bad-config"), 2,
        "The config.json in '{w}/bad-config' cannot be read"),
    Row(CORRUPT, "generate-trained-model-corrupt", ("generate",), 2, "model.safetensors",
        env={"GPT2LAB_MODEL": None, "GPT2LAB_TRAINED_MODEL": "{w}/truncated"}),
    Row(CORRUPT, "train-over-corrupt-history", (*TRAIN[:6], "{w}/corrupt-history",
                                                *TRAIN[7:]), 0, "training finished"),
    Row(CORRUPT, "prepare-data-corrupt-manifest",
        ("prepare-data", "--corpus", "milton", "--data-dir", "{w}/corpora"), 2,
        "Could not download", env={"PIP_NO_INDEX": "1"}),
    # --- checkpoints from another version, half-written or unreadable
    Row(RUNS, "train-foreign-trainer-state", (*TRAIN[:6], "{w}/foreign-run", *TRAIN[7:]), 2,
        "another version"),
    Row(RUNS, "train-half-written-checkpoints", (*TRAIN[:6], "{w}/half-written-run",
                                                 *TRAIN[7:]), 0, "training finished"),
    Row(RUNS, "train-unreadable-trainer-state", (*TRAIN[:6], "{w}/unreadable-run",
                                                 *TRAIN[7:]), 0, "training finished"),
    Row(RUNS, "train-resume-dir-is-checkpoint-dir",
        (*TRAIN, "--resume-dir", "{out}/checkpoints"), 2, "is the checkpoint folder"),
    # --- the app's port
    Row(PORTS, "app-port-over-65535", ("app", "--port", "99999"), 2, "--port 0", fresh=True),
    Row(PORTS, "app-negative-port", ("app", "--port", "-1"), 2, "--port 0"),
    Row(PORTS, "app-host-not-an-address", ("app", "--host", "999.1.1.1", "--port", "0"), 2,
        "is not a name or address known here: use 127.0.0.1"),
    Row(PORTS, "app-host-of-another-machine", ("app", "--host", "192.0.2.1", "--port", "0"),
        2, "is not an address of this machine"),
    Row(PORTS, "app-host-ipv6", ("app", "--host", "::1", "--port", "0"), 2, "IPv6"),
    Row(PORTS, "app-port-taken", ("app", "--port", "{busy_port}"), 2, "--port 0"),
    Row(PORTS, "app-missing-model", ("app", "--model", "{w}/no-such-model/"), 2,
        "There is no folder"),
    # --- benchmark scripts
    Row(BENCH, "throughput-missing-text", ("benchmarks/train_throughput.py", "--text",
                                           "/missing.txt"), 2, "no text file at /missing.txt"),
    Row(BENCH, "throughput-zero-block", ("benchmarks/train_throughput.py", "--text",
                                         "{w}/verse.txt", "--block-size", "0"), 2,
        "--block-size"),
    Row(BENCH, "throughput-binary-text", ("benchmarks/train_throughput.py", "--text",
                                          "{w}/binary.txt"), 2, "binary.txt"),
    Row(BENCH, "quality-empty-text", ("benchmarks/time_to_quality.py", "--text",
                                      "{w}/empty.txt"), 2, "is too short"),
    Row(BENCH, "quality-negative-seconds", ("benchmarks/time_to_quality.py", "--text",
                                            "{w}/verse.txt", "--seconds", "-1"), 2,
        "--seconds"),
    Row(BENCH, "scoring-missing-model", ("benchmarks/scoring.py", "--model",
                                         "{w}/no-such-model"), 2, "There is no folder"),
    Row(BENCH, "gpu-course-zero-steps", ("benchmarks/gpu_course.py", "--steps", "0"), 2,
        "--steps must be >= 1"),
    Row(BENCH, "generation-negative-threads", ("benchmarks/generation.py", "--threads", "-1"),
        2, "--threads"),
    Row(BENCH, "muon-zero-steps", ("benchmarks/muon_step.py", "--steps", "0"), 2,
        "--steps must be >= 1 (got 0)"),
]  # fmt: skip


def _tiny_gpt2(folder: Path) -> None:
    """A 1-layer GPT-2 (16 wide, 64-token context) with GPT-2's tokenizer, saved."""
    from transformers import GPT2Config, GPT2LMHeadModel

    from helpers.modeling import gpt2_tokenizer_from_package, save_model

    config = GPT2Config(n_layer=1, n_embd=16, n_head=2, n_positions=64)
    save_model(GPT2LMHeadModel(config), gpt2_tokenizer_from_package(64), folder)


def _copy(source: Path, target: Path) -> Path:
    import shutil

    shutil.copytree(source, target)
    return target


def _checkpoint(run: Path, step: int, state: str) -> None:
    """A checkpoint folder with one file and ``state`` as its trainer_state.json."""
    folder = run / "checkpoints" / f"checkpoint-{step:06d}"
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"\0" * 64)
    (folder / "trainer_state.json").write_text(state, encoding="utf-8")


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    """Every file the rows read, made once."""
    w = tmp_path_factory.mktemp("bad-inputs")
    (w / "verse.txt").write_text("\n".join(LINES * 60) + "\n", encoding="utf-8")
    (w / "empty.txt").write_bytes(b"")
    (w / "binary.txt").write_bytes(bytes(range(256)) * 8)
    (w / "latin1.txt").write_bytes("Café au lait, crème brûlée.\n".encode("latin-1"))
    (w / "tiny.txt").write_text("Hi.\n", encoding="utf-8")
    (w / "columns.csv").write_text("title,body\nHamlet,To be or not to be\n", encoding="utf-8")
    (w / "fields.jsonl").write_text('{"body": "To be"}\n{"body": "or not"}\n', encoding="utf-8")
    default_field = "".join(  # a document per line, each different (duplicates are dropped)
        json.dumps({"text": f"{i}. {line}"}) + "\n" for i, line in enumerate(LINES * 40)
    )
    (w / "default-field.jsonl").write_text(default_field, encoding="utf-8")
    (w / "broken.jsonl").write_text('{"text": "To be"}\n{"text": "or no\n', encoding="utf-8")
    (w / "header-only.csv").write_text("text,label\n", encoding="utf-8")
    (w / "semicolons.csv").write_text("text;label\nTo be or not to be;a\n", encoding="utf-8")
    numbers = "".join(json.dumps({"text": i}) + "\n" for i in range(50))  # not a text field
    (w / "numbers.jsonl").write_text(numbers, encoding="utf-8")
    (w / "no-texts").mkdir()
    (w / "no-texts" / "picture.png").write_bytes(b"\x89PNG\r\n")

    _tiny_gpt2(w / "good")
    (_copy(w / "good", w / "config-only") / "model.safetensors").unlink()
    not_gpt2 = _copy(w / "good", w / "not-gpt2")  # another vocabulary, and no tokenizer
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (not_gpt2 / name).unlink()
    config = json.loads((not_gpt2 / "config.json").read_text())
    (not_gpt2 / "config.json").write_text(json.dumps({**config, "vocab_size": 1000}))
    weights = (w / "good" / "model.safetensors").read_bytes()
    (_copy(w / "good", w / "truncated") / "model.safetensors").write_bytes(weights[:5])
    (_copy(w / "good", w / "half") / "model.safetensors").write_bytes(weights[: len(weights) // 2])
    (_copy(w / "good", w / "bad-tokenizer") / "tokenizer.json").write_text("{not json")
    (_copy(w / "good", w / "bad-generation-config") / "generation_config.json").write_text(
        '{"max_new_tokens": 12,'
    )
    (_copy(w / "good", w / "bad-config") / "config.json").write_text("<html>404</html>")
    (_copy(w / "good", w / "generation-config-wrong-kind") / "generation_config.json").write_text(
        '{"max_new_tokens": "lots"}'
    )
    (_copy(w / "good", w / "generation-config-impossible") / "generation_config.json").write_text(
        '{"do_sample": true, "temperature": -1}'
    )

    (w / "corrupt-history").mkdir()
    (w / "corrupt-history" / "history.json").write_text('{"train": [{"step": 1, "lo')
    # a checkpoint a later version of the course might write: whole, but not ours
    foreign = {"format": 7, "files": {"model.safetensors": 64}, "state": {}}
    _checkpoint(w / "foreign-run", 1, json.dumps(foreign))
    _checkpoint(w / "unreadable-run", 1, '{"fingerprint": {"model": "gpt2"}, "ru')
    # a checkpoint whose weights were cut short, and a staging folder a kill left behind
    _checkpoint(w / "half-written-run", 1, json.dumps({"files": {"model.safetensors": 999}}))
    (w / "half-written-run" / "checkpoints" / ".tmp-checkpoint-000002").mkdir()
    (w / "corpora" / "milton").mkdir(parents=True)
    (w / "corpora" / "milton" / "manifest.json").write_text('{"works": [')
    return w


@pytest.fixture(scope="module")
def busy_port():
    """A port that another program listens on."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield taken.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    if not FORK:
        yield None
        return
    env = {k: v for k, v in os.environ.items() if k not in ENV}
    env.update({k: v for k, v in ENV.items() if v is not None})
    server = ForkServer(env)
    yield server
    server.close()


def _fresh(argv: list[str], env: dict) -> tuple[int, str, str]:
    full = {k: v for k, v in os.environ.items() if k not in ENV and k not in env}
    full.update({k: v for k, v in {**ENV, **env}.items() if v is not None})
    done = subprocess.run(
        [sys.executable, *argv], capture_output=True, text=True, env=full, cwd=ROOT,
        timeout=TIMEOUT,
    )  # fmt: skip
    return done.returncode, done.stdout, done.stderr


@pytest.mark.parametrize("row", ROWS, ids=str)
def test_bad_input(row: Row, work: Path, busy_port: int, server, tmp_path: Path):
    fill = {"w": str(work), "out": str(tmp_path / "out"), "busy_port": str(busy_port)}
    args = [part.format(**fill) for part in row.argv]
    argv = args if args[0].startswith("benchmarks/") else ["-m", "helpers", *args]
    env = {k: v if v is None else v.format(**fill) for k, v in row.env.items()}
    fresh = row.fresh or server is None
    rc, out, err = _fresh(argv, env) if fresh else server.run(argv, env, tmp_path, TIMEOUT)
    printed = out + err
    assert "Traceback (most recent call last)" not in printed, printed[-3000:]
    assert rc == row.status, f"exit status {rc}, expected {row.status}:\n{printed[-3000:]}"
    if row.status == 0:
        assert row.phrase.format(**fill) in printed, printed[-3000:]
        return
    message = err.strip().splitlines()[-1] if err.strip() else ""
    assert "error: " in message, f"no one-line error message at the end:\n{err[-3000:]}"
    assert row.phrase.format(**fill) in message, f"{row.phrase!r} not in:\n{message}"


def test_the_table_covers_every_command_and_category():
    assert len(ROWS) >= 40
    assert len({row.name for row in ROWS}) == len(ROWS)
    commands = {row.argv[0] for row in ROWS}
    for command in ("train", "generate", "dataset-stats", "prepare-data", "app", "model", "env"):
        assert command in commands
    scripts = {Path(c).name for c in commands if c.startswith("benchmarks/")}
    assert scripts >= {"train_throughput.py", "time_to_quality.py", "generation.py"}
