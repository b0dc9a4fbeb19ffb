"""Array-level kernel interface: ``get_backend(device)`` and the ``Backend`` protocol.

The protocol is the registry of kernels (the role ``native_functions.yaml`` plays in PyTorch,
without codegen). ``backend/cpu.py`` (NumPy arrays + ``fusegrad._C``) and ``backend/cuda.py``
(CuPy arrays + RawModules built from ``csrc/cuda``) implement every method with the same
name and signature. Backends work on raw arrays and know nothing of autograd.

Conventions shared by every method:
- Arrays are float32 or float64 unless a method says otherwise; inputs may be any strided
  view, outputs are freshly allocated C-contiguous arrays unless an ``out``/in-place
  argument is named.
- Shape or dtype errors raise ``ValueError``/``TypeError`` naming the shapes, written like
  ``(2, 3)``.
- Unary/binary ops on the X-lists in ``csrc/math`` go through the generic methods keyed by
  the X-list name; every other kernel has a method named exactly like the C++ function.
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence

Array = Any  # numpy.ndarray on CPU, cupy.ndarray on CUDA


class Backend(Protocol):
    """What every backend implements (one line of contract per method)."""

    name: str  # "cpu" or "cuda"
    xp: Any  # the array module: numpy or cupy

    # --- storage -------------------------------------------------------------------------
    def asarray(self, data: Any, dtype: Any = None) -> Array:
        """Array on this backend's device from NumPy / nested lists / scalars (copy only if needed)."""

    def to_numpy(self, a: Array) -> Any:
        """NumPy array with the same values (zero-copy on CPU)."""

    # --- elementwise (csrc/math/unary.h, binary.h) -----------------------------------------
    def unary_forward(self, name: str, x: Array, a: float = 0.0, b: float = 0.0) -> Array:
        """y = op(x) for an FG_UNARY_OPS op; a, b are its scalar parameters (slope, bounds, p)."""

    def unary_backward(
        self, name: str, x: Array, y: Array, gy: Array, a: float = 0.0, b: float = 0.0
    ) -> Array:
        """gx = d op / dx * gy, fused in one pass; x is the saved input, y the saved output."""

    def binary_forward(self, name: str, a: Array, b: Array) -> Array:
        """y = op(a, b) with NumPy broadcasting, read through strides (no broadcast copies)."""

    def binary_backward(
        self, name: str, a: Array, b: Array, y: Array, gy: Array, need_a: bool, need_b: bool
    ) -> tuple[Array | None, Array | None]:
        """(ga, gb) at the broadcast shape of y (un-broadcasting is autograd's job), one pass."""

    def compare(self, name: str, a: Array, b: Array) -> Array:
        """Boolean array of eq/ne/lt/le/gt/ge with broadcasting."""

    # --- reductions (csrc/math/reduce.h) ---------------------------------------------------
    def reduce(self, name: str, x: Array, axes: Sequence[int] | None, keepdim: bool) -> Array:
        """sum / mean / max / min over ``axes`` (None: all), accumulated in acc_t."""

    def reduce_with_index(self, name: str, x: Array, axis: int, keepdim: bool) -> tuple[Array, Array]:
        """(values, int64 indices) of max / min along one axis (first index on ties)."""

    def var(self, x: Array, axes: Sequence[int] | None, correction: int, keepdim: bool) -> Array:
        """Variance over ``axes`` with ``correction`` (1 = unbiased), numerically stable."""

    def sum_to_shape(self, g: Array, shape: tuple[int, ...]) -> Array:
        """Sum a broadcast gradient back down to ``shape`` (the un-broadcast step)."""

    # --- matmul (csrc/cpu/matmul.h) ----------------------------------------------------------
    def matmul(self, a: Array, b: Array) -> Array:
        """a @ b for 2-D or batched (broadcast batch dims); transposed views read without copies."""

    def linear_forward(self, x: Array, w: Array, b: Array | None, activation: str | None) -> Array:
        """x @ w.T + b, with activation (None or "relu") applied in the GEMM's store step."""

    def bias_grad(self, gy: Array) -> Array:
        """Column sums of a 2-D gy (the bias gradient of a Linear layer), one pass."""


_BACKENDS: dict[str, Backend] = {}


def get_backend(device: str) -> Backend:
    """The backend for a device string ("cpu", "cuda", "cuda:N"); built once and cached."""
    be = _BACKENDS.get(device)
    if be is not None:
        return be
    if device == "cpu":
        from fusegrad.backend.cpu import CPUBackend

        be = CPUBackend()
    elif device == "cuda" or device.startswith("cuda:"):
        from fusegrad.backend.cuda import CUDABackend

        be = CUDABackend(device)
    else:
        raise ValueError(f"unknown device {device!r}: expected 'cpu', 'cuda' or 'cuda:N'")
    _BACKENDS[device] = be
    return be


__all__ = ["Array", "Backend", "get_backend"]
