"""Train a causal language model: an explicit accelerate loop with checkpoints and a history.

AdamW with weight-decay groups (from scratch, Muon for the weight matrices), linear
warmup then cosine (or linear) decay, gradient clipping and accumulation, mixed precision
chosen by the hardware, periodic evaluation (validation loss, perplexity, bits per
character), atomic checkpoints with automatic resume, and the best model saved with
``save_pretrained``. One idea per file, each readable top to bottom:

* ``config``      every setting (:class:`TrainingConfig`), the course's recipes, the
                  learning rates and number format chosen from them;
* ``optim``       AdamW with a learning rate per role of weight (or Muon for the
                  matrices), and its schedule;
* ``muon``        Muon: a weight matrix's step, its momentum orthogonalised;
* ``loss``        the next-token loss, GPT-2's output layer computed in chunks (and why);
* ``vocabulary``  from scratch, the output layer trained on the tokens a text uses only;
* ``blocks``      packed token blocks as tensors, a seeded order per epoch, the loaders;
* ``history``     evaluation results, the history (which blocks each loss was scored
                  on), the result of a run;
* ``evaluate``    a model scored on validation blocks;
* ``checkpoints`` checkpoints saved atomically, the resume point, :class:`RunState`;
* ``saved_model`` the saved model: weights, ``training_args.json``, the model card;
* ``setup``       the accelerator and the model a run starts from;
* ``loop``        :class:`TrainingRun` and :func:`train`: the loop itself;
* ``calibrate``   a few steps timed before a run, and the batch this machine can afford;
* ``errors``      what stops a run, with a message that says what to change.

Input contract: a ``datasets.DatasetDict`` (or any mapping) with ``"train"`` and
``"validation"`` splits whose rows are packed blocks ``{"input_ids": [...], "labels": [...]}``
of equal length (see ``helpers.packing.build_lm_dataset``). Everything the notebooks, the
CLI and the benchmarks use is importable from here: ``from helpers.training import train``.
"""

from helpers.training.blocks import EpochShuffleSampler
from helpers.training.calibrate import (
    BatchChoice,
    automatic_batch,
    batch_for_steps,
    batch_of_unfinished_run,
    choose_batch,
    measure_step_seconds,
    with_batch_size,
)
from helpers.training.checkpoints import (
    CHECKPOINT_PREFIX,
    STATE_FILE,
    Checkpoints,
    RunState,
    checkpoint_step,
    copy_resume_point,
    is_complete_checkpoint,
    latest_checkpoint,
    list_checkpoints,
    unfinished_checkpoint,
)
from helpers.training.config import (
    CHECKPOINT_DIR_ENV_VAR,
    CHECKPOINTS_SUBDIR,
    FINE_TUNING_LEARNING_RATE,
    FROM_SCRATCH_LEARNING_RATES,
    FROM_SCRATCH_PASSES,
    FROM_SCRATCH_RECIPE,
    FROM_SCRATCH_STEPS,
    MUON_LEARNING_RATE,
    OPTIMIZERS,
    PRECISIONS,
    REFERENCE_STEP_SECONDS,
    RESUME_DIR_ENV_VAR,
    SCHEDULES,
    SMALLEST_BATCH,
    Precision,
    TrainingConfig,
    choose_precision,
    default_learning_rate,
    from_scratch_recipe,
    resolve_learning_rates,
)
from helpers.training.errors import (
    CheckpointMismatchError,
    DamagedCheckpointError,
    DiskFullError,
    NonFiniteLossError,
    TrainingError,
    TrainingOutOfMemoryError,
)
from helpers.training.evaluate import evaluate_model
from helpers.training.history import (
    LN2,
    WHOLE_SPLIT,
    EvalResult,
    TrainingHistory,
    TrainingResult,
    human_size,
)
from helpers.training.loop import TrainingRun, train
from helpers.training.loss import CausalLMObjective, chunked_lm_loss
from helpers.training.muon import Muon, orthogonalise
from helpers.training.optim import (
    MuonWithAdamW,
    build_optimizer,
    build_scheduler,
    learning_rate_schedule,
    parameter_groups,
    warmup_steps_for,
)
from helpers.training.saved_model import (
    ARGS_FILE,
    HISTORY_FILE,
    card_metadata,
    save_trained_model,
    write_model_card,
)
from helpers.training.vocabulary import UsedVocabulary

__all__ = [
    "BatchChoice",
    "batch_for_steps",
    "choose_batch",
    "automatic_batch",
    "batch_of_unfinished_run",
    "measure_step_seconds",
    "with_batch_size",
    "UsedVocabulary",
    "ARGS_FILE",
    "CHECKPOINTS_SUBDIR",
    "CHECKPOINT_DIR_ENV_VAR",
    "CHECKPOINT_PREFIX",
    "FINE_TUNING_LEARNING_RATE",
    "FROM_SCRATCH_LEARNING_RATES",
    "FROM_SCRATCH_PASSES",
    "FROM_SCRATCH_RECIPE",
    "FROM_SCRATCH_STEPS",
    "MUON_LEARNING_RATE",
    "OPTIMIZERS",
    "REFERENCE_STEP_SECONDS",
    "SMALLEST_BATCH",
    "HISTORY_FILE",
    "LN2",
    "PRECISIONS",
    "RESUME_DIR_ENV_VAR",
    "SCHEDULES",
    "STATE_FILE",
    "WHOLE_SPLIT",
    "CausalLMObjective",
    "CheckpointMismatchError",
    "Checkpoints",
    "DamagedCheckpointError",
    "DiskFullError",
    "EpochShuffleSampler",
    "EvalResult",
    "NonFiniteLossError",
    "Precision",
    "RunState",
    "TrainingConfig",
    "TrainingError",
    "TrainingHistory",
    "TrainingOutOfMemoryError",
    "TrainingResult",
    "TrainingRun",
    "Muon",
    "MuonWithAdamW",
    "build_optimizer",
    "orthogonalise",
    "build_scheduler",
    "card_metadata",
    "checkpoint_step",
    "choose_precision",
    "chunked_lm_loss",
    "copy_resume_point",
    "default_learning_rate",
    "from_scratch_recipe",
    "evaluate_model",
    "human_size",
    "is_complete_checkpoint",
    "latest_checkpoint",
    "learning_rate_schedule",
    "list_checkpoints",
    "parameter_groups",
    "resolve_learning_rates",
    "save_trained_model",
    "train",
    "unfinished_checkpoint",
    "warmup_steps_for",
    "write_model_card",
]
