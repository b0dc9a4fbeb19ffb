"""Elementwise kernels (csrc/cpu/elementwise.h) through _C and the CPU backend, against NumPy:
every unary / binary / comparison op on awkward sizes, strided and broadcast inputs, the
kink conventions, extreme inputs, and rejected output buffers."""

from __future__ import annotations

import numpy as np
import pytest

from fusegrad._ext import _C
from fusegrad.backend import get_backend

BE = get_backend("cpu")
DTYPES = [np.float32, np.float64]
DT_IDS = ["f32", "f64"]
# 0, 1, odd, and above 2 * PARALLEL_GRAIN so that two threads split the work.
SIZES = [0, 1, 7, 1001, 2 * _C.PARALLEL_GRAIN + 3]


def tol(dtype: type) -> dict:
    # STYLE.md G8 pointwise table. Reference values are computed in float64 and rounded,
    # so float32 results may differ by an ulp of libm (well inside rtol 1e-5).
    return {"rtol": 1e-5, "atol": 1e-6} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-12}


# ---- NumPy references: (forward, d/dx, domain, params a, b) ---------------------------------
def _sigmoid(x, a=0.0, b=0.0):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


UNARY = {
    "neg": (lambda x, a, b: -x, lambda x, a, b: -np.ones_like(x), (-3, 3), (0.0, 0.0)),
    "exp": (lambda x, a, b: np.exp(x), lambda x, a, b: np.exp(x), (-5, 5), (0.0, 0.0)),
    "log": (lambda x, a, b: np.log(x), lambda x, a, b: 1 / x, (0.1, 5), (0.0, 0.0)),
    "sqrt": (lambda x, a, b: np.sqrt(x), lambda x, a, b: 0.5 / np.sqrt(x), (0.1, 5), (0.0, 0.0)),
    "abs": (lambda x, a, b: np.abs(x), lambda x, a, b: np.sign(x), (-3, 3), (0.0, 0.0)),
    "tanh": (lambda x, a, b: np.tanh(x), lambda x, a, b: 1 - np.tanh(x) ** 2, (-4, 4), (0.0, 0.0)),
    "sigmoid": (_sigmoid, lambda x, a, b: _sigmoid(x) * (1 - _sigmoid(x)), (-8, 8), (0.0, 0.0)),
    "relu": (lambda x, a, b: np.maximum(x, 0), lambda x, a, b: (x > 0) * 1.0, (-3, 3), (0.0, 0.0)),
    "leaky_relu": (
        lambda x, a, b: np.where(x > 0, x, a * x),
        lambda x, a, b: np.where(x > 0, 1.0, a),
        (-3, 3),
        (0.01, 0.0),
    ),
    "clamp": (
        lambda x, a, b: np.clip(x, a, b),
        lambda x, a, b: ((x >= a) & (x <= b)) * 1.0,
        (-3, 3),
        (-0.5, 1.25),
    ),
    "pow_scalar": (
        lambda x, a, b: x**a,
        lambda x, a, b: a * x ** (a - 1),
        (0.2, 3),
        (2.5, 0.0),
    ),
}


def _uniform(rng, lo, hi, shape, dtype):
    return rng.uniform(lo, hi, size=shape).astype(dtype)


def test_unary_list_covered():
    assert set(_C.UNARY_OPS) == set(UNARY), "every FG_UNARY_OPS op needs a reference here"


@pytest.mark.parametrize("n", SIZES, ids=[f"n{n}" for n in SIZES])
@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_forward_backward_match_numpy(name, dtype, n):
    fwd, deriv, (lo, hi), (a, b) = UNARY[name]
    rng = np.random.default_rng(1)
    x = _uniform(rng, lo, hi, n, dtype)
    gy = _uniform(rng, -2, 2, n, dtype)
    x64 = x.astype(np.float64)
    y = BE.unary_forward(name, x, a, b)
    assert y.dtype == dtype and y.shape == x.shape and y.flags.c_contiguous
    np.testing.assert_allclose(y, fwd(x64, a, b).astype(dtype), **tol(dtype))
    gx = BE.unary_backward(name, x, y, gy, a, b)
    assert gx.dtype == dtype and gx.shape == x.shape
    np.testing.assert_allclose(gx, (deriv(x64, a, b) * gy).astype(dtype), **tol(dtype))


VIEWS = {
    "transposed": lambda x: x.T,
    "step2": lambda x: x[:, ::2],
    "reversed": lambda x: x[::-1, ::-3],
    "0-d": lambda x: x[1:2, 2:3].reshape(()),
    "size1-dims": lambda x: x[:, None, 1:2],
}


@pytest.mark.parametrize("view", sorted(VIEWS))
@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("name", ["sigmoid", "clamp", "log"])
def test_unary_reads_strided_views_in_place(name, dtype, view):
    fwd, deriv, (lo, hi), (a, b) = UNARY[name]
    rng = np.random.default_rng(2)
    base = _uniform(rng, lo, hi, (9, 12), dtype)
    x = VIEWS[view](base)
    gy = VIEWS[view](_uniform(rng, -1, 1, (9, 12), dtype))
    y = BE.unary_forward(name, x, a, b)
    assert y.shape == x.shape and y.flags.c_contiguous
    np.testing.assert_allclose(y, fwd(x.astype(np.float64), a, b).astype(dtype), **tol(dtype))
    # y passed back as a strided view too: every operand may have its own strides.
    y_view = np.ascontiguousarray(y.T).T if y.ndim == 2 else y
    gx = BE.unary_backward(name, x, y_view, gy, a, b)
    expect = deriv(x.astype(np.float64), a, b) * gy
    np.testing.assert_allclose(gx, expect.astype(dtype), **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
def test_sigmoid_extreme_values_finite(dtype):
    x = np.array([-1e4, -200.0, -100.0, -30.0, 0.0, 30.0, 100.0, 1e4], dtype)
    y = BE.unary_forward("sigmoid", x)
    assert np.all(np.isfinite(y))
    assert y[0] == 0 and y[-1] == 1 and y[4] == 0.5
    # The stable form keeps the relative precision of tiny outputs: sigmoid(-30) = e^-30/(1+e^-30).
    np.testing.assert_allclose(y[3], np.exp(-30.0) / (1 + np.exp(-30.0)), rtol=1e-6)
    if dtype == np.float64:
        np.testing.assert_allclose(y[2], np.exp(-100.0), rtol=1e-12)
    gx = BE.unary_backward("sigmoid", x, y, np.ones_like(x))
    assert np.all(np.isfinite(gx))
    t = BE.unary_forward("tanh", x)
    assert np.all(np.isfinite(t)) and t[0] == -1 and t[-1] == 1


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
def test_unary_kinks_follow_pytorch(dtype):
    x = np.array([-1.0, 0.0, 1.0, 2.0], dtype)
    g = np.full_like(x, 3.0)
    y = BE.unary_forward("relu", x)
    np.testing.assert_array_equal(BE.unary_backward("relu", x, y, g), [0, 0, 3, 3])
    y = BE.unary_forward("abs", x)
    np.testing.assert_array_equal(BE.unary_backward("abs", x, y, g), [-3, 0, 3, 3])
    y = BE.unary_forward("leaky_relu", x, 0.25)
    np.testing.assert_array_equal(y, [-0.25, 0, 1, 2])
    gx = BE.unary_backward("leaky_relu", x, y, g, 0.25)
    np.testing.assert_array_equal(gx, [0.75, 0.75, 3, 3])
    # clamp to [0, 1]: gradient passes at both boundary values.
    y = BE.unary_forward("clamp", x, 0.0, 1.0)
    np.testing.assert_array_equal(y, [0, 0, 1, 1])
    np.testing.assert_array_equal(BE.unary_backward("clamp", x, y, g, 0.0, 1.0), [0, 3, 3, 0])
    # pow by 0: forward 1, gradient exactly 0 (also at x = 0, where 0 * 0^-1 would be nan).
    y = BE.unary_forward("pow", x, 0.0)
    np.testing.assert_array_equal(y, [1, 1, 1, 1])
    np.testing.assert_array_equal(BE.unary_backward("pow", x, y, g, 0.0), [0, 0, 0, 0])


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
def test_clamp_missing_bound_and_nan(dtype):
    x = np.array([-5.0, 0.5, 5.0, np.nan], dtype)
    y = BE.unary_forward("clamp", x, -np.inf, 1.0)
    np.testing.assert_array_equal(y, [-5.0, 0.5, 1.0, np.nan])
    y = BE.unary_forward("clamp", x, 0.0, np.inf)
    np.testing.assert_array_equal(y, [0.0, 0.5, 5.0, np.nan])
    assert np.isnan(BE.unary_forward("relu", x)[-1])


# ---- binary -------------------------------------------------------------------------------
def _pow_ga(a, b, gy):
    return np.where(b == 0, 0.0, gy * b * a ** (b - 1))


def _pow_gb(a, b, gy):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((a == 0) & (b >= 0), 0.0, gy * a**b * np.log(a))


def _max_ga(a, b, gy):
    return np.where(a == b, gy / 2, np.where(a < b, 0.0, gy))


def _min_ga(a, b, gy):
    return np.where(a == b, gy / 2, np.where(a > b, 0.0, gy))


BINARY = {
    # name: (forward, ga, gb, domain of a, domain of b)
    "add": (np.add, lambda a, b, g: g + 0 * a, lambda a, b, g: g + 0 * b, (-3, 3), (-3, 3)),
    "sub": (np.subtract, lambda a, b, g: g + 0 * a, lambda a, b, g: -g + 0 * b, (-3, 3), (-3, 3)),
    "mul": (np.multiply, lambda a, b, g: g * b, lambda a, b, g: g * a, (-3, 3), (-3, 3)),
    "div": (np.divide, lambda a, b, g: g / b, lambda a, b, g: -g * a / b**2, (-3, 3), (0.5, 3)),
    "pow": (np.power, _pow_ga, _pow_gb, (0.2, 3), (-2, 2)),
    "maximum": (np.maximum, _max_ga, lambda a, b, g: _max_ga(b, a, g), (-3, 3), (-3, 3)),
    "minimum": (np.minimum, _min_ga, lambda a, b, g: _min_ga(b, a, g), (-3, 3), (-3, 3)),
}

SHAPE_PAIRS = [
    ((), ()),
    ((5,), ()),
    ((), (5,)),
    ((1,), (7,)),
    ((3, 1), (1, 4)),
    ((2, 3, 4), (4,)),
    ((2, 1, 4), (3, 1)),
    ((0, 3), (3,)),
    ((6, 1), (0,)),
    ((1001,), (1001,)),
    ((2 * _C.PARALLEL_GRAIN + 5,), (1,)),
    ((7, 2 * _C.PARALLEL_GRAIN // 7 + 3), (7, 1)),
]
PAIR_IDS = [f"{a}x{b}".replace(" ", "") for a, b in SHAPE_PAIRS]


def test_binary_list_covered():
    assert set(_C.BINARY_OPS) == set(BINARY)


@pytest.mark.parametrize("shapes", SHAPE_PAIRS, ids=PAIR_IDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_forward_backward_broadcast(name, dtype, shapes):
    fwd, dga, dgb, (alo, ahi), (blo, bhi) = BINARY[name]
    rng = np.random.default_rng(3)
    a = _uniform(rng, alo, ahi, shapes[0], dtype)
    b = _uniform(rng, blo, bhi, shapes[1], dtype)
    if name in ("maximum", "minimum") and a.size and b.size:
        # some exact ties
        a.reshape(-1)[::3] = np.round(a.reshape(-1)[::3])
        b.reshape(-1)[::2] = np.round(b.reshape(-1)[::2])
    a64, b64 = np.broadcast_arrays(a.astype(np.float64), b.astype(np.float64))
    y = BE.binary_forward(name, a, b)
    assert y.shape == a64.shape and y.dtype == dtype and y.flags.c_contiguous
    np.testing.assert_allclose(y, fwd(a64, b64).astype(dtype), **tol(dtype))
    gy = _uniform(rng, -2, 2, y.shape, dtype)
    for need_a, need_b in [(True, True), (True, False), (False, True)]:
        ga, gb = BE.binary_backward(name, a, b, y, gy, need_a, need_b)
        assert (ga is None) != need_a and (gb is None) != need_b
        if need_a:
            assert ga.shape == y.shape and ga.dtype == dtype
            np.testing.assert_allclose(ga, dga(a64, b64, gy).astype(dtype), **tol(dtype))
        if need_b:
            assert gb.shape == y.shape and gb.dtype == dtype
            np.testing.assert_allclose(gb, dgb(a64, b64, gy).astype(dtype), **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("name", ["sub", "div", "maximum"])
def test_binary_strided_views_and_broadcast_to(name, dtype):
    fwd, dga, dgb, _, (blo, bhi) = BINARY[name]
    rng = np.random.default_rng(4)
    a = _uniform(rng, 1, 3, (8, 10), dtype).T[::2]  # (5, 8), non-contiguous
    b = np.broadcast_to(_uniform(rng, blo, bhi, (8,), dtype)[::-1], (5, 8))  # zero strides
    gy = _uniform(rng, -1, 1, (8, 5), dtype).T  # (5, 8) transposed
    y = BE.binary_forward(name, a, b)
    np.testing.assert_allclose(y, fwd(a.astype(np.float64), b).astype(dtype), **tol(dtype))
    ga, gb = BE.binary_backward(name, a, b, None, gy, True, True)
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    np.testing.assert_allclose(ga, dga(a64, b64, gy).astype(dtype), **tol(dtype))
    np.testing.assert_allclose(gb, dgb(a64, b64, gy).astype(dtype), **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
def test_maximum_minimum_ties_split_evenly(dtype):
    a = np.array([1.0, 2.0, 3.0], dtype)
    b = np.array([1.0, 3.0, 2.0], dtype)
    g = np.array([4.0, 4.0, 4.0], dtype)
    ga, gb = BE.binary_backward("maximum", a, b, None, g, True, True)
    np.testing.assert_array_equal(ga, [2, 0, 4])
    np.testing.assert_array_equal(gb, [2, 4, 0])
    ga, gb = BE.binary_backward("minimum", a, b, None, g, True, True)
    np.testing.assert_array_equal(ga, [2, 4, 0])
    np.testing.assert_array_equal(gb, [2, 0, 4])
    nan = np.array([np.nan, 1.0], dtype)
    one = np.array([1.0, np.nan], dtype)
    assert np.isnan(BE.binary_forward("maximum", nan, one)).all()
    assert np.isnan(BE.binary_forward("minimum", nan, one)).all()


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
def test_pow_backward_masks_zero_cases(dtype):
    a = np.array([0.0, 0.0, 2.0], dtype)
    b = np.array([0.0, 2.0, 0.0], dtype)
    y = BE.binary_forward("pow", a, b)
    np.testing.assert_array_equal(y, [1, 0, 1])
    ga, gb = BE.binary_backward("pow", a, b, y, np.ones_like(a), True, True)
    np.testing.assert_array_equal(ga, [0, 0, 0])
    np.testing.assert_allclose(gb, [0, 0, np.log(2.0)], rtol=1e-6)
    with pytest.raises(ValueError, match="y"):
        BE.binary_backward("pow", a, b, None, np.ones_like(a), True, True)


# ---- comparisons --------------------------------------------------------------------------
COMPARE = {"eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal,
           "gt": np.greater, "ge": np.greater_equal}


@pytest.mark.parametrize("shapes", SHAPE_PAIRS[:9], ids=PAIR_IDS[:9])
@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("name", sorted(COMPARE))
def test_compare_matches_numpy(name, dtype, shapes):
    assert set(_C.COMPARE_OPS) == set(COMPARE)
    rng = np.random.default_rng(5)
    a = rng.integers(-2, 3, shapes[0]).astype(dtype)
    b = rng.integers(-2, 3, shapes[1]).astype(dtype)
    if a.ndim:
        a.reshape(-1)[:1] = np.nan
    out = BE.compare(name, a, b)
    assert out.dtype == np.bool_
    np.testing.assert_array_equal(out, COMPARE[name](a, b))


# ---- argument checking: outputs are never copied behind the caller's back -----------------
def test_rejects_bad_output_buffers():
    x = np.ones((4, 6), np.float32)
    strided = np.empty((4, 12), np.float32)[:, ::2]
    with pytest.raises((TypeError, ValueError)):
        _C.exp_forward(x, strided)
    with pytest.raises(TypeError):
        _C.exp_forward(x, np.empty((4, 6), np.float64))
    with pytest.raises(TypeError):
        _C.exp_forward(x, np.empty((4, 6), np.int16))
    with pytest.raises(ValueError, match=r"\(4, 6\)"):
        _C.exp_forward(x, np.empty((6, 4), np.float32))
    ro = np.empty((4, 6), np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        _C.exp_forward(x, ro)
    with pytest.raises((TypeError, ValueError)):
        _C.add_forward(x, x, strided)
    with pytest.raises(TypeError):
        _C.lt(x, x, np.empty((4, 6), np.float32))
    # a correct buffer is written in place
    out = np.zeros((4, 6), np.float32)
    _C.exp_forward(x, out)
    np.testing.assert_allclose(out, np.e, rtol=1e-6)


def test_rejects_bad_inputs_with_shapes_in_message():
    x32 = np.ones((2, 3), np.float32)
    with pytest.raises(TypeError):
        BE.binary_forward("add", x32, np.ones((2, 3), np.float64))
    with pytest.raises(TypeError):
        BE.unary_forward("exp", np.ones(3, np.int64))
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4,\)"):
        BE.binary_forward("add", x32, np.ones(4, np.float32))
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        _C.add_forward(x32, np.ones(4, np.float32), np.empty((2, 3), np.float32))
    with pytest.raises(TypeError):
        _C.exp_forward([1.0, 2.0], np.empty(2))  # lists are not converted either
    with pytest.raises(ValueError, match="unknown unary op"):
        BE.unary_forward("gelu_typo", x32)


def test_results_do_not_depend_on_thread_count():
    n = 4 * _C.PARALLEL_GRAIN + 11
    rng = np.random.default_rng(6)
    a = rng.standard_normal(n)
    b = rng.standard_normal((3, 1))
    saved = _C.get_num_threads()
    try:
        _C.set_num_threads(1)
        y1 = BE.binary_forward("mul", a, b)
        s1 = BE.unary_forward("sigmoid", a)
        _C.set_num_threads(2)
        y2 = BE.binary_forward("mul", a, b)
        s2 = BE.unary_forward("sigmoid", a)
    finally:
        _C.set_num_threads(saved)
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_array_equal(s1, s2)


# ---- the vectorisable exp / expm1 / log of csrc/math/hd.h, through exp, log, tanh, sigmoid ---
@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
def test_exp_log_special_values(dtype):
    info = np.finfo(dtype)
    big = 88.5 if dtype == np.float32 else 709.5
    x = np.array([0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, big, -big, 2 * big, -2 * big,
                  -(big + 15), info.tiny, info.smallest_subnormal, info.max], dtype)
    with np.errstate(over="ignore", under="ignore"):
        expect = np.exp(x.astype(np.float64)).astype(dtype)
    got = BE.unary_forward("exp", x)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expect))
    np.testing.assert_array_equal(np.isinf(got), np.isinf(expect))
    ok = np.isfinite(expect)
    # gradual underflow: results below the smallest normal keep an absolute error of an ulp
    np.testing.assert_allclose(got[ok], expect[ok], rtol=2 * info.eps,
                               atol=2 * info.smallest_subnormal)

    y = np.array([0.0, -0.0, -1.0, np.inf, -np.inf, np.nan, 1.0, info.tiny, info.smallest_subnormal,
                  info.smallest_subnormal * 7, info.max, 1 + info.eps, 1 - info.epsneg], dtype)
    with np.errstate(divide="ignore", invalid="ignore"):
        expect = np.log(y.astype(np.float64)).astype(dtype)
    got = BE.unary_forward("log", y)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expect))
    np.testing.assert_array_equal(got[np.isinf(expect)], expect[np.isinf(expect)])
    ok = np.isfinite(expect)
    np.testing.assert_allclose(got[ok], expect[ok], rtol=2 * info.eps, atol=0)


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
def test_transcendentals_close_to_one_ulp(dtype):
    # Over a wide range, relative error within a few ulp of float64 NumPy (much tighter
    # than the G8 table: a regression in the polynomials shows up here first).
    info = np.finfo(dtype)
    rng = np.random.default_rng(7)
    lim = 80.0 if dtype == np.float32 else 700.0
    x = rng.uniform(-lim, lim, 50_001).astype(dtype)
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(BE.unary_forward("exp", x), np.exp(x64), rtol=4 * info.eps)
    pos = np.exp(rng.uniform(-lim, lim, 50_001)).astype(dtype)
    pos = pos[(pos > 0) & np.isfinite(pos)]
    np.testing.assert_allclose(BE.unary_forward("log", pos), np.log(pos.astype(np.float64)),
                               rtol=4 * info.eps)
    t = np.concatenate([x / 8, rng.uniform(-1e-3, 1e-3, 1001).astype(dtype), [dtype(1e-30)]])
    t64 = t.astype(np.float64)
    # tanh via expm1: full relative precision near 0 as well
    np.testing.assert_allclose(BE.unary_forward("tanh", t), np.tanh(t64), rtol=8 * info.eps)
    np.testing.assert_allclose(BE.unary_forward("sigmoid", t),
                               _sigmoid(t64).astype(dtype), rtol=8 * info.eps,
                               atol=info.smallest_subnormal)


def test_elementwise_isa_reported():
    assert _C.elementwise_isa() in ("x86-64-v4", "x86-64-v3", "baseline")


# ---- the allocating entry points (CPUBackend's four elementwise methods are native) ----------
def test_backend_entry_points_take_keywords_and_match_out_bindings():
    rng = np.random.default_rng(11)
    x = rng.standard_normal((4, 5))
    b = rng.standard_normal((1, 5))
    out = np.empty_like(x)
    _C.leaky_relu_forward(x, out, 0.2)
    np.testing.assert_array_equal(BE.unary_forward(name="leaky_relu", x=x, a=0.2), out)
    y = BE.binary_forward("mul", x, b)
    gy = rng.standard_normal(y.shape)
    ga, gb = np.empty_like(gy), np.empty_like(gy)
    _C.mul_backward(x, b, None, gy, ga, gb)
    got_a, got_b = BE.binary_backward("mul", x, b, None, gy, need_a=True, need_b=True)
    np.testing.assert_array_equal(got_a, ga)
    np.testing.assert_array_equal(got_b, gb)
    assert BE.binary_backward("mul", x, b, None, gy, False, True)[0] is None
    gx = BE.unary_backward("tanh", x, np.tanh(x), gy)
    assert gx.flags.c_contiguous and gx.dtype == x.dtype and gx.shape == x.shape


def test_backend_entry_points_reject_bad_calls():
    x = np.ones(3)
    with pytest.raises(TypeError, match="missing required argument 'x'"):
        BE.unary_forward("exp")
    with pytest.raises(TypeError, match="unexpected keyword argument 'z'"):
        BE.unary_forward("exp", x, z=1.0)
    with pytest.raises(TypeError, match="multiple values for argument 'x'"):
        BE.unary_forward("exp", x, x=x)
    with pytest.raises(TypeError, match="a: expected a number"):
        BE.unary_forward("leaky_relu", x, "0.1")
    with pytest.raises(TypeError, match="gy: expected a numpy array"):
        BE.binary_backward("mul", x, x, None, [1.0, 1.0, 1.0], True, True)
    with pytest.raises(ValueError, match="unknown binary op"):
        BE.binary_forward("plus", x, x)
    with pytest.raises(ValueError, match="needs the saved output"):
        BE.binary_backward("pow", x, x, None, x, True, True)
