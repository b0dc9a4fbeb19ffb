"""Losses and the softmax family vs PyTorch (forward, input grads; float32 and float64),
gradcheck in float64, extreme logits, and the label / shape errors."""

from __future__ import annotations

import numpy as np
import pytest

import fusegrad as fg
import fusegrad.nn as nn
import fusegrad.nn.functional as F
from tests.helpers import GRADCHECK, TORCH_TOL, assert_close

torch = pytest.importorskip("torch")

CE_CASES = [
    # (shape, weighted, ignore some, label_smoothing)
    ((8, 5), False, False, 0.0),
    ((8, 5), True, True, 0.0),
    ((16, 10), False, True, 0.1),
    ((16, 10), True, True, 0.25),
    ((5,), False, False, 0.0),
    ((4, 3, 6), True, True, 0.1),
]
CE_IDS = ["plain", "weighted_ignore", "smooth", "weighted_smooth", "1d", "kdim"]
REDUCTIONS = ["mean", "sum", "none"]


def _targets(shape, rng, ignore):
    c = shape[1] if len(shape) > 1 else shape[0]
    tshape = () if len(shape) == 1 else (shape[0],) + shape[2:]
    y = rng.integers(0, c, tshape)
    if ignore and y.ndim:
        y.reshape(-1)[::3] = -100
    return y, c


@pytest.mark.torch
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape, weighted, ignore, ls", CE_CASES, ids=CE_IDS)
def test_cross_entropy_matches_torch(shape, weighted, ignore, ls, reduction, dtype, rng):
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    y, c = _targets(shape, rng, ignore)
    w = (rng.random(c) + 0.5).astype(dtype) if weighted else None
    xf = fg.tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    lf = nn.CrossEntropyLoss(weight=None if w is None else fg.tensor(w), reduction=reduction,
                             label_smoothing=ls)(xf, fg.tensor(np.asarray(y)))
    lt = torch.nn.CrossEntropyLoss(weight=None if w is None else torch.from_numpy(w),
                                   reduction=reduction, label_smoothing=ls)(xt, torch.tensor(y))
    assert_close(lf, lt.detach().numpy(), dtype, TORCH_TOL, c, "loss")
    g = rng.standard_normal(lt.shape).astype(dtype)
    lf.backward(fg.tensor(g))
    lt.backward(torch.from_numpy(g))
    assert_close(xf.grad, xt.grad.numpy(), dtype, TORCH_TOL, c, "grad")


@pytest.mark.parametrize("ls, weighted", [(0.0, False), (0.2, True)], ids=["plain", "full"])
def test_cross_entropy_gradcheck(ls, weighted, rng):
    x = fg.tensor(rng.standard_normal((6, 4)), requires_grad=True)
    y = fg.tensor(np.array([0, 3, -100, 1, 2, 2]))
    w = fg.tensor(rng.random(4) + 0.5) if weighted else None
    assert fg.autograd.gradcheck(lambda x: F.cross_entropy(x, y, w, label_smoothing=ls), (x,),
                                 **GRADCHECK)
    assert fg.autograd.gradcheck(lambda x: F.cross_entropy(x, y, w, reduction="none",
                                                           label_smoothing=ls), (x,), **GRADCHECK)


def test_cross_entropy_finite_for_huge_logits(dtype):
    x = fg.tensor(np.array([[1e4, -1e4, 0], [-1e4, 1e4, 1e4]], dtype), requires_grad=True)
    loss = F.cross_entropy(x, fg.tensor(np.array([1, 0])), label_smoothing=0.1)
    loss.backward()
    assert np.isfinite(loss.item()) and np.isfinite(x.grad.numpy()).all()
    xt = torch.tensor(x.numpy().astype(np.float64))
    ref = torch.nn.functional.cross_entropy(xt, torch.tensor([1, 0]), label_smoothing=0.1)
    np.testing.assert_allclose(loss.item(), ref.item(), rtol=1e-6)


def test_cross_entropy_label_errors():
    x = fg.randn(3, 4)
    with pytest.raises(IndexError, match="4"):
        F.cross_entropy(x, fg.tensor(np.array([0, 4, 1])))
    with pytest.raises(IndexError):
        F.cross_entropy(x, fg.tensor(np.array([0, -2, 1])))
    with pytest.raises(TypeError, match="int64"):
        F.cross_entropy(x, fg.tensor(np.array([0.0, 1.0, 2.0])))
    with pytest.raises(ValueError, match=r"\(3,\)"):
        F.cross_entropy(x, fg.tensor(np.array([0, 1])))
    with pytest.raises(ValueError, match="reduction"):
        F.cross_entropy(x, fg.tensor(np.array([0, 1, 2])), reduction="avg")


def test_cross_entropy_all_ignored_is_nan():
    loss = F.cross_entropy(fg.randn(2, 3), fg.tensor(np.array([-100, -100])))
    assert np.isnan(loss.item())


@pytest.mark.torch
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss_matches_torch(reduction, dtype, rng):
    x = rng.standard_normal((7, 5)).astype(dtype)
    y = np.array([0, 4, -100, 2, 2, 1, 3])
    w = (rng.random(5) + 0.5).astype(dtype)
    xf, xt = fg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    lf = nn.NLLLoss(weight=fg.tensor(w), reduction=reduction)(F.log_softmax(xf, 1), fg.tensor(y))
    lt = torch.nn.NLLLoss(weight=torch.from_numpy(w), reduction=reduction)(
        torch.log_softmax(xt, 1), torch.tensor(y))
    assert_close(lf, lt.detach().numpy(), dtype, TORCH_TOL, 5)
    g = np.ones(lt.shape, dtype)
    lf.backward(fg.tensor(g))
    lt.backward(torch.from_numpy(g))
    assert_close(xf.grad, xt.grad.numpy(), dtype, TORCH_TOL, 5)


@pytest.mark.torch
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_loss_matches_torch(reduction, dtype, rng):
    a = rng.standard_normal((4, 6)).astype(dtype)
    b = rng.standard_normal((4, 6)).astype(dtype)
    af, bf = fg.tensor(a, requires_grad=True), fg.tensor(b, requires_grad=True)
    at, bt = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    lf = nn.MSELoss(reduction=reduction)(af, bf)
    lt = torch.nn.MSELoss(reduction=reduction)(at, bt)
    assert_close(lf, lt.detach().numpy(), dtype, TORCH_TOL, 24)
    g = np.ones(lt.shape, dtype)
    lf.backward(fg.tensor(g))
    lt.backward(torch.from_numpy(g))
    assert_close(af.grad, at.grad.numpy(), dtype, TORCH_TOL)
    assert_close(bf.grad, bt.grad.numpy(), dtype, TORCH_TOL)


@pytest.mark.torch
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weights", [False, True], ids=["plain", "weights"])
def test_bce_with_logits_matches_torch(reduction, weights, dtype, rng):
    x = (rng.standard_normal((5, 3)) * 5).astype(dtype)
    x[0] = [-1e4, 0, 1e4]
    t = rng.random((5, 3)).astype(dtype)
    w = (rng.random(3) + 0.5).astype(dtype) if weights else None
    pw = (rng.random(3) + 0.5).astype(dtype) if weights else None
    xf, xt = fg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    lf = nn.BCEWithLogitsLoss(weight=None if w is None else fg.tensor(w), reduction=reduction,
                              pos_weight=None if pw is None else fg.tensor(pw))(xf, fg.tensor(t))
    lt = torch.nn.BCEWithLogitsLoss(weight=None if w is None else torch.from_numpy(w),
                                    reduction=reduction,
                                    pos_weight=None if pw is None else torch.from_numpy(pw))(
        xt, torch.from_numpy(t))
    # |x| = 1e4 terms make the loss ~1e4: relative tolerance carries it
    assert_close(lf, lt.detach().numpy(), dtype, TORCH_TOL, 15)
    g = np.ones(lt.shape, dtype)
    lf.backward(fg.tensor(g))
    lt.backward(torch.from_numpy(g))
    assert_close(xf.grad, xt.grad.numpy(), dtype, TORCH_TOL)


def test_losses_gradcheck(rng):
    a = fg.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    b = fg.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    t = fg.tensor(rng.random((3, 4)))
    pw = fg.tensor(rng.random(4) + 0.5)
    y = fg.tensor(np.array([1, -100, 3]))
    w = fg.tensor(rng.random(4) + 0.5)
    assert fg.autograd.gradcheck(lambda a, b: F.mse_loss(a, b), (a, b), **GRADCHECK)
    assert fg.autograd.gradcheck(
        lambda a: F.binary_cross_entropy_with_logits(a, t, pos_weight=pw), (a,), **GRADCHECK)
    assert fg.autograd.gradcheck(lambda a: F.nll_loss(a, y, w), (a,), **GRADCHECK)


@pytest.mark.torch
@pytest.mark.parametrize("dim", [0, 1, -1], ids=["d0", "d1", "dlast"])
def test_softmax_family_matches_torch(dim, dtype, rng):
    x = (rng.standard_normal((3, 4, 5)) * 4).astype(dtype)
    for ours, ref in ((F.softmax, torch.softmax), (F.log_softmax, torch.log_softmax)):
        xf, xt = fg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        yf, yt = ours(xf, dim), ref(xt, dim)
        assert_close(yf, yt.detach().numpy(), dtype, TORCH_TOL, 8)
        g = rng.standard_normal(x.shape).astype(dtype)
        yf.backward(fg.tensor(g))
        yt.backward(torch.from_numpy(g))
        assert_close(xf.grad, xt.grad.numpy(), dtype, TORCH_TOL, 8)


@pytest.mark.parametrize("fn", [F.softmax, F.log_softmax], ids=["softmax", "log_softmax"])
def test_softmax_family_gradcheck(fn, rng):
    x = fg.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    assert fg.autograd.gradcheck(lambda x: fn(x, 0), (x,), **GRADCHECK)
    assert fg.autograd.gradcheck(lambda x: fn(x, 1), (x,), **GRADCHECK)


def test_one_hot():
    y = F.one_hot(fg.tensor(np.array([[0, 2], [1, 2]])), 4)
    assert y.dtype == np.int64 and y.shape == (2, 2, 4)
    np.testing.assert_array_equal(y.numpy()[1, 0], [0, 1, 0, 0])
    assert F.one_hot(fg.tensor(np.array([3, 1]))).shape == (2, 4)
    with pytest.raises(IndexError):
        F.one_hot(fg.tensor(np.array([0, 5])), 3)
    with pytest.raises(TypeError):
        F.one_hot(fg.randn(3), 3)
