"""The numbers behind the degeneration figures, checked against direct computation."""

from __future__ import annotations

import itertools
from functools import lru_cache

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from helpers.decoding import beam_search, filter_top_k
from helpers.decoding.evidence import (
    beam_tree,
    nucleus_size,
    nucleus_sizes,
    repetition_loop,
    temperature_cuts,
    token_probabilities,
)

VOCAB = 48


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny models run fastest on one thread, and a busy machine does not slow them down."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@lru_cache
def tiny_model(seed: int = 0) -> GPT2LMHeadModel:
    """2 layers x 32 wide, random weights with a wide initialisation (peaked outputs)."""
    config = GPT2Config(n_layer=2, n_embd=32, n_head=2, vocab_size=VOCAB, n_positions=64,
                        bos_token_id=None, eos_token_id=None, initializer_range=0.3)  # fmt: skip
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = GPT2LMHeadModel(config).eval()
    model.loss_type = "ForCausalLM"
    return model


def next_probs(model: GPT2LMHeadModel, ids: list[int]) -> torch.Tensor:
    """The next-token distribution after ``ids``, from a forward pass on exactly them."""
    return _next_probs(model, tuple(ids))


@lru_cache(maxsize=4096)
def _next_probs(model: GPT2LMHeadModel, ids: tuple[int, ...]) -> torch.Tensor:
    with torch.no_grad():
        return torch.softmax(model(torch.tensor([ids])).logits[0, -1].float(), -1)


IDS = [5, 17, 3, 40, 22, 9, 31, 17, 3, 8, 12]


def test_token_probabilities_equal_one_prefix_at_a_time():
    model = tiny_model()
    probs = token_probabilities(model, IDS, start=4)
    direct = [float(next_probs(model, IDS[:t])[IDS[t]]) for t in range(4, len(IDS))]
    assert len(probs) == len(IDS) - 4
    assert probs == pytest.approx(direct, abs=1e-5)


def test_repetition_loop_is_the_mean_probability_of_each_next_copy():
    model = tiny_model(1)
    prefix, sentence = [7, 1], [11, 30, 2, 45]
    loop = repetition_loop(model, sentence, repeats=4, prefix_ids=prefix)
    for k, value in enumerate(loop):
        before = prefix + sentence * k
        copy = [float(next_probs(model, before + sentence[:i])[sentence[i]]) for i in range(4)]
        assert value == pytest.approx(sum(copy) / 4, abs=1e-5)


def test_nucleus_sizes_count_the_smallest_head_holding_p():
    model = tiny_model(2)
    for top_p, temperature in [(0.5, 1.0), (0.9, 0.7), (0.9, 2.0)]:
        sizes = nucleus_sizes(model, IDS, top_p, temperature=temperature, start=1)
        for t, size in enumerate(sizes, start=1):
            with torch.no_grad():
                logits = model(torch.tensor([IDS[:t]])).logits[0, -1].float()
            ordered = torch.softmax(logits / temperature, -1).sort(descending=True).values
            before = ordered.cumsum(0) - ordered  # the mass of the more likely tokens
            assert size == int((before < top_p).sum())  # kept iff those hold less than p


def test_nucleus_size_of_known_distributions():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05], [0.25, 0.25, 0.25, 0.25]]))
    assert nucleus_size(logits, 0.75).tolist() == [2, 3]
    assert nucleus_size(logits, 0.81).tolist() == [3, 4]


def test_temperature_cuts_sharpen_and_flatten_and_report_the_kept_mass():
    logits = torch.tensor([3.0, 2.0, 1.0, 0.5, 0.0, -1.0])
    cuts = temperature_cuts(logits, [0.5, 1.0, 2.0], top_k=2, top_p=0.9)
    for cut in cuts:
        probs = torch.softmax(logits / cut.temperature, -1).sort(descending=True).values
        assert cut.sorted_probs == pytest.approx(probs.tolist(), abs=1e-6)
        assert cut.top_k_mass == pytest.approx(float(probs[:2].sum()), abs=1e-6)
        assert cut.nucleus == int(((probs.cumsum(0) - probs) < 0.9).sum())
        assert cut.nucleus_mass == pytest.approx(float(probs[: cut.nucleus].sum()), abs=1e-6)
    assert [c.top_k_mass for c in cuts] == sorted((c.top_k_mass for c in cuts), reverse=True)
    assert cuts[0].nucleus <= cuts[1].nucleus <= cuts[2].nucleus


def test_beam_tree_keeps_the_best_paths_and_ends_where_beam_search_ends():
    model = tiny_model(3)
    prompt, beams, steps = [4, 19, 33], 3, 4
    nodes, best = beam_tree(model, prompt, num_beams=beams, steps=steps, width=4)
    # the same search in the decoders (end-of-text switched off): the same best sequence
    reference = beam_search(model, torch.tensor([prompt]), steps, beams, eos_token_id=[])
    assert best == reference[0, len(prompt) :].tolist()
    # every node's score is its parent's plus its own log-probability, checked directly
    for node in nodes[1:]:
        path, index = [], nodes.index(node)
        while nodes[index].parent is not None:
            path.append(nodes[index].token)
            index = nodes[index].parent
        path.reverse()
        direct = sum(
            float(torch.log(next_probs(model, prompt + path[:i])[path[i]]))
            for i in range(len(path))
        )
        assert node.score == pytest.approx(direct, abs=1e-4)
    # at each step exactly `beams` kept, and they are the best of all extensions
    for step in range(1, steps + 1):
        at_step = [n for n in nodes if n.step == step]
        kept = sorted((n.score for n in at_step if n.kept), reverse=True)
        assert len(kept) == beams and len(at_step) == (1 if step == 1 else beams) * 4
        assert all(n.score <= kept[-1] + 1e-6 for n in at_step if not n.kept)
        assert all(nodes[n.parent].kept for n in at_step)


def test_beam_tree_brute_force_on_two_steps():
    model = tiny_model(4)
    prompt = [2, 9]
    nodes, best = beam_tree(model, prompt, num_beams=VOCAB, steps=2)
    logp = {}
    for a, b in itertools.product(range(VOCAB), repeat=2):
        if b == 0:
            first = torch.log(next_probs(model, prompt))
        if b == 0:
            second = torch.log(next_probs(model, prompt + [a]))
        logp[(a, b)] = float(first[a] + second[b])
    # with as many beams as tokens, step 1 keeps everything; the best pair is the maximum
    assert tuple(best) == max(logp, key=logp.get)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda m: token_probabilities(m, [], 1), "non-empty"),
        (lambda m: token_probabilities(m, [1, 2], 2), "start=2"),
        (lambda m: repetition_loop(m, [1, 2], 0, [3]), "repeats"),
        (lambda m: repetition_loop(m, [1] * 30, 3, [3]), "context of 64"),
        (lambda m: nucleus_sizes(m, [1, 2, 3], 1.5), "top_p"),
        (lambda m: beam_tree(m, [1], 3, 2, width=2), "width"),
    ],
)
def test_bad_input_says_what_to_change(call, message):
    with pytest.raises(ValueError, match=message):
        call(tiny_model())


def test_filter_top_k_and_temperature_cut_agree():
    logits = torch.randn(VOCAB, generator=torch.Generator().manual_seed(0))
    cut = temperature_cuts(logits, [1.0], top_k=5, top_p=1.0)[0]
    kept = torch.isfinite(filter_top_k(logits[None], 5))[0]
    assert cut.top_k_mass == pytest.approx(float(torch.softmax(logits, -1)[kept].sum()), abs=1e-6)
    assert cut.nucleus == VOCAB  # p = 1 keeps everything
