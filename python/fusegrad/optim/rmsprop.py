"""RMSprop (torch.optim.RMSprop semantics: centered and momentum variants)."""

from __future__ import annotations

from typing import Any, Iterable

from fusegrad.optim.optimizer import Optimizer


class RMSprop(Optimizer):
    """RMSprop (Hinton), PyTorch's variant.

    For each parameter p with gradient g::

        g  <- g + weight_decay * p
        sq <- alpha * sq + (1 - alpha) * g^2                 (sq starts at 0, not at g^2)
        centered: ga <- alpha * ga + (1 - alpha) * g,  avg = sqrt(sq - ga^2) + eps
        else:     avg = sqrt(sq) + eps                        (eps outside the sqrt)
        momentum > 0: b <- momentum * b + g / avg,  p <- p - lr * b
        else:         p <- p - lr * g / avg

    Args:
        params: Tensors or param-group dicts.
        lr: learning rate (default 1e-2).
        alpha: smoothing constant (default 0.99).
        eps: term added to the denominator (default 1e-8).
        weight_decay: L2 penalty (default 0).
        momentum: momentum factor (default 0).
        centered: normalise by an estimate of the gradient's variance.
        maximize: maximize the objective.

    Raises:
        ValueError: a negative hyper-parameter.

    State per parameter: ``step``, ``square_avg``, ``momentum_buffer`` (momentum > 0),
    ``grad_avg`` (centered).
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, alpha: float = 0.99,
                 eps: float = 1e-8, weight_decay: float = 0, momentum: float = 0,
                 centered: bool = False, *, maximize: bool = False) -> None:
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= momentum:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= alpha:
            raise ValueError(f"Invalid alpha value: {alpha}")
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                        momentum=momentum, centered=centered, maximize=maximize)
        super().__init__(params, defaults)

    def _init_state(self, p: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        xp = p.backend.xp
        state["step"] = 0.0
        state["square_avg"] = xp.zeros_like(p._data)
        if group["momentum"] > 0:
            state["momentum_buffer"] = xp.zeros_like(p._data)
        if group["centered"]:
            state["grad_avg"] = xp.zeros_like(p._data)

    def _ensure(self, p: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        """Buffers for options switched on after the state was created (PyTorch does too)."""
        if group["momentum"] > 0 and "momentum_buffer" not in state:
            state["momentum_buffer"] = p.backend.xp.zeros_like(p._data)
        if group["centered"] and "grad_avg" not in state:
            state["grad_avg"] = p.backend.xp.zeros_like(p._data)

    def _step_fused(self, group: dict[str, Any]) -> None:
        centered, momentum = group["centered"], group["momentum"]
        for bucket in self._buckets(self._active(group)):
            for p, _, st in bucket:
                st["step"] += 1
                self._ensure(p, st, group)
            bucket[0][0].backend.rmsprop_step(
                [p._data for p, _, _ in bucket], [g for _, g, _ in bucket],
                [st["square_avg"] for _, _, st in bucket],
                [st["grad_avg"] for _, _, st in bucket] if centered else None,
                [st["momentum_buffer"] for _, _, st in bucket] if momentum > 0 else None,
                lr=group["lr"], alpha=group["alpha"], eps=group["eps"],
                weight_decay=group["weight_decay"], momentum=momentum, centered=centered,
                maximize=group["maximize"])

    def _step_reference(self, group: dict[str, Any]) -> None:
        lr, alpha, eps = group["lr"], group["alpha"], group["eps"]
        wd, momentum, centered = group["weight_decay"], group["momentum"], group["centered"]
        for p, g, state in self._active(group):
            x = p._data
            xp = p.backend.xp
            self._ensure(p, state, group)
            state["step"] += 1
            g = -g if group["maximize"] else g
            if wd != 0:
                g = g + wd * x
            sq = state["square_avg"]
            sq *= alpha
            sq += (1 - alpha) * g * g
            if centered:
                ga = state["grad_avg"]
                ga += (1 - alpha) * (g - ga)
                avg = xp.sqrt(sq - ga * ga) + eps
            else:
                avg = xp.sqrt(sq) + eps
            if momentum > 0:
                buf = state["momentum_buffer"]
                buf *= momentum
                buf += g / avg
                x += -lr * buf
            else:
                x += -lr * (g / avg)


__all__ = ["RMSprop"]
