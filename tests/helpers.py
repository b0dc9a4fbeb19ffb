"""One tolerance table and the comparison helpers every test uses (STYLE.md G8)."""

from __future__ import annotations

from typing import Any

import numpy as np

# Pointwise forward: float32 rtol 1e-5 / atol 1e-6, float64 1e-12. Reductions and matmul scale
# atol with the reduced length (rounding grows with the number of terms).
FORWARD_TOL = {np.dtype("float32"): (1e-5, 1e-6), np.dtype("float64"): (1e-12, 1e-12)}
# Against PyTorch: two implementations of the same formula (e.g. libm vs SLEEF exp) differ by
# a few ulp, so float32 gets a few ulp of room; float64 stays tight.
TORCH_TOL = {np.dtype("float32"): (2e-5, 2e-6), np.dtype("float64"): (1e-10, 1e-12)}
# gradcheck in float64: PyTorch's defaults, fixed by API.md.
GRADCHECK = {"eps": 1e-6, "atol": 1e-5, "rtol": 1e-3}
# CPU vs CUDA parity.
PARITY_TOL = {np.dtype("float32"): (1e-5, 1e-6), np.dtype("float64"): (1e-12, 1e-12)}


def tol(dtype: Any, table: dict = FORWARD_TOL, n_terms: int = 1) -> dict:
    """rtol/atol for ``dtype``; atol grows with the number of summed terms."""
    rtol, atol = table[np.dtype(dtype)]
    return {"rtol": rtol, "atol": atol * max(1, n_terms)}


def assert_close(actual: Any, expected: Any, dtype: Any = None, table: dict = FORWARD_TOL,
                 n_terms: int = 1, what: str = "") -> None:
    a = np.asarray(actual.numpy() if hasattr(actual, "numpy") else actual, dtype=np.float64)
    e = np.asarray(expected.numpy() if hasattr(expected, "numpy") else expected, dtype=np.float64)
    assert a.shape == e.shape, f"{what}: shape {a.shape} != expected {e.shape}"
    dt = np.dtype(dtype) if dtype is not None else np.dtype("float64")
    np.testing.assert_allclose(a, e, **tol(dt, table, n_terms), err_msg=what)
