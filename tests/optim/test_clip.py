"""nn.utils.clip_grad_norm_ / clip_grad_value_ against torch.nn.utils."""

from __future__ import annotations

import numpy as np
import pytest

import fusegrad as fg
from fusegrad.nn.utils import clip_grad_norm_, clip_grad_value_

SHAPES = [(3,), (4, 5), (1,), (50_000,)]


def _params(dtype, scale=1.0, none_at=None):
    rng = np.random.default_rng(5)
    ps = []
    for i, s in enumerate(SHAPES):
        p = fg.tensor(rng.standard_normal(s).astype(dtype), requires_grad=True)
        if i != none_at:
            p.grad = fg.tensor((scale * rng.standard_normal(s)).astype(dtype))
        ps.append(p)
    return ps


def _torch_params(torch, ps):
    out = []
    for p in ps:
        t = torch.tensor(p.numpy(), requires_grad=True)
        if p.grad is not None:
            t.grad = torch.tensor(p.grad.numpy())
        out.append(t)
    return out


TOL = {np.float32: dict(rtol=1e-5, atol=1e-7), np.float64: dict(rtol=1e-12, atol=1e-15)}


@pytest.mark.torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.5, float("inf")], ids=["l2", "l1", "l3.5",
                                                                          "inf"])
@pytest.mark.parametrize("max_norm", [0.5, 1e6], ids=["clips", "no_clip"])
def test_clip_grad_norm_matches_torch(norm_type, dtype, max_norm):
    torch = pytest.importorskip("torch")
    ps = _params(dtype, none_at=2)
    ts = _torch_params(torch, ps)
    total = clip_grad_norm_(ps, max_norm, norm_type=norm_type)
    expected = torch.nn.utils.clip_grad_norm_(ts, max_norm, norm_type=norm_type)
    assert isinstance(total, fg.Tensor) and total.shape == () and total.dtype == dtype
    np.testing.assert_allclose(total.item(), expected.item(), **TOL[dtype])
    for p, t in zip(ps, ts):
        if t.grad is None:
            assert p.grad is None
        else:
            np.testing.assert_allclose(p.grad.numpy(), t.grad.numpy(), **TOL[dtype])


@pytest.mark.torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_clip_grad_value_matches_torch(dtype):
    torch = pytest.importorskip("torch")
    ps = _params(dtype, scale=3.0)
    ts = _torch_params(torch, ps)
    clip_grad_value_(ps, 1.5)
    torch.nn.utils.clip_grad_value_(ts, 1.5)
    for p, t in zip(ps, ts):
        np.testing.assert_array_equal(p.grad.numpy(), t.grad.numpy())


def test_clip_grad_norm_nonfinite():
    ps = _params(np.float64)
    ps[0].grad._data[1] = np.inf
    with pytest.raises(RuntimeError, match="non-finite"):
        clip_grad_norm_(ps, 1.0, error_if_nonfinite=True)
    total = clip_grad_norm_(ps, 1.0)
    assert np.isinf(total.item())


def test_clip_grad_norm_single_tensor_and_no_grads():
    p = fg.tensor(np.zeros(3), requires_grad=True)
    assert clip_grad_norm_(p, 1.0).item() == 0.0
    p.grad = fg.tensor(np.array([3.0, 4.0, 0.0]))
    total = clip_grad_norm_(p, 1.0)
    assert total.item() == pytest.approx(5.0)
    np.testing.assert_allclose(p.grad.numpy(), np.array([3.0, 4.0, 0.0]) / (5.0 + 1e-6))
