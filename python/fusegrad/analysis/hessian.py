"""Second derivatives of a scalar loss: ``hessian`` (dense) and ``hvp`` (Hessian-vector product).

Both are central differences of exact (autograd) gradients: the engine is first-order only
(STYLE.md), so ``H[:, j] = (g(θ + h e_j) - g(θ - h e_j)) / 2h`` with ``g`` from
``fusegrad.autograd.grad``. See Note [Hessian by differences of gradients].

Convention (API.md): ``params`` is an iterable of leaf Tensors that require grad, ``fn()``
returns a scalar Tensor computed from them. The params are perturbed in place while the
gradients are taken and restored bit for bit afterwards (also when ``fn`` raises); their
``.grad`` is never touched.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

import numpy as np

from fusegrad.autograd.gradcheck import grad as _autograd_grad
from fusegrad.autograd.grad_mode import enable_grad, no_grad
from fusegrad.autograd.tensor import Tensor

# Note [Hessian by differences of gradients]
# Step. A central difference of gradients has truncation error ~h²·|∂³L| and rounding error
# ~u·|g|/h (u = unit roundoff of the params' dtype), balanced at h ~ u^(1/3): 6.1e-6 in
# float64, 4.9e-3 in float32, scaled by max(1, |θ_j|) so that θ_j ± h differ from θ_j in
# relative terms. Each column is divided by the step actually stored (the rounded
# θ_j + h minus the rounded θ_j - h), not the nominal one.
# Richardson. Differences D(h) and D(2h) are both taken; (4 D(h) - D(2h)) / 3 cancels the h²
# term (error ~h⁴, so float64 Hessians agree with PyTorch's exact ones to ~1e-10), and
# (D(2h) - D(h)) / 3 estimates the error of D(h). Its norm is the "noise floor": eigenvalues
# smaller than that cannot be told apart from zero (``critical_point`` counts them as zero).
# This is what makes x⁴ at 0 come out "degenerate": D(h) = 4h² is not 0, but it equals the
# error estimate, while the extrapolated value is 0 up to rounding.
# dtype. The loss is evaluated in the params' own dtype: a float32 model gets a float32
# Hessian (about 5 significant digits at best). Use float64 params (``model.double()``) for
# anything quantitative; the returned matrix is float64 either way.
# Cost. ``hessian`` takes 4n gradients (n = number of parameter elements), ``hvp`` 4.


def _unit_roundoff(dtype: np.dtype) -> float:
    return float(np.finfo(dtype).eps)


def _step_base(dtype: np.dtype) -> float:
    """u^(1/3), the central-difference step before scaling (see Note [Hessian by ...])."""
    return _unit_roundoff(dtype) ** (1.0 / 3.0)


class _Params:
    """Flat float64 view of a list of leaf Tensors: read, overwrite in place, restore exactly.

    Used as a context manager: ``__exit__`` copies the saved original arrays back into the
    params' own storage, so identity, dtype and bits are as they were.
    """

    def __init__(self, fn: Callable[[], Tensor], params: Iterable[Tensor]) -> None:
        self.fn = fn
        self.params = list(params)
        if not self.params:
            raise ValueError("params is empty: pass the Tensors the loss depends on")
        seen = set()
        for i, p in enumerate(self.params):
            if not isinstance(p, Tensor):
                raise TypeError(f"params[{i}] is {type(p).__name__}, not a Tensor")
            if not p.requires_grad or not p.is_leaf:
                raise ValueError(f"params[{i}] (shape {p.shape}) must be a leaf that requires grad")
            if p.dtype.kind != "f":
                raise TypeError(f"params[{i}] has dtype {p.dtype}; need float32 or float64")
            if id(p) in seen:
                raise ValueError(f"params[{i}] (shape {p.shape}) appears twice")
            seen.add(id(p))
        self.sizes = [p.numel() for p in self.params]
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)]).astype(int)
        self.n = int(self.offsets[-1])
        self.saved = [p._data.copy() for p in self.params]
        self.theta = np.concatenate(
            [np.asarray(p.numpy(), dtype=np.float64).ravel() for p in self.params])
        # The least precise dtype decides the step (mixed float32/float64 is unusual).
        self.dtype = min((p.dtype for p in self.params), key=lambda d: d.itemsize)

    def __enter__(self) -> "_Params":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.restore()

    def restore(self) -> None:
        for p, s in zip(self.params, self.saved):
            p._data[...] = s

    def stored(self, j: int, value: float) -> float:
        """The value that element ``j`` actually holds after being set to ``value`` (rounded)."""
        p = self.params[int(np.searchsorted(self.offsets, j, side="right")) - 1]
        return float(p.dtype.type(value))

    def set(self, flat: np.ndarray) -> None:
        for p, a, b in zip(self.params, self.offsets[:-1], self.offsets[1:]):
            vals = flat[a:b].reshape(p.shape).astype(p.dtype)
            p._data[...] = vals if p.device == "cpu" else p._backend.asarray(vals, p.dtype)

    def unflatten(self, flat: np.ndarray) -> list:
        """Split a flat vector into NumPy arrays shaped (and typed) like the params."""
        return [np.asarray(flat[a:b], dtype=p.dtype).reshape(p.shape)
                for p, a, b in zip(self.params, self.offsets[:-1], self.offsets[1:])]

    def loss(self, flat: np.ndarray | None = None) -> float:
        """fn() as a Python float, at ``flat`` (when given) or at the current values."""
        if flat is not None:
            self.set(flat)
        with no_grad():
            out = self.fn()
        return float(_check_scalar(out).item())

    def grad(self, flat: np.ndarray | None = None) -> np.ndarray:
        """Flat float64 gradient of fn() at ``flat`` (when given) or at the current values."""
        if flat is not None:
            self.set(flat)
        with enable_grad():
            out = _check_scalar(self.fn())
            g = np.zeros(self.n)
            if not out.requires_grad:  # the loss does not depend on the params at all
                return g
            grads = _autograd_grad(out, self.params, allow_unused=True)
        for gi, a, b in zip(grads, self.offsets[:-1], self.offsets[1:]):
            if gi is not None:
                g[a:b] = np.asarray(gi.numpy(), dtype=np.float64).ravel()
        return g


def _check_scalar(out: Any) -> Tensor:
    if not isinstance(out, Tensor):
        raise TypeError(f"fn() must return a scalar Tensor, got {type(out).__name__}")
    if out.numel() != 1:
        raise ValueError(f"fn() must return a scalar Tensor, got shape {out.shape}")
    return out


def _hessian_with_error(ps: _Params) -> tuple[np.ndarray, float]:
    """(Richardson-extrapolated symmetric Hessian, spectral norm of the estimated error of D(h)).

    See Note [Hessian by differences of gradients]. Leaves the params perturbed: callers
    hold ``ps`` as a context manager.
    """
    n, theta = ps.n, ps.theta
    h = _step_base(ps.dtype) * np.maximum(1.0, np.abs(theta))
    d_h, d_2h = np.empty((n, n)), np.empty((n, n))
    flat = theta.copy()
    for j in range(n):
        for s, out in ((h[j], d_h), (2.0 * h[j], d_2h)):
            plus, minus = ps.stored(j, theta[j] + s), ps.stored(j, theta[j] - s)
            flat[j] = plus
            g_plus = ps.grad(flat)
            flat[j] = minus
            g_minus = ps.grad(flat)
            out[:, j] = (g_plus - g_minus) / (plus - minus)
        flat[j] = theta[j]
    ps.restore()
    hess = (4.0 * d_h - d_2h) / 3.0
    err = (d_2h - d_h) / 3.0
    # Asymmetry is error too: the exact Hessian is symmetric.
    noise = max(_spectral_norm(err), _spectral_norm(0.5 * (hess - hess.T)))
    return 0.5 * (hess + hess.T), noise


def _spectral_norm(a: np.ndarray) -> float:
    if a.size == 0:
        return 0.0
    # SVD is exact but O(n³); the Frobenius norm bounds it and is enough beyond a few thousand.
    return float(np.linalg.norm(a, 2) if a.shape[0] <= 2000 else np.linalg.norm(a))


def _hvp_with_error(ps: _Params, v: np.ndarray) -> tuple[np.ndarray, float]:
    """(H v by Richardson-extrapolated central differences along v, error estimate norm)."""
    v = np.asarray(v, dtype=np.float64).ravel()
    if v.shape != (ps.n,):
        raise ValueError(f"v has shape {v.shape}, expected ({ps.n},) (the number of parameters)")
    norm = float(np.linalg.norm(v))
    if norm == 0.0:
        return np.zeros(ps.n), 0.0
    u = v / norm
    h = _step_base(ps.dtype) * max(1.0, float(np.max(np.abs(ps.theta))))
    d = []
    for s in (h, 2.0 * h):
        g_plus = ps.grad(ps.theta + s * u)
        g_minus = ps.grad(ps.theta - s * u)
        d.append((g_plus - g_minus) / (2.0 * s))
    ps.restore()
    return norm * (4.0 * d[0] - d[1]) / 3.0, norm * float(np.linalg.norm(d[1] - d[0])) / 3.0


def hessian(fn: Callable[[], Tensor], params: Iterable[Tensor]) -> np.ndarray:
    """Hessian of the scalar ``fn()`` with respect to the flattened ``params``.

    Central differences of exact autograd gradients, Richardson-extrapolated and
    symmetrised (see Note [Hessian by differences of gradients]); 4n gradient evaluations.

    Args:
        fn: no-argument closure returning a scalar Tensor computed from ``params``.
        params: leaf Tensors that require grad (e.g. ``list(model.parameters())``); they are
            perturbed while this runs and restored exactly; ``.grad`` is not touched.
    Returns:
        float64 NumPy array (n, n), n = total number of elements, in ``params`` order, each
        param flattened row-major. Computed in the params' dtype: use float64 params for
        accurate values (float32 gives roughly 5 significant digits).
    Raises:
        TypeError / ValueError: a param that is not a float leaf Tensor requiring grad, or
            ``fn()`` not returning a scalar Tensor.
    """
    with _Params(fn, params) as ps:
        return _hessian_with_error(ps)[0]


def hvp(fn: Callable[[], Tensor], params: Iterable[Tensor], v: Any) -> np.ndarray:
    """Hessian-vector product ``H v`` without forming ``H`` (4 gradient evaluations).

    ``(g(θ + h u) - g(θ - h u)) / 2h · |v|`` with ``u = v / |v|``, Richardson-extrapolated
    over h and 2h; ``h = u_dtype^(1/3) · max(1, max|θ|)``.

    Args:
        fn, params: as for ``hessian``.
        v: flat vector of length n (NumPy or anything ``np.asarray`` takes).
    Returns:
        float64 NumPy array of length n.
    Raises:
        ValueError: ``v`` of the wrong length.
    """
    with _Params(fn, params) as ps:
        return _hvp_with_error(ps, v)[0]
