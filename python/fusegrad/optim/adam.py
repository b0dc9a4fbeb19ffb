"""Adam and AdamW (torch.optim.Adam / AdamW semantics, amsgrad included)."""

from __future__ import annotations

import math
from typing import Any, Iterable

from fusegrad.optim.optimizer import Optimizer


class Adam(Optimizer):
    """Adam, with L2 weight decay (or decoupled, see AdamW) and the AMSGrad variant.

    For each parameter p with gradient g, at its step t = 1, 2, ... (PyTorch's algorithm)::

        g <- g + weight_decay * p                    (Adam; AdamW: p <- p * (1 - lr * wd))
        m <- beta1 * m + (1 - beta1) * g
        v <- beta2 * v + (1 - beta2) * g^2
        v_max <- max(v_max, v), used in place of v   if amsgrad
        p <- p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

    eps is added to the bias-corrected sqrt(v-hat), outside the square root.

    Args:
        params: Tensors or param-group dicts.
        lr: learning rate (default 1e-3).
        betas: (beta1, beta2), default (0.9, 0.999).
        eps: term added to the denominator (default 1e-8).
        weight_decay: L2 penalty (default 0).
        amsgrad: use the maximum of past v (default False).
        maximize: maximize the objective.

    Raises:
        ValueError: a hyper-parameter out of range (lr, eps, weight_decay < 0; betas outside
            [0, 1)).

    State per parameter: ``step``, ``exp_avg``, ``exp_avg_sq``, ``max_exp_avg_sq`` (amsgrad).
    """

    _decoupled = False

    def __init__(self, params: Iterable[Any], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, amsgrad: bool = False, *,
                 maximize: bool = False) -> None:
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        amsgrad=amsgrad, maximize=maximize)
        super().__init__(params, defaults)

    def _init_state(self, p: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        xp = p.backend.xp
        state["step"] = 0.0
        state["exp_avg"] = xp.zeros_like(p._data)
        state["exp_avg_sq"] = xp.zeros_like(p._data)
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = xp.zeros_like(p._data)

    def _step_fused(self, group: dict[str, Any]) -> None:
        beta1, beta2 = group["betas"]
        amsgrad = group["amsgrad"]
        for bucket in self._buckets(self._active(group)):
            for p, _, st in bucket:
                st["step"] += 1
                if amsgrad and "max_exp_avg_sq" not in st:  # amsgrad switched on later
                    st["max_exp_avg_sq"] = p.backend.xp.zeros_like(p._data)
            bucket[0][0].backend.adam_step(
                [p._data for p, _, _ in bucket], [g for _, g, _ in bucket],
                [st["exp_avg"] for _, _, st in bucket], [st["exp_avg_sq"] for _, _, st in bucket],
                [st["max_exp_avg_sq"] for _, _, st in bucket] if amsgrad else None,
                step=[st["step"] for _, _, st in bucket], lr=group["lr"], beta1=beta1,
                beta2=beta2, eps=group["eps"], weight_decay=group["weight_decay"],
                amsgrad=amsgrad, decoupled=self._decoupled, maximize=group["maximize"])

    def _step_reference(self, group: dict[str, Any]) -> None:
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        wd, amsgrad = group["weight_decay"], group["amsgrad"]
        for p, g, state in self._active(group):
            x = p._data
            xp = p.backend.xp
            g = -g if group["maximize"] else g
            state["step"] += 1
            t = state["step"]
            if wd != 0:
                if self._decoupled:
                    x *= 1 - lr * wd
                else:
                    g = g + wd * x
            m, v = state["exp_avg"], state["exp_avg_sq"]
            m += (1 - beta1) * (g - m)
            v *= beta2
            v += (1 - beta2) * g * g
            bias_correction1 = 1 - beta1**t
            bias_correction2_sqrt = math.sqrt(1 - beta2**t)  # divided, as torch (fused: * 1/x)
            if amsgrad:
                if "max_exp_avg_sq" not in state:
                    state["max_exp_avg_sq"] = xp.zeros_like(x)
                xp.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
                v = state["max_exp_avg_sq"]
            denom = xp.sqrt(v) / bias_correction2_sqrt + eps
            x += -(lr / bias_correction1) * (m / denom)


class AdamW(Adam):
    """Adam with decoupled weight decay: ``p <- p * (1 - lr * weight_decay)`` before the Adam
    step (Loshchilov & Hutter). Same arguments as Adam; weight_decay defaults to 1e-2."""

    _decoupled = True

    def __init__(self, params: Iterable[Any], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize)


__all__ = ["Adam", "AdamW"]
