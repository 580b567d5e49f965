"""Relevance as PMI: a continuation written for another prompt must score lower."""

import numpy as np
import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from helpers.relevance import RelevanceError, continuation_log_probs, pmi_per_token

START, TOPICS = 0, (1, 2)
WORDS = {1: list(range(3, 9)), 2: list(range(9, 15))}  # each topic has its own six words


def _documents(count: int, generator: torch.Generator) -> torch.Tensor:
    """Half ``[start, topic, six words of that topic]``, half ``[start, seven words]``: the
    topic token, when there is one, decides the words; without it the words still keep
    to one topic, so the model also learns what text looks like on its own."""
    topics = torch.randint(1, 3, (count,), generator=generator)
    words = (
        torch.randint(0, 6, (count, 7), generator=generator)
        + torch.where(topics == 1, 3, 9)[:, None]
    )
    said = torch.rand(count, generator=generator) < 0.5
    second = torch.where(said, topics, words[:, 6])
    return torch.cat([torch.zeros(count, 1, dtype=torch.long), second[:, None], words[:, :6]], 1)


@pytest.fixture(scope="module")
def topic_model() -> GPT2LMHeadModel:
    """A one-layer GPT-2 trained (deterministically, ~1 s) on two-topic toy documents."""
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=16, n_positions=16, n_embd=32, n_layer=1, n_head=2)
    model = GPT2LMHeadModel(config)
    model.loss_type = "ForCausalLM"
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    generator = torch.Generator().manual_seed(0)
    for _ in range(150):
        batch = _documents(64, generator)
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return model.eval()


def test_log_probs_match_one_unpadded_pass_per_text(topic_model):
    """Batched, right-padded scoring equals scoring each text alone."""
    contexts = [[START, 1], [START], [START, 2, 9, 10]]
    continuations = [[3, 4, 5], [9], [11, 12]]
    batched = continuation_log_probs(topic_model, contexts, continuations, batch_size=3)
    for i, (context, continuation) in enumerate(zip(contexts, continuations, strict=True)):
        with torch.no_grad():
            logits = topic_model(torch.tensor([context + continuation])).logits[0].double()
        log_probs = torch.log_softmax(logits, -1)[len(context) - 1 : -1]
        alone = log_probs.gather(1, torch.tensor(continuation)[:, None]).sum().item()
        assert batched[i] == pytest.approx(alone, abs=1e-4)


def test_a_continuation_for_another_prompt_scores_lower(topic_model):
    """Pairs each prompt with its own continuation, then with the other one's."""
    prompts = [[1], [2]]
    own = [[3, 5, 7, 4], [10, 12, 14, 9]]
    swapped = own[::-1]
    matched = pmi_per_token(topic_model, prompts, own, START)
    mismatched = pmi_per_token(topic_model, prompts, swapped, START)
    assert (matched > 0).all()  # the prompt explains its own words
    assert (mismatched < matched).all()
    assert (mismatched < 0).all()  # and makes the other topic's words less likely


def test_a_prompt_that_says_nothing_earns_nothing(topic_model):
    """PMI is zero when the conditional and unconditional contexts agree."""
    continuations = [[3, 4], [9, 9]]
    pmi = pmi_per_token(topic_model, [[], []], continuations, START)
    np.testing.assert_allclose(pmi, 0.0, atol=1e-6)


@pytest.mark.parametrize(
    ("contexts", "continuations", "message"),
    [
        ([[0]], [[1], [2]], "one context per continuation"),
        ([[]], [[1]], "Context 0 is empty"),
        ([[0]], [[]], "Continuation 0 is empty"),
        ([[0]], [list(range(3, 15)) + [3, 4, 5, 6]], "reads at most 16"),
    ],
)
def test_bad_inputs_say_what_to_change(topic_model, contexts, continuations, message):
    with pytest.raises(RelevanceError, match=message):
        continuation_log_probs(topic_model, contexts, continuations)
