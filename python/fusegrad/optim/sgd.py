"""SGD with momentum, dampening, Nesterov and weight decay (torch.optim.SGD semantics)."""

from __future__ import annotations

from typing import Any, Iterable

from fusegrad.optim.optimizer import Optimizer


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with (Nesterov) momentum.

    For each parameter p with gradient g (PyTorch's algorithm)::

        g <- -g                          if maximize
        g <- g + weight_decay * p        if weight_decay != 0
        if momentum != 0:
            b <- g                       on the first step (no dampening), else
            b <- momentum * b + (1 - dampening) * g
            g <- g + momentum * b        if nesterov, else g <- b
        p <- p - lr * g

    Args:
        params: Tensors or param-group dicts.
        lr: learning rate (PyTorch's default 1e-3).
        momentum: momentum factor (default 0).
        dampening: dampening for momentum (default 0).
        weight_decay: L2 penalty added to the gradient (default 0).
        nesterov: Nesterov momentum; needs momentum > 0 and dampening == 0.
        maximize: maximize the objective instead of minimizing it.

    Raises:
        ValueError: negative lr / momentum / weight_decay, or nesterov without momentum or
            with dampening.

    State per parameter: ``momentum_buffer`` (only when momentum != 0).
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, momentum: float = 0,
                 dampening: float = 0, weight_decay: float = 0, nesterov: bool = False, *,
                 maximize: bool = False) -> None:
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening,
                        weight_decay=weight_decay, nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)

    def _step_fused(self, group: dict[str, Any]) -> None:
        momentum = group["momentum"]
        for bucket in self._buckets(self._active(group)):
            first = [momentum != 0 and "momentum_buffer" not in st for _, _, st in bucket]
            if momentum != 0:
                for (p, _, st), f in zip(bucket, first):
                    if f:  # contents irrelevant: the kernel sets buf <- g on a first step
                        st["momentum_buffer"] = p.backend.xp.empty_like(p._data)
            bufs = [st["momentum_buffer"] for _, _, st in bucket] if momentum != 0 else None
            bucket[0][0].backend.sgd_step(
                [p._data for p, _, _ in bucket], [g for _, g, _ in bucket], bufs,
                lr=group["lr"], momentum=momentum, dampening=group["dampening"],
                weight_decay=group["weight_decay"], nesterov=group["nesterov"],
                maximize=group["maximize"], first_step=first)

    def _step_reference(self, group: dict[str, Any]) -> None:
        lr, momentum, dampening = group["lr"], group["momentum"], group["dampening"]
        wd, nesterov = group["weight_decay"], group["nesterov"]
        for p, g, state in self._active(group):
            x = p._data
            g = -g if group["maximize"] else g
            if wd != 0:
                g = g + wd * x
            if momentum != 0:
                buf = state.get("momentum_buffer")
                if buf is None:
                    buf = state["momentum_buffer"] = g.copy()
                else:
                    buf *= momentum
                    buf += (1 - dampening) * g
                g = g + momentum * buf if nesterov else buf
            x += -lr * g


__all__ = ["SGD"]
