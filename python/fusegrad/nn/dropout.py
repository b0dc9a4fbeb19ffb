"""``nn.Dropout``: inverted dropout in training, identity in eval."""

from __future__ import annotations

from fusegrad.autograd.tensor import Tensor
from fusegrad.nn import functional as F
from fusegrad.nn.module import Module


class Dropout(Module):
    """Zeroes each element with probability p and scales the rest by 1/(1-p) while training.

    The mask comes from a counter-based generator seeded from fusegrad's global generator,
    so ``fg.manual_seed`` makes it reproducible.
    """

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = float(p)
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.dropout(input, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


__all__ = ["Dropout"]
