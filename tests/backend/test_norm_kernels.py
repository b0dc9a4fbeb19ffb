"""Batch-norm kernels (csrc/cpu/norm.*) called directly: NumPy reference, tricky sizes,
thread-count invariance, large-mean stability, aliasing and argument checks."""

from __future__ import annotations

import numpy as np
import pytest

import fusegrad as fg
from fusegrad._ext import _C
from tests.helpers import assert_close

# 2-D input is summed in fixed chunks of rows (cpu/norm.h, Note [batch-norm row chunks]):
# (3000, 200) has 19 chunks, (600, 700) 13, (20000, 3) two, (64, 300) one.
SHAPES = [(2, 3), (7, 5), (1, 4, 9), (3, 4, 37), (2, 1, 1000), (2100, 17), (64, 300), (5, 0),
          (20000, 3), (3000, 200), (600, 700)]
IDS = [str(s) for s in SHAPES]


def ref_forward(x, w, b, eps):
    """float64 reference: batch stats over all axes but 1."""
    x64 = x.astype(np.float64)
    axes = (0,) + tuple(range(2, x.ndim))
    mean = x64.mean(axis=axes)
    var = x64.var(axis=axes)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    xhat = (x64 - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)
    return xhat * w.reshape(shape) + b.reshape(shape), mean, var, xhat


def ref_backward(x, gy, w, eps):
    _, _, var, xhat = ref_forward(x, w, np.zeros_like(w), eps)
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    m = x.size // x.shape[1]
    g = gy.astype(np.float64)
    sdy = g.sum(axis=axes)
    sdyx = (g * xhat).sum(axis=axes)
    invstd = 1 / np.sqrt(var + eps)
    gx = (w * invstd).reshape(shape) * (g - sdy.reshape(shape) / m - xhat * sdyx.reshape(shape) / m)
    return gx, sdyx, sdy


def _run_forward(x, w, b, rm, rv, batch_stats=True, factor=0.1, eps=1e-5):
    c = x.shape[1]
    y = np.empty_like(x)
    sm = np.empty(c, x.dtype)
    si = np.empty(c, x.dtype)
    _C.batch_norm_forward(x, w, b, y, sm, si, rm, rv, batch_stats, factor, eps)
    return y, sm, si


@pytest.mark.parametrize("shape", SHAPES, ids=IDS)
def test_batch_norm_forward_matches_reference(shape, dtype, rng):
    x = (rng.standard_normal(shape) * 2 + 3).astype(dtype)
    c = shape[1]
    w = rng.standard_normal(c).astype(dtype)
    b = rng.standard_normal(c).astype(dtype)
    rm = rng.standard_normal(c).astype(dtype)
    rv = rng.random(c).astype(dtype) + 0.5
    rm0, rv0 = rm.copy(), rv.copy()
    y, sm, si = _run_forward(x, w, b, rm, rv)
    if x.size == 0:
        return
    yr, mean, var, _ = ref_forward(x, w, b, 1e-5)
    m = x.size // c
    assert_close(y, yr, dtype, n_terms=8, what="y")
    assert_close(sm, mean, dtype, n_terms=8, what="save_mean")
    assert_close(si, 1 / np.sqrt(var + 1e-5), dtype, n_terms=8, what="save_invstd")
    assert_close(rm, 0.9 * rm0 + 0.1 * mean, dtype, n_terms=8, what="running_mean")
    assert_close(rv, 0.9 * rv0 + 0.1 * var * m / (m - 1), dtype, n_terms=8, what="running_var")


@pytest.mark.parametrize("shape", SHAPES, ids=IDS)
def test_batch_norm_backward_matches_reference(shape, dtype, rng):
    x = rng.standard_normal(shape).astype(dtype)
    gy = rng.standard_normal(shape).astype(dtype)
    c = shape[1]
    w = rng.standard_normal(c).astype(dtype)
    _, sm, si = _run_forward(x, w, None, None, None)
    gx = np.empty_like(x)
    gw = np.empty(c, dtype)
    gb = np.empty(c, dtype)
    _C.batch_norm_backward(x, gy, w, sm, si, gx, gw, gb, True)
    if x.size == 0:
        return
    gxr, gwr, gbr = ref_backward(x, gy, w, 1e-5)
    n_terms = 4 * x.size // c
    assert_close(gx, gxr, dtype, n_terms=n_terms, what="gx")
    assert_close(gw, gwr, dtype, n_terms=n_terms, what="gweight")
    assert_close(gb, gbr, dtype, n_terms=n_terms, what="gbias")


@pytest.mark.parametrize("shape", [(6, 4, 3), (9, 4), (40000, 4)], ids=["3d", "2d", "tall"])
def test_batch_norm_eval_uses_running_stats(shape, dtype, rng):
    x = rng.standard_normal(shape).astype(dtype)
    rm = rng.standard_normal(4).astype(dtype)
    rv = rng.random(4).astype(dtype) + 0.5
    rm0, rv0 = rm.copy(), rv.copy()
    y, sm, si = _run_forward(x, None, None, rm, rv, batch_stats=False)
    np.testing.assert_array_equal(rm, rm0)
    np.testing.assert_array_equal(rv, rv0)
    bshape = (1, 4) + (1,) * (x.ndim - 2)
    expect = (x - rm0.reshape(bshape)) / np.sqrt(rv0.reshape(bshape) + 1e-5)
    assert_close(y, expect, dtype, n_terms=4)
    gy = rng.standard_normal(x.shape).astype(dtype)
    gx = np.empty_like(x)
    _C.batch_norm_backward(x, gy, None, sm, si, gx, None, None, False)
    assert_close(gx, gy / np.sqrt(rv0.reshape(bshape) + 1e-5), dtype, n_terms=4)


@pytest.mark.parametrize("shape", [(512, 1024), (40000, 8), (8, 64, 300)],
                         ids=["2d_chunks", "2d_tall", "3d"])
def test_batch_norm_same_bits_for_any_thread_count(shape, rng):
    x = rng.standard_normal(shape).astype(np.float32)
    gy = rng.standard_normal(shape).astype(np.float32)
    c = shape[1]
    outs = []
    old = fg.get_num_threads()
    try:
        for nt in (1, 2, 3):
            fg.set_num_threads(nt)
            rm, rv = np.zeros(c, np.float32), np.ones(c, np.float32)
            y, sm, si = _run_forward(x, None, None, rm, rv)
            gx = np.empty_like(x)
            gw, gb = np.empty(c, np.float32), np.empty(c, np.float32)
            _C.batch_norm_backward(x, gy, None, sm, si, gx, gw, gb, True)
            outs.append((y, sm, si, rm, rv, gx, gw, gb))
    finally:
        fg.set_num_threads(old)
    for other in outs[1:]:
        for a, b in zip(outs[0], other):
            np.testing.assert_array_equal(a, b)


def test_batch_norm_stable_with_large_mean(rng):
    # |mean| / std = 1e4: the one-pass Σx² - M·mean² formula loses every digit in float32.
    x = (1e4 + rng.standard_normal((4096, 8))).astype(np.float32)
    _, mean, var, _ = ref_forward(x, np.ones(8), np.zeros(8), 0.0)
    y, sm, si = _run_forward(x, None, None, None, None, eps=0.0)
    np.testing.assert_allclose(1 / si.astype(np.float64) ** 2, var, rtol=1e-3)
    np.testing.assert_allclose(sm, mean, rtol=1e-6)
    assert abs(float(y.astype(np.float64).std()) - 1) < 1e-3


# (700, 400) float64 is 2.2 MB: its element pass uses streaming stores (cpu/norm_impl.h,
# Note [batch-norm streaming stores]).
@pytest.mark.parametrize("shape", [(9, 5), (700, 400)], ids=["small", "streamed"])
def test_batch_norm_backward_gx_may_alias_gy(shape, rng):
    x = rng.standard_normal(shape).astype(np.float64)
    gy = rng.standard_normal(shape)
    _, sm, si = _run_forward(x, None, None, None, None)
    gx = np.empty_like(x)
    _C.batch_norm_backward(x, gy, None, sm, si, gx, None, None, True)
    _C.batch_norm_backward(x, gy, None, sm, si, gy, None, None, True)
    np.testing.assert_array_equal(gx, gy)


def test_batch_norm_rejects_bad_arguments(rng):
    x = rng.standard_normal((4, 3)).astype(np.float32)
    c = 3
    sm, si = np.empty(c, np.float32), np.empty(c, np.float32)
    with pytest.raises(ValueError, match="C-contiguous"):  # strided output: never copied
        _C.batch_norm_forward(x, None, None, np.empty((4, 6), np.float32)[:, ::2], sm, si, None,
                              None, True, 0.1, 1e-5)
    with pytest.raises(TypeError):  # wrong dtype
        _C.batch_norm_forward(x, None, None, np.empty((4, 3)), sm, si, None, None, True, 0.1,
                              1e-5)
    with pytest.raises(ValueError, match=r"\(4,\)"):
        _C.batch_norm_forward(x, np.ones(4, np.float32), None, np.empty_like(x), sm, si, None,
                              None, True, 0.1, 1e-5)
    with pytest.raises(ValueError, match="2-D"):
        _C.batch_norm_forward(x[0], None, None, np.empty(3, np.float32), sm, si, None, None, True,
                              0.1, 1e-5)
    with pytest.raises(ValueError, match="running_mean"):
        _C.batch_norm_forward(x, None, None, np.empty_like(x), sm, si, None, None, False, 0.1,
                              1e-5)
