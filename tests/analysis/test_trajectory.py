"""fusegrad.analysis.trajectory: optimizer paths on a 2-D surface, grids, steps to tolerance."""

from __future__ import annotations

import numpy as np
import pytest

import fusegrad as fg
from fusegrad.analysis import steps_to_tolerance, surface, trajectory

A = np.array([[3.0, 1.0], [1.0, 2.0]])  # L = ½ wᵀ A w


def _bowl(x: fg.Tensor, y: fg.Tensor) -> fg.Tensor:
    return 0.5 * (A[0, 0] * x * x + 2 * A[0, 1] * x * y + A[1, 1] * y * y)


def test_trajectory_sgd_matches_closed_form() -> None:
    from fusegrad import optim

    lr, steps, start = 0.1, 12, np.array([1.5, -2.0])
    tr = trajectory(_bowl, start, lambda p: optim.SGD(p, lr=lr), steps)
    expected = [start]
    for _ in range(steps):
        expected.append(expected[-1] - lr * A @ expected[-1])  # gradient step on ½ wᵀAw
    np.testing.assert_allclose(tr.path, expected, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(tr.losses, [0.5 * w @ A @ w for w in expected], rtol=1e-12)
    assert tr.path.shape == (steps + 1, 2) and tr.losses.shape == (steps + 1,)
    np.testing.assert_array_equal(tr.lrs, np.full(steps, lr))


def test_trajectory_records_scheduled_lr() -> None:
    from fusegrad import optim
    from fusegrad.optim import lr_scheduler

    tr = trajectory(_bowl, (1.0, 1.0), lambda p: optim.SGD(p, lr=0.1), 5,
                    lambda opt: lr_scheduler.ExponentialLR(opt, gamma=0.5))
    np.testing.assert_allclose(tr.lrs, 0.1 * 0.5 ** np.arange(5), rtol=1e-12)


def test_surface_matches_pointwise() -> None:
    xs, ys = np.linspace(-1, 1, 5), np.linspace(-2, 2, 4)
    z = surface(_bowl, xs, ys)
    assert z.shape == (4, 5)
    for i, y in enumerate(ys):
        for j, x in enumerate(xs):
            w = np.array([x, y])
            assert z[i, j] == pytest.approx(0.5 * w @ A @ w, rel=1e-12, abs=1e-15)


def test_surface_rejects_non_elementwise() -> None:
    with pytest.raises(ValueError, match="elementwise"):
        surface(lambda x, y: (x * y).sum(), [0.0, 1.0], [0.0, 1.0])


@pytest.mark.parametrize(
    "losses, tol, expected",
    [([5.0, 1.0, 0.1, 0.01], 0.1, 2), ([5.0, 0.05, 0.5, 0.05], 0.1, 3),
     ([5.0, 1.0], 0.1, None), ([0.0, 0.0], 0.1, 0)],
    ids=["monotone", "must-stay-below", "never", "from-start"])
def test_steps_to_tolerance(losses: list, tol: float, expected: int | None) -> None:
    assert steps_to_tolerance(np.array(losses), tol) == expected
