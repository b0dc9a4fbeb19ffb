"""Generic tests over every op in tests/op_registry.py: NumPy forward, gradcheck, PyTorch
forward/backward, CPU vs CUDA, extreme inputs, hypothesis shape sweeps."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import fusegrad as fg
from tests.helpers import GRADCHECK, PARITY_TOL, TORCH_TOL, assert_close
from tests.op_registry import OPS, Case

CASES = [(op, case) for op in OPS for case in op.cases]
IDS = [f"{op.name}-{case.id()}" for op, case in CASES]


def _size(case: Case) -> int:
    return min(int(np.prod(s)) if s else 1 for s in case.shapes)


@pytest.mark.parametrize(("op", "case"), CASES, ids=IDS)
def test_op_forward_matches_numpy(op, case, dtype, rng):
    xs = op.make_inputs(case, dtype, rng)
    out = op.call(case, "fg", *[fg.from_numpy(x) for x in xs])
    ref = op.call(case, "np", *[x.astype(np.float64) for x in xs])
    assert out.dtype == np.dtype(dtype), f"{op.name}: dtype {out.dtype}"
    assert_close(out, ref, dtype, n_terms=op.reduced_terms(case.shapes), what=op.name)


@pytest.mark.parametrize(("op", "case"), CASES, ids=IDS)
def test_op_gradcheck(op, case, rng):
    if _size(case) == 0:
        pytest.skip("no elements to differentiate")
    xs = [fg.tensor(x, requires_grad=True) for x in op.make_inputs(case, np.float64, rng)]
    assert fg.autograd.gradcheck(lambda *t: op.call(case, "fg", *t), xs, **GRADCHECK)


@pytest.mark.torch
@pytest.mark.parametrize(("op", "case"), CASES, ids=IDS)
def test_op_matches_torch(op, case, dtype, rng):
    torch = pytest.importorskip("torch")
    xs = op.make_inputs(case, dtype, rng)
    ft = [fg.tensor(x, requires_grad=True) for x in xs]
    tt = [torch.tensor(x, requires_grad=True) for x in xs]
    fo, to = op.call(case, "fg", *ft), op.call(case, "torch", *tt)
    n = op.reduced_terms(case.shapes)
    assert_close(fo, to.detach().numpy(), dtype, TORCH_TOL, n, what=f"{op.name} forward")
    w = rng.uniform(-1, 1, size=fo.shape).astype(dtype)
    (fo * fg.tensor(w)).sum().backward()
    (to * torch.tensor(w)).sum().backward()
    for i, (a, b) in enumerate(zip(ft, tt)):
        assert_close(a.grad, b.grad.numpy(), dtype, TORCH_TOL, max(n, _prod_out(fo)),
                     what=f"{op.name} grad of input {i}")


def _prod_out(t) -> int:
    return max(1, t.numel())


@pytest.mark.gpu
@pytest.mark.parametrize(("op", "case"), CASES, ids=IDS)
def test_op_cuda_matches_cpu(op, case, dtype, rng):
    xs = op.make_inputs(case, dtype, rng)
    cpu = [fg.tensor(x, requires_grad=True) for x in xs]
    gpu = [fg.tensor(x, device="cuda", requires_grad=True) for x in xs]
    oc, og = op.call(case, "fg", *cpu), op.call(case, "fg", *gpu)
    n = op.reduced_terms(case.shapes)
    assert og.device.startswith("cuda")
    assert_close(og.cpu(), oc, dtype, PARITY_TOL, n, what=f"{op.name} forward")
    oc.sum().backward()
    og.sum().backward()
    for a, b in zip(cpu, gpu):
        assert_close(b.grad.cpu(), a.grad, dtype, PARITY_TOL, n, what=f"{op.name} grad")


EXTREME = [op for op in OPS if op.extreme]


@pytest.mark.parametrize("op", EXTREME, ids=[op.name for op in EXTREME])
def test_op_extreme_inputs_stay_finite(op, dtype):
    x = fg.tensor(np.array([-1e4, -88.0, -50.0, 50.0, 88.0, 1e4], dtype=dtype),
                  requires_grad=True)
    y = op.fn(x)
    assert np.isfinite(y.numpy()).all(), f"{op.name}: {y.numpy()}"
    y.sum().backward()
    assert np.isfinite(x.grad.numpy()).all(), f"{op.name} grad: {x.grad.numpy()}"


# ---- hypothesis sweeps: arbitrary shapes up to rank 4 with broadcasting ------------------
def _by_kind(kind: str) -> list:
    return [op for op in OPS if op.hypothesis == kind]


@pytest.mark.parametrize("op", _by_kind("binary"), ids=[o.name for o in _by_kind("binary")])
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=4, min_side=1, max_side=3),
       seed=st.integers(0, 2**31 - 1))
def test_binary_gradcheck_broadcast_shapes(op, shapes, seed):
    rng = np.random.default_rng(seed)
    case = Case(tuple(shapes.input_shapes))
    xs = [fg.tensor(x, requires_grad=True) for x in op.make_inputs(case, np.float64, rng)]
    out = op.fn(*xs)
    assert out.shape == shapes.result_shape
    np.testing.assert_allclose(out.numpy(), op.ref(*[x.numpy() for x in xs]), rtol=1e-12,
                               atol=1e-12)
    assert fg.autograd.gradcheck(op.fn, xs, **GRADCHECK)


@pytest.mark.parametrize("op", _by_kind("unary"), ids=[o.name for o in _by_kind("unary")])
@given(shape=hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=3),
       seed=st.integers(0, 2**31 - 1))
def test_unary_gradcheck_any_shape(op, shape, seed):
    rng = np.random.default_rng(seed)
    (x,) = op.make_inputs(Case((shape,)), np.float64, rng)
    t = fg.tensor(x, requires_grad=True)
    np.testing.assert_allclose(op.fn(t).numpy(), op.ref(x), rtol=1e-12, atol=1e-12)
    assert fg.autograd.gradcheck(op.fn, [t], **GRADCHECK)


@given(shape=hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4),
       data=st.data())
def test_reductions_any_axes(shape, data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31 - 1)))
    axes = data.draw(st.lists(st.integers(-len(shape), len(shape) - 1), unique_by=lambda a: a % len(shape),
                              max_size=len(shape)))
    keepdim = data.draw(st.booleans())
    x = rng.uniform(-2, 2, size=shape)
    t = fg.tensor(x, requires_grad=True)
    dim = tuple(axes) if axes else None
    np_axes = tuple(a % len(shape) for a in axes) if axes else None
    for name, ref in (("sum", np.sum), ("mean", np.mean)):
        out = getattr(t, name)(dim, keepdim=keepdim)
        np.testing.assert_allclose(out.numpy(), ref(x, axis=np_axes, keepdims=keepdim),
                                   rtol=1e-12, atol=1e-12)
    n = int(np.prod([shape[a] for a in np_axes])) if np_axes else x.size
    if n > 1:
        out = t.var(dim, keepdim=keepdim)
        np.testing.assert_allclose(out.numpy(), np.var(x, axis=np_axes, ddof=1, keepdims=keepdim),
                                   rtol=1e-10, atol=1e-12)
        assert fg.autograd.gradcheck(lambda a: a.var(dim, keepdim=keepdim), [t], **GRADCHECK)
    assert fg.autograd.gradcheck(lambda a: a.mean(dim, keepdim=keepdim), [t], **GRADCHECK)
