"""pow kernels (tensor ** tensor: binary "pow"; tensor ** number: unary "pow_scalar") against
NumPy: every special case of C99 / NumPy pow, the scalar-exponent fast paths, and accuracy in
ulp over wide random ranges, overflow / underflow and subnormals (csrc/math/pow.h, Note
[vectorised pow]), forward and backward."""

from __future__ import annotations

import numpy as np
import pytest

from fusegrad._ext import _C
from fusegrad.backend import get_backend
from tests.helpers import assert_close

BE = get_backend("cpu")
DTYPES = [np.float32, np.float64]
DT_IDS = ["f32", "f64"]
# Longer than 2 * PARALLEL_GRAIN so that both threads (and the vector loops) run.
N_RANDOM = 2 * _C.PARALLEL_GRAIN + 1001


def _specials(dtype) -> np.ndarray:
    fi = np.finfo(dtype)
    big_odd = 2.0 ** (fi.nmant + 1) - 1  # the largest odd integer of the format
    vals = [0.0, -0.0, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5, 3.0, -3.0, 2.5, -2.5, 7.0, -7.0,
            np.inf, -np.inf, np.nan, fi.smallest_subnormal, -fi.smallest_subnormal,
            fi.tiny, -fi.tiny, fi.max, -fi.max, 1e10, -1e10, 1e-3, 0.999, -0.999,
            1 + fi.eps, 1 - fi.eps / 2, -(1 + fi.eps), big_odd, -big_odd, big_odd + 1,
            2.0 ** fi.nmant + 1, -(2.0 ** fi.nmant + 1), 1e20, -1e20, 123.456, -0.3]
    return np.array(vals, dtype)


def _same(actual, expected, dtype, what):
    """Exact for nan / inf / zeros (sign included); G8 pointwise tolerance otherwise."""
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    nan_a, nan_e = np.isnan(actual), np.isnan(expected)
    assert np.array_equal(nan_a, nan_e), f"{what}: nan at {np.argwhere(nan_a != nan_e)[:5]}"
    exact = ~nan_e & (np.isinf(expected) | (expected == 0))
    np.testing.assert_array_equal(actual[exact], expected[exact], err_msg=what)
    np.testing.assert_array_equal(np.signbit(actual[exact]), np.signbit(expected[exact]),
                                  err_msg=what + " (sign)")
    rest = ~nan_e & ~exact
    assert_close(actual[rest], expected[rest], dtype, what=what)


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
def test_pow_special_cases_match_numpy(dtype):
    # Every pair of special values, tensor ** tensor (NumPy's C99 pow with an array exponent).
    s = _specials(dtype)
    a, b = np.meshgrid(s, s, indexing="ij")
    a, b = a.ravel().copy(), b.ravel().copy()
    with np.errstate(all="ignore"):
        expected = np.power(a, b)
    _same(BE.binary_forward("pow", a, b), expected, dtype, "pow(a, b)")


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
@pytest.mark.parametrize(
    "p", [0.0, 1.0, 2.0, 3.0, 0.5, -1.0, -0.5, 2.5, -3.0, 4.0, 7.0, -2.0, 0.3, 1e10, -1e10,
          np.inf, -np.inf, np.nan], ids=str)
def test_pow_scalar_special_cases_match_numpy(dtype, p):
    # Scalar exponents, including the fast paths (0, 1, 2, 3, 0.5, -1): NumPy's and PyTorch's
    # values for x ** number (sqrt's -0 and nan at -0 / -inf for 0.5).
    x = _specials(dtype)
    with np.errstate(all="ignore"):
        expected = np.power(x, dtype(p))
    _same(BE.unary_forward("pow_scalar", x, p, 0.0), expected, dtype, f"x ** {p}")


def _rounded(exact, dtype) -> np.ndarray:
    with np.errstate(over="ignore"):  # values beyond the format round to inf, as pow's do
        return exact.astype(dtype)


def _ulp_error(actual, exact, dtype) -> np.ndarray:
    """|actual - exact| in units of the last place of the exact value rounded to ``dtype``."""
    exact_t = _rounded(exact, dtype)
    ulp = np.spacing(np.abs(exact_t)).astype(exact.dtype)
    ulp = np.maximum(ulp, np.finfo(dtype).smallest_subnormal)
    return np.abs(actual.astype(exact.dtype) - exact) / ulp


def _exact_pow(a, b, dtype):
    """A reference well below the dtype's ulp: float64 pow for float32, long double for float64."""
    with np.errstate(all="ignore"):
        if dtype == np.float32:
            return np.power(a.astype(np.float64), b.astype(np.float64))
        return np.power(a.astype(np.longdouble), b.astype(np.longdouble))


# (a range, b range, log-uniform a, ulp bound (float32, float64)). Measured maxima: 1.1 ulp
# (float32, 1.3 without FMA), 2.3 ulp (float64) for |b ln a| up to ~100; the float64 error of
# t = b ln a grows with |t| (ln a is carried to ~2^-60), ~40 ulp at worst near |t| = 700.
RANGES = {
    "bench": ((0.1, 2.0), (0.5, 2.0), False, (2, 4)),
    "wide-a": ((1e-30, 1e30), (-3.0, 3.0), True, (2, 4)),
    "near-1-large-b": ((0.5, 2.0), (-100.0, 100.0), False, (2, 8)),
    "neg-int-and-half": ((-10.0, 10.0), (-20.0, 20.0), False, (2, 4)),
    "subnormal-a": ((1e-44, 1e-37), (-1.5, 1.5), True, (2, 4)),
    "overflow-edge": ((1.3, 1.5), (-2000.0, 2000.0), False, (2, 64)),
    "tiny-b": ((1e-20, 1e20), (-1e-6, 1e-6), True, (2, 4)),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("rng_name", sorted(RANGES))
def test_pow_accuracy_random(dtype, rng_name):
    (alo, ahi), (blo, bhi), log_a, bounds = RANGES[rng_name]
    rng = np.random.default_rng(sum(map(ord, rng_name)))
    if log_a:
        a = np.exp(rng.uniform(np.log(alo), np.log(ahi), N_RANDOM))
    else:
        a = rng.uniform(alo, ahi, N_RANDOM)
    b = rng.uniform(blo, bhi, N_RANDOM)
    if blo < 0 and alo < 0:  # negative bases: integer exponents half the time, else nan
        b[::2] = np.round(b[::2])
    a, b = a.astype(dtype), b.astype(dtype)
    got = BE.binary_forward("pow", a, b)
    exact = _exact_pow(a, b, dtype)
    finite = np.isfinite(exact) & np.isfinite(_rounded(exact, dtype))
    # NumPy as the G8 reference (values, nan and inf positions).
    with np.errstate(all="ignore"):
        _same(got, np.power(a, b), dtype, rng_name)
    if dtype == np.float64 and np.finfo(np.longdouble).nmant < 60:
        pytest.skip("no extended-precision long double for the float64 ulp reference")
    err = _ulp_error(got[finite], exact[finite], dtype)
    bound = bounds[0] if dtype == np.float32 else bounds[1]
    worst = int(np.argmax(err)) if err.size else 0
    assert err.size == 0 or err.max() <= bound, (
        f"{err.max():.2f} ulp at {a[finite][worst]!r} ** {b[finite][worst]!r}")
    # The scalar-exponent kernel runs the same general path (a non-special exponent).
    p = float(b[1])
    got_s = BE.unary_forward("pow_scalar", a, p, 0.0)
    exact_s = _exact_pow(a, np.full_like(a, p), dtype)
    ok = np.isfinite(exact_s) & np.isfinite(_rounded(exact_s, dtype))
    err_s = _ulp_error(got_s[ok], exact_s[ok], dtype)
    assert err_s.size == 0 or err_s.max() <= bound, f"{err_s.max():.2f} ulp for x ** {p!r}"


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
def test_pow_overflow_underflow_and_subnormal_results(dtype):
    # 2^y and 1.5^y across the whole exponent range: the last normal, every subnormal binade,
    # rounding to the smallest subnormal, to 0 and to inf.
    fi = np.finfo(dtype)
    lo, hi = fi.minexp - fi.nmant - 3, fi.maxexp + 2
    y = np.arange(lo, hi, 0.125)
    for base in (2.0, 1.5, 0.5):
        a = np.full(y.shape, base, dtype)
        b = (y if base != 1.5 else y * 1.7095).astype(dtype)
        got = BE.binary_forward("pow", a, b)
        with np.errstate(all="ignore"):
            want = np.power(a, b)
        _same(got, want, dtype, f"{base} ** y")
        if dtype == np.float64 and np.finfo(np.longdouble).nmant < 60:
            continue
        exact = _exact_pow(a, b, dtype)
        finite = np.isfinite(_rounded(exact, dtype))
        # Around the overflow edge the exact value may round to inf: both sides must agree.
        np.testing.assert_array_equal(np.isinf(got), ~finite)
        err = _ulp_error(got[finite], exact[finite], dtype)
        assert err.max() <= 2, f"{err.max():.2f} ulp for {base} ** y"


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
def test_pow_broadcast_and_strided(dtype):
    rng = np.random.default_rng(3)
    a = rng.uniform(0.1, 4, (300, 257)).astype(dtype)
    b_row = rng.uniform(-3, 3, (257,)).astype(dtype)
    b_col = rng.uniform(-3, 3, (300, 1)).astype(dtype)
    for aa, bb in ((a, b_row), (a, b_col), (a[:, ::3], b_row[::3]), (a.T, b_col.T),
                   (dtype(1.7) * np.ones((1,), dtype), a)):
        with np.errstate(all="ignore"):
            assert_close(BE.binary_forward("pow", aa, bb), np.power(aa, bb), dtype, what="bcast")


def _pow_scalar_grad(x, p, gy):
    with np.errstate(all="ignore"):
        return np.zeros_like(x) if p == 0 else gy * p * np.power(x, x.dtype.type(p - 1))


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("p", [0.0, 1.0, 2.0, 3.0, 4.0, 0.5, 1.5, -1.0, 2.5, -0.7], ids=str)
def test_pow_scalar_backward(dtype, p):
    # backward runs x^(p-1) through the same fast paths (p = 1, 2, 3, 4, 1.5, 0: kinds 0, 1, 2,
    # 3, 0.5, -1 for p - 1).
    rng = np.random.default_rng(4)
    x = rng.uniform(0.2, 3, N_RANDOM).astype(dtype)
    x[:4] = [0.0, 1.0, 2.0, 0.5]
    gy = rng.standard_normal(N_RANDOM).astype(dtype)
    y = BE.unary_forward("pow_scalar", x, p, 0.0)
    with np.errstate(all="ignore"):
        assert_close(y, np.power(x, dtype(p)), dtype, what=f"x ** {p}")
        want = _pow_scalar_grad(x, p, gy)
    got = BE.unary_backward("pow_scalar", x, y, gy, p, 0.0)
    _same(got, want, dtype, f"d(x ** {p})")


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
def test_pow_backward_random(dtype):
    rng = np.random.default_rng(5)
    a = rng.uniform(0.05, 5, N_RANDOM).astype(dtype)
    b = rng.uniform(-4, 4, N_RANDOM).astype(dtype)
    gy = rng.standard_normal(N_RANDOM).astype(dtype)
    y = BE.binary_forward("pow", a, b)
    ga, gb = BE.binary_backward("pow", a, b, y, gy, True, True)
    a64, b64, g64 = (v.astype(np.float64) for v in (a, b, gy))
    # Both gradients multiply two or three rounded factors: the G8 forward tolerance applies to
    # each factor, so compare against the float64 formula with the same table.
    assert_close(ga, g64 * b64 * a64 ** (b64 - 1), dtype, what="ga")
    assert_close(gb, g64 * a64**b64 * np.log(a64), dtype, what="gb")
