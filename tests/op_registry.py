"""The op registry: one OpSpec per differentiable op (Chainer FunctionTestCase / OpInfo in
miniature). The generic tests in tests/ops/test_registry.py iterate it: forward vs NumPy
(float32, float64), gradcheck (float64), forward and backward vs PyTorch, CPU vs CUDA,
extreme range. Adding an op means adding an entry here; no op exists without it.

Domains keep gradcheck away from kinks (relu/abs at 0, clamp bounds, max ties); the kinks
are tested with exact hand-written cases in tests/ops/test_kinks.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

import fusegrad as fg
from fusegrad.autograd.ops.elementwise import leaky_relu


@dataclass
class Case:
    """Input shapes for one call; ``noncontig`` feeds 2-D+ inputs as transposed views."""

    shapes: tuple
    noncontig: bool = False

    def id(self) -> str:
        s = "x".join("(" + ",".join(map(str, sh)) + ")" for sh in self.shapes)
        return s + ("-T" if self.noncontig else "")


@dataclass
class OpSpec:
    name: str
    fn: Callable[..., Any]  # on fusegrad Tensors
    ref: Callable[..., Any]  # on NumPy arrays
    torch_fn: Callable[..., Any] | None  # on torch tensors (None: no PyTorch twin)
    cases: list
    domain: tuple = (-2.0, 2.0)
    # Per-input transform of uniform samples (e.g. push away from 0); default identity.
    prep: Callable[[np.ndarray, int], np.ndarray] | None = None
    differentiable: bool = True
    reduced_terms: Callable[[tuple], int] = field(default=lambda shapes: 1)
    extreme: bool = False  # unary: forward must stay finite at +-1e4
    hypothesis: str = ""  # "unary", "binary" or "reduce": joins the hypothesis shape sweeps

    def make_inputs(self, case: Case, dtype: Any, rng: np.random.Generator) -> list:
        """NumPy inputs for a case (contiguous; the noncontig transform happens in call)."""
        out = []
        for i, shape in enumerate(case.shapes):
            shp = tuple(reversed(shape)) if case.noncontig and len(shape) >= 2 else shape
            x = rng.uniform(*self.domain, size=shp)
            if self.prep is not None:
                x = self.prep(x, i)
            out.append(np.asarray(x, dtype=dtype))
        return out

    def call(self, case: Case, module: str, *xs: Any) -> Any:
        """Run the op on fusegrad ('fg') or torch ('torch') tensors or NumPy arrays ('np')."""
        if case.noncontig:
            xs = tuple(_transpose(x, module) if x.ndim >= 2 else x for x in xs)
        fn = {"fg": self.fn, "np": self.ref, "torch": self.torch_fn}[module]
        return fn(*xs)


def _transpose(x: Any, module: str) -> Any:
    if module == "torch":
        return x.permute(*reversed(range(x.ndim)))
    return x.T


def _away_from_zero(x: np.ndarray, i: int) -> np.ndarray:
    return np.sign(x) * (0.1 + np.abs(x)) + (x == 0) * 0.5


def _away_from_bounds(x: np.ndarray, i: int) -> np.ndarray:
    # clamp(-0.5, 0.7): keep samples 0.05 away from both bounds
    for b in (-0.5, 0.7):
        near = np.abs(x - b) < 0.05
        x = np.where(near, x + 0.1, x)
    return x


def _positive(lo: float = 0.5, hi: float = 2.0) -> Callable:
    return lambda x, i: lo + (x - x.min() if x.size else x) % (hi - lo)


def _div_prep(x: np.ndarray, i: int) -> np.ndarray:
    return x if i == 0 else _away_from_zero(x, i) + np.sign(x) * 0.4


def _pow_prep(x: np.ndarray, i: int) -> np.ndarray:
    return 0.5 + np.abs(x) if i == 0 else x


def _distinct(x: np.ndarray, i: int) -> np.ndarray:
    # max/min: ties would make the derivative ill-defined; add a unique ramp per element
    return x + np.arange(x.size).reshape(x.shape) * 1e-3 * (1 + i)


U1 = [Case(((),)), Case(((1,),)), Case(((7,),)), Case(((3, 5),)), Case(((3, 5),), True),
      Case(((2, 1, 4),))]
B2 = [Case(((), ())), Case(((4,), ())), Case(((3, 4), (4,))), Case(((3, 1), (1, 5))),
      Case(((2, 3, 4), (3, 1))), Case(((3, 4), (3, 4)), True), Case(((0, 3), (3,)))]
R1 = [Case(((5,),)), Case(((3, 4),)), Case(((2, 3, 4),)), Case(((4, 3),), True)]


def _prod(shape: tuple) -> int:
    return int(np.prod(shape)) if shape else 1


def _unary(name: str, fgf: Callable, npf: Callable, tf: Callable | None, **kw: Any) -> OpSpec:
    return OpSpec(name, fgf, npf, tf, U1, hypothesis="unary", **kw)


def _binary(name: str, fgf: Callable, npf: Callable, tf: Callable | None, **kw: Any) -> OpSpec:
    return OpSpec(name, fgf, npf, tf, B2, hypothesis="binary", **kw)


def _np_sigmoid(x: np.ndarray) -> np.ndarray:
    return np.where(x >= 0, 1 / (1 + np.exp(-np.abs(x))), np.exp(-np.abs(x)) / (1 + np.exp(-np.abs(x))))


def _np_maxdim(x: np.ndarray, op: str, dim: int) -> np.ndarray:
    return getattr(np, op)(x, axis=dim)


def _reduce_terms(shapes: tuple) -> int:
    return _prod(shapes[0])


OPS: list[OpSpec] = [
    # ---- unary ----
    _unary("neg", lambda x: -x, np.negative, lambda x: -x, extreme=True),
    _unary("exp", fg.exp, np.exp, lambda x: x.exp()),
    _unary("log", fg.log, np.log, lambda x: x.log(), domain=(0.2, 3.0)),
    _unary("sqrt", fg.sqrt, np.sqrt, lambda x: x.sqrt(), domain=(0.2, 3.0)),
    _unary("abs", fg.abs, np.abs, lambda x: x.abs(), prep=_away_from_zero, extreme=True),
    _unary("tanh", fg.tanh, np.tanh, lambda x: x.tanh(), extreme=True),
    _unary("sigmoid", fg.sigmoid, _np_sigmoid, lambda x: x.sigmoid(), extreme=True),
    _unary("relu", lambda x: x.relu(), lambda x: np.maximum(x, 0), lambda x: x.relu(),
           prep=_away_from_zero, extreme=True),
    _unary("leaky_relu", lambda x: leaky_relu(x, 0.2), lambda x: np.where(x > 0, x, 0.2 * x),
           lambda x: __import__("torch").nn.functional.leaky_relu(x, 0.2), prep=_away_from_zero,
           extreme=True),
    _unary("clamp", lambda x: x.clamp(-0.5, 0.7), lambda x: np.clip(x, -0.5, 0.7),
           lambda x: x.clamp(-0.5, 0.7), prep=_away_from_bounds, extreme=True),
    _unary("clamp_min", lambda x: x.clamp(min=0.3), lambda x: np.maximum(x, 0.3),
           lambda x: x.clamp(min=0.3), prep=lambda x, i: np.where(np.abs(x - 0.3) < 0.05, x + 0.1, x)),
    _unary("pow_scalar", lambda x: x ** 3, lambda x: x ** 3, lambda x: x ** 3),
    _unary("pow_frac", lambda x: x.pow(2.5), lambda x: x ** 2.5, lambda x: x.pow(2.5),
           domain=(0.2, 2.0)),
    # ---- binary ----
    _binary("add", lambda a, b: a + b, np.add, lambda a, b: a + b),
    _binary("sub", lambda a, b: a - b, np.subtract, lambda a, b: a - b),
    _binary("mul", lambda a, b: a * b, np.multiply, lambda a, b: a * b),
    _binary("div", lambda a, b: a / b, np.divide, lambda a, b: a / b, prep=_div_prep),
    _binary("pow", lambda a, b: a ** b, np.power, lambda a, b: a ** b, prep=_pow_prep),
    _binary("maximum", fg.maximum, np.maximum, lambda a, b: __import__("torch").maximum(a, b),
            prep=_distinct),
    _binary("minimum", fg.minimum, np.minimum, lambda a, b: __import__("torch").minimum(a, b),
            prep=_distinct),
    # ---- reductions ----
    OpSpec("sum", lambda x: x.sum(), np.sum, lambda x: x.sum(), R1 + [Case(((),))],
           reduced_terms=_reduce_terms, hypothesis="reduce"),
    OpSpec("sum_dim", lambda x: x.sum(-1), lambda x: x.sum(-1), lambda x: x.sum(-1), R1,
           reduced_terms=_reduce_terms),
    OpSpec("sum_dims_keepdim", lambda x: x.sum((0, -1), keepdim=True),
           lambda x: x.sum((0, x.ndim - 1), keepdims=True),
           lambda x: x.sum((0, -1), keepdim=True), R1[1:], reduced_terms=_reduce_terms),
    OpSpec("mean", lambda x: x.mean(), np.mean, lambda x: x.mean(), R1,
           reduced_terms=_reduce_terms, hypothesis="reduce"),
    OpSpec("mean_dim0", lambda x: x.mean(0), lambda x: x.mean(0), lambda x: x.mean(0), R1,
           reduced_terms=_reduce_terms),
    OpSpec("max", lambda x: x.max(), np.max, lambda x: x.max(), R1, prep=_distinct),
    OpSpec("min", lambda x: x.min(), np.min, lambda x: x.min(), R1, prep=_distinct),
    OpSpec("max_dim", lambda x: x.max(0)[0], lambda x: x.max(0), lambda x: x.max(0)[0], R1,
           prep=_distinct),
    OpSpec("min_dim_keepdim", lambda x: x.min(-1, keepdim=True)[0],
           lambda x: x.min(-1, keepdims=True), lambda x: x.min(-1, keepdim=True)[0], R1,
           prep=_distinct),
    OpSpec("var", lambda x: x.var(), lambda x: x.var(ddof=1), lambda x: x.var(), R1,
           reduced_terms=_reduce_terms, hypothesis="reduce"),
    OpSpec("var_dim_biased", lambda x: x.var(0, unbiased=False), lambda x: x.var(0),
           lambda x: x.var(0, unbiased=False), R1[1:], reduced_terms=_reduce_terms),
    # ---- matmul ----
    OpSpec("matmul", fg.matmul, np.matmul, lambda a, b: a @ b,
           [Case(((3, 4), (4, 5))), Case(((1, 1), (1, 1))), Case(((4,), (4, 3))),
            Case(((3, 4), (4,))), Case(((4,), (4,))), Case(((2, 3, 4), (4, 5))),
            Case(((2, 1, 3, 4), (3, 4, 2))), Case(((3, 4), (4, 5)), True),
            Case(((3, 0), (0, 2)))],
           reduced_terms=lambda s: s[0][-1] if s[0] else 1),
    # ---- shape ----
    OpSpec("reshape", lambda x: x.reshape(-1, 2), lambda x: x.reshape(-1, 2),
           lambda x: x.reshape(-1, 2), [Case(((3, 4),)), Case(((4, 3),), True), Case(((2, 3, 2),))]),
    OpSpec("transpose", lambda x: x.transpose(0, 1) * 1.0, lambda x: x.swapaxes(0, 1),
           lambda x: x.transpose(0, 1) * 1.0, [Case(((3, 4),)), Case(((2, 3, 4),))]),
    OpSpec("permute", lambda x: x.permute(2, 0, 1), lambda x: x.transpose(2, 0, 1),
           lambda x: x.permute(2, 0, 1), [Case(((2, 3, 4),))]),
    OpSpec("T", lambda x: x.T, lambda x: x.T, lambda x: x.T, [Case(((3, 4),))]),
    OpSpec("flatten", lambda x: x.flatten(1), lambda x: x.reshape(x.shape[0], -1),
           lambda x: x.flatten(1), [Case(((2, 3, 4),)), Case(((3, 4),), True)]),
    OpSpec("unsqueeze_squeeze", lambda x: x.unsqueeze(1).squeeze(), lambda x: x,
           lambda x: x.unsqueeze(1).squeeze(), [Case(((3, 4),))]),
    OpSpec("expand", lambda x: x.expand(2, 3, 4), lambda x: np.broadcast_to(x, (2, 3, 4)),
           lambda x: x.expand(2, 3, 4), [Case(((3, 1),)), Case(((4,),))]),
    OpSpec("getitem_slice", lambda x: x[1:, ::2], lambda x: x[1:, ::2], lambda x: x[1:, ::2],
           [Case(((4, 5),)), Case(((5, 4),), True)]),
    OpSpec("getitem_int", lambda x: x[1], lambda x: x[1], lambda x: x[1], [Case(((3, 4),))]),
    OpSpec("getitem_array", lambda x: x[np.array([0, 2, 2, 1])],
           lambda x: x[np.array([0, 2, 2, 1])],
           lambda x: x[__import__("torch").tensor([0, 2, 2, 1])], [Case(((3, 4),)), Case(((4,),))]),
    OpSpec("cat", lambda a, b: fg.cat([a, b], 1), lambda a, b: np.concatenate([a, b], 1),
           lambda a, b: __import__("torch").cat([a, b], 1), [Case(((2, 3), (2, 4)))]),
    OpSpec("stack", lambda a, b: fg.stack([a, b], 1), lambda a, b: np.stack([a, b], 1),
           lambda a, b: __import__("torch").stack([a, b], 1), [Case(((2, 3), (2, 3)))]),
    OpSpec("where", lambda a, b: fg.where(a > 0, a, b), lambda a, b: np.where(a > 0, a, b),
           lambda a, b: __import__("torch").where(a > 0, a, b),
           [Case(((3, 4), (3, 4))), Case(((3, 4), (4,)))], prep=_away_from_zero),
    # ---- a mixed expression (micrograd style) ----
    OpSpec("mixed", lambda a, b: ((a * b + a.exp()).tanh() * 2 - b.sigmoid() / (1 + a ** 2)).sum(),
           lambda a, b: (np.tanh(a * b + np.exp(a)) * 2 - _np_sigmoid(b) / (1 + a ** 2)).sum(),
           lambda a, b: ((a * b + a.exp()).tanh() * 2 - b.sigmoid() / (1 + a ** 2)).sum(),
           [Case(((3, 4), (3, 4))), Case(((3, 4), (4,)))], reduced_terms=lambda s: 12),
]


BY_NAME = {op.name: op for op in OPS}
