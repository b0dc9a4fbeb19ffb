"""Critical points: ``critical_point`` (is ∇L = 0 a minimum, maximum, saddle?) and ``escape``.

Classification is the second-order test on the Hessian spectrum (dense ``eigh`` for small
models, Lanczos on ``hvp`` for large ones). See Note [Which eigenvalues count as zero].
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np

from fusegrad.analysis.hessian import _hessian_with_error, _hvp_with_error, _Params
from fusegrad.analysis.lanczos import lanczos
from fusegrad.autograd.tensor import Tensor

#: Above this many parameter elements ``method="auto"`` switches from dense eigh to Lanczos.
DENSE_LIMIT = 500

# Note [Which eigenvalues count as zero]
# API.md: |λ| <= eig_tol · max|λ| counts as zero. Two details make that usable numerically:
# - "<=" means an all-zero spectrum (max|λ| = 0) is all zeros, so the kind is "degenerate".
# - The Hessian comes from finite differences, so an eigenvalue below the estimated error of
#   the differences (its spectral norm, see Note [Hessian by differences of gradients] in
#   hessian.py) is also counted as zero: threshold = max(eig_tol · max|λ|, noise). Without
#   it x⁴ at 0 would be a "local_min" (its difference quotient 4h² is tiny but positive);
#   with it, it is "degenerate" as the second-order test says. For smooth float64 losses
#   the noise is ~1e-10 and the relative rule decides.


@dataclass
class CriticalPoint:
    """Result of ``critical_point``.

    Attributes:
        gradient_norm: Euclidean norm of the gradient at the params.
        eigenvalues: ascending float64 Hessian eigenvalues (all of them for the dense method;
            the k smallest and k largest for Lanczos).
        kind: "not_critical", "local_min", "local_max", "saddle" or "degenerate".
        min_ratio: fraction of eigenvalues that are positive (zeros are not). Exact for the
            dense method; for Lanczos a one-probe stochastic-quadrature estimate.
        escape_direction: unit flat eigenvector of the most negative eigenvalue (largest
            component made positive), or None when no eigenvalue is negative.
        zero_tol: the threshold under which |λ| counts as zero.
        n_negative, n_zero, n_positive: counts over ``eigenvalues``.
        method: "dense" or "lanczos".
        n: number of parameter elements.
    """

    gradient_norm: float
    eigenvalues: np.ndarray
    kind: str
    min_ratio: float
    escape_direction: np.ndarray | None
    zero_tol: float
    n_negative: int
    n_zero: int
    n_positive: int
    method: str
    n: int
    gradient: np.ndarray = field(repr=False)

    def __str__(self) -> str:
        ev = self.eigenvalues
        shown = np.array2string(ev if len(ev) <= 8 else np.r_[ev[:4], ev[-4:]], precision=4)
        if len(ev) > 8:
            shown += f" (ends of {len(ev)})"
        return (f"{self.kind}: |grad| = {self.gradient_norm:.3g}, eigenvalues {shown}, "
                f"min ratio {self.min_ratio:.3f}")


def _classify(lam: np.ndarray, thr: float) -> tuple[str, int, int, int]:
    neg, pos = int(np.sum(lam < -thr)), int(np.sum(lam > thr))
    zero = len(lam) - neg - pos
    if neg and pos:
        kind = "saddle"
    elif zero:
        kind = "degenerate"
    elif pos:
        kind = "local_min"
    else:
        kind = "local_max"
    return kind, neg, zero, pos


def _unit_signed(v: np.ndarray) -> np.ndarray:
    """Unit vector with its largest-magnitude component positive (a deterministic sign)."""
    v = v / np.linalg.norm(v)
    return -v if v[np.argmax(np.abs(v))] < 0 else v


def critical_point(
    fn: Callable[[], Tensor],
    params: Iterable[Tensor],
    grad_tol: float = 1e-6,
    eig_tol: float = 1e-6,
    *,
    method: str = "auto",
    k: int = 6,
) -> CriticalPoint:
    """Classify the point the params are at by the gradient and the Hessian spectrum.

    ``kind`` is "not_critical" when ``|∇L| > grad_tol``. Otherwise, with eigenvalues of
    magnitude at most ``zero_tol = max(eig_tol · max|λ|, noise)`` counted as zero (see Note
    [Which eigenvalues count as zero]): "saddle" if some are positive and some negative,
    else "degenerate" if some are zero (e.g. {0, 4}, or all zero), else "local_min" (all
    positive) or "local_max" (all negative). The eigenvalues, min ratio and escape direction
    are returned for non-critical points too.

    Args:
        fn, params: as for ``hessian`` (params are restored exactly afterwards).
        grad_tol: gradient norm above which the point is not critical.
        eig_tol: relative magnitude under which an eigenvalue counts as zero.
        method: "dense" (``hessian`` + ``numpy.linalg.eigh``, 4n gradients), "lanczos"
            (extreme eigenpairs from ``hvp``, 4 gradients per iteration) or "auto" (dense
            up to ``DENSE_LIMIT`` = 500 elements).
        k: eigenvalues wanted at each end of the spectrum with Lanczos.
    Returns:
        CriticalPoint.
    Raises:
        ValueError: unknown ``method``; see ``hessian`` for bad params.
    """
    if method not in ("auto", "dense", "lanczos"):
        raise ValueError(f"method must be 'auto', 'dense' or 'lanczos', got {method!r}")
    with _Params(fn, params) as ps:
        g = ps.grad()
        if method == "auto":
            method = "dense" if ps.n <= DENSE_LIMIT else "lanczos"
        if method == "dense":
            hess, noise = _hessian_with_error(ps)
            lam, vecs = np.linalg.eigh(hess)
            weights = None
        else:
            noise_seen = [0.0]

            def matvec(x: np.ndarray) -> np.ndarray:
                y, err = _hvp_with_error(ps, x)
                noise_seen[0] = max(noise_seen[0], err)
                return y

            res = lanczos(matvec, ps.n, k=k, which="both", tol=1e-8)
            lam, vecs, noise = res.eigenvalues, res.eigenvectors, noise_seen[0]
            weights = (res.ritz_values, res.ritz_weights)
    scale = float(np.max(np.abs(lam))) if len(lam) else 0.0
    thr = max(eig_tol * scale, noise)
    kind, neg, zero, pos = _classify(lam, thr)
    gnorm = float(np.linalg.norm(g))
    if gnorm > grad_tol:
        kind = "not_critical"
    if weights is None:
        min_ratio = pos / len(lam)
    else:
        theta, w = weights
        min_ratio = float(np.clip(np.sum(w[theta > thr]) / np.sum(w), 0.0, 1.0))
    direction = _unit_signed(vecs[:, 0]) if neg else None
    return CriticalPoint(gnorm, lam, kind, float(min_ratio), direction, float(thr), neg, zero,
                         pos, method, ps.n, g)


@dataclass
class EscapeResult:
    """Result of ``escape``: a step of length ``step`` along the negative-curvature direction.

    Attributes:
        loss_before, loss_after: fn() at the params and after the step.
        direction: the unit flat direction taken (the sign that lowered the loss more).
        eigenvalue: the (negative) curvature along it.
        step: the step length.
        predicted_change: the quadratic model's change ``g·d·step + λ step² / 2``.
        params: the stepped values, NumPy arrays shaped and typed like the params.
    """

    loss_before: float
    loss_after: float
    direction: np.ndarray
    eigenvalue: float
    step: float
    predicted_change: float
    params: list

    @property
    def decreased(self) -> bool:
        return self.loss_after < self.loss_before


def escape(
    fn: Callable[[], Tensor],
    params: Iterable[Tensor],
    step: float = 0.1,
    *,
    point: CriticalPoint | None = None,
    inplace: bool = False,
) -> EscapeResult:
    """Step along the escape direction (most negative curvature) and report the loss change.

    At a saddle the gradient vanishes, so gradient descent stalls there; the eigenvector of
    the most negative eigenvalue is a direction in which the loss decreases quadratically
    (by about |λ| step² / 2). Both signs ±d are tried and the lower loss wins.

    Args:
        fn, params: as for ``hessian``.
        step: length of the step (in parameter space).
        point: a ``critical_point`` result for these params (computed when None).
        inplace: write the stepped values into the params. Off by default, so that like
            every analysis function ``escape`` leaves the params as it found them.
    Returns:
        EscapeResult (``result.params`` holds the stepped values either way).
    Raises:
        ValueError: no negative eigenvalue (nothing to escape along: a minimum or a
            degenerate point).
    """
    params = list(params)
    if point is None:
        point = critical_point(fn, params)
    if point.escape_direction is None:
        raise ValueError(
            f"no direction of negative curvature to escape along (kind {point.kind!r})")
    d = point.escape_direction
    with _Params(fn, params) as ps:
        before = ps.loss()
        candidates = []
        for sign in (1.0, -1.0):
            theta = ps.theta + sign * step * d
            candidates.append((ps.loss(theta), sign, theta))
        ps.restore()
        after, sign, theta = min(candidates, key=lambda c: c[0])
        new = ps.unflatten(theta)
    lam = float(point.eigenvalues[0])
    predicted = float(sign * step * (point.gradient @ d) + 0.5 * lam * step**2)
    if inplace:
        for p, a in zip(params, new):
            p._data[...] = a if p.device == "cpu" else p._backend.asarray(a, p.dtype)
    return EscapeResult(before, after, sign * d, lam, float(step), predicted, new)
