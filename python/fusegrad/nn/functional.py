"""``nn.functional``: re-exports of the op wrappers in ``autograd/ops`` (PyTorch's names)."""

from __future__ import annotations

from fusegrad.autograd.ops.elementwise import leaky_relu, relu, sigmoid, tanh
from fusegrad.autograd.ops.loss import (
    binary_cross_entropy_with_logits,
    cross_entropy,
    log_softmax,
    mse_loss,
    nll_loss,
    one_hot,
    softmax,
)
from fusegrad.autograd.ops.norm import batch_norm
from fusegrad.autograd.ops.random import dropout
from fusegrad.autograd.tensor import Tensor

try:  # the fused GEMM Linear (bias and ReLU in the GEMM's store step)
    from fusegrad.autograd.ops.linalg import linear
except ImportError:  # pragma: no cover - older tree without the fused Linear

    def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
        """y = input @ weightᵀ + bias."""
        from fusegrad.autograd.ops.linalg import matmul

        y = matmul(input, weight.transpose(0, 1))
        return y if bias is None else y + bias

try:
    from fusegrad.autograd.ops.linalg import linear_relu
except ImportError:  # pragma: no cover

    def linear_relu(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
        """relu(linear(input, weight, bias))."""
        return relu(linear(input, weight, bias))


__all__ = [
    "batch_norm", "binary_cross_entropy_with_logits", "cross_entropy", "dropout", "leaky_relu",
    "linear", "linear_relu", "log_softmax", "mse_loss", "nll_loss", "one_hot", "relu", "sigmoid",
    "softmax", "tanh",
]
