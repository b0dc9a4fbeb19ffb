"""Reduction kernels (csrc/cpu/reduce.h) through _C and the CPU backend, against NumPy:
sum / mean / max / min / var over any axes with keepdim, max / min with indices, sum_to_shape;
awkward sizes, strided and broadcast inputs, empty reductions, ties and nan, bad outputs."""

from __future__ import annotations

import numpy as np
import pytest

from fusegrad._ext import _C
from fusegrad.backend import get_backend

BE = get_backend("cpu")
DTYPES = [np.float32, np.float64]
DT_IDS = ["f32", "f64"]
GRAIN = _C.PARALLEL_GRAIN
REFS = {"sum": np.sum, "mean": np.mean, "max": np.max, "min": np.min}


def red_tol(dtype: type, n_terms: int) -> dict:
    # STYLE.md G8: reductions scale atol with the reduced length (values here are O(1)).
    # The reference is computed in float64, so float32 sees its own rounding of each term.
    if dtype == np.float32:
        return {"rtol": 1e-5, "atol": 1e-6 * max(1, n_terms)}
    return {"rtol": 1e-12, "atol": 1e-12 * max(1, n_terms)}


def _terms(shape, axes) -> int:
    if axes is None:
        return int(np.prod(shape))
    axes = (axes,) if isinstance(axes, int) else axes
    return int(np.prod([shape[a] for a in axes]))


def _check(name, x, axes, keepdim):
    got = BE.reduce(name, x, axes, keepdim)
    ref_axes = tuple(axes) if isinstance(axes, list) else axes
    expect = REFS[name](x.astype(np.float64), axis=ref_axes, keepdims=keepdim)
    assert isinstance(got, np.ndarray) and got.dtype == x.dtype
    assert got.shape == expect.shape, (got.shape, expect.shape)
    assert got.flags.c_contiguous
    if name in ("max", "min"):
        np.testing.assert_array_equal(got, expect.astype(x.dtype))
    else:
        np.testing.assert_allclose(got, expect, **red_tol(x.dtype, _terms(x.shape, axes)))


CASES = [
    # (shape, axes)
    ((), None),
    ((1,), None),
    ((7,), 0),
    ((7,), -1),
    ((5, 6), 0),
    ((5, 6), 1),
    ((5, 6), (0, 1)),
    ((3, 4, 5), (0, 2)),
    ((3, 4, 5), (-1, -3)),
    ((3, 4, 5), 1),
    ((2, 3, 4, 5), (1, 3)),
    ((2, 1, 4, 1), (1, 2)),
    ((4, 3), ()),
    ((2 * GRAIN + 7,), None),  # chunked long reduction, two threads
    ((3, 2 * GRAIN // 3 + 5), 1),  # few long rows
    ((2 * GRAIN // 9 + 1, 9), 0),  # column reduction, many row chunks
    ((700, 600), 0),  # column reduction, several stripes
    ((600, 700), 1),
]
CASE_IDS = [f"{s}-{a}".replace(" ", "") for s, a in CASES]


@pytest.mark.parametrize("keepdim", [False, True], ids=["", "keepdim"])
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("name", sorted(REFS))
def test_reduce_matches_numpy(name, dtype, case, keepdim):
    shape, axes = case
    x = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    _check(name, x, axes, keepdim)


VIEWS = {
    "transposed": lambda x: x.transpose(2, 0, 1),
    "sliced": lambda x: x[::2, 1:, ::-1],
    "broadcast": lambda x: np.broadcast_to(x[:, :1, :], x.shape),
    "fortran": lambda x: np.asfortranarray(x),
}


@pytest.mark.parametrize("axes", [None, 0, 1, 2, (0, 1), (1, 2), (0, 2)], ids=str)
@pytest.mark.parametrize("view", sorted(VIEWS))
@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
def test_reduce_strided_views(dtype, view, axes):
    base = np.random.default_rng(1).standard_normal((6, 5, 40)).astype(dtype)
    x = VIEWS[view](base)
    for name in REFS:
        _check(name, x, axes, False)
    got = BE.var(x, axes, 1, False)
    expect = np.var(x.astype(np.float64), axis=axes, ddof=1)
    np.testing.assert_allclose(got, expect, **red_tol(dtype, _terms(x.shape, axes)))


VAR_CASES = [c for c in CASES[2:] if c[1] != ()]  # np.var warns on () with correction >= 1


@pytest.mark.parametrize("correction", [0, 1, 2.5])
@pytest.mark.parametrize("case", VAR_CASES, ids=[f"{s}-{a}".replace(" ", "") for s, a in VAR_CASES])
@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
def test_var_matches_numpy(dtype, case, correction):
    shape, axes = case
    # An offset much larger than the spread: the two-pass form keeps full precision.
    x = (100.0 + np.random.default_rng(2).standard_normal(shape)).astype(dtype)
    got = BE.var(x, axes, correction, keepdim=False)
    expect = np.var(x.astype(np.float64), axis=axes, ddof=correction)
    assert got.shape == expect.shape and got.dtype == dtype
    # The variance of O(1) values: rounding of each float32 term (around 100, ulp 8e-6)
    # is a relative error of the squared deviations, not of the sum, hence rtol 1e-4.
    rtol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(got, expect, rtol=rtol, atol=1e-12)
    got_kd = BE.var(x, axes, correction, keepdim=True)
    np.testing.assert_allclose(got_kd, np.var(x.astype(np.float64), axis=axes, ddof=correction,
                                              keepdims=True), rtol=rtol, atol=1e-12)


def test_var_degrees_of_freedom_edge_cases():
    x = np.array([[1.0, 1.0], [1.0, 3.0]])
    np.testing.assert_array_equal(BE.var(x, 1, 0, False), [0.0, 1.0])
    np.testing.assert_array_equal(BE.var(x, 1, 1, False), [0.0, 2.0])
    # n - correction <= 0: m2 / 0 -> nan for m2 = 0, inf otherwise (as np.var and torch.var)
    r = BE.var(x, 1, 2, False)
    assert np.isnan(r[0]) and np.isinf(r[1])
    assert np.isnan(BE.var(np.zeros((0,)), None, 0, False))


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
def test_empty_reductions(dtype):
    x = np.zeros((0, 3), dtype)
    np.testing.assert_array_equal(BE.reduce("sum", x, 0, False), np.zeros(3, dtype))
    assert BE.reduce("sum", x, None, False) == 0
    assert BE.reduce("sum", x, None, False).shape == ()
    assert np.isnan(BE.reduce("mean", x, 0, False)).all()
    assert BE.reduce("max", x, 1, False).shape == (0,)  # nothing reduced over an empty axis
    for name in ("max", "min"):
        with pytest.raises(ValueError, match=r"\(0, 3\)"):
            BE.reduce(name, x, 0, False)
        with pytest.raises(ValueError):
            BE.reduce(name, x, None, True)
        with pytest.raises(ValueError):
            BE.reduce_with_index(name, x, 0, False)


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
def test_max_min_propagate_nan(dtype):
    x = np.arange(40, dtype=dtype).reshape(2, 20)
    x[1, 13] = np.nan
    for axes in (None, 1, 0):
        for name in ("max", "min"):
            got = BE.reduce(name, x, axes, False)
            np.testing.assert_array_equal(got, REFS[name](x, axis=axes))
    v, i = BE.reduce_with_index("max", x, 1, False)
    np.testing.assert_array_equal(i, np.argmax(x, axis=1))
    assert np.isnan(v[1])


INDEX_CASES = [((7,), 0), ((7,), -1), ((4, 9), 1), ((4, 9), 0), ((3, 4, 5), 1), ((3, 4, 5), 0),
               ((1,), 0), ((300, 600), 0), ((600, 300), 1), ((5, 0), 0)]


@pytest.mark.parametrize("keepdim", [False, True], ids=["", "keepdim"])
@pytest.mark.parametrize("case", INDEX_CASES,
                         ids=[f"{s}-{a}".replace(" ", "") for s, a in INDEX_CASES])
@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("name", ["max", "min"])
def test_reduce_with_index_first_on_ties(name, dtype, case, keepdim):
    shape, axis = case
    # small integers: many ties, the first index must win
    x = np.random.default_rng(3).integers(-3, 4, shape).astype(dtype)
    v, i = BE.reduce_with_index(name, x, axis, keepdim)
    argf = np.argmax if name == "max" else np.argmin
    exp_i = argf(x, axis=axis, keepdims=keepdim)
    assert i.dtype == np.int64 and v.dtype == dtype
    np.testing.assert_array_equal(i, exp_i)
    np.testing.assert_array_equal(v, REFS[name](x, axis=axis, keepdims=keepdim))


def test_reduce_with_index_strided_and_0d():
    x = np.random.default_rng(4).standard_normal((8, 6)).T[:, ::2]  # (6, 4), strided
    for axis in (0, 1):
        v, i = BE.reduce_with_index("max", x, axis, False)
        np.testing.assert_array_equal(i, np.argmax(x, axis=axis))
    v, i = BE.reduce_with_index("min", np.array(2.5), 0, False)
    assert v.shape == () and i.shape == () and v == 2.5 and i == 0


SUM_TO = [((4, 3), (3,)), ((4, 3), (1, 3)), ((4, 3), (4, 1)), ((4, 3), ()), ((2, 4, 3), (4, 1)),
          ((2, 4, 3), (1, 1, 1)), ((5,), (1,)), ((4, 3), (4, 3)), ((1, 3), (3,)),
          ((300, 257), (257,))]


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("case", SUM_TO, ids=[f"{a}to{b}".replace(" ", "") for a, b in SUM_TO])
def test_sum_to_shape(dtype, case):
    gshape, shape = case
    g = np.random.default_rng(5).standard_normal(gshape).astype(dtype)
    got = BE.sum_to_shape(g, shape)
    assert got.shape == shape and got.dtype == dtype
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, s in enumerate(shape) if s == 1)
    expect = g.astype(np.float64).sum(axis=axes).reshape(shape)
    np.testing.assert_allclose(got, expect, **red_tol(dtype, g.size // max(1, int(np.prod(shape)))))
    if gshape == shape:
        assert got is g


def test_sum_to_shape_rejects_incompatible():
    with pytest.raises(ValueError, match=r"\(4, 3\)"):
        BE.sum_to_shape(np.ones((4, 3)), (2, 3))
    with pytest.raises(ValueError):
        BE.sum_to_shape(np.ones((3,)), (2, 3))


def test_axis_errors_and_rejected_outputs():
    x = np.ones((2, 3), np.float32)
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        BE.reduce("sum", x, 2, False)
    with pytest.raises(ValueError):
        BE.reduce("sum", x, (0, -2), False)
    with pytest.raises(ValueError):
        BE.reduce("prod", x, None, False)
    with pytest.raises(TypeError):
        _C.reduce_sum(x, np.empty(2, np.float64), 1)
    with pytest.raises((TypeError, ValueError)):
        _C.reduce_sum(x, np.empty((2, 2), np.float32)[:, 0], 1)
    with pytest.raises(ValueError, match=r"\(3,\)"):
        _C.reduce_sum(x, np.empty(3, np.float32), 1)
    with pytest.raises(TypeError):
        _C.reduce_max_with_index(x, np.empty(2, np.float32), np.empty(2, np.int32))
    out = np.zeros(2, np.float32)
    _C.reduce_sum(x, out, 1)
    np.testing.assert_array_equal(out, [3, 3])


@pytest.mark.parametrize("axes", [None, 0, 1], ids=str)
def test_reductions_identical_for_any_thread_count(axes):
    x = np.random.default_rng(6).standard_normal((3 * GRAIN // 64 + 3, 64)).astype(np.float32)
    saved = _C.get_num_threads()
    try:
        results = []
        for n in (1, 2, 3):
            _C.set_num_threads(n)
            results.append((BE.reduce("sum", x, axes, False), BE.var(x, axes, 1, False)))
    finally:
        _C.set_num_threads(saved)
    for s, v in results[1:]:
        np.testing.assert_array_equal(s, results[0][0])
        np.testing.assert_array_equal(v, results[0][1])


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("n", [1, 3, 8, 13, 1000, 2 * GRAIN + 5], ids=lambda n: f"n{n}")
def test_max_min_contiguous_runs_nan_inf_positions(dtype, n):
    # The vectorised contiguous max / min path: nan anywhere (main loop or tail) wins,
    # infinities are ordinary values, argmax returns the first extreme / first nan.
    rng = np.random.default_rng(8)
    base = rng.standard_normal(n).astype(dtype)
    for pos in sorted({0, n // 2, n - 1}):
        x = base.copy()
        x[pos] = np.inf
        for name in ("max", "min"):
            np.testing.assert_array_equal(BE.reduce(name, x, None, False), REFS[name](x))
        v, i = BE.reduce_with_index("max", x[None, :], 1, False)
        assert i[0] == pos and v[0] == np.inf
        x[pos] = np.nan
        for name in ("max", "min"):
            assert np.isnan(BE.reduce(name, x, None, False))
        v, i = BE.reduce_with_index("min", x[None, :], 1, False)
        assert i[0] == np.argmin(x) == pos and np.isnan(v[0])
