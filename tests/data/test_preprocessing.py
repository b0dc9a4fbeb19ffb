"""MinMaxScaler and StandardScaler: vs scikit-learn, train-only statistics, edge columns."""

from __future__ import annotations

import numpy as np
import pytest

from fusegrad.data import MinMaxScaler, NotFittedError, StandardScaler


def _data(dtype, seed=0, n=40):
    rng = np.random.default_rng(seed)
    X = rng.normal(loc=[0.0, 100.0, -3.0, 5.0], scale=[1.0, 20.0, 0.01, 0.0], size=(n, 4))
    return X.astype(dtype)  # column 3 is constant


_TOL = {np.float32: {"rtol": 1e-5, "atol": 1e-5}, np.float64: {"rtol": 1e-12, "atol": 1e-12}}
_SCALERS = [
    pytest.param(lambda: MinMaxScaler(), "MinMaxScaler", {}, id="minmax"),
    pytest.param(
        lambda: MinMaxScaler((-2, 3)), "MinMaxScaler", {"feature_range": (-2, 3)}, id="minmax-range"
    ),
    pytest.param(lambda: StandardScaler(), "StandardScaler", {}, id="standard"),
]


@pytest.mark.parametrize(("make", "sk_name", "sk_kwargs"), _SCALERS)
def test_scaler_matches_sklearn_and_uses_train_stats_only(make, sk_name, sk_kwargs, dtype):
    preprocessing = pytest.importorskip("sklearn.preprocessing")
    X_train, X_test = _data(dtype, seed=0), _data(dtype, seed=1) * 1.5 + 2.0
    ours = make().fit(X_train)
    ref = getattr(preprocessing, sk_name)(**sk_kwargs).fit(X_train.astype(np.float64))
    for X in (X_train, X_test):
        out = ours.transform(X)
        assert out.dtype == dtype
        np.testing.assert_allclose(out, ref.transform(X.astype(np.float64)), **_TOL[dtype])
        np.testing.assert_allclose(ours.inverse_transform(out), X, **_TOL[dtype])


@pytest.mark.parametrize(("make", "sk_name", "sk_kwargs"), _SCALERS)
def test_scaler_transform_of_test_uses_train_statistics(make, sk_name, sk_kwargs):
    X_train = _data(np.float64, seed=0)
    X_test = X_train[:5] + 1000.0  # far outside the training range
    fitted = make().fit(X_train)
    out = fitted.transform(X_test)
    refit = make().fit(X_test).transform(X_test)
    assert not np.allclose(out, refit)
    np.testing.assert_allclose(out, fitted.transform(X_train[:5] + 1000.0))


def test_standard_scaler_statistics_ddof0_and_constant_column():
    X = _data(np.float64)
    s = StandardScaler().fit(X)
    np.testing.assert_allclose(s.mean_, X.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(s.var_, X.var(axis=0), rtol=1e-12, atol=1e-30)
    assert s.scale_[3] == 1.0
    out = s.transform(X)
    assert np.all(out[:, 3] == 0.0)
    np.testing.assert_allclose(out[:, :3].mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(out[:, :3].std(axis=0), 1.0, rtol=1e-12)


def test_standard_scaler_constant_float32_column_maps_to_zero():
    # 0.1 is not exact in binary: a computed mean can miss it by an ulp (see preprocessing.py).
    X = np.full((1000, 1), 0.1, dtype=np.float32)
    assert np.all(StandardScaler().fit_transform(X) == 0.0)


@pytest.mark.parametrize("feature_range", [(0, 1), (-1, 1), (0.3, 7.5)], ids=str)
def test_minmax_scaler_range_and_constant_column(feature_range):
    lo, hi = feature_range
    out = MinMaxScaler(feature_range).fit_transform(_data(np.float64))
    np.testing.assert_allclose(out[:, :3].min(axis=0), lo, atol=1e-12)
    np.testing.assert_allclose(out[:, :3].max(axis=0), hi, atol=1e-12)
    assert np.all(out[:, 3] == lo)


def test_scaler_int_input_becomes_float64():
    out = StandardScaler().fit_transform(np.arange(12).reshape(6, 2))
    assert out.dtype == np.float64


@pytest.mark.parametrize("make", [MinMaxScaler, StandardScaler], ids=["minmax", "standard"])
def test_scaler_errors(make):
    with pytest.raises(NotFittedError, match="fit"):
        make().transform(np.zeros((2, 3)))
    assert issubclass(NotFittedError, ValueError)
    scaler = make().fit(np.arange(6.0).reshape(2, 3))
    with pytest.raises(ValueError, match=r"\(4, 2\).*3"):
        scaler.transform(np.zeros((4, 2)))
    with pytest.raises(ValueError, match="2-D"):
        make().fit(np.zeros(3))
    with pytest.raises(ValueError, match="sample"):
        make().fit(np.zeros((0, 3)))


def test_minmax_scaler_rejects_empty_range():
    with pytest.raises(ValueError, match="feature_range"):
        MinMaxScaler((1, 1))
