"""Model builders used by the training command, the search and the benchmarks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["INITS", "mlp"]

INITS = ("default", "he", "xavier")


def mlp(sizes: Sequence[int], batchnorm: bool = False, dropout: float = 0.0,
        init: str = "default", activation: str = "relu") -> Any:
    """A multilayer perceptron: ``Linear -> [BatchNorm1d] -> act -> [Dropout]`` per hidden layer,
    then a final ``Linear`` producing the logits.

    Args:
        sizes: widths, input first and outputs last, e.g. ``(64, 128, 128, 10)``.
        batchnorm: a ``BatchNorm1d`` after every hidden ``Linear`` (before the activation).
        dropout: probability of an ``nn.Dropout`` after every hidden activation (0: none).
        init: ``"default"`` (PyTorch's ``nn.Linear`` init), ``"he"`` (``kaiming_normal_``
            for ReLU, zero biases) or ``"xavier"`` (``xavier_uniform_``, zero biases).
        activation: ``"relu"``, ``"tanh"``, ``"sigmoid"`` or ``"leaky_relu"``.

    Returns:
        An ``nn.Sequential``.

    Raises:
        ValueError: fewer than two sizes, a non-positive size, dropout outside [0, 1),
            an unknown ``init`` or ``activation``.
    """
    from fusegrad import nn

    sizes = [int(s) for s in sizes]
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"mlp needs at least two positive sizes, got {sizes}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    if init not in INITS:
        raise ValueError(f"init must be one of {', '.join(INITS)}, got {init!r}")
    acts = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "leaky_relu": nn.LeakyReLU}
    if activation not in acts:
        raise ValueError(f"activation must be one of {', '.join(acts)}, got {activation!r}")
    layers: list[Any] = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        linear = nn.Linear(fan_in, fan_out)
        if init == "he":
            nn.init.kaiming_normal_(linear.weight, nonlinearity="relu")
            nn.init.zeros_(linear.bias)
        elif init == "xavier":
            nn.init.xavier_uniform_(linear.weight)
            nn.init.zeros_(linear.bias)
        layers.append(linear)
        if i < len(sizes) - 2:
            if batchnorm:
                layers.append(nn.BatchNorm1d(fan_out))
            layers.append(acts[activation]())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)
