"""Reductions: sum, mean, max/min (all elements or along a dim, with indices), argmax, var.

Forward calls the backend reduction kernels (accumulating in acc_t). Backward broadcasts the
gradient back over the reduced axes; conventions at ties follow API.md: max/min over all
elements split the gradient evenly between tied elements, max/min along a dim send it to
the returned index.
"""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np

from fusegrad.autograd.function import Function, wrap_one
from fusegrad.autograd.tensor import Tensor


def _norm_axes(dim: Any, ndim: int) -> tuple[int, ...] | None:
    """Validated, non-negative, sorted reduction axes (None = all)."""
    if dim is None:
        return None
    dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
    out = []
    for d in dims:
        d = int(d)
        n = builtins.max(ndim, 1)
        if not -n <= d < n:
            raise IndexError(
                f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {d})"
            )
        out.append(d % n)
    if len(set(out)) != len(out):
        raise ValueError(f"dim {dims} appears multiple times in the list of dims")
    return tuple(sorted(out)) if ndim else None


def _keepdim_shape(shape: tuple, axes: tuple | None) -> tuple:
    if axes is None:
        return (1,) * len(shape)
    return tuple(1 if i in axes else s for i, s in enumerate(shape))


def _count(shape: tuple, axes: tuple | None) -> int:
    if axes is None:
        return int(np.prod(shape, dtype=np.int64))
    return int(np.prod([shape[i] for i in axes], dtype=np.int64))


def _expand_grad(xp: Any, gy: Any, shape: tuple, axes: tuple | None) -> Any:
    """gy (reduced shape) viewed with keepdim and broadcast to ``shape`` (a zero-copy view)."""
    return xp.broadcast_to(gy.reshape(_keepdim_shape(shape, axes)), shape)


class Sum(Function):
    """y = sum of x over axes; gx = gy broadcast over the reduced axes."""

    @classmethod
    def apply(cls, x: Tensor, axes: Any = None, keepdim: bool = False) -> Tensor:  # type: ignore[override]
        # forward inlined: a loss's final sum is on every graph's path (see wrap_one)
        xd = x._data
        t, ctx = wrap_one(cls, x, x._backend.reduce("sum", xd, axes, keepdim))
        if ctx is not None:
            ctx.shape, ctx.axes = xd.shape, axes
        return t

    @staticmethod
    def forward(ctx: Any, x: Any, axes: Any = None, keepdim: bool = False) -> Any:
        ctx.shape, ctx.axes = x.shape, axes
        return ctx.backend.reduce("sum", x, axes, keepdim)

    @staticmethod
    def backward(ctx: Any, gy: Any) -> Any:
        xp = ctx.backend.xp
        gx = xp.empty(ctx.shape, gy.dtype)
        if gy.ndim == 0 and xp is np:
            gx.fill(gy)  # the full sum: gy is one value (NumPy's cheapest broadcast copy)
        else:
            gx[...] = gy.reshape(_keepdim_shape(ctx.shape, ctx.axes))  # a broadcast copy
        return gx


class Mean(Function):
    """y = sum(x) / n over axes; gx = gy / n broadcast over the reduced axes."""

    @staticmethod
    def forward(ctx: Any, x: Any, axes: Any = None, keepdim: bool = False) -> Any:
        ctx.shape, ctx.axes = x.shape, axes
        return ctx.backend.reduce("mean", x, axes, keepdim)

    @staticmethod
    def backward(ctx: Any, gy: Any) -> Any:
        be = ctx.backend
        n = builtins.max(_count(ctx.shape, ctx.axes), 1)
        scale = be.asarray(1.0 / n, gy.dtype)
        return be.binary_forward("mul", _expand_grad(be.xp, gy, ctx.shape, ctx.axes), scale)


class MaxAll(Function):
    """y = max (or min) of all elements; gx = gy / k on each of the k tied extrema, 0 elsewhere."""

    @staticmethod
    def forward(ctx: Any, x: Any, op: str = "max") -> Any:
        if x.size == 0:
            raise RuntimeError(f"{op}(): expected a non-empty tensor (got shape {x.shape})")
        y = ctx.backend.reduce(op, x, None, False)
        ctx.save_for_backward(x, y)
        return y

    @staticmethod
    def backward(ctx: Any, gy: Any) -> Any:
        be = ctx.backend
        x, y = ctx.saved_tensors
        mask = be.compare("eq", x, y).astype(x.dtype)
        share = be.binary_forward("div", gy, be.reduce("sum", mask, None, False))
        return be.binary_forward("mul", mask, share)


class MaxDim(Function):
    """(values, indices) of max (or min) along one dim; the gradient goes to the index."""

    @staticmethod
    def forward(ctx: Any, x: Any, op: str = "max", axis: int = 0, keepdim: bool = False) -> Any:
        values, indices = ctx.backend.reduce_with_index(op, x, axis, keepdim)
        ctx.mark_non_differentiable(indices)
        ctx.save_for_backward(indices)
        ctx.shape, ctx.axis, ctx.keepdim = x.shape, axis, keepdim
        return values, indices

    @staticmethod
    def backward(ctx: Any, gy: Any, g_indices: Any) -> Any:
        xp = ctx.backend.xp
        (indices,) = ctx.saved_tensors
        if not ctx.keepdim:
            gy = xp.expand_dims(gy, ctx.axis)
            indices = xp.expand_dims(indices, ctx.axis)
        gx = xp.zeros(ctx.shape, dtype=gy.dtype)
        xp.put_along_axis(gx, indices, gy, axis=ctx.axis)
        return gx


class Var(Function):
    """y = sum((x - mean)^2) / (n - correction); gx = gy * 2 (x - mean) / (n - correction)."""

    @staticmethod
    def forward(ctx: Any, x: Any, axes: Any = None, correction: int = 1,
                keepdim: bool = False) -> Any:
        ctx.save_for_backward(x)
        ctx.axes, ctx.correction = axes, correction
        return ctx.backend.var(x, axes, correction, keepdim)

    @staticmethod
    def backward(ctx: Any, gy: Any) -> Any:
        be = ctx.backend
        (x,) = ctx.saved_tensors
        n = _count(x.shape, ctx.axes)
        mean = be.reduce("mean", x, ctx.axes, True)
        centred = be.binary_forward("sub", x, mean)
        g = be.binary_forward("mul", centred, _expand_grad(be.xp, gy, x.shape, ctx.axes))
        dof = n - ctx.correction
        scale = be.asarray(2.0 / dof if dof > 0 else np.nan, x.dtype)
        return be.binary_forward("mul", g, scale)


def _need_float(x: Tensor, what: str) -> None:
    if x.dtype.kind != "f":
        raise TypeError(f"{what}: expected a floating point tensor, got dtype {x.dtype}")


def sum(x: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:  # noqa: A001
    axes = _norm_axes(dim, x.ndim)
    if x.dtype.kind != "f":
        return Tensor._make(x._backend.xp.sum(x._data, axis=axes, keepdims=keepdim), x.device)
    return Sum.apply(x, axes=axes, keepdim=keepdim)


def mean(x: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    _need_float(x, "mean")
    return Mean.apply(x, axes=_norm_axes(dim, x.ndim), keepdim=keepdim)


def _extremum(op: str, x: Tensor, dim: Any, keepdim: bool) -> Any:
    if dim is None:
        if x.dtype.kind != "f":
            return Tensor._make(getattr(x._backend.xp, op)(x._data), x.device)
        return MaxAll.apply(x, op=op)
    (axis,) = _norm_axes(dim, x.ndim) or (0,)
    if x.dtype.kind != "f":
        xp = x._backend.xp
        idx = getattr(xp, "arg" + op)(x._data, axis=axis, keepdims=keepdim)
        vals = getattr(xp, op)(x._data, axis=axis, keepdims=keepdim)
        return Tensor._make(vals, x.device), Tensor._make(idx, x.device)
    return MaxDim.apply(x, op=op, axis=axis, keepdim=keepdim)


def max(x: Tensor, dim: int | None = None, keepdim: bool = False) -> Any:  # noqa: A001
    """Max of all elements (a 0-d Tensor), or ``(values, indices)`` along ``dim``."""
    return _extremum("max", x, dim, keepdim)


def min(x: Tensor, dim: int | None = None, keepdim: bool = False) -> Any:  # noqa: A001
    """Min of all elements (a 0-d Tensor), or ``(values, indices)`` along ``dim``."""
    return _extremum("min", x, dim, keepdim)


def _arg(op: str, x: Tensor, dim: int | None, keepdim: bool) -> Tensor:
    if dim is None:
        flat = x.reshape(-1)
        out = _arg(op, flat, 0, False)
        return out.reshape((1,) * x.ndim) if keepdim else out
    return _extremum(op, x.detach(), dim, keepdim)[1]


def argmax(x: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    return _arg("max", x, dim, keepdim)


def argmin(x: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    return _arg("min", x, dim, keepdim)


def var(x: Tensor, dim: Any = None, unbiased: bool = True, keepdim: bool = False,
        correction: int | None = None) -> Tensor:
    """Variance over ``dim`` (all when None); ``unbiased`` divides by n - 1 (Bessel)."""
    _need_float(x, "var")
    corr = (1 if unbiased else 0) if correction is None else int(correction)
    return Var.apply(x, axes=_norm_axes(dim, x.ndim), correction=corr, keepdim=keepdim)
