"""``nn.Linear``: y = x Wᵀ + b, with PyTorch's default initialisation."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from fusegrad.autograd.tensor import Tensor
from fusegrad.nn import functional as F
from fusegrad.nn import init
from fusegrad.nn.module import Module, Parameter


class Linear(Module):
    """Affine map y = x Wᵀ + b; W has shape (out_features, in_features).

    Init (PyTorch's): W ~ kaiming_uniform_(a=√5), i.e. U(-1/√in, 1/√in); b ~ U(-1/√in, 1/√in).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 device: str = "cpu", dtype: Any = None) -> None:
        super().__init__()
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        dt = np.dtype(np.float32 if dtype is None else dtype)
        self.weight = Parameter(Tensor(np.empty((out_features, in_features), dt), device=device))
        if bias:
            self.bias = Parameter(Tensor(np.empty(out_features, dt), device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.in_features
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor) -> Tensor:
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


__all__ = ["Linear"]
