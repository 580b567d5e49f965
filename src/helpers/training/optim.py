"""How the weights move: AdamW with a learning rate per role of weight, and its schedule.

The roles (:func:`parameter_groups`): weight matrices, vectors (biases, norm gains,
position embeddings), the token embedding and the output layer. Matrices and the
output layer decay, the rest does not; the token embedding and the output layer have
learning rates of their own. With ``optimizer="muon"`` the body's weight matrices move
by Muon instead (``training/muon.py``: the momentum of the gradient, orthogonalised, so
that every direction of a matrix moves by about the same amount), and the rest by AdamW,
as one optimizer (:class:`MuonWithAdamW`). The schedule is a linear warmup, then cosine
(or linear) decay, or a constant rate, through ``transformers.get_scheduler``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from helpers.training.config import SCHEDULES, TrainingConfig
from helpers.training.muon import Muon


def parameter_groups(model: nn.Module) -> dict[str, list[nn.Parameter]]:
    """The model's trainable weights by role, each listed once.

    ``output``: the output layer; ``embeddings``: the token embedding, unless it is shared
    with the output layer (then it counts as output); ``matrices``: the other weight
    matrices; ``vectors``: biases, layer-norm gains and position embeddings (no decay).
    Only the token embedding is special: its row for a token is trained only by batches
    that contain the token, while positions are trained by every block.
    """
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    tokens = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
    output = {id(p): p for p in (head.parameters() if head is not None else ()) if p.requires_grad}
    embeddings = {
        id(p): p
        for p in (tokens.parameters() if tokens is not None else ())
        if p.requires_grad and id(p) not in output
    }
    other_tables = {
        id(p)
        for module in model.modules()
        if isinstance(module, nn.Embedding)
        for p in module.parameters()
    }
    rest = [
        p
        for p in model.parameters()
        if p.requires_grad and id(p) not in output and id(p) not in embeddings
    ]
    return {
        "output": list(output.values()),
        "embeddings": list(embeddings.values()),
        "matrices": [p for p in rest if p.dim() >= 2 and id(p) not in other_tables],
        "vectors": [p for p in rest if p.dim() < 2 or id(p) in other_tables],
    }


def build_optimizer(
    model: nn.Module, config: TrainingConfig, device: torch.device | None = None
) -> torch.optim.Optimizer:
    """AdamW with a learning rate and weight decay per role of weight (with
    ``optimizer="muon"``, Muon for the weight matrices: :class:`MuonWithAdamW`).

    Weight matrices and the output layer decay (``weight_decay``); biases, norm gains and
    embeddings do not (decay pulls towards zero: that only hurts them). The token
    embedding and the output layer have their own learning rates (``embedding_learning_rate``,
    ``output_learning_rate``; ``None`` means ``learning_rate``). On a CPU or CUDA
    ``device`` the fused implementation updates all weights in one pass.
    """
    lr = config.learning_rate
    if lr is None:
        raise ValueError("learning_rate is None: resolve it first (resolve_learning_rates).")
    groups = parameter_groups(model)
    settings = {
        "matrices": (lr, config.weight_decay),
        "vectors": (lr, 0.0),
        "embeddings": (config.embedding_learning_rate or lr, 0.0),
        "output": (config.output_learning_rate or lr, config.weight_decay),
    }
    by_muon = {"matrices"} if config.optimizer == "muon" and groups["matrices"] else set()
    adamw = torch.optim.AdamW(
        [
            {"params": groups[role], "lr": rate, "weight_decay": decay, "role": role}
            for role, (rate, decay) in settings.items()
            if groups[role] and role not in by_muon
        ],
        lr=lr,
        betas=(config.adam_beta1, config.adam_beta2),
        fused=True if device is not None and device.type in ("cpu", "cuda") else None,
    )
    if not by_muon:
        return adamw
    muon = Muon(
        [{"params": groups["matrices"], "lr": config.muon_learning_rate, "role": "matrices"}],
        lr=config.muon_learning_rate,
        weight_decay=config.weight_decay,
    )
    return MuonWithAdamW(muon, adamw)


class MuonWithAdamW(torch.optim.Optimizer):
    """Two optimizers as one: Muon for some weights, AdamW for the others.

    The training loop, the learning-rate schedule, accelerate and the checkpoints each see
    one optimizer: ``param_groups`` lists both parts' groups (the very dicts the parts
    read, so the schedule sets their rates), ``step`` steps both, and the state dict holds
    both. Loading a state dict makes the parts build new group dicts, so the list is made
    again after every load.
    """

    def __init__(self, muon: Muon, adamw: torch.optim.AdamW) -> None:
        self.muon, self.adamw = muon, adamw
        super().__init__([*muon.param_groups, *adamw.param_groups], defaults={})
        self._share_groups()

    def _share_groups(self) -> None:
        self.param_groups = [*self.muon.param_groups, *self.adamw.param_groups]

    def step(self, closure: Any = None) -> Any:
        loss = self.muon.step(closure)  # the closure (if any) runs once, in Muon's step
        self.adamw.step()
        return loss

    def state_dict(self) -> dict[str, Any]:
        return {"muon": self.muon.state_dict(), "adamw": self.adamw.state_dict()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if set(state_dict) != {"muon", "adamw"}:
            raise ValueError(
                "this optimizer state is not Muon with AdamW (its keys: "
                f"{sorted(state_dict)}): it was saved by a run with another --optimizer."
            )
        self.muon.load_state_dict(state_dict["muon"])
        self.adamw.load_state_dict(state_dict["adamw"])
        self._share_groups()


def warmup_steps_for(config: TrainingConfig, total_steps: int) -> int:
    return int(round(config.warmup_fraction * total_steps))


def build_scheduler(
    optimizer: torch.optim.Optimizer, config: TrainingConfig, total_steps: int, scale: int = 1
) -> torch.optim.lr_scheduler.LRScheduler:
    """Linear warmup, then the configured decay, via ``transformers.get_scheduler``.

    ``scale`` is the number of processes: accelerate steps a prepared scheduler once per
    process for every optimizer step, so its step counts are multiplied by it.
    """
    from transformers import get_scheduler

    name = SCHEDULES[config.lr_schedule]
    extra = {"min_lr_rate": config.min_lr_ratio} if name == "cosine_with_min_lr" else None
    return get_scheduler(
        name,
        optimizer,
        num_warmup_steps=warmup_steps_for(config, total_steps) * scale,
        num_training_steps=total_steps * scale,
        scheduler_specific_kwargs=extra,
    )


def learning_rate_schedule(config: TrainingConfig, total_steps: int) -> list[float]:
    """The learning rate used at each of ``total_steps`` optimizer steps (for plots)."""
    if config.learning_rate is None:
        raise ValueError(
            "learning_rate is None (automatic): set it, e.g. "
            "replace(config, learning_rate=default_learning_rate(from_scratch=True))."
        )
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=config.learning_rate)
    scheduler = build_scheduler(optimizer, config, total_steps)
    rates = []
    for _ in range(total_steps):
        rates.append(scheduler.get_last_lr()[0])
        optimizer.step()
        scheduler.step()
    return rates


def retarget_scheduler(
    scheduler: Any, config: TrainingConfig, total_steps: int, scale: int = 1
) -> None:
    """Make ``scheduler`` (built by :func:`build_scheduler`, maybe wrapped by accelerate)
    end at ``total_steps`` from where it stands: what a time budget does once the step
    time is measured. The learning rates are set for the current step at once."""
    inner = getattr(scheduler, "scheduler", scheduler)
    probe = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    factor = build_scheduler(probe, config, total_steps, scale).lr_lambdas[0]
    groups = inner.optimizer.param_groups
    inner.lr_lambdas = [factor] * len(groups)
    for group in groups:
        group["lr"] = group["initial_lr"] * factor(inner.last_epoch)
    inner._last_lr = [group["lr"] for group in groups]
