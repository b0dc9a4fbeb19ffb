"""Tensor factories: tensor, from_numpy, zeros/ones/empty/full, *_like, arange, rand/randn."""

from __future__ import annotations

from typing import Any

import numpy as np

from fusegrad import random as _random
from fusegrad.autograd.tensor import Tensor, _check_dtype, _shape_args, float32, int64


def _dtype(dtype: Any, default: np.dtype = float32) -> np.dtype:
    return default if dtype is None else _check_dtype(np.dtype(dtype))


def _place(arr: np.ndarray, device: str, requires_grad: bool) -> Tensor:
    t = Tensor(arr, device=device) if device != "cpu" else Tensor._make(arr, "cpu")
    if requires_grad:
        t.requires_grad_(True)
    return t


def tensor(data: Any, dtype: Any = None, device: str = "cpu", requires_grad: bool = False) -> Tensor:
    """A new Tensor holding a copy of ``data`` (PyTorch's dtype inference, see API.md)."""
    return Tensor(data, dtype=dtype, device=device, requires_grad=requires_grad)


def from_numpy(a: np.ndarray) -> Tensor:
    """A CPU Tensor sharing memory with the NumPy array ``a`` (no copy)."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"from_numpy expects a numpy.ndarray, got {type(a).__name__}")
    _check_dtype(a.dtype)
    return Tensor._make(a, "cpu")


def zeros(*shape: Any, dtype: Any = None, device: str = "cpu", requires_grad: bool = False) -> Tensor:
    return _place(np.zeros(_shape_args(shape), _dtype(dtype)), device, requires_grad)


def ones(*shape: Any, dtype: Any = None, device: str = "cpu", requires_grad: bool = False) -> Tensor:
    return _place(np.ones(_shape_args(shape), _dtype(dtype)), device, requires_grad)


def empty(*shape: Any, dtype: Any = None, device: str = "cpu", requires_grad: bool = False) -> Tensor:
    return _place(np.empty(_shape_args(shape), _dtype(dtype)), device, requires_grad)


def full(shape: Any, fill_value: Any, dtype: Any = None, device: str = "cpu",
         requires_grad: bool = False) -> Tensor:
    if dtype is None:
        dtype = int64 if isinstance(fill_value, (bool, int, np.integer)) else float32
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    return _place(np.full(shape, fill_value, _dtype(dtype)), device, requires_grad)


def zeros_like(t: Tensor, dtype: Any = None, device: str | None = None,
               requires_grad: bool = False) -> Tensor:
    return zeros(*t.shape, dtype=dtype or t.dtype, device=device or t.device,
                 requires_grad=requires_grad)


def ones_like(t: Tensor, dtype: Any = None, device: str | None = None,
              requires_grad: bool = False) -> Tensor:
    return ones(*t.shape, dtype=dtype or t.dtype, device=device or t.device,
                requires_grad=requires_grad)


def arange(start: Any, end: Any = None, step: Any = 1, dtype: Any = None, device: str = "cpu",
           requires_grad: bool = False) -> Tensor:
    """Values from start (default 0) up to end, exclusive; ints give int64, floats float32."""
    if end is None:
        start, end = 0, start
    if dtype is None:
        ints = all(isinstance(v, (int, np.integer)) for v in (start, end, step))
        dtype = int64 if ints else float32
    return _place(np.arange(start, end, step).astype(_dtype(dtype)), device, requires_grad)


def rand(*shape: Any, dtype: Any = None, device: str = "cpu", requires_grad: bool = False) -> Tensor:
    """Uniform [0, 1) samples from the global generator (``fg.manual_seed``)."""
    dt = _dtype(dtype)
    arr = _random.default_generator().random(_shape_args(shape), dtype=dt)
    return _place(arr, device, requires_grad)


def randn(*shape: Any, dtype: Any = None, device: str = "cpu", requires_grad: bool = False) -> Tensor:
    """Standard normal samples from the global generator (``fg.manual_seed``)."""
    dt = _dtype(dtype)
    arr = _random.default_generator().standard_normal(_shape_args(shape), dtype=dt)
    return _place(arr, device, requires_grad)
