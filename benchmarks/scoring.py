"""Seconds to score held-out text: the output layer on scored positions only, by chunk size.

    .venv/bin/python benchmarks/scoring.py                 # the course's validation works
    GPT2LAB_QUICK=1 .venv/bin/python benchmarks/scoring.py # a smoke run on a slice of them
    benchmarks/as_avx2.sh .venv/bin/python benchmarks/scoring.py   # as on an AVX2-only CPU

``helpers.perplexity.perplexity`` (sliding windows, the default stride of half a window)
is timed on the offline model's shape (GPT-2's 50,257-token vocabulary, random weights:
speed does not depend on their values), or on ``--model``, in these ways:

- ``full logits``: the model's own logits for every position of every window, then the
  loss of the scored ones (what ``model(...).logits`` gives; half of each window is
  context, so half of that output layer is wasted);
- ``scored, chunk N``: the final hidden states, then the output layer on the scored
  positions only, N at a time (``helpers.perplexity.SCORING_CHUNK``).

All give the same perplexity (checked). Which chunk is fastest depends on the CPU's caches
(the logits of a chunk are N x 50,257 floats, and the 25 MB output layer is read once per
chunk); on a 2-core CPU the differences between chunk sizes were within the run-to-run
noise, far below what scoring only the needed positions saves. Prints figures, asserts
nothing about speed.
"""

from __future__ import annotations

import argparse
import math
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def full_logits(model, input_ids, attention_mask, labels):
    """The plain way: every position's logits, then the loss where a label is given."""
    import torch

    from helpers.perplexity import IGNORE_INDEX

    logits = model(input_ids=input_ids, attention_mask=attention_mask).logits[:, :-1]
    targets = labels[:, 1:]
    losses = torch.nn.functional.cross_entropy(
        logits.float().reshape(-1, logits.shape[-1]),
        targets.reshape(-1),
        ignore_index=IGNORE_INDEX,
        reduction="none",
    )
    return losses.view(targets.shape)


def parse_arguments() -> tuple[argparse.ArgumentParser, argparse.Namespace]:
    """The options, checked before the slow imports: a usage error costs no time."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, nargs="+", default=[64, 256, 1024])
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument(
        "--model",
        default=None,
        help="a model folder, e.g. models/finetuned (default: the "
        "offline model's shape with random weights)",
    )
    args = parser.parse_args()
    if min(args.chunks) < 1 or (args.threads is not None and args.threads < 1):
        parser.error("--chunks and --threads take whole numbers >= 1, e.g. --chunks 64 256")
    return parser, args


def main() -> None:
    parser, args = parse_arguments()
    import torch

    import helpers.perplexity as scoring
    from helpers.data import COURSE_SPLIT, course_documents, split_by_document
    from helpers.environment import cpu_capability, quick_or_full
    from helpers.modeling import load_model_and_tokenizer
    from helpers.offline_model import (
        ModelNotAvailableError,
        build_offline_model,
        gpt2_tokenizer_from_package,
    )

    if args.threads:
        torch.set_num_threads(args.threads)
    splits = split_by_document(course_documents(), **COURSE_SPLIT)
    texts = [t[: quick_or_full(4_000, None)] for t in splits["validation"]["text"]]
    if args.model is None:
        model, tokenizer = build_offline_model().eval(), gpt2_tokenizer_from_package()
    else:
        try:
            model, tokenizer = load_model_and_tokenizer(args.model, "cpu")
        except (ModelNotAvailableError, OSError, ValueError) as error:
            parser.exit(2, f"error: {error}\n")
    print(f"CPU kernels: {cpu_capability()}, {torch.get_num_threads()} threads; "
          f"{len(texts)} validation works, {sum(map(len, texts)):,} characters")  # fmt: skip
    plain = scoring.token_losses
    ways = [("full logits", None)] + [(f"scored, chunk {n}", n) for n in args.chunks]
    results = {}
    for name, chunk in ways:
        if chunk is None:
            scoring.token_losses = full_logits
        else:
            scoring.token_losses = plain
            scoring.SCORING_CHUNK = chunk
        start = time.perf_counter()
        result = scoring.perplexity(model, tokenizer, texts)
        seconds = time.perf_counter() - start
        results[name] = result
        print(f"{name:<18} {seconds:7.2f} s  {result.tokens / seconds:9,.0f} scored tokens/s  "
              f"perplexity {result.perplexity:.4f}")  # fmt: skip
    scoring.token_losses = plain
    first = next(iter(results.values()))
    same = all(math.isclose(r.mean_nll, first.mean_nll, rel_tol=1e-5) for r in results.values())
    print("same perplexity every way:", "yes" if same else "NO")


if __name__ == "__main__":
    main()
