"""nn.utils: gradient clipping over a list of parameters, one fused pass each
(``clip_grad_norm_``: one pass for the total norm, one for the scaling)."""

from __future__ import annotations

import math
from typing import Any, Iterable

import numpy as np

from fusegrad.autograd.tensor import Tensor


def _grads(parameters: Iterable[Tensor] | Tensor) -> list[Tensor]:
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


def _buckets(grads: list[Tensor]) -> list[list[Any]]:
    """Grad arrays grouped by (device, dtype): one kernel call per bucket."""
    out: dict[tuple, list] = {}
    for g in grads:
        out.setdefault((g.device, g._data.dtype), []).append(g)
    return list(out.values())


def clip_grad_norm_(parameters: Iterable[Tensor] | Tensor, max_norm: float,
                    norm_type: float = 2.0, error_if_nonfinite: bool = False,
                    foreach: Any = None) -> Tensor:
    """Scale all gradients together so that their total norm is at most ``max_norm``.

    total = (sum over all grads of sum |g|^p)^(1/p) (max |g| for p = inf), computed in one
    pass (accumulated in double); every grad is then multiplied by
    min(1, max_norm / (total + 1e-6)), as PyTorch does (also when that factor is 1).

    Args:
        parameters: Tensors (or one Tensor) whose ``.grad`` is clipped; None grads are skipped.
        max_norm: the largest allowed total norm.
        norm_type: p of the p-norm; ``float("inf")`` for the max norm.
        error_if_nonfinite: raise if the total norm is nan or inf.
        foreach: accepted for PyTorch compatibility; ignored (always fused).

    Returns:
        The total norm before clipping, as a 0-d Tensor (dtype of the grads).

    Raises:
        RuntimeError: the total norm is non-finite and ``error_if_nonfinite`` is set.
    """
    grads = _grads(parameters)
    norm_type = float(norm_type)
    if not grads:
        return Tensor(0.0)
    dtype = np.result_type(*[g._data.dtype for g in grads])
    parts = [float(b[0].backend.grad_norm([g._data for g in b], norm_type))
             for b in _buckets(grads)]
    if math.isinf(norm_type):
        total = max(parts)
    else:
        total = sum(x**norm_type for x in parts) ** (1.0 / norm_type) if len(parts) > 1 \
            else parts[0]
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from "
                           "`parameters` is non-finite, so it cannot be clipped. To disable "
                           "this error and scale the gradients by the non-finite norm anyway, "
                           "set `error_if_nonfinite=False`")
    # PyTorch rounds the norm and the coefficient to the grads' dtype before scaling.
    total_t = dtype.type(total)
    coef = min(dtype.type(max_norm) / (total_t + dtype.type(1e-6)), dtype.type(1.0))
    for b in _buckets(grads):
        b[0].backend.scale_([g._data for g in b], float(coef))
    return Tensor._make(np.asarray(total_t, dtype=dtype), grads[0].device)


def clip_grad_value_(parameters: Iterable[Tensor] | Tensor, clip_value: float,
                     foreach: Any = None) -> None:
    """Clamp every gradient element to [-clip_value, clip_value] in place, one pass.

    Args:
        parameters: Tensors (or one Tensor) whose ``.grad`` is clipped; None grads are skipped.
        clip_value: the bound (positive).
        foreach: accepted for PyTorch compatibility; ignored.
    """
    clip_value = float(clip_value)
    for b in _buckets(_grads(parameters)):
        b[0].backend.clamp_([g._data for g in b], -clip_value, clip_value)


__all__ = ["clip_grad_norm_", "clip_grad_value_"]
