"""Softmax family and losses: each a single fused backend call forward and one backward.

Math in ``csrc/math/loss.h``. Reductions follow PyTorch: "mean" divides by the number of
elements (MSE, BCE) or by Σ w[y_i] over the rows that are not ignored (cross-entropy, NLL).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fusegrad.autograd.function import Function
from fusegrad.autograd.tensor import Tensor

_REDUCTIONS = ("mean", "sum", "none")


# ---- softmax / log-softmax ----------------------------------------------------------------
class _SoftmaxBase(Function):
    """Along ``dim``: the axis is moved last (a view), the kernel runs on rows, then moved back."""

    log = False

    @staticmethod
    def forward(ctx: Any, x: Any, *, dim: int) -> Any:
        xp = ctx.backend.xp
        xl = xp.moveaxis(x, dim, -1)
        f = ctx.backend.log_softmax_forward if ctx.log else ctx.backend.softmax_forward
        y = f(xl)
        ctx.save_for_backward(y)
        ctx.dim = dim
        return xp.moveaxis(y, -1, dim)

    @staticmethod
    def backward(ctx: Any, gy: Any) -> Any:
        xp = ctx.backend.xp
        (y,) = ctx.saved_tensors
        gl = xp.moveaxis(gy, ctx.dim, -1)
        f = ctx.backend.log_softmax_backward if ctx.log else ctx.backend.softmax_backward
        return xp.moveaxis(f(y, gl), -1, ctx.dim)


class Softmax(_SoftmaxBase):
    """y = exp(x - max)/Σexp(x - max); gx = y·(gy - Σ gy·y). Saves y."""


class LogSoftmax(_SoftmaxBase):
    """y = x - logsumexp(x) (max subtracted first); gx = gy - softmax·Σ gy. Saves y."""

    log = True


def _softmax_dim(ndim: int, dim: int | None) -> int:
    if dim is None:  # PyTorch's legacy implicit choice
        dim = 0 if ndim in (0, 1, 3) else 1
    if not -max(ndim, 1) <= dim < max(ndim, 1):
        raise IndexError(f"Dimension out of range (expected to be in range of "
                         f"[{-max(ndim, 1)}, {max(ndim, 1) - 1}], but got {dim})")
    return dim % max(ndim, 1)


def _softmax_apply(cls: Any, input: Tensor, dim: int | None) -> Tensor:
    if input.dtype.kind != "f":
        raise TypeError(f"{cls.__name__.lower()}: expected a floating point input, got "
                        f"{input.dtype}")
    d = _softmax_dim(input.ndim, dim)
    if input.ndim == 0:
        return cls.apply(input.reshape(1), dim=0).reshape(())
    return cls.apply(input, dim=d)


def softmax(input: Tensor, dim: int | None = None) -> Tensor:
    """Softmax along ``dim`` (``torch.nn.functional.softmax``)."""
    return _softmax_apply(Softmax, input, dim)


def log_softmax(input: Tensor, dim: int | None = None) -> Tensor:
    """Log-softmax along ``dim``, computed stably (``torch.nn.functional.log_softmax``)."""
    return _softmax_apply(LogSoftmax, input, dim)


# ---- classification losses ------------------------------------------------------------------
class SoftmaxCrossEntropy(Function):
    """Fused log-softmax + NLL over (N, C) logits and int64 labels (PyTorch's cross_entropy).

    Row loss (ε = label_smoothing, w = class weights or ones, W = Σw):
        l_i = (1-ε)·w_y·(lse_i - z_iy) + (ε/C)·(W·lse_i - Σ_c w_c·z_ic),  0 if y = ignore_index.
    Gradient: g_i·(a_i·softmax_i - (ε/C)·w - onehot_i·(1-ε)·w_y), a_i = (1-ε)·w_y + (ε/C)·W,
    g_i the upstream grad (divided by Σ w_y over kept rows for "mean").
    Saves logits, labels, weight, the per-row log-sum-exp and the total weight.
    """

    @staticmethod
    def forward(ctx: Any, logits: Any, labels: Any, weight: Any, *, ignore_index: int,
                label_smoothing: float, reduction: str) -> Any:
        loss, lse, total = ctx.backend.softmax_cross_entropy_forward(
            logits, labels, weight, ignore_index=ignore_index, label_smoothing=label_smoothing,
            reduction=reduction)
        ctx.save_for_backward(logits, labels, weight, lse, total)
        ctx.params = (ignore_index, label_smoothing, reduction)
        return loss

    @staticmethod
    def backward(ctx: Any, gy: Any) -> Any:
        logits, labels, weight, lse, total = ctx.saved_tensors
        ignore_index, label_smoothing, reduction = ctx.params
        gx = ctx.backend.softmax_cross_entropy_backward(
            logits, labels, weight, lse, total, gy, ignore_index=ignore_index,
            label_smoothing=label_smoothing, reduction=reduction)
        return gx, None, None


class NLLLoss(Function):
    """l_i = -w_y·x_iy over (N, C) log-probabilities; gx_iy = -w_y·g_i, 0 elsewhere.

    Saves labels, weight and the total weight (plus x's shape and dtype).
    """

    @staticmethod
    def forward(ctx: Any, x: Any, labels: Any, weight: Any, *, ignore_index: int,
                reduction: str) -> Any:
        loss, total = ctx.backend.nll_loss_forward(x, labels, weight, ignore_index=ignore_index,
                                                   reduction=reduction)
        ctx.save_for_backward(labels, weight, total)
        ctx.params = (x.shape, x.dtype, ignore_index, reduction)
        return loss

    @staticmethod
    def backward(ctx: Any, gy: Any) -> Any:
        labels, weight, total = ctx.saved_tensors
        shape, dtype, ignore_index, reduction = ctx.params
        gx = ctx.backend.nll_loss_backward(labels, weight, total, gy, shape=shape, dtype=dtype,
                                           ignore_index=ignore_index, reduction=reduction)
        return gx, None, None


def _check_reduction(reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{reduction!r} is not a valid value for reduction: expected 'mean', "
                         "'sum' or 'none'")


def _labels_tensor(target: Any, like: Tensor, what: str) -> Tensor:
    """int64 label Tensor on like's device; TypeError for float labels."""
    if not isinstance(target, Tensor):
        arr = np.asarray(target)
        if arr.dtype.kind in "iu":
            arr = arr.astype(np.int64)
        target = Tensor(arr, device=like.device)
    if target.dtype.kind == "f":
        raise TypeError(f"{what}: expected int64 class indices as target, got {target.dtype} "
                        "(class probabilities are not supported)")
    if target.dtype.kind not in "iu":
        raise TypeError(f"{what}: expected int64 class indices as target, got {target.dtype}")
    if target.dtype != np.int64:
        target = target.to(np.dtype(np.int64))
    return target


def _class_rows(input: Tensor, target: Tensor, what: str) -> tuple[Tensor, Tensor, Any]:
    """(N, C) rows and (N,) labels from PyTorch's layouts: (C,) with a 0-d target, (N, C), or
    (N, C, d1, ...) with an (N, d1, ...) target; plus the shape of an unreduced loss."""
    if input.ndim == 1:
        if target.ndim != 0:
            raise ValueError(f"{what}: 1-D input of shape {input.shape} needs a 0-d target, got "
                             f"shape {target.shape}")
        return input.reshape(1, -1), target.reshape(1), ()
    if input.ndim < 1:
        raise ValueError(f"{what}: expected input of at least 1 dim, got shape {input.shape}")
    want = (input.shape[0],) + input.shape[2:]
    if tuple(target.shape) != want:
        raise ValueError(f"{what}: expected target of shape {want} for input of shape "
                         f"{input.shape}, got {target.shape}")
    if input.ndim == 2:
        return input, target, want
    c = input.shape[1]
    perm = (0,) + tuple(range(2, input.ndim)) + (1,)
    return input.permute(*perm).reshape(-1, c), target.reshape(-1), want


def _class_weight(weight: Tensor | None, input: Tensor, what: str) -> Tensor | None:
    if weight is None:
        return None
    c = input.shape[1] if input.ndim >= 2 else input.shape[0]
    if tuple(weight.shape) != (c,):
        raise ValueError(f"{what}: weight has shape {tuple(weight.shape)}, expected ({c},)")
    return weight.to(input.dtype)


def cross_entropy(input: Tensor, target: Any, weight: Tensor | None = None,
                  ignore_index: int = -100, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """Softmax cross-entropy with integer class labels (``torch.nn.functional.cross_entropy``).

    One fused kernel forward (stable log-sum-exp) and one backward (softmax - one-hot).

    Raises:
        TypeError: float (probability) targets or a non-float input.
        IndexError: a label outside [0, C) that is not ignore_index.
        ValueError: shape mismatch, bad reduction or label_smoothing outside [0, 1].
    """
    _check_reduction(reduction)
    if input.dtype.kind != "f":
        raise TypeError(f"cross_entropy: expected a floating point input, got {input.dtype}")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be between 0.0 and 1.0, got {label_smoothing}")
    target = _labels_tensor(target, input, "cross_entropy")
    w = _class_weight(weight, input, "cross_entropy")
    rows, labels, out_shape = _class_rows(input, target, "cross_entropy")
    loss = SoftmaxCrossEntropy.apply(rows, labels, w, ignore_index=int(ignore_index),
                                     label_smoothing=float(label_smoothing), reduction=reduction)
    return loss.reshape(out_shape) if reduction == "none" else loss


def nll_loss(input: Tensor, target: Any, weight: Tensor | None = None, ignore_index: int = -100,
             reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of log-probabilities (``torch.nn.functional.nll_loss``).

    Raises:
        TypeError: float targets; IndexError: labels out of range; ValueError: shapes.
    """
    _check_reduction(reduction)
    if input.dtype.kind != "f":
        raise TypeError(f"nll_loss: expected a floating point input, got {input.dtype}")
    target = _labels_tensor(target, input, "nll_loss")
    w = _class_weight(weight, input, "nll_loss")
    rows, labels, out_shape = _class_rows(input, target, "nll_loss")
    loss = NLLLoss.apply(rows, labels, w, ignore_index=int(ignore_index), reduction=reduction)
    return loss.reshape(out_shape) if reduction == "none" else loss


# ---- regression / binary losses ---------------------------------------------------------------
class MSELoss(Function):
    """l = (x - t)²; gx = 2(x - t)·g, gt = -gx. Saves x and t."""

    @staticmethod
    def forward(ctx: Any, x: Any, t: Any, *, reduction: str) -> Any:
        ctx.save_for_backward(x, t)
        ctx.reduction = reduction
        return ctx.backend.mse_loss_forward(x, t, reduction=reduction)

    @staticmethod
    def backward(ctx: Any, gy: Any) -> Any:
        x, t = ctx.saved_tensors
        gx, gt = ctx.backend.mse_loss_backward(x, t, gy, reduction=ctx.reduction,
                                               need_target=ctx.needs_input_grad[1])
        return (gx if ctx.needs_input_grad[0] else None), gt


class BCEWithLogits(Function):
    """l = (1-t)·z + c·softplus(-z), c = 1 + (pos_weight - 1)·t, computed stably;
    gz = g·((1-t) - c·sigmoid(-z)). Saves z, t and pos_weight (at z's shape)."""

    @staticmethod
    def forward(ctx: Any, z: Any, t: Any, pos_weight: Any, *, reduction: str) -> Any:
        ctx.save_for_backward(z, t, pos_weight)
        ctx.reduction = reduction
        return ctx.backend.bce_with_logits_forward(z, t, pos_weight, reduction=reduction)

    @staticmethod
    def backward(ctx: Any, gy: Any) -> Any:
        z, t, pos_weight = ctx.saved_tensors
        gz = ctx.backend.bce_with_logits_backward(z, t, pos_weight, gy, reduction=ctx.reduction)
        return gz, None, None


def _same_shape_target(input: Tensor, target: Any, what: str) -> Tensor:
    if not isinstance(target, Tensor):
        target = Tensor(np.asarray(target, dtype=input.dtype), device=input.device)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"{what}: target shape {tuple(target.shape)} must be the same as input "
                         f"shape {tuple(input.shape)}")
    if input.dtype.kind != "f":
        raise TypeError(f"{what}: expected a floating point input, got {input.dtype}")
    return target if target.dtype == input.dtype else target.to(input.dtype)


def mse_loss(input: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """Mean squared error (``torch.nn.functional.mse_loss``); shapes must match."""
    _check_reduction(reduction)
    target = _same_shape_target(input, target, "mse_loss")
    return MSELoss.apply(input, target, reduction=reduction)


def binary_cross_entropy_with_logits(input: Tensor, target: Any, weight: Tensor | None = None,
                                     reduction: str = "mean",
                                     pos_weight: Tensor | None = None) -> Tensor:
    """Sigmoid + binary cross-entropy in one stable kernel
    (``torch.nn.functional.binary_cross_entropy_with_logits``).

    ``weight`` (broadcast to the input) rescales each element's loss; ``pos_weight``
    (broadcast along the last axis, e.g. shape (C,)) weights the positive term.
    The target gets no gradient.
    """
    _check_reduction(reduction)
    target = _same_shape_target(input, target, "binary_cross_entropy_with_logits")
    if target.requires_grad:
        raise NotImplementedError("binary_cross_entropy_with_logits: gradients with respect to "
                                  "the target are not supported")
    pw = None
    if pos_weight is not None:
        xp = input.backend.xp
        try:
            arr = xp.broadcast_to(pos_weight._data.astype(input.dtype, copy=False), input.shape)
        except ValueError:
            raise ValueError(f"binary_cross_entropy_with_logits: pos_weight of shape "
                             f"{tuple(pos_weight.shape)} cannot broadcast to {input.shape}") from None
        pw = Tensor._make(xp.ascontiguousarray(arr), input.device)
    if weight is None:
        return BCEWithLogits.apply(input, target, pw, reduction=reduction)
    from fusegrad.autograd.ops import elementwise as ew
    from fusegrad.autograd.ops import reduce as rd

    loss = ew.mul(BCEWithLogits.apply(input, target, pw, reduction="none"), weight.to(input.dtype))
    if reduction == "none":
        return loss
    total = rd.sum(loss)
    return total if reduction == "sum" else ew.div(total, float(max(loss._data.size, 1)))


def one_hot(tensor: Any, num_classes: int = -1) -> Tensor:
    """int64 one-hot encoding with a trailing class axis (``torch.nn.functional.one_hot``).

    Raises:
        TypeError: non-integer input; IndexError: a value outside [0, num_classes).
    """
    if not isinstance(tensor, Tensor):
        tensor = Tensor(np.asarray(tensor))
    if tensor.dtype.kind not in "iu":
        raise TypeError(f"one_hot is only applicable to index tensors, got {tensor.dtype}")
    xp = tensor.backend.xp
    idx = tensor._data.astype(np.int64)
    if num_classes < 0:
        num_classes = int(idx.max()) + 1 if idx.size else 0
    if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= num_classes):
        raise IndexError(f"one_hot: class values must be in [0, {num_classes}), got min "
                         f"{int(idx.min())} and max {int(idx.max())}")
    out = (idx[..., None] == xp.arange(num_classes)).astype(np.int64)
    return Tensor._make(out, tensor.device)


__all__ = [
    "BCEWithLogits", "LogSoftmax", "MSELoss", "NLLLoss", "Softmax", "SoftmaxCrossEntropy",
    "binary_cross_entropy_with_logits", "cross_entropy", "log_softmax", "mse_loss", "nll_loss",
    "one_hot", "softmax",
]
