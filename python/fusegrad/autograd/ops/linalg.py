"""Matrix products: ``matmul`` (2-D, batched, 1-D operands as NumPy) and Linear layers.

The GEMM kernels read transposed operands through strides, so the backward products
(gy·bᵀ, aᵀ·gy) are views, never copies.
"""

from __future__ import annotations

from typing import Any

from fusegrad.autograd.function import Function
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
