"""Column reductions (the "vertical" plan of csrc/cpu/reduce.cpp, Note [column sums]): sum,
mean and var over leading axes of C-contiguous and strided arrays, on shapes around the stripe
width (4096 float / 2048 double accumulators), the row-chunk length and the few-rows case that
splits columns over threads, against float64 NumPy; and bit-identical for any thread count."""

from __future__ import annotations

import numpy as np
import pytest

from fusegrad._ext import _C
from fusegrad.backend import get_backend

BE = get_backend("cpu")
DTYPES = [np.float32, np.float64]
DT_IDS = ["f32", "f64"]

# (shape, axes): axis 0 of matrices (rows x columns), an inner axis of a 3-d array (several
# outer blocks), and two leading axes.
CASES = [
    ((4096, 1024), 0),  # the bench shape
    ((1000, 1), 0),
    ((1, 777), 0),
    ((3, 5000), 0),  # few rows, wide: columns split over threads
    ((2, 70000), 0),
    ((513, 4097), 0),  # one float stripe and a 1-column remainder
    ((300, 2049), 0),  # one double stripe and a remainder
    ((2049, 16), 0),  # narrow: long row chunks
    ((1025, 256), 0),
    ((5, 600, 300), 1),
    ((7, 30, 1100), (0, 1)),
    ((4, 3, 2, 1030), (0, 2)),
]
IDS = [f"{'x'.join(map(str, s))}-ax{a}".replace(" ", "") for s, a in CASES]


def _tol(dtype, n_terms):
    # STYLE.md G8: reductions scale atol with the reduced length (values here are O(1)).
    if dtype == np.float32:
        return {"rtol": 1e-5, "atol": 1e-6 * max(1, n_terms)}
    return {"rtol": 1e-12, "atol": 1e-12 * max(1, n_terms)}


def _terms(shape, axes):
    axes = (axes,) if isinstance(axes, int) else axes
    return int(np.prod([shape[a] for a in axes]))


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_column_sum_mean_var(dtype, case):
    shape, axes = case
    x = np.random.default_rng(len(IDS[CASES.index(case)])).standard_normal(shape).astype(dtype)
    x64 = x.astype(np.float64)
    n = _terms(shape, axes)
    tol = _tol(dtype, n)
    np.testing.assert_allclose(BE.reduce("sum", x, axes, False), x64.sum(axis=axes), **tol)
    np.testing.assert_allclose(BE.reduce("mean", x, axes, True),
                               x64.mean(axis=axes, keepdims=True), **_tol(dtype, 1))
    if n > 1:
        np.testing.assert_allclose(BE.var(x, axes, 1, False), x64.var(axis=axes, ddof=1),
                                   **_tol(dtype, 1))


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
def test_column_sum_offset_data_stays_accurate(dtype):
    # Large common offset plus small noise: accumulation in acc_t per row chunk, then double
    # across chunks, keeps the float32 error small.
    rng = np.random.default_rng(11)
    x = (1000 + rng.standard_normal((8192, 300))).astype(dtype)
    got = BE.reduce("sum", x, 0, False).astype(np.float64)
    want = x.astype(np.float64).sum(axis=0)
    rel = np.max(np.abs(got - want) / np.abs(want))
    # Here float32 chunks of 512 rows (sums near 5e5, ulp 0.03) are folded in double: ~3e-8
    # relative. A float32 running sum over all 8192 rows would be off by ~3e-6.
    assert rel <= (2e-7 if dtype == np.float32 else 1e-14), rel


@pytest.mark.parametrize("view", ["transposed", "sliced", "negative"])
def test_column_sum_strided_views(view):
    rng = np.random.default_rng(12)
    base = rng.standard_normal((600, 900)).astype(np.float32)
    x = {"transposed": base.T[:, ::2].T, "sliced": base[::3, 5:800],
         "negative": base[::-1, :]}[view]
    np.testing.assert_allclose(BE.reduce("sum", x, 0, False), x.astype(np.float64).sum(axis=0),
                               **_tol(np.float32, x.shape[0]))


@pytest.mark.parametrize("shape", [(3, 5000), (4096, 1024), (9, 40000)], ids=str)
def test_column_sum_identical_for_any_thread_count(shape):
    # The stripe width follows the thread count when rows are few; the result must not.
    x = np.random.default_rng(13).standard_normal(shape).astype(np.float32)
    saved = _C.get_num_threads()
    try:
        results = []
        for n in (1, 2, 3):
            _C.set_num_threads(n)
            results.append((BE.reduce("sum", x, 0, False), BE.var(x, 0, 0, False)))
    finally:
        _C.set_num_threads(saved)
    for s, v in results[1:]:
        np.testing.assert_array_equal(s, results[0][0])
        np.testing.assert_array_equal(v, results[0][1])
