"""Training on the used vocabulary (training/vocabulary.py) is exact: the restricted softmax
is the full model's, once the unused tokens share one row."""

import math

import pytest
import torch
import torch.nn.functional as F
from transformers import GPT2Config, GPT2LMHeadModel

from helpers.training.loss import CausalLMObjective, chunked_lm_loss
from helpers.training.vocabulary import UsedVocabulary


def small_model(vocab: int = 300) -> GPT2LMHeadModel:
    torch.manual_seed(0)
    config = GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=vocab, n_positions=32,
                        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)  # fmt: skip
    config.tie_word_embeddings = False
    return GPT2LMHeadModel(config)


def test_the_restricted_loss_equals_the_full_models_loss_after_tying():
    model = small_model()
    ids = torch.randint(0, 40, (3, 12))  # only tokens 0..39 occur: 260 are unused
    used = UsedVocabulary.from_tokens(ids, model.config.vocab_size)
    assert used.rows == len(ids.unique()) + 1
    used.unseen_mass = 0.0  # the plain target (the Good-Turing share is tested below)
    objective = CausalLMObjective(model)
    objective.use_vocabulary(used)
    head = model.get_output_embeddings().weight
    assert torch.equal(head[used.unused], head[used.unused[:1]].expand(len(used.unused), -1))
    objective.train()
    restricted, count = objective(ids, ids)
    full = F.cross_entropy(model(ids).logits[:, :-1].reshape(-1, 300), ids[:, 1:].reshape(-1),
                           reduction="sum")  # fmt: skip
    assert int(count) == 33
    assert restricted.item() == pytest.approx(full.item(), rel=1e-5)


def test_an_unused_token_gets_the_shared_share_of_the_probability():
    model = small_model()
    ids = torch.randint(0, 40, (2, 10))
    used = UsedVocabulary.from_tokens(ids, 300)
    CausalLMObjective(model).use_vocabulary(used)
    probs = model(ids).logits.softmax(-1)
    shared = probs[..., used.unused]
    assert torch.allclose(shared, shared[..., :1].expand_as(shared))
    assert math.isclose(used.offset[-1].item(), math.log(len(used.unused)), rel_tol=1e-6)


def test_gradients_reach_only_used_rows_and_the_shared_row():
    model = small_model()
    ids = torch.randint(0, 40, (2, 10))
    used = UsedVocabulary.from_tokens(ids, 300)
    objective = CausalLMObjective(model)
    objective.use_vocabulary(used)
    objective.train()
    loss, _ = objective(ids, ids)
    loss.backward()
    grad = model.get_output_embeddings().weight.grad
    assert grad[used.unused[1:]].abs().sum() == 0
    assert grad[used.unused[0]].abs().sum() > 0 and grad[used.used].abs().sum() > 0


def test_labels_map_to_rows_and_ignored_positions_stay_ignored():
    used = UsedVocabulary.from_tokens(torch.tensor([5, 9, 2]), 12)
    assert used.map_labels(torch.tensor([2, 5, 9, -100])).tolist() == [0, 1, 2, -100]
    assert used.map_labels(torch.tensor([7])).tolist() == [3]  # any unused: the shared row
    assert UsedVocabulary.from_tokens(torch.arange(12), 12) is None  # nothing to share


def test_a_model_without_a_plain_output_layer_is_refused_with_a_clear_message():
    objective = CausalLMObjective(small_model(), chunk_tokens=0)  # plain logits: not fused
    with pytest.raises(ValueError, match="used_vocabulary needs a GPT-2-like model"):
        objective.use_vocabulary(UsedVocabulary.from_tokens(torch.tensor([1, 2]), 300))


def test_training_from_scratch_keeps_the_unused_rows_tied_and_learns(tmp_path, gpt2_tokenizer):
    from datasets import Dataset, DatasetDict

    from helpers.training import TrainingConfig, train

    rows = [[(start + i) % 40 for i in range(16)] for start in range(40)]  # tokens 0..39 only
    block = Dataset.from_dict({"input_ids": rows, "labels": rows})
    data = DatasetDict(train=block, validation=block.select(range(8)))
    model = small_model()
    settings = dict(max_steps=30, batch_size=8, learning_rate=1e-2, eval_every=0, log_every=1,
                    checkpoint_every=0, progress_bar=False, precision="fp32", seed=1)  # fmt: skip
    settings = TrainingConfig(output_dir=str(tmp_path / "used"), used_vocabulary=True, **settings)
    result = train(settings, data, model=model, tokenizer=gpt2_tokenizer)
    head = result.model.get_output_embeddings().weight
    unused = head[40:]
    assert torch.equal(unused, unused[:1].expand_as(unused))  # still one shared row
    first, last = result.history.eval[0]["val_loss"], result.history.eval[-1]["val_loss"]
    assert last < 0.7 * first  # scored on the whole vocabulary, it learnt the pattern


def test_a_pretrained_model_trains_every_row_and_says_so(tmp_path, gpt2_tokenizer, capsys):
    from datasets import Dataset, DatasetDict

    from helpers.training import TrainingConfig, train

    rows = [[(start + i) % 40 for i in range(16)] for start in range(16)]
    block = Dataset.from_dict({"input_ids": rows, "labels": rows})
    model = small_model()
    model.config.name_or_path = "some-pretrained-model"  # not random weights
    before = model.get_output_embeddings().weight[40:].clone()
    settings = TrainingConfig(output_dir=str(tmp_path / "ft"), used_vocabulary=True, max_steps=2,
                              batch_size=8, eval_every=0, checkpoint_every=0, progress_bar=False,
                              precision="fp32")  # fmt: skip
    result = train(settings, DatasetDict(train=block, validation=block.select(range(4))),
                   model=model, tokenizer=gpt2_tokenizer)  # fmt: skip
    assert "used_vocabulary is ignored" in capsys.readouterr().out
    after = result.model.get_output_embeddings().weight[40:]
    assert not torch.equal(after, after[:1].expand_as(after))  # rows were not tied
    assert not torch.equal(after, before)  # and they were trained (pushed down)


def test_the_unseen_mass_is_the_share_of_tokens_seen_once():
    used = UsedVocabulary.from_tokens(torch.tensor([[5, 5, 9, 2], [2, 2, 7, 5]]), 12)
    assert used.unseen_mass == pytest.approx(2 / 8)  # 9 and 7 occur once in 8 tokens
    assert UsedVocabulary.from_tokens(torch.tensor([1, 1, 3, 3]), 12).unseen_mass == 0.0
    assert used.to(torch.device("cpu")).unseen_mass == used.unseen_mass


@pytest.mark.parametrize("chunk", [3, 64])
@pytest.mark.parametrize("tile", [2048, 4])  # the vocabulary of 6 in one tile, or in two
def test_the_smoothed_loss_and_its_gradients_are_the_mixture_of_two_targets(
    chunk, tile, monkeypatch
):
    from helpers import output_layer

    monkeypatch.setattr(output_layer, "CPU_VOCAB_TILE", tile)
    torch.manual_seed(0)
    hidden = torch.randn(10, 8, requires_grad=True)
    weight = torch.randn(6, 8, requires_grad=True)
    labels = torch.tensor([0, 3, -100, 4, 1, 1, -100, 2, 0, 3])
    offset, share = torch.tensor([0.0, 0, 0, 0, 0, 2.5]), 0.2
    loss, count = chunked_lm_loss(hidden, weight, labels, chunk, offset, share)
    loss.backward()
    grads = hidden.grad.clone(), weight.grad.clone()
    hidden.grad, weight.grad = None, None
    log_p = torch.log_softmax(hidden @ weight.T + offset, -1)
    kept = labels != -100
    expected = -(1 - share) * log_p[kept, labels[kept]] - share * log_p[kept, -1]
    expected.sum().backward()
    assert int(count) == 8
    assert loss.item() == pytest.approx(expected.sum().item(), rel=1e-5)
    assert torch.allclose(grads[0], hidden.grad, atol=1e-5)
    assert torch.allclose(grads[1], weight.grad, atol=1e-5)


def unused_probability_after_training(ids: torch.Tensor, unseen_mass: float | None) -> float:
    """Train a small model on ``ids`` with the used vocabulary; the probability it then
    gives, on average over positions, to all the tokens that ``ids`` never uses."""
    model = small_model()
    used = UsedVocabulary.from_tokens(ids, model.config.vocab_size)
    if unseen_mass is not None:
        used.unseen_mass = unseen_mass
    objective = CausalLMObjective(model)
    objective.use_vocabulary(used)
    objective.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(60):
        loss, count = objective(ids, ids)
        (loss / count).backward()
        optimizer.step()
        optimizer.zero_grad()
        used.tie_unused(model.get_output_embeddings().weight)
    with torch.no_grad():
        probs = model(ids).logits.softmax(-1)
    return probs[..., used.unused].sum(-1).mean().item()


def test_training_keeps_the_good_turing_share_for_tokens_never_seen():
    ids = torch.arange(64).view(4, 16) % 20  # tokens 0..19, three or four times each
    ids[:, 5] = torch.tensor([30, 31, 32, 33])  # and four tokens that occur once each
    used = UsedVocabulary.from_tokens(ids, 300)
    assert used.unseen_mass == pytest.approx(4 / 64)
    kept = unused_probability_after_training(ids, None)
    starved = unused_probability_after_training(ids, 0.0)  # the plain target
    assert starved < 0.01 < kept  # without the share, training starves the unknown
    assert kept == pytest.approx(used.unseen_mass, rel=0.5)
