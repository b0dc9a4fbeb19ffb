"""The reverse sweep: order, gradient accumulation, un-broadcasting, freeing.

This is the only graph logic in fusegrad. Nodes are ``Function`` instances (one per op call)
holding their input Tensors; a Tensor's ``grad_fn`` and ``_out_idx`` say which node and
output produced it. Every node gets a creation number (``_seq``) when it is recorded, and a
node's inputs were always created before it, so visiting nodes in decreasing ``_seq`` is a
topological order (PyTorch's engine uses the same fact). ``run_backward`` keeps the nodes
that have received a gradient in a heap keyed by ``-_seq``: no recursion and no separate
sorting pass, so a 10,000-op chain costs what ten 1,000-op chains cost. Each edge's gradient
is summed back to its input's shape in one place (``sum_to_shape`` below).

``run_backward`` runs the sweep's loop natively (``_C.graph_sweep``, csrc/bindings/graph.cpp):
on small tensors the bookkeeping, not the kernels, is most of a backward pass. The native
loop does exactly what ``run_backward_reference`` below does, on the same objects, and calls
back into this module for the policy parts (``_deliver_leaf``, ``_capture``,
``_fill_missing``); tests run both on the same graphs and compare every gradient.
"""

from __future__ import annotations

import itertools
from heapq import heappop, heappush
from typing import Any, Sequence

from fusegrad._ext import _C
from fusegrad.autograd import grad_mode

# Creation numbers of graph nodes (see the module docstring).
next_seq = itertools.count(1).__next__


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
    The loop is native (``_C.graph_sweep``); ``run_backward_reference`` is the same in Python.
    """
    cap_ids = {id(t): i for i, t in enumerate(capture)} if capture is not None else None
    captured: list = [None] * len(capture) if capture is not None else []
    delivered: set = {id(g) for g in root_grads}  # see run_backward_reference

    def deliver(t: Any, g: Any, backend: Any) -> None:
        _deliver_leaf(t, g, backend, delivered, cap_ids, captured)

    def on_node(node: Any, grads: tuple) -> None:
        _capture(node, grads, capture, cap_ids, captured)  # type: ignore[arg-type]

    hooks = (deliver, None if capture is None else on_node, _fill_missing, _FREED_MSG)
    prev = grad_mode._enabled[0]
    grad_mode._enabled[0] = False
    try:
        _C.graph_sweep(roots, root_grads, bool(retain_graph), hooks)
    finally:
        grad_mode._enabled[0] = prev
    return captured if capture is not None else None


def run_backward_reference(
    roots: Sequence[Any],
    root_grads: Sequence[Any],
    retain_graph: bool = False,
    capture: Sequence[Any] | None = None,
) -> list | None:
    """``run_backward`` written in Python: the rules the native loop follows, step by step."""
    # Gradient slots: a single-output node -> its gradient (an array), a multi-output node ->
    # a list of per-output gradients (arrays or None). A node enters the heap when its slot
    # is created.
    slots: dict = {}
    heap: list = []
    cap_ids = {id(t): i for i, t in enumerate(capture)} if capture is not None else None
    captured: list = [None] * len(capture) if capture is not None else []
    # Arrays that reached a leaf (or were passed in) in this sweep: pass-through backwards
    # (add, reshape, expand) hand one array to several places, so a leaf receiving an array
    # that another leaf (or the caller) already holds takes a copy. Kernels never write their
    # inputs, so sharing with the slots of interior nodes is harmless.
    delivered: set = {id(g) for g in root_grads}

    for t, g in zip(roots, root_grads):
        node = t.grad_fn
        if node is None:
            _deliver_leaf(t, g, t._backend, delivered, cap_ids, captured)
        else:
            _add_to_slot(slots, heap, node, t._out_idx, g, t._backend)

    prev = grad_mode._enabled[0]
    grad_mode._enabled[0] = False
    try:
        while heap:
            node = heappop(heap)[1]
            grads = slots.pop(node)
            if node._freed:
                raise RuntimeError(_FREED_MSG)
            if type(grads) is not list:  # one output (the common case)
                if cap_ids is not None:
                    _capture(node, (grads,), capture, cap_ids, captured)
                in_grads = node.backward(node, grads)
            else:
                if cap_ids is not None:
                    _capture(node, grads, capture, cap_ids, captured)
                if any(g is None for g in grads):
                    grads = _fill_missing(node, grads)
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
                    _deliver_leaf(t, g, tb, delivered, cap_ids, captured)
                elif child._n_out == 1:  # _add_to_slot inlined for the common case
                    old = slots.get(child)
                    if old is None:
                        slots[child] = g
                        heappush(heap, (-child._seq, child))
                    else:
                        slots[child] = tb.binary_forward("add", old, g)
                else:
                    _add_to_slot(slots, heap, child, t._out_idx, g, tb)
    finally:
        grad_mode._enabled[0] = prev
    return captured if capture is not None else None


def _fill_missing(node: Any, grads: list) -> list:
    """A multi-output node's gradients with zeros for the outputs that received none."""
    xp = node.backend.xp
    return [xp.zeros(node.out_shapes[i], node.out_dtypes[i]) if g is None else g
            for i, g in enumerate(grads)]


def _add_to_slot(slots: dict, heap: list, node: Any, i: int, g: Any, backend: Any) -> None:
    """Add ``g`` to output ``i``'s gradient slot of ``node``; a new node enters the heap."""
    s = slots.get(node)
    if node._n_out == 1:
        slots[node] = g if s is None else backend.binary_forward("add", s, g)
        if s is None:
            heappush(heap, (-node._seq, node))
        return
    if s is None:
        s = slots[node] = [None] * node._n_out
        heappush(heap, (-node._seq, node))
    s[i] = g if s[i] is None else backend.binary_forward("add", s[i], g)


def _capture(node: Any, grads: Sequence[Any], capture: Sequence[Any], cap_ids: dict,
             captured: list) -> None:
    """grad(): record the gradient reaching each captured non-leaf Tensor made by ``node``."""
    for t in capture:
        if t.grad_fn is node:
            captured[cap_ids[id(t)]] = grads[t._out_idx]


def _deliver_leaf(t: Any, g: Any, backend: Any, delivered: set, cap_ids: dict | None,
                  captured: list) -> None:
    """Accumulate ``g`` into leaf ``t``: into ``t.grad``, or into ``captured`` for grad()."""
    if cap_ids is not None:
        i = cap_ids.get(id(t))
        if i is not None:
            captured[i] = _accumulate(backend, captured[i], g)
    elif t.requires_grad:
        grad = t.grad
        if grad is None:
            if g.base is not None or id(g) in delivered:
                g = g.copy()  # the first gradient never shares memory with anything else
            t.grad = Tensor._make(g, t.device, backend)
        else:
            grad._data = backend.binary_forward("add", grad._data, g)
    delivered.add(id(g))


from fusegrad.autograd.tensor import Tensor  # noqa: E402  (tensor imports this module)
