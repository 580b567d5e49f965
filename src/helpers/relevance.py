"""Relevance: how much the prompt explains its continuation, as pointwise mutual information.

For a prompt :math:`x` and a continuation :math:`y = y_1 \\dots y_n` scored by a reference
language model,

.. math::

    \\mathrm{PMI}(x; y) / n
      = \\frac{1}{n} \\Big[\\log p(y \\mid \\langle s\\rangle, x)
                        - \\log p(y \\mid \\langle s\\rangle)\\Big]
      = \\frac{1}{n} \\sum_{t=1}^{n} \\Big[\\log p(y_t \\mid \\langle s\\rangle, x, y_{<t})
                                       - \\log p(y_t \\mid \\langle s\\rangle, y_{<t})\\Big]

in nats per token, where :math:`\\langle s\\rangle` is the end-of-text token, which GPT-2
saw before every document, so both terms start from the same place. Positive: the
continuation is likelier after this prompt than on its own (it is about the prompt);
zero: the prompt does not matter; negative: the prompt makes it less likely (it was
written for something else). Dividing by the likelihood of the text on its own is the
point: a bland, frequent continuation is likely after any prompt and earns nothing.

PMI as a measure of how much a text depends on its context is old (Church & Hanks, 1990);
Holtzman et al. (2021, "Surface form competition", PMI-DC) score answers with it for the
same reason, and the contrastive-search line of work uses related scores to judge
whether a continuation stays on its prompt.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from transformers import PreTrainedModel


class RelevanceError(ValueError):
    """Bad input to a relevance computation; the message says what to change."""


def _context_length(model: PreTrainedModel) -> int:
    config = model.config
    return int(getattr(config, "n_positions", None) or config.max_position_embeddings)


@torch.no_grad()
def continuation_log_probs(
    model: PreTrainedModel,
    contexts: Sequence[Sequence[int]],
    continuations: Sequence[Sequence[int]],
    batch_size: int = 16,
) -> np.ndarray:
    """Sum of :math:`\\log p(y_t \\mid \\text{context}, y_{<t})` over each continuation (nats).

    Each context must hold at least one token (the first continuation token needs one to
    be predicted from). A context too long for the model keeps its last tokens; a
    continuation that does not fit on its own is an error.
    """
    if len(contexts) != len(continuations):
        raise RelevanceError(
            f"Give one context per continuation: {len(contexts)} contexts for "
            f"{len(continuations)} continuations."
        )
    limit = _context_length(model)
    rows = []
    for i, (context, continuation) in enumerate(zip(contexts, continuations, strict=True)):
        context, continuation = list(context), list(continuation)
        if not context:
            raise RelevanceError(
                f"Context {i} is empty: start it with the end-of-text token, e.g. [eos_id]."
            )
        if not continuation:
            raise RelevanceError(f"Continuation {i} is empty: there is nothing to score.")
        if len(continuation) >= limit:
            raise RelevanceError(
                f"Continuation {i} has {len(continuation)} tokens; the model reads at most "
                f"{limit}, context included. Score shorter continuations."
            )
        keep = limit - len(continuation)
        rows.append((context[-keep:], continuation))
    was_training = model.training
    model.eval()
    totals = np.zeros(len(rows))
    try:
        for start in range(0, len(rows), batch_size):
            batch = rows[start : start + batch_size]
            width = max(len(c) + len(y) for c, y in batch)
            ids = torch.zeros((len(batch), width), dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for r, (c, y) in enumerate(batch):  # right-padded: positions stay 0, 1, 2, ...
                ids[r, : len(c) + len(y)] = torch.tensor(c + y)
                mask[r, : len(c) + len(y)] = 1
            logits = model(input_ids=ids.to(model.device), attention_mask=mask.to(model.device))
            log_probs = torch.log_softmax(logits.logits.float(), dim=-1).cpu()
            for r, (c, y) in enumerate(batch):
                # position j predicts token j + 1: y starts at len(c), predicted from len(c) - 1
                predicted = log_probs[r, len(c) - 1 : len(c) + len(y) - 1]
                totals[start + r] = predicted.gather(1, torch.tensor(y)[:, None]).sum().item()
    finally:
        model.train(was_training)
    return totals


def pmi_per_token(
    model: PreTrainedModel,
    prompts: Sequence[Sequence[int]],
    continuations: Sequence[Sequence[int]],
    start_token_id: int,
    batch_size: int = 16,
) -> np.ndarray:
    """Relevance of each continuation to its prompt: PMI under ``model``, nats per token.

    ``prompts`` and ``continuations`` are token ids (score the ids a decoder chose, not
    its text encoded again); ``start_token_id`` (GPT-2: ``<|endoftext|>``) begins both the
    conditional and the unconditional context.
    """
    if len(prompts) != len(continuations):
        raise RelevanceError(
            f"Give one prompt per continuation: {len(prompts)} prompts for "
            f"{len(continuations)} continuations."
        )
    conditional = continuation_log_probs(
        model, [[start_token_id, *p] for p in prompts], continuations, batch_size
    )
    unconditional = continuation_log_probs(
        model, [[start_token_id]] * len(continuations), continuations, batch_size
    )
    lengths = np.array([len(c) for c in continuations], dtype=float)
    return (conditional - unconditional) / lengths
