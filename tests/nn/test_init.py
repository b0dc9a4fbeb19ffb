"""nn.init: bounds / std against the PyTorch formulas over large tensors, fan conventions,
calculate_gain, seeding."""

from __future__ import annotations

import math

import numpy as np
import pytest

import fusegrad as fg
import fusegrad.nn as nn
from fusegrad.nn import init


def _t(*shape):
    return fg.zeros(*shape)


def test_calculate_gain():
    assert init.calculate_gain("linear") == 1 and init.calculate_gain("sigmoid") == 1
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert init.calculate_gain("leaky_relu") == pytest.approx(math.sqrt(2 / (1 + 0.01**2)))
    assert init.calculate_gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04))
    assert init.calculate_gain("selu") == 0.75
    with pytest.raises(ValueError):
        init.calculate_gain("swish")


def test_constant_fills():
    t = _t(3, 4)
    assert init.ones_(t).numpy().all()
    assert (init.constant_(t, 2.5).numpy() == 2.5).all()
    assert not init.zeros_(t).numpy().any()


# (initialiser, kwargs, shape (out, in, k), expected bound (uniform) or std (normal))
FAN_IN, FAN_OUT = 200 * 3, 300 * 3
CASES = [
    ("uniform_", {"a": -2, "b": 3}, "u", (-2, 3)),
    ("normal_", {"mean": 1, "std": 2}, "n", (1, 2)),
    ("xavier_uniform_", {"gain": 2}, "u", 2 * math.sqrt(6 / (FAN_IN + FAN_OUT))),
    ("xavier_normal_", {}, "n", math.sqrt(2 / (FAN_IN + FAN_OUT))),
    ("kaiming_uniform_", {"a": math.sqrt(5)}, "u", math.sqrt(3) * math.sqrt(2 / 6) / math.sqrt(FAN_IN)),
    ("kaiming_uniform_", {"mode": "fan_out", "nonlinearity": "relu"}, "u",
     math.sqrt(3) * math.sqrt(2) / math.sqrt(FAN_OUT)),
    ("kaiming_normal_", {"nonlinearity": "relu"}, "n", math.sqrt(2) / math.sqrt(FAN_IN)),
    ("kaiming_normal_", {"mode": "fan_out", "nonlinearity": "tanh"}, "n",
     5 / 3 / math.sqrt(FAN_OUT)),
]


@pytest.mark.parametrize("name, kwargs, kind, expect", CASES,
                         ids=[f"{c[0]}{i}" for i, c in enumerate(CASES)])
def test_init_distributions(name, kwargs, kind, expect, dtype):
    t = fg.zeros(300, 200, 3, dtype=dtype)
    getattr(init, name)(t, **kwargs)
    v = t.numpy().astype(np.float64)
    assert t.dtype == dtype
    n = v.size
    if kind == "u":
        lo, hi = expect if isinstance(expect, tuple) else (-expect, expect)
        assert v.min() >= lo and v.max() <= hi
        assert v.min() < lo + 1e-3 * (hi - lo) and v.max() > hi - 1e-3 * (hi - lo)
        # the std of U(lo, hi) is (hi - lo)/√12; its estimate has relative error ~ 1/√n
        assert abs(v.std() / ((hi - lo) / math.sqrt(12)) - 1) < 10 / math.sqrt(n)
        assert abs(v.mean() - (lo + hi) / 2) < 10 * (hi - lo) / math.sqrt(12 * n)
    else:
        mean, std = expect if isinstance(expect, tuple) else (0.0, expect)
        assert abs(v.std() / std - 1) < 10 / math.sqrt(n)
        assert abs(v.mean() - mean) < 10 * std / math.sqrt(n)


def test_init_is_seeded_and_fan_errors():
    fg.manual_seed(3)
    a = init.normal_(_t(5, 5)).numpy().copy()
    fg.manual_seed(3)
    np.testing.assert_array_equal(init.normal_(_t(5, 5)).numpy(), a)
    with pytest.raises(ValueError, match="fewer than 2"):
        init.xavier_uniform_(_t(5))
    with pytest.raises(ValueError, match="fan_in"):
        init.kaiming_uniform_(_t(5, 5), mode="fan_avg")


def test_init_of_a_parameter_keeps_it_a_leaf():
    m = nn.Linear(3, 4)
    init.xavier_normal_(m.weight)
    assert m.weight.is_leaf and m.weight.requires_grad
