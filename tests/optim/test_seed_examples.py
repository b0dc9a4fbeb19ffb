"""The seed example: on an elongated quadratic bowl, plain SGD oscillates across the steep
direction and crawls along the flat one, while the per-coordinate methods converge."""

from __future__ import annotations

import numpy as np
import pytest

import fusegrad as fg
from fusegrad import optim

# L(w) = w1^2 / 1000 + w2^2: curvatures 1/500 and 2 (condition number 1000).
SCALE = np.array([0.001, 1.0])


def _loss(w: np.ndarray) -> float:
    return float(np.sum(SCALE * w * w))


def _run(make, steps=200):
    w = fg.tensor(np.array([10.0, 1.0]), requires_grad=True)
    opt = make([w])
    history = []
    for _ in range(steps):
        opt.zero_grad()
        loss = (fg.tensor(SCALE) * w * w).sum()
        loss.backward()
        opt.step()
        history.append(_loss(w.numpy()))
    return np.array(history)


OPTIMIZERS = {
    # the largest SGD step that is still stable along w2 (lr < 1 / curvature 2 = 1.0)
    "sgd": lambda ps: optim.SGD(ps, lr=0.95),
    "adagrad": lambda ps: optim.Adagrad(ps, lr=1.0),
    "rmsprop": lambda ps: optim.RMSprop(ps, lr=0.1),
    "adam": lambda ps: optim.Adam(ps, lr=0.2),
}


@pytest.fixture(scope="module")
def histories():
    return {name: _run(make) for name, make in OPTIMIZERS.items()}


def test_seed_sgd_oscillates_and_crawls(histories):
    h = histories["sgd"]
    w2_sign = []
    w = fg.tensor(np.array([10.0, 1.0]), requires_grad=True)
    opt = optim.SGD([w], lr=0.95)
    for _ in range(5):
        opt.zero_grad()
        (fg.tensor(SCALE) * w * w).sum().backward()
        opt.step()
        w2_sign.append(np.sign(w.numpy()[1]))
    assert all(a != b for a, b in zip(w2_sign, w2_sign[1:])), "w2 flips sign every step"
    # along w1 each step only removes lr * 2/1000 = 0.19% of the distance
    assert h[-1] > 1e-2 * h[0], "after 200 steps SGD is still far from the minimum"


def test_seed_adaptive_methods_beat_sgd(histories):
    sgd = histories["sgd"][-1]
    for name in ("adagrad", "rmsprop", "adam"):
        assert histories[name][-1] < 1e-3 * sgd, (name, histories[name][-1], sgd)
