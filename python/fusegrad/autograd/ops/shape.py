"""Shape ops: reshape/view, permute/transpose, expand, squeeze/unsqueeze, indexing, cat/stack,
dtype and device moves.

Forward is a zero-copy view of the array library wherever NumPy/CuPy can give one (no
arithmetic, so no kernel); backward applies the inverse shape change to the gradient.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from fusegrad.autograd import grad_mode
from fusegrad.autograd.function import Function
from fusegrad.autograd.graph import next_seq
from fusegrad.autograd.tensor import Tensor
from fusegrad.backend import get_backend


def _infer_shape(shape: Sequence[int], size: int, old: tuple) -> tuple:
    shape = tuple(int(s) for s in shape)
    if shape.count(-1) > 1:
        raise RuntimeError("only one dimension can be inferred")
    known = int(np.prod([s for s in shape if s != -1], dtype=np.int64))
    if -1 in shape:
        if known == 0 or size % known:
            raise RuntimeError(f"shape {shape} is invalid for input of shape {old}")
        shape = tuple(size // known if s == -1 else s for s in shape)
    elif known != size:
        raise RuntimeError(f"shape {shape} is invalid for input of shape {old} ({size} elements)")
    return shape


class Reshape(Function):
    """y = x viewed with a new shape (same elements, row-major); gx = gy reshaped back."""

    @staticmethod
    def forward(ctx: Any, x: Any, shape: tuple = ()) -> Any:
        ctx.shape = x.shape
        return x.reshape(shape)

    @staticmethod
    def backward(ctx: Any, gy: Any) -> Any:
        return gy.reshape(ctx.shape)


def reshape(x: Tensor, shape: Sequence[int]) -> Tensor:
    shape = _infer_shape(shape, x.numel(), x.shape)
    if shape == x.shape:
        return x if not x.requires_grad else Reshape.apply(x, shape=shape)
    return Reshape.apply(x, shape=shape)


view = reshape


def flatten(x: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    if x.ndim == 0:
        return reshape(x, (1,))
    s, e = start_dim % x.ndim, end_dim % x.ndim
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    shape = x.shape[:s] + (-1,) + x.shape[e + 1:]
    if 0 in x.shape:
        shape = x.shape[:s] + (int(np.prod(x.shape[s:e + 1])),) + x.shape[e + 1:]
    return reshape(x, shape)


def unsqueeze(x: Tensor, dim: int) -> Tensor:
    n = x.ndim + 1
    if not -n <= dim < n:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], "
                         f"but got {dim})")
    d = dim % n
    return reshape(x, x.shape[:d] + (1,) + x.shape[d:])


def squeeze(x: Tensor, dim: int | None = None) -> Tensor:
    if dim is None:
        return reshape(x, tuple(s for s in x.shape if s != 1))
    if x.ndim == 0:
        return x
    d = dim % x.ndim
    if x.shape[d] != 1:
        return x
    return reshape(x, x.shape[:d] + x.shape[d + 1:])


class Permute(Function):
    """y = x with its axes reordered (a strided view); gx = gy with the inverse order."""

    @staticmethod
    def forward(ctx: Any, x: Any, dims: tuple = ()) -> Any:
        ctx.inverse = tuple(np.argsort(dims))
        return x.transpose(dims)

    @staticmethod
    def backward(ctx: Any, gy: Any) -> Any:
        return gy.transpose(ctx.inverse)


def permute(x: Tensor, dims: Sequence[int]) -> Tensor:
    n = x.ndim
    if len(dims) != n:
        raise RuntimeError(f"permute: number of dims {len(dims)} does not match tensor of shape "
                           f"{x.shape}")
    dims = tuple(int(d) % max(n, 1) for d in dims)
    if sorted(dims) != list(range(n)):
        raise RuntimeError(f"permute: dims {dims} are not a permutation of {n} dimensions")
    return Permute.apply(x, dims=dims)


def transpose(x: Tensor, dim0: int, dim1: int) -> Tensor:
    n = x.ndim
    if n == 0:
        return x
    dims = list(range(n))
    a, b = dim0 % n, dim1 % n
    dims[a], dims[b] = dims[b], dims[a]
    return Permute.apply(x, dims=tuple(dims))


class Expand(Function):
    """y = x broadcast to a larger shape (zero-stride view); the graph sums gy back to x."""

    @staticmethod
    def forward(ctx: Any, x: Any, shape: tuple = ()) -> Any:
        return ctx.backend.xp.broadcast_to(x, shape)

    @staticmethod
    def backward(ctx: Any, gy: Any) -> Any:
        return gy


def expand(x: Tensor, shape: Sequence[int]) -> Tensor:
    shape = tuple(int(s) for s in shape)
    lead = len(shape) - x.ndim
    if lead < 0:
        raise RuntimeError(f"expand: shape {shape} has fewer dims than the tensor {x.shape}")
    full = tuple(x.shape[i - lead] if s == -1 else s for i, s in enumerate(shape))
    try:
        np.broadcast_shapes(x.shape, full)
    except ValueError:
        raise RuntimeError(f"expand: cannot expand shape {x.shape} to {full}") from None
    return Expand.apply(x, shape=full)


def _index_arrays(index: Any, xp: Any) -> Any:
    """Tensors and lists inside an index become arrays of the tensor's array library."""
    if isinstance(index, tuple):
        return tuple(_index_arrays(i, xp) for i in index)
    if isinstance(index, Tensor):
        return index._data
    if isinstance(index, list):
        return xp.asarray(index)
    return index


class GetItem(Function):
    """y = x[index] (ints, slices, None, Ellipsis, int/bool arrays); gx scatters gy back,
    adding where an integer array index repeats an element."""

    @staticmethod
    def forward(ctx: Any, x: Any, index: Any = None) -> Any:
        ctx.shape, ctx.index = x.shape, index
        return ctx.backend.xp.asarray(x[index])  # an int index on 1-D gives a scalar: 0-d array

    @staticmethod
    def backward(ctx: Any, gy: Any) -> Any:
        xp = ctx.backend.xp
        gx = xp.zeros(ctx.shape, dtype=gy.dtype)
        idx = ctx.index
        parts = idx if isinstance(idx, tuple) else (idx,)
        if any(getattr(p, "ndim", 0) > 0 and p.dtype.kind in "iu" for p in parts):
            _scatter_add(xp, gx, idx, gy)
        else:
            gx[idx] = gy
        return gx


def _scatter_add(xp: Any, gx: Any, idx: Any, gy: Any) -> None:
    if xp is np:
        np.add.at(gx, idx, gy)
    else:  # CuPy
        import cupyx

        cupyx.scatter_add(gx, idx, gy)


def getitem(x: Tensor, index: Any) -> Tensor:
    idx = _index_arrays(index, x._backend.xp)
    try:
        return GetItem.apply(x, index=idx)
    except IndexError as e:
        raise IndexError(f"index {index!r} is out of range for tensor of shape {x.shape}: {e}") from None


class Cat(Function):
    """y = the inputs joined along ``dim``; each input's gradient is its slice of gy."""

    @staticmethod
    def forward(ctx: Any, *xs: Any, dim: int = 0) -> Any:
        ctx.sizes, ctx.dim = [x.shape[dim] for x in xs], dim
        return ctx.backend.xp.concatenate(xs, axis=dim)

    @staticmethod
    def backward(ctx: Any, gy: Any) -> Any:
        out, start = [], 0
        for n in ctx.sizes:
            sl = [slice(None)] * gy.ndim
            sl[ctx.dim] = slice(start, start + n)
            out.append(gy[tuple(sl)])
            start += n
        return tuple(out)


def _check_same(tensors: Sequence[Tensor], what: str) -> list:
    ts = list(tensors)
    if not ts:
        raise ValueError(f"{what}: expected a non-empty list of Tensors")
    for t in ts:
        if not isinstance(t, Tensor):
            raise TypeError(f"{what}: expected Tensors, got {type(t).__name__}")
        if t.device != ts[0].device:
            raise RuntimeError(f"{what}: tensors on different devices: {ts[0].device} and {t.device}")
    dt = np.result_type(*[t.dtype for t in ts])
    return [t if t.dtype == dt else t.to(dt) for t in ts]


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    ts = _check_same(tensors, "cat")
    n = ts[0].ndim
    d = dim % max(n, 1)
    for t in ts:
        if t.ndim != n or t.shape[:d] + t.shape[d + 1:] != ts[0].shape[:d] + ts[0].shape[d + 1:]:
            raise ValueError(f"cat: sizes of tensors must match except in dimension {dim}: "
                             f"got {ts[0].shape} and {t.shape}")
    return Cat.apply(*ts, dim=d)


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    ts = _check_same(tensors, "stack")
    for t in ts:
        if t.shape != ts[0].shape:
            raise ValueError(f"stack expects each tensor to be equal size, got {ts[0].shape} "
                             f"and {t.shape}")
    return cat([unsqueeze(t, dim) for t in ts], dim=dim % (ts[0].ndim + 1))


class ToDtype(Function):
    """y = x converted to another dtype; gx = gy converted back."""

    @staticmethod
    def forward(ctx: Any, x: Any, dtype: Any = None) -> Any:
        ctx.dtype = x.dtype
        return x.astype(dtype)

    @staticmethod
    def backward(ctx: Any, gy: Any) -> Any:
        return gy.astype(ctx.dtype)


def to_dtype(x: Tensor, dtype: Any) -> Tensor:
    if x.requires_grad and np.dtype(dtype).kind != "f":
        return Tensor._make(x._data.astype(dtype), x.device)
    return ToDtype.apply(x, dtype=dtype)


class ToDevice(Function):
    """y = x copied to another device; gx = gy copied back. Its node lives on y's device."""

    @staticmethod
    def backward(ctx: Any, gy: Any) -> Any:
        return _move(gy, ctx.src)


def _move(a: Any, device: str) -> Any:
    """The array copied to ``device`` (a CuPy array comes back to the host with ``.get()``)."""
    if device == "cpu":
        return a if isinstance(a, np.ndarray) else a.get()
    return get_backend(device).asarray(a if isinstance(a, np.ndarray) else a.get())


def to_device(x: Tensor, device: str) -> Tensor:
    out = Tensor._make(_move(x._data, device), device)
    if x.requires_grad and grad_mode.is_grad_enabled():
        node = ToDevice()
        node.backend = out._backend
        node.inputs = (x,)
        node.needs_input_grad = (True,)
        node.src = x.device
        node._seq = next_seq()
        out.requires_grad = True
        out.grad_fn = node
    return out
