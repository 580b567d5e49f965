r"""GPT-2's output layer and its log-softmax, a chunk of positions at a time.

For a position with final hidden state :math:`h`, output weights :math:`W` (vocabulary x
width) and next token :math:`y`, the logits are :math:`z = W h` and the loss is

.. math:: \ell = -\log \operatorname{softmax}(z)_y = \log \textstyle\sum_j e^{z_j} - z_y .

With GPT-2's 50,257 tokens and a small model's width, this product and the passes over
its logits are most of the arithmetic of training *and* of scoring. Two things make them
cheap on a CPU in fp32:

* **Tiles of the vocabulary** (:data:`CPU_VOCAB_TILE` rows of :math:`W` at a time). Right
  after a tile's product, while its logits are still in cache, they become
  :math:`e^{z - m_i}` with the tile's own maximum :math:`m_i`, and their sum :math:`s_i`
  is taken. With the row's maximum :math:`m = \max_i m_i`,

  .. math:: \log \textstyle\sum_j e^{z_j} = m + \log \sum_i e^{m_i - m} s_i ,

  and scaling tile :math:`i` by :math:`e^{m_i - m} / \sum_k e^{m_k - m} s_k` gives the
  softmax (training needs it for the gradient; scoring does not).
* **The true token's logit as a dot product** :math:`W_y \cdot h`, instead of being
  picked out of the logits.

Subtracting a maximum before each exponential means nothing overflows, and the loss is
never the log of a tiny probability. A GPU, and bf16 (fast on CPUs with AMX or
AVX512-BF16), take the whole vocabulary as one tile and the logits as rounded.
:func:`chunk_log_softmax` is one chunk's step, shared by the training loss
(``helpers/training/loss.py``) and :func:`position_losses`, which scoring uses.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

CPU_VOCAB_TILE = 2048
"""Vocabulary rows per tile on a CPU in fp32. GPT-2's output layer is a product with a
small inner dimension (the model's width) and 50,257 columns. Tiles of 2,048 rows of
``W`` (1 MB at width 128) ran the products faster on a 2-core AVX2 CPU than one product
over the whole vocabulary, and each tile's exponentials run while its logits are still
in cache. A GPU, and bf16 (where tiles were not tried), take the whole vocabulary as one
tile."""

_SCRATCH: dict[tuple, torch.Tensor] = {}


def scratch(name: str, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device):
    """A reusable buffer. On a CPU, allocating the tens of megabytes of a logits chunk
    anew for every chunk costs more than the arithmetic (fresh pages must be mapped and
    zeroed); a GPU's caching allocator already reuses memory, so there it is just one."""
    if device.type != "cpu":
        return torch.empty(shape, dtype=dtype, device=device)
    key = (name, dtype, device)
    buffer = _SCRATCH.get(key)
    if buffer is None or buffer.numel() < math.prod(shape):
        buffer = _SCRATCH[key] = torch.empty(math.prod(shape), dtype=dtype, device=device)
    return buffer[: math.prod(shape)].view(shape)


def vocabulary_tiles(vocab: int, dtype: torch.dtype, device: torch.device) -> list[tuple[int, int]]:
    """The ``(start, end)`` rows of each tile: :data:`CPU_VOCAB_TILE` rows in fp32 on a
    CPU, else the whole vocabulary."""
    tile = CPU_VOCAB_TILE if device.type == "cpu" and dtype == torch.float32 else vocab
    return [(start, min(start + tile, vocab)) for start in range(0, vocab, tile)]


class ChunkLogSoftmax(NamedTuple):
    """One chunk's log-softmax terms; its ``exps`` buffer holds :math:`e^{z - m_i}`."""

    log_normaliser: torch.Tensor  # (n,): log sum_j exp(z_j)
    target_logit: torch.Tensor  # (n,): z_y
    last_logit: torch.Tensor | None  # (n,): the last row's logit, if asked for
    to_softmax: torch.Tensor  # (n, tiles): scales each tile of exps to the softmax
    tiles: list[tuple[int, int]]

    def softmax_in_place(self, exps: torch.Tensor) -> torch.Tensor:
        """Turn the chunk's ``exps`` into softmax(z), in place."""
        for i, (start, end) in enumerate(self.tiles):
            exps[:, start:end].mul_(self.to_softmax[:, i : i + 1])
        return exps


def chunk_log_softmax(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    targets: torch.Tensor,
    exps: torch.Tensor,
    offset: torch.Tensor | None = None,
    last_logit: bool = False,
) -> ChunkLogSoftmax:
    """The log-sum-exp of ``hidden @ weight.T (+ offset)`` for each of a chunk's rows, and
    the logit of each row's target (``targets``: valid token ids).

    ``exps`` (rows x vocabulary, float32) receives :math:`e^{z - m_i}` tile by tile. In
    fp32 the logits are computed straight into it and the targets' logits are dot
    products; in another dtype (bf16) the logits are computed in that dtype and scored as
    rounded, in one tile. ``offset`` (vocabulary,) is added to every row of logits.
    """
    n, vocab = hidden.shape[0], weight.shape[0]
    in_place = hidden.dtype == torch.float32
    tiles = vocabulary_tiles(vocab, hidden.dtype, hidden.device)
    tile_max = torch.empty(n, len(tiles), dtype=torch.float32, device=hidden.device)
    tile_sum = torch.empty_like(tile_max)
    if in_place:
        target = (hidden * weight[targets]).sum(-1)
        last = hidden @ weight[-1] if last_logit else None
        if offset is not None:
            target = target + offset[targets]
            last = None if last is None else last + offset[-1]
    else:
        logits = scratch("logits", (n, vocab), hidden.dtype, hidden.device)
    for i, (start, end) in enumerate(tiles):
        z = exps[:, start:end]
        if in_place:
            torch.mm(hidden, weight[start:end].t(), out=z)
        else:
            z.copy_(torch.mm(hidden, weight[start:end].t(), out=logits[:, : end - start]))
        if offset is not None:
            z.add_(offset[start:end])
        if not in_place:  # one tile: the logits as rounded, taken before the exp
            target = z[torch.arange(n, device=z.device), targets].clone()
            last = z[:, -1].clone() if last_logit else None
        peak = z.amax(-1, keepdim=True)
        z.sub_(peak).exp_()  # exp(z - max): no overflow
        tile_max[:, i : i + 1] = peak
        torch.sum(z, -1, keepdim=True, out=tile_sum[:, i : i + 1])
    # the row's max m, and sum exp(z - m) = sum over tiles of exp(m_i - m) s_i
    peak = tile_max.amax(-1, keepdim=True)
    rescale = (tile_max - peak).exp_()
    normaliser = (tile_sum * rescale).sum(-1, keepdim=True)
    log_normaliser = normaliser.squeeze(1).log() + peak.squeeze(1)
    return ChunkLogSoftmax(log_normaliser, target, last, rescale.div_(normaliser), tiles)


@torch.no_grad()
def position_losses(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    labels: torch.Tensor,
    chunk_tokens: int,
    bias: torch.Tensor | None = None,
) -> torch.Tensor:
    """``-log softmax(hidden @ weight.T + bias)[label]`` per row (float32), 0 where the
    label is -100: ``F.cross_entropy(..., reduction="none")`` without the logits of more
    than ``chunk_tokens`` rows at a time. Under autocast, computed in its dtype."""
    device = hidden.device
    if torch.is_autocast_enabled(device.type):
        dtype = torch.get_autocast_dtype(device.type)
        hidden, weight = hidden.to(dtype), weight.to(dtype)
    elif weight.dtype != hidden.dtype:
        weight = weight.to(hidden.dtype)
    keep = labels != -100
    targets = labels.clamp(min=0)
    losses = torch.zeros(hidden.shape[0], dtype=torch.float32, device=device)
    with torch.autocast(device.type, enabled=False):
        for start in range(0, hidden.shape[0], chunk_tokens):
            end = min(start + chunk_tokens, hidden.shape[0])
            exps = scratch("exps", (end - start, weight.shape[0]), torch.float32, device)
            terms = chunk_log_softmax(hidden[start:end], weight, targets[start:end], exps, bias)
            losses[start:end] = (terms.log_normaliser - terms.target_logit).float()
    return losses.masked_fill_(~keep, 0.0)
