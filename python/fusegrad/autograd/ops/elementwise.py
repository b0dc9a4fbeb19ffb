"""Elementwise ops: the unary and binary X-lists of ``csrc/math``, comparisons, ``where``.

Each op is one ``Function`` whose backward is one fused backend call (``unary_backward`` /
``binary_backward``); the math lives in ``csrc/math/unary.h`` and ``binary.h``. Binary ops
broadcast like NumPy; the graph sums gradients back to each input's shape.

Type rules (PyTorch's): a Python scalar takes the tensor's dtype; float32 with float64
gives float64; an integer tensor with a float tensor gives the float dtype. Integer-only
arithmetic (labels, indices) is not differentiable and runs on the array library.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fusegrad.autograd import grad_mode
from fusegrad.autograd.function import Function, wrap_one
from fusegrad.autograd.graph import next_seq
from fusegrad.autograd.tensor import Tensor

_INF = float("inf")
_new = object.__new__
_GRAD_ENABLED = grad_mode._enabled


# ---- unary ------------------------------------------------------------------------------
class _UnaryOp(Function):
    """y = op(x; a, b). Saves x and y; gx = unary_backward(op, x, y, gy) in one fused pass."""

    op = ""
    a = 0.0
    b = 0.0

    @classmethod
    def apply(cls, x: Tensor, a: float = 0.0, b: float = 0.0) -> Tensor:  # type: ignore[override]
        """``Function.apply`` with forward inlined (elementwise ops are most ops of a small
        model: the autograd overhead budget of a few us per op is spent here)."""
        xd = x._data
        y = x._backend.unary_forward(cls.op, xd, a, b)
        t, ctx = wrap_one(cls, x, y)
        if ctx is not None:
            ctx.saved_tensors, ctx.a, ctx.b = (xd, y), a, b
        return t

    @staticmethod
    def forward(ctx: Any, x: Any, a: float = 0.0, b: float = 0.0) -> Any:
        y = ctx.backend.unary_forward(ctx.op, x, a, b)
        ctx.saved_tensors = (x, y)
        if a or b:
            ctx.a = a
            ctx.b = b
        return y

    @staticmethod
    def backward(ctx: Any, gy: Any) -> Any:
        x, y = ctx.saved_tensors
        return ctx.backend.unary_backward(ctx.op, x, y, gy, ctx.a, ctx.b)


class Neg(_UnaryOp):
    """y = -x; gx = -gy."""

    op = "neg"


class Exp(_UnaryOp):
    """y = e^x; gx = gy * y."""

    op = "exp"


class Log(_UnaryOp):
    """y = ln x; gx = gy / x."""

    op = "log"


class Sqrt(_UnaryOp):
    """y = sqrt(x); gx = gy / (2 y)."""

    op = "sqrt"


class Abs(_UnaryOp):
    """y = |x|; gx = gy * sign(x), 0 at x = 0."""

    op = "abs"


class Tanh(_UnaryOp):
    """y = tanh x; gx = gy * (1 - y^2)."""

    op = "tanh"


class Sigmoid(_UnaryOp):
    """y = 1 / (1 + e^-x), stable for large |x|; gx = gy * y (1 - y)."""

    op = "sigmoid"


class Relu(_UnaryOp):
    """y = max(x, 0); gx = gy where x > 0 (relu'(0) = 0)."""

    op = "relu"


class LeakyRelu(_UnaryOp):
    """y = x if x > 0 else a x; gx = gy if x > 0 else a gy."""

    op = "leaky_relu"


class Clamp(_UnaryOp):
    """y = min(max(x, a), b); gx = gy where a <= x <= b."""

    op = "clamp"


class PowScalar(_UnaryOp):
    """y = x^a for a scalar exponent a; gx = gy * a x^(a-1)."""

    op = "pow"


def _float_tensor(x: Any) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"expected a Tensor, got {type(x).__name__}")
    if x.dtype.kind != "f":
        raise TypeError(f"expected a floating point tensor, got dtype {x.dtype}")
    return x


def neg(x: Tensor) -> Tensor:
    if x.dtype.kind != "f":
        return Tensor._make(-x._data, x.device)
    return Neg.apply(x)


def exp(x: Tensor) -> Tensor:
    return Exp.apply(_float_tensor(x))


def log(x: Tensor) -> Tensor:
    return Log.apply(_float_tensor(x))


def sqrt(x: Tensor) -> Tensor:
    return Sqrt.apply(_float_tensor(x))


def abs(x: Tensor) -> Tensor:  # noqa: A001 - PyTorch's name
    return Abs.apply(_float_tensor(x))


def tanh(x: Tensor) -> Tensor:
    return Tanh.apply(_float_tensor(x))


def sigmoid(x: Tensor) -> Tensor:
    return Sigmoid.apply(_float_tensor(x))


def relu(x: Tensor) -> Tensor:
    return Relu.apply(_float_tensor(x))


def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    return LeakyRelu.apply(_float_tensor(x), a=float(negative_slope))


def clamp(x: Tensor, min: float | None = None, max: float | None = None) -> Tensor:  # noqa: A002
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    lo = -_INF if min is None else float(min)
    hi = _INF if max is None else float(max)
    return Clamp.apply(_float_tensor(x), a=lo, b=hi)


# ---- binary -----------------------------------------------------------------------------
class _BinaryOp(Function):
    """y = op(a, b) with broadcasting; (ga, gb) = binary_backward(op, ...) in one pass."""

    op = ""

    @classmethod
    def apply(cls, a: Tensor, b: Tensor) -> Tensor:  # type: ignore[override]
        """``Function.apply`` for two Tensors of one device in, one out, forward inlined."""
        be = a._backend
        if b._backend is not be:  # two devices: the general path raises the error
            return Function.apply.__func__(cls, a, b)  # type: ignore[attr-defined]
        ad, bd = a._data, b._data
        y = be.binary_forward(cls.op, ad, bd)
        # wrap_out inlined: the extra frame costs ~6% of a chain of binary ops
        t = _new(Tensor)
        t._data, t.device, t._backend, t.grad, t._out_idx = y, a.device, be, None, 0
        ra, rb = a.requires_grad, b.requires_grad
        if (ra or rb) and _GRAD_ENABLED[0]:
            ctx = _new(cls)
            ctx.backend, ctx.inputs, ctx.needs_input_grad = be, (a, b), (ra, rb)
            ctx.saved_tensors, ctx._seq = (ad, bd, y), next_seq()
            t.requires_grad, t.grad_fn = True, ctx
        else:
            t.requires_grad, t.grad_fn = False, None
        return t

    @staticmethod
    def forward(ctx: Any, a: Any, b: Any) -> Any:
        y = ctx.backend.binary_forward(ctx.op, a, b)
        ctx.saved_tensors = (a, b, y)
        return y

    @staticmethod
    def backward(ctx: Any, gy: Any) -> Any:
        a, b, y = ctx.saved_tensors
        need = ctx.needs_input_grad
        return ctx.backend.binary_backward(ctx.op, a, b, y, gy, need[0], need[1])


class Add(_BinaryOp):
    """y = a + b; ga = gy, gb = gy (no kernel needed: the gradient passes through)."""

    op = "add"

    @staticmethod
    def forward(ctx: Any, a: Any, b: Any) -> Any:
        return ctx.backend.binary_forward("add", a, b)

    @staticmethod
    def backward(ctx: Any, gy: Any) -> Any:
        return gy, gy


class Sub(_BinaryOp):
    """y = a - b; ga = gy, gb = -gy."""

    op = "sub"

    @staticmethod
    def forward(ctx: Any, a: Any, b: Any) -> Any:
        return ctx.backend.binary_forward("sub", a, b)

    @staticmethod
    def backward(ctx: Any, gy: Any) -> Any:
        gb = ctx.backend.unary_forward("neg", gy) if ctx.needs_input_grad[1] else None
        return gy, gb


class Mul(_BinaryOp):
    """y = a b; ga = gy b, gb = gy a."""

    op = "mul"


class Div(_BinaryOp):
    """y = a / b; ga = gy / b, gb = -gy a / b^2."""

    op = "div"


class Pow(_BinaryOp):
    """y = a^b; ga = gy b a^(b-1), gb = gy y ln a."""

    op = "pow"


class Maximum(_BinaryOp):
    """y = max(a, b); the gradient goes to the larger input, split evenly at ties."""

    op = "maximum"


class Minimum(_BinaryOp):
    """y = min(a, b); the gradient goes to the smaller input, split evenly at ties."""

    op = "minimum"


def _promote(a: Any, b: Any) -> tuple[Tensor, Tensor]:
    """Both operands as Tensors of one dtype and device (PyTorch's promotion rules)."""
    if not isinstance(a, Tensor):
        if not isinstance(b, Tensor):
            raise TypeError("expected at least one Tensor operand")
        return _scalar_like(a, b), b
    if not isinstance(b, Tensor):
        return a, _scalar_like(b, a)
    if a.device != b.device:
        raise RuntimeError(
            f"expected all tensors on the same device, got {a.device} and {b.device}"
        )
    da, db = a.dtype, b.dtype
    if da == db:
        return a, b
    if da.kind == "f" and db.kind == "f":
        target = np.dtype("float64")
    elif da.kind == "f":
        target = da
    elif db.kind == "f":
        target = db
    else:
        target = np.result_type(da, db)
    return a.to(target), b.to(target)


# 0-d Tensors for Python-number operands, by (value, dtype, backend), reused across calls:
# kernels never write their inputs and these never require grad, and building a fresh one
# per op was a visible part of the per-op overhead. Zeros and nan are not cached (0.0 and
# -0.0 are equal keys; nan never equals itself).
_SCALARS: dict = {}


def _cached_scalar(x: float | int, dt: np.dtype, like: Tensor) -> Tensor:
    """``x`` as a 0-d Tensor of dtype ``dt`` on ``like``'s device."""
    key = (x, dt, like._backend)
    t = _SCALARS.get(key)
    if t is None:
        t = Tensor._make(like._backend.asarray(x, dt), like.device, like._backend)
        if x == x and x != 0:
            if len(_SCALARS) > 4096:
                _SCALARS.clear()
            _SCALARS[key] = t
    return t


def _scalar_like(x: Any, like: Tensor) -> Tensor:
    """A Python scalar / array operand as a Tensor on ``like``'s device, keeping like's dtype."""
    dt = like._data.dtype
    if type(x) in (float, int):
        if type(x) is float and dt.kind != "f":
            dt = np.dtype("float32")
        return _cached_scalar(x, dt, like)
    if isinstance(x, (float, np.floating)) and dt.kind != "f":
        dt = np.dtype("float32")
    elif isinstance(x, np.ndarray) and x.dtype.kind == "f" and dt.kind == "f" and x.ndim > 0:
        dt = np.result_type(x.dtype, dt)
    return Tensor._make(like._backend.asarray(x, dt), like.device, like._backend)


def _binary(cls: Any, a: Any, b: Any) -> Tensor:
    if isinstance(a, Tensor):  # the common cases first: float Tensor with Tensor or number
        da = a._data.dtype
        if da.kind == "f":
            if isinstance(b, Tensor):
                if da is b._data.dtype:
                    return cls.apply(a, b)
            elif type(b) is float or type(b) is int:
                return cls.apply(a, _cached_scalar(b, da, a))
    a, b = _promote(a, b)
    if a._data.dtype.kind != "f":  # integer arithmetic: labels and indices, no gradient
        ufunc = {"add": "add", "sub": "subtract", "mul": "multiply", "div": "true_divide",
                 "pow": "power", "maximum": "maximum", "minimum": "minimum"}[cls.op]
        xp = a._backend.xp
        return Tensor._make(getattr(xp, ufunc)(a._data, b._data), a.device)
    return cls.apply(a, b)


def add(a: Any, b: Any) -> Tensor:
    return _binary(Add, a, b)


def sub(a: Any, b: Any) -> Tensor:
    return _binary(Sub, a, b)


def mul(a: Any, b: Any) -> Tensor:
    return _binary(Mul, a, b)


def div(a: Any, b: Any) -> Tensor:
    a, b = _promote(a, b)
    if a.dtype.kind != "f":  # true division of integers gives float32, as in PyTorch
        a, b = a.to(np.float32), b.to(np.float32)
    return Div.apply(a, b)


def pow(a: Any, b: Any) -> Tensor:  # noqa: A001 - PyTorch's name
    if isinstance(a, Tensor) and not isinstance(b, Tensor) and np.ndim(b) == 0:
        if a.dtype.kind != "f":
            return Tensor._make(a._backend.xp.power(a._data, b), a.device)
        return PowScalar.apply(a, a=float(b))
    return _binary(Pow, a, b)


def maximum(a: Any, b: Any) -> Tensor:
    return _binary(Maximum, a, b)


def minimum(a: Any, b: Any) -> Tensor:
    return _binary(Minimum, a, b)


def compare(name: str, a: Any, b: Any) -> Tensor:
    """eq/ne/lt/le/gt/ge with broadcasting: a bool Tensor outside the graph."""
    a, b = _promote(a, b)
    if a.dtype.kind != "f":
        ufunc = {"eq": "equal", "ne": "not_equal", "lt": "less", "le": "less_equal",
                 "gt": "greater", "ge": "greater_equal"}[name]
        return Tensor._make(getattr(a._backend.xp, ufunc)(a._data, b._data), a.device)
    return Tensor._make(a._backend.compare(name, a._data, b._data), a.device)


# ---- where ------------------------------------------------------------------------------
class Where(Function):
    """y = a where cond else b (selection, no arithmetic); ga = gy where cond, gb = gy elsewhere."""

    @staticmethod
    def forward(ctx: Any, a: Any, b: Any, cond: Any = None) -> Any:
        ctx.cond = cond
        return ctx.backend.xp.where(cond, a, b)

    @staticmethod
    def backward(ctx: Any, gy: Any) -> Any:
        xp = ctx.backend.xp
        zero = xp.zeros((), dtype=gy.dtype)
        ga = xp.where(ctx.cond, gy, zero) if ctx.needs_input_grad[0] else None
        gb = xp.where(ctx.cond, zero, gy) if ctx.needs_input_grad[1] else None
        return ga, gb


def where(cond: Any, a: Any, b: Any) -> Tensor:
    """Elements of ``a`` where ``cond`` is true, else of ``b`` (all broadcast together)."""
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        a, b = _promote(a, b)
    else:
        raise TypeError("where: expected a or b to be a Tensor")
    c = cond._data if isinstance(cond, Tensor) else a._backend.asarray(cond)
    if c.dtype != np.bool_:
        c = c != 0
    return Where.apply(a, b, cond=c)
