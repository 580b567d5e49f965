"""Calibration before a run: a few steps timed, and the batch a time budget can afford."""

from dataclasses import replace

import pytest
from datasets import Dataset

from helpers.training import TrainingConfig, batch_for_steps, measure_step_seconds


@pytest.mark.parametrize(
    ("step_seconds", "expected"),  # 5 s, about 20 steps wanted: 16 takes 5 / step_seconds
    [(0.1, 16), (0.3, 16), (0.6, 8), (1.2, 4), (2.0, 2), (20.0, 2)],
)
def test_the_batch_is_the_one_whose_steps_come_closest_to_the_target(step_seconds, expected):
    batch = batch_for_steps(step_seconds, 16, budget_seconds=5.0, target_steps=20, smallest=2)
    assert batch == expected

    def miss(b: int) -> float:  # how far from 20 steps, as a ratio
        steps = 5.0 / (step_seconds * b / 16)
        return max(steps / 20, 20 / steps)

    assert all(miss(batch) <= miss(other) for other in (2, 4, 8, 16))


def test_with_the_step_cap_as_target_the_budget_is_spent_on_about_that_many_steps():
    # 40 s, a cap of 240 steps: where 16 blocks take 0.33 s, batch 8 (about 240 steps), not
    # 4 (the cap after 20 s); where they take 2.2 s, the smallest batch (about 145 steps)
    assert batch_for_steps(0.33, 16, 40.0, 240) == 8
    assert batch_for_steps(2.2, 16, 40.0, 240) == 2


def test_the_trial_batch_needs_measured_numbers():
    with pytest.raises(ValueError, match="step_seconds"):
        batch_for_steps(0.0, 16, 5.0, 20)
    with pytest.raises(ValueError, match="smallest"):
        batch_for_steps(0.5, 16, 5.0, 20, smallest=32)


def test_a_step_is_timed_on_a_short_run(tmp_path):
    rows = Dataset.from_dict({"input_ids": [[i % 50 + 1] * 16 for i in range(40)]})
    rows = rows.map(lambda row: {"labels": row["input_ids"]})
    config = TrainingConfig(model="gpt2lab-tiny", batch_size=4, block_size=16, progress_bar=False,
                            output_dir=str(tmp_path / "unused"))  # fmt: skip
    seconds = measure_step_seconds(config, {"train": rows, "validation": rows}, steps=4)
    assert 0 < seconds < 5
    assert not (tmp_path / "unused").exists()  # the timing run leaves nothing behind
    assert not list(tmp_path.iterdir())
    with pytest.raises(ValueError, match="steps must be >= 3"):
        measure_step_seconds(config, {"train": rows, "validation": rows}, steps=2)


def test_an_unfinished_run_keeps_its_batch_and_a_finished_one_does_not(tmp_path):
    from helpers.training import batch_of_unfinished_run, train

    rows = Dataset.from_dict({"input_ids": [[i % 50 + 1] * 16 for i in range(40)]})
    data = {"train": rows, "validation": rows.select(range(4))}
    config = TrainingConfig(model="gpt2lab-tiny", batch_size=4, block_size=16, max_steps=6,
                            checkpoint_every=2, eval_every=0, eval_batches=1, log_every=1,
                            progress_bar=False, output_dir=str(tmp_path / "run"))  # fmt: skip
    assert batch_of_unfinished_run(config) is None  # nothing there yet

    def stop_at_step_3(history):
        if history.train and history.train[-1]["step"] == 3:
            raise KeyboardInterrupt

    assert train(config, data, on_log=stop_at_step_3).interrupted
    assert batch_of_unfinished_run(config) == 4
    assert batch_of_unfinished_run(replace(config, output_dir=str(tmp_path / "other"))) is None
    train(config, data)  # resumed and finished: nothing is left to resume
    assert batch_of_unfinished_run(config) is None


def test_choose_batch_times_a_small_batch_and_scales_it_to_the_full_one(tmp_path):
    from helpers.training import choose_batch

    rows = Dataset.from_dict({"input_ids": [[i % 50 + 1] * 16 for i in range(40)]})
    config = TrainingConfig(model="gpt2lab-tiny", batch_size=8, block_size=16, progress_bar=False,
                            output_dir=str(tmp_path / "unused"))  # fmt: skip
    choice = choose_batch(config, {"train": rows, "validation": rows}, 5.0, target_steps=20)
    assert (choice.probe_batch, choice.full_batch) == (4, 8)
    assert choice.step_seconds == pytest.approx(choice.probe_seconds * 2)
    assert choice.batch == batch_for_steps(choice.step_seconds, 8, 5.0, 20)
    assert choice.steps(8) == pytest.approx(5.0 / choice.step_seconds)
    assert not (tmp_path / "unused").exists()


def _rows(count: int = 40) -> Dataset:
    rows = Dataset.from_dict({"input_ids": [[i % 50 + 1] * 16 for i in range(count)]})
    return rows.map(lambda row: {"labels": row["input_ids"]})


@pytest.mark.parametrize(
    ("max_steps", "epochs", "expected"),
    # a step of 4 blocks takes 0.1 s, so one of 16 about 0.4 s, and 10 s hold 25 steps of
    # 16, 50 of 8, 100 of 4, 200 of 2
    [(100, 1, 4), (50, 1, 8), (400, 1, 2), (None, 4, 16)],  # 64 blocks x 4 / 16 = 16 steps
)
def test_auto_batch_aims_at_the_runs_steps_within_its_seconds(
    tmp_path, monkeypatch, max_steps, epochs, expected
):
    import helpers.training.calibrate as calibrate

    probed = []

    def fake_timing(config, dataset, **kwargs):
        probed.append(config.batch_size)
        return 0.1 * config.batch_size / 4

    monkeypatch.setattr(calibrate, "measure_step_seconds", fake_timing)
    config = TrainingConfig(model="gpt2lab-tiny", batch_size=16, block_size=16,
                            max_steps=max_steps, epochs=epochs, max_seconds=10.0,
                            output_dir=str(tmp_path / "run"))  # fmt: skip
    batch, why = calibrate.automatic_batch(config, {"train": _rows(64), "validation": _rows(4)})
    assert (batch, probed) == (expected, [4])
    target = max_steps or 16
    assert why.startswith(f"batch {expected}: a step of 4 blocks took 0.10 s")
    assert f"the run's {target} steps at batch 16" in why


def test_auto_batch_needs_a_time_budget_and_one_process(tmp_path, monkeypatch):
    from helpers.training import automatic_batch

    data = {"train": _rows(), "validation": _rows(4)}
    config = TrainingConfig(model="gpt2lab-tiny", output_dir=str(tmp_path / "run"))
    with pytest.raises(ValueError, match="give --max-seconds too"):
        automatic_batch(config, data)
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ValueError, match="several processes"):
        automatic_batch(replace(config, max_seconds=30.0), data)


def test_auto_batch_keeps_the_batch_of_a_run_it_will_resume(tmp_path, monkeypatch):
    import helpers.training.calibrate as calibrate
    from helpers.training import train

    data = {"train": _rows(), "validation": _rows(4)}
    config = TrainingConfig(model="gpt2lab-tiny", batch_size=4, block_size=16, max_steps=6,
                            checkpoint_every=2, eval_every=0, eval_batches=1, log_every=1,
                            progress_bar=False, output_dir=str(tmp_path / "run"))  # fmt: skip

    def stop_at_step_3(history):
        if history.train and history.train[-1]["step"] == 3:
            raise KeyboardInterrupt

    assert train(config, data, on_log=stop_at_step_3).interrupted

    def no_timing(*args, **kwargs):
        raise AssertionError("a resumed run must not be timed again")

    monkeypatch.setattr(calibrate, "measure_step_seconds", no_timing)
    batch, why = calibrate.automatic_batch(replace(config, batch_size=16, max_seconds=9.0), data)
    assert batch == 4 and "resumes with it" in why


def test_a_new_batch_keeps_the_evaluations_blocks(tmp_path):
    from helpers.training import with_batch_size

    config = TrainingConfig(batch_size=16, eval_batches=8, output_dir=str(tmp_path / "run"))
    smaller = with_batch_size(config, 4)
    assert (smaller.batch_size, smaller.eval_batches) == (4, 32)  # 128 blocks either way
    assert with_batch_size(replace(config, eval_batches=1), 32).eval_batches == 1  # at least one
    whole = with_batch_size(replace(config, eval_batches=None), 2)
    assert (whole.batch_size, whole.eval_batches) == (2, None)  # the whole split stays whole
