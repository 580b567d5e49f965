r"""The numbers behind the degeneration figures: what the model thinks of a text, token by token.

Holtzman et al. (2020, "The Curious Case of Neural Text Degeneration") argue from a few
measurements, each computed here from one or a few forward passes:

- :func:`token_probabilities`: $p(x_t \mid x_{<t})$ along a text (their Figure 2 compares
  a human passage with a beam-search continuation);
- :func:`repetition_loop`: the probability of repeating a sentence once more against how
  often it has already occurred (the self-reinforcing loop of Xu et al., 2022, "Learning
  to Break the Loop");
- :func:`nucleus_sizes`: how many tokens top-p keeps at each position of a text;
- :func:`temperature_cuts`: one next-token distribution under several temperatures, with
  what top-k and top-p keep;
- :func:`beam_tree`: a small beam search that records every branch it scored.

Presentation lives in ``helpers.plots``; these functions only compute.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from helpers.decoding.checks import check_parameters
from helpers.decoding.transforms import apply_temperature, filter_top_p

if TYPE_CHECKING:
    from transformers import PreTrainedModel


def _as_ids(ids: torch.Tensor | Sequence[int], name: str) -> torch.Tensor:
    """A 1-D tensor of token ids, or a clear error."""
    ids = torch.as_tensor(ids, dtype=torch.long)
    if ids.ndim == 2 and ids.shape[0] == 1:
        ids = ids[0]
    if ids.ndim != 1 or ids.numel() == 0:
        raise ValueError(
            f"{name} must be one non-empty sequence of token ids (got shape "
            f"{tuple(ids.shape)}); pass tokenizer(text)['input_ids'] for one text."
        )
    return ids


def _check_fits(model: PreTrainedModel, length: int, what: str) -> None:
    limit = getattr(model.config, "n_positions", None) or getattr(
        model.config, "max_position_embeddings", None
    )
    if limit is not None and length > limit:
        raise ValueError(
            f"{what} is {length} tokens, longer than the model's context of {limit}: "
            f"use a shorter text (or fewer repeats)."
        )


@torch.no_grad()
def _logits(model: PreTrainedModel, ids: torch.Tensor) -> torch.Tensor:
    """Float32 logits ``[length, vocab]`` for every position of one sequence."""
    _check_fits(model, ids.numel(), "The sequence")
    output = model(input_ids=ids[None].to(model.device))
    return output.logits[0].float().cpu()


def token_probabilities(
    model: PreTrainedModel, ids: torch.Tensor | Sequence[int], start: int = 1
) -> list[float]:
    r"""$p(x_t \mid x_{<t})$ for every position $t \ge$ ``start`` of one sequence.

    ``start`` is where the part of interest begins (the prompt's length): the tokens
    before it are context only. One forward pass; entry $i$ is the probability of token
    ``ids[start + i]``.
    """
    ids = _as_ids(ids, "ids")
    if not 1 <= start < ids.numel():
        raise ValueError(
            f"start={start} must be at least 1 (the first token has no context) and less "
            f"than the sequence length {ids.numel()}."
        )
    log_probs = torch.log_softmax(_logits(model, ids)[start - 1 : -1], dim=-1)
    return log_probs.gather(-1, ids[start:, None]).squeeze(-1).exp().tolist()


def repetition_loop(
    model: PreTrainedModel,
    sentence_ids: torch.Tensor | Sequence[int],
    repeats: int,
    prefix_ids: torch.Tensor | Sequence[int],
) -> list[float]:
    r"""How likely the model is to repeat a sentence again, after it occurred $k$ times.

    The text is ``prefix`` followed by ``repeats`` copies of the sentence. Entry $k$ is
    the mean token probability of copy $k + 1$ given the prefix and the $k$ copies
    before it: $\frac{1}{|s|}\sum_{t \in s_{k+1}} p(x_t \mid x_{<t})$ (Xu et al., 2022,
    measure the same average). A model caught in the loop shows a rising curve: every
    repetition makes the next one likelier. Entry 0 is the sentence's first occurrence.
    """
    sentence = _as_ids(sentence_ids, "sentence_ids")
    prefix = _as_ids(prefix_ids, "prefix_ids")
    if not isinstance(repeats, int) or isinstance(repeats, bool) or repeats < 1:
        raise ValueError(f"repeats must be a whole number >= 1 (got {repeats!r}).")
    text = torch.cat([prefix, sentence.repeat(repeats)])
    probs = token_probabilities(model, text, start=prefix.numel())
    size = sentence.numel()
    return [sum(probs[k * size : (k + 1) * size]) / size for k in range(repeats)]


def nucleus_size(logits: torch.Tensor, top_p: float, temperature: float = 1.0) -> torch.Tensor:
    """How many tokens top-p keeps in each row of ``logits`` ``[rows, vocab]``.

    Exactly what the sampler keeps: the same temperature and :func:`filter_top_p`.
    """
    check_parameters(top_p=top_p, temperature=temperature)
    kept = filter_top_p(apply_temperature(logits, temperature), top_p)
    return torch.isfinite(kept).sum(dim=-1)


def nucleus_sizes(
    model: PreTrainedModel,
    ids: torch.Tensor | Sequence[int],
    top_p: float,
    temperature: float = 1.0,
    start: int = 1,
) -> list[int]:
    """The nucleus size before each token ``ids[start:]``: the tokens top-p would keep there.

    Entry ``i`` counts the candidates for position ``start + i`` given everything before it.
    """
    ids = _as_ids(ids, "ids")
    if not 1 <= start < ids.numel():
        raise ValueError(f"start={start} must be in [1, {ids.numel() - 1}].")
    return nucleus_size(_logits(model, ids)[start - 1 : -1], top_p, temperature).tolist()


@dataclass(frozen=True)
class TemperatureCut:
    """One temperature's next-token distribution, sorted, and what the filters keep.

    ``sorted_probs``: probabilities after the temperature, most likely first;
    ``nucleus``: how many tokens top-p keeps; ``top_k_mass``: the mass of the ``top_k``
    most likely; ``nucleus_mass``: the mass of the nucleus.
    """

    temperature: float
    sorted_probs: list[float]
    nucleus: int
    top_k_mass: float
    nucleus_mass: float


def temperature_cuts(
    logits: torch.Tensor, temperatures: Sequence[float], top_k: int, top_p: float
) -> list[TemperatureCut]:
    """One next-token distribution (``logits`` ``[vocab]``) at each temperature, with the
    mass top-k keeps and the size and mass of the top-p nucleus."""
    check_parameters(top_k=top_k, top_p=top_p)
    logits = logits.reshape(-1).float()
    cuts = []
    for temperature in temperatures:
        probs = torch.softmax(apply_temperature(logits, temperature), dim=-1).sort(descending=True)
        sorted_probs = probs.values
        size = int(nucleus_size(logits[None], top_p, temperature)[0])
        cuts.append(
            TemperatureCut(
                temperature=float(temperature),
                sorted_probs=sorted_probs.tolist(),
                nucleus=size,
                top_k_mass=float(sorted_probs[:top_k].sum()) if top_k else 1.0,
                nucleus_mass=float(sorted_probs[:size].sum()),
            )
        )
    return cuts


@dataclass(frozen=True)
class BeamNode:
    """One scored branch of a beam search: a token appended to its parent's sequence.

    ``step`` 0 is the prompt (the root, ``parent`` None). ``score`` is the summed
    log-probability of the path from the root; ``kept`` says whether the branch was among
    the beams kept at its step (pruned branches are recorded too, to draw them).
    """

    step: int
    parent: int | None
    token: int | None
    log_prob: float
    score: float
    kept: bool


def beam_tree(
    model: PreTrainedModel,
    prompt_ids: torch.Tensor | Sequence[int],
    num_beams: int,
    steps: int,
    width: int | None = None,
) -> tuple[list[BeamNode], list[int]]:
    r"""A small beam search (no end-of-text, no penalties) that records its branches.

    At each step every kept beam is extended by every token, the candidates are ranked by
    summed log-probability $\sum_t \log p(y_t \mid x, y_{<t})$, and the ``num_beams``
    best are kept. Each beam's ``width`` best extensions (default ``num_beams``, which
    always includes every kept one) are recorded, kept or pruned. Returns the nodes (the
    root first) and the best final sequence's new tokens.
    """
    check_parameters(num_beams=num_beams, max_new_tokens=steps)
    width = num_beams if width is None else width
    if not isinstance(width, int) or width < num_beams:
        raise ValueError(
            f"width={width!r} must be a whole number >= num_beams ({num_beams}), so that "
            "every kept branch is recorded."
        )
    prompt = _as_ids(prompt_ids, "prompt_ids")
    _check_fits(model, prompt.numel() + steps, "The prompt plus the new tokens")
    nodes = [BeamNode(0, None, None, 0.0, 0.0, True)]
    beams = [(0, prompt)]  # (node index, token ids)
    for step in range(1, steps + 1):
        with torch.no_grad():
            batch = torch.stack([ids for _, ids in beams]).to(model.device)
            log_probs = torch.log_softmax(model(input_ids=batch).logits[:, -1].float().cpu(), -1)
        scores = torch.tensor([nodes[i].score for i, _ in beams])[:, None] + log_probs
        best = torch.topk(scores.flatten(), num_beams).indices.tolist()
        vocab = log_probs.shape[-1]
        chosen = {(b // vocab, b % vocab) for b in best}
        new_beams: dict[tuple[int, int], tuple[int, torch.Tensor]] = {}
        for row, (parent, ids) in enumerate(beams):
            for token in torch.topk(scores[row], min(width, vocab)).indices.tolist():
                kept = (row, token) in chosen
                nodes.append(
                    BeamNode(step, parent, token, float(log_probs[row, token]),
                             float(scores[row, token]), kept)
                )  # fmt: skip
                if kept:
                    new_beams[(row, token)] = (
                        len(nodes) - 1,
                        torch.cat([ids, torch.tensor([token])]),
                    )
        beams = [new_beams[(b // vocab, b % vocab)] for b in best]  # best first
    best_ids = beams[0][1][prompt.numel() :].tolist()
    return nodes, best_ids
