"""Optimizer paths on a 2-D loss surface: ``trajectory`` and ``steps_to_tolerance``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from fusegrad.autograd.grad_mode import enable_grad, no_grad
from fusegrad.autograd.tensor import Tensor


@dataclass
class Trajectory:
    """The points an optimizer visited.

    Attributes:
        path: (steps + 1, 2) float64 array, ``path[0]`` the start.
        losses: (steps + 1,) loss at each point of ``path``.
        lrs: (steps,) learning rate used by each step (group 0).
    """

    path: np.ndarray
    losses: np.ndarray
    lrs: np.ndarray


def trajectory(
    loss_fn_2d: Callable[[Tensor, Tensor], Tensor],
    start: Sequence[float],
    optimizer_factory: Callable[[list], Any],
    steps: int,
    scheduler_factory: Callable[[Any], Any] | None = None,
) -> Trajectory:
    """Run a fusegrad optimizer (and optionally a schedule) on a 2-parameter loss.

    The two coordinates are two float64 0-d leaf Tensors ``x``, ``y`` (the optimizer's
    params). Each step is ``zero_grad(); loss = loss_fn_2d(x, y); loss.backward();
    opt.step()``, then ``sched.step()`` — the PyTorch order.

    Args:
        loss_fn_2d: ``(x, y) -> Tensor``. Written with elementwise ops, the same function
            evaluates a whole grid at once (``x``, ``y`` of shape (H, W)), which is how
            contour plots are drawn (see ``surface``).
        start: the initial point (w1, w2).
        optimizer_factory: ``params -> optimizer``, e.g.
            ``lambda p: fg.optim.SGD(p, lr=0.05, momentum=0.9)``.
        steps: number of optimizer steps.
        scheduler_factory: ``optimizer -> scheduler`` (``fusegrad.optim.lr_scheduler``), or None.
    Returns:
        Trajectory (float64 path and losses; the parameter itself is float64).
    """
    x0, y0 = np.asarray(start, dtype=np.float64).reshape(2)
    w = [Tensor(np.array(x0), requires_grad=True), Tensor(np.array(y0), requires_grad=True)]
    opt = optimizer_factory(w)
    sched = scheduler_factory(opt) if scheduler_factory is not None else None
    path, losses, lrs = [[x0, y0]], [], []
    for _ in range(int(steps)):
        opt.zero_grad()
        with enable_grad():
            loss = loss_fn_2d(*w)
        loss.backward()
        losses.append(float(loss.item()))
        lrs.append(float(opt.param_groups[0]["lr"]))
        opt.step()
        if sched is not None:
            sched.step()
        path.append([w[0].item(), w[1].item()])
    with no_grad():
        losses.append(float(loss_fn_2d(*w).item()))
    return Trajectory(np.array(path, dtype=np.float64), np.array(losses), np.array(lrs))


def surface(loss_fn_2d: Callable[[Tensor, Tensor], Tensor], xs: Any, ys: Any) -> np.ndarray:
    """``loss_fn_2d`` on the grid ``xs × ys`` in one call: array of shape (len(ys), len(xs)).

    Raises:
        ValueError: ``loss_fn_2d`` is not elementwise (returns another shape than the grid).
    """
    gx, gy = np.meshgrid(np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64))
    with no_grad():
        z = loss_fn_2d(Tensor(gx), Tensor(gy))
    z = np.asarray(z.numpy(), dtype=np.float64)
    if z.shape != gx.shape:
        raise ValueError(f"loss_fn_2d on {gx.shape} grids returned shape {z.shape}; write it "
                         "with elementwise ops on x and y")
    return z


def steps_to_tolerance(losses: np.ndarray, tol: float, minimum: float = 0.0) -> int | None:
    """First step index at which ``loss - minimum <= tol`` and stays there; None if never."""
    ok = np.asarray(losses) - minimum <= tol
    if not ok[-1]:
        return None
    bad = np.flatnonzero(~ok)
    return 0 if len(bad) == 0 else int(bad[-1]) + 1
