"""Adagrad (torch.optim.Adagrad semantics: lr_decay, initial_accumulator_value)."""

from __future__ import annotations

from typing import Any, Iterable

from fusegrad.optim.optimizer import Optimizer


class Adagrad(Optimizer):
    """Adagrad (Duchi et al.), PyTorch's variant.

    For each parameter p with gradient g, at its step t = 1, 2, ...::

        g   <- g + weight_decay * p
        clr  = lr / (1 + (t - 1) * lr_decay)
        sum <- sum + g^2                          (sum starts at initial_accumulator_value)
        p   <- p - clr * g / (sqrt(sum) + eps)

    Args:
        params: Tensors or param-group dicts.
        lr: learning rate (default 1e-2).
        lr_decay: learning-rate decay (default 0).
        weight_decay: L2 penalty (default 0).
        initial_accumulator_value: starting value of ``sum`` (default 0).
        eps: term added to the denominator (default 1e-10).
        maximize: maximize the objective.

    Raises:
        ValueError: a negative hyper-parameter.

    State per parameter (created at construction, as PyTorch): ``step``, ``sum``.
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, lr_decay: float = 0,
                 weight_decay: float = 0, initial_accumulator_value: float = 0,
                 eps: float = 1e-10, *, maximize: bool = False) -> None:
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= lr_decay:
            raise ValueError(f"Invalid lr_decay value: {lr_decay}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= initial_accumulator_value:
            raise ValueError(f"Invalid initial_accumulator_value value: "
                             f"{initial_accumulator_value}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, maximize=maximize)
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                self.state[p] = {}
                self._init_state(p, self.state[p], group)

    def _init_state(self, p: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        state["step"] = 0.0
        state["sum"] = p.backend.xp.full_like(p._data, group["initial_accumulator_value"])

    def _step_fused(self, group: dict[str, Any]) -> None:
        for bucket in self._buckets(self._active(group)):
            for _, _, st in bucket:
                st["step"] += 1
            bucket[0][0].backend.adagrad_step(
                [p._data for p, _, _ in bucket], [g for _, g, _ in bucket],
                [st["sum"] for _, _, st in bucket], step=[st["step"] for _, _, st in bucket],
                lr=group["lr"], lr_decay=group["lr_decay"], eps=group["eps"],
                weight_decay=group["weight_decay"], maximize=group["maximize"])

    def _step_reference(self, group: dict[str, Any]) -> None:
        lr, lr_decay, eps, wd = group["lr"], group["lr_decay"], group["eps"], group["weight_decay"]
        for p, g, state in self._active(group):
            x = p._data
            xp = p.backend.xp
            state["step"] += 1
            g = -g if group["maximize"] else g
            if wd != 0:
                g = g + wd * x
            clr = lr / (1 + (state["step"] - 1) * lr_decay)
            s = state["sum"]
            s += g * g
            x += -clr * (g / (xp.sqrt(s) + eps))


__all__ = ["Adagrad"]
