"""Lanczos with full reorthogonalisation: extreme eigenpairs of a symmetric operator from matvecs.

Used by ``critical_point`` on models too large for a dense Hessian, with ``hvp`` as the
matvec. Plain NumPy; the operator is the only cost (one ``matvec`` per iteration).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass
class LanczosResult:
    """Ritz pairs of the wanted end(s) of the spectrum.

    Attributes:
        eigenvalues: ascending float64 array (k smallest, k largest, or both ends merged).
        eigenvectors: (n, len(eigenvalues)) unit Ritz vectors, columns matching eigenvalues.
        residuals: ``|A x - θ x|`` of each pair (``|β_m s_m|``, exact in exact arithmetic).
        iterations: number of matvecs taken.
        converged: every wanted residual is at most ``tol · max|θ|`` (or the Krylov space is
            the whole space, which makes the pairs exact up to rounding).
        ritz_values, ritz_weights: every Ritz value of the final tridiagonal matrix with the
            squared first component of its eigenvector: a quadrature of the spectral density
            seen from the (random) start vector — ``sum(w[θ > 0])`` estimates the fraction of
            positive eigenvalues (stochastic Lanczos quadrature, one probe).
    """

    eigenvalues: np.ndarray
    eigenvectors: np.ndarray
    residuals: np.ndarray
    iterations: int
    converged: bool
    ritz_values: np.ndarray
    ritz_weights: np.ndarray


def lanczos(
    matvec: Callable[[np.ndarray], np.ndarray],
    n: int,
    k: int = 6,
    which: str = "both",
    tol: float = 1e-8,
    max_iter: int | None = None,
    seed: int | None = 0,
) -> LanczosResult:
    """Extreme eigenpairs of the symmetric n×n operator ``matvec`` by Lanczos.

    Every new Lanczos vector is orthogonalised against all previous ones (twice: "twice is
    enough"), which removes the ghost eigenvalues of plain Lanczos at O(n m) cost per step.
    An invariant subspace (β ≈ 0) restarts from a fresh random vector orthogonal to the basis,
    so repeated or isolated eigenvalues are still found. Convergence is checked on the
    residual bound ``|β_m s_{m,i}|`` of the wanted Ritz pairs.

    Args:
        matvec: ``x -> A x`` for float64 vectors of length n; A must be symmetric.
        n: dimension.
        k: number of eigenvalues wanted at each requested end (clipped to n).
        which: ``"smallest"``, ``"largest"`` or ``"both"``.
        tol: relative residual tolerance (times the largest Ritz value magnitude).
        max_iter: most matvecs (default n; at n the result is exact up to rounding).
        seed: seed of the random start vector.
    Returns:
        LanczosResult.
    Raises:
        ValueError: bad ``which``, ``n < 1`` or ``k < 1``.
    """
    if which not in ("smallest", "largest", "both"):
        raise ValueError(f"which must be 'smallest', 'largest' or 'both', got {which!r}")
    if n < 1 or k < 1:
        raise ValueError(f"need n >= 1 and k >= 1, got n={n}, k={k}")
    k = min(k, n)
    m_max = n if max_iter is None else max(1, min(int(max_iter), n))
    rng = np.random.default_rng(seed)
    basis = np.zeros((m_max, n))
    alphas, betas = np.zeros(m_max), np.zeros(m_max)
    q = _fresh_vector(rng, basis[:0], n)
    scale = 0.0  # running max|α|+|β|, the scale for "β is zero"
    m = 0
    for j in range(m_max):
        basis[j] = q
        w = np.asarray(matvec(q), dtype=np.float64).ravel()
        if w.shape != (n,):
            raise ValueError(f"matvec returned shape {w.shape}, expected ({n},)")
        alphas[j] = q @ w
        for _ in range(2):  # full reorthogonalisation, twice
            w -= basis[: j + 1].T @ (basis[: j + 1] @ w)
        betas[j] = np.linalg.norm(w)
        scale = max(scale, abs(alphas[j]) + betas[j])
        m = j + 1
        if m == m_max:
            break
        if betas[j] <= 1e-12 * max(scale, 1e-300):
            # Invariant subspace: every Ritz pair is exact, but eigenvalues of multiplicity > 1
            # (or orthogonal to the start) are missing; carry on from a fresh direction.
            betas[j] = 0.0
            q = _fresh_vector(rng, basis[:m], n)
            continue
        if m >= k and m % 5 == 0 and _wanted_converged(alphas, betas, m, k, which, tol):
            break
        q = w / betas[j]
    theta, s = _tridiag_eigh(alphas, betas, m)
    idx = _wanted(theta, k, which)
    resid = np.abs(betas[m - 1] * s[m - 1, idx]) if m < n else np.zeros(len(idx))
    vecs = basis[:m].T @ s[:, idx]
    vecs /= np.linalg.norm(vecs, axis=0, keepdims=True)
    # After a restart T is block diagonal; the start vector's weights sit in the first block.
    weights = s[0, :] ** 2
    bound = tol * max(float(np.max(np.abs(theta))), 1e-300)
    return LanczosResult(theta[idx], vecs, resid, m, bool(m == n or np.all(resid <= bound)),
                         theta, weights)


def _fresh_vector(rng: np.random.Generator, basis: np.ndarray, n: int) -> np.ndarray:
    for _ in range(10):
        q = rng.standard_normal(n)
        for _ in range(2):
            q -= basis.T @ (basis @ q)
        norm = np.linalg.norm(q)
        if norm > 1e-8:
            return q / norm
    raise RuntimeError("lanczos: could not find a vector orthogonal to the Krylov basis")


def _tridiag_eigh(alphas: np.ndarray, betas: np.ndarray, m: int) -> tuple:
    t = np.diag(alphas[:m]) + np.diag(betas[: m - 1], 1) + np.diag(betas[: m - 1], -1)
    return np.linalg.eigh(t)


def _wanted(theta: np.ndarray, k: int, which: str) -> np.ndarray:
    m = len(theta)
    if which == "smallest":
        return np.arange(min(k, m))
    if which == "largest":
        return np.arange(max(0, m - k), m)
    return np.unique(np.concatenate([np.arange(min(k, m)), np.arange(max(0, m - k), m)]))


def _wanted_converged(alphas: np.ndarray, betas: np.ndarray, m: int, k: int, which: str,
                      tol: float) -> bool:
    theta, s = _tridiag_eigh(alphas, betas, m)
    idx = _wanted(theta, k, which)
    bound = tol * max(float(np.max(np.abs(theta))), 1e-300)
    return bool(np.all(np.abs(betas[m - 1] * s[m - 1, idx]) <= bound))
