"""Batch normalisation: one fused backend call forward (statistics, normalise, affine,
running stats) and one backward (Σdy, Σdy·x̂, dx, dγ, dβ); math in ``csrc/math/norm.h``."""

from __future__ import annotations

from typing import Any

from fusegrad.autograd.function import Function
from fusegrad.autograd.tensor import Tensor


class BatchNorm(Function):
    """y = (x - mean)·invstd·γ + β per channel of an (N, C, L) array.

    batch_stats: mean / biased var of the batch (PyTorch training mode); the running stats,
    when given as raw arrays, are updated in place with r = (1-f)·r + f·stat (unbiased var).
    Otherwise the running stats normalise. Backward (batch stats, m = N·L per channel):
    dx = γ·invstd·(dy - Σdy/m - x̂·Σ(dy·x̂)/m), dγ = Σ dy·x̂, dβ = Σ dy; with running stats
    dx = γ·invstd·dy. Saves x, γ, the batch mean and invstd.
    """

    @staticmethod
    def forward(ctx: Any, x: Any, weight: Any, bias: Any, *, running_mean: Any,
                running_var: Any, batch_stats: bool, momentum_factor: float,
                eps: float) -> Any:
        y, save_mean, save_invstd = ctx.backend.batch_norm_forward(
            x, weight, bias, running_mean, running_var, batch_stats=batch_stats,
            momentum_factor=momentum_factor, eps=eps)
        ctx.save_for_backward(x, weight, save_mean, save_invstd)
        ctx.batch_stats = batch_stats
        return y

    @staticmethod
    def backward(ctx: Any, gy: Any) -> Any:
        x, weight, save_mean, save_invstd = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad
        gx, gw, gb = ctx.backend.batch_norm_backward(
            x, gy, weight, save_mean, save_invstd, batch_stats=ctx.batch_stats,
            need_input=need_x, need_params=need_w or need_b)
        return gx, (gw if need_w else None), (gb if need_b else None)


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
               weight: Tensor | None = None, bias: Tensor | None = None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """``torch.nn.functional.batch_norm`` on (N, C) or (N, C, *) input.

    training=True normalises with batch statistics and updates the running stats in place
    (``momentum`` is the factor f: r = (1-f)·r + f·stat). training=False normalises with the
    running stats, which must then be given.

    Raises:
        ValueError: input of fewer than 2 dims, channel-count mismatch, a single value per
            channel in training, or missing running stats in evaluation.
    """
    # NOTE: a hot path (one call per BatchNorm layer and step): checks read the arrays'
    # shapes directly instead of going through Tensor properties.
    data = input._data
    shape = data.shape
    if len(shape) < 2:
        raise ValueError(f"batch_norm: expected input of at least 2 dims (N, C, ...), got shape "
                         f"{tuple(shape)}")
    if data.dtype.kind != "f":
        raise TypeError(f"batch_norm: expected a floating point input, got {data.dtype}")
    c = shape[1]
    for name, t in (("weight", weight), ("bias", bias), ("running_mean", running_mean),
                    ("running_var", running_var)):
        if t is not None and t._data.shape != (c,):
            raise ValueError(f"batch_norm: {name} has shape {tuple(t._data.shape)} but the "
                             f"input has {c} channels (shape {tuple(shape)})")
    if training and (data.size // c if c else 0) <= 1:
        raise ValueError("Expected more than 1 value per channel when training, got input size "
                         f"{tuple(shape)}")
    if not training and (running_mean is None or running_var is None):
        raise ValueError("batch_norm: running_mean and running_var are required when "
                         "training=False")
    x = input if len(shape) in (2, 3) else input.reshape(shape[0], c, -1)
    y = BatchNorm.apply(
        x, weight, bias,
        running_mean=None if running_mean is None else running_mean._data,
        running_var=None if running_var is None else running_var._data,
        batch_stats=bool(training), momentum_factor=float(momentum), eps=float(eps))
    return y if len(shape) in (2, 3) else y.reshape(tuple(shape))


__all__ = ["BatchNorm", "batch_norm"]
