"""Layers vs PyTorch with copied weights (outputs, input grads, parameter grads; float32 and
float64), containers, and Linear's default initialisation."""

from __future__ import annotations

import math

import numpy as np
import pytest

import fusegrad as fg
import fusegrad.nn as nn
from tests.helpers import TORCH_TOL, assert_close

torch = pytest.importorskip("torch")


def _copy_params(ours: nn.Module, ref) -> None:
    for (n1, p1), (n2, p2) in zip(ours.named_parameters(), ref.named_parameters()):
        assert n1 == n2
        with torch.no_grad():
            p2.copy_(torch.from_numpy(p1.numpy().astype(p2.detach().numpy().dtype)))


def _compare(ours, ref, x, dtype, n_terms=1):
    tdt = torch.float32 if dtype == np.float32 else torch.float64
    ref = ref.to(tdt)
    _copy_params(ours, ref)
    xf = fg.tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    yf, yt = ours(xf), ref(xt)
    assert_close(yf, yt.detach().numpy(), dtype, TORCH_TOL, n_terms, "y")
    g = np.random.default_rng(3).standard_normal(yt.shape).astype(dtype)
    yf.backward(fg.tensor(g))
    yt.backward(torch.from_numpy(g))
    assert_close(xf.grad, xt.grad.numpy(), dtype, TORCH_TOL, n_terms, "gx")
    for (n, p), (_, q) in zip(ours.named_parameters(), ref.named_parameters()):
        assert_close(p.grad, q.grad.numpy(), dtype, TORCH_TOL, n_terms, f"grad {n}")


@pytest.mark.torch
def test_linear_matches_torch(dtype, rng):
    x = rng.standard_normal((6, 5)).astype(dtype)
    _compare(nn.Linear(5, 4, dtype=dtype), torch.nn.Linear(5, 4), x, dtype, 5)
    _compare(nn.Linear(5, 4, bias=False, dtype=dtype), torch.nn.Linear(5, 4, bias=False), x,
             dtype, 5)


ACTS = [
    (lambda: nn.ReLU(), lambda: torch.nn.ReLU()),
    (lambda: nn.LeakyReLU(0.2), lambda: torch.nn.LeakyReLU(0.2)),
    (lambda: nn.Sigmoid(), lambda: torch.nn.Sigmoid()),
    (lambda: nn.Tanh(), lambda: torch.nn.Tanh()),
    (lambda: nn.Softmax(dim=1), lambda: torch.nn.Softmax(dim=1)),
    (lambda: nn.Softmax(dim=0), lambda: torch.nn.Softmax(dim=0)),
    (lambda: nn.Flatten(), lambda: torch.nn.Flatten()),
    (lambda: nn.Identity(), lambda: torch.nn.Identity()),
]
ACT_IDS = ["relu", "leaky", "sigmoid", "tanh", "softmax1", "softmax0", "flatten", "identity"]


@pytest.mark.torch
@pytest.mark.parametrize("make", ACTS, ids=ACT_IDS)
def test_activation_and_shape_layers_match_torch(make, dtype, rng):
    x = (rng.standard_normal((4, 3, 2)) * 3).astype(dtype)
    x[x == 0] = 0.5  # keep relu away from its kink
    _compare(make[0](), make[1](), x, dtype, 4)


@pytest.mark.torch
def test_sequential_mlp_matches_torch(dtype, rng):
    ours = nn.Sequential(nn.Linear(6, 10, dtype=dtype), nn.BatchNorm1d(10, dtype=dtype),
                         nn.ReLU(), nn.Linear(10, 4, dtype=dtype), nn.Tanh())
    ref = torch.nn.Sequential(torch.nn.Linear(6, 10), torch.nn.BatchNorm1d(10),
                              torch.nn.ReLU(), torch.nn.Linear(10, 4), torch.nn.Tanh())
    _compare(ours, ref, rng.standard_normal((12, 6)).astype(dtype), dtype, 40)


def test_sequential_fused_linear_relu_equals_unfused(dtype, rng):
    s = nn.Sequential(nn.Linear(7, 9, dtype=dtype), nn.ReLU(), nn.Linear(9, 3, dtype=dtype))
    x = rng.standard_normal((5, 7)).astype(dtype)
    xa, xb = fg.tensor(x, requires_grad=True), fg.tensor(x, requires_grad=True)
    ya = s(xa)
    yb = s[2](s[1](s[0](xb)))  # module by module: no fusion
    np.testing.assert_array_equal(ya.numpy(), yb.numpy())
    ga = fg.autograd.grad(ya.sum(), [xa] + list(s.parameters()))
    gb = fg.autograd.grad(yb.sum(), [xb] + list(s.parameters()))
    for a, b in zip(ga, gb):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_sequential_indexing_and_append():
    s = nn.Sequential(nn.ReLU(), nn.Tanh())
    assert isinstance(s[-1], nn.Tanh) and len(s) == 2
    assert isinstance(s[1:][0], nn.Tanh)
    s.append(nn.Sigmoid())
    assert [n for n, _ in s.named_children()] == ["0", "1", "2"]
    with pytest.raises(IndexError):
        s[3]


def test_linear_default_init_bounds():
    fg.manual_seed(1)
    m = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)  # kaiming_uniform_(a=√5) gives U(-1/√fan_in, 1/√fan_in)
    w, b = m.weight.numpy(), m.bias.numpy()
    assert w.dtype == np.float32 and w.shape == (300, 400)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.01 * bound
    assert np.abs(b).max() <= bound
    fg.manual_seed(1)
    np.testing.assert_array_equal(nn.Linear(400, 300).weight.numpy(), w)  # seeded


def test_regularization_penalties(rng):
    a = fg.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    b = fg.tensor(rng.standard_normal(5), requires_grad=True)
    l1 = nn.l1_penalty([a, b])
    l2 = nn.l2_penalty([a, b])
    np.testing.assert_allclose(l1.item(), np.abs(a.numpy()).sum() + np.abs(b.numpy()).sum())
    np.testing.assert_allclose(l2.item(), (a.numpy() ** 2).sum() + (b.numpy() ** 2).sum())
    (l1 + l2).backward()
    np.testing.assert_allclose(a.grad.numpy(), np.sign(a.numpy()) + 2 * a.numpy())
