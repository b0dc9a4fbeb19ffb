"""The native sweep (``run_backward`` → ``_C.graph_sweep``) against its Python reference.

Every case builds the same graph twice from fresh leaves, runs one backward through each
implementation and requires identical results: gradients bit for bit (both call the same
kernels in the same order), the same freed / retained state, the same errors.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

import fusegrad as fg
from fusegrad.autograd import grad_mode, graph
from fusegrad.autograd.function import Function

SWEEPS = {"native": graph.run_backward, "reference": graph.run_backward_reference}


class _TwoOut(Function):
    """y0 = 2x, y1 = x^2: a multi-output node (one output may get no gradient)."""

    @staticmethod
    def forward(ctx: Any, x: Any) -> Any:
        ctx.save_for_backward(x)
        return x * 2.0, x * x

    @staticmethod
    def backward(ctx: Any, g0: Any, g1: Any) -> Any:
        (x,) = ctx.saved_tensors
        return g0 * 2.0 + g1 * 2.0 * x


def _leaves(seed: int) -> list:
    rng = np.random.default_rng(seed)
    return [
        fg.tensor(rng.standard_normal((3, 4)), dtype=fg.float64, requires_grad=True),
        fg.tensor(rng.standard_normal((4,)), dtype=fg.float64, requires_grad=True),
        fg.tensor(rng.standard_normal((3, 1)), dtype=fg.float64, requires_grad=True),
    ]


# Graph builders: leaves -> (roots, root gradients as arrays).
def _chain(a: Any, b: Any, c: Any) -> tuple:
    y = ((a * b + c).tanh().exp() - b).sigmoid() / 1.5
    return [y.relu().sum()], None


def _diamond_and_broadcast(a: Any, b: Any, c: Any) -> tuple:
    h = a * b            # b broadcast over rows
    u = h.exp() + h * h  # h used twice
    v = (u * c).sum(dim=1, keepdim=True)  # c broadcast over columns
    return [(v * c).sum()], None


def _multi_output_one_used(a: Any, b: Any, c: Any) -> tuple:
    y0, y1 = _TwoOut.apply(a * c)
    return [(y1 * b).sum()], None  # y0 receives no gradient: the fill path


def _multi_output_both_used(a: Any, b: Any, c: Any) -> tuple:
    y0, y1 = _TwoOut.apply(a)
    return [(y0 * b + y1).sum() + (y1 * c).sum()], None


def _max_with_indices(a: Any, b: Any, c: Any) -> tuple:
    vals, idx = (a + c).max(dim=1)
    return [(vals * vals).sum() + (b * b).sum()], None


def _several_roots(a: Any, b: Any, c: Any) -> tuple:
    h = (a * b).tanh()
    r1 = h * c
    r2 = h.sum(dim=0)
    rng = np.random.default_rng(7)
    return [r1, r2, b], [rng.standard_normal(r1.shape), rng.standard_normal(r2.shape),
                         rng.standard_normal(b.shape)]


BUILDERS = {
    "chain": _chain,
    "diamond_broadcast": _diamond_and_broadcast,
    "multi_output_one_used": _multi_output_one_used,
    "multi_output_both_used": _multi_output_both_used,
    "max_with_indices": _max_with_indices,
    "several_roots_and_a_leaf_root": _several_roots,
}


def _run(sweep: Callable, build: Callable, retain: bool, capture_mode: bool, seed: int) -> tuple:
    leaves = _leaves(seed)
    roots, grads = build(*leaves)
    if grads is None:
        grads = [np.ones(r.shape) for r in roots]
    capture = leaves if capture_mode else None
    captured = sweep(roots, grads, retain_graph=retain, capture=capture)
    nodes = [r.grad_fn for r in roots if r.grad_fn is not None]
    return leaves, captured, nodes, roots, grads


@pytest.mark.parametrize("build", list(BUILDERS.values()), ids=list(BUILDERS))
@pytest.mark.parametrize("retain", [False, True], ids=["free", "retain"])
@pytest.mark.parametrize("capture_mode", [False, True], ids=["grad_attr", "capture"])
def test_native_sweep_equals_reference(build: Callable, retain: bool, capture_mode: bool):
    out = {name: _run(sweep, build, retain, capture_mode, seed=3) for name, sweep in SWEEPS.items()}
    (nl, nc, nn_, nr, ng), (rl, rc, rn, rr, rg) = out["native"], out["reference"]
    for i, (a, b) in enumerate(zip(nl, rl)):
        if capture_mode:
            assert a.grad is None and b.grad is None
            assert (nc[i] is None) == (rc[i] is None), f"leaf {i}"
            if rc[i] is not None:
                np.testing.assert_array_equal(nc[i], rc[i], err_msg=f"leaf {i}")
        else:
            assert (a.grad is None) == (b.grad is None), f"leaf {i}"
            np.testing.assert_array_equal(a.grad.numpy(), b.grad.numpy(), err_msg=f"leaf {i}")
            # the first gradient of a leaf never shares memory with another leaf's or a root's
            for j, other in enumerate(nl):
                if j != i:
                    assert not np.shares_memory(a.grad.numpy(), other.grad.numpy())
            for g in ng:
                assert not np.shares_memory(a.grad.numpy(), g)
    for a, b in zip(nn_, rn):
        assert a._freed == b._freed == (not retain)
    assert grad_mode.is_grad_enabled()
    # A second sweep over the same graph: allowed after retain, the same error otherwise.
    if retain:
        again = {name: sweep(roots, grads, capture=leaves if capture_mode else None)
                 for name, sweep, (leaves, _, _, roots, grads) in
                 ((n, SWEEPS[n], out[n]) for n in SWEEPS)}
        if capture_mode:
            for x, y in zip(again["native"], again["reference"]):
                assert (x is None) == (y is None)
                if y is not None:
                    np.testing.assert_array_equal(x, y)
        else:
            for a, b in zip(nl, rl):
                np.testing.assert_array_equal(a.grad.numpy(), b.grad.numpy())
    elif nn_:
        for name, sweep in SWEEPS.items():
            leaves, _, _, roots, grads = out[name]
            with pytest.raises(RuntimeError, match="retain_graph=True"):
                sweep(roots, grads)
            assert grad_mode.is_grad_enabled()


class _Raises(Function):
    @staticmethod
    def forward(ctx: Any, x: Any) -> Any:
        return x * 1.0

    @staticmethod
    def backward(ctx: Any, gy: Any) -> Any:
        raise ValueError("backward failed on purpose")


@pytest.mark.parametrize("sweep", list(SWEEPS.values()), ids=list(SWEEPS))
def test_sweep_error_in_backward_propagates_and_restores_grad_mode(sweep: Callable):
    x = fg.tensor([1.0, 2.0], dtype=fg.float64, requires_grad=True)
    y = (_Raises.apply(x) * 2.0).sum()
    with pytest.raises(ValueError, match="on purpose"):
        sweep([y], [np.ones(())])
    assert grad_mode.is_grad_enabled()
    assert x.grad is None


@pytest.mark.parametrize("sweep", list(SWEEPS.values()), ids=list(SWEEPS))
def test_sweep_leaf_root_accumulates_a_copy(sweep: Callable):
    w = fg.tensor([1.0, 2.0], dtype=fg.float64, requires_grad=True)
    g = np.array([0.5, 0.25])
    sweep([w], [g])
    sweep([w], [g])
    np.testing.assert_array_equal(w.grad.numpy(), [1.0, 0.5])
    np.testing.assert_array_equal(g, [0.5, 0.25])  # the caller's array is never written


def test_sweep_captures_intermediate_tensors_like_reference():
    res = {}
    for name, sweep in SWEEPS.items():
        a, b, c = _leaves(5)
        h = a * b
        y0, y1 = _TwoOut.apply(h)
        y = (y1.tanh() * c).sum()
        res[name] = sweep([y], [np.ones(())], capture=[h, y0, y1, a, c])
        assert a.grad is None and c.grad is None
    assert res["native"][1] is None and res["reference"][1] is None  # y0 got no gradient
    for i in (0, 2, 3, 4):
        np.testing.assert_array_equal(res["native"][i], res["reference"][i], err_msg=str(i))


@pytest.mark.parametrize("sweep", list(SWEEPS.values()), ids=list(SWEEPS))
def test_sweep_rejects_an_output_index_outside_the_node(sweep: Callable):
    a, b, c = _leaves(9)
    y0, y1 = _TwoOut.apply(a)
    z = y1 * 2.0
    y1._out_idx = 5  # corrupted bookkeeping: an IndexError, not a read past the slot list
    with pytest.raises(IndexError):
        sweep([z.sum()], [np.ones(())])
    assert grad_mode.is_grad_enabled()
