"""Loss / softmax / dropout kernels (csrc/cpu/loss.*, random.*) called directly: NumPy
references, exp accuracy, extreme logits, label checks, sizes, aliasing."""

from __future__ import annotations

import numpy as np
import pytest

import fusegrad as fg
from fusegrad._ext import _C
from fusegrad.backend import get_backend
from tests.helpers import assert_close

ROWS = [(1, 1), (3, 5), (4, 17), (2, 100), (33, 1000)]
RIDS = [f"{n}x{c}" for n, c in ROWS]


def ref_ce(z, y, w, ignore, eps):
    """float64 per-row loss and the mean denominator, PyTorch's definition."""
    z = z.astype(np.float64)
    n, c = z.shape
    w = np.ones(c) if w is None else w.astype(np.float64)
    m = z.max(axis=1, keepdims=True)
    lp = z - (m + np.log(np.exp(z - m).sum(axis=1, keepdims=True)))
    loss = np.zeros(n)
    den = 0.0
    for i in range(n):
        if y[i] == ignore:
            continue
        loss[i] = (1 - eps) * w[y[i]] * -lp[i, y[i]] + eps / c * (w * -lp[i]).sum()
        den += w[y[i]]
    return loss, den, lp


def ref_ce_grad(z, y, w, ignore, eps, g):
    n, c = z.shape
    w = np.ones(c) if w is None else w.astype(np.float64)
    _, _, lp = ref_ce(z, y, w, ignore, eps)
    p = np.exp(lp)
    gx = np.zeros((n, c))
    for i in range(n):
        if y[i] == ignore:
            continue
        a = (1 - eps) * w[y[i]] + eps / c * w.sum()
        gx[i] = g[i] * (a * p[i] - eps / c * w)
        gx[i, y[i]] -= g[i] * (1 - eps) * w[y[i]]
    return gx


@pytest.mark.parametrize("shape", ROWS, ids=RIDS)
@pytest.mark.parametrize("weighted", [False, True], ids=["plain", "weighted"])
@pytest.mark.parametrize("eps", [0.0, 0.2], ids=["ls0", "ls0.2"])
def test_softmax_cross_entropy_matches_reference(shape, weighted, eps, dtype, rng):
    n, c = shape
    z = (rng.standard_normal(shape) * 4).astype(dtype)
    y = rng.integers(0, c, n)
    y[::3] = -100
    w = (rng.random(c) + 0.5).astype(dtype) if weighted else None
    loss, lse = np.empty(n, dtype), np.empty(n, dtype)
    s, ws = _C.softmax_cross_entropy_forward(z, y, w, loss, lse, -100, eps)
    lr, den, _ = ref_ce(z, y, w, -100, eps)
    assert_close(loss, lr, dtype, n_terms=c, what="loss")
    np.testing.assert_allclose(ws, den, rtol=1e-6)
    np.testing.assert_allclose(s, lr.sum(), rtol=1e-5 if dtype == np.float32 else 1e-12,
                               atol=1e-6)
    g = rng.standard_normal(n).astype(dtype)
    gx = np.empty_like(z)
    _C.softmax_cross_entropy_backward(z, y, w, lse, g, gx, -100, eps, 0.5)
    assert_close(gx, ref_ce_grad(z, y, w, -100, eps, g.astype(np.float64) * 0.5), dtype,
                 n_terms=4, what="gx")


def test_softmax_cross_entropy_finite_at_extreme_logits(dtype):
    z = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [3e4, 3e4, -3e4]], dtype)
    y = np.array([1, 0, 2])
    loss, lse = np.empty(3, dtype), np.empty(3, dtype)
    _C.softmax_cross_entropy_forward(z, y, None, loss, lse, -100, 0.1)
    assert np.isfinite(loss).all() and np.isfinite(lse).all()
    np.testing.assert_allclose(loss[0], 0.9 * 2e4 + 0.1 / 3 * (0 + 2e4 + 1e4), rtol=1e-6)
    # lse = -1e4 + log 3 is rounded at the scale of 1e4: one ulp there is 1e4·eps.
    np.testing.assert_allclose(loss[1], np.log(3), atol=2e4 * np.finfo(dtype).eps)
    gx = np.empty_like(z)
    _C.softmax_cross_entropy_backward(z, y, None, lse, np.ones(1, dtype), gx, -100, 0.0, 1.0)
    assert np.isfinite(gx).all()
    np.testing.assert_allclose(gx[0], [1, -1, 0], atol=1e-6)


@pytest.mark.parametrize("bad", [3, -1, 1000], ids=["c", "neg", "big"])
def test_softmax_cross_entropy_rejects_label_out_of_range(bad):
    z = np.zeros((2, 3), np.float32)
    loss, lse = np.empty(2, np.float32), np.empty(2, np.float32)
    with pytest.raises(IndexError, match=f"Target {bad} .*n_classes = 3"):
        _C.softmax_cross_entropy_forward(z, np.array([0, bad]), None, loss, lse, -100, 0.0)
    with pytest.raises(TypeError):
        _C.softmax_cross_entropy_forward(z, np.array([0.0, 1.0]), None, loss, lse, -100, 0.0)


def test_softmax_cross_entropy_empty_batch():
    z = np.zeros((0, 4), np.float32)
    s, ws = _C.softmax_cross_entropy_forward(z, np.zeros(0, np.int64), None, np.empty(0, np.float32),
                                             np.empty(0, np.float32), -100, 0.0)
    assert (s, ws) == (0.0, 0.0)


@pytest.mark.parametrize("shape", ROWS + [(2, 3, 7)], ids=RIDS + ["3d"])
def test_softmax_and_log_softmax_match_reference(shape, dtype, rng):
    x = (rng.standard_normal(shape) * 10).astype(dtype)
    x64 = x.astype(np.float64)
    m = x64.max(-1, keepdims=True)
    ref = np.exp(x64 - m) / np.exp(x64 - m).sum(-1, keepdims=True)
    y, ly = np.empty_like(x), np.empty_like(x)
    _C.softmax_forward(x, y)
    _C.log_softmax_forward(x, ly)
    # exp_poly is within ~2 ulp of exp (Note [exp_poly]).
    assert_close(y, ref, dtype, n_terms=4, what="softmax")
    assert_close(ly, np.log(ref), dtype, n_terms=40, what="log_softmax")
    gy = rng.standard_normal(shape).astype(dtype)
    gx = np.empty_like(x)
    _C.softmax_backward(y, gy, gx)
    assert_close(gx, ref * (gy - (gy * ref).sum(-1, keepdims=True)), dtype, n_terms=shape[-1])
    _C.log_softmax_backward(ly, gy, gx)
    assert_close(gx, gy - ref * gy.sum(-1, keepdims=True), dtype, n_terms=shape[-1])
    _C.softmax_forward(x, x)  # y may alias x
    np.testing.assert_array_equal(x, y)


def test_exp_poly_accuracy_over_the_range(dtype):
    # softmax of [t, 0] = 1/(1+exp(-t)) exercises exp_poly on [-700, 0] / [-87, 0].
    lo = -80.0 if dtype == np.float32 else -700.0
    t = np.linspace(lo, 0, 20001).astype(dtype)
    x = np.stack([np.zeros_like(t), t], axis=1)
    y = np.empty_like(x)
    _C.softmax_forward(x, y)
    e = np.exp(t.astype(np.float64))
    ulp = np.finfo(dtype).eps
    np.testing.assert_allclose(y[:, 1], e / (1 + e), rtol=4 * ulp, atol=0)
    z = np.array([[0.0, -1e5, np.nan]], dtype)
    _C.softmax_forward(z[:, :2], y[:1])
    assert y[0, 1] == 0 and y[0, 0] == 1


def test_nll_bce_mse_match_reference(dtype, rng):
    be = get_backend("cpu")
    x = rng.standard_normal((6, 4)).astype(dtype)
    y = np.array([0, 3, -100, 1, 2, 2])
    w = (rng.random(4) + 0.5).astype(dtype)
    loss, tw = be.nll_loss_forward(x, y, w, ignore_index=-100, reduction="mean")
    keep = y != -100
    num = -(w[y[keep]] * x[keep, y[keep]]).sum()
    assert_close(loss, num / w[y[keep]].sum(), dtype, n_terms=6)
    gx = be.nll_loss_backward(y, w, tw, np.ones((), dtype), shape=x.shape, dtype=x.dtype,
                              ignore_index=-100, reduction="sum")
    ref = np.zeros_like(x)
    ref[np.nonzero(keep)[0], y[keep]] = -w[y[keep]]
    assert_close(gx, ref, dtype)

    z = np.array([-1e4, -30, -1, 0, 1, 30, 1e4], dtype)
    t = np.array([0, 1, 0.3, 1, 0, 0.5, 1], dtype)
    pw = np.full_like(z, 2.5)
    z64, t64 = z.astype(np.float64), t.astype(np.float64)
    sp = np.logaddexp(0, -z64)  # softplus(-z)
    c = 1 + 1.5 * t64
    l = be.bce_with_logits_forward(z, t, pw, reduction="none")
    assert np.isfinite(l).all()
    assert_close(l, (1 - t64) * z64 + c * sp, dtype, n_terms=4)
    g = be.bce_with_logits_backward(z, t, pw, np.ones((), dtype), reduction="mean")
    sig_neg = np.exp(-np.logaddexp(0, z64))
    assert_close(g, ((1 - t64) - c * sig_neg) / z.size, dtype)

    a = rng.standard_normal((3, 5)).astype(dtype)
    b = rng.standard_normal((3, 5)).astype(dtype)
    assert_close(be.mse_loss_forward(a, b, reduction="sum"), ((a - b) ** 2).sum(), dtype,
                 n_terms=15)
    gx, gt = be.mse_loss_backward(a, b, np.full((), 2, dtype), reduction="mean", need_target=True)
    assert_close(gx, 2 * (a - b) * 2 / a.size, dtype)
    assert_close(gt, -gx, dtype)


@pytest.mark.parametrize("n", [0, 1, 3, 4, 5, 1001], ids=lambda n: f"n{n}")
def test_dropout_kernel_mask_scale_and_reproducibility(n, dtype, rng):
    be = get_backend("cpu")
    x = rng.standard_normal(n).astype(dtype)
    y, mask = be.dropout_forward(x, 0.3, seed=1234, offset=7)
    y2, mask2 = be.dropout_forward(x, 0.3, seed=1234, offset=7)
    np.testing.assert_array_equal(mask, mask2)
    np.testing.assert_array_equal(y, y2)
    np.testing.assert_allclose(y, np.where(mask, x / dtype(0.7), 0), rtol=1e-6)
    gx = be.dropout_backward(np.ones_like(x), mask, 0.3)
    np.testing.assert_allclose(gx, np.where(mask, 1 / dtype(0.7), 0), rtol=1e-6)
    # A prefix of a longer stream draws the same bits (index-keyed, not sequence-keyed).
    if n:
        _, longer = be.dropout_forward(np.zeros(n + 9, dtype), 0.3, seed=1234, offset=7)
        np.testing.assert_array_equal(longer[:n], mask)


def test_dropout_kernel_extremes_and_statistics():
    be = get_backend("cpu")
    x = np.ones(200_000, np.float32)
    _, m0 = be.dropout_forward(x, 0.0, 5)
    y1, m1 = be.dropout_forward(x, 1.0, 5)
    assert m0.all() and not m1.any() and not y1.any()
    for p in (0.1, 0.5, 0.9):
        y, m = be.dropout_forward(x, p, 99)
        # binomial std of the kept fraction is sqrt(p(1-p)/n) <= 0.0012; allow 5 sigma.
        assert abs(1 - m.mean() - p) < 0.006
        assert abs(y.mean() - 1) < 0.006 / (1 - p)
    _, a = be.dropout_forward(x, 0.5, 1)
    _, b = be.dropout_forward(x, 0.5, 2)
    assert (a != b).mean() > 0.4  # different seeds: independent masks
    with pytest.raises(ValueError):
        _C.dropout_forward(x, np.empty_like(x), np.empty(x.shape, bool), 1.5, 1.0, 0, 0)
