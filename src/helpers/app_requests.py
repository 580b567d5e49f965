"""What the app accepts: its settings, each request, and the ratings it records.

:class:`AppConfig` holds how the app is served and its limits, and
:func:`check_host_and_port` whether it can be served there; :func:`check_request` turns
a form's values into checked decoding settings or a :class:`RequestError` whose message the
user sees; :func:`record_feedback` appends one 👍 / 👎 rating to a JSONL file (whole lines,
flushed to disk) and :func:`read_feedback` reads them back, skipping lines a crash cut
short. Nothing here knows about Gradio: ``helpers.app`` builds the page on top of it.
"""

from __future__ import annotations

import errno
import json
import math
import os
import socket
import threading
import time
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from helpers.environment import project_root

if TYPE_CHECKING:  # imported where used: `app --port 99999` is refused without torch
    from transformers import PreTrainedModel

    from helpers.decoding import DecodingSettings

MAX_SAMPLES = 4


def default_feedback_file() -> Path:
    """``feedback/feedback.jsonl`` in the course folder (git-ignored)."""
    return project_root() / "feedback" / "feedback.jsonl"


@dataclass
class AppConfig:
    """How the app is served and what it allows."""

    host: str = field(default="127.0.0.1", metadata={"help": "0.0.0.0 to serve on the network"})
    port: int = field(default=7860, metadata={"help": "port (0: any free port)"})
    share: bool = field(default=False, metadata={"help": "public Gradio link (Colab)"})
    max_prompt_characters: int = field(default=2000, metadata={"help": "longest prompt"})
    max_new_tokens_cap: int = field(default=200, metadata={"help": "most tokens per sample"})
    feedback_file: str = field(
        default_factory=lambda: str(default_feedback_file()),
        metadata={"help": "where 👍/👎 ratings are appended (JSONL)"},
    )
    concurrency: int = field(default=1, metadata={"help": "requests generated at once"})

    def __post_init__(self) -> None:
        for name in ("max_prompt_characters", "max_new_tokens_cap", "concurrency"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1 (got {getattr(self, name)}).")
        check_feedback_file(self.feedback_file)


def check_host_and_port(host: str, port: int) -> None:
    """A host and port the app can serve on, or a ValueError that says what to do instead.

    Binding here, before the server starts, catches what the server would only log (and
    then wait forever): a host that is no address of this machine, or a port in use."""
    if not 0 <= port <= 65535:
        raise ValueError(
            f"--port {port} is not a port: ports go from 1 to 65535; --port 0 takes any free one."
        )
    other_host = (
        "use 127.0.0.1 (this machine only) or 0.0.0.0 (every network interface, to be "
        "reached from other machines)"
    )
    if ":" in host:  # Gradio builds its own URL from the host, and an IPv6 one breaks it
        raise ValueError(
            f"--host {host} is an IPv6 address, which the app cannot serve on: {other_host}."
        )
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    except (socket.gaierror, UnicodeError) as error:
        raise ValueError(
            f"--host {host} is not a name or address known here: {other_host}."
        ) from error
    with socket.socket(family) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRNOTAVAIL:
                raise ValueError(
                    f"--host {host} is not an address of this machine: {other_host}."
                ) from error
            why = (
                "is taken: another program (or another app) listens on it"
                if error.errno == errno.EADDRINUSE
                else f"cannot be used ({error.strerror or error})"
            )
            raise ValueError(
                f"Port {port} on {host} {why}. Stop that program, choose another --port, or "
                f"pass --port 0 for any free port."
            ) from error


def check_feedback_file(path: str | os.PathLike) -> None:
    """Raise a one-line ValueError when ratings could not be appended to ``path``.

    Looks only: the file (or the folders up to it) is created by the first rating.
    """
    path = Path(path)
    fix = "give the path of a file (--feedback-file), e.g. feedback/feedback.jsonl."
    if path.is_dir():
        raise ValueError(f"The feedback file {path} is a folder: {fix}")
    if path.exists():
        if not path.is_file():
            raise ValueError(f"The feedback file {path} is not a regular file: {fix}")
        if not os.access(path, os.W_OK):
            raise ValueError(f"The feedback file {path} cannot be written (no permission): {fix}")
        return
    folder = path.parent
    while not folder.exists() and folder != folder.parent:  # the folders a rating would make
        folder = folder.parent
    if not folder.is_dir():
        raise ValueError(
            f"The feedback file {path} cannot be made: {folder} is a file, not a folder; {fix}"
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(
            f"The feedback file {path} cannot be made: the folder {folder} cannot be written "
            f"(no permission); {fix}"
        )


def fit_to_model(config: AppConfig, model: PreTrainedModel) -> AppConfig:
    """``config`` with ``max_new_tokens_cap`` no larger than the model's context allows
    (one position is left for the prompt); says so in one line when it lowers it."""
    from helpers.decoding import context_length

    try:
        most = context_length(model) - 1
    except AttributeError:  # a config that does not say: the decoders will check
        return config
    if config.max_new_tokens_cap <= most:
        return config
    print(
        f"max_new_tokens_cap lowered from {config.max_new_tokens_cap:,} to {most:,}: the "
        f"model's context holds {most + 1:,} tokens, and the prompt needs at least one.",
        flush=True,
    )
    return replace(config, max_new_tokens_cap=most)


class RequestError(ValueError):
    """A request the app refuses; the message is shown to the user."""


def _whole(name: str, value: Any) -> int:
    """A whole number given as int or float (sliders and number boxes give floats)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value != int(value)
    ):
        raise RequestError(f"{name} must be a whole number (got {value!r}).")
    return int(value)


def _check_text(what: str, text: Any) -> str:
    """``text`` if it is text that can be stored and tokenized (UTF-8), else RequestError."""
    if not isinstance(text, str):
        raise RequestError(f"The {what} must be text (got {type(text).__name__}).")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise RequestError(
            f"The {what} is not valid text ({text[error.start]!r} at character "
            f"{error.start + 1} is not a Unicode character): type or paste it again."
        ) from None
    return text


def check_request(
    prompt: str, settings: dict[str, Any], samples: int, config: AppConfig
) -> DecodingSettings:
    """Turn the form's values into checked :class:`DecodingSettings`, or raise RequestError."""
    from helpers.decoding import DecodingSettings

    _check_text("prompt", prompt)
    if len(prompt) > config.max_prompt_characters:
        raise RequestError(
            f"The prompt has {len(prompt):,} characters; the limit is "
            f"{config.max_prompt_characters:,}. Shorten it."
        )
    samples = _whole("samples", samples)
    if not 1 <= samples <= MAX_SAMPLES:
        raise RequestError(f"Ask for 1 to {MAX_SAMPLES} samples (got {samples}).")
    values = dict(settings)
    values["max_new_tokens"] = _whole("max_new_tokens", values.get("max_new_tokens", 40))
    if values["max_new_tokens"] > config.max_new_tokens_cap:
        raise RequestError(
            f"max_new_tokens={values['max_new_tokens']} is above this app's limit of "
            f"{config.max_new_tokens_cap}."
        )
    for name in ("top_k", "num_beams", "no_repeat_ngram_size"):
        if name in values:
            values[name] = _whole(name, values[name])
    if "seed" in values:  # none, empty or negative: a random seed
        seed = None if values["seed"] in ("", None) else _whole("seed", values["seed"])
        values["seed"] = None if seed is None or seed < 0 else seed
    values["num_return_sequences"] = 1 if values.get("strategy") == "greedy" else samples
    try:
        chosen = DecodingSettings(**values)
        chosen.validate()
    except (TypeError, ValueError) as error:
        raise RequestError(str(error)) from error
    return chosen


def filters_for_strategy(strategy: str, top_k: float, top_p: float) -> tuple[int, float]:
    """Switch on the filter a strategy is named after when it is off (top-k 50, top-p 0.9)."""
    top_k, top_p = int(top_k), float(top_p)
    if strategy == "top-k" and top_k == 0:
        top_k = 50
    if strategy == "top-p" and top_p >= 1.0:
        top_p = 0.9
    return top_k, top_p


_feedback_lock = threading.Lock()


def record_feedback(
    path: str | os.PathLike, prompt: str, settings: dict[str, Any], text: str, rating: int
) -> dict[str, Any]:
    """Append one rating (+1 or -1) as a JSON line; returns the record written."""
    if rating not in (1, -1):
        raise RequestError(f"rating must be +1 or -1 (got {rating}).")
    if text is None or isinstance(text, str) and not text.strip():
        raise RequestError("There is no text to rate yet: generate first.")
    _check_text("prompt", prompt)
    _check_text("text", text)
    record = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "prompt": prompt,
        "settings": settings,
        "text": text,
        "rating": rating,
    }
    try:
        line = json.dumps(record, ensure_ascii=False) + "\n"
        line.encode("utf-8")
    except (TypeError, ValueError) as error:
        raise RequestError(f"These settings cannot be recorded ({error}).") from None
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with _feedback_lock, open(path, "a", encoding="utf-8") as file:
            if file.tell() and not _ends_a_line(path):  # a line cut short by a crash: end it
                file.write("\n")
            file.write(line)
            file.flush()
            os.fsync(file.fileno())
    except OSError as error:
        raise RequestError(
            f"The rating could not be saved to {path} ({error.strerror or error}): whoever "
            f"runs the app should check --feedback-file."
        ) from None
    return record


def _ends_a_line(path: Path) -> bool:
    with open(path, "rb") as file:
        file.seek(-1, os.SEEK_END)
        return file.read(1) == b"\n"


def read_feedback(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Every record of a feedback file (an absent file has none). Lines that are not a
    record (cut short by a crash, edited by hand) are skipped, and counted in a warning."""
    path = Path(path)
    if not path.is_file():
        return []
    records, bad = [], []
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            record = None
        if isinstance(record, dict):
            records.append(record)
        else:
            bad.append(number)
    if bad:
        where = ", ".join(map(str, bad[:5])) + (", ..." if len(bad) > 5 else "")
        warnings.warn(
            f"{path}: skipped {len(bad)} line(s) that are not JSON records (line {where}); "
            f"read the other {len(records)}. Lines are cut short by a crash or broken by "
            f"hand edits: delete them to silence this.",
            stacklevel=2,
        )
    return records
