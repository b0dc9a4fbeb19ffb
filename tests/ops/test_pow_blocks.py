"""float32 pow through the AVX-512 block kernel (csrc/math/pow.h, Note [AVX-512 float pow]):
long runs split over threads, outputs that start off a 64-byte boundary, lengths that leave a
masked tail block, and special values (scalar lanes) placed in first, middle and last blocks. Every element must be its own result wherever
it sits: the same value computed alone (a short run) and within a long run agree exactly."""

from __future__ import annotations

import numpy as np
import pytest

from fusegrad.backend import get_backend

BE = get_backend("cpu")
N_LONG = (1 << 19) + 16 * 3 + 7  # past the streaming threshold, with a partial tail block
SPECIALS = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, -2.0, -0.5, 1.0, 1e-45, -1e-45],
                    np.float32)


def _inputs(offset: int):
    rng = np.random.default_rng(7 + offset)
    a = np.exp2(rng.uniform(-30, 30, N_LONG + offset)).astype(np.float32)
    a[rng.random(a.size) < 0.2] *= -1
    b = rng.uniform(-4, 4, a.size).astype(np.float32)
    ints = rng.random(b.size) < 0.3  # integer exponents: the sign of a negative base
    b[ints] = np.round(b[ints])
    for pos in (offset, offset + 3, offset + 20, a.size // 2, a.size - 2):
        a[pos: pos + SPECIALS.size] = SPECIALS[: a.size - pos]
    b[a.size // 2 + 1] = np.nan
    b[a.size - 1] = np.inf
    return a[offset:], b[offset:]


@pytest.mark.parametrize("offset", [0, 1, 5, 15], ids=lambda o: f"off{o}")
def test_pow_long_runs_match_short_runs(offset):
    a, b = _inputs(offset)
    got = BE.binary_forward("pow", a, b)
    got_s = BE.unary_forward("pow_scalar", a, 2.7)
    # The same elements in short runs (below the streaming threshold, other block offsets).
    for lo in (0, 16 * 1000 + 3, a.size // 2 - 9, a.size - 40):
        sl = slice(lo, lo + 40)
        np.testing.assert_array_equal(BE.binary_forward("pow", a[sl].copy(), b[sl].copy()),
                                      got[sl])
        np.testing.assert_array_equal(BE.unary_forward("pow_scalar", a[sl].copy(), 2.7),
                                      got_s[sl])
    with np.errstate(all="ignore"):
        ref = np.power(a.astype(np.float64), b.astype(np.float64)).astype(np.float32)
        # the kernel's exponent is float32(2.7)
        ref_s = np.power(a.astype(np.float64), float(np.float32(2.7))).astype(np.float32)
    for g, r in ((got, ref), (got_s, ref_s)):
        np.testing.assert_array_equal(np.isnan(g), np.isnan(r))
        ok = ~np.isnan(r)
        # within 1 ulp of the correctly rounded float64 result (the kernel's bound: 0.55)
        np.testing.assert_array_max_ulp(g[ok], r[ok], maxulp=1)
