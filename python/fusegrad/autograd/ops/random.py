"""Random ops: inverted dropout, its mask drawn by a fused counter-based (Philox) kernel seeded
from fusegrad's global generator, so ``fg.manual_seed`` makes runs reproducible."""

from __future__ import annotations

from typing import Any

from fusegrad import random as _random
from fusegrad.autograd.function import Function
from fusegrad.autograd.tensor import Tensor


class Dropout(Function):
    """y = x·mask/(1-p), mask_i = (u_i >= p) with u_i = Philox(seed, i); gx = gy·mask/(1-p).

    Saves the boolean mask only.
    """

    @staticmethod
    def forward(ctx: Any, x: Any, *, p: float, seed: int) -> Any:
        y, mask = ctx.backend.dropout_forward(x, p, seed, 0)
        ctx.save_for_backward(mask)
        ctx.p = p
        return y

    @staticmethod
    def backward(ctx: Any, gy: Any) -> Any:
        (mask,) = ctx.saved_tensors
        return ctx.backend.dropout_backward(gy, mask, ctx.p)


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Inverted dropout (``torch.nn.functional.dropout``): identity when not training or p = 0.

    Raises:
        ValueError: p outside [0, 1].
    """
    p = float(p)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    if input.dtype.kind != "f":
        raise TypeError(f"dropout: expected a floating point input, got {input.dtype}")
    return Dropout.apply(input, p=p, seed=_random.next_seed())


__all__ = ["Dropout", "dropout"]
