"""cross_validate (mean ± std over folds) and the mlp builder."""

from __future__ import annotations

import numpy as np
import pytest

import fusegrad as fg
import fusegrad.nn as nn
import fusegrad.optim as optim
from fusegrad.data import load_digits
from fusegrad.train import cross_validate, mlp


@pytest.mark.parametrize("stratified", [True, False], ids=["stratified", "plain"])
def test_cross_validate_reports_mean_and_std(stratified) -> None:
    X, y = load_digits()
    X, y = X[:300], y[:300]
    log = []
    res = cross_validate(lambda: mlp((64, 32, 10)),
                         lambda params: optim.Adam(params, lr=1e-2), X, y, k=3, epochs=3,
                         stratified=stratified, log=log.append)
    assert len(res.scores) == 3 and len(res.histories) == 3 and len(log) == 3
    assert res.mean == pytest.approx(np.mean(res.scores))
    assert res.std == pytest.approx(np.std(res.scores))
    assert res.mean > 0.7
    assert "±" in str(res)


def test_cross_validate_folds_start_from_the_same_seed() -> None:
    X, y = load_digits()
    X, y = X[:120], y[:120]
    inits = []

    def build():
        m = mlp((64, 8, 10))
        inits.append(np.array(m.state_dict()["0.weight"]))
        return m

    cross_validate(build, lambda p: optim.SGD(p, lr=0.1), X, y, k=2, epochs=1)
    np.testing.assert_array_equal(inits[0], inits[1])


def test_mlp_layers() -> None:
    m = mlp((64, 32, 16, 10), batchnorm=True, dropout=0.25)
    kinds = [type(layer).__name__ for layer in m.children()]
    assert kinds == ["Linear", "BatchNorm1d", "ReLU", "Dropout", "Linear", "BatchNorm1d", "ReLU",
                     "Dropout", "Linear"]
    out = m(fg.from_numpy(np.zeros((4, 64), np.float32)))
    assert out.shape == (4, 10)
    assert len(list(mlp((5, 3)).children())) == 1


@pytest.mark.parametrize("init", ["he", "xavier"])
def test_mlp_init_scales(init) -> None:
    fg.manual_seed(0)
    m = mlp((400, 300, 10), init=init)
    w = np.asarray(m.state_dict()["0.weight"])
    expected = np.sqrt(2.0 / 400) if init == "he" else np.sqrt(2.0 / (400 + 300))
    assert w.std() == pytest.approx(expected, rel=0.05)
    assert not np.asarray(m.state_dict()["0.bias"]).any()


@pytest.mark.parametrize("kwargs, match", [
    ({"sizes": (10,)}, "two positive sizes"),
    ({"sizes": (10, 0, 2)}, "two positive sizes"),
    ({"dropout": 1.0}, "dropout"),
    ({"init": "orthogonal"}, "init"),
    ({"activation": "gelu"}, "activation"),
], ids=["one-size", "zero-size", "dropout", "init", "activation"])
def test_mlp_rejects_bad_arguments(kwargs, match) -> None:
    kwargs = {"sizes": (4, 3), **kwargs}
    with pytest.raises(ValueError, match=match):
        mlp(**kwargs)


def test_mlp_activation_choice() -> None:
    m = mlp((4, 3, 2), activation="tanh")
    assert isinstance(list(m.children())[1], nn.Tanh)
