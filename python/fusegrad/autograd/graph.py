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
        if root is None or root in seen:
            continue
        seen.add(root)
        stack = [(root, iter(root.inputs))]
        while stack:
            node, it = stack[-1]
            for t in it:
                if t is None:
                    continue
                child = t.grad_fn
                if child is not None and child not in seen:
                    seen.add(child)
                    stack.append((child, iter(child.inputs)))
                    break
            else:
                stack.pop()
                order.append(node)
    order.reverse()  # post-order reversed: consumers before producers
    return order


def _accumulate(backend: Any, old: Any, g: Any) -> Any:
    return g if old is None else backend.binary_forward("add", old, g)


_FREED_MSG = (
    "Trying to backward through the graph a second time (or directly access saved tensors "
    "after they have already been freed). Specify retain_graph=True if you need to backward "
    "through the graph a second time."
)


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
    # Gradient slots: node -> list of per-output gradients (arrays or None).
    slots: dict = {}
    cap_ids = {id(t): i for i, t in enumerate(capture)} if capture is not None else None
    captured: list = [None] * len(capture) if capture is not None else []
    # Arrays already handed to a slot or a leaf in this sweep: pass-through backwards (add,
    # reshape, expand) hand the same array to several places, so a leaf copies those.
    delivered: set = {id(g) for g in root_grads}

    def deliver(t: Any, g: Any, backend: Any) -> None:
        child = t.grad_fn
        if child is None:
            if cap_ids is not None:
                i = cap_ids.get(id(t))
                if i is not None:
                    captured[i] = _accumulate(backend, captured[i], g)
            elif t.requires_grad:
                grad = t.grad
                if grad is None:
                    if g.base is not None or id(g) in delivered:
                        g = g.copy()
                    t.grad = Tensor._make(g, t.device, backend)
                else:
                    grad._data = backend.binary_forward("add", grad._data, g)
        else:
            s = slots.get(child)
            if s is None:
                s = slots[child] = [None] * child._n_out
            i = t._out_idx
            s[i] = g if s[i] is None else backend.binary_forward("add", s[i], g)
        delivered.add(id(g))

    nodes = []
    for t, g in zip(roots, root_grads):
        deliver(t, g, t._backend)
        if t.grad_fn is not None:
            nodes.append(t.grad_fn)

    prev = grad_mode._enabled[0]
    grad_mode._enabled[0] = False
    try:
        for node in _topo_order(nodes):
            grads = slots.pop(node, None)
            if grads is None:
                continue
            if node._freed:
                raise RuntimeError(_FREED_MSG)
            if cap_ids is not None:
                for t in capture:
                    if t.grad_fn is node:
                        captured[cap_ids[id(t)]] = grads[t._out_idx]
            if node._n_out > 1 and any(g is None for g in grads):
                xp = node.backend.xp
                grads = [xp.zeros(node.out_shapes[i], node.out_dtypes[i]) if g is None else g
                         for i, g in enumerate(grads)]
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
                shape = t._data.shape
                if g.shape != shape:
                    g = tb.sum_to_shape(g, shape)  # un-broadcasting, in this one place
                child = t.grad_fn
                if child is None:
                    deliver(t, g, tb)
                    continue
                s = slots.get(child)  # inlined deliver() for the common non-leaf edge
                if s is None:
                    s = slots[child] = [None] * child._n_out
                i = t._out_idx
                s[i] = g if s[i] is None else tb.binary_forward("add", s[i], g)
                delivered.add(id(g))
    finally:
        grad_mode._enabled[0] = prev
    return captured if capture is not None else None


from fusegrad.autograd.tensor import Tensor  # noqa: E402  (tensor imports this module)
