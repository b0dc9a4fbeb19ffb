"""Containers and shape layers: ``Sequential``, ``Identity``, ``Flatten``."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Iterator

from fusegrad.autograd.tensor import Tensor
from fusegrad.nn import functional as F
from fusegrad.nn.activation import ReLU
from fusegrad.nn.linear import Linear
from fusegrad.nn.module import Module


class Sequential(Module):
    """Modules applied in order; built from positional modules or an OrderedDict of them.

    Children are named "0", "1", ... (or the dict's keys), so state-dict keys match PyTorch's.
    A ``Linear`` directly followed by a ``ReLU`` runs as one fused ``linear_relu`` (ReLU applied
    in the GEMM's store step); the values and gradients are the same as running them apart.
    """

    def __init__(self, *args: Any) -> None:
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for name, m in args[0].items():
                self.add_module(name, m)
        else:
            for i, m in enumerate(args):
                self.add_module(str(i), m)

    def forward(self, input: Any) -> Any:
        mods = list(self._modules.values())
        i = 0
        while i < len(mods):
            m = mods[i]
            # exact types only: a subclass may override forward
            if type(m) is Linear and i + 1 < len(mods) and type(mods[i + 1]) is ReLU:
                input = F.linear_relu(input, m.weight, m.bias)
                i += 2
                continue
            input = m(input)
            i += 1
        return input

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __getitem__(self, idx: int | slice) -> Any:
        items = list(self._modules.items())
        if isinstance(idx, slice):
            return Sequential(OrderedDict(items[idx]))
        n = len(items)
        if not -n <= idx < n:
            raise IndexError(f"index {idx} is out of range for a Sequential of length {n}")
        return items[idx % n][1]

    def append(self, module: Module) -> "Sequential":
        self.add_module(str(len(self)), module)
        return self


class Identity(Module):
    """Returns its input unchanged (arguments are accepted and ignored, as in PyTorch)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, input: Any) -> Any:
        return input


class Flatten(Module):
    """Flattens dims start_dim..end_dim (default: all but the batch dim)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input: Tensor) -> Tensor:
        return input.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


__all__ = ["Flatten", "Identity", "Sequential"]
