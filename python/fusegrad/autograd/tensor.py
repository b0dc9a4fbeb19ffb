"""``Tensor``: one array (NumPy on CPU, CuPy on CUDA) plus device, requires_grad, grad, grad_fn.

Dunders and methods are one line each and delegate to the op wrappers in ``autograd/ops``;
arithmetic never happens here. ``__slots__`` keeps a Tensor small and attribute access fast
(the autograd overhead budget is a few microseconds per op).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fusegrad.backend import get_backend

float32 = np.dtype("float32")
float64 = np.dtype("float64")
int64 = np.dtype("int64")
bool_ = np.dtype("bool")
_FLOATS = (float32, float64)
_ONES: dict = {}  # the implicit gradient of scalar outputs, by (shape, dtype, device)


def _check_dtype(dtype: np.dtype) -> np.dtype:
    if dtype.kind in "fc" and dtype not in _FLOATS:
        raise TypeError(f"unsupported dtype {dtype}: fusegrad supports float32, float64 and int64")
    if dtype.kind not in "fiub":
        raise TypeError(f"unsupported dtype {dtype}: fusegrad supports float32, float64 and int64")
    return dtype


class Tensor:
    """A multi-dimensional array that records the operations applied to it (see API.md)."""

    __slots__ = ("_data", "device", "_backend", "requires_grad", "grad", "grad_fn", "_out_idx",
                 "__weakref__")
    __array_priority__ = 1000  # NumPy defers to our reflected operators (ndarray * Tensor)

    def __init__(self, data: Any, dtype: Any = None, device: str = "cpu",
                 requires_grad: bool = False) -> None:
        arr = _to_array(data, dtype)
        be = get_backend(device)
        if be.name != "cpu":
            arr = be.asarray(arr)
        self._data = arr
        self.device = device
        self._backend = be
        self.grad = None
        self.grad_fn = None
        self._out_idx = 0
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _make(cls, array: Any, device: str, backend: Any = None) -> "Tensor":
        """Wrap an array of this device without copying (internal fast path)."""
        t = object.__new__(cls)
        t._data = array
        t.device = device
        t._backend = backend if backend is not None else get_backend(device)
        t.requires_grad = False
        t.grad = None
        t.grad_fn = None
        t._out_idx = 0
        return t

    # ---- attributes --------------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return self._data.shape

    @property
    def ndim(self) -> int:
        return self._data.ndim

    @property
    def dtype(self) -> np.dtype:
        return self._data.dtype

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    @property
    def backend(self) -> Any:
        return self._backend

    @property
    def T(self) -> "Tensor":
        return _shape.permute(self, tuple(range(self.ndim - 1, -1, -1)))

    @property
    def data(self) -> "Tensor":
        """A Tensor sharing this one's storage, outside the graph (as ``torch.Tensor.data``)."""
        return Tensor._make(self._data, self.device)

    @data.setter
    def data(self, value: "Tensor") -> None:
        self._data = value._data if isinstance(value, Tensor) else _to_array(value, None)

    def size(self, dim: int | None = None) -> Any:
        return self.shape if dim is None else self.shape[dim]

    def numel(self) -> int:
        return int(self._data.size)

    def dim(self) -> int:
        return self.ndim

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __repr__(self) -> str:
        extra = ""
        if self.device != "cpu":
            extra += f", device='{self.device}'"
        if self.dtype != float32:
            extra += f", dtype={self.dtype}"
        if self.grad_fn is not None:
            extra += f", grad_fn={self.grad_fn!r}"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        body = np.array2string(self.numpy(), separator=", ", prefix="tensor(")
        return f"tensor({body}{extra})"

    __hash__ = object.__hash__  # comparisons return tensors, identity hashing stays

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise RuntimeError(
                f"Boolean value of Tensor with more than one value is ambiguous: shape {self.shape}"
            )
        return bool(self.item())

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self.dtype.kind not in "iu":
            raise TypeError("only integer tensors can be used as an index")
        return int(self.item())

    # ---- conversion --------------------------------------------------------------------
    def numpy(self) -> np.ndarray:
        """The values as a NumPy array (shares memory on CPU, like ``torch.Tensor.numpy``)."""
        return self._backend.to_numpy(self._data)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        a = self.numpy()
        return a if dtype is None else a.astype(dtype)

    def item(self) -> Any:
        if self._data.size != 1:
            raise ValueError(
                f"only one element tensors can be converted to Python scalars, got shape {self.shape}"
            )
        return self.numpy().reshape(()).item()

    def tolist(self) -> Any:
        return self.numpy().tolist()

    def to(self, *args: Any, **kwargs: Any) -> "Tensor":
        """``to(device)``, ``to(dtype)`` or both; returns self when nothing changes."""
        device, dtype = _parse_to(*args, **kwargs)
        out = self
        if dtype is not None and dtype != self.dtype:
            out = _shape.to_dtype(out, dtype)
        if device is not None and device != out.device:
            out = _shape.to_device(out, device)
        return out

    def cpu(self) -> "Tensor":
        return self.to("cpu")

    def cuda(self, device: int | None = None) -> "Tensor":
        return self.to("cuda" if device is None else f"cuda:{device}")

    def float(self) -> "Tensor":
        return self.to(float32)

    def double(self) -> "Tensor":
        return self.to(float64)

    def long(self) -> "Tensor":
        return self.to(int64)

    # ---- autograd ----------------------------------------------------------------------
    def backward(self, gradient: Any = None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) * gradient into ``.grad`` of every leaf that requires grad."""
        if not self.requires_grad:
            raise RuntimeError("element 0 of tensors does not require grad and does not have a grad_fn")
        if gradient is None:
            if self._data.size != 1:
                raise RuntimeError(
                    f"grad can be implicitly created only for scalar outputs; got shape {self.shape}"
                )
            key = (self.shape, self.dtype, self.device)
            g = _ONES.get(key)
            if g is None:  # read-only and reused: kernels never write their inputs
                g = _ONES[key] = self._backend.xp.ones(self.shape, dtype=self.dtype)
                if self.device == "cpu":
                    g.flags.writeable = False
        else:
            g = gradient._data if isinstance(gradient, Tensor) else _to_array(gradient, self.dtype)
            if tuple(g.shape) != self.shape:
                raise RuntimeError(
                    f"gradient has shape {tuple(g.shape)} but the tensor has shape {self.shape}"
                )
        _graph.run_backward([self], [g], retain_graph=retain_graph)

    def detach(self) -> "Tensor":
        return Tensor._make(self._data, self.device)

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        if requires_grad and self.dtype not in _FLOATS:
            raise RuntimeError(f"only floating point tensors can require gradients, got {self.dtype}")
        if not requires_grad and self.grad_fn is not None:
            raise RuntimeError("you can only change requires_grad flags of leaf variables")
        self.requires_grad = bool(requires_grad)
        return self

    def retain_grad(self) -> None:  # pragma: no cover - accepted for PyTorch compatibility
        raise NotImplementedError("retain_grad is not supported; use fg.autograd.grad instead")

    def zero_(self) -> "Tensor":
        """Fill with zeros in place (a leaf that requires grad must be under no_grad)."""
        _check_inplace(self)
        self._data.fill(0)
        return self

    def fill_(self, value: float) -> "Tensor":
        _check_inplace(self)
        self._data.fill(value)
        return self

    def copy_(self, src: Any) -> "Tensor":
        _check_inplace(self)
        arr = src._data if isinstance(src, Tensor) else _to_array(src, self.dtype)
        if tuple(arr.shape) != self.shape and np.broadcast_shapes(arr.shape, self.shape) != self.shape:
            raise RuntimeError(f"copy_: cannot copy shape {tuple(arr.shape)} into {self.shape}")
        self._data[...] = self._backend.asarray(arr) if self.device != "cpu" else arr
        return self

    # ---- shape ------------------------------------------------------------------------
    def reshape(self, *shape: Any) -> "Tensor":
        return _shape.reshape(self, _shape_args(shape))

    def view(self, *shape: Any) -> "Tensor":
        return _shape.view(self, _shape_args(shape))

    def transpose(self, dim0: int, dim1: int) -> "Tensor":
        return _shape.transpose(self, dim0, dim1)

    def permute(self, *dims: Any) -> "Tensor":
        return _shape.permute(self, _shape_args(dims))

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> "Tensor":
        return _shape.flatten(self, start_dim, end_dim)

    def unsqueeze(self, dim: int) -> "Tensor":
        return _shape.unsqueeze(self, dim)

    def squeeze(self, dim: int | None = None) -> "Tensor":
        return _shape.squeeze(self, dim)

    def expand(self, *shape: Any) -> "Tensor":
        return _shape.expand(self, _shape_args(shape))

    def __getitem__(self, index: Any) -> "Tensor":
        return _shape.getitem(self, index)

    # ---- reductions --------------------------------------------------------------------
    def sum(self, dim: Any = None, keepdim: bool = False) -> "Tensor":
        return _reduce.sum(self, dim, keepdim)

    def mean(self, dim: Any = None, keepdim: bool = False) -> "Tensor":
        return _reduce.mean(self, dim, keepdim)

    def max(self, dim: int | None = None, keepdim: bool = False) -> Any:
        return _reduce.max(self, dim, keepdim)

    def min(self, dim: int | None = None, keepdim: bool = False) -> Any:
        return _reduce.min(self, dim, keepdim)

    def argmax(self, dim: int | None = None, keepdim: bool = False) -> "Tensor":
        return _reduce.argmax(self, dim, keepdim)

    def argmin(self, dim: int | None = None, keepdim: bool = False) -> "Tensor":
        return _reduce.argmin(self, dim, keepdim)

    def var(self, dim: Any = None, unbiased: bool = True, keepdim: bool = False) -> "Tensor":
        return _reduce.var(self, dim, unbiased, keepdim)

    def std(self, dim: Any = None, unbiased: bool = True, keepdim: bool = False) -> "Tensor":
        return _ew.sqrt(_reduce.var(self, dim, unbiased, keepdim))

    # ---- elementwise -------------------------------------------------------------------
    def exp(self) -> "Tensor":
        return _ew.Exp.apply(self)  # the kernel rejects non-float dtypes

    def log(self) -> "Tensor":
        return _ew.Log.apply(self)  # the kernel rejects non-float dtypes

    def sqrt(self) -> "Tensor":
        return _ew.Sqrt.apply(self)  # the kernel rejects non-float dtypes

    def abs(self) -> "Tensor":
        return _ew.abs(self)

    def tanh(self) -> "Tensor":
        return _ew.Tanh.apply(self)  # the kernel rejects non-float dtypes

    def sigmoid(self) -> "Tensor":
        return _ew.Sigmoid.apply(self)  # the kernel rejects non-float dtypes

    def relu(self) -> "Tensor":
        return _ew.Relu.apply(self)  # the kernel rejects non-float dtypes

    def clamp(self, min: float | None = None, max: float | None = None) -> "Tensor":
        return _ew.clamp(self, min, max)

    clip = clamp

    def pow(self, exponent: Any) -> "Tensor":
        return _ew.pow(self, exponent)

    def __neg__(self) -> "Tensor":
        return _ew.neg(self)

    def __pos__(self) -> "Tensor":
        return self

    def __abs__(self) -> "Tensor":
        return _ew.abs(self)

    def __add__(self, other: Any) -> "Tensor":
        return _ew._binary(_ew.Add, self, other)

    def __radd__(self, other: Any) -> "Tensor":
        return _ew.add(other, self)

    def __sub__(self, other: Any) -> "Tensor":
        return _ew._binary(_ew.Sub, self, other)

    def __rsub__(self, other: Any) -> "Tensor":
        return _ew.sub(other, self)

    def __mul__(self, other: Any) -> "Tensor":
        return _ew._binary(_ew.Mul, self, other)

    def __rmul__(self, other: Any) -> "Tensor":
        return _ew.mul(other, self)

    def __truediv__(self, other: Any) -> "Tensor":
        if isinstance(other, Tensor) or self._data.dtype.kind != "f":
            return _ew.div(self, other)
        return _ew._binary(_ew.Div, self, other)

    def __rtruediv__(self, other: Any) -> "Tensor":
        return _ew.div(other, self)

    def __pow__(self, other: Any) -> "Tensor":
        return _ew.pow(self, other)

    def __rpow__(self, other: Any) -> "Tensor":
        return _ew.pow(other, self)

    def __matmul__(self, other: Any) -> "Tensor":
        return _linalg.matmul(self, other)

    def __rmatmul__(self, other: Any) -> "Tensor":
        return _linalg.matmul(other, self)

    def __eq__(self, other: Any) -> "Tensor":  # type: ignore[override]
        return _ew.compare("eq", self, other)

    def __ne__(self, other: Any) -> "Tensor":  # type: ignore[override]
        return _ew.compare("ne", self, other)

    def __lt__(self, other: Any) -> "Tensor":
        return _ew.compare("lt", self, other)

    def __le__(self, other: Any) -> "Tensor":
        return _ew.compare("le", self, other)

    def __gt__(self, other: Any) -> "Tensor":
        return _ew.compare("gt", self, other)

    def __ge__(self, other: Any) -> "Tensor":
        return _ew.compare("ge", self, other)


def _check_inplace(t: Tensor) -> None:
    if t.requires_grad and t.grad_fn is None and _grad_mode._enabled[0]:
        raise RuntimeError(
            "a leaf Variable that requires grad is being used in an in-place operation "
            "(wrap it in fg.no_grad())"
        )


def _shape_args(shape: tuple) -> tuple:
    """Accept both f(2, 3) and f((2, 3)) as PyTorch does."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def _to_array(data: Any, dtype: Any) -> Any:
    """NumPy array with PyTorch's dtype inference (Python float -> float32, int -> int64)."""
    if isinstance(data, Tensor):
        arr = data.numpy()
        return arr if dtype is None else arr.astype(np.dtype(dtype))
    if dtype is not None:
        arr = np.array(data, dtype=np.dtype(dtype))
    elif isinstance(data, np.ndarray) or np.isscalar(data) and isinstance(data, np.generic):
        arr = np.array(data)
    else:
        arr = np.array(data)
        if arr.dtype.kind == "f":
            arr = arr.astype(float32)
        elif arr.dtype.kind in "iu":
            arr = arr.astype(int64)
    _check_dtype(arr.dtype)
    return arr


def _parse_to(*args: Any, **kwargs: Any) -> tuple:
    device = kwargs.pop("device", None)
    dtype = kwargs.pop("dtype", None)
    if kwargs:
        raise TypeError(f"to() got unexpected arguments {sorted(kwargs)}")
    for a in args:
        if isinstance(a, str):
            device = a
        elif isinstance(a, Tensor):
            device, dtype = a.device, a.dtype
        else:
            dtype = a
    if dtype is not None:
        dtype = _check_dtype(np.dtype(dtype))
    if device is not None:
        get_backend(device)  # validates the string, raises a clear error for a missing GPU
    return device, dtype


# Op modules are imported last: they import Tensor from here.
from fusegrad.autograd import grad_mode as _grad_mode  # noqa: E402
from fusegrad.autograd import graph as _graph  # noqa: E402
from fusegrad.autograd.ops import elementwise as _ew  # noqa: E402
from fusegrad.autograd.ops import linalg as _linalg  # noqa: E402
from fusegrad.autograd.ops import reduce as _reduce  # noqa: E402
from fusegrad.autograd.ops import shape as _shape  # noqa: E402
