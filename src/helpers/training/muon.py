"""Muon: a weight matrix moves along its gradient's momentum, orthogonalised.

For a weight matrix ``W`` with gradient ``G``, Muon keeps a momentum ``M <- mu M + (1 - mu) G``
and, with Nesterov's look-ahead, steps along ``(1 - mu) G + mu M``. Before the step it
replaces that matrix, ``U S V^T`` in its singular value decomposition, by about ``U V^T``:
every singular value pushed towards 1. Adam scales each weight on its own, so its step
mostly follows the few directions in which the gradient is large; Muon's moves the
matrix about as far along every direction. Five Newton-Schulz iterations compute the
orthogonalisation with matrix products only (a quintic whose coefficients were chosen
for speed: the singular values end between about 0.7 and 1.2, not at exactly 1).

This is the algorithm of ``torch.optim.Muon`` (``tests/test_muon.py`` checks that both
take the same step), written out for two reasons. torch's iterations always run in
bfloat16, which a CPU without AVX512-BF16 or AMX computes slowly: with AVX2 kernels, a
step over the offline model's eight matrices took 207 ms in bfloat16 and 10 ms in
float32 (``benchmarks/muon_step.py``). Here they run in bfloat16 only where the hardware
computes it natively (``helpers.environment.bf16_supported``), else in float32. And a
torch older than 2.9, which has no Muon, runs it too.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor

from helpers.environment import bf16_supported

NEWTON_SCHULZ_COEFFICIENTS = (3.4445, -4.7750, 2.0315)


def orthogonalise(matrix: Tensor, steps: int = 5, dtype: torch.dtype = torch.float32) -> Tensor:
    """About ``U V^T`` for ``matrix = U S V^T``, by ``steps`` Newton-Schulz iterations in ``dtype``.

    Each iteration maps every singular value ``s`` to ``a s + b s^3 + c s^5``, which pulls
    values in (0, 1] towards 1; dividing by the Frobenius norm first puts them all there.
    A tall matrix is turned on its side so that the Gram matrix ``X X^T`` is the small one.
    """
    a, b, c = NEWTON_SCHULZ_COEFFICIENTS
    x = matrix.to(dtype)
    tall = x.size(0) > x.size(1)
    if tall:
        x = x.T
    x = x / x.norm().clamp(min=1e-7)
    for _ in range(steps):
        gram = x @ x.T
        polynomial = torch.addmm(gram, gram, gram, beta=b, alpha=c)  # b G + c G^2
        x = torch.addmm(x, polynomial, x, beta=a)  # a X + (b G + c G^2) X
    return x.T if tall else x


class Muon(torch.optim.Optimizer):
    """Muon for 2-D weights: momentum, orthogonalised, scaled by ``sqrt(max(1, rows/cols))``.

    ``weight_decay`` shrinks each weight by ``lr x weight_decay`` per step, as AdamW does.
    ``fast_bf16`` chooses the iterations' number format: ``None`` asks the hardware.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 0.02,
        momentum: float = 0.95,
        weight_decay: float = 0.0,
        nesterov: bool = True,
        ns_steps: int = 5,
        fast_bf16: bool | None = None,
    ) -> None:
        if not (lr >= 0 and 0 <= momentum < 1 and weight_decay >= 0 and ns_steps >= 1):
            raise ValueError(
                f"Muon needs lr >= 0, 0 <= momentum < 1, weight_decay >= 0 and ns_steps >= 1; "
                f"got {lr}, {momentum}, {weight_decay} and {ns_steps}."
            )
        defaults = dict(
            lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov,
            ns_steps=ns_steps,
        )  # fmt: skip
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                if p.dim() != 2:
                    raise ValueError(
                        f"Muon moves weight matrices only; a parameter has shape "
                        f"{tuple(p.shape)}: give biases, norms and embeddings to AdamW."
                    )
        self.fast_bf16 = fast_bf16
        self._dtypes: dict[torch.device, torch.dtype] = {}

    def _dtype(self, device: torch.device) -> torch.dtype:
        if device not in self._dtypes:
            fast = self.fast_bf16 if self.fast_bf16 is not None else bf16_supported(device)
            self._dtypes[device] = torch.bfloat16 if fast else torch.float32
        return self._dtypes[device]

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, momentum = group["lr"], group["momentum"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(p.grad)
                buffer = state["momentum_buffer"]
                buffer.lerp_(p.grad, 1 - momentum)
                direction = p.grad.lerp(buffer, momentum) if group["nesterov"] else buffer
                update = orthogonalise(direction, group["ns_steps"], self._dtype(p.device))
                p.mul_(1 - lr * group["weight_decay"])
                scale = math.sqrt(max(1.0, p.size(0) / p.size(1)))
                p.add_(update.to(p.dtype), alpha=-lr * scale)
        return loss
