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
finishes forward with the two matrix products. Each chunk's log-sum-exp is
``helpers.output_layer.chunk_log_softmax``: in fp32 on a CPU it cuts the vocabulary into
tiles and leaves their exponentials in the chunk's rows of that buffer, with no copies,
and chunks are larger (``CausalLMObjective.chunk_for``). Scaling each tile turns them
into the softmax. Backward only
multiplies them by the incoming gradient (a scalar: the loss is a sum). Positions
labelled -100 are not scored.

:class:`CausalLMObjective` wraps a model in this loss (or the model's own logits, for
models whose output layer is not a plain linear map); it is what accelerate prepares.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from helpers.output_layer import chunk_log_softmax, position_losses, scratch, vocabulary_tiles
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


def _weight_gradient(grad_logits: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
    """``grad_logits.T @ hidden`` in float32 (vocabulary x width), tile by tile where the
    forward pass used tiles (``output_layer.vocabulary_tiles``)."""
    tiles = vocabulary_tiles(grad_logits.shape[1], hidden.dtype, hidden.device)
    if len(tiles) == 1:
        return (grad_logits.t() @ hidden).float()
    grad = torch.empty(
        grad_logits.shape[1], hidden.shape[1], dtype=hidden.dtype, device=hidden.device
    )
    for start, end in tiles:
        torch.mm(grad_logits[:, start:end].t(), hidden, out=grad[start:end])
    return grad.float()


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
        grad_logits = scratch("grad", (tokens, vocab), hidden.dtype, device) if needs_grad else None
        # in fp32 the exponentials go straight into the gradient's rows (no copies)
        in_place = needs_grad and hidden.dtype == torch.float32
        rows = torch.arange(chunk_tokens, device=device)
        for start in range(0, tokens, chunk_tokens):
            end = min(start + chunk_tokens, tokens)
            n, t, k = end - start, target[start:end], keep[start:end]
            exps = (
                grad_logits[start:end]
                if in_place
                else scratch("exps", (chunk_tokens, vocab), torch.float32, device)[:n]
            )
            terms = chunk_log_softmax(
                hidden[start:end], weight, t, exps, offset, last_logit=bool(last_row_share)
            )
            nll = terms.log_normaliser - terms.target_logit
            if last_row_share:  # the smoothed target: a share for the last row
                nll = (1 - last_row_share) * nll + last_row_share * (
                    terms.log_normaliser - terms.last_logit
                )
            total += (nll * k).sum()
            if needs_grad:  # d loss / d logits = softmax - one_hot, where the label counts
                probs = terms.softmax_in_place(exps)
                probs[rows[:n], t] -= 1.0 - last_row_share
                if last_row_share:
                    probs[:, -1] -= last_row_share
                if not bool(k.all()):
                    probs[~k] = 0.0
                if not in_place:
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
        if self.fused:  # the output layer by chunks (and tiles), as in training
            hidden, weight = self._hidden_and_weight(input_ids)
            flat = hidden.reshape(-1, hidden.shape[-1])
            losses = position_losses(flat, weight, targets.reshape(-1), self.chunk_for(flat.dtype))
        else:
            logits = self.model(input_ids=input_ids, use_cache=False).logits[:, :-1]
            losses = F.cross_entropy(
                logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1), reduction="none"
            )
        sums = losses.view(targets.shape).sum(dim=1)
        return sums, (targets != -100).sum(dim=1)
