"""The reverse sweep: topological order, gradient accumulation, un-broadcasting, freeing.

This is the only graph logic in fusegrad. Nodes are ``Function`` instances (one per op call)
holding their input Tensors; a Tensor's ``grad_fn`` and ``_out_idx`` say which node and
output produced it. ``run_backward`` orders the nodes reachable from the roots with an
explicit stack (a 10,000-op chain needs no recursion), then visits them outputs-first,
summing every edge's gradient back to its input's shape in one place (``_unbroadcast``).
"""

from __future__ import annotations

from typing import Any, Sequence

from fusegrad.autograd import grad_mode


def _topo_order(roots: Sequence[Any]) -> list:
    """Nodes reachable from ``roots``, each after every node that consumes its outputs."""
    order: list = []
    seen = set()
    for root in roots:
        if root is None or id(root) in seen:
            continue
        seen.add(id(root))
        stack = [(root, iter(root.inputs))]
        while stack:
            node, it = stack[-1]
            for t in it:
                if t is None:
                    continue
                child = t.grad_fn
                if child is not None and id(child) not in seen:
                    seen.add(id(child))
                    stack.append((child, iter(child.inputs)))
                    break
            else:
                stack.pop()
                order.append(node)
    order.reverse()  # post-order reversed: consumers before producers
    return order


def _unbroadcast(backend: Any, g: Any, shape: tuple) -> Any:
    """Sum a gradient computed at a broadcast shape back down to ``shape``."""
    if g.shape == shape:
        return g
    return backend.sum_to_shape(g, shape)


def _accumulate(backend: Any, old: Any, g: Any) -> Any:
    return g if old is None else backend.binary_forward("add", old, g)


def run_backward(
    roots: Sequence[Any],
    root_grads: Sequence[Any],
    retain_graph: bool = False,
    capture: Sequence[Any] | None = None,
) -> list | None:
    """Propagate ``root_grads`` (arrays) from the ``roots`` (Tensors) through the graph.

    Without ``capture``, gradients accumulate into ``.grad`` of leaf Tensors that require
    grad. With ``capture`` (a list of Tensors), nothing is written to ``.grad``; the summed
    gradient reaching each captured Tensor is returned instead (None where none arrives).
    """
    # Gradient slots: node id -> list of per-output gradients (arrays or None).
    slots: dict[int, list] = {}
    cap_ids = {id(t): i for i, t in enumerate(capture)} if capture is not None else None
    captured: list = [None] * len(capture) if capture is not None else []

    nodes = []
    for t, g in zip(roots, root_grads):
        node = t.grad_fn
        if node is None:
            if cap_ids is not None:
                if id(t) in cap_ids:
                    i = cap_ids[id(t)]
                    captured[i] = _accumulate(t._backend, captured[i], g)
            elif t.requires_grad:
                _accumulate_leaf(t, g)
            continue
        s = slots.setdefault(id(node), [None] * node._n_out)
        s[t._out_idx] = _accumulate(node.backend, s[t._out_idx], g)
        nodes.append(node)

    with grad_mode.no_grad():
        for node in _topo_order(nodes):
            grads = slots.pop(id(node), None)
            if grads is None:
                continue
            if node._freed:
                raise RuntimeError(
                    "Trying to backward through the graph a second time (or directly access "
                    "saved tensors after they have already been freed). Specify "
                    "retain_graph=True if you need to backward through the graph a second time."
                )
            be = node.backend
            if cap_ids is not None:
                for t in _captured_outputs(node, capture):
                    i = cap_ids[id(t)]
                    captured[i] = grads[t._out_idx]
            if any(g is None for g in grads):
                grads = [
                    g if g is not None else be.xp.zeros(node.out_shapes[i], node.out_dtypes[i])
                    for i, g in enumerate(grads)
                ]
            in_grads = node.backward(node, *grads)
            if type(in_grads) is not tuple:
                in_grads = (in_grads,)
            if not retain_graph:
                node.saved_tensors = None
                node._freed = True
            for t, g, need in zip(node.inputs, in_grads, node.needs_input_grad):
                if not need or g is None:
                    continue
                # The input's own backend: they differ only across a .to(device) edge.
                tb = t._backend
                g = _unbroadcast(tb, g, t.shape)
                child = t.grad_fn
                if child is None:
                    if cap_ids is not None:
                        if id(t) in cap_ids:
                            i = cap_ids[id(t)]
                            captured[i] = _accumulate(tb, captured[i], g)
                    else:
                        _accumulate_leaf(t, g)
                else:
                    s = slots.get(id(child))
                    if s is None:
                        s = slots[id(child)] = [None] * child._n_out
                    s[t._out_idx] = _accumulate(tb, s[t._out_idx], g)
    return captured if capture is not None else None


def _accumulate_leaf(t: Any, g: Any) -> None:
    """Add ``g`` into ``t.grad``; the first gradient is copied so no two leaves share memory."""
    from fusegrad.autograd.tensor import Tensor

    if t.grad is None:
        t.grad = Tensor._make(g.copy(), t.device)
    else:
        t.grad._data = t._backend.binary_forward("add", t.grad._data, g)


def _captured_outputs(node: Any, capture: Sequence[Any]) -> list:
    return [t for t in capture if t.grad_fn is node]
