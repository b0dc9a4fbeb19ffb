"""CUDA backend: CuPy arrays as storage, our kernels from ``csrc/cuda/*.cu`` for the arithmetic.

Same methods and signatures as ``backend/cpu.py`` (the ``Backend`` protocol in
``backend/__init__.py``). The kernels are compiled at run time by CuPy (``RawModule``, NVRTC)
from the ``.cu`` files shipped in the wheel under ``fusegrad/_csrc`` (or ``csrc/`` of a
checkout), with ``-I <csrc dir>`` so they include the same ``csrc/math`` headers as the CPU
kernels: the per-element math exists once. Each (file, dtype) module is built once per process
and device (and cached on disk by CuPy). Matmul goes to cuBLAS through ``cupy.matmul``.

CuPy is imported only when a CUDA backend is built (``get_backend("cuda")``); without CuPy, a
driver or a device the constructor raises ``RuntimeError`` with ``fg.cuda.unavailable_reason()``.

Launch conventions: scalars are passed as NumPy scalars of the kernel parameter's exact type
(CuPy sends a Python float as a double whatever the kernel expects); launch shapes come from the
constants below, mirrored in ``csrc/cuda/common.cuh``. ``FUSEGRAD_CUDA_SYNC=1`` synchronises
after every launch so an asynchronous CUDA error is reported at the kernel that caused it.

NOTE: CuPy compiles every RawModule with ``-ftz=true``, so float32 subnormal results (below
1.2e-38) are flushed to zero on the GPU where the CPU keeps them; everything else follows the
CPU's formulas (the same csrc/math functions) to rounding.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

import numpy as np

# Launch shapes: mirrored in csrc/cuda/common.cuh (kBlock, kMaxGrid, kMaxDims, kRowBlock) and
# csrc/cuda/matmul.cu (kColTile, kRowLanes).
BLOCK = 256  # threads per block, flat (elementwise, optimizer, dropout) kernels
MAX_GRID = 4096  # blocks at most per flat launch (grid-stride loops do the rest)
MAX_DIMS = 8  # dims of the strided path after merging; more falls back to contiguous copies
ROW_BLOCK = 256  # threads per block of per-row kernels (reductions, softmax, BN)
COL_TILE, ROW_LANES = 32, 8  # bias_grad block shape
SMALL_ROW = 32  # rows shorter than this reduce one-thread-per-row (reduce_cols with inner 1)
# Rows at least SPLIT_ROW long, when there are fewer than SPLIT_MAX_ROWS of them, reduce in two
# launches (chunks of SPLIT_CHUNK per block, then the partials): one block per row would leave
# the GPU idle for a full reduction of a large array.
SPLIT_ROW, SPLIT_MAX_ROWS, SPLIT_CHUNK = 1 << 16, 256, 1 << 13

_FLOAT_SUFFIX = {np.dtype("float32"): "f32", np.dtype("float64"): "f64"}
_NULL = np.uint64(0)  # a null pointer argument
_UNARY_ALIASES = {"pow": "pow_scalar"}  # unary "pow" is x ** scalar (see math/unary.h)
_USES_Y = {"pow"}  # binary ops whose backward reads y (kUsesY in math/binary.h)


# ---- sources ---------------------------------------------------------------------------------
def csrc_dir() -> Path:
    """The folder holding ``math/`` and ``cuda/``: the wheel's ``fusegrad/_csrc``, else the
    checkout's ``csrc/`` (running from source with ``PYTHONPATH=python``)."""
    try:
        from importlib.resources import files

        shipped = Path(str(files("fusegrad") / "_csrc"))
        if (shipped / "cuda" / "common.cuh").is_file():
            return shipped
    except (ImportError, TypeError, OSError):
        pass
    checkout = Path(__file__).resolve().parents[3] / "csrc"
    if (checkout / "cuda" / "common.cuh").is_file():
        return checkout
    raise RuntimeError(
        "fusegrad: CUDA kernel sources not found (neither fusegrad/_csrc in the installed "
        f"package nor {checkout}); reinstall fusegrad"
    )


def xlist(header: str, macro: str) -> tuple[str, ...]:
    """Op names of an X-list macro (``FG_UNARY_OPS`` in ``math/unary.h``), in list order."""
    text = (csrc_dir() / "math" / header).read_text()
    m = re.search(rf"#define\s+{macro}\(X\)((?:[^\n]*\\\n)*[^\n]*)", text)
    if m is None:
        raise RuntimeError(f"fusegrad: X-list {macro} not found in math/{header}")
    return tuple(re.findall(r"X\(\s*(\w+)\s*,", m.group(1)))


@lru_cache(maxsize=1)
def op_lists() -> dict[str, tuple[str, ...]]:
    """The unary / binary / compare op names, read from the shipped headers."""
    return {
        "unary": xlist("unary.h", "FG_UNARY_OPS"),
        "binary": xlist("binary.h", "FG_BINARY_OPS"),
        "compare": xlist("binary.h", "FG_COMPARE_OPS"),
    }


REDUCE_OPS = ("sum", "mean", "max", "min")  # mirrors FG_CUDA_REDUCE_OPS in cuda/reduce.cu


def kernel_names() -> dict[str, list[str]]:
    """Every kernel this backend fetches, per .cu stem, without the _f32/_f64 suffix (the
    compile tests check each one exists, for both dtypes unless listed in DTYPE_FREE)."""
    ops = op_lists()
    return {
        "elementwise": [f"{op}_{d}" for op in ops["unary"] + ops["binary"]
                        for d in ("forward", "backward")]
        + [f"{op}_forward" for op in ops["compare"]],
        "reduce": [f"reduce_{kind}_{op}" for kind in ("rows", "cols", "chunks")
                   for op in REDUCE_OPS]
        + ["argreduce_rows_max", "argreduce_rows_min", "var_rows"],
        "matmul": ["linear_forward", "bias_grad"],
        "optim": ["sgd_step", "adam_step", "rmsprop_step", "adagrad_step", "adadelta_step",
                  "grad_norm_partial", "scale_step", "clamp_step"],
        "norm": ["batch_norm_forward", "batch_norm_backward"],
        "loss": [f"{k}_{d}" for k in ("softmax", "log_softmax", "softmax_cross_entropy",
                                      "nll_loss", "bce_with_logits", "mse_loss")
                 for d in ("forward", "backward")],
        "random": ["dropout_forward", "dropout_backward"],
    }


DTYPE_FREE = {"optim": ["grad_norm_finish_f64"], "random": ["dropout_mask"]}


@lru_cache(maxsize=None)
def _source(stem: str) -> tuple[str, tuple[str, ...]]:
    """(source text, NVRTC options) of csrc/cuda/<stem>.cu. The text ends with a hash of every
    shipped header, so CuPy's on-disk kernel cache (keyed by source + options) never serves a
    binary built from older headers."""
    root = csrc_dir()
    h = hashlib.sha1()
    for p in sorted([*root.glob("math/*.h"), *root.glob("cuda/*.cuh")]):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    code = (root / "cuda" / f"{stem}.cu").read_text() + f"\n// fusegrad headers {h.hexdigest()}\n"
    return code, (f"-I{root}", "-std=c++17")


# ---- pure helpers (no CuPy; unit-tested on machines without a GPU) ----------------------------
def grid_for(n: int, block: int | None = None) -> int:
    """Blocks for a flat grid-stride launch over n items (block: threads, default BLOCK)."""
    return max(1, min(MAX_GRID, -(-n // (block or BLOCK))))


def broadcast_strides(shape: Sequence[int], strides: Sequence[int], itemsize: int,
                      out_shape: Sequence[int], name: str) -> list[int]:
    """Element strides of an array read over ``out_shape`` by NumPy broadcasting (0 on
    broadcast dims); ValueError naming both shapes when it does not broadcast."""
    nd, na = len(out_shape), len(shape)
    st = [0] * nd
    ok = na <= nd
    for i in range(nd):
        j = i - (nd - na)
        if j < 0 or not ok:
            continue
        if shape[j] == out_shape[i]:
            st[i] = 0 if shape[j] == 1 else strides[j] // itemsize
        elif shape[j] == 1:
            st[i] = 0
        else:
            ok = False
    if not ok:
        raise ValueError(f"shape mismatch: {name} has shape {tuple(shape)}, which does not "
                         f"broadcast to {tuple(out_shape)}")
    return st


def collapse_dims(shape: Sequence[int], strides: Sequence[Sequence[int]]
                  ) -> tuple[tuple[int, ...], list[tuple[int, ...]]]:
    """Drop size-1 dims and merge adjacent dims that every operand walks contiguously
    (stride[d] == stride[d+1] * shape[d+1]); returns the shorter shape and strides."""
    dims = [d for d, s in enumerate(shape) if s != 1]
    out_shape: list[int] = []
    out_st: list[list[int]] = [[] for _ in strides]
    for d in dims:
        if out_shape and all(st[d] * shape[d] == o[-1] for st, o in zip(strides, out_st)):
            out_shape[-1] *= shape[d]
            for st, o in zip(strides, out_st):
                o[-1] = st[d]
        else:
            out_shape.append(shape[d])
            for st, o in zip(strides, out_st):
                o.append(st[d])
    return tuple(out_shape), [tuple(o) for o in out_st]


def layout_words(out_shape: Sequence[int],
                 operands: Sequence[tuple[Sequence[int], Sequence[int], int, str]]
                 ) -> tuple[int, tuple[int, ...]] | None:
    """The strided-path description of operands (shape, byte strides, itemsize, name) read over
    ``out_shape``: None when every operand walks the output contiguously (the fast path), else
    (ndim, words) with words = shape + one stride row per operand (Note [strided meta] in
    cuda/common.cuh); ndim = -1 when more than MAX_DIMS dims remain after merging."""
    strides = [broadcast_strides(shp, st, item, out_shape, nm) for shp, st, item, nm in operands]
    shape, st = collapse_dims(out_shape, strides)
    if len(shape) == 1 and all(s[0] == 1 for s in st):
        return None
    if not shape:  # a single element: every offset is 0
        return None
    if len(shape) > MAX_DIMS:
        return -1, ()
    return len(shape), (*shape, *(s for row in st for s in row))


def reduction_plan(shape: Sequence[int], axes: Sequence[int]) -> tuple[str, tuple[int, ...], int, int, int]:
    """How to reduce a C-contiguous array of ``shape`` over sorted, unique ``axes``:
    ("block", perm, outer, length, inner) when the axes are one contiguous run (no copy:
    outer x length x inner), else ("transpose", perm, outer, length, 1) where perm moves
    the reduced axes last (one contiguous copy)."""
    nd = len(shape)
    kept = [d for d in range(nd) if d not in axes]
    length = math.prod(shape[d] for d in axes)
    if axes and list(axes) == list(range(axes[0], axes[-1] + 1)):
        outer = math.prod(shape[: axes[0]])
        inner = math.prod(shape[axes[-1] + 1:])
        return "block", tuple(range(nd)), outer, length, inner
    perm = tuple(kept) + tuple(axes)
    return "transpose", perm, math.prod(shape[d] for d in kept), length, 1


def normalize_axes(axes: Sequence[int] | int | None, ndim: int) -> tuple[int, ...]:
    """Sorted non-negative axes (None: all; a 0-d array has none); ValueError when out of range
    or repeated (as the CPU backend)."""
    if axes is None or ndim == 0:
        return tuple(range(ndim))
    if isinstance(axes, (int, np.integer)):
        axes = (int(axes),)
    out = []
    for a in axes:
        a = int(a)
        if not -ndim <= a < max(ndim, 1):
            raise ValueError(f"axis {a} is out of range for an array of {ndim} dims")
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"duplicate axes {tuple(axes)} for an array of {ndim} dims")
    return tuple(sorted(out))


def optim_table(ptr_lists: Sequence[Sequence[int] | None], sizes: Sequence[int],
                hyper: Sequence[float]) -> tuple[np.ndarray, int]:
    """Host words of one optimizer launch (Note [CUDA optimizer table] in cuda/optim.cu):
    pointer lists (zeros for an unused list), the offsets prefix sums, then ``hyper`` as
    float64 bits. Returns (uint64 words, index where hyper starts)."""
    count = len(sizes)
    nl = len(ptr_lists)
    words = np.zeros(nl * count + count + 1 + len(hyper), dtype=np.uint64)
    for k, ptrs in enumerate(ptr_lists):
        if ptrs is not None:
            words[k * count:(k + 1) * count] = np.asarray(ptrs, dtype=np.uint64)
    offs = np.zeros(count + 1, dtype=np.int64)
    np.cumsum(np.asarray(sizes, dtype=np.int64), out=offs[1:])
    words[nl * count:nl * count + count + 1] = offs.view(np.uint64)
    h0 = nl * count + count + 1
    words[h0:] = np.asarray(hyper, dtype=np.float64).view(np.uint64)
    return words, h0


# ---- compiled modules --------------------------------------------------------------------------
_MODULES: dict[tuple[str, str, int], Any] = {}  # (stem, dtype suffix, device) -> RawModule


def _module(cp: Any, stem: str, sfx: str, device: int) -> Any:
    """The RawModule of csrc/cuda/<stem>.cu for one dtype on one device (built once)."""
    key = (stem, sfx, device)
    mod = _MODULES.get(key)
    if mod is None:
        code, options = _source(stem)
        define = "-DFG_CUDA_DTYPE_F32" if sfx == "f32" else "-DFG_CUDA_DTYPE_F64"
        mod = cp.RawModule(code=code, options=(*options, define))
        _MODULES[key] = mod
    return mod


class CUDABackend:
    """CuPy storage + the csrc/cuda kernels (see module docstring)."""

    name = "cuda"

    def __init__(self, device: str = "cuda") -> None:
        from fusegrad import cuda as fg_cuda

        if not fg_cuda.is_available():
            raise RuntimeError(f"device {device!r} is not usable: {fg_cuda.unavailable_reason()}")
        import cupy

        index = 0 if device == "cuda" else int(device.split(":", 1)[1])
        count = fg_cuda.device_count()
        if not 0 <= index < count:
            raise RuntimeError(f"device {device!r} does not exist: {count} CUDA device(s) present")
        self.cp = cupy
        self.xp = cupy
        self.device = device
        self.index = index
        self._dev = cupy.cuda.Device(index)
        self._fns: dict[tuple[str, str, str], Any] = {}
        self._meta: dict[tuple, Any] = {}  # meta words -> device array
        self._layouts: dict[tuple, tuple[int, Any]] = {}  # operand layouts -> (ndim, meta)
        self._sync = os.environ.get("FUSEGRAD_CUDA_SYNC", "") not in ("", "0")
        # Graph capture hook (fusegrad.cuda.graphs): while set, optimizer launches keep their
        # device tables in persistent buffers registered there instead of uploading per call.
        self._capture: Any = None
        if count > 1:  # run every method on our device, whatever the current device is
            for attr in _DEVICE_METHODS:
                setattr(self, attr, _on_device(self._dev, getattr(self, attr)))

    # ==== launching ==================================================================================
    def _fn(self, stem: str, name: str, dtype: Any, exact: bool = False) -> Any:
        """The compiled kernel ``<name>_<f32|f64>`` of csrc/cuda/<stem>.cu (cached), from the
        module built for ``dtype``; ``exact``: a dtype-free kernel named exactly ``name``."""
        sfx = _FLOAT_SUFFIX.get(np.dtype(dtype))
        if sfx is None:
            raise TypeError(f"unsupported dtype {dtype}: CUDA kernels take float32 or float64")
        key = (stem, name, sfx)
        fn = self._fns.get(key)
        if fn is None:
            fn = _module(self.cp, stem, sfx, self.index).get_function(
                name if exact else f"{name}_{sfx}")
            self._fns[key] = fn
        return fn

    def _run(self, stem: str, name: str, dtype: Any, grid: int | tuple, block: int | tuple,
             args: tuple, exact: bool = False) -> None:
        """Launch kernel ``name`` of ``stem`` for ``dtype``; in FUSEGRAD_CUDA_SYNC mode wait for
        it and name it in the error."""
        fn = self._fn(stem, name, dtype, exact)
        fn(grid if isinstance(grid, tuple) else (grid,),
           block if isinstance(block, tuple) else (block,), args)
        if self._sync:
            try:
                self.cp.cuda.get_current_stream().synchronize()
            except Exception as e:  # CUDARuntimeError from an asynchronous fault
                raise RuntimeError(f"CUDA error in kernel {name} ({stem}.cu, {dtype}): {e}") from e

    def _scalar(self, dtype: Any, v: float) -> Any:
        return np.float32(v) if np.dtype(dtype) == np.float32 else np.float64(v)

    def _float(self, a: Any, name: str) -> np.dtype:
        dt = a.dtype
        if dt not in _FLOAT_SUFFIX:
            raise TypeError(f"{name}: expected a float32 or float64 array, got {dt}")
        return dt

    def _same_dtype(self, a: Any, an: str, b: Any, bn: str) -> None:
        if a.dtype != b.dtype:
            raise TypeError(f"{an} has dtype {a.dtype} but {bn} has dtype {b.dtype}")

    def _layout(self, out_shape: tuple, operands: Sequence[tuple[Any, str]]) -> tuple[int, Any]:
        """(ndim, meta) for the strided path (Note [strided meta] in cuda/common.cuh);
        (0, NULL) when every operand is C-contiguous with the output's shape. Raises
        ValueError for operands that do not broadcast. ndim < 0: more than MAX_DIMS dims.
        Layouts are cached (a training loop sees few), so a step uploads no meta array and
        skips the dim merging after its first pass."""
        for a, _ in operands:
            if a.shape != out_shape or not a.flags.c_contiguous:
                break
        else:
            return 0, _NULL
        key = (out_shape, *[(a.shape, a.strides, a.itemsize) for a, _ in operands])
        hit = self._layouts.get(key)
        if hit is None:
            words = layout_words(out_shape, [(a.shape, a.strides, a.itemsize, nm)
                                             for a, nm in operands])
            if words is None:
                hit = (0, _NULL)
            elif words[0] < 0:
                hit = (-1, _NULL)
            else:
                meta = self._meta.get(words[1])
                if meta is None:
                    meta = self.cp.asarray(np.array(words[1], dtype=np.int64))
                    self._meta[words[1]] = meta
                hit = (words[0], meta)
            if len(self._layouts) > 4096:  # a program with ever-new shapes: start over
                self._layouts.clear()
                self._meta.clear()
            self._layouts[key] = hit
        if self._capture is not None and hit[0] > 0:  # the graph reads it on every replay
            self._capture.keep.append(hit[1])
        return hit

    def _contig_over(self, a: Any, out_shape: tuple) -> Any:
        """A C-contiguous copy of ``a`` broadcast to ``out_shape`` (the >MAX_DIMS fallback)."""
        return self.cp.ascontiguousarray(self.cp.broadcast_to(a, out_shape))

    # ==== storage ===============================================================================
    def asarray(self, data: Any, dtype: Any = None) -> Any:
        # NOTE: a scalar becomes a fill kernel (its value is a kernel argument), not a
        # host-to-device copy: cheaper, and capturable in a CUDA graph (a copy from pageable
        # host memory is not). Autograd makes such scalars in backward (e.g. 1/n for mean).
        if isinstance(data, (int, float, np.generic)) and not isinstance(data, bool) or (
                isinstance(data, np.ndarray) and data.ndim == 0):
            value = data[()] if isinstance(data, np.ndarray) else data
            dt = np.dtype(dtype) if dtype is not None else np.asarray(value).dtype
            return self.cp.full((), value, dtype=dt)
        return self.cp.asarray(data, dtype=dtype)

    def to_numpy(self, a: Any) -> np.ndarray:
        return a.get() if hasattr(a, "get") else np.asarray(a)

    def synchronize(self) -> None:
        """Wait for every kernel queued on this device."""
        self._dev.synchronize()

    # ==== elementwise (cuda/elementwise.cu) ==========================================================
    def _unary_name(self, name: str) -> str:
        name = _UNARY_ALIASES.get(name, name)
        if name not in op_lists()["unary"]:
            raise ValueError(f"unknown unary op {name!r}; expected one of {op_lists()['unary']}")
        return name

    def unary_forward(self, name: str, x: Any, a: float = 0.0, b: float = 0.0) -> Any:
        name = self._unary_name(name)
        dt = self._float(x, "x")
        y = self.cp.empty(x.shape, dt)
        n = y.size
        if n == 0:
            return y
        ndim, meta = self._layout(y.shape, [(x, "x")])
        if ndim < 0:
            x, ndim, meta = self.cp.ascontiguousarray(x), 0, _NULL
        self._run("elementwise", f"{name}_forward", dt, grid_for(n), BLOCK,
                     (x, y, np.int64(n), np.int32(ndim), meta,
                      self._scalar(dt, a), self._scalar(dt, b)))
        return y

    def unary_backward(self, name: str, x: Any, y: Any, gy: Any, a: float = 0.0,
                       b: float = 0.0) -> Any:
        name = self._unary_name(name)
        dt = self._float(gy, "gy")
        self._same_dtype(x, "x", gy, "gy")
        self._same_dtype(y, "y", gy, "gy")
        for arr, nm in ((x, "x"), (y, "y")):
            if arr.shape != gy.shape:
                raise ValueError(f"{nm} has shape {arr.shape} but gy has shape {gy.shape}")
        gx = self.cp.empty(gy.shape, dt)
        n = gx.size
        if n == 0:
            return gx
        ndim, meta = self._layout(gx.shape, [(x, "x"), (y, "y"), (gy, "gy")])
        if ndim < 0:
            x, y, gy = (self.cp.ascontiguousarray(v) for v in (x, y, gy))
            ndim, meta = 0, _NULL
        self._run("elementwise", f"{name}_backward", dt, grid_for(n), BLOCK,
                     (x, y, gy, gx, np.int64(n), np.int32(ndim), meta,
                      self._scalar(dt, a), self._scalar(dt, b)))
        return gx

    def _binary_prep(self, kind: str, name: str, a: Any, b: Any) -> tuple[np.dtype, tuple]:
        if name not in op_lists()[kind]:
            raise ValueError(f"unknown {kind} op {name!r}; expected one of {op_lists()[kind]}")
        dt = self._float(a, "a")
        self._same_dtype(a, "a", b, "b")
        return dt, _broadcast_shape(a.shape, b.shape)

    def binary_forward(self, name: str, a: Any, b: Any) -> Any:
        dt, shape = self._binary_prep("binary", name, a, b)
        y = self.cp.empty(shape, dt)
        n = y.size
        if n == 0:
            return y
        ndim, meta = self._layout(shape, [(a, "a"), (b, "b")])
        if ndim < 0:
            a, b, ndim, meta = self._contig_over(a, shape), self._contig_over(b, shape), 0, _NULL
        self._run("elementwise", f"{name}_forward", dt, grid_for(n), BLOCK,
                     (a, b, y, np.int64(n), np.int32(ndim), meta))
        return y

    def binary_backward(self, name: str, a: Any, b: Any, y: Any, gy: Any, need_a: bool,
                        need_b: bool) -> tuple[Any, Any]:
        dt, shape = self._binary_prep("binary", name, a, b)
        self._same_dtype(gy, "gy", a, "a")
        if gy.shape != shape:
            raise ValueError(f"gy has shape {gy.shape} but a and b broadcast to {shape}")
        if y is None:
            if name in _USES_Y:
                raise ValueError(f"{name} backward needs the forward output y")
            y = gy  # never read: only ops in _USES_Y read y
        ga = self.cp.empty(shape, dt) if need_a else None
        gb = self.cp.empty(shape, dt) if need_b else None
        n = math.prod(shape)
        if n == 0 or not (need_a or need_b):
            return ga, gb
        ndim, meta = self._layout(shape, [(a, "a"), (b, "b"), (y, "y"), (gy, "gy")])
        if ndim < 0:
            a, b, y, gy = (self._contig_over(v, shape) for v in (a, b, y, gy))
            ndim, meta = 0, _NULL
        self._run("elementwise", f"{name}_backward", dt, grid_for(n), BLOCK,
                     (a, b, y, gy, _NULL if ga is None else ga, _NULL if gb is None else gb,
                      np.int64(n), np.int32(ndim), meta))
        return ga, gb

    def compare(self, name: str, a: Any, b: Any) -> Any:
        dt, shape = self._binary_prep("compare", name, a, b)
        out = self.cp.empty(shape, np.bool_)
        n = out.size
        if n == 0:
            return out
        ndim, meta = self._layout(shape, [(a, "a"), (b, "b")])
        if ndim < 0:
            a, b, ndim, meta = self._contig_over(a, shape), self._contig_over(b, shape), 0, _NULL
        self._run("elementwise", f"{name}_forward", dt, grid_for(n), BLOCK,
                     (a, b, out, np.int64(n), np.int32(ndim), meta))
        return out

    # ==== reductions (cuda/reduce.cu) =================================================================
    def _reduce_shapes(self, x: Any, axes: tuple[int, ...], keepdim: bool) -> tuple:
        keep = tuple(1 if d in axes else s for d, s in enumerate(x.shape))
        return keep if keepdim else tuple(s for d, s in enumerate(x.shape) if d not in axes)

    def reduce(self, name: str, x: Any, axes: Sequence[int] | None, keepdim: bool) -> Any:
        if name not in REDUCE_OPS:
            raise ValueError(f"unknown reduction {name!r}; expected one of {REDUCE_OPS}")
        dt = self._float(x, "x")
        ax = normalize_axes(axes, x.ndim)
        out_shape = self._reduce_shapes(x, ax, keepdim)
        length = math.prod(x.shape[d] for d in ax)
        if name in ("max", "min") and length == 0 and x.size == 0 and ax:
            raise ValueError(f"{name}: cannot reduce an empty axis (input shape {x.shape}) "
                             "without an identity")
        out = self.cp.empty(out_shape, dt)
        if out.size == 0:
            return out
        if not ax:  # nothing to reduce (NumPy's axis=()): the values themselves
            out[...] = x.reshape(out_shape)
            return out
        xc = self.cp.ascontiguousarray(x)
        how, perm, outer, length, inner = reduction_plan(xc.shape, ax)
        if how == "transpose":
            xc = self.cp.ascontiguousarray(xc.transpose(perm))
        if inner == 1 and length >= SPLIT_ROW and outer < SPLIT_MAX_ROWS:
            nchunks = -(-length // SPLIT_CHUNK)
            partials = self.cp.empty((outer, nchunks), dt)
            self._run("reduce", f"reduce_chunks_{name}", dt, min(outer * nchunks, MAX_GRID),
                      ROW_BLOCK, (xc, partials, np.int64(outer), np.int64(length),
                                  np.int64(SPLIT_CHUNK)))
            second = "sum" if name == "mean" else name
            self._run("reduce", f"reduce_rows_{second}", dt, min(outer, MAX_GRID), ROW_BLOCK,
                      (partials, out, np.int64(outer), np.int64(nchunks)))
            if name == "mean":
                out = self.binary_forward("div", out, self.asarray(float(length), dt))
        elif inner == 1 and length >= SMALL_ROW:
            self._run("reduce", f"reduce_rows_{name}", dt, min(outer, MAX_GRID),
                         ROW_BLOCK, (xc, out, np.int64(outer), np.int64(length)))
        else:
            self._run("reduce", f"reduce_cols_{name}", dt,
                         grid_for(outer * inner), BLOCK,
                         (xc, out, np.int64(outer), np.int64(length), np.int64(inner)))
        return out

    def reduce_with_index(self, name: str, x: Any, axis: int, keepdim: bool) -> tuple[Any, Any]:
        if name not in ("max", "min"):
            raise ValueError(f"reduce_with_index: expected 'max' or 'min', got {name!r}")
        dt = self._float(x, "x")
        if x.ndim == 0:
            if int(axis) not in (0, -1):
                raise ValueError(f"axis {axis} is out of range for an array of 0 dims")
            return x.copy(), self.cp.zeros((), np.int64)
        (ax,) = normalize_axes(axis, x.ndim)
        length = x.shape[ax]
        if length == 0:
            raise ValueError(f"arg{name}: cannot reduce an empty axis (input shape {x.shape})")
        kept = tuple(s for d, s in enumerate(x.shape) if d != ax)
        out_shape = tuple(1 if d == ax else s for d, s in enumerate(x.shape)) if keepdim else kept
        values = self.cp.empty(out_shape, dt)
        indices = self.cp.empty(out_shape, np.int64)
        if values.size == 0:
            return values, indices
        xc = self.cp.ascontiguousarray(self.cp.moveaxis(x, ax, -1))
        rows = values.size
        self._run("reduce", f"argreduce_rows_{name}", dt, min(rows, MAX_GRID),
                     ROW_BLOCK, (xc, values, indices, np.int64(rows), np.int64(length)))
        return values, indices

    def var(self, x: Any, axes: Sequence[int] | None, correction: float, keepdim: bool) -> Any:
        dt = self._float(x, "x")
        ax = normalize_axes(axes, x.ndim)
        out = self.cp.empty(self._reduce_shapes(x, ax, keepdim), dt)
        if out.size == 0:
            return out
        kept = [d for d in range(x.ndim) if d not in ax]
        xc = self.cp.ascontiguousarray(x.transpose(tuple(kept) + ax))
        length = math.prod(x.shape[d] for d in ax)
        self._run("reduce", "var_rows", dt, min(out.size, MAX_GRID), ROW_BLOCK,
                     (xc, out, np.int64(out.size), np.int64(length), np.float64(correction)))
        return out

    def sum_to_shape(self, g: Any, shape: tuple[int, ...]) -> Any:
        shape = tuple(shape)
        if g.shape == shape:
            return g
        lead = g.ndim - len(shape)
        if lead < 0:
            raise ValueError(f"cannot sum shape {g.shape} down to {shape}")
        axes = list(range(lead)) + [lead + i for i, s in enumerate(shape)
                                    if s == 1 and g.shape[lead + i] != 1]
        for i, s in enumerate(shape):
            if s != 1 and g.shape[lead + i] != s:
                raise ValueError(f"cannot sum shape {g.shape} down to {shape}")
        if not axes:  # only size-1 dims that were already 1: a reshape
            return g.reshape(shape)
        return self.reduce("sum", g, axes, True).reshape(shape)

    # ==== matmul (cuBLAS + cuda/matmul.cu) ==============================================================
    def matmul(self, a: Any, b: Any) -> Any:
        self._float(a, "a")
        self._same_dtype(a, "a", b, "b")
        if a.ndim >= 1 and b.ndim >= 1:
            k_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
            if a.shape[-1] != k_b:
                raise ValueError(f"matmul: inner dimensions differ: a has shape {a.shape} but "
                                 f"b has shape {b.shape}")
        return self.cp.matmul(a, b)

    def linear_forward(self, x: Any, w: Any, b: Any | None, activation: str | None) -> Any:
        if activation not in (None, "relu"):
            raise ValueError(f"linear_forward: activation must be None or 'relu', got {activation!r}")
        dt = self._float(x, "x")
        self._same_dtype(x, "x", w, "w")
        if w.ndim != 2 or x.ndim < 1 or x.shape[-1] != w.shape[1]:
            raise ValueError(f"linear: x has shape {x.shape} but weight has shape {w.shape}")
        if b is not None:
            self._same_dtype(x, "x", b, "bias")
            if b.shape != (w.shape[0],):
                raise ValueError(f"bias: expected shape ({w.shape[0]},), got {b.shape}")
            b = self.cp.ascontiguousarray(b)
        y = self.cp.ascontiguousarray(self.cp.matmul(x, w.T))
        cols = w.shape[0]
        n = y.size
        if n and (b is not None or activation == "relu"):
            self._run("matmul", "linear_forward", dt, grid_for(n), BLOCK,
                         (y, _NULL if b is None else b, np.int64(n // cols), np.int64(cols),
                          np.int32(activation == "relu")))
        return y

    def bias_grad(self, gy: Any) -> Any:
        dt = self._float(gy, "gy")
        if gy.ndim != 2:
            raise ValueError(f"bias_grad: expected a 2-D gy, got shape {gy.shape}")
        rows, cols = gy.shape
        out = self.cp.empty((cols,), dt)
        if cols == 0:
            return out
        if rows == 0:
            out.fill(0)
            return out
        g = self.cp.ascontiguousarray(gy)
        self._run("matmul", "bias_grad", dt, -(-cols // COL_TILE),
                     (COL_TILE, ROW_LANES), (g, out, np.int64(rows), np.int64(cols)))
        return out

    # ==== optim (cuda/optim.cu) ==========================================================================
    # One launch per parameter group: the pointer table, the offsets and the per-step values
    # (lr, steps) travel in one small device buffer, uploaded once per call (one H2D copy); see
    # Note [CUDA optimizer table] in csrc/cuda/optim.cu. Under CUDA-graph capture
    # (fusegrad.cuda.graphs) the buffer is a persistent one the graph helper rewrites before
    # each replay, so lr from a scheduler and the step count reach the captured kernel.
    def _group(self, lists: Sequence[tuple[str, Sequence[Any] | None]]) -> tuple[np.dtype, list]:
        """Validate a group (lists[0] = params): lengths, dtypes, shapes, contiguity, and no two
        lists sharing a tensor's storage. Returns (dtype, per-list pointer lists or None)."""
        pname, params = lists[0]
        params = list(params)
        n = len(params)
        dt = None
        ptrs: list = []
        for name, arrs in lists:
            if arrs is None:
                ptrs.append(None)
                continue
            arrs = list(arrs)
            if len(arrs) != n:
                raise ValueError(f"{name} has {len(arrs)} arrays but {pname} has {n}")
            row = []
            for i, a in enumerate(arrs):
                if not isinstance(a, self.cp.ndarray):
                    raise TypeError(f"{name}[{i}]: expected a cupy array on {self.device}, "
                                    f"got {type(a).__name__}")
                if dt is None:
                    dt = self._float(a, f"{name}[{i}]")
                elif a.dtype != dt:
                    raise TypeError(f"{name}[{i}] has dtype {a.dtype} but {pname}[0] has {dt}")
                if a.shape != params[i].shape:
                    raise ValueError(f"{name}[{i}] has shape {a.shape} but {pname}[{i}] has "
                                     f"shape {params[i].shape}")
                if not a.flags.c_contiguous:
                    raise ValueError(f"{name}[{i}] must be C-contiguous")
                row.append(a.data.ptr)
            ptrs.append(row)
        for i in range(n):
            if params[i].size == 0:
                continue
            seen: dict[int, str] = {}
            for (name, _), row in zip(lists, ptrs):
                if row is None:
                    continue
                if row[i] in seen:
                    raise ValueError(f"{name}[{i}] and {seen[row[i]]}[{i}] are the same array; "
                                     "each needs its own storage")
                seen[row[i]] = name
        return (dt or np.dtype("float32")), ptrs

    def _optim_launch(self, kernel: str, dt: np.dtype, ptrs: list, sizes: list[int],
                      hyper: list[float], args: tuple, kind: str) -> None:
        total = sum(sizes)
        if total == 0:
            return
        words, h0 = optim_table(ptrs, sizes, hyper)
        buf = self._device_table(words, h0, kind, len(sizes))
        self._run("optim", kernel, dt, grid_for(total), BLOCK,
                  (buf, np.int32(len(sizes)), buf[h0:].view(np.float64), *args))

    def _device_table(self, words: np.ndarray, h0: int, kind: str, count: int) -> Any:
        """The table on the device: uploaded now, or (under graph capture) a persistent buffer
        that fusegrad.cuda.graphs fills and refreshes before each replay."""
        if self._capture is not None:
            return self._capture.optim_buffer(words, h0, kind, count)
        return self.cp.asarray(words)

    @staticmethod
    def _per_param(value: Any, n: int) -> list:
        """A scalar repeated n times, or the given per-parameter sequence as a list."""
        if isinstance(value, (list, tuple)):
            if len(value) != n:
                raise ValueError(f"expected one value per parameter ({n}), got {len(value)}")
            return list(value)
        return [value] * n

    def sgd_step(self, params, grads, momentum_buffers, *, lr, momentum, dampening,
                 weight_decay, nesterov, maximize=False, first_step) -> None:
        has_mom = float(momentum) != 0.0
        dt, ptrs = self._group([("params", params), ("grads", grads),
                                ("momentum_buffers", momentum_buffers if has_mom else None)])
        n = len(ptrs[0])
        first = [1.0 if f else 0.0 for f in self._per_param(first_step, n)]
        self._optim_launch("sgd_step", dt, ptrs, [p.size for p in params], [float(lr), *first],
                           (np.float64(momentum), np.float64(dampening),
                            np.float64(weight_decay), np.int32(bool(nesterov)),
                            np.int32(bool(maximize))), "sgd")

    def adam_step(self, params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, *, step, lr,
                  beta1, beta2, eps, weight_decay, amsgrad, decoupled, maximize=False) -> None:
        dt, ptrs = self._group([("params", params), ("grads", grads), ("exp_avgs", exp_avgs),
                                ("exp_avg_sqs", exp_avg_sqs),
                                ("max_exp_avg_sqs", max_exp_avg_sqs if amsgrad else None)])
        steps = [float(s) for s in self._per_param(step, len(ptrs[0]))]
        self._optim_launch("adam_step", dt, ptrs, [p.size for p in params], [float(lr), *steps],
                           (np.float64(beta1), np.float64(beta2), np.float64(eps),
                            np.float64(weight_decay), np.int32(bool(amsgrad)),
                            np.int32(bool(decoupled)), np.int32(bool(maximize))), "adam")

    def rmsprop_step(self, params, grads, square_avgs, grad_avgs, momentum_buffers, *, lr,
                     alpha, eps, weight_decay, momentum, centered, maximize=False) -> None:
        dt, ptrs = self._group([("params", params), ("grads", grads),
                                ("square_avgs", square_avgs),
                                ("grad_avgs", grad_avgs if centered else None),
                                ("momentum_buffers",
                                 momentum_buffers if float(momentum) > 0.0 else None)])
        self._optim_launch("rmsprop_step", dt, ptrs, [p.size for p in params], [float(lr)],
                           (np.float64(alpha), np.float64(eps), np.float64(weight_decay),
                            np.float64(momentum), np.int32(bool(centered)),
                            np.int32(bool(maximize))), "rmsprop")

    def adagrad_step(self, params, grads, state_sums, *, step, lr, lr_decay, eps, weight_decay,
                     maximize=False) -> None:
        dt, ptrs = self._group([("params", params), ("grads", grads),
                                ("state_sums", state_sums)])
        steps = [float(s) for s in self._per_param(step, len(ptrs[0]))]
        self._optim_launch("adagrad_step", dt, ptrs, [p.size for p in params],
                           [float(lr), *steps],
                           (np.float64(lr_decay), np.float64(eps), np.float64(weight_decay),
                            np.int32(bool(maximize))), "adagrad")

    def adadelta_step(self, params, grads, square_avgs, acc_deltas, *, lr, rho, eps,
                      weight_decay, maximize=False) -> None:
        dt, ptrs = self._group([("params", params), ("grads", grads),
                                ("square_avgs", square_avgs), ("acc_deltas", acc_deltas)])
        self._optim_launch("adadelta_step", dt, ptrs, [p.size for p in params], [float(lr)],
                           (np.float64(rho), np.float64(eps), np.float64(weight_decay),
                            np.int32(bool(maximize))), "adadelta")

    def grad_norm(self, grads, norm_type) -> Any:
        """Total p-norm as a 0-d float64 device array (no host round trip)."""
        norm_type = float(norm_type)
        if not norm_type > 0.0:
            raise ValueError(f"grad_norm: norm_type must be > 0 (or inf), got {norm_type}")
        out = self.cp.zeros((), np.float64)
        grads = list(grads)
        if not grads:
            return out
        dt, ptrs = self._group([("grads", grads)])
        sizes = [g.size for g in grads]
        total = sum(sizes)
        if total == 0:
            return out
        blocks = grid_for(total)
        partials = self.cp.empty(blocks, np.float64)
        is_inf = np.int32(math.isinf(norm_type))
        words, h0 = optim_table(ptrs, sizes, [])
        table = self._device_table(words, h0, "table", len(sizes))
        self._run("optim", "grad_norm_partial", dt, blocks, BLOCK,
                  (table, np.int32(len(sizes)), np.float64(norm_type), is_inf, partials))
        self._run("optim", "grad_norm_finish_f64", dt, 1, ROW_BLOCK,
                  (partials, np.int32(blocks), np.float64(norm_type), is_inf, out), exact=True)
        return out

    def scale_(self, arrays, factor) -> None:
        """a *= factor for every array; factor a float or a 0-d (device) array."""
        arrays = list(arrays)
        if not arrays:
            return
        dt, ptrs = self._group([("arrays", arrays)])
        sizes = [a.size for a in arrays]
        if sum(sizes) == 0:
            return
        if isinstance(factor, self.cp.ndarray):
            words, h0 = optim_table(ptrs, sizes, [])
            table = self._device_table(words, h0, "table", len(sizes))
            f = factor.reshape(()).astype(np.float64, copy=False)
            self._run("optim", "scale_step", dt, grid_for(sum(sizes)), BLOCK,
                      (table, np.int32(len(sizes)), f))
        else:
            words, h0 = optim_table(ptrs, sizes, [float(factor)])
            buf = self._device_table(words, h0, "table", len(sizes))
            self._run("optim", "scale_step", dt, grid_for(sum(sizes)), BLOCK,
                      (buf, np.int32(len(sizes)), buf[h0:].view(np.float64)))

    def clamp_(self, arrays, lo, hi) -> None:
        arrays = list(arrays)
        if not arrays:
            return
        dt, ptrs = self._group([("arrays", arrays)])
        sizes = [a.size for a in arrays]
        if sum(sizes) == 0:
            return
        words, h0 = optim_table(ptrs, sizes, [])
        table = self._device_table(words, h0, "table", len(sizes))
        self._run("optim", "clamp_step", dt, grid_for(sum(sizes)), BLOCK,
                  (table, np.int32(len(sizes)), np.float64(lo), np.float64(hi)))

    # ==== norm (cuda/norm.cu) ===========================================================================
    # Batch norm over (N, C) or (N, C, L): one fused kernel each way, one block per channel.
    def _contig(self, a: Any) -> Any:
        return None if a is None else self.cp.ascontiguousarray(a)

    def _ptr(self, a: Any) -> Any:
        """A kernel argument for an optional array: the array, or a null pointer."""
        return _NULL if a is None else a

    @staticmethod
    def _ncl(x: Any) -> tuple[int, int, int]:
        if x.ndim < 2:
            raise ValueError(f"batch_norm: expected (N, C) or (N, C, L) input, got shape {x.shape}")
        return x.shape[0], x.shape[1], math.prod(x.shape[2:])

    def batch_norm_forward(self, x, weight, bias, running_mean, running_var, *, batch_stats,
                           momentum_factor, eps):
        dt = self._float(x, "x")
        x = self.cp.ascontiguousarray(x)
        n, c, l = self._ncl(x)
        for a, nm in ((running_mean, "running_mean"), (running_var, "running_var")):
            if a is not None and not a.flags.c_contiguous:
                raise ValueError(f"{nm} must be C-contiguous (it is updated in place)")
        if not batch_stats and (running_mean is None or running_var is None):
            raise ValueError("batch_norm: running_mean and running_var are required in eval mode")
        y = self.cp.empty_like(x)
        save_mean = self.cp.empty(c, dt)
        save_invstd = self.cp.empty(c, dt)
        if c:
            self._run("norm", "batch_norm_forward", dt, min(c, MAX_GRID), ROW_BLOCK,
                      (x, self._ptr(self._contig(weight)), self._ptr(self._contig(bias)), y,
                       save_mean, save_invstd, self._ptr(running_mean), self._ptr(running_var),
                       np.int64(n), np.int64(c), np.int64(l), np.int32(bool(batch_stats)),
                       np.float64(momentum_factor), np.float64(eps)))
        return y, save_mean, save_invstd

    def batch_norm_backward(self, x, gy, weight, save_mean, save_invstd, *, batch_stats,
                            need_input=True, need_params=True):
        dt = self._float(x, "x")
        x = self.cp.ascontiguousarray(x)
        gy = self.cp.ascontiguousarray(gy, dtype=dt)
        n, c, l = self._ncl(x)
        gx = self.cp.empty_like(x) if need_input else None
        gw = self.cp.empty(c, dt) if need_params else None
        gb = self.cp.empty(c, dt) if need_params else None
        if c and (need_input or need_params):
            self._run("norm", "batch_norm_backward", dt, min(c, MAX_GRID), ROW_BLOCK,
                      (x, gy, self._ptr(self._contig(weight)), self._contig(save_mean),
                       self._contig(save_invstd), self._ptr(gx), self._ptr(gw), self._ptr(gb),
                       np.int64(n), np.int64(c), np.int64(l), np.int32(bool(batch_stats))))
        return gx, gw, gb

    # ==== loss (cuda/loss.cu) ===========================================================================
    # Row kernels on the last axis of C-contiguous arrays. Sums and "mean" denominators stay on
    # the device (0-d arrays): no host round trip anywhere in a training step.
    def _rows(self, x: Any) -> tuple[Any, int, int]:
        x = self.cp.ascontiguousarray(x)
        if x.ndim < 1:
            raise ValueError("expected at least 1 dimension")
        c = x.shape[-1]
        return x, (x.size // c if c else 0), c

    def _softmax(self, name: str, x: Any) -> Any:
        dt = self._float(x, "x")
        x, rows, c = self._rows(x)
        y = self.cp.empty_like(x)
        if rows and c:
            self._run("loss", name, dt, min(rows, MAX_GRID), ROW_BLOCK,
                      (x, y, np.int64(rows), np.int64(c)))
        return y

    def _softmax_bwd(self, name: str, y: Any, gy: Any) -> Any:
        dt = self._float(y, "y")
        y, rows, c = self._rows(y)
        gy = self.cp.ascontiguousarray(gy, dtype=dt)
        if gy.shape != y.shape:
            raise ValueError(f"gy has shape {gy.shape} but y has shape {y.shape}")
        gx = self.cp.empty_like(y)
        if rows and c:
            self._run("loss", name, dt, min(rows, MAX_GRID), ROW_BLOCK,
                      (y, gy, gx, np.int64(rows), np.int64(c)))
        return gx

    def softmax_forward(self, x):
        return self._softmax("softmax_forward", x)

    def log_softmax_forward(self, x):
        return self._softmax("log_softmax_forward", x)

    def softmax_backward(self, y, gy):
        return self._softmax_bwd("softmax_backward", y, gy)

    def log_softmax_backward(self, y, gy):
        return self._softmax_bwd("log_softmax_backward", y, gy)

    def _labels(self, labels: Any, n: int, c: int, ignore_index: int) -> Any:
        labels = self.cp.asarray(labels)
        if labels.dtype != np.int64:
            raise TypeError(f"labels: expected int64 class indices, got {labels.dtype}")
        labels = self.cp.ascontiguousarray(labels).reshape(-1)
        if labels.size != n:
            raise ValueError(f"labels: expected shape ({n},), got {labels.shape}")
        if self._sync and n:  # debug mode: the CPU's IndexError (Note [bad labels on the GPU])
            bad = ((labels < 0) | (labels >= c)) & (labels != ignore_index)
            if bool(bad.any()):
                v = int(labels[bad][0])
                raise IndexError(f"Target {v} is out of bounds: labels must be in [0, {c}) "
                                 f"(n_classes = {c}) or equal ignore_index {ignore_index}")
        return labels

    def _class_weight(self, weight: Any, c: int, dt: np.dtype) -> Any:
        if weight is None:
            return _NULL
        if weight.dtype != dt or weight.size != c:
            raise ValueError(f"weight: expected {c} {dt} values, got shape {weight.shape} "
                             f"{weight.dtype}")
        return self.cp.ascontiguousarray(weight).reshape(-1)

    def _reduce_loss(self, loss: Any, weight_sum: Any, reduction: str) -> Any:
        """'none': per-row/element losses; 'sum' / 'mean': a 0-d device array (mean divides by
        weight_sum, a 0-d device array; 0/0 is NaN as in PyTorch)."""
        if reduction == "none":
            return loss
        if reduction not in ("sum", "mean"):
            raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
        total = self.reduce("sum", loss.reshape(-1), None, False)
        return total if reduction == "sum" else self.binary_forward("div", total, weight_sum)

    def _upstream(self, gy: Any, like: Any, n: int) -> tuple[Any, np.int64]:
        """gy as a contiguous array of like's dtype and its stride per row (0: one scalar)."""
        gy = self.cp.ascontiguousarray(gy, dtype=like.dtype)
        if gy.size == 1:
            return gy, np.int64(0)
        if gy.size == n:
            return gy, np.int64(1)
        raise ValueError(f"gy: expected 1 or {n} elements, got shape {gy.shape}")

    def _mean_scale_ptr(self, reduction: str, total: Any, dt: np.dtype) -> Any:
        """1/total on the device for 'mean' (inf when total is 0, as the CPU), else null."""
        if reduction != "mean":
            return _NULL
        total = self.cp.asarray(total, dtype=dt).reshape(())
        return self.binary_forward("div", self.asarray(1.0, dt), total)

    def softmax_cross_entropy_forward(self, logits, labels, weight, *, ignore_index,
                                      label_smoothing, reduction):
        dt = self._float(logits, "logits")
        logits = self.cp.ascontiguousarray(logits)
        if logits.ndim != 2:
            raise ValueError(f"logits: expected a 2-D (N, C) array, got shape {logits.shape}")
        n, c = logits.shape
        lab = self._labels(labels, n, c, int(ignore_index))
        w = self._class_weight(weight, c, dt)
        loss = self.cp.empty(n, dt)
        row_w = self.cp.empty(n, dt)
        lse = self.cp.empty(n, dt)
        if n:
            self._run("loss", "softmax_cross_entropy_forward", dt, min(n, MAX_GRID), ROW_BLOCK,
                      (logits, lab, w, loss, row_w, lse, np.int64(n), np.int64(c),
                       np.int64(ignore_index), self._scalar(dt, label_smoothing)))
        ws = self.reduce("sum", row_w, None, False)
        return self._reduce_loss(loss, ws, reduction), lse, ws

    def softmax_cross_entropy_backward(self, logits, labels, weight, lse, total_weight, gy, *,
                                       ignore_index, label_smoothing, reduction):
        dt = self._float(logits, "logits")
        logits = self.cp.ascontiguousarray(logits)
        n, c = logits.shape
        lab = self._labels(labels, n, c, int(ignore_index))
        gy, stride = self._upstream(gy, logits, n)
        gx = self.cp.empty_like(logits)
        if n and c:
            self._run("loss", "softmax_cross_entropy_backward", dt, min(n, MAX_GRID), ROW_BLOCK,
                      (logits, lab, self._class_weight(weight, c, dt),
                       self.cp.ascontiguousarray(lse), gy, stride, gx, np.int64(n), np.int64(c),
                       np.int64(ignore_index), self._scalar(dt, label_smoothing),
                       self._scalar(dt, 1.0), self._mean_scale_ptr(reduction, total_weight, dt)))
        return gx

    def nll_loss_forward(self, x, labels, weight, *, ignore_index, reduction):
        dt = self._float(x, "x")
        x = self.cp.ascontiguousarray(x)
        if x.ndim != 2:
            raise ValueError(f"x: expected a 2-D (N, C) array, got shape {x.shape}")
        n, c = x.shape
        lab = self._labels(labels, n, c, int(ignore_index))
        loss = self.cp.empty(n, dt)
        row_w = self.cp.empty(n, dt)
        if n:
            self._run("loss", "nll_loss_forward", dt, grid_for(n), BLOCK,
                      (x, lab, self._class_weight(weight, c, dt), loss, row_w, np.int64(n),
                       np.int64(c), np.int64(ignore_index)))
        ws = self.reduce("sum", row_w, None, False)
        return self._reduce_loss(loss, ws, reduction), ws

    def nll_loss_backward(self, labels, weight, total_weight, gy, *, shape, dtype, ignore_index,
                          reduction):
        dt = np.dtype(dtype)
        n, c = shape
        gx = self.cp.empty(shape, dt)
        lab = self._labels(labels, n, c, int(ignore_index))
        gy, stride = self._upstream(gy, gx, n)
        if gx.size:
            self._run("loss", "nll_loss_backward", dt, grid_for(gx.size), BLOCK,
                      (lab, self._class_weight(weight, c, dt), gy, stride, gx, np.int64(n),
                       np.int64(c), np.int64(ignore_index), self._scalar(dt, 1.0),
                       self._mean_scale_ptr(reduction, total_weight, dt)))
        return gx

    def _pointwise_loss_inputs(self, x: Any, target: Any, extra: Any = None) -> tuple:
        dt = self._float(x, "input")
        x = self.cp.ascontiguousarray(x)
        t = self.cp.ascontiguousarray(target, dtype=dt)
        if t.shape != x.shape:
            raise ValueError(f"target has shape {t.shape} but input has shape {x.shape}")
        if extra is not None:
            extra = self.cp.ascontiguousarray(extra, dtype=dt)
            if extra.size != x.size:
                raise ValueError(f"pos_weight: expected {x.size} elements, got shape {extra.shape}")
        return dt, x, t, extra

    def _pointwise_reduce(self, loss: Any, reduction: str) -> Any:
        if reduction == "none":
            return loss
        if reduction not in ("sum", "mean"):
            raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
        return self.reduce(reduction, loss.reshape(-1), None, False)

    def _mean_scale(self, reduction: str, n: int) -> float:
        if reduction != "mean":
            return 1.0
        return 1.0 / n if n else float("inf")

    def bce_with_logits_forward(self, x, target, pos_weight, *, reduction):
        dt, x, t, q = self._pointwise_loss_inputs(x, target, pos_weight)
        loss = self.cp.empty_like(x)
        if x.size:
            self._run("loss", "bce_with_logits_forward", dt, grid_for(x.size), BLOCK,
                      (x, t, self._ptr(q), loss, np.int64(x.size)))
        return self._pointwise_reduce(loss, reduction)

    def bce_with_logits_backward(self, x, target, pos_weight, gy, *, reduction):
        dt, x, t, q = self._pointwise_loss_inputs(x, target, pos_weight)
        gy, stride = self._upstream(gy, x, x.size)
        gx = self.cp.empty_like(x)
        if x.size:
            self._run("loss", "bce_with_logits_backward", dt, grid_for(x.size), BLOCK,
                      (x, t, self._ptr(q), gy, stride, gx, np.int64(x.size),
                       self._scalar(dt, self._mean_scale(reduction, x.size)), _NULL))
        return gx

    def mse_loss_forward(self, x, target, *, reduction):
        dt, x, t, _ = self._pointwise_loss_inputs(x, target)
        loss = self.cp.empty_like(x)
        if x.size:
            self._run("loss", "mse_loss_forward", dt, grid_for(x.size), BLOCK,
                      (x, t, loss, np.int64(x.size)))
        return self._pointwise_reduce(loss, reduction)

    def mse_loss_backward(self, x, target, gy, *, reduction, need_target=False):
        dt, x, t, _ = self._pointwise_loss_inputs(x, target)
        gy, stride = self._upstream(gy, x, x.size)
        gx = self.cp.empty_like(x)
        gt = self.cp.empty_like(x) if need_target else None
        if x.size:
            self._run("loss", "mse_loss_backward", dt, grid_for(x.size), BLOCK,
                      (x, t, gy, stride, gx, self._ptr(gt), np.int64(x.size),
                       self._scalar(dt, self._mean_scale(reduction, x.size)), _NULL))
        return gx, gt

    # ==== random (cuda/random.cu) =======================================================================
    # Same Philox stream as the CPU (csrc/math/random.h): equal (seed, offset) give equal masks.
    @staticmethod
    def _dropout_scale(p: float) -> float:
        return 0.0 if p >= 1.0 else 1.0 / (1.0 - float(p))

    def dropout_forward(self, x, p, seed, offset=0):
        p = float(p)
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        if self._capture is not None:  # the seed would be frozen into the graph
            self._capture.unsupported("dropout")
        dt = self._float(x, "x")
        x = self.cp.ascontiguousarray(x)
        y = self.cp.empty_like(x)
        mask = self.cp.empty(x.shape, np.bool_)
        n = x.size
        if n:
            self._run("random", "dropout_forward", dt, grid_for(-(-n // 4)), BLOCK,
                      (x, y, mask, np.int64(n), np.uint64(int(seed) & 0xFFFFFFFFFFFFFFFF),
                       np.uint64(int(offset) & 0xFFFFFFFFFFFFFFFF), np.float64(p),
                       self._scalar(dt, self._dropout_scale(p))))
        return y, mask

    def dropout_backward(self, gy, mask, p):
        dt = self._float(gy, "gy")
        gy = self.cp.ascontiguousarray(gy)
        mask = self.cp.ascontiguousarray(mask)
        if mask.dtype != np.bool_ or mask.shape != gy.shape:
            raise ValueError(f"mask: expected a bool array of shape {gy.shape}, got "
                             f"{mask.dtype} {mask.shape}")
        gx = self.cp.empty_like(gy)
        if gy.size:
            self._run("random", "dropout_backward", dt, grid_for(gy.size), BLOCK,
                      (gy, mask, gx, np.int64(gy.size), self._scalar(dt, self._dropout_scale(float(p)))))
        return gx


_BROADCAST_CACHE: dict[tuple, tuple] = {}


def _broadcast_shape(a: tuple, b: tuple) -> tuple:
    """NumPy's broadcast of two shapes (cached); ValueError naming both."""
    if a == b:
        return a
    hit = _BROADCAST_CACHE.get((a, b))
    if hit is None:
        if len(_BROADCAST_CACHE) > 4096:
            _BROADCAST_CACHE.clear()
        hit = _BROADCAST_CACHE[(a, b)] = _broadcast_shape_uncached(a, b)
    return hit


def _broadcast_shape_uncached(a: tuple, b: tuple) -> tuple:
    nd = max(len(a), len(b))
    pa, pb = (1,) * (nd - len(a)) + tuple(a), (1,) * (nd - len(b)) + tuple(b)
    out = []
    for x, y in zip(pa, pb):
        if x != y and x != 1 and y != 1:
            raise ValueError(f"shape mismatch: a has shape {tuple(a)} and b has shape {tuple(b)}, "
                             "which do not broadcast")
        out.append(y if x == 1 else x)
    return tuple(out)


def _on_device(dev: Any, fn: Any) -> Any:
    def run(*args: Any, **kwargs: Any) -> Any:
        with dev:
            return fn(*args, **kwargs)

    run.__name__ = fn.__name__
    run.__doc__ = fn.__doc__
    return run


# Public methods that allocate or launch (wrapped to run on the backend's device when a
# machine has several); filled in below from the class.
_DEVICE_METHODS = tuple(n for n, v in vars(CUDABackend).items()
                        if callable(v) and not n.startswith("_"))

__all__ = ["CUDABackend", "csrc_dir", "kernel_names", "op_lists"]
