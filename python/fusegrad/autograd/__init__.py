"""Reverse-mode autograd: Tensor, Function, the backward sweep, grad mode, gradcheck."""

# tensor first: it imports the op modules, which import function (which needs Tensor).
from fusegrad.autograd.tensor import Tensor  # noqa: I001
from fusegrad.autograd.function import UserFunction as Function
from fusegrad.autograd.gradcheck import GradcheckError, grad, gradcheck
from fusegrad.autograd.grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled

__all__ = [
    "Function",
    "GradcheckError",
    "Tensor",
    "enable_grad",
    "grad",
    "gradcheck",
    "is_grad_enabled",
    "no_grad",
    "set_grad_enabled",
]
