"""Matrix products: ``matmul`` (2-D, batched, 1-D operands as NumPy) and Linear layers.

The GEMM kernels read transposed operands through strides, so the backward products
(gy·bᵀ, aᵀ·gy) are views, never copies.
"""

from __future__ import annotations

from typing import Any

from fusegrad.autograd.function import Function, wrap_out
from fusegrad.autograd.tensor import Tensor


class MatMul(Function):
    """y = a @ b (batch dims broadcast); ga = gy @ bᵀ, gb = aᵀ @ gy (summed over broadcast)."""

    @staticmethod
    def forward(ctx: Any, a: Any, b: Any) -> Any:
        ctx.save_for_backward(a, b)
        return ctx.backend.matmul(a, b)

    @staticmethod
    def backward(ctx: Any, gy: Any) -> Any:
        be = ctx.backend
        a, b = ctx.saved_tensors
        ga = be.matmul(gy, b.swapaxes(-1, -2)) if ctx.needs_input_grad[0] else None
        gb = be.matmul(a.swapaxes(-1, -2), gy) if ctx.needs_input_grad[1] else None
        return ga, gb


def matmul(a: Any, b: Any) -> Tensor:
    """Matrix product with NumPy's rules: 1-D operands are promoted, then the dim removed."""
    from fusegrad.autograd.ops.elementwise import _promote

    a, b = _promote(a, b)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: both arguments must be at least 1-D, got shapes {a.shape} "
                         f"and {b.shape}")
    if a.dtype.kind != "f":
        raise TypeError(f"matmul: expected floating point tensors, got {a.dtype}")
    ka = a.shape[-1]
    kb = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if ka != kb:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} cannot be multiplied "
                         f"({ka} != {kb})")
    squeeze_a, squeeze_b = a.ndim == 1, b.ndim == 1
    if squeeze_a:
        a = a.reshape(1, -1)
    if squeeze_b:
        b = b.reshape(-1, 1)
    y = MatMul.apply(a, b)
    if squeeze_a and squeeze_b:
        return y.reshape(())
    if squeeze_a:
        return y.squeeze(-2)
    if squeeze_b:
        return y.squeeze(-1)
    return y


class Linear(Function):
    """y = act(x Wᵀ + b), act = identity or ReLU, applied in the GEMM's store step.

    x: (N, in), weight W: (out, in), bias b: (out,) or None. With g = gy (masked by y > 0
    for ReLU, since y > 0 exactly where the pre-activation is > 0): gx = g W, gW = gᵀ x,
    gb = column sums of g. The products read W, gᵀ and x as views (no transposed copies).
    Saves x, W, and y for the ReLU variant.
    """

    @classmethod
    def apply(cls, x: Tensor, weight: Tensor, bias: Tensor | None,  # type: ignore[override]
              activation: str | None = None) -> Tensor:
        be = x._backend
        if weight._backend is not be or (bias is not None and bias._backend is not be):
            # two devices: the general path raises the error
            return Function.apply.__func__(cls, x, weight, bias, activation=activation)
        xd, wd = x._data, weight._data
        y = be.linear_forward(xd, wd, None if bias is None else bias._data, activation)
        needs = (x.requires_grad, weight.requires_grad, bias is not None and bias.requires_grad)
        t, ctx = wrap_out(cls, (x, weight, bias), needs, y)
        if ctx is not None:
            ctx.relu = relu = activation == "relu"
            ctx.saved_tensors = (xd, wd, y if relu else None)
        return t

    @staticmethod
    def forward(ctx: Any, x: Any, weight: Any, bias: Any, *, activation: str | None = None) -> Any:
        y = ctx.backend.linear_forward(x, weight, bias, activation)
        ctx.relu = activation == "relu"
        ctx.save_for_backward(x, weight, y if ctx.relu else None)
        return y

    @staticmethod
    def backward(ctx: Any, gy: Any) -> Any:
        be = ctx.backend
        x, weight, y = ctx.saved_tensors
        if ctx.relu:
            gy = be.unary_backward("relu", y, y, gy)
        need_x, need_w, need_b = ctx.needs_input_grad
        gx = be.matmul(gy, weight) if need_x else None
        gw = be.matmul(gy.T, x) if need_w else None
        gb = be.bias_grad(gy) if need_b else None
        return gx, gw, gb


def _linear(x: Any, weight: Any, bias: Any, activation: str | None) -> Tensor:
    if weight.ndim != 2 or x.ndim == 0 or x.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear: input of shape {tuple(x.shape)} does not match weight of shape "
                         f"{tuple(weight.shape)} (expected (*, {weight.shape[-1]}) and (out, in))")
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise ValueError(f"linear: bias has shape {tuple(bias.shape)}, expected "
                         f"({weight.shape[0]},)")
    if x.ndim == 2:
        return Linear.apply(x, weight, bias, activation=activation)
    # (*, in) inputs as PyTorch: flatten the leading dims into rows (a view), restore after.
    lead = tuple(x.shape[:-1])
    y = Linear.apply(x.reshape(-1, x.shape[-1]), weight, bias, activation=activation)
    return y.reshape(*lead, weight.shape[0])


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y = x Wᵀ + b (PyTorch's ``F.linear``), bias added in the GEMM's store step."""
    return _linear(x, weight, bias, None)


def linear_relu(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """relu(x Wᵀ + b) in one GEMM pass; equal to ``relu(linear(x, weight, bias))``."""
    return _linear(x, weight, bias, "relu")
