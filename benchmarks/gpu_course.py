"""The course's real path on a GPU, against a stand-in Hub serving a GPT-2-small shape.

    python benchmarks/gpu_course.py [--notebooks 01 03 04] [--out DIR] [--steps 30]

For a machine with a CUDA GPU and no internet (Colab's path, rehearsed). It serves a
12-layer x 768-wide GPT-2 (GPT-2 small's shape and tokenizer, **random weights**) from
``tests/standin_hub.py``, points ``HF_ENDPOINT`` at it with a fresh ``HF_HOME``, and then:

1. executes notebooks 01, 03 and 04 in fresh kernels, in quick mode (``GPT2LAB_QUICK=1``),
   saving the executed copies; notebook 04 asserts that the decoders written from scratch
   equal ``generate`` token for token, so finishing it answers that question on CUDA;
2. trains the served model with ``helpers.training.train`` for ``--steps`` steps on the
   course corpus (batch 8 x 1,024 tokens) and prints the precision chosen, the median step
   time, tokens/s, MFU (6 N tokens/s over the GPU's dense matmul peak at that precision,
   measured here with a large matrix product, N = the parameters in matrix products) and
   peak GPU memory.

Prints figures; asserts nothing beyond what the notebooks assert themselves.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "src"))


def matmul_peak(dtype, size: int = 8192, repeats: int = 10) -> float:
    """FLOP/s of a large square matrix product on this GPU (the same kind of work as training)."""
    import torch

    a = torch.randn(size, size, device="cuda", dtype=dtype)
    b = torch.randn(size, size, device="cuda", dtype=dtype)
    for _ in range(3):
        a @ b
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    torch.cuda.synchronize()
    return 2 * size**3 * repeats / (time.perf_counter() - start)


def run_notebook(stem: str, workdir: Path, out: Path) -> tuple[float, str]:
    import nbformat
    from nbclient import NotebookClient

    source = next((ROOT / "notebooks").glob(f"{stem}_*.ipynb"))
    notebook = nbformat.read(source, as_version=4)
    client = NotebookClient(
        notebook, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(workdir)}}
    )
    start = time.perf_counter()
    error = "ok"
    try:
        client.execute()
    except Exception as exc:  # report and go on to the next notebook
        error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1][:300]}"
    seconds = time.perf_counter() - start
    nbformat.write(notebook, out / source.name)
    return seconds, error


def outputs_matching(path: Path, needles: tuple[str, ...]) -> list[str]:
    lines = []
    for cell in json.loads(path.read_text())["cells"]:
        for output in cell.get("outputs", []):
            text = output.get("text") or "".join(output.get("data", {}).get("text/plain", ""))
            text = "".join(text) if isinstance(text, list) else text
            lines += [line for line in text.splitlines() if any(n in line for n in needles)]
    return lines


def throughput(steps: int, out: Path) -> dict:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from helpers.data import course_documents
    from helpers.packing import build_lm_dataset
    from helpers.training import TrainingConfig, train

    tokenizer = AutoTokenizer.from_pretrained("gpt2")
    model = AutoModelForCausalLM.from_pretrained("gpt2")
    dataset = build_lm_dataset(course_documents(), tokenizer, block_size=1024)
    config = TrainingConfig(
        output_dir=str(out / "throughput-model"),
        max_steps=steps,
        batch_size=8,
        block_size=1024,
        learning_rate=1e-4,
        eval_every=0,
        eval_batches=2,
        log_every=1,
        checkpoint_every=0,
    )
    torch.cuda.reset_peak_memory_stats()
    result = train(config, dataset, model=model, tokenizer=tokenizer)
    logs = [row for row in result.history.to_dict()["train"] if row.get("tokens_per_second")]
    tokens_per_s = statistics.median(row["tokens_per_second"] for row in logs[2:] or logs)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(
        str(result.precision), torch.float32
    )
    peak = matmul_peak(dtype)
    matrix_params = sum(
        p.numel() for name, p in model.named_parameters() if p.dim() == 2 and "wpe" not in name
    )
    return {
        "device": torch.cuda.get_device_name(),
        "precision": str(result.precision),
        "steps": result.completed_steps,
        "tokens_per_step": 8 * 1024,
        "step_time_ms": 1000 * 8 * 1024 / tokens_per_s,
        "tokens_per_s": tokens_per_s,
        "matmul_peak_tflops": peak / 1e12,
        "mfu": 6 * matrix_params * tokens_per_s / peak,
        "peak_memory_gib": torch.cuda.max_memory_allocated() / 2**30,
        "parameters": sum(p.numel() for p in model.parameters()),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notebooks", nargs="*", default=["01", "03", "04"])
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="where the executed notebooks go (default: a new temp folder)",
    )
    parser.add_argument("--steps", type=int, default=30, help="timed training steps (>= 1)")
    args = parser.parse_args()
    if args.steps < 1:
        parser.error(f"--steps must be >= 1 (got {args.steps})")
    import torch

    if not torch.cuda.is_available():
        parser.error("no CUDA GPU here: this check runs the course on a GPU (e.g. Colab's T4)")
    args.out = args.out or Path(tempfile.mkdtemp(prefix="gpu-course-"))
    args.out.mkdir(parents=True, exist_ok=True)

    from standin_hub import StandInHub, build_gpt2_repo

    home = Path(tempfile.mkdtemp(prefix="gpu-course-home-"))
    repo = build_gpt2_repo(home / "repo", n_layer=12, n_embd=768, n_head=12)
    with StandInHub({"gpt2": repo}) as hub:
        os.environ.update(
            HF_ENDPOINT=hub.endpoint,
            HF_HOME=str(home / "hf"),
            HF_HUB_OFFLINE="0",
            GPT2LAB_QUICK="1",
            GPT2LAB_RUN_DIR=str(home / "run"),
            GPT2LAB_TRAINED_MODEL=str(home / "finetuned"),
            PYTHONPATH=os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
        )
        print(f"stand-in Hub at {hub.endpoint}, serving gpt2 = 12 x 768, random weights")
        for stem in args.notebooks:
            seconds, status = run_notebook(stem, ROOT / "notebooks", args.out)
            print(f"notebook {stem}: {seconds:.1f} s, {status}")
            executed = next(args.out.glob(f"{stem}_*.ipynb"))
            for line in outputs_matching(
                executed,
                ("model source", "precision", "Precision", "identical", "equal", "tokens/s"),
            )[:12]:
                print(f"    {line.strip()[:160]}")
        os.environ["GPT2LAB_QUICK"] = "0"
        figures = throughput(args.steps, home)
    print(json.dumps(figures, indent=2))
    (args.out / "gpu_figures.json").write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
