"""``Function``: the base of every differentiable op, and the node type of the graph.

An op subclasses ``Function`` with two static methods, in PyTorch's shape:

    forward(ctx, *arrays, **params) -> array or tuple of arrays
    backward(ctx, *grads) -> one gradient (array or None) per positional input

Both work on raw arrays through ``ctx.backend`` (NumPy on CPU, CuPy on CUDA); ``apply()``
does the bookkeeping around them: grad mode, device and dtype checks, wrapping outputs in
Tensors and linking the graph. The ``ctx`` of one call *is* the graph node (an instance of
the op's class), as in PyTorch, so a call costs one object.

``UserFunction`` (exported as ``fusegrad.autograd.Function``) is the public, Tensor-level
variant for user-defined ops: its forward and backward receive and return Tensors.
"""

from __future__ import annotations

from typing import Any

from fusegrad.autograd import grad_mode
from fusegrad.autograd.graph import next_seq
from fusegrad.autograd.tensor import Tensor


_NO_GRADS = [(False,) * n for n in range(64)]
_new = object.__new__


def _unpack(cls: Any, inputs: tuple) -> tuple:
    """(arrays, needs_input_grad, device, backend) of apply()'s inputs; checks devices."""
    arrays = []
    needs = []
    device = backend = None
    for t in inputs:
        if t is None:
            arrays.append(None)
            needs.append(False)
            continue
        if backend is None:
            device = t.device
            backend = t._backend
        elif t.device != device:
            raise RuntimeError(
                f"{cls.__name__}: expected all tensors on the same device, "
                f"got {device} and {t.device}"
            )
        arrays.append(t._data)
        needs.append(t.requires_grad)
    if backend is None:
        raise TypeError(f"{cls.__name__}.apply needs at least one Tensor input")
    return arrays, tuple(needs), device, backend


class Function:
    """Base class of array-level ops; an instance is the ctx and the graph node of one call."""

    # Set by apply(): the inputs (Tensor or None), which of them need a gradient, the backend.
    inputs: tuple
    needs_input_grad: tuple
    backend: Any
    saved_tensors: tuple | None = ()
    # Output arrays that carry no gradient (e.g. argmax indices), set by mark_non_differentiable.
    _non_diff: tuple = ()
    # Number of outputs of forward (the graph allocates one grad slot per output).
    _n_out: int = 1
    # True once backward freed the saved arrays (a second backward then raises).
    _freed: bool = False

    @staticmethod
    def forward(ctx: Any, *args: Any, **params: Any) -> Any:
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Any, *grads: Any) -> Any:
        raise NotImplementedError

    def save_for_backward(self, *arrays: Any) -> None:
        """Keep what backward needs; freed after backward unless retain_graph=True."""
        self.saved_tensors = arrays

    def mark_non_differentiable(self, *arrays: Any) -> None:
        """Outputs that never carry a gradient (their Tensors get requires_grad=False)."""
        self._non_diff = arrays

    @classmethod
    def apply(cls, *inputs: Any, **params: Any) -> Any:
        """Run forward on the inputs' arrays and, in grad mode, record a node for backward."""
        # NOTE: this is the per-op hot path (autograd overhead budget: a few us per op), so it
        # avoids helper calls and builds each tuple once.
        n = len(inputs)
        if n == 1 and inputs[0] is not None:  # unary ops: the common case
            t = inputs[0]
            device, backend = t.device, t._backend
            arrays = (t._data,)
            needs = (t.requires_grad,)
        elif n == 2 and inputs[0] is not None and inputs[1] is not None \
                and inputs[0].device == inputs[1].device:  # binary ops: the other common case
            a, b = inputs
            device, backend = a.device, a._backend
            arrays = (a._data, b._data)
            needs = (a.requires_grad, b.requires_grad)
        else:
            arrays, needs, device, backend = _unpack(cls, inputs)

        ctx = cls()
        ctx.backend = backend
        record = True in needs and grad_mode._enabled[0]
        ctx.needs_input_grad = needs if record else _NO_GRADS[len(needs)]
        out = cls.forward(ctx, *arrays, **params) if params else cls.forward(ctx, *arrays)
        make = Tensor._make
        if not record:
            if type(out) is tuple:
                return tuple(make(o, device, backend) for o in out)
            t = _new(Tensor)  # Tensor._make inlined: this is the hot path
            t._data, t.device, t._backend = out, device, backend
            t.requires_grad, t.grad, t.grad_fn, t._out_idx = False, None, None, 0
            return t
        ctx.inputs = inputs
        ctx._seq = next_seq()
        if type(out) is tuple:
            ctx._n_out = len(out)
            ctx.out_shapes = tuple(o.shape for o in out)
            ctx.out_dtypes = tuple(o.dtype for o in out)
            nd = ctx._non_diff
            res = []
            for i, o in enumerate(out):
                t = make(o, device, backend)
                if not any(o is a for a in nd):
                    t.requires_grad = True
                    t.grad_fn = ctx
                    t._out_idx = i
                res.append(t)
            return tuple(res)
        t = _new(Tensor)
        t._data, t.device, t._backend = out, device, backend
        t.requires_grad, t.grad, t.grad_fn, t._out_idx = True, None, ctx, 0
        return t

    def __repr__(self) -> str:
        return f"<{type(self).__name__}Backward>"


_NEEDS_ONE = (True,)


def wrap_one(cls: Any, x: Tensor, y: Any) -> tuple[Tensor, Any]:
    """``apply`` inlined for ops of one Tensor in and one array out (the per-op hot path).

    Returns the output Tensor and the new graph node (None when no graph is recorded); the
    caller stores what its backward reads on the node. The node gets every attribute the
    graph reads set on the instance, so an elementwise op or a full sum costs one frame here
    instead of the general ``apply``'s argument unpacking.
    """
    be = x._backend
    t = _new(Tensor)
    t._data, t.device, t._backend, t.grad, t._out_idx = y, x.device, be, None, 0
    if x.requires_grad and grad_mode._enabled[0]:
        ctx = _new(cls)
        ctx.backend, ctx.inputs, ctx.needs_input_grad, ctx._seq = be, (x,), _NEEDS_ONE, next_seq()
        t.requires_grad, t.grad_fn = True, ctx
        return t, ctx
    t.requires_grad, t.grad_fn = False, None
    return t, None


def wrap_out(cls: Any, inputs: tuple, needs: tuple, y: Any) -> tuple[Tensor, Any]:
    """``wrap_one`` for several inputs (Tensors or None) of one device, the first a Tensor;
    ``needs`` says which of them require grad."""
    x = inputs[0]
    be = x._backend
    t = _new(Tensor)
    t._data, t.device, t._backend, t.grad, t._out_idx = y, x.device, be, None, 0
    if True in needs and grad_mode._enabled[0]:
        ctx = _new(cls)
        ctx.backend, ctx.inputs, ctx.needs_input_grad, ctx._seq = be, inputs, needs, next_seq()
        t.requires_grad, t.grad_fn = True, ctx
        return t, ctx
    t.requires_grad, t.grad_fn = False, None
    return t, None


class UserFunction:
    """Tensor-level custom op, as ``torch.autograd.Function`` (public: ``fg.autograd.Function``).

    ``forward(ctx, *args)`` receives Tensors (not tracked by the graph) and other Python
    values, and returns a Tensor or a tuple of Tensors; ``backward(ctx, *grads)`` receives one
    gradient Tensor per output and returns one gradient (Tensor or None) per forward argument.
    ``ctx.save_for_backward(*tensors)`` / ``ctx.saved_tensors`` and ``ctx.needs_input_grad``
    behave as in PyTorch.
    """

    @staticmethod
    def forward(ctx: Any, *args: Any) -> Any:
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Any, *grads: Any) -> Any:
        raise NotImplementedError

    @classmethod
    def apply(cls, *args: Any) -> Any:
        tensor_pos = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        return _UserNode.apply(*(args[i] for i in tensor_pos), user_cls=cls, args=args,
                               tensor_pos=tensor_pos)


class _UserCtx:
    """The ctx a UserFunction sees: Tensor-level save_for_backward and needs_input_grad."""

    def __init__(self, needs_input_grad: tuple) -> None:
        self.needs_input_grad = needs_input_grad
        self.saved_tensors: tuple = ()

    def save_for_backward(self, *tensors: Any) -> None:
        self.saved_tensors = tensors

    def mark_non_differentiable(self, *tensors: Any) -> None:
        self.non_differentiable = tensors


class _UserNode(Function):
    """Array-level adapter that runs a UserFunction's Tensor-level forward and backward."""

    @staticmethod
    def forward(ctx: Any, *arrays: Any, user_cls: Any, args: tuple, tensor_pos: list) -> Any:
        device = ctx.backend.device
        full = list(args)
        for i, a in zip(tensor_pos, arrays):
            full[i] = Tensor._make(a, device)
        needs = [False] * len(args)
        for i, n in zip(tensor_pos, ctx.needs_input_grad):
            needs[i] = n
        uctx = _UserCtx(tuple(needs))
        with grad_mode.no_grad():
            out = user_cls.forward(uctx, *full)
        ctx.user_cls, ctx.uctx, ctx.tensor_pos = user_cls, uctx, tensor_pos
        if isinstance(out, tuple):
            return tuple(o._data for o in out)
        return out._data

    @staticmethod
    def backward(ctx: Any, *grads: Any) -> Any:
        device = ctx.backend.device
        with grad_mode.no_grad():
            res = ctx.user_cls.backward(ctx.uctx, *(Tensor._make(g, device) for g in grads))
        if not isinstance(res, tuple):
            res = (res,)
        return tuple(None if res[i] is None else res[i]._data for i in ctx.tensor_pos)
