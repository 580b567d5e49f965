"""optimizer="muon": Muon for the weight matrices, AdamW for the rest, as one optimizer.

The training loop, the schedule, accelerate and the checkpoints must all see one optimizer
whose learning rates the schedule sets, and a run must resume exactly, as with AdamW.
"""

import json

import pytest
import torch
from small_training import one_torch_thread  # noqa: F401
from test_training import (  # noqa: F401  (the fixture: no checkpoint folders from the env)
    _default_checkpoint_folders,
    losses,
    make_data,
    make_model,
    run,
)
from test_training import config as run_config

from helpers import training
from helpers.training import (
    CheckpointMismatchError,
    Muon,
    MuonWithAdamW,
    TrainingConfig,
    build_optimizer,
    build_scheduler,
    list_checkpoints,
    orthogonalise,
    train,
)


@pytest.fixture(scope="module")
def tokenizer(gpt2_tokenizer):
    return gpt2_tokenizer  # the session's shared one (conftest.py)


MUON = dict(optimizer="muon", muon_learning_rate=0.04, precision="fp32")


def test_orthogonalise_sets_every_singular_value_near_one():
    torch.manual_seed(0)
    for shape in [(32, 96), (96, 32), (16, 16)]:
        # singular values spread over two orders of magnitude (a gradient's are)
        u, _ = torch.linalg.qr(torch.randn(shape[0], shape[0]))
        v, _ = torch.linalg.qr(torch.randn(shape[1], shape[1]))
        k = min(shape)
        spread = torch.logspace(-2, 0, k)
        matrix = u[:, :k] @ torch.diag(spread) @ v[:, :k].T
        result = orthogonalise(matrix)
        assert result.shape == matrix.shape and result.dtype == torch.float32
        values = torch.linalg.svdvals(result)
        assert values.min() > 0.5 and values.max() < 1.3, values
        # the directions are kept: U V^T, not some other orthogonal matrix
        target = u[:, :k] @ v[:, :k].T
        cosine = (result * target).sum() / (result.norm() * target.norm())
        assert cosine > 0.95


@pytest.mark.skipif(not hasattr(torch.optim, "Muon"), reason="this torch has no torch.optim.Muon")
def test_each_step_is_torchs_muon_in_bfloat16_and_close_to_it_in_float32():
    torch.manual_seed(0)
    shapes = [(24, 72), (72, 24)]
    start = [torch.randn(shape) * 0.1 for shape in shapes]
    grads = [[torch.randn(shape) for shape in shapes] for _ in range(3)]

    def run(make):
        weights = [torch.nn.Parameter(w.clone()) for w in start]
        optimizer = make(weights)
        for step in grads:
            for w, g in zip(weights, step, strict=True):
                w.grad = g.clone()
            optimizer.step()
        return [w.detach() for w in weights]

    settings = dict(lr=0.05, weight_decay=0.1)
    theirs = run(lambda ws: torch.optim.Muon(ws, **settings))
    ours_bf16 = run(lambda ws: Muon(ws, fast_bf16=True, **settings))
    ours_fp32 = run(lambda ws: Muon(ws, fast_bf16=False, **settings))
    for a, b, c, w in zip(theirs, ours_bf16, ours_fp32, start, strict=True):
        assert torch.allclose(a, b, atol=1e-6)
        moved, moved_fp32 = a - w, c - w
        cosine = (moved * moved_fp32).sum() / (moved.norm() * moved_fp32.norm())
        assert cosine > 0.99


def test_muon_refuses_what_is_not_a_matrix():
    with pytest.raises(ValueError, match="weight matrices only; a parameter has shape \\(8,\\)"):
        Muon([torch.nn.Parameter(torch.zeros(8))])


def test_muon_moves_the_matrices_and_adamw_the_rest():
    model = make_model()
    settings = TrainingConfig(learning_rate=0.01, output_learning_rate=0.002, **MUON)
    optimizer = build_optimizer(model, settings)
    assert isinstance(optimizer, MuonWithAdamW)
    assert isinstance(optimizer.muon, Muon)
    assert isinstance(optimizer.adamw, torch.optim.AdamW)
    by_muon = [p for g in optimizer.muon.param_groups for p in g["params"]]
    by_adamw = [p for g in optimizer.adamw.param_groups for p in g["params"]]
    assert by_muon and all(p.dim() == 2 for p in by_muon)
    # each weight is moved by exactly one of them; the token table and the output layer
    # (rows looked up, not matrices of the body) stay with AdamW
    ids = [id(p) for p in by_muon + by_adamw]
    assert len(ids) == len(set(ids)) == len({id(p) for p in model.parameters()})
    assert not {id(model.lm_head.weight), id(model.transformer.wpe.weight)} & set(map(id, by_muon))
    roles = {g["role"]: g["lr"] for g in optimizer.param_groups}
    assert roles["matrices"] == 0.04 and roles["output"] == 0.002 and roles["vectors"] == 0.01
    # the groups listed are the parts' own: a rate set on one reaches the part
    assert all(any(g is h for h in optimizer.muon.param_groups + optimizer.adamw.param_groups)
               for g in optimizer.param_groups)  # fmt: skip
    assert build_optimizer(model, TrainingConfig(learning_rate=0.01)).__class__ is torch.optim.AdamW


def test_the_schedule_sets_both_parts_rates_even_after_a_state_is_loaded():
    # accelerate loads the optimizer's own state back when it prepares it; the parts then
    # hold new group dicts, which the schedule must still reach
    model = make_model()
    settings = TrainingConfig(learning_rate=0.01, warmup_fraction=0.0, **MUON)
    optimizer = build_optimizer(model, settings)
    scheduler = build_scheduler(optimizer, settings, total_steps=10)
    optimizer.load_state_dict(optimizer.state_dict())
    for _ in range(5):
        optimizer.step()
        scheduler.step()
    factor = scheduler.lr_lambdas[0](5)
    assert 0 < factor < 1
    assert optimizer.muon.param_groups[0]["lr"] == pytest.approx(0.04 * factor)
    rates = [g["lr"] for g in optimizer.adamw.param_groups]
    assert rates == pytest.approx([0.01 * factor] * len(rates))


def test_a_state_from_another_optimizer_is_refused_clearly():
    model = make_model()
    muon = build_optimizer(model, TrainingConfig(learning_rate=0.01, **MUON))
    adamw = build_optimizer(model, TrainingConfig(learning_rate=0.01))
    with pytest.raises(ValueError, match="saved by a run with another --optimizer"):
        muon.load_state_dict(adamw.state_dict())


def test_muon_learns_and_resumes_after_ctrl_c_with_the_same_steps_and_weights(tmp_path, tokenizer):
    straight = run(tmp_path / "straight", tokenizer, checkpoint_every=0, **MUON)
    first, last = straight.history.eval[0], straight.history.eval[-1]
    assert last["val_loss"] < 0.9 * first["val_loss"]  # 12 steps: it learns

    def ctrl_c_at_step_5(history):
        if history.train and history.train[-1]["step"] == 5:
            raise KeyboardInterrupt

    stopped = train(
        run_config(tmp_path / "stopped", checkpoint_every=0, **MUON),
        make_data(),
        model=make_model(),
        tokenizer=tokenizer,
        on_log=ctrl_c_at_step_5,
    )
    assert stopped.interrupted and stopped.completed_steps == 5
    resumed = run(tmp_path / "stopped", tokenizer, model=make_model(seed=99),
                  checkpoint_every=0, **MUON)  # fmt: skip
    assert resumed.resumed_from.name == "checkpoint-000005"
    for (s1, loss1, lr1), (s2, loss2, lr2) in zip(
        losses(straight.history), losses(resumed.history), strict=True
    ):
        assert s1 == s2 and lr1 == pytest.approx(lr2, abs=1e-12)
        assert loss1 == pytest.approx(loss2, abs=1e-5), f"step {s1} differs"
    for p1, p2 in zip(straight.model.parameters(), resumed.model.parameters(), strict=True):
        assert torch.allclose(p1, p2, atol=1e-5)
    card = (tmp_path / "straight" / "README.md").read_text(encoding="utf-8")
    assert "Muon for the weight matrices (peak learning rate 0.04), AdamW for the rest" in card


def test_another_optimizer_refuses_to_resume_and_an_older_checkpoint_resumes(tmp_path, tokenizer):
    run(tmp_path / "a", tokenizer, max_steps=8, checkpoint_every=4)
    with pytest.raises(CheckpointMismatchError, match=r"optimizer: 'adamw' there, 'muon' now"):
        run(tmp_path / "a", tokenizer, max_steps=8, checkpoint_every=4, **MUON)

    # a checkpoint written before the setting existed was AdamW's: it still resumes
    def ctrl_c_at_step_4(history):
        if history.train and history.train[-1]["step"] == 4:
            raise KeyboardInterrupt

    stopped = train(run_config(tmp_path / "b", max_steps=8), make_data(), model=make_model(),
                    tokenizer=tokenizer, on_log=ctrl_c_at_step_4)  # fmt: skip
    assert stopped.interrupted
    (checkpoint,) = list_checkpoints(tmp_path / "b" / "checkpoints")
    state_file = checkpoint / training.checkpoints.STATE_FILE
    state = json.loads(state_file.read_text())
    for key in ("optimizer", "muon_learning_rate"):
        del state["fingerprint"][key]
    state_file.write_text(json.dumps(state))
    resumed = run(tmp_path / "b", tokenizer, max_steps=8)
    assert resumed.resumed_from == checkpoint and resumed.completed_steps == 8


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (dict(optimizer="sgd"), "optimizer 'sgd' is unknown: choose one of adamw, muon"),
        (dict(muon_learning_rate=0.0), "muon_learning_rate must be > 0"),
        (dict(muon_learning_rate=float("nan")), "muon_learning_rate must be > 0"),
    ],
)
def test_impossible_optimizer_settings_are_refused(settings, message):
    with pytest.raises(ValueError, match=message):
        TrainingConfig(**settings)


def test_the_from_scratch_recipe_uses_muon_unless_the_machine_is_slow():
    fast = training.from_scratch_recipe(0.156, 60.0)
    assert fast["optimizer"] == "muon" and fast["batch_size"] == 8
    assert fast["muon_learning_rate"] == training.MUON_LEARNING_RATE
    slow = training.from_scratch_recipe(0.956, 60.0)  # fp32 on a 2-core AVX2 CPU
    assert slow["batch_size"] < 8 and slow["optimizer"] == "adamw"
    # the text, not the machine, shrinks this batch (a long text in a short budget): Muon
    long_text = training.from_scratch_recipe(0.156, 40.0, train_tokens=1_300_000)
    assert long_text["optimizer"] == "muon"
    # where the budget holds just under TARGET_STEPS steps of the reference batch: AdamW
    short = training.from_scratch_recipe(0.156, 0.156 * (training.config.TARGET_STEPS - 1))
    assert short["optimizer"] == "adamw"
