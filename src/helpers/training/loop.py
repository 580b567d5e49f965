"""The training run: set up with accelerate, loop, evaluate, checkpoint, save the best.

The loop follows transformers' ``run_clm_no_trainer.py`` and reads top to bottom in
:meth:`TrainingRun.loop`: forward, backward (gradients accumulated over ``grad_accum``
batches), clip, optimizer step, schedule step. :meth:`TrainingRun.after_step` logs,
evaluates and saves checkpoints when they are due. It runs unchanged on one process or
several (``accelerate launch`` / ``torchrun``).
"""

from __future__ import annotations

import math
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import nn

from helpers.environment import folder_problem, set_seed
from helpers.model_source import ModelSource
from helpers.modeling import count_parameters
from helpers.training.blocks import check_dataset, check_fits_model, make_loaders
from helpers.training.budget import replan_due, steps_that_fit
from helpers.training.checkpoints import (
    Checkpoints,
    RunState,
    checkpoints_bytes,
    files_bytes,
    parameter_bytes,
    run_fingerprint,
)
from helpers.training.config import TrainingConfig, resolve_learning_rates
from helpers.training.errors import (
    DamagedCheckpointError,
    NonFiniteLossError,
    TrainingError,
    is_out_of_memory,
    out_of_memory,
)
from helpers.training.evaluate import evaluate_prepared
from helpers.training.history import WHOLE_SPLIT, EvalResult, TrainingHistory, TrainingResult
from helpers.training.loss import CausalLMObjective
from helpers.training.optim import build_optimizer, build_scheduler, retarget_scheduler
from helpers.training.saved_model import save_best
from helpers.training.setup import (
    check_output_files,
    check_saved_model,
    load_base,
    make_accelerator,
)
from helpers.training.vocabulary import UsedVocabulary


class TrainingRun:
    """One run: its accelerator, data, model, optimizer, schedule and :class:`RunState`.

    :func:`train` builds it, resumes it from a checkpoint when it can and calls
    :meth:`loop`, the training loop itself; the other methods are what the loop calls
    (log, evaluate, checkpoint). Everything a checkpoint must keep is in ``self.state``.
    """

    def __init__(
        self,
        config: TrainingConfig,
        dataset: Mapping[str, Any],
        model: nn.Module | None,
        tokenizer: Any,
        source: ModelSource | None,
        chars_per_token: float | None,
        data_description: str,
        on_log: Callable[[TrainingHistory], None] | None,
    ) -> None:
        self.started = time.perf_counter()
        _check_folders(config)
        check_saved_model(config)  # a saved model there that this run would not resume
        check_output_files(config)  # files of a run's names that are not a run's
        self.chars_per_token, self.on_log = chars_per_token, on_log
        self.data_description = data_description
        train_blocks, val_blocks = check_dataset(dataset)
        self.block = train_blocks.input_ids.shape[1]
        self.train_rows, self.val_rows = len(train_blocks), len(val_blocks)
        self.precision, acc = make_accelerator(config)
        self.accelerator, self.processes = acc, acc.num_processes
        set_seed(config.seed)
        base = load_base(config, model, tokenizer, source)
        model, self.tokenizer, self.from_scratch = base.model, base.tokenizer, base.from_scratch
        self.base_name, self.base_note = base.name, base.note
        check_fits_model(train_blocks, model)
        check_fits_model(val_blocks, model)
        model.train()
        # automatic learning rates: gentle for pretrained weights, per part from scratch
        config = self.config = resolve_learning_rates(config, self.from_scratch, self.base_name)
        loaders = make_loaders(config, train_blocks, val_blocks, self.processes)
        self.compared_on = loaders.compared_on  # the blocks the best model is chosen on

        # optimizer and schedule; a "step" is one optimizer step (after accumulation)
        optimizer = build_optimizer(model, config, acc.device)
        objective = CausalLMObjective(model, config.loss_chunk_tokens)
        if config.used_vocabulary and self.from_scratch:  # (training/vocabulary.py)
            used = UsedVocabulary.from_tokens(train_blocks.input_ids, model.config.vocab_size)
            objective.use_vocabulary(used.to(acc.device) if used is not None else None)
        elif config.used_vocabulary:
            acc.print(
                "used_vocabulary is ignored: it is for weights that start random, and tying "
                "a pretrained model's unused rows would erase what they know."
            )
        self.vocabulary, self.output_layer = objective.vocabulary, model.get_output_embeddings()
        batches_per_process = math.ceil(len(loaders.train) / self.processes)  # as accelerate deals
        self.steps_per_epoch = math.ceil(batches_per_process / config.grad_accum)
        self.total_steps = config.max_steps or config.epochs * self.steps_per_epoch
        self.cap_steps = self.total_steps  # a time budget may plan fewer (plan_to_budget)
        self.step_seconds: list[float] = []  # this session's step times
        self.epochs = math.ceil(self.total_steps / self.steps_per_epoch)
        scheduler = build_scheduler(optimizer, config, self.total_steps, scale=self.processes)
        (self.objective, self.optimizer, self.train_loader, self.eval_loader, self.scheduler) = (
            acc.prepare(objective, optimizer, loaders.train, loaders.validation, scheduler)
        )
        first_blocks = loaders.first_blocks
        self.first_blocks = acc.prepare(first_blocks) if first_blocks is not None else None
        assert len(self.train_loader) == batches_per_process

        # where the model goes; checkpoints; what only this session counts
        self.output_dir = Path(config.output_dir).expanduser()
        fingerprint = run_fingerprint(
            config, self.train_rows, self.block, self.total_steps, self.processes
        )
        # a checkpoint holds the weights and AdamW's two moments, each as large
        self.checkpoints = Checkpoints(acc, config, fingerprint, 3 * parameter_bytes(model))
        self.state = RunState()
        self.resumed_from: Path | None = None
        self.stopped_early = self.out_of_time = False
        self.tokens_per_batch = config.batch_size * self.block * self.processes
        self.step_losses: list[torch.Tensor] = []  # losses of this step's batches
        self.window_seconds, self.window_start = 0.0, time.perf_counter()
        self.progress: Any = None  # the progress bar (train() makes it)

    # ----------------------------------------------------------------- the loop

    def loop(self) -> None:
        """The training loop: forward, backward, clip, step, schedule; then log and save."""
        acc, cfg, state = self.accelerator, self.config, self.state
        for epoch in range(state.completed_steps // self.steps_per_epoch, self.epochs):
            self.train_loader.set_epoch(epoch)  # this epoch's shuffled order
            skip = (state.completed_steps - epoch * self.steps_per_epoch) * cfg.grad_accum
            batches = acc.skip_first_batches(self.train_loader, skip) if skip else self.train_loader
            batches.set_epoch(epoch)  # on resume: skip the batches already trained on
            for batch in batches:
                with acc.accumulate(self.objective):  # sync gradients every grad_accum batches
                    loss_sum, tokens = self.objective(batch["input_ids"], batch["labels"])
                    loss = loss_sum / tokens.clamp(min=1)  # mean cross-entropy per token
                    self.check_finite(loss)
                    acc.backward(loss)  # divides by grad_accum; scales the loss in fp16
                    if acc.sync_gradients and cfg.max_grad_norm > 0:
                        acc.clip_grad_norm_(self.objective.parameters(), cfg.max_grad_norm)
                    self.optimizer.step()  # a no-op until the last batch of a cycle
                    if self.vocabulary is not None:  # unused tokens: one shared row again
                        self.vocabulary.tie_unused(self.output_layer.weight)
                    self.scheduler.step()
                    self.optimizer.zero_grad(set_to_none=True)
                self.step_losses.append(loss.detach())
                state.window_batches += 1
                if acc.sync_gradients:  # one optimizer step done
                    state.completed_steps += 1
                    self.after_step(epoch)
                    if self.finished():
                        return

    def finished(self) -> bool:
        state = self.state
        return state.completed_steps >= self.total_steps or self.stopped_early or self.out_of_time

    def after_step(self, epoch: int) -> None:
        """Log, evaluate and checkpoint when they are due."""
        cfg, state = self.config, self.state
        state.window.append(torch.stack(self.step_losses).mean())
        self.step_losses = []
        seconds = time.perf_counter() - self.window_start  # pause the clock
        self.window_seconds += seconds
        state.train_seconds += seconds
        self.step_seconds.append(seconds)
        if cfg.max_seconds is not None:
            if replan_due(len(self.step_seconds), state.completed_steps, state.planned_steps):
                self.plan_to_budget()
            if state.train_seconds >= cfg.max_seconds:
                self.out_of_time = True
        self.progress.update(1)
        step = state.completed_steps
        if step % cfg.log_every == 0 or step == self.total_steps:
            self.log(epoch)
        if cfg.eval_every and step % cfg.eval_every == 0 and step < self.total_steps:
            if self.improved(self.evaluate(full=False)):
                save_best(self)
            elif (
                cfg.early_stopping_patience
                and state.evals_without_improvement >= cfg.early_stopping_patience
            ):
                self.stopped_early = True
            self.notify()
        if cfg.checkpoint_every and step % cfg.checkpoint_every == 0 and not self.finished():
            self.checkpoints.save(state)  # (the end of the run saves one after its evaluation)
            self.checkpoints.update_resume_point()
        self.window_start = time.perf_counter()  # restart the clock: tokens/s counts training only

    def plan_to_budget(self) -> None:
        """From the measured step times, plan the run to end with ``max_seconds``."""
        cfg, state = self.config, self.state
        assert cfg.max_seconds is not None
        self.apply_plan(
            steps_that_fit(
                self.step_seconds,
                state.completed_steps,
                state.train_seconds,
                cfg.max_seconds,
                self.cap_steps,
            )
        )

    def apply_plan(self, steps: int) -> None:
        """Make ``steps`` the run's length, and the schedule's."""
        self.state.planned_steps = self.total_steps = steps
        retarget_scheduler(self.scheduler, self.config, steps, scale=self.processes)
        if self.progress is not None:
            self.progress.total = steps
            self.progress.refresh()

    def check_finite(self, loss: torch.Tensor) -> None:
        if not torch.isfinite(loss):
            lr = self.scheduler.get_last_lr()[0]
            raise NonFiniteLossError(
                f"The training loss became {loss.item()} at step {self.state.completed_steps + 1} "
                f"(learning rate {lr:.2e}); training stopped. The last good checkpoint is "
                f"{self.checkpoints.last or 'none'}: re-running resumes from it. Lower the "
                f"learning rate (e.g. --learning-rate {self.config.learning_rate / 10:g}), "
                f"train in bf16 or fp32 instead of fp16, or check the data."
            )

    # ----------------------------------------------------------------- measuring

    def log(self, epoch: int) -> None:
        """Append a train record: mean loss since the last log, smoothed loss, lr, tokens/s."""
        state = self.state
        local = torch.stack(state.window).mean()
        value = self.accelerator.gather(local[None]).mean().item()
        state.ema, state.ema_updates = 0.9 * state.ema + 0.1 * value, state.ema_updates + 1
        elapsed = max(self.window_seconds, 1e-9)
        record = {
            "step": state.completed_steps,
            "epoch": epoch + 1,
            "loss": value,
            "smoothed_loss": state.ema / (1 - 0.9**state.ema_updates),  # bias-corrected EMA
            "lr": self.scheduler.get_last_lr()[0],
            "tokens_per_second": state.window_batches * self.tokens_per_batch / elapsed,
            "tokens_seen": state.completed_steps * self.config.grad_accum * self.tokens_per_batch,
            "seconds": time.perf_counter() - self.started,
            "train_seconds": state.train_seconds,
        }
        state.history.train.append(record)
        state.window, state.window_batches, self.window_seconds = [], 0, 0.0
        self.progress.set_postfix(
            loss=f"{value:.3f}",
            lr=f"{record['lr']:.1e}",
            tok_s=f"{record['tokens_per_second']:.0f}",
        )
        self.notify()

    def notify(self) -> None:
        if self.on_log is not None and self.accelerator.is_main_process:
            self.on_log(self.state.history)

    def evaluate(self, full: bool) -> EvalResult:
        """Validation loss on the whole split (``full``), or on the blocks every periodic
        evaluation scores (the first ``eval_batches`` batches; all when that is None)."""
        loader = self.eval_loader if full or self.first_blocks is None else self.first_blocks
        total, count = evaluate_prepared(self.objective, loader, self.accelerator)
        where = WHOLE_SPLIT if loader is self.eval_loader else self.compared_on
        result = EvalResult(total / max(count, 1), count, self.chars_per_token, where)
        self.state.history.eval.append({"step": self.state.completed_steps, **result.as_dict()})
        return result

    def improved(self, result: EvalResult) -> bool:
        """Is ``result`` the best so far? Only evaluations of the same blocks compare."""
        assert result.scored_on == self.compared_on, "compare losses on the same blocks only"
        state = self.state
        if state.best_val_loss is None or result.loss < state.best_val_loss:
            state.best_val_loss, state.evals_without_improvement = result.loss, 0
            return True
        state.evals_without_improvement += 1
        return False

    # ----------------------------------------------------------------- resuming

    def model(self) -> nn.Module:
        return self.accelerator.unwrap_model(self.objective).model

    def resume(self) -> None:
        """Load the latest complete checkpoint of the checkpoint or the resume folder (the
        later step wins), if its run had the same settings; with ``resume=False``, delete
        the checkpoints in both instead."""
        if not self.config.resume:
            self.checkpoints.remove_all()
            return
        candidates = self.checkpoints.newest_first()
        damaged = []
        for checkpoint in candidates:
            try:
                self.state, self.resumed_from = self.checkpoints.load(checkpoint), checkpoint
            except DamagedCheckpointError as error:  # the one before may be whole
                damaged.append(checkpoint)
                self.accelerator.print(f"{error} Trying the one before it.")
                continue
            if self.state.planned_steps is not None:  # the time budget's plan, as it was
                self.apply_plan(self.state.planned_steps)
            self.accelerator.print(
                f"Resuming from {checkpoint} (step {self.state.completed_steps} of "
                f"{self.total_steps})."
            )
            return
        if damaged:  # (a model half-loaded from them is not a fresh start)
            raise DamagedCheckpointError(
                f"No checkpoint of this run loads: {', '.join(map(str, damaged))} "
                f"{'is' if len(damaged) == 1 else 'are'} damaged. Start over with --no-resume "
                f"(which deletes them), or choose another --output-dir."
            )


@contextmanager
def sigterm_as_ctrl_c() -> Iterator[None]:
    """While it is open, SIGTERM (what ``kill``, ``docker stop`` and job schedulers send)
    raises KeyboardInterrupt, as Ctrl-C does, so that training saves a checkpoint before it
    stops; a second SIGTERM is ignored while that checkpoint is written. Only in a single
    process's main thread: under torchrun, the launcher itself sends SIGTERM to stop the
    other ranks when one fails, and a rank waiting for the others to save would hang."""
    alone = int(os.environ.get("WORLD_SIZE", "1")) == 1
    if not alone or threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # one checkpoint at a time
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def _check_folders(config: TrainingConfig) -> None:
    """The folders a run writes to must be folders it may write to, or not be there yet."""
    places = {
        "--output-dir": Path(config.output_dir).expanduser(),
        "--checkpoint-directory": config.checkpoint_dir,
        "--resume-dir": config.resume_point_dir,
    }
    for flag, place in places.items():
        if place is not None and (problem := folder_problem(place, flag)):
            raise TrainingError(problem)


def train(
    config: TrainingConfig,
    dataset: Mapping[str, Any],
    *,
    model: nn.Module | None = None,
    tokenizer: Any = None,
    source: ModelSource | None = None,
    chars_per_token: float | None = None,
    data_description: str = "",
    on_log: Callable[[TrainingHistory], None] | None = None,
) -> TrainingResult:
    """Train ``model`` (default: ``config.model``, loaded) on ``dataset``; save the best.

    Resumes from the latest complete checkpoint in ``config.checkpoint_dir`` or
    ``config.resume_point_dir`` when there is one (and its settings match). An output
    folder that holds a saved model and no checkpoint is refused unless ``resume=False``
    (start over, replacing it): a saved model is never replaced silently.
    ``chars_per_token`` of the validation text turns the loss into bits per character.
    ``on_log`` gets the history after every log and evaluation (for live plots). Ctrl-C
    saves a checkpoint (copied to the resume folder, if any) and returns with
    ``interrupted=True``; so does SIGTERM (``kill``, ``docker stop``, a job scheduler) in a
    single process.
    """
    with sigterm_as_ctrl_c():
        from tqdm.auto import tqdm

        run = TrainingRun(
            config, dataset, model, tokenizer, source, chars_per_token, data_description, on_log
        )
        acc, cfg = run.accelerator, run.config
        run.resume()
        acc.print(
            f"Training {count_parameters(run.model()):,} parameters on {acc.device.type} x "
            f"{run.processes}, precision {run.precision}: {run.total_steps} steps of "
            f"{cfg.batch_size} x {cfg.grad_accum} x {run.processes} blocks of {run.block} tokens."
        )
        state = run.state  # (after resume: the checkpoint's)
        already_done = state.completed_steps >= run.total_steps
        run.progress = tqdm(
            total=run.total_steps,
            initial=state.completed_steps,
            desc="training",
            disable=not (cfg.progress_bar and acc.is_local_main_process),
        )
        interrupted = False
        try:
            if not state.history.eval:  # the starting point, for "before and after"
                run.improved(run.evaluate(full=False))
                run.notify()
            if not already_done:
                run.window_start = time.perf_counter()
                run.loop()
        except KeyboardInterrupt:
            interrupted = True
            _save_interrupted(run)
        except Exception as error:
            if is_out_of_memory(error):
                raise out_of_memory(cfg.batch_size, cfg.grad_accum, run.block) from error
            raise
        finally:
            run.progress.close()

        final = None
        if already_done:
            last = state.history.eval[-1] if state.history.eval else None
            if last:
                final = EvalResult(
                    last["val_loss"], last["val_tokens"], run.chars_per_token, last.get("scored_on")
                )
            acc.print(f"Nothing to do: the run in {run.output_dir} is complete.")
            run.checkpoints.remove_resume_point(run.output_dir)
        elif not interrupted:
            final = _finish(run)
        acc.wait_for_everyone()
        result = _result(run, final, interrupted)
        acc.print(result.summary())
        return result


def _finish(run: TrainingRun) -> EvalResult:
    """The end of a run: evaluate on the blocks every evaluation scored (is this the best
    model?), then on the whole split when those were only its first blocks; save the model
    if it is the best, then a last checkpoint."""
    final = run.evaluate(full=False)
    better = run.improved(final)
    if run.first_blocks is not None:
        final = run.evaluate(full=True)
    # the model first: if saving it fails (a full disk, Ctrl-C), no checkpoint says the run
    # is complete, and running again resumes from the one before and saves it then. A run
    # that never saved its weights saves them now, whatever model the folder held before
    # (--no-resume replaces it): never this run's card and history over other weights.
    saved = run.state.weights_saved
    if saved is None:  # resumed from a checkpoint that did not record it
        saved = (run.output_dir / "config.json").is_file()
    save_best(run, final, weights=better or not saved)
    run.checkpoints.save(run.state)
    run.checkpoints.remove_resume_point(run.output_dir)
    run.notify()
    return final


def _save_interrupted(run: TrainingRun) -> None:
    """Ctrl-C: save a checkpoint where the run stands, and copy it to the resume folder."""
    run.optimizer.zero_grad(set_to_none=True)
    run.accelerator.step = 0  # the resumed run starts a fresh accumulation cycle
    run.step_losses, run.state.window_batches = [], 0
    run.progress.close()
    run.checkpoints.save(run.state)
    run.checkpoints.update_resume_point(force=True)
    resume_dir = run.checkpoints.resume_dir
    copied = f" and copied to {resume_dir}" if resume_dir is not None else ""
    run.accelerator.print(
        f"\nInterrupted at step {run.state.completed_steps}: checkpoint saved to "
        f"{run.checkpoints.last}{copied}. Run the same command again to resume."
    )


def _result(run: TrainingRun, final: EvalResult | None, interrupted: bool) -> TrainingResult:
    checkpoints = run.checkpoints
    return TrainingResult(
        output_dir=run.output_dir,
        history=run.state.history,
        completed_steps=run.state.completed_steps,
        total_steps=run.total_steps,
        precision=run.precision,
        device=run.accelerator.device.type,
        processes=run.processes,
        best_val_loss=run.state.best_val_loss,
        final_eval=final,
        resumed_from=run.resumed_from,
        interrupted=interrupted,
        stopped_early=run.stopped_early,
        out_of_time=run.out_of_time,
        train_seconds=run.state.train_seconds,
        tokens_seen=run.state.completed_steps * run.config.grad_accum * run.tokens_per_batch,
        max_seconds=run.config.max_seconds,
        step_cap=run.cap_steps,
        model_saved=(run.output_dir / "config.json").is_file() and not interrupted,
        seconds=time.perf_counter() - run.started,
        model=run.accelerator.unwrap_model(run.objective, keep_fp32_wrapper=False).model,
        checkpoint_dir=checkpoints.folder,
        resume_dir=checkpoints.resume_dir,
        model_bytes=files_bytes(run.output_dir, recursive=False),
        checkpoint_bytes=checkpoints_bytes(checkpoints.folder),
        resume_bytes=checkpoints_bytes(checkpoints.resume_dir),
    )
