"""Feature scalers (scikit-learn conventions); statistics come from ``fit``'s data only."""

from __future__ import annotations

from typing import Any

import numpy as np

from fusegrad.data.dataset import as_numpy

__all__ = ["MinMaxScaler", "NotFittedError", "StandardScaler"]


class NotFittedError(ValueError, AttributeError):
    """A scaler was used before ``fit`` (the same bases as scikit-learn's NotFittedError)."""


def _as_2d_float(X: Any, what: str) -> np.ndarray:
    """X as a 2-D floating array: float32/float64 kept, anything else becomes float64."""
    a = as_numpy(X)
    if a.ndim != 2:
        raise ValueError(f"{what} expects a 2-D array (samples, features), got shape {a.shape}")
    if a.dtype not in (np.float32, np.float64):
        a = a.astype(np.float64)
    return a


class _Scaler:
    """Shared plumbing: per feature, ``transform(X) = (X - center) / div + offset``.

    Subtracting the centre first keeps float32 data precise when the mean is large against
    the spread, and maps a constant feature exactly onto ``offset``.
    """

    n_features_in_: int

    def _fit_stats(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        """Sets the public statistics; returns float64 ``(center, div)`` and ``offset``."""
        raise NotImplementedError

    def fit(self, X: Any) -> _Scaler:
        """Computes the per-feature statistics of ``X`` (samples, features); returns self.

        Raises:
            ValueError: X is not 2-D or has no samples.
        """
        a = _as_2d_float(X, f"{type(self).__name__}.fit")
        if a.shape[0] == 0:
            raise ValueError(
                f"{type(self).__name__}.fit needs at least one sample, got shape {a.shape}"
            )
        self.n_features_in_ = a.shape[1]
        self._center, self._div, self._offset = self._fit_stats(a)
        return self

    def _check(self, X: Any, method: str) -> np.ndarray:
        if not hasattr(self, "n_features_in_"):
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet; call fit() before {method}()"
            )
        a = _as_2d_float(X, f"{type(self).__name__}.{method}")
        if a.shape[1] != self.n_features_in_:
            raise ValueError(
                f"{type(self).__name__}.{method}: X has shape {a.shape} but the scaler was fitted "
                f"on shape (n, {self.n_features_in_})"
            )
        return a

    def transform(self, X: Any) -> np.ndarray:
        """Scales ``X`` with the fitted statistics; float32 stays float32, else float64.

        Raises:
            NotFittedError: called before ``fit``.
            ValueError: X is not 2-D or has a different number of features.
        """
        a = self._check(X, "transform")
        out = a - self._center.astype(a.dtype)
        out /= self._div.astype(a.dtype)
        if self._offset:
            out += a.dtype.type(self._offset)
        return out

    def fit_transform(self, X: Any) -> np.ndarray:
        """``fit(X)`` then ``transform(X)``."""
        return self.fit(X).transform(X)

    def inverse_transform(self, X: Any) -> np.ndarray:
        """Undoes ``transform``: maps scaled data back to the original units."""
        a = self._check(X, "inverse_transform")
        out = a - a.dtype.type(self._offset) if self._offset else a.copy()
        out *= self._div.astype(a.dtype)
        out += self._center.astype(a.dtype)
        return out


class MinMaxScaler(_Scaler):
    """Maps each feature linearly onto ``feature_range``, using its min and max from ``fit``.

    ``X_scaled = (X - data_min_) / data_range_ * (hi - lo) + lo``. A constant feature
    (range 0) maps to ``lo``. Data outside the fitted range map outside ``feature_range``.

    Attributes (after ``fit``): ``data_min_``, ``data_max_``, ``data_range_``, ``scale_``,
    ``min_`` (float64; ``transform(X) = X * scale_ + min_`` up to rounding), ``n_features_in_``.

    Args:
        feature_range: ``(lo, hi)`` with ``lo < hi``.

    Raises:
        ValueError: ``lo >= hi``.
    """

    def __init__(self, feature_range: tuple[float, float] = (0, 1)) -> None:
        lo, hi = feature_range
        if not lo < hi:
            raise ValueError(f"feature_range must be (lo, hi) with lo < hi, got {feature_range}")
        self.feature_range = (lo, hi)

    def _fit_stats(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        lo, hi = self.feature_range
        self.data_min_ = X.min(axis=0).astype(np.float64)
        self.data_max_ = X.max(axis=0).astype(np.float64)
        self.data_range_ = self.data_max_ - self.data_min_
        # A zero range divides by 1 instead: the constant column then maps to exactly lo.
        div = np.where(self.data_range_ == 0, 1.0, self.data_range_) / (hi - lo)
        self.scale_ = 1.0 / div
        self.min_ = lo - self.data_min_ * self.scale_
        return self.data_min_, div, float(lo)


class StandardScaler(_Scaler):
    """Centres each feature to mean 0 and scales it to unit variance (statistics from ``fit``).

    ``X_scaled = (X - mean_) / scale_`` with ``scale_ = sqrt(var_)`` (population variance,
    ddof 0, accumulated in float64); a constant feature gets ``scale_ = 1`` and maps to 0.

    Attributes (after ``fit``): ``mean_``, ``var_``, ``scale_`` (float64), ``n_features_in_``.
    """

    def _fit_stats(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        X64 = X.astype(np.float64)
        # NOTE: a constant column is detected exactly (max == min), not by a variance
        # threshold: its float64 mean can be off by an ulp, giving var ~1e-35 and garbage
        # after dividing by sqrt(var). Its mean is then the value itself, so it maps to 0.
        constant = X64.max(axis=0) == X64.min(axis=0)
        self.mean_ = np.where(constant, X64[0], X64.mean(axis=0))
        self.var_ = np.where(constant, 0.0, X64.var(axis=0))
        self.scale_ = np.where(constant, 1.0, np.sqrt(self.var_))
        return self.mean_, self.scale_, 0.0
