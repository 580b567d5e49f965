"""Run command lines fast: a process that imports the heavy libraries once, then forks a
child for each command, which runs it as ``python -m helpers ...`` or ``python script.py``
would (same ``__main__``, same exit status, a traceback printed for an uncaught exception).

Starting Python with torch and transformers takes seconds; a fork takes milliseconds, so
tests/test_bad_inputs.py can run dozens of command lines in a few seconds each. Only
what is read at import time is shared (the environment this server started with: set
HF_HUB_OFFLINE and the like there); each child gets its own environment changes, working
folder, stdin from /dev/null and stdout/stderr in files.

Protocol, one JSON object per line: in, ``{"argv": [...], "env": {...}, "cwd": ...,
"stdout": path, "stderr": path, "timeout": seconds}`` (``argv`` is ``["-m", module, ...]``
or ``[script, ...]``; an ``env`` value of None unsets the variable); out,
``{"rc": int, "timed_out": bool}``. It forks: the tests use it on Linux only.
"""

from __future__ import annotations

import json
import os
import runpy
import signal
import sys
import time
import traceback


def _preload() -> None:
    """What every command imports anyway, before the first fork (nothing runs yet)."""
    import datasets  # noqa: F401
    import torch  # noqa: F401
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


def main() -> None:
    _preload()
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        if line.strip():
            print(json.dumps(_run(json.loads(line))), flush=True)


if __name__ == "__main__":
    main()
