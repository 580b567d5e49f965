"""The output layer's log-softmax by chunks and vocabulary tiles (helpers/output_layer.py)."""

import pytest
import torch
import torch.nn.functional as F

from helpers import output_layer
from helpers.output_layer import ChunkLogSoftmax, chunk_log_softmax, position_losses


@pytest.mark.parametrize("chunk", [1, 5, 64])
def test_position_losses_are_cross_entropy_per_row(vocab_tile, chunk):
    torch.manual_seed(0)
    hidden, weight = torch.randn(37, 8), torch.randn(50, 8)
    labels = torch.randint(0, 50, (37,))
    labels[[0, 11, 36]] = -100
    losses = position_losses(hidden, weight, labels, chunk)
    expected = F.cross_entropy(hidden @ weight.t(), labels, reduction="none")
    assert losses.dtype == torch.float32 and losses.shape == (37,)
    assert torch.allclose(losses, expected, atol=1e-5, rtol=1e-5)
    assert (losses[[0, 11, 36]] == 0).all()


def test_position_losses_add_the_bias_and_stay_exact_for_extreme_logits(vocab_tile):
    """A bias is part of the logits; a target whose probability underflows float32 (a
    logit gap over 100) still gets its finite loss, in every tile."""
    torch.manual_seed(1)
    hidden, weight, bias = torch.randn(20, 8) * 40, torch.randn(50, 8), torch.randn(50)
    labels = torch.randint(0, 50, (20,))
    losses = position_losses(hidden, weight, labels, 6, bias)
    expected = F.cross_entropy(hidden @ weight.t() + bias, labels, reduction="none")
    assert torch.isfinite(losses).all() and losses.max() > 100
    assert torch.allclose(losses, expected, rtol=1e-5, atol=1e-3)


def test_bf16_scores_the_logits_as_rounded_in_one_tile(vocab_tile):
    """bf16 (CPUs with AMX or AVX512-BF16): the logits rounded to bf16, then scored in
    float32, as ``F.cross_entropy(logits.float())`` would; also under autocast."""
    torch.manual_seed(2)
    hidden, weight = torch.randn(30, 8).bfloat16(), torch.randn(50, 8).bfloat16()
    labels = torch.randint(0, 50, (30,))
    expected = F.cross_entropy((hidden @ weight.t()).float(), labels, reduction="none")
    assert torch.allclose(position_losses(hidden, weight, labels, 8), expected, atol=1e-5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        autocast = position_losses(hidden.float(), weight.float(), labels, 8)
    assert torch.allclose(autocast, expected, atol=1e-5)


def test_the_exponentials_scale_to_the_softmax(vocab_tile):
    torch.manual_seed(3)
    hidden, weight = torch.randn(9, 8), torch.randn(50, 8)
    targets = torch.randint(0, 50, (9,))
    exps = torch.empty(9, 50)
    terms = chunk_log_softmax(hidden, weight, targets, exps, last_logit=True)
    assert isinstance(terms, ChunkLogSoftmax) and len(terms.tiles) == (1 if vocab_tile > 50 else 8)
    logits = hidden @ weight.t()
    assert torch.allclose(terms.log_normaliser, logits.logsumexp(-1), atol=1e-5)
    assert torch.allclose(terms.target_logit, logits[torch.arange(9), targets], atol=1e-5)
    assert torch.allclose(terms.last_logit, logits[:, -1], atol=1e-5)
    assert torch.allclose(terms.softmax_in_place(exps), logits.softmax(-1), atol=1e-6)


def test_scratch_buffers_are_reused_and_reshaped():
    first = output_layer.scratch("test", (4, 6), torch.float32, torch.device("cpu"))
    second = output_layer.scratch("test", (3, 5), torch.float32, torch.device("cpu"))
    assert second.shape == (3, 5) and second.data_ptr() == first.data_ptr()
    larger = output_layer.scratch("test", (10, 10), torch.float32, torch.device("cpu"))
    assert larger.shape == (10, 10) and larger.numel() == 100
