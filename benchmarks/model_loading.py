"""How long does it take to get a model offline? Prints figures; asserts nothing.

    .venv/bin/python benchmarks/model_loading.py

Measures, in a fresh process each (so imports are counted once, as a user feels them):
importing transformers, building GPT-2's tokenizer from its shipped BPE files, and
loading with the default name offline (the fallback to the offline model), plus the
``local_files_only`` cache probe alone.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys

SNIPPET = r"""
import os, time, json, contextlib, io
t0 = time.perf_counter()
import transformers
t1 = time.perf_counter()
from helpers.model_source import locate_model
from helpers.modeling import gpt2_tokenizer_from_package, load_model_and_tokenizer
t2 = time.perf_counter()
gpt2_tokenizer_from_package()
t3 = time.perf_counter()
locate_model("gpt2")
t4 = time.perf_counter()
with contextlib.redirect_stderr(io.StringIO()):
    load_model_and_tokenizer("gpt2", device="cpu")
t5 = time.perf_counter()
print(json.dumps({"import transformers": t1 - t0, "import helpers.modeling": t2 - t1,
                  "tokenizer from package": t3 - t2,
                  "locate (cache probe)": t4 - t3, "load gpt2 -> offline fallback": t5 - t4}))
"""


def main(repeats: int = 3) -> None:
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    runs = []
    for _ in range(repeats):
        out = subprocess.run(
            [sys.executable, "-c", SNIPPET], env=env, capture_output=True, text=True, check=True
        ).stdout
        runs.append(__import__("json").loads(out.strip().splitlines()[-1]))
    print(f"offline model loading, {repeats} fresh processes, seconds (median / max)")
    for key in runs[0]:
        values = [run[key] for run in runs]
        print(f"  {key:<32} {statistics.median(values):8.4f} / {max(values):8.4f}")


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="fresh processes to time (>= 1)")
    options = parser.parse_args()
    if options.repeats < 1:
        parser.error(f"--repeats must be >= 1 (got {options.repeats})")
    main(options.repeats)
