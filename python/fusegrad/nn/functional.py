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

# The fused GEMM Linear: bias (and ReLU) applied in the GEMM's store step.
from fusegrad.autograd.ops.linalg import linear, linear_relu  # noqa: E402


__all__ = [
    "batch_norm", "binary_cross_entropy_with_logits", "cross_entropy", "dropout", "leaky_relu",
    "linear", "linear_relu", "log_softmax", "mse_loss", "nll_loss", "one_hot", "relu", "sigmoid",
    "softmax", "tanh",
]
