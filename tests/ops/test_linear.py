"""The fused Linear op (autograd/ops/linalg.py): forward vs NumPy, gradcheck, PyTorch's
F.linear (+ relu) forward and backward, and fused == unfused."""

from __future__ import annotations

import numpy as np
import pytest

import fusegrad as fg
from fusegrad.autograd.gradcheck import gradcheck
from fusegrad.autograd.ops.elementwise import relu
from fusegrad.autograd.ops.linalg import linear, linear_relu
from fusegrad.autograd.ops.linalg import matmul
from tests.helpers import GRADCHECK, TORCH_TOL, assert_close

SHAPES = [(5, 3, 4), (1, 1, 1), (64, 33, 10), (7, 0, 3)]  # (N, in, out)
IDS = ["5x3-4", "1x1-1", "64x33-10", "in0"]


def _inputs(rng, n, n_in, n_out, dtype, bias=True, requires_grad=False):
    def t(a):
        return fg.tensor(a.astype(dtype), requires_grad=requires_grad)

    x = t(rng.standard_normal((n, n_in)))
    w = t(rng.standard_normal((n_out, n_in)))
    b = t(rng.standard_normal(n_out)) if bias else None
    return x, w, b


def _np_linear(x, w, b, act):
    y = x.numpy().astype(np.float64) @ w.numpy().astype(np.float64).T
    if b is not None:
        y = y + b.numpy()
    return np.maximum(y, 0) if act == "relu" else y


@pytest.mark.parametrize("shape", SHAPES, ids=IDS)
@pytest.mark.parametrize("act", [None, "relu"], ids=["linear", "linear_relu"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
def test_linear_forward_matches_numpy(shape, act, bias, dtype, rng):
    x, w, b = _inputs(rng, *shape, dtype, bias)
    fn = linear_relu if act == "relu" else linear
    y = fn(x, w, b)
    assert y.dtype == np.dtype(dtype) and y.shape == (shape[0], shape[2])
    assert_close(y, _np_linear(x, w, b, act), dtype, n_terms=max(shape[1], 1), what="linear")


@pytest.mark.parametrize("shape", SHAPES[:3], ids=IDS[:3])
@pytest.mark.parametrize("act", [None, "relu"], ids=["linear", "linear_relu"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
def test_linear_gradcheck(shape, act, bias, rng):
    x, w, b = _inputs(rng, *shape, np.float64, bias, requires_grad=True)
    fn = linear_relu if act == "relu" else linear
    # Standard-normal inputs keep every pre-activation far (>> eps) from ReLU's kink.
    inputs = (x, w, b) if bias else (x, w)
    assert gradcheck(lambda *a: fn(*a) if len(a) == 3 else fn(a[0], a[1]), inputs, **GRADCHECK)


@pytest.mark.parametrize("shape", SHAPES[:3], ids=IDS[:3])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
def test_linear_relu_fused_equals_unfused(shape, bias, dtype, rng):
    x, w, b = _inputs(rng, *shape, dtype, bias, requires_grad=True)
    y_fused = linear_relu(x, w, b)
    y_fused.sum().backward()
    fused_grads = [t.grad.numpy().copy() for t in (x, w, b) if t is not None]
    for t in (x, w, b):
        if t is not None:
            t.grad = None
    # The unfused path: a plain matmul, then the bias add and relu as separate ops.
    y = matmul(x, w.transpose(0, 1))
    y_unfused = relu(y + b if b is not None else y)
    y_unfused.sum().backward()
    np.testing.assert_array_equal(y_fused.numpy(), y_unfused.numpy())
    for g_fused, t in zip(fused_grads, [t for t in (x, w, b) if t is not None]):
        assert_close(g_fused, t.grad, dtype, n_terms=shape[0], what="grad")


@pytest.mark.torch
@pytest.mark.parametrize("act", [None, "relu"], ids=["linear", "linear_relu"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
def test_linear_matches_torch(act, bias, dtype, rng):
    torch = pytest.importorskip("torch")
    n, n_in, n_out = 32, 70, 19
    x, w, b = _inputs(rng, n, n_in, n_out, dtype, bias, requires_grad=True)
    gy = rng.standard_normal((n, n_out)).astype(dtype)
    tx, tw = (torch.tensor(t.numpy(), requires_grad=True) for t in (x, w))
    tb = torch.tensor(b.numpy(), requires_grad=True) if bias else None
    ty = torch.nn.functional.linear(tx, tw, tb)
    if act == "relu":
        ty = torch.relu(ty)
    ty.backward(torch.tensor(gy))
    y = (linear_relu if act == "relu" else linear)(x, w, b)
    y.backward(fg.tensor(gy))
    assert_close(y, ty.detach().numpy(), dtype, TORCH_TOL, n_terms=n_in, what="y")
    assert_close(x.grad, tx.grad.numpy(), dtype, TORCH_TOL, n_terms=n_out, what="gx")
    assert_close(w.grad, tw.grad.numpy(), dtype, TORCH_TOL, n_terms=n, what="gW")
    if bias:
        assert_close(b.grad, tb.grad.numpy(), dtype, TORCH_TOL, n_terms=n, what="gb")


@pytest.mark.parametrize("lead", [(), (2, 3)], ids=["1d", "3d"])
def test_linear_leading_dims(lead, rng):
    x = fg.tensor(rng.standard_normal(lead + (6,)), requires_grad=True)
    w = fg.tensor(rng.standard_normal((4, 6)), requires_grad=True)
    b = fg.tensor(rng.standard_normal(4), requires_grad=True)
    y = linear_relu(x, w, b)
    assert y.shape == lead + (4,)
    assert_close(y, np.maximum(x.numpy() @ w.numpy().T + b.numpy(), 0), np.float64, n_terms=6)
    assert gradcheck(lambda x, w, b: linear_relu(x, w, b), (x, w, b), **GRADCHECK)


def test_linear_errors(rng):
    x = fg.tensor(rng.standard_normal((2, 3)))
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4, 5\)"):
        linear(x, fg.tensor(rng.standard_normal((4, 5))))
    with pytest.raises(ValueError, match=r"\(5,\)"):
        linear(x, fg.tensor(rng.standard_normal((4, 3))), fg.tensor(rng.standard_normal(5)))
