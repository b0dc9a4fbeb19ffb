"""Dropout: eval identity, scale preserved in training, zero fraction ≈ p, seeded
reproducibility, gradient = mask·scale, and the PyTorch p edge cases."""

from __future__ import annotations

import numpy as np
import pytest

import fusegrad as fg
import fusegrad.nn as nn
import fusegrad.nn.functional as F


def test_dropout_eval_is_identity(dtype):
    d = nn.Dropout(0.5).eval()
    x = fg.randn(50, 20, dtype=dtype)
    assert d(x) is x
    assert F.dropout(x, 0.5, training=False) is x


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8], ids=lambda p: f"p{p}")
def test_dropout_zero_fraction_and_scale(p):
    x = fg.ones(400, 500)
    y = nn.Dropout(p)(x).numpy()
    frac = (y == 0).mean()
    # binomial std sqrt(p(1-p)/200000) <= 0.0012; 5 sigma
    assert abs(frac - p) < 0.006
    np.testing.assert_allclose(y[y != 0], 1 / (1 - p), rtol=1e-6)
    assert abs(y.mean() - 1) < 0.006 / (1 - p)  # expectation preserved


def test_dropout_reproducible_under_seed():
    x = fg.randn(64, 33)
    fg.manual_seed(7)
    a = F.dropout(x, 0.4).numpy()
    b = F.dropout(x, 0.4).numpy()
    fg.manual_seed(7)
    a2 = F.dropout(x, 0.4).numpy()
    np.testing.assert_array_equal(a, a2)
    assert not np.array_equal(a, b)  # a fresh mask per call


def test_dropout_gradient_is_mask_times_scale(dtype):
    x = fg.tensor(np.random.default_rng(0).standard_normal((30, 40)).astype(dtype),
                  requires_grad=True)
    y = F.dropout(x, 0.25)
    g = np.random.default_rng(1).standard_normal((30, 40)).astype(dtype)
    y.backward(fg.tensor(g))
    kept = y.numpy() != 0
    np.testing.assert_allclose(x.grad.numpy(), np.where(kept, g / dtype(0.75), 0), rtol=1e-6)


def test_dropout_edge_probabilities():
    x = fg.randn(10, 10)
    assert F.dropout(x, 0.0) is x
    assert not F.dropout(x, 1.0).numpy().any()
    with pytest.raises(ValueError):
        F.dropout(x, 1.5)
    with pytest.raises(ValueError):
        nn.Dropout(-0.1)
