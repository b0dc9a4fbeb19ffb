"""fusegrad: a small, fast deep-learning engine (public API re-exports only)."""

from fusegrad import cuda
from fusegrad.autograd import Tensor, enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from fusegrad.autograd.creation import (
    arange,
    empty,
    from_numpy,
    full,
    ones,
    ones_like,
    rand,
    randn,
    tensor,
    zeros,
    zeros_like,
)
from fusegrad.autograd.ops.elementwise import (
    abs,
    clamp,
    exp,
    log,
    maximum,
    minimum,
    sigmoid,
    sqrt,
    tanh,
    where,
)
from fusegrad.autograd.ops.linalg import matmul
from fusegrad.autograd.ops.reduce import argmax, argmin, max, mean, min, sum, var
from fusegrad.autograd.ops.shape import cat, stack
from fusegrad.autograd.tensor import bool_, float32, float64, int64
from fusegrad.random import manual_seed
from fusegrad import autograd  # noqa: E402  (fg.autograd.gradcheck / grad / Function)
from fusegrad import analysis, data, nn, optim, profiler, train  # noqa: E402


def set_num_threads(n: int) -> None:
    """Threads used by the CPU kernels (default: OMP_NUM_THREADS, else all cores)."""
    from fusegrad._ext import _C

    _C.set_num_threads(int(n))


def get_num_threads() -> int:
    """Threads the CPU kernels use."""
    from fusegrad._ext import _C

    return int(_C.get_num_threads())


__version__ = "0.1.0"

__all__ = [
    "Tensor", "abs", "analysis", "arange", "argmax", "argmin", "autograd", "data", "nn", "optim",
    "profiler", "train", "bool_", "cat", "clamp", "cuda",
    "empty", "enable_grad", "exp", "float32", "float64", "from_numpy", "full",
    "get_num_threads", "int64", "is_grad_enabled", "log", "manual_seed", "matmul", "max",
    "maximum", "mean", "min", "minimum", "no_grad", "ones", "ones_like", "rand", "randn",
    "set_grad_enabled", "set_num_threads", "sigmoid", "sqrt", "stack", "sum", "tanh", "tensor",
    "var", "where", "zeros", "zeros_like",
]
