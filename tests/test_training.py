"""helpers.training on a tiny GPT-2 (2 layers x 32, 64-token vocabulary) and synthetic data."""

import json
import math
import os
import shutil
import signal
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from datasets import Dataset, DatasetDict
from small_training import one_torch_thread  # noqa: F401
from transformers import GPT2Config, GPT2LMHeadModel

from helpers import training
from helpers.modeling import load_model_and_tokenizer
from helpers.training import (
    CheckpointMismatchError,
    EvalResult,
    NonFiniteLossError,
    TrainingConfig,
    TrainingHistory,
    TrainingOutOfMemoryError,
    choose_precision,
    chunked_lm_loss,
    evaluate_model,
    latest_checkpoint,
    learning_rate_schedule,
    list_checkpoints,
    train,
)

VOCAB, BLOCK = 64, 16


def pattern_rows(n: int, seed: int) -> list[list[int]]:
    """Arithmetic sequences mod VOCAB: after two tokens the rest is predictable."""
    g = torch.Generator().manual_seed(seed)
    rows = []
    for _ in range(n):
        start = int(torch.randint(0, VOCAB, (1,), generator=g))
        step = int(torch.randint(1, 4, (1,), generator=g))
        rows.append([(start + step * i) % VOCAB for i in range(BLOCK)])
    return rows


def make_data(train_rows: int = 64, val_rows: int = 16, seed: int = 0) -> DatasetDict:
    train_ids, val_ids = pattern_rows(train_rows, seed), pattern_rows(val_rows, seed + 1)
    return DatasetDict(
        train=Dataset.from_dict({"input_ids": train_ids, "labels": train_ids}),
        validation=Dataset.from_dict({"input_ids": val_ids, "labels": val_ids}),
    )


def make_model(seed: int = 0) -> GPT2LMHeadModel:
    config = GPT2Config(
        n_layer=2,
        n_embd=32,
        n_head=2,
        vocab_size=VOCAB,
        n_positions=BLOCK,
        bos_token_id=VOCAB - 1,
        eos_token_id=VOCAB - 1,
    )
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(config)
    model.loss_type = "ForCausalLM"
    return model


@pytest.fixture(autouse=True)
def _default_checkpoint_folders(monkeypatch):
    """Checkpoint and resume folders set in the caller's shell must not move (or delete)
    anything here: checkpoints go to the output folder's checkpoints/, no resume copies."""
    monkeypatch.delenv(training.CHECKPOINT_DIR_ENV_VAR, raising=False)
    monkeypatch.delenv(training.RESUME_DIR_ENV_VAR, raising=False)


@pytest.fixture(scope="module")
def tokenizer(gpt2_tokenizer):
    return gpt2_tokenizer  # the session's shared one (conftest.py)


def config(out: Path, **overrides) -> TrainingConfig:
    settings = dict(
        output_dir=str(out),
        max_steps=12,
        batch_size=8,
        learning_rate=1e-2,
        warmup_fraction=0.1,
        eval_every=4,
        log_every=1,
        checkpoint_every=4,
        keep_checkpoints=2,
        progress_bar=False,
        loss_chunk_tokens=32,
        seed=3,
    )
    return TrainingConfig(**{**settings, **overrides})


def run(out: Path, tokenizer, data=None, model=None, **overrides):
    return train(
        config(out, **overrides),
        data if data is not None else make_data(),
        model=model if model is not None else make_model(),
        tokenizer=tokenizer,
    )


def losses(history: TrainingHistory) -> list[tuple[int, float, float]]:
    return [(r["step"], r["loss"], r["lr"]) for r in history.train]


def test_loss_goes_down_on_a_learnable_pattern(tmp_path, tokenizer):
    result = run(tmp_path, tokenizer, max_steps=40, eval_every=10)
    first, last = result.history.eval[0], result.history.eval[-1]
    assert first["step"] == 0 and last["step"] == 40
    assert last["val_loss"] < 0.6 * first["val_loss"]
    assert result.history.train[-1]["loss"] < 0.6 * result.history.train[0]["loss"]
    assert result.best_val_loss == pytest.approx(min(e["val_loss"] for e in result.history.eval))


def test_resume_after_ctrl_c_gives_the_same_steps_and_weights(tmp_path, tokenizer):
    # 64 rows / batch 8 = 8 batches = 4 steps per epoch with accumulation 2: 3 epochs
    settings = dict(grad_accum=2, precision="fp32", checkpoint_every=0)
    straight = run(tmp_path / "straight", tokenizer, **settings)

    def ctrl_c_at_step_5(history):
        if history.train and history.train[-1]["step"] == 5:
            raise KeyboardInterrupt

    first = train(
        config(tmp_path / "stopped", **settings),
        make_data(),
        model=make_model(),
        tokenizer=tokenizer,
        on_log=ctrl_c_at_step_5,
    )
    assert first.interrupted and first.completed_steps == 5
    assert [p.name for p in list_checkpoints(tmp_path / "stopped" / "checkpoints")] == [
        "checkpoint-000005"
    ]
    # a fresh process would build a fresh model: different initial weights must not matter
    resumed = run(tmp_path / "stopped", tokenizer, model=make_model(seed=99), **settings)
    assert resumed.resumed_from.name == "checkpoint-000005"
    assert resumed.completed_steps == 12
    assert [s for s, _, _ in losses(resumed.history)] == list(range(1, 13))
    for (s1, loss1, lr1), (s2, loss2, lr2) in zip(
        losses(straight.history), losses(resumed.history), strict=True
    ):
        assert s1 == s2 and lr1 == pytest.approx(lr2, abs=1e-12)
        assert loss1 == pytest.approx(loss2, abs=1e-6), f"step {s1} differs"
    for p1, p2 in zip(straight.model.parameters(), resumed.model.parameters(), strict=True):
        assert torch.allclose(p1, p2, atol=1e-6)


def test_a_killed_run_resumes_from_its_last_periodic_checkpoint(tmp_path, tokenizer):
    settings = dict(precision="fp32")  # dropout on: the RNG state must be restored too
    straight = run(tmp_path / "straight", tokenizer, **settings)

    def killed_at_step_7(history):
        if history.train and history.train[-1]["step"] == 7:
            raise RuntimeError("power cut")

    with pytest.raises(RuntimeError, match="power cut"):
        train(
            config(tmp_path / "killed", **settings),
            make_data(),
            model=make_model(),
            tokenizer=tokenizer,
            on_log=killed_at_step_7,
        )
    assert latest_checkpoint(tmp_path / "killed" / "checkpoints").name == "checkpoint-000004"
    resumed = run(tmp_path / "killed", tokenizer, **settings)
    assert resumed.resumed_from.name == "checkpoint-000004"
    for (s1, loss1, lr1), (s2, loss2, lr2) in zip(
        losses(straight.history), losses(resumed.history), strict=True
    ):
        assert (s1, lr1) == (s2, pytest.approx(lr2, abs=1e-12))
        assert loss1 == pytest.approx(loss2, abs=1e-6), f"step {s1} differs"
    assert [e["val_loss"] for e in resumed.history.eval] == pytest.approx(
        [e["val_loss"] for e in straight.history.eval], abs=1e-6
    )


def test_a_half_written_checkpoint_is_skipped(tmp_path, tokenizer):
    run(tmp_path, tokenizer, max_steps=8, keep_checkpoints=5)
    folder = tmp_path / "checkpoints"
    good = latest_checkpoint(folder)
    assert good.name == "checkpoint-000008"
    broken = folder / "checkpoint-000012"  # as if the machine died while copying it
    shutil.copytree(good, broken)
    (broken / "optimizer.bin").unlink()
    truncated = folder / "checkpoint-000016"
    shutil.copytree(good, truncated)
    (truncated / "model.safetensors").write_bytes(b"half")
    shutil.copytree(good, folder / ".tmp-checkpoint-000020")

    assert latest_checkpoint(folder) == good
    resumed = run(tmp_path, tokenizer, max_steps=8, keep_checkpoints=5)
    assert resumed.resumed_from == good


def test_only_the_last_k_checkpoints_are_kept(tmp_path, tokenizer):
    run(tmp_path, tokenizer, max_steps=10, checkpoint_every=2, keep_checkpoints=3)
    names = [p.name for p in list_checkpoints(tmp_path / "checkpoints")]
    assert names == ["checkpoint-000006", "checkpoint-000008", "checkpoint-000010"]
    assert not list((tmp_path / "checkpoints").glob(".tmp-*"))


def test_a_nan_loss_stops_with_a_message_and_keeps_the_good_checkpoint(tmp_path, tokenizer):
    model = make_model()
    forwards = {"n": 0}

    def poison_after_six_batches(module, inputs, output):
        forwards["n"] += module.training
        return output * float("nan") if forwards["n"] > 6 else output

    model.transformer.ln_f.register_forward_hook(poison_after_six_batches)
    with pytest.raises(NonFiniteLossError, match=r"loss became nan at step 7 .*checkpoint-000004"):
        run(tmp_path, tokenizer, model=model)
    good = latest_checkpoint(tmp_path / "checkpoints")
    assert good.name == "checkpoint-000004"
    state = json.loads((good / "trainer_state.json").read_text())
    assert state["run"]["completed_steps"] == 4
    assert all(math.isfinite(r["loss"]) for r in state["run"]["history"]["train"])


def test_out_of_memory_says_what_to_lower(tmp_path, tokenizer, monkeypatch):
    def no_memory(self, input_ids, labels):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(training.CausalLMObjective, "forward", no_memory)
    with pytest.raises(TrainingOutOfMemoryError, match="Lower --batch-size .* --grad-accum"):
        run(tmp_path, tokenizer)


def test_warmup_then_cosine_linear_and_constant_schedules():
    cosine = learning_rate_schedule(
        TrainingConfig(learning_rate=1.0, warmup_fraction=0.1, min_lr_ratio=0.1), 100
    )
    assert cosine[0] == 0.0 and cosine[5] == pytest.approx(0.5) and cosine[10] == 1.0
    assert all(a < b for a, b in zip(cosine[:10], cosine[1:11], strict=True))  # warmup rises
    assert all(a >= b for a, b in zip(cosine[10:], cosine[11:], strict=False))  # then decays
    assert cosine[55] == pytest.approx(0.1 + 0.9 * 0.5, abs=0.02)  # half-way: cosine midpoint
    assert cosine[-1] == pytest.approx(0.1, abs=0.01)

    linear = learning_rate_schedule(
        TrainingConfig(learning_rate=1.0, warmup_fraction=0.0, lr_schedule="linear"), 10
    )
    assert linear == pytest.approx([1.0 - i / 10 for i in range(10)])
    constant = learning_rate_schedule(
        TrainingConfig(learning_rate=0.5, warmup_fraction=0.2, lr_schedule="constant"), 10
    )
    assert constant[:2] == pytest.approx([0.0, 0.25]) and set(constant[2:]) == {0.5}


def test_the_schedule_used_in_training_is_the_planned_one(tmp_path, tokenizer):
    result = run(tmp_path, tokenizer, max_steps=12)
    planned = learning_rate_schedule(config(tmp_path, max_steps=12), 12)
    # a record at step s shows the rate the next step will use
    assert [r["lr"] for r in result.history.train[:-1]] == pytest.approx(planned[1:])


def test_history_is_saved_as_json_with_metrics(tmp_path, tokenizer):
    result = train(
        config(tmp_path, max_steps=8),
        make_data(),
        model=make_model(),
        tokenizer=tokenizer,
        chars_per_token=2.0,
    )
    saved = TrainingHistory.load(tmp_path / "history.json")
    assert saved == result.history
    assert [r["step"] for r in saved.train] == list(range(1, 9))
    assert {"loss", "smoothed_loss", "lr", "tokens_per_second", "epoch"} <= set(saved.train[0])
    assert [e["step"] for e in saved.eval] == [0, 4, 8]
    for e in saved.eval:
        assert e["perplexity"] == pytest.approx(math.exp(e["val_loss"]))
        assert e["bits_per_char"] == pytest.approx(e["val_loss"] / math.log(2) / 2.0)
    assert all(r["tokens_per_second"] > 0 for r in saved.train)


def test_the_saved_model_reloads_and_generates(tmp_path, tokenizer):
    from transformers import pipeline

    result = run(tmp_path, tokenizer)
    for name in ["config.json", "model.safetensors", "generation_config.json", "tokenizer.json"]:
        assert (tmp_path / name).is_file(), name
    model, loaded_tokenizer = load_model_and_tokenizer(str(tmp_path), "cpu")
    assert loaded_tokenizer.eos_token_id == tokenizer.eos_token_id
    # the best model is the saved one: its validation loss is the best one recorded
    again = evaluate_model(model, make_data()["validation"], precision=result.precision)
    assert again.loss == pytest.approx(result.best_val_loss, rel=1e-3)

    generator = pipeline("text-generation", model=str(tmp_path), device="cpu")
    out = generator("A", max_new_tokens=5, do_sample=False)[0]["generated_text"]
    assert out.startswith("A") and len(out) > 1

    args = json.loads((tmp_path / "training_args.json").read_text())
    assert args["max_steps"] == 12 and args["resolved"]["precision"] == result.precision
    card = (tmp_path / "README.md").read_text()
    assert "from scratch" in card and "random initial weights" in card
    assert f"{result.best_val_loss:.4f}" in card


@pytest.mark.parametrize("learnable_first", [True, False])
def test_the_best_model_is_chosen_among_losses_of_the_same_blocks(
    tmp_path, tokenizer, learnable_first
):
    """With eval_batches, periodic evaluations score the first blocks of the validation
    split and the last evaluation the whole split too: other text, another loss. Learnable
    blocks first make the whole split look worse than the model is, noise first better;
    either way the best model must be chosen on the first blocks alone, the last step's
    model included, and the history, card and summary must say which blocks."""
    learnable = pattern_rows(8, 1)
    noise = torch.randint(0, VOCAB, (8, BLOCK), generator=torch.Generator().manual_seed(5))
    first, rest = (learnable, noise.tolist()) if learnable_first else (noise.tolist(), learnable)
    data = make_data()
    data["validation"] = rows(first + rest)
    result = run(tmp_path, tokenizer, data=data, eval_batches=1)  # 1 batch of 8 blocks

    subset, whole = "first 8 of 16 validation blocks", "whole validation split"
    scored = [(e["step"], e["scored_on"]) for e in result.history.eval]
    assert scored == [(0, subset), (4, subset), (8, subset), (12, subset), (12, whole)]
    assert [e["val_tokens"] for e in result.history.eval] == [8 * 15] * 4 + [16 * 15]
    compared = result.history.comparable()
    assert [e["step"] for e in compared] == [0, 4, 8, 12]  # the last model is a candidate
    best = min(compared, key=lambda e: e["val_loss"])
    assert result.history.best_eval == best and result.best_val_loss == best["val_loss"]
    assert result.final_eval.scored_on == whole
    assert result.final_eval.loss == result.history.eval[-1]["val_loss"]

    saved, _ = load_model_and_tokenizer(str(tmp_path), "cpu")  # the best on those blocks
    again = evaluate_model(saved, data["validation"], max_batches=1, precision=result.precision)
    assert again.scored_on == subset and again.loss == pytest.approx(best["val_loss"], rel=1e-4)
    card = (tmp_path / "README.md").read_text()
    assert f"| best at step | {best['step']} |" in card
    assert f"| scored on | {subset} (120 tokens) |" in card
    assert f"validation loss at the end (step 12, {whole} (240 tokens))" in card
    assert f"on the {subset}, step {best['step']}" in result.summary()
    assert TrainingHistory.load(tmp_path / "history.json").best_eval == best


def test_the_card_of_a_pretrained_base_says_fine_tuned(tmp_path):
    summary = {"metrics": {"perplexity": "12.3"}, "training": {"steps": "10 of 10"}}
    path = training.write_model_card(
        tmp_path,
        base_model="gpt2",
        from_scratch=False,
        data_description="Tiny Shakespeare",
        summary=summary,
    )
    card = path.read_text()
    assert "`gpt2` (pretrained weights), fine-tuned" in card and "from scratch" not in card
    assert "| perplexity | 12.3 |" in card and "Tiny Shakespeare" in card


def test_the_card_metadata_is_what_the_hub_reads(tmp_path):
    from huggingface_hub import ModelCard

    def metadata(**overrides):
        settings = dict(base_model="gpt2", from_scratch=False, data_description="", summary={})
        return ModelCard.load(training.write_model_card(tmp_path, **settings | overrides)).data

    tuned = metadata(datasets=["karpathy/tiny_shakespeare"])
    assert (tuned.base_model, tuned.license, tuned.datasets) == (
        "gpt2",
        "mit",
        ["karpathy/tiny_shakespeare"],
    )
    assert (tuned.pipeline_tag, tuned.library_name) == ("text-generation", "transformers")
    scratch = metadata(base_model="gpt2lab-tiny", from_scratch=True)  # random weights: no base
    assert (scratch.base_model, scratch.license, scratch.datasets) == (None, "other", None)
    assert metadata(base_model=str(tmp_path)).base_model is None  # a folder is no Hub model


def test_changed_settings_refuse_to_resume_unless_told(tmp_path, tokenizer):
    run(tmp_path, tokenizer, max_steps=8)
    with pytest.raises(CheckpointMismatchError, match=r"learning_rate: 0.01 there, 0.02 now"):
        run(tmp_path, tokenizer, max_steps=8, learning_rate=2e-2)
    fresh = run(tmp_path, tokenizer, max_steps=8, learning_rate=2e-2, resume=False)
    assert fresh.resumed_from is None and fresh.completed_steps == 8


def test_rerunning_a_finished_run_does_nothing(tmp_path, tokenizer):
    first = run(tmp_path, tokenizer, max_steps=4)
    again = run(tmp_path, tokenizer, max_steps=4)
    assert again.completed_steps == 4 and again.history == first.history
    assert again.final_eval.loss == pytest.approx(first.final_eval.loss)


def test_early_stopping_stops_when_validation_stops_improving(tmp_path, tokenizer):
    g = torch.Generator().manual_seed(0)
    noise = torch.randint(0, VOCAB, (24, BLOCK), generator=g).tolist()  # nothing to learn
    data = DatasetDict(
        train=Dataset.from_dict({"input_ids": noise[:16], "labels": noise[:16]}),
        validation=Dataset.from_dict({"input_ids": noise[16:], "labels": noise[16:]}),
    )
    result = run(
        tmp_path,
        tokenizer,
        data=data,
        max_steps=200,
        eval_every=2,
        learning_rate=3e-2,
        early_stopping_patience=2,
    )
    assert result.stopped_early and result.completed_steps < 200
    evals = [e["val_loss"] for e in result.history.eval]
    best = evals.index(min(evals))
    assert len(evals[best + 1 :]) >= 2  # stopped after two evaluations without improvement


def test_chunked_loss_equals_plain_cross_entropy(vocab_tile):
    torch.manual_seed(0)
    hidden = torch.randn(37, 8, requires_grad=True)
    weight = torch.randn(50, 8, requires_grad=True)
    labels = torch.randint(0, 50, (37,))
    labels[[3, 10]] = -100
    total, count = chunked_lm_loss(hidden, weight, labels, chunk_tokens=5)
    (total / count).backward()
    h2, w2 = hidden.detach().clone().requires_grad_(), weight.detach().clone().requires_grad_()
    expected = F.cross_entropy(h2 @ w2.t(), labels)
    expected.backward()
    assert count == 35 and (total / count).item() == pytest.approx(expected.item(), rel=1e-5)
    assert torch.allclose(hidden.grad, h2.grad, atol=1e-6)
    assert torch.allclose(weight.grad, w2.grad, atol=1e-6)


def test_chunked_loss_is_exact_for_extreme_logits_and_any_shape(vocab_tile):
    """Reused scratch buffers must not leak between calls of other shapes, and a target
    whose probability underflows float32 (logit gap > 100) still gets its finite loss."""
    torch.manual_seed(1)
    for tokens, chunk, scale in [(37, 8, 1.0), (5, 64, 40.0), (64, 16, 1.0)]:
        hidden = (torch.randn(tokens, 8) * scale).requires_grad_()
        weight = torch.randn(50, 8, requires_grad=True)
        labels = torch.randint(0, 50, (tokens,))
        total, count = chunked_lm_loss(hidden, weight, labels, chunk_tokens=chunk)
        expected = F.cross_entropy(hidden @ weight.t(), labels, reduction="sum")
        assert torch.isfinite(total) and count == tokens
        assert total.item() == pytest.approx(expected.item(), rel=1e-5)
        total.backward()  # tiles whose every logit is far below the row's: no NaN, exact
        h2, w2 = hidden.detach().clone().requires_grad_(), weight.detach().clone().requires_grad_()
        F.cross_entropy(h2 @ w2.t(), labels, reduction="sum").backward()
        assert torch.allclose(hidden.grad, h2.grad, atol=1e-4, rtol=1e-4)
        assert torch.allclose(weight.grad, w2.grad, atol=1e-4, rtol=1e-4)


def test_chunked_loss_in_bf16_scores_the_logits_as_rounded():
    """bf16 (the fast path where a CPU has AMX or AVX512-BF16): one tile, the logits
    rounded to bf16 and then scored in float32, gradients close to float32's."""
    torch.manual_seed(2)
    hidden = torch.randn(37, 8).bfloat16().requires_grad_()
    weight = torch.randn(50, 8).bfloat16().requires_grad_()
    labels = torch.randint(0, 50, (37,))
    labels[3] = -100
    total, count = chunked_lm_loss(hidden, weight, labels, chunk_tokens=5)
    total.backward()
    expected = F.cross_entropy((hidden @ weight.t()).float(), labels, reduction="sum")
    assert count == 36 and total.item() == pytest.approx(expected.item(), rel=1e-4)
    h2 = hidden.detach().float().requires_grad_()
    F.cross_entropy(h2 @ weight.detach().float().t(), labels, reduction="sum").backward()
    assert torch.allclose(hidden.grad.float(), h2.grad, atol=0.05)


def test_chunked_objective_matches_the_models_own_loss():
    model = make_model().eval()
    ids = torch.tensor(pattern_rows(4, 0))
    expected = model(input_ids=ids, labels=ids).loss
    for chunk in (0, 7, 256):
        objective = training.CausalLMObjective(model, chunk_tokens=chunk)
        assert objective.fused == (chunk > 0)
        total, count = objective(ids, ids)
        assert count == 4 * (BLOCK - 1)
        assert (total / count).item() == pytest.approx(expected.item(), rel=1e-5)
        sums, counts = objective.row_losses(ids, ids)
        assert (sums.sum() / counts.sum()).item() == pytest.approx(expected.item(), rel=1e-5)


def test_evaluate_model_gives_perplexity_and_bits_per_char():
    result = evaluate_model(make_model(), make_data()["validation"], chars_per_token=4.0)
    assert result.tokens == 16 * (BLOCK - 1)
    assert result.perplexity == pytest.approx(math.exp(result.loss))
    assert result.bits_per_char == pytest.approx(result.loss / math.log(2) / 4.0)
    assert EvalResult(2.0, 10).bits_per_char is None


def test_precision_follows_the_hardware(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.setattr(training.config, "bf16_supported", lambda device: True)
    assert choose_precision(cpu) == "bf16"
    monkeypatch.setattr(training.config, "bf16_supported", lambda device: False)
    assert choose_precision(cpu) == "fp32"
    assert choose_precision(torch.device("cuda")) == "fp16"  # e.g. a T4
    with pytest.raises(ValueError, match="fp16 training needs a CUDA GPU"):
        choose_precision(cpu, "fp16")
    with pytest.raises(ValueError, match="bf16 is not supported natively"):
        choose_precision(cpu, "bf16")


def test_the_run_reports_its_precision(tmp_path, tokenizer):
    result = run(tmp_path, tokenizer, max_steps=2)
    assert result.precision == choose_precision(torch.device("cpu"))
    assert f"precision {result.precision}" in result.summary()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"learning_rate": 0.0}, "learning_rate must be > 0"),
        ({"batch_size": 0}, "batch_size must be a whole number >= 1"),
        ({"lr_schedule": "exponential"}, "lr_schedule 'exponential' is unknown"),
        ({"precision": "fp8"}, "precision 'fp8' is unknown"),
        ({"warmup_fraction": 1.0}, r"warmup_fraction must be in \[0, 1\)"),
        ({"max_steps": 0}, "max_steps must be >= 1"),
        ({"log_every": 0}, "log_every must be a whole number >= 1"),
        ({"learning_rate": float("inf")}, "learning_rate must be > 0 and finite"),
        ({"weight_decay": float("nan")}, "weight_decay must be >= 0 and finite"),
        ({"adam_beta1": 1.5}, r"adam_beta1 must be in \[0, 1\)"),
        ({"adam_beta2": float("nan")}, r"adam_beta2 must be in \[0, 1\)"),
        ({"warmup_fraction": float("nan")}, r"warmup_fraction must be in \[0, 1\)"),
        ({"resume_copy_minutes": float("nan")}, "resume_copy_minutes must be >= 0 and finite"),
        ({"max_seconds": float("inf")}, r"max_seconds must be > 0 and finite \(or None"),
        ({"max_seconds": float("nan")}, "max_seconds must be > 0 and finite"),
    ],
)
def test_bad_settings_are_named(overrides, message):
    with pytest.raises(ValueError, match=message):
        TrainingConfig(**overrides)


def test_quick_mode_shrinks_the_run(monkeypatch):
    monkeypatch.setenv("GPT2LAB_QUICK", "1")
    quick = TrainingConfig.for_mode()
    monkeypatch.setenv("GPT2LAB_QUICK", "0")
    full = TrainingConfig.for_mode(seed=7)
    assert quick.max_steps < full.max_steps and full.seed == 7
    assert quick.block_size < full.block_size and quick.batch_size < full.batch_size


def test_the_learning_rate_is_chosen_for_random_or_pretrained_weights(tmp_path, tokenizer):
    result = run(tmp_path, tokenizer, max_steps=2, learning_rate=None)  # a config-built model
    saved = json.loads((tmp_path / "training_args.json").read_text())
    rates = training.FROM_SCRATCH_LEARNING_RATES
    assert saved["learning_rate"] == rates["body"]
    assert saved["embedding_learning_rate"] == rates["embeddings"]
    assert saved["output_learning_rate"] == rates["output"]
    assert result.history.train[0]["lr"] <= rates["body"]
    assert training.default_learning_rate(from_scratch=False) == 1e-4


def test_pretrained_weights_get_one_learning_rate_unless_told_otherwise():
    config = training.resolve_learning_rates(TrainingConfig(), from_scratch=False)
    assert config.learning_rate == config.embedding_learning_rate == config.output_learning_rate
    config = training.resolve_learning_rates(
        TrainingConfig(learning_rate=0.01, output_learning_rate=0.002), from_scratch=True
    )
    assert (config.learning_rate, config.output_learning_rate) == (0.01, 0.002)
    assert config.embedding_learning_rate == training.FROM_SCRATCH_LEARNING_RATES["embeddings"]


@pytest.mark.parametrize("tied", [True, False])
def test_each_role_of_weight_gets_its_learning_rate_and_decay(tied):
    config = GPT2Config(n_layer=1, n_embd=8, n_head=2, vocab_size=32, n_positions=16,
                        tie_word_embeddings=tied)  # fmt: skip
    model = GPT2LMHeadModel(config)
    settings = TrainingConfig(
        learning_rate=0.01, embedding_learning_rate=0.5, output_learning_rate=0.002,
        weight_decay=0.1,
    )  # fmt: skip
    optimizer = training.build_optimizer(model, settings)
    groups = {group["role"]: group for group in optimizer.param_groups}
    listed = [id(p) for group in optimizer.param_groups for p in group["params"]]
    assert len(listed) == len(set(listed)) == len({id(p) for p in model.parameters()})
    output = groups["output"]["params"]
    assert any(p is model.lm_head.weight for p in output)
    assert (groups["output"]["lr"], groups["output"]["weight_decay"]) == (0.002, 0.1)
    # a token embedding shared with the output layer is trained as the output layer
    if tied:
        assert "embeddings" not in groups
    else:
        assert [p is model.transformer.wte.weight for p in groups["embeddings"]["params"]] == [True]
        assert (groups["embeddings"]["lr"], groups["embeddings"]["weight_decay"]) == (0.5, 0.0)
    # positions are trained by every block: the body's rate, no decay
    vectors = groups["vectors"]["params"]
    assert any(p is model.transformer.wpe.weight for p in vectors)
    assert groups["vectors"]["lr"] == 0.01 and groups["vectors"]["weight_decay"] == 0.0
    assert groups["matrices"]["lr"] == 0.01 and groups["matrices"]["weight_decay"] == 0.1
    assert all(p.dim() == 2 for p in groups["matrices"]["params"])


def test_training_from_scratch_uses_the_benchmarks_recipe(monkeypatch):
    monkeypatch.setenv("GPT2LAB_QUICK", "0")
    config = TrainingConfig.for_mode(from_scratch=True, seed=3)
    for name, value in training.FROM_SCRATCH_RECIPE.items():
        assert getattr(config, name) == value
    assert config.seed == 3
    assert config.max_steps == training.FROM_SCRATCH_STEPS
    assert TrainingConfig.for_mode().weight_decay == TrainingConfig().weight_decay


def rows(ids):
    return Dataset.from_dict({"input_ids": ids, "labels": ids})


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"train": rows(pattern_rows(16, 0))}, "'train' and 'validation' splits"),
        (
            DatasetDict(train=Dataset.from_dict({"text": ["a"]}), validation=rows([[1, 2]])),
            "'train' split must have an 'input_ids' column",
        ),
        (
            DatasetDict(train=rows([[1] * 32] * 16), validation=rows([[1] * 32])),
            "longer than the model's context of 16: use --block-size 16",
        ),
        (
            DatasetDict(train=rows([[99] * BLOCK] * 16), validation=rows([[1] * BLOCK])),
            "Token id 99 is outside the model's vocabulary of 64",
        ),
        (
            DatasetDict(train=rows(pattern_rows(4, 0)), validation=rows(pattern_rows(2, 1))),
            "Only 4 training blocks: fewer than one batch",
        ),
        (
            DatasetDict(train=rows(pattern_rows(16, 0)), validation=rows([])),
            "'validation' split is empty",
        ),
    ],
)
def test_bad_data_gives_one_clear_error(tmp_path, tokenizer, data, message):
    with pytest.raises(ValueError, match=message):
        run(tmp_path, tokenizer, data=data)


def test_the_card_says_when_the_offline_model_stood_in(tmp_path, tokenizer):
    from helpers.model_source import ModelSource

    source = ModelSource("gpt2", "offline", "gpt2lab-tiny", "HF_HUB_OFFLINE=1 is set")
    train(
        config(tmp_path, max_steps=2),
        make_data(),
        model=make_model(),
        tokenizer=tokenizer,
        source=source,
    )
    card = (tmp_path / "README.md").read_text()
    assert "`gpt2lab-tiny` with **random initial weights**" in card
    assert "used in place of `gpt2` because HF_HUB_OFFLINE=1 is set" in card
    args = json.loads((tmp_path / "training_args.json").read_text())
    assert args["resolved"]["base_model"] == "gpt2lab-tiny"
    assert args["resolved"]["trained_from_scratch"] is True


def test_an_interrupted_run_does_not_claim_a_saved_model(tmp_path, tokenizer):
    def stop(history):
        raise KeyboardInterrupt

    result = train(
        config(tmp_path), make_data(), model=make_model(), tokenizer=tokenizer, on_log=stop
    )
    assert result.interrupted and not result.model_saved
    assert "saved in" not in result.summary() and "re-run to resume" in result.summary()


class _TickingClock:
    """Stands in for the loop's clock: every reading is 0.1 s after the one before, so each
    training step measures 0.1 s whatever the machine."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        self.now += 0.1
        return self.now


def test_a_time_budget_plans_the_schedule_to_end_on_time(tmp_path, tokenizer, monkeypatch):
    from helpers.training import loop

    monkeypatch.setattr(loop, "time", _TickingClock())
    result = run(
        tmp_path, tokenizer, max_steps=1000, max_seconds=3.0, eval_every=0, checkpoint_every=0
    )
    # 4 steps timed at 0.1 s each, then the 2.6 s left hold 26 more (25 after rounding down)
    assert result.step_cap == 1000 and result.total_steps in (29, 30)
    assert result.completed_steps == result.total_steps and not result.out_of_time
    assert result.train_seconds <= 3.0 and result.max_seconds == 3.0
    assert result.tokens_seen == result.completed_steps * 8 * BLOCK
    # the schedule was re-planned: it reaches its floor at the planned end, not at the cap
    last = result.history.train[-1]
    assert last["step"] == result.total_steps
    assert last["lr"] == pytest.approx(1e-2 * TrainingConfig().min_lr_ratio)
    assert f"{result.total_steps} steps planned to fit it" in result.summary()


def test_a_fast_machine_stops_at_the_step_cap(tmp_path, tokenizer):
    result = run(tmp_path, tokenizer, max_steps=8, max_seconds=600.0, checkpoint_every=0)
    assert result.completed_steps == result.total_steps == result.step_cap == 8
    assert "cap of 8 steps" in result.summary()


def test_a_resumed_run_keeps_its_planned_steps(tmp_path, tokenizer, monkeypatch):
    from helpers.training import loop

    monkeypatch.setattr(loop, "time", _TickingClock())
    settings = dict(max_steps=1000, max_seconds=2.0, eval_every=0, checkpoint_every=5)

    def stop_at_6(history):
        if history.train and history.train[-1]["step"] == 6:
            raise KeyboardInterrupt

    first = train(
        config(tmp_path, **settings), make_data(), model=make_model(), tokenizer=tokenizer,
        on_log=stop_at_6,
    )  # fmt: skip
    assert first.interrupted and first.completed_steps == 6
    again = run(tmp_path, tokenizer, **settings)
    assert again.resumed_from is not None
    assert again.total_steps == first.total_steps < 1000
    assert again.completed_steps == again.total_steps


def test_the_from_scratch_recipe_follows_the_step_time():
    recipe = training.from_scratch_recipe
    fast = recipe(training.REFERENCE_STEP_SECONDS, 60.0)
    assert fast["batch_size"] == training.FROM_SCRATCH_RECIPE["batch_size"]
    assert fast["learning_rate"] == training.FROM_SCRATCH_LEARNING_RATES["body"]
    slow = recipe(0.956, 60.0)  # fp32 on a 2-core AVX2 CPU
    assert config_module().SMALLEST_BATCH <= slow["batch_size"] < fast["batch_size"]
    steps = 60.0 / (0.956 * slow["batch_size"] / fast["batch_size"])
    assert steps >= config_module().TARGET_STEPS or slow["batch_size"] == 2
    batches = [recipe(s, 60.0)["batch_size"] for s in (0.05, 0.156, 0.3, 0.6, 1.0, 3.0)]
    assert batches == sorted(batches, reverse=True)  # slower machine, never a larger batch
    # always the used vocabulary (with its Good-Turing share); never more steps than the
    # recipe was tuned for, however many fit
    assert slow["used_vocabulary"] and fast["used_vocabulary"]
    assert training.FROM_SCRATCH_RECIPE["used_vocabulary"]
    assert fast["max_steps"] == slow["max_steps"] == training.FROM_SCRATCH_STEPS
    assert recipe(0.01, 600.0)["max_steps"] == training.FROM_SCRATCH_STEPS  # 60,000 would fit
    # the batch follows the text: about FROM_SCRATCH_PASSES passes in the recipe's steps
    novel, plays = 57_000, 302_000  # Botchan's and Tiny Shakespeare's training tokens
    assert recipe(0.05, 60.0, train_tokens=novel)["batch_size"] == 2
    assert recipe(0.05, 60.0, train_tokens=plays)["batch_size"] == 16
    assert recipe(0.05, 60.0, train_tokens=100)["batch_size"] == config_module().SMALLEST_BATCH
    for tokens in (novel, plays, 10_000_000):
        batch = recipe(0.05, 1e9, train_tokens=tokens)["batch_size"]  # time is no limit
        passes = training.FROM_SCRATCH_STEPS * batch * 128 / tokens
        assert tokens == novel or 0.7 < passes / config_module().FROM_SCRATCH_PASSES < 1.5
    # and the machine: a slow one halves the text's batch until enough steps fit
    assert recipe(0.956, 60.0, train_tokens=plays)["batch_size"] < 16
    for bad in (0, -5):
        with pytest.raises(ValueError, match="train_tokens must be >= 1"):
            recipe(0.05, 60.0, train_tokens=bad)
    for bad in [(0.0, 60.0), (0.1, -1.0)]:
        with pytest.raises(ValueError, match="must be > 0"):
            recipe(*bad)
    # where most of a step does not shrink with the batch, halving it would waste the time
    assert recipe(0.956, 60.0, overhead_seconds=0.6)["batch_size"] == fast["batch_size"]
    with pytest.raises(ValueError, match="overhead_seconds must be"):
        recipe(0.956, 60.0, overhead_seconds=2.0)


def config_module():
    from helpers.training import config as module

    return module


def test_both_modes_budget_time_with_the_steps_as_a_cap(monkeypatch):
    for quick in ("1", "0"):
        monkeypatch.setenv("GPT2LAB_QUICK", quick)
        for from_scratch in (False, True):
            settings = TrainingConfig.for_mode(from_scratch=from_scratch)
            assert settings.max_seconds and settings.max_steps
    monkeypatch.setenv("GPT2LAB_QUICK", "1")
    quick_seconds = TrainingConfig.for_mode().max_seconds
    monkeypatch.setenv("GPT2LAB_QUICK", "0")
    assert quick_seconds < TrainingConfig.for_mode().max_seconds


def test_the_budget_plans_after_calibration_then_at_doublings_and_near_the_end():
    from helpers.training.budget import CALIBRATION_STEPS, replan_due, steps_that_fit

    assert not replan_due(CALIBRATION_STEPS - 1, CALIBRATION_STEPS - 1, None)
    assert replan_due(CALIBRATION_STEPS, CALIBRATION_STEPS, None)
    due = [step for step in range(5, 101) if replan_due(step, step, planned=100)]
    assert due == [8, 16, 32, 64, 80]
    # recent steps count: the machine got twice as slow, so fewer steps fit
    times = [9.0] + [0.1] * 10 + [0.2] * 10
    assert steps_that_fit(times, 20, 3.0, 5.0, cap=1000) == 20 + 10
    assert steps_that_fit(times, 20, 3.0, 5.0, cap=25) == 25  # never past the cap
    assert steps_that_fit(times, 20, 6.0, 5.0, cap=1000) == 21  # out of time: one more


def test_a_step_larger_than_the_training_split_is_refused(tmp_path, tokenizer):
    """64 blocks: batch 8 x accumulation 16 would go over them twice in every step."""
    with pytest.raises(ValueError, match=r"Only 64 training blocks: fewer than one step of 8 x 16"):
        run(tmp_path, tokenizer, grad_accum=16)
    assert not (tmp_path / "checkpoints").exists()


@pytest.mark.parametrize("damaged", ["model.safetensors", "optimizer.bin"])
def test_a_damaged_checkpoint_of_the_right_size_falls_back_to_the_one_before(
    tmp_path, tokenizer, capsys, damaged
):
    settings = dict(max_steps=8, checkpoint_every=4, keep_checkpoints=5, precision="fp32")
    straight = run(tmp_path / "straight", tokenizer, **settings)
    run(tmp_path / "run", tokenizer, **settings)
    folder = tmp_path / "run" / "checkpoints"
    assert [p.name for p in list_checkpoints(folder)] == ["checkpoint-000004", "checkpoint-000008"]
    (tmp_path / "run" / "config.json").unlink()  # (the saved model: the run must train again)
    target = folder / "checkpoint-000008" / damaged
    target.write_bytes(bytes(target.stat().st_size))  # zeros: the size is right, not the bytes
    assert latest_checkpoint(folder).name == "checkpoint-000008"  # sizes cannot tell

    capsys.readouterr()
    resumed = run(tmp_path / "run", tokenizer, **settings)
    out = capsys.readouterr().out
    assert f"The checkpoint {folder / 'checkpoint-000008'} is damaged" in out
    assert "Trying the one before it." in out
    assert resumed.resumed_from.name == "checkpoint-000004" and resumed.completed_steps == 8
    for p1, p2 in zip(straight.model.parameters(), resumed.model.parameters(), strict=True):
        assert torch.allclose(p1, p2, atol=1e-6)  # as if nothing had happened

    for checkpoint in list_checkpoints(folder):  # every one damaged: say so, do not start over
        target = checkpoint / damaged
        target.write_bytes(bytes(target.stat().st_size))
    (tmp_path / "run" / "config.json").unlink()
    with pytest.raises(training.DamagedCheckpointError, match="No checkpoint of this run loads"):
        run(tmp_path / "run", tokenizer, **settings)


def test_sigterm_saves_a_checkpoint_as_ctrl_c_does(tmp_path, tokenizer):
    """kill, docker stop and job schedulers send SIGTERM: the run saves where it stands."""
    before = signal.getsignal(signal.SIGTERM)

    def terminated_at_step_5(history):
        if history.train and history.train[-1]["step"] == 5:
            os.kill(os.getpid(), signal.SIGTERM)

    stopped = train(
        config(tmp_path, checkpoint_every=0),
        make_data(),
        model=make_model(),
        tokenizer=tokenizer,
        on_log=terminated_at_step_5,
    )
    assert stopped.interrupted and stopped.completed_steps == 5
    assert [p.name for p in list_checkpoints(tmp_path / "checkpoints")] == ["checkpoint-000005"]
    assert signal.getsignal(signal.SIGTERM) == before  # put back once training is over
    resumed = run(tmp_path, tokenizer, checkpoint_every=0)
    assert resumed.resumed_from.name == "checkpoint-000005" and resumed.completed_steps == 12


def test_a_folder_that_cannot_be_written_is_refused_before_training(
    tmp_path, tokenizer, monkeypatch
):
    """Found at the start, not when the model is saved at the end (root may write anywhere,
    so the permission is simulated)."""
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(
        "helpers.environment.os.access",
        lambda path, mode: Path(path) != locked and real_access(path, mode),
    )
    trained = []
    with pytest.raises(training.TrainingError, match=r"--output-dir .*locked/run cannot be "
                       r"written: .*locked is not writable \(permission denied"):  # fmt: skip
        train(
            config(locked / "run"),
            make_data(),
            model=make_model(),
            tokenizer=tokenizer,
            on_log=trained.append,
        )
    assert trained == []
    with pytest.raises(training.TrainingError, match="--checkpoint-directory .* cannot be written"):
        run(tmp_path / "out", tokenizer, checkpoint_directory=str(locked))
