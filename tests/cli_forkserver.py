"""Run command lines fast: a process that imports the heavy libraries once, then forks a
child for each command, which runs it as ``python -m helpers ...`` or ``python script.py``
would (same ``__main__``, same exit status, a traceback printed for an uncaught exception).

Starting Python with torch and transformers takes seconds; a fork takes milliseconds, so
tests/test_bad_inputs.py can run dozens of command lines in a few seconds each. Only
what is read at import time is shared (the environment this server started with: set
HF_HUB_OFFLINE and the like there); each child gets its own environment changes, working
folder, stdin from /dev/null and stdout/stderr in files.

Protocol, one JSON object per line: in, ``{"argv": [...], "env": {...}, "cwd": ...,
"stdout": path, "stderr": path, "timeout": seconds}`` (``argv`` is ``["-m", module, ...]``,
``["-c", code, ...]`` or ``[script, ...]``; an ``env`` value of None unsets the variable);
out, ``{"rc": int, "timed_out": bool}``. It forks: the tests use it on Linux only
(:data:`FORK`). :class:`ForkServer` starts one and runs commands through it.

``python tests/cli_forkserver.py torch`` imports torch (and the parts of it that
transformers imports) but not transformers: for commands whose environment decides what
``huggingface_hub`` and ``transformers`` read when imported (``HF_ENDPOINT``,
``HF_HOME``, ``HF_HUB_OFFLINE``), which then import them themselves.
"""

from __future__ import annotations

import json
import os
import runpy
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path

FORK = sys.platform == "linux"  # elsewhere (macOS dislikes forking after imports): no server
HERE = Path(__file__).resolve()


def _preload(what: str = "cli") -> None:
    """What every command imports anyway, before the first fork (nothing runs yet)."""
    import torch  # noqa: F401

    # what transformers imports of torch, the slowest part of importing it (3 s of 6 here);
    # none of it reads the Hub's settings
    import torch._dynamo  # noqa: F401
    import torch.distributed.checkpoint  # noqa: F401
    import torch.distributed.fsdp  # noqa: F401
    import torch.distributed.tensor  # noqa: F401
    import torch.export  # noqa: F401

    if what == "torch":
        return
    import datasets  # noqa: F401
    from transformers import (  # noqa: F401  (transformers imports lazily: resolve them)
        AutoModelForCausalLM,
        AutoTokenizer,
        GPT2LMHeadModel,
        GPT2TokenizerFast,
    )

    import helpers.cli
    import helpers.data
    import helpers.decoding
    import helpers.model_source
    import helpers.modeling
    import helpers.packing
    import helpers.training  # noqa: F401

    helpers.cli.build_parser()  # imports what the parser needs (app, settings, config)


def _child(request: dict) -> int:
    """Run one command line in this (forked) process; returns its exit status."""
    os.chdir(request["cwd"])
    for name, value in request.get("env", {}).items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
        os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), fd)
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    argv = request["argv"]
    try:
        if argv[0] == "-m":
            sys.argv = [argv[1], *argv[2:]]
            runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
        elif argv[0] == "-c":
            sys.argv = ["-c", *argv[2:]]
            exec(compile(argv[1], "<string>", "exec"), {"__name__": "__main__"})
        else:
            sys.argv = list(argv)
            sys.path.insert(0, os.path.dirname(os.path.abspath(argv[0])))
            runpy.run_path(argv[0], run_name="__main__")
        return 0
    except SystemExit as done:  # as the interpreter turns it into an exit status
        if done.code is None or isinstance(done.code, int):
            return done.code or 0
        print(done.code, file=sys.stderr)
        return 1
    except BaseException:  # an uncaught exception: what the interpreter would print
        traceback.print_exc()
        return 1


def _run(request: dict) -> dict:
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = _child(request)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code & 0xFF)
    deadline = time.monotonic() + request.get("timeout", 60)
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return {"rc": os.waitstatus_to_exitcode(status), "timed_out": False}
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return {"rc": -signal.SIGKILL, "timed_out": True}
        time.sleep(0.02)


class ForkServer:
    """A running fork server (started with ``env``, importing ``preload``): ``run`` a
    command line through it, as ``subprocess.run([sys.executable, *argv])`` would."""

    def __init__(self, env: dict[str, str], preload: str = "cli", cwd: Path = HERE.parents[1]):
        self.cwd = cwd
        self.process = subprocess.Popen(
            [sys.executable, str(HERE), preload],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=cwd,
        )
        assert json.loads(self.process.stdout.readline()) == {"ready": True}

    def run(
        self, argv: list[str], env: dict[str, str | None], out: Path, timeout: float = 120
    ) -> tuple[int, str, str]:
        """Exit status, stdout and stderr of ``argv`` with ``env``'s changes; the two
        outputs are written in the folder ``out``. A command past ``timeout`` fails."""
        out.mkdir(parents=True, exist_ok=True)
        request = {
            "argv": argv,
            "env": env,
            "cwd": str(self.cwd),
            "stdout": str(out / "stdout.txt"),
            "stderr": str(out / "stderr.txt"),
            "timeout": timeout,
        }
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        reply = json.loads(self.process.stdout.readline())
        assert not reply["timed_out"], f"{argv[:2]} ran past {timeout} s"
        return reply["rc"], (out / "stdout.txt").read_text(), (out / "stderr.txt").read_text()

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)


def main() -> None:
    _preload(sys.argv[1] if len(sys.argv) > 1 else "cli")
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        if line.strip():
            print(json.dumps(_run(json.loads(line))), flush=True)


if __name__ == "__main__":
    main()
