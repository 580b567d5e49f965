"""A stand-in Hugging Face Hub: a small local HTTP server that serves model repositories.

``huggingface_hub`` (and so ``transformers``) talk to whatever ``HF_ENDPOINT`` names; this
server answers the requests ``from_pretrained`` makes, from folders on disk::

    folder = build_gpt2_repo(tmp_path / "gpt2")          # a small GPT-2, real tokenizer
    with StandInHub({"gpt2": folder}) as hub:            # http://127.0.0.1:<port>
        env = {"HF_ENDPOINT": hub.endpoint, ...}         # run the code under test with it
        ...
        assert hub.count("GET", "/gpt2/resolve/main/model.safetensors") == 1

``huggingface_hub`` reads ``HF_ENDPOINT`` once, at import: run the code under test in a
subprocess that starts with it set. ``hub.stop()`` closes the port, so later connections
are refused, as when the Hub goes away.

What is served (the parts of the Hub's HTTP API that loading a model uses):

- ``HEAD``/``GET /{repo}/resolve/{revision}/{file}``: the file, with ``X-Repo-Commit``,
  ``ETag`` and ``Content-Length`` (``Range: bytes=a-b`` gives a 206); a missing file is a
  404 with ``X-Error-Code: EntryNotFound``, an unknown repo one with ``RepoNotFound``, an
  unknown revision one with ``RevisionNotFound``;
- ``GET /api/models/{repo}/tree/{revision}[/path]``: the files, as a JSON list;
- ``GET /api/models/{repo}`` and ``/api/models/{repo}/revision/{revision}``: ``id``,
  ``sha`` and ``siblings``;
- anything else: 404.

Repository ids are ``name`` or ``owner/name``; revisions are ``main`` or the commit.

As a script (for trying things by hand)::

    python tests/standin_hub.py --build /tmp/gpt2-repo
    python tests/standin_hub.py --serve gpt2=/tmp/gpt2-repo --port 8999
    HF_ENDPOINT=http://127.0.0.1:8999 python -m helpers model --model gpt2
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import socket
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

DEFAULT_COMMIT = hashlib.sha1(b"gpt2lab stand-in hub").hexdigest()
GPT2_VOCAB_SIZE = 50257
_CHUNK = 1 << 20


def build_gpt2_repo(
    folder: str | Path,
    *,
    n_layer: int | None = None,
    n_embd: int | None = None,
    n_head: int | None = None,
    n_positions: int | None = None,
    seed: int = 0,
    pretrained: bool | None = None,
) -> Path:
    """Write a small GPT-2 repository into ``folder``; the same arguments give the same files.

    ``config.json``, ``generation_config.json``, ``model.safetensors`` (a
    ``GPT2LMHeadModel`` with GPT-2's 50,257-token vocabulary and tied embeddings, like the
    real ``gpt2``) and GPT-2's real tokenizer (``tokenizer.json``, ``vocab.json``,
    ``merges.txt``, ``tokenizer_config.json``) with ``model_max_length=n_positions``.

    The weights: by default (no shape given, or ``pretrained=True``) the course's shipped
    pretrained base ``gpt2lab-base`` (4 x 128, a 128-token context), stored in fp32 as the
    Hub stores ``gpt2``, so a course served from here fine-tunes a model that knows some
    English. A shape (e.g. ``n_layer=12, n_embd=768, n_head=12``) or ``pretrained=False``
    gives random weights from ``seed`` instead (default shape 2 x 64, 2 heads, 1,024).
    """
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel
    from transformers.utils import logging as hf_logging

    from helpers.modeling import gpt2_bpe_files, gpt2_tokenizer_from_package
    from helpers.offline_model import load_base_model

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    shape_given = any(v is not None for v in (n_layer, n_embd, n_head, n_positions))
    if pretrained is None:
        pretrained = not shape_given
    if pretrained:
        if shape_given:
            raise ValueError("The pretrained base has its own shape: give no shape with it.")
        model = load_base_model()  # fp32
        model.config.name_or_path = "gpt2"
        n_positions = model.config.n_positions
    else:
        n_positions = n_positions or 1024
        eos_id = GPT2_VOCAB_SIZE - 1
        config = GPT2Config(
            vocab_size=GPT2_VOCAB_SIZE,
            n_layer=n_layer or 2,
            n_embd=n_embd or 64,
            n_head=n_head or 2,
            n_positions=n_positions,
            bos_token_id=eos_id,
            eos_token_id=eos_id,
            tie_word_embeddings=True,
        )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = GPT2LMHeadModel(config)
    bars_were_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # no "Writing model shards" bar on stderr
    try:
        model.save_pretrained(folder)
    finally:
        if bars_were_on:
            hf_logging.enable_progress_bar()
    gpt2_tokenizer_from_package(model_max_length=n_positions).save_pretrained(folder)
    # transformers 5 writes only tokenizer.json; the real gpt2 also has the BPE files
    vocab, merges = gpt2_bpe_files()
    shutil.copyfile(vocab, folder / "vocab.json")
    shutil.copyfile(merges, folder / "merges.txt")
    return folder


@dataclass(frozen=True)
class _File:
    path: Path
    size: int
    sha256: str


class _Repo:
    """The files of one served folder (read once, at start), by path relative to it."""

    def __init__(self, folder: Path) -> None:
        folder = Path(folder)
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder} is not a folder: nothing to serve")
        self.files: dict[str, _File] = {}
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            digest = hashlib.sha256()
            with path.open("rb") as handle:
                for block in iter(lambda: handle.read(_CHUNK), b""):
                    digest.update(block)
            relative = path.relative_to(folder).as_posix()
            self.files[relative] = _File(path, path.stat().st_size, digest.hexdigest())

    def tree(self, under: str, recursive: bool) -> list[dict] | None:
        """Entries under the folder ``under`` ('' for the root); None when there is none."""
        prefix = f"{under.strip('/')}/" if under.strip("/") else ""
        entries: dict[str, dict] = {}
        for name, info in self.files.items():
            if not name.startswith(prefix):
                continue
            rest = name[len(prefix) :]
            if "/" in rest and not recursive:
                folder = prefix + rest.split("/", 1)[0]
                oid = hashlib.sha1(folder.encode()).hexdigest()
                entries.setdefault(folder, {"type": "directory", "oid": oid, "path": folder})
                continue
            entries[name] = {
                "type": "file",
                "oid": info.sha256[:40],
                "size": info.size,
                "path": name,
            }
        if prefix and not entries:
            return None
        return list(entries.values())


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    hub: StandInHub

    def __init__(self, address, handler) -> None:
        super().__init__(address, handler)
        self.open_sockets: set[socket.socket] = set()
        self.sockets_lock = threading.Lock()

    def process_request(self, request, client_address) -> None:
        with self.sockets_lock:
            self.open_sockets.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request) -> None:
        with self.sockets_lock:
            self.open_sockets.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request, client_address) -> None:
        """Clients hang up (the Hub going away, a test ending): no tracebacks on stderr."""


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    # HTTP/1.0: one request per connection, so stop() leaves no kept-alive connection behind
    protocol_version = "HTTP/1.0"
    server_version = "StandInHub/1.0"

    def log_message(self, format: str, *args) -> None:
        """Quiet: the hub's ``requests`` list is the log."""

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def _any_other(self) -> None:
        self.server.hub._record(self.command, urlsplit(self.path).path)
        self._error(405, "MethodNotAllowed", "the stand-in hub only reads")

    do_POST = do_PUT = do_DELETE = do_PATCH = _any_other

    # ------------------------------------------------------------------ answers

    def _answer(self, send_body: bool) -> None:
        hub = self.server.hub
        url = urlsplit(self.path)
        path = unquote(url.path)
        hub._record(self.command, path)
        if path.startswith("/api/"):
            self._api(path, url.query, send_body)
        elif "/resolve/" in path:
            self._resolve(path, send_body)
        else:
            self._error(404, None, "not found", send_body)

    def _resolve(self, path: str, send_body: bool) -> None:
        hub = self.server.hub
        repo_id, _, rest = path.strip("/").partition("/resolve/")
        revision, _, filename = rest.partition("/")
        repo = hub._repos.get(repo_id)
        if repo is None:
            return self._error(404, "RepoNotFound", "Repository not found", send_body)
        if revision not in {"main", hub.commit}:
            return self._error(404, "RevisionNotFound", "Invalid rev id", send_body)
        info = repo.files.get(filename)
        if info is None:
            return self._error(404, "EntryNotFound", "Entry not found", send_body)

        start, end = 0, info.size - 1
        status = 200
        wanted = self.headers.get("Range", "")
        if wanted.startswith("bytes=") and "," not in wanted and info.size:
            first, _, last = wanted[len("bytes=") :].strip().partition("-")
            try:
                if first:
                    start, end = int(first), int(last) if last else info.size - 1
                else:  # bytes=-N: the last N bytes
                    start, end = max(info.size - int(last), 0), info.size - 1
            except ValueError:
                start, end = 0, info.size - 1  # not understood: send the whole file
            else:
                end = min(end, info.size - 1)
                if start > end:
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{info.size}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return None
                status = 206
        length = end - start + 1 if info.size else 0
        self.send_response(status)
        self.send_header("X-Repo-Commit", hub.commit)
        self.send_header("ETag", f'"{info.sha256}"')
        self.send_header("Content-Length", str(length))
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{info.size}")
        self.end_headers()
        if send_body and length:
            with info.path.open("rb") as handle:
                handle.seek(start)
                left = length
                while left:
                    block = handle.read(min(_CHUNK, left))
                    if not block:
                        break
                    self.wfile.write(block)
                    left -= len(block)
        return None

    def _api(self, path: str, query: str, send_body: bool) -> None:
        hub = self.server.hub
        parts = [p for p in path.split("/") if p]  # api, models, <repo id...>, ...
        if len(parts) < 3 or parts[1] != "models":
            return self._error(404, None, "not found", send_body)
        rest = parts[2:]
        # an id is 'name' or 'owner/name': take the split that names a served repo, if any
        splits = [(rest[:n], rest[n:]) for n in (2, 1) if len(rest) >= n]
        splits = [(r, t) for r, t in splits if not t or t[0] in {"tree", "revision"}]
        if not splits:
            return self._error(404, None, "not found", send_body)
        known = [(r, t) for r, t in splits if "/".join(r) in hub._repos]
        id_parts, tail = (known or splits)[0]
        repo_id = "/".join(id_parts)
        repo = hub._repos.get(repo_id)
        if repo is None:
            return self._error(404, "RepoNotFound", "Repository not found", send_body)
        if tail and len(tail) < 2:
            return self._error(404, None, "not found", send_body)
        if tail and tail[1] not in {"main", hub.commit}:
            return self._error(404, "RevisionNotFound", "Invalid rev id", send_body)

        if not tail or tail[0] == "revision":
            if len(tail) > 2:
                return self._error(404, None, "not found", send_body)
            body = {
                "_id": hashlib.sha1(repo_id.encode()).hexdigest()[:24],
                "id": repo_id,
                "modelId": repo_id,
                "sha": hub.commit,
                "private": False,
                "disabled": False,
                "gated": False,
                "downloads": 0,
                "likes": 0,
                "tags": [],
                "siblings": [{"rfilename": name} for name in repo.files],
            }
            return self._json(body, send_body)
        under = "/".join(tail[2:])
        recursive = "recursive=true" in query.lower() or "recursive=1" in query
        entries = repo.tree(under, recursive)
        if entries is None:
            return self._error(404, "EntryNotFound", f"{under} does not exist", send_body)
        return self._json(entries, send_body)

    def _json(self, body: object, send_body: bool) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Repo-Commit", self.server.hub.commit)
        self.end_headers()
        if send_body:
            self.wfile.write(data)

    def _error(self, status: int, code: str | None, message: str, send_body: bool = True) -> None:
        data = json.dumps({"error": message}).encode()
        self.send_response(status)
        if code is not None:
            self.send_header("X-Error-Code", code)
            self.send_header("X-Error-Message", message)
        if code == "EntryNotFound":  # the real Hub says which commit it looked in
            self.send_header("X-Repo-Commit", self.server.hub.commit)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if send_body:
            self.wfile.write(data)


class StandInHub:
    """Serve ``repos`` (repo id -> folder) over HTTP on 127.0.0.1, as the Hub would.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`. ``endpoint`` is
    the value for ``HF_ENDPOINT``; ``requests`` lists every ``(method, path)`` served, in
    order (paths are URL-decoded, without the query string).
    """

    def __init__(
        self,
        repos: Mapping[str, str | Path],
        commit: str = DEFAULT_COMMIT,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if len(commit) != 40 or any(c not in "0123456789abcdef" for c in commit):
            raise ValueError(f"commit must be 40 lowercase hex digits, not {commit!r}")
        self.commit = commit
        self._repos = {repo_id.strip("/"): _Repo(Path(folder)) for repo_id, folder in repos.items()}
        self._address = (host, port)
        self._server: _Server | None = None
        self._port: int | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.requests: list[tuple[str, str]] = []

    # ------------------------------------------------------------------ life cycle

    def start(self) -> StandInHub:
        if self._server is not None:
            return self
        server = _Server(self._address, _Handler)
        server.hub = self
        self._server = server
        self._port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the port: later connections are refused."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with server.sockets_lock:
            for sock in list(server.open_sockets):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def __enter__(self) -> StandInHub:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # ------------------------------------------------------------------ facts

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def port(self) -> int:
        """The port it listens on (after :meth:`stop`, the port it listened on)."""
        if self._port is None:
            raise RuntimeError("the stand-in hub has not been started: call start() first")
        return self._port

    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:<port>``, the value for ``HF_ENDPOINT`` (kept after stop())."""
        return f"http://{self._address[0]}:{self.port}"

    def _record(self, method: str, path: str) -> None:
        with self._lock:
            self.requests.append((method, path))

    def requests_for(self, method: str | None = None, path_end: str = "") -> list[tuple[str, str]]:
        """The requests served with this method (any if None) whose path ends so."""
        with self._lock:
            served = list(self.requests)
        return [
            (m, p) for m, p in served if (method is None or m == method) and p.endswith(path_end)
        ]

    def count(self, method: str | None = None, path_end: str = "") -> int:
        """How many requests :meth:`requests_for` finds."""
        return len(self.requests_for(method, path_end))

    def clear_requests(self) -> None:
        with self._lock:
            self.requests.clear()


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", metavar="DIR", help="write a small GPT-2 repository to DIR")
    parser.add_argument("--seed", type=int, default=0, help="seed of its random weights")
    parser.add_argument(
        "--serve", metavar="REPO=DIR", nargs="+", default=[], help="serve DIR as repo REPO"
    )
    parser.add_argument("--port", type=int, default=0, help="port (default: any free one)")
    args = parser.parse_args(argv)
    if not args.build and not args.serve:
        parser.error("nothing to do: give --build DIR and/or --serve REPO=DIR")
    if args.build:
        print(f"wrote {build_gpt2_repo(args.build, seed=args.seed)}", flush=True)
    if not args.serve:
        return 0
    repos = {}
    for item in args.serve:
        repo_id, sep, folder = item.partition("=")
        if not sep or not repo_id or not folder:
            parser.error(f"--serve takes REPO=DIR, not {item!r}")
        repos[repo_id] = folder
    hub = StandInHub(repos, port=args.port).start()
    print(f"serving {', '.join(repos)} at {hub.endpoint}", flush=True)
    print(f"HF_ENDPOINT={hub.endpoint}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        hub.stop()
    return 0


if __name__ == "__main__":
    import signal
    import sys

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    raise SystemExit(_main())
