"""BatchNorm op and nn.BatchNorm1d vs PyTorch (outputs, input and parameter grads, running
statistics over several steps, eval, momentum=None, affine=False, 3-D input) and gradcheck."""

from __future__ import annotations

import numpy as np
import pytest

import fusegrad as fg
import fusegrad.nn as nn
import fusegrad.nn.functional as F
from tests.helpers import GRADCHECK, TORCH_TOL, assert_close

torch = pytest.importorskip("torch")

CASES = [
    # (shape, momentum, affine, track)
    ((16, 5), 0.1, True, True),
    ((8, 3, 7), 0.1, True, True),
    ((32, 6), None, True, True),
    ((10, 4), 0.3, False, True),
    ((12, 4, 2), 0.1, True, False),
]
CIDS = ["2d", "3d", "momentum_none", "no_affine", "untracked"]


def _tdt(dtype):
    return torch.float32 if dtype == np.float32 else torch.float64


@pytest.mark.torch
@pytest.mark.parametrize("shape, momentum, affine, track", CASES, ids=CIDS)
def test_batchnorm1d_matches_torch_over_steps(shape, momentum, affine, track, dtype, rng):
    c = shape[1]
    ours = nn.BatchNorm1d(c, momentum=momentum, affine=affine, track_running_stats=track,
                          dtype=dtype)
    ref = torch.nn.BatchNorm1d(c, momentum=momentum, affine=affine,
                               track_running_stats=track).to(_tdt(dtype))
    if affine:
        w = rng.standard_normal(c).astype(dtype)
        b = rng.standard_normal(c).astype(dtype)
        with fg.no_grad():
            ours.weight.copy_(w)
            ours.bias.copy_(b)
        with torch.no_grad():
            ref.weight.copy_(torch.from_numpy(w))
            ref.bias.copy_(torch.from_numpy(b))
    n_terms = 8 * int(np.prod(shape)) // c
    for step in range(4):
        x = (rng.standard_normal(shape) * (step + 1) + step).astype(dtype)
        gy = rng.standard_normal(shape).astype(dtype)
        xf = fg.tensor(x, requires_grad=True)
        xt = torch.tensor(x, requires_grad=True)
        yf, yt = ours(xf), ref(xt)
        yf.backward(fg.tensor(gy))
        yt.backward(torch.from_numpy(gy))
        assert_close(yf, yt.detach().numpy(), dtype, TORCH_TOL, n_terms, f"y step {step}")
        assert_close(xf.grad, xt.grad.numpy(), dtype, TORCH_TOL, n_terms, f"gx step {step}")
        if affine:
            assert_close(ours.weight.grad, ref.weight.grad.numpy(), dtype, TORCH_TOL, n_terms)
            assert_close(ours.bias.grad, ref.bias.grad.numpy(), dtype, TORCH_TOL, n_terms)
            ours.zero_grad()
            ref.zero_grad()
        if track:
            assert_close(ours.running_mean, ref.running_mean.numpy(), dtype, TORCH_TOL, n_terms)
            assert_close(ours.running_var, ref.running_var.numpy(), dtype, TORCH_TOL, n_terms)
            assert int(ours.num_batches_tracked.item()) == int(ref.num_batches_tracked)
    # eval: running statistics (or batch statistics when not tracked)
    ours.eval()
    ref.eval()
    x = rng.standard_normal(shape).astype(dtype)
    xf = fg.tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    yf, yt = ours(xf), ref(xt)
    assert_close(yf, yt.detach().numpy(), dtype, TORCH_TOL, n_terms, "eval y")
    yf.sum().backward()
    yt.sum().backward()
    assert_close(xf.grad, xt.grad.numpy(), dtype, TORCH_TOL, n_terms, "eval gx")


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("shape", [(5, 3), (4, 2, 3)], ids=["2d", "3d"])
def test_batch_norm_gradcheck(training, shape, rng):
    c = shape[1]
    x = fg.tensor(rng.standard_normal(shape), requires_grad=True)
    w = fg.tensor(rng.standard_normal(c), requires_grad=True)
    b = fg.tensor(rng.standard_normal(c), requires_grad=True)
    rm = fg.tensor(rng.standard_normal(c))
    rv = fg.tensor(rng.random(c) + 0.5)

    def fn(x, w, b):
        # running stats are not touched in training here (None), so every call sees the same
        return F.batch_norm(x, None if training else rm, None if training else rv, w, b,
                            training=training)

    assert fg.autograd.gradcheck(fn, (x, w, b), **GRADCHECK)


def test_batchnorm1d_errors():
    bn = nn.BatchNorm1d(3)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        bn(fg.zeros(1, 3))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        bn(fg.zeros(1, 3, 1))
    with pytest.raises(ValueError, match="2D or 3D"):
        bn(fg.zeros(2, 3, 4, 5))
    with pytest.raises(ValueError, match="channels"):
        bn(fg.zeros(4, 5))
    bn.eval()
    assert bn(fg.zeros(1, 3)).shape == (1, 3)  # one sample is fine in eval


def test_batch_norm_functional_nd_input_matches_torch(rng):
    x = rng.standard_normal((4, 3, 2, 5))
    rm, rv = np.zeros(3), np.ones(3)
    y = F.batch_norm(fg.tensor(x), fg.tensor(rm), fg.tensor(rv), training=True)
    yt = torch.nn.functional.batch_norm(torch.tensor(x), torch.zeros(3, dtype=torch.float64),
                                        torch.ones(3, dtype=torch.float64), training=True)
    assert_close(y, yt.numpy(), np.float64, TORCH_TOL, 40)
