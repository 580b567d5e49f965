r"""The loss: next-token cross-entropy, with GPT-2's output layer computed in chunks.

A performance feature, kept apart so that the loop reads plainly. The plain way to get
the loss is ``logits = hidden @ W.T`` for every position, then ``cross_entropy``. With
GPT-2's 50,257-token vocabulary the logits (tokens x vocabulary) are by far a small
model's largest tensor, and the passes over them in fp32 (softmax, its gradient, the
casts between bf16 and fp32) cost more than the transformer itself.

The derivation. For one position with final hidden state :math:`h` (a row of
``hidden``), output weights :math:`W` (vocabulary x width) and true next token
:math:`y`, the logits are :math:`z = W h` and the loss is

.. math:: \ell = -\log \operatorname{softmax}(z)_y = \log \textstyle\sum_j e^{z_j} - z_y .

Its gradient with respect to the logits is

.. math:: \partial \ell / \partial z_j = \operatorname{softmax}(z)_j - [j = y] =: g_j ,

so by the chain rule, stacking the rows of all positions into ``G`` (tokens x
vocabulary), :math:`\partial L / \partial H = G W` and :math:`\partial L / \partial W
= G^\top H`. Everything backward needs is ``G``, and ``G`` is known as soon as a
chunk's softmax is: so :func:`chunked_lm_loss` walks through the positions
``chunk_tokens`` at a time, takes each chunk's log-sum-exp in fp32 (subtracting the
row's maximum first, so nothing overflows, and never taking the log of a tiny
probability), writes the chunk's ``G`` straight into one buffer in the input dtype, and
finishes forward with the two matrix products. In fp32 (a CPU without bf16) each chunk's
logits are computed straight into its rows of that buffer and turned into ``G`` there,
with no copies, and chunks are larger (``CausalLMObjective.chunk_for``). There each
chunk is also cut along the vocabulary into tiles (:data:`CPU_VOCAB_TILE`): right after
a tile's product, while its logits are still in cache, it becomes :math:`e^{z - m_i}`
with its own maximum :math:`m_i`, and its sum :math:`s_i` is taken. With the row's
maximum :math:`m = \max_i m_i`, :math:`\log \sum_j e^{z_j} = m + \log \sum_i e^{m_i - m}
s_i`, and one more pass scales each tile by :math:`e^{m_i - m} / \sum_i e^{m_i - m} s_i`
to the softmax. Backward only
multiplies them by the incoming gradient (a scalar: the loss is a sum). Positions
labelled -100 are not scored.

:class:`CausalLMObjective` wraps a model in this loss (or the model's own logits, for
models whose output layer is not a plain linear map); it is what accelerate prepares.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from helpers.perplexity import plain_output_layer
from helpers.training.vocabulary import UsedVocabulary


def chunked_lm_loss(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    labels: torch.Tensor,
    chunk_tokens: int,
    offset: torch.Tensor | None = None,
    last_row_share: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed next-token cross-entropy of ``hidden @ weight.T``, ``chunk_tokens`` rows at a time.

    ``hidden``: (tokens, width); ``weight``: (vocabulary, width); ``labels``: (tokens,),
    -100 where a position is not scored. Returns ``(loss_sum, count)``, equal to
    ``F.cross_entropy(hidden @ weight.T, labels, reduction="sum")`` and the number of
    scored positions, and computes the gradients as the module docstring derives: each
    chunk's softmax - one_hot is stored in the input dtype (bf16 under autocast), and two
    matrix products give the gradients of ``hidden`` and ``weight``. ``offset``
    (vocabulary,), if given, is added to every row of logits (a constant: no gradient).
    ``last_row_share`` (call it e) smooths the target towards the last row: each scored
    position's loss is (1 - e) * -log p(label) + e * -log p(last row) (training on a used
    vocabulary, the last row is the unused tokens' shared one: e is their Good-Turing share).
    """
    return _ChunkedLinearCrossEntropy.apply(
        hidden, weight, labels, chunk_tokens, offset, last_row_share
    )


_SCRATCH: dict[tuple, torch.Tensor] = {}


def _scratch(name: str, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device):
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


CPU_VOCAB_TILE = 2048
"""Vocabulary rows per tile on a CPU in fp32. GPT-2's output layer is a product with a
small inner dimension (the model's width) and 50,257 columns. Tiles of 2,048 rows of
``W`` (1 MB at width 128) ran the products faster on a 2-core AVX2 CPU than one product
over the whole vocabulary, and each tile's softmax pass runs while its logits are still
in cache. A GPU, and bf16 (fast on CPUs with AMX or AVX512-BF16, where tiles were not
tried), take the whole vocabulary as one tile."""


def _weight_gradient(grad_logits: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
    """``grad_logits.T @ hidden`` in float32 (vocabulary x width); in fp32 on a CPU, by tiles."""
    if hidden.device.type != "cpu" or hidden.dtype != torch.float32:
        return (grad_logits.t() @ hidden).float()
    vocab = grad_logits.shape[1]
    grad = torch.empty(vocab, hidden.shape[1], dtype=hidden.dtype, device=hidden.device)
    for start in range(0, vocab, CPU_VOCAB_TILE):
        end = start + CPU_VOCAB_TILE
        torch.mm(grad_logits[:, start:end].t(), hidden, out=grad[start:end])
    return grad.float()


def _probs_buffer(chunk_tokens: int, vocab: int, device: torch.device) -> torch.Tensor:
    return _scratch("probs", (chunk_tokens, vocab), torch.float32, device)


class _ChunkedLinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden, weight, labels, chunk_tokens, offset, last_row_share):
        keep = labels != -100
        count = keep.sum()
        target = labels.clamp(min=0)
        needs_grad = ctx.needs_input_grad[0] or ctx.needs_input_grad[1]
        tokens, vocab = hidden.shape[0], weight.shape[0]
        device = hidden.device
        total = torch.zeros((), dtype=torch.float32, device=device)
        grad_logits = (
            _scratch("grad", (tokens, vocab), hidden.dtype, device) if needs_grad else None
        )
        in_place = hidden.dtype == torch.float32  # the logits are already float32
        if not in_place:
            logits_buffer = _scratch("logits", (chunk_tokens, vocab), hidden.dtype, device)
        probs_buffer = (
            None if in_place and needs_grad else _probs_buffer(chunk_tokens, vocab, device)
        )
        rows = torch.arange(chunk_tokens, device=device)
        tile = CPU_VOCAB_TILE if device.type == "cpu" and in_place else vocab
        tiles = [(v, min(v + tile, vocab)) for v in range(0, vocab, tile)]
        for start in range(0, tokens, chunk_tokens):
            end = min(start + chunk_tokens, tokens)
            n, t, k, h = end - start, target[start:end], keep[start:end], hidden[start:end]
            # float32 logits: in fp32 straight into the gradient's rows (no copies)
            probs = grad_logits[start:end] if probs_buffer is None else probs_buffer[:n]
            # tile by tile: exp(z - the tile's max), and the tile's max and sum
            tile_max = torch.empty(n, len(tiles), dtype=torch.float32, device=device)
            tile_sum = torch.empty_like(tile_max)
            if in_place:  # fp32: the true token's logit (and the last row's) as dot products
                target_logit = (h * weight[t]).sum(-1)
                last_logit = h @ weight[-1] if last_row_share else None
                if offset is not None:
                    target_logit = target_logit + offset[t]
                    last_logit = None if last_logit is None else last_logit + offset[-1]
            for i, (v0, v1) in enumerate(tiles):
                z = probs[:, v0:v1]
                if in_place:
                    torch.mm(h, weight[v0:v1].t(), out=z)
                else:
                    z.copy_(torch.mm(h, weight[v0:v1].t(), out=logits_buffer[:n, : v1 - v0]))
                if offset is not None:  # (training on a used vocabulary: the shared row's log |U|)
                    z.add_(offset[v0:v1])
                if not in_place:  # one tile: the logits as rounded, taken before the exp
                    target_logit = z[rows[:n], t].clone()
                    last_logit = z[:, -1].clone() if last_row_share else None
                peak = z.amax(-1, keepdim=True)
                z.sub_(peak).exp_()  # exp(z - max): no overflow
                tile_max[:, i : i + 1] = peak
                torch.sum(z, -1, keepdim=True, out=tile_sum[:, i : i + 1])
            # the row's max m, and sum exp(z - m) = sum over tiles of exp(max_i - m) sum_i
            peak = tile_max.amax(-1, keepdim=True)
            rescale = (tile_max - peak).exp_()
            normaliser = (tile_sum * rescale).sum(-1, keepdim=True)
            # -log p(target) = log sum exp(z) - z_target, without taking log of a tiny p
            log_normaliser = normaliser.squeeze(1).log() + peak.squeeze(1)
            nll = log_normaliser - target_logit
            if last_row_share:  # the smoothed target: a share for the last row
                nll = (1 - last_row_share) * nll + last_row_share * (log_normaliser - last_logit)
            total += (nll * k).sum()
            if needs_grad:  # d loss / d logits = softmax - one_hot, where the label counts
                rescale.div_(normaliser)  # each tile's exp(z - max_i) to softmax(z)
                for i, (v0, v1) in enumerate(tiles):
                    probs[:, v0:v1].mul_(rescale[:, i : i + 1])
                probs[rows[:n], t] -= 1.0 - last_row_share
                if last_row_share:
                    probs[:, -1] -= last_row_share
                if not bool(k.all()):
                    probs[~k] = 0.0
                if probs_buffer is not None:
                    grad_logits[start:end].copy_(probs)
        if needs_grad:
            ctx.save_for_backward(grad_logits @ weight, _weight_gradient(grad_logits, hidden))
        ctx.mark_non_differentiable(count)
        return total, count

    @staticmethod
    def backward(ctx, grad_total, _grad_count):
        grad_hidden, grad_weight = ctx.saved_tensors
        return (
            grad_hidden * grad_total.to(grad_hidden.dtype),
            grad_weight * grad_total,
            None,
            None,
            None,
            None,
        )


FP32_CHUNK_TOKENS = 256
HALF_CHUNK_TOKENS = 64


class CausalLMObjective(nn.Module):
    """Wraps a causal LM; ``forward`` returns the summed next-token loss and its token count.

    The labels are the inputs shifted by one: position t is scored on token t + 1. For
    GPT-2-like models (a linear output layer without bias) the output layer and the loss
    are computed in chunks (:func:`chunked_lm_loss`); any other model uses its logits.
    Being one module, it is what accelerate prepares (and DDP wraps).
    """

    def __init__(self, model: nn.Module, chunk_tokens: int | None = None) -> None:
        super().__init__()
        self.model = model
        self.chunk_setting = chunk_tokens  # None: chosen by the number format (chunk_for)
        self.vocabulary: UsedVocabulary | None = None  # see use_vocabulary
        head = plain_output_layer(model)
        self.fused = chunk_tokens != 0 and head is not None and head.bias is None

    def use_vocabulary(self, vocabulary: UsedVocabulary | None) -> None:
        """Train the output layer on ``vocabulary``'s rows only (unused tokens share one
        row: see ``training/vocabulary.py``); evaluation still scores every token."""
        if vocabulary is not None and not self.fused:
            raise ValueError(
                "used_vocabulary needs a GPT-2-like model (a linear output layer without "
                "bias): turn it off for this model."
            )
        self.vocabulary = vocabulary
        if vocabulary is not None:
            vocabulary.tie_unused(self.model.get_output_embeddings().weight)

    def chunk_for(self, dtype: torch.dtype) -> int:
        """Tokens per chunk: as set, else by the number format. In fp32 the logits need no
        copy and larger products run faster (256: on an AVX2 CPU the forward product took
        about half the time of 64-token chunks); in bf16 the float32 copies of a chunk
        stay small at 64."""
        if self.chunk_setting:
            return self.chunk_setting
        return FP32_CHUNK_TOKENS if dtype == torch.float32 else HALF_CHUNK_TOKENS

    def _hidden_and_weight(
        self, input_ids: torch.Tensor, restricted: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Final hidden states of positions 0..T-2 and the output layer's weight (the
        used vocabulary's rows if ``restricted``), in the same dtype."""
        hidden = self.model.base_model(input_ids=input_ids, use_cache=False).last_hidden_state
        hidden = hidden[:, :-1]
        weight = self.model.get_output_embeddings().weight
        if restricted:
            weight = weight.index_select(0, self.vocabulary.restricted_rows)
        if torch.is_autocast_enabled(hidden.device.type):
            dtype = torch.get_autocast_dtype(hidden.device.type)
            return hidden.to(dtype), weight.to(dtype)
        return hidden, weight.to(hidden.dtype)

    def forward(
        self, input_ids: torch.Tensor, labels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Summed loss over the batch's scored positions, and how many there are."""
        targets = labels[:, 1:].reshape(-1)
        if self.fused:
            restricted = self.vocabulary is not None and self.training
            hidden, weight = self._hidden_and_weight(input_ids, restricted)
            offset, unseen_share = None, 0.0
            if restricted:  # training on the used vocabulary (training/vocabulary.py)
                targets, offset = self.vocabulary.map_labels(targets), self.vocabulary.offset
                unseen_share = self.vocabulary.unseen_mass  # the shared row is the last
            return chunked_lm_loss(
                hidden.reshape(-1, hidden.shape[-1]),
                weight,
                targets,
                self.chunk_for(hidden.dtype),
                offset,
                unseen_share,
            )
        logits = self.model(input_ids=input_ids, use_cache=False).logits[:, :-1]
        loss_sum = F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]).float(), targets, reduction="sum"
        )
        return loss_sum, (targets != -100).sum()

    @torch.no_grad()
    def row_losses(
        self, input_ids: torch.Tensor, labels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per block: summed loss and number of scored positions (for evaluation)."""
        targets = labels[:, 1:]
        if self.fused:
            hidden, weight = self._hidden_and_weight(input_ids)
        else:
            all_logits = self.model(input_ids=input_ids, use_cache=False).logits[:, :-1]
        flat_targets = targets.reshape(-1)
        step = self.chunk_for(hidden.dtype) if self.fused else flat_targets.numel()
        losses = []
        for start in range(0, flat_targets.numel(), step):
            if self.fused:
                h = hidden.reshape(-1, hidden.shape[-1])[start : start + step]
                logits = h @ weight.t()
            else:
                logits = all_logits.reshape(-1, all_logits.shape[-1])[start : start + step]
            losses.append(
                F.cross_entropy(
                    logits.float(), flat_targets[start : start + step], reduction="none"
                )
            )
        sums = torch.cat(losses).view(targets.shape).sum(dim=1)
        return sums, (targets != -100).sum(dim=1)
