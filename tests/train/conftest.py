"""Small data and model builders shared by the training tests (kept tiny: tests stay fast)."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="session")
def digits_small() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """300 training and 200 validation digits, standardised with the training statistics."""
    from fusegrad.data import StandardScaler, load_digits

    X, y = load_digits()
    X_tr, y_tr, X_va, y_va = X[:300], y[:300], X[300:500], y[300:500]
    scaler = StandardScaler().fit(X_tr)
    return (scaler.transform(X_tr).astype(np.float32), y_tr,
            scaler.transform(X_va).astype(np.float32), y_va)
