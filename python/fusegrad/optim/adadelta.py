"""Adadelta (torch.optim.Adadelta semantics: lr=1.0 scales the delta)."""

from __future__ import annotations

from typing import Any, Iterable

from fusegrad.optim.optimizer import Optimizer


class Adadelta(Optimizer):
    """Adadelta (Zeiler), PyTorch's variant.

    For each parameter p with gradient g::

        g     <- g + weight_decay * p
        sq    <- rho * sq + (1 - rho) * g^2
        delta  = sqrt(acc + eps) / sqrt(sq + eps) * g
        acc   <- rho * acc + (1 - rho) * delta^2
        p     <- p - lr * delta

    Args:
        params: Tensors or param-group dicts.
        lr: coefficient that scales delta (default 1.0).
        rho: running-average coefficient (default 0.9).
        eps: term added inside both square roots (default 1e-6).
        weight_decay: L2 penalty (default 0).
        maximize: maximize the objective.

    Raises:
        ValueError: lr, eps or weight_decay negative, or rho outside [0, 1].

    State per parameter: ``step``, ``square_avg``, ``acc_delta``.
    """

    def __init__(self, params: Iterable[Any], lr: float = 1.0, rho: float = 0.9,
                 eps: float = 1e-6, weight_decay: float = 0, *, maximize: bool = False) -> None:
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _init_state(self, p: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        xp = p.backend.xp
        state["step"] = 0.0
        state["square_avg"] = xp.zeros_like(p._data)
        state["acc_delta"] = xp.zeros_like(p._data)

    def _step_fused(self, group: dict[str, Any]) -> None:
        for bucket in self._buckets(self._active(group)):
            for _, _, st in bucket:
                st["step"] += 1
            bucket[0][0].backend.adadelta_step(
                [p._data for p, _, _ in bucket], [g for _, g, _ in bucket],
                [st["square_avg"] for _, _, st in bucket],
                [st["acc_delta"] for _, _, st in bucket], lr=group["lr"], rho=group["rho"],
                eps=group["eps"], weight_decay=group["weight_decay"],
                maximize=group["maximize"])

    def _step_reference(self, group: dict[str, Any]) -> None:
        lr, rho, eps, wd = group["lr"], group["rho"], group["eps"], group["weight_decay"]
        for p, g, state in self._active(group):
            x = p._data
            xp = p.backend.xp
            state["step"] += 1
            g = -g if group["maximize"] else g
            if wd != 0:
                g = g + wd * x
            sq, acc = state["square_avg"], state["acc_delta"]
            sq *= rho
            sq += (1 - rho) * g * g
            delta = xp.sqrt(acc + eps) / xp.sqrt(sq + eps) * g
            acc *= rho
            acc += (1 - rho) * delta * delta
            x += -lr * delta


__all__ = ["Adadelta"]
