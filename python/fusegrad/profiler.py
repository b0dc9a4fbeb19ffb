"""``fg.profiler``: record every backend kernel call (name, device, shapes, time, bytes, FLOPs).

    with fg.profiler.profile() as prof:
        loss = model(x).sum(); loss.backward()
    print(prof.table(sort_by="total"))
    prof.export_chrome_trace("trace.json")        # chrome://tracing or ui.perfetto.dev

How it works (Note [profiler patching]): entering ``profile()`` replaces the public kernel
methods of the backend classes (``CPUBackend``, ``CUDABackend`` and the class of every live
backend) with timing wrappers; leaving it puts the original functions back. The un-profiled
hot path is therefore untouched: no flag is tested and nothing is recorded when no profile
is active. Only the outermost backend call is recorded (a method that calls another method,
like ``sum_to_shape`` -> ``reduce``, counts once), so per-kernel totals add up to the total.
Recording costs a few microseconds per call (after the clock stops, so it is not in the
kernel times, but it is in ``wall_us``). Only calls from the thread that entered the profile
are recorded; one profile at a time.

Times: on CPU, wall time (``perf_counter``) of the backend call, which includes the method's
Python dispatch and output allocation; on CUDA, the GPU time between two CUDA events recorded
around the call on the current stream (resolved when the profile exits). Bytes are the
footprints of the array arguments and results (inputs read + outputs written; the arrays an
in-place optimizer step updates count twice); FLOPs are known for matmul/linear (2·m·n·k) and
counted as one per element for elementwise ops and reductions. Both are estimates of the
work a kernel must do, not hardware counters.
"""

from __future__ import annotations

import functools
import inspect
import json
import sys
import threading
import time
import types
from typing import Any, Callable

__all__ = ["KernelRecord", "KernelStats", "Profile", "profile", "record_function"]

# Backend methods that are not kernels: storage, synchronisation, dispatchers whose work is
# another backend call (sum_to_shape -> reduce, recorded as itself).
_NOT_KERNELS = frozenset({"asarray", "to_numpy", "synchronize", "sum_to_shape",
                          "set_num_threads", "get_num_threads"})

# Arguments that in-place methods write (they count as read and written in ``bytes``).
_WRITTEN = {
    "sgd_step": ("params", "momentum_buffers"),
    "adam_step": ("params", "exp_avgs", "exp_avg_sqs", "max_exp_avg_sqs"),
    "rmsprop_step": ("params", "square_avgs", "grad_avgs", "momentum_buffers"),
    "adagrad_step": ("params", "state_sums"),
    "adadelta_step": ("params", "square_avgs", "acc_deltas"),
    "scale_": ("arrays",),
    "clamp_": ("arrays",),
    "batch_norm_forward": ("running_mean", "running_var"),
}

_ACTIVE: "Profile | None" = None
_LOCK = threading.Lock()


# ---- naming, bytes, FLOPs ---------------------------------------------------------------------
def _kernel_name(method: str, bound: dict) -> str:
    """The C++ kernel name of a call: generic methods are keyed by their op name."""
    op = bound.get("name")
    if isinstance(op, str):
        if method in ("unary_forward", "binary_forward"):
            return f"{op}_forward"
        if method in ("unary_backward", "binary_backward"):
            return f"{op}_backward"
        if method == "compare":
            return op
        if method == "reduce":
            return f"reduce_{op}"
        if method == "reduce_with_index":
            return f"reduce_{op}_with_index"
    return method


_ARRAY_TYPES: tuple = ()  # numpy.ndarray (and cupy.ndarray when CuPy is loaded), set on entry


def _array_types() -> tuple:
    import numpy

    cupy = sys.modules.get("cupy")
    return (numpy.ndarray,) + ((cupy.ndarray,) if cupy is not None else ())


def _footprint(a: Any) -> int:
    """Bytes an array occupies in memory: broadcast (stride-0) dims are read once."""
    strides = a.strides
    if 0 not in strides:
        return int(a.nbytes)
    n = a.itemsize
    for dim, st in zip(a.shape, strides):
        if st != 0:
            n *= dim
    return int(n) if a.size else 0


def _arrays(obj: Any) -> list:
    """Arrays in an argument or result: itself, or the members of a list/tuple (one level)."""
    if isinstance(obj, _ARRAY_TYPES):
        return [obj]
    if isinstance(obj, (list, tuple)):
        return [o for o in obj if isinstance(o, _ARRAY_TYPES)]
    return []


def _flops(method: str, bound: dict, out: Any) -> int | None:
    """Floating-point operations where known (see module docstring), else None."""
    outs = _arrays(out)
    first = next((a for v in bound.values() for a in _arrays(v)), None)
    if method in ("matmul", "linear_forward"):
        if not outs or first is None:
            return None
        n = 2 * outs[0].size * first.shape[-1]  # 2·m·n·k (times the batch for matmul)
        if method == "linear_forward" and bound.get("b") is not None:
            n += outs[0].size
        return int(n)
    if method in ("unary_forward", "binary_forward", "compare", "unary_backward",
                  "binary_backward"):
        return int(sum(o.size for o in outs))
    if method in ("reduce", "reduce_with_index", "var", "bias_grad"):
        return int(first.size) if first is not None else None
    return None


# ---- records ---------------------------------------------------------------------------------
class KernelRecord:
    """One kernel call: ``name``, ``method``, ``device``, ``shapes``, ``dtypes``, ``start_us``
    (host time since the profile began), ``time_us`` (CPU wall / CUDA event time),
    ``host_us`` (host wall time of the call), ``bytes`` and ``flops`` (None if unknown)."""

    __slots__ = ("name", "method", "device", "shapes", "dtypes", "start_us", "time_us",
                 "host_us", "bytes", "flops", "_events")

    def __init__(self, name: str, method: str, device: str, shapes: list, dtypes: list,
                 start_us: float, host_us: float, nbytes: int | None, flops: int | None,
                 events: Any = None) -> None:
        self.name, self.method, self.device = name, method, device
        self.shapes, self.dtypes = shapes, dtypes
        self.start_us, self.host_us, self.time_us = start_us, host_us, host_us
        self.bytes, self.flops = nbytes, flops
        self._events = events

    def __repr__(self) -> str:
        return (f"KernelRecord({self.name!r}, device={self.device!r}, shapes={self.shapes}, "
                f"time_us={self.time_us:.2f})")


class KernelStats:
    """Aggregate of the records of one kernel (and one device; one shape when grouped)."""

    __slots__ = ("name", "device", "shapes", "calls", "total_us", "min_us", "max_us", "bytes",
                 "flops", "_bytes_us", "_flops_us")

    def __init__(self, name: str, device: str, shapes: Any = None) -> None:
        self.name, self.device, self.shapes = name, device, shapes
        self.calls, self.total_us = 0, 0.0
        self.min_us, self.max_us = float("inf"), 0.0
        self.bytes, self.flops = 0, 0
        self._bytes_us = self._flops_us = 0.0  # time of the calls whose bytes/FLOPs are known

    def _add(self, r: KernelRecord) -> None:
        t = r.time_us
        self.calls += 1
        self.total_us += t
        self.min_us = min(self.min_us, t)
        self.max_us = max(self.max_us, t)
        if r.bytes is not None:
            self.bytes += r.bytes
            self._bytes_us += t
        if r.flops is not None:
            self.flops += r.flops
            self._flops_us += t

    @property
    def mean_us(self) -> float:
        return self.total_us / self.calls if self.calls else 0.0

    @property
    def gbps(self) -> float | None:
        """Bytes moved per second over the calls whose bytes are known, in GB/s."""
        return self.bytes / self._bytes_us / 1e3 if self._bytes_us > 0 and self.bytes else None

    @property
    def gflops(self) -> float | None:
        return self.flops / self._flops_us / 1e3 if self._flops_us > 0 and self.flops else None

    def as_dict(self) -> dict:
        shapes = None if self.shapes is None else _jsonable_shapes(self.shapes)
        return {"name": self.name, "device": self.device, "shapes": shapes,
                "calls": self.calls, "total_us": self.total_us, "mean_us": self.mean_us,
                "min_us": self.min_us if self.calls else 0.0, "max_us": self.max_us,
                "bytes": self.bytes, "flops": self.flops, "gbps": self.gbps,
                "gflops": self.gflops}

    def __repr__(self) -> str:
        return (f"KernelStats({self.name!r}, device={self.device!r}, calls={self.calls}, "
                f"total_us={self.total_us:.1f})")


_SORT_KEYS: dict[str, Callable[[KernelStats], Any]] = {
    "total": lambda s: -s.total_us,
    "calls": lambda s: (-s.calls, -s.total_us),
    "mean": lambda s: -s.mean_us,
    "name": lambda s: (s.name, s.device),
    "bytes": lambda s: -s.bytes,
    "flops": lambda s: -s.flops,
}


# ---- the profile -----------------------------------------------------------------------------
class Profile:
    """What ``profile()`` returns: the records of one profiled region and reports on them."""

    def __init__(self, record_shapes: bool = True) -> None:
        self.record_shapes = record_shapes
        self.records: list[KernelRecord] = []
        self.ranges: list[tuple[str, float, float]] = []  # record_function: (name, start, dur)
        self.wall_us = 0.0
        self._t0 = 0.0
        self._depth = 0
        self._thread = threading.get_ident()
        self._patched: list[tuple[Any, str, Any]] = []  # (owner, attr, original or _MISSING)
        self._cupy: Any = None

    # -- entering / leaving ----------------------------------------------------------------
    def __enter__(self) -> "Profile":
        global _ACTIVE
        with _LOCK:
            if _ACTIVE is not None:
                raise RuntimeError("fusegrad.profiler.profile() is already active: nested "
                                   "profiles are not supported (use record_function for "
                                   "ranges inside one profile)")
            _ACTIVE = self
        self._thread = threading.get_ident()
        global _ARRAY_TYPES
        _ARRAY_TYPES = _array_types()
        try:
            self._patch()
        except BaseException:
            self._unpatch()
            _ACTIVE = None
            raise
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: Any) -> None:
        global _ACTIVE
        self.wall_us = (time.perf_counter() - self._t0) * 1e6
        self._unpatch()
        _ACTIVE = None
        self._resolve_events()

    def _patch(self) -> None:
        """Wrap the kernel methods (see Note [profiler patching] in the module docstring)."""
        from fusegrad import backend as _be
        from fusegrad.backend.cpu import CPUBackend

        classes: list[type] = [CPUBackend]
        try:
            from fusegrad.backend.cuda import CUDABackend  # imports no CuPy
            classes.append(CUDABackend)
        except Exception:  # pragma: no cover - a broken optional module must not stop CPU use
            pass
        for be in list(_be._BACKENDS.values()):
            if type(be) not in classes:
                classes.append(type(be))
        for cls in classes:
            for attr in _kernel_methods(cls):
                original = cls.__dict__.get(attr, _MISSING)
                func = getattr(cls, attr)
                if getattr(func, "_fg_profiled", False):  # inherited from a class patched above
                    func = func.__wrapped__
                self._patched.append((cls, attr, original))
                setattr(cls, attr, _wrap(attr, func))
        # Instance attributes shadowing class methods (CUDABackend on multi-GPU machines binds
        # each method to its device at construction) are wrapped on the instance.
        for be in list(_be._BACKENDS.values()):
            for attr, value in list(vars(be).items()):
                if attr in _NOT_KERNELS or attr.startswith("_") or not callable(value):
                    continue
                if attr in _kernel_methods(type(be)):
                    self._patched.append((be, attr, value))
                    setattr(be, attr, _wrap_bound(attr, value, be))

    def _unpatch(self) -> None:
        for owner, attr, original in reversed(self._patched):
            if original is _MISSING:
                delattr(owner, attr)
            else:
                setattr(owner, attr, original)
        self._patched.clear()

    def _resolve_events(self) -> None:
        """CUDA records: replace the host time by the GPU time between their two events."""
        pending = [r for r in self.records if r._events is not None]
        if not pending:
            return
        pending[-1]._events[1].synchronize()
        for r in pending:
            start, end = r._events
            end.synchronize()
            r.time_us = self._cupy.cuda.get_elapsed_time(start, end) * 1e3
            r._events = None

    # -- recording -------------------------------------------------------------------------
    def _record(self, method: str, backend: Any, args: tuple, kwargs: dict, out: Any,
                t0: float, t1: float, func: Callable, events: Any) -> None:
        # Note: this runs on every profiled call, after the clock stopped; kept lean (no
        # inspect.bind) so that profiling a training epoch does not take many times longer.
        bound = _bind(func, args, kwargs)
        shapes, dtypes = [], []
        nbytes: int | None = 0
        for v in bound.values():
            if isinstance(v, _ARRAY_TYPES):
                shapes.append(v.shape)
                dtypes.append(v.dtype)
                nbytes += _footprint(v)
            elif isinstance(v, (list, tuple)) and v:
                arrs = _arrays(v)
                if arrs:
                    shapes.append(tuple(o.shape if isinstance(o, _ARRAY_TYPES) else None
                                        for o in v))
                    dtypes.append(arrs[0].dtype)
                    nbytes += sum(_footprint(o) for o in arrs)
        try:
            for a in _arrays(out):
                nbytes += _footprint(a)
            for name in _WRITTEN.get(method, ()):
                for a in _arrays(bound.get(name)):
                    nbytes += _footprint(a)
            flops = _flops(method, bound, out)
        except Exception:  # an unusual signature: keep the timing, drop the estimates
            nbytes, flops = None, None
        device = getattr(backend, "device", None) or getattr(backend, "name", "?")
        if not self.record_shapes:
            shapes, dtypes = [], []
        self.records.append(KernelRecord(_kernel_name(method, bound), method, device,
                                         tuple(shapes), tuple(dtypes), (t0 - self._t0) * 1e6,
                                         (t1 - t0) * 1e6, nbytes, flops, events))

    # -- reports ---------------------------------------------------------------------------
    @property
    def total_us(self) -> float:
        """Sum of the times of every recorded kernel call."""
        return float(sum(r.time_us for r in self.records))

    def key_averages(self, group_by_shape: bool = False) -> list[KernelStats]:
        """One ``KernelStats`` per (kernel name, device[, input shapes]), in first-call order."""
        stats: dict[tuple, KernelStats] = {}
        for r in self.records:
            shapes = r.shapes if group_by_shape else None
            key = (r.name, r.device, shapes)
            s = stats.get(key)
            if s is None:
                s = stats[key] = KernelStats(r.name, r.device, r.shapes if group_by_shape
                                             else None)
            s._add(r)
        return list(stats.values())

    def table(self, sort_by: str = "total", limit: int | None = None,
              group_by_shape: bool = False) -> str:
        """A text table: per kernel the calls, total ms, mean µs, % of the kernel total, GB/s
        and GFLOP/s (blank where unknown).

        Args:
            sort_by: "total" | "calls" | "mean" | "name" | "bytes" | "flops".
            limit: show at most this many rows (the footer still counts every call).
            group_by_shape: one row per kernel and input shapes.
        """
        if sort_by not in _SORT_KEYS:
            raise ValueError(f"sort_by must be one of {sorted(_SORT_KEYS)}, got {sort_by!r}")
        stats = sorted(self.key_averages(group_by_shape), key=_SORT_KEYS[sort_by])
        shown = stats if limit is None else stats[: max(0, int(limit))]
        total = self.total_us
        head = ["kernel", "device", "calls", "total ms", "mean us", "% total", "GB/s", "GFLOP/s"]
        if group_by_shape:
            head.insert(2, "shapes")
        rows = []
        for s in shown:
            row = [s.name, s.device, str(s.calls), f"{s.total_us / 1e3:.3f}",
                   f"{s.mean_us:.2f}", f"{100 * s.total_us / total:.1f}" if total else "-",
                   _fmt(s.gbps), _fmt(s.gflops)]
            if group_by_shape:
                row.insert(2, _shapes_str(s.shapes))
            rows.append(row)
        widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
                  for i, h in enumerate(head)]
        left = {0, 1, 2} if group_by_shape else {0, 1}

        def line(cells: list[str]) -> str:
            return "  ".join(c.ljust(w) if i in left else c.rjust(w)
                             for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

        out = [line(head), line(["-" * w for w in widths])]
        out += [line(r) for r in rows]
        if len(shown) < len(stats):
            out.append(f"... {len(stats) - len(shown)} more kernels")
        calls = len(self.records)
        timing = "CUDA events" if any(r.device.startswith("cuda") for r in self.records) \
            else "wall time of each backend call"
        out.append(f"{calls} kernel calls, {total / 1e3:.3f} ms in kernels of "
                   f"{self.wall_us / 1e3:.3f} ms profiled ({timing})")
        return "\n".join(out)

    def export_chrome_trace(self, path: str) -> None:
        """Write the records (and record_function ranges) as Chrome trace JSON: one complete
        event (``"ph": "X"``, ``ts``/``dur`` in µs) per call, shapes and estimates in args."""
        with open(path, "w") as f:
            json.dump(self.chrome_trace(), f)

    def chrome_trace(self) -> dict:
        """The Chrome trace document ``export_chrome_trace`` writes, as a dict."""
        events = []
        for r in self.records:
            events.append({"name": r.name, "cat": "kernel", "ph": "X", "ts": r.start_us,
                           "dur": r.time_us, "pid": 0, "tid": r.device,
                           "args": {"method": r.method, "device": r.device,
                                    "shapes": _jsonable_shapes(r.shapes),
                                    "dtypes": [None if d is None else str(d) for d in r.dtypes],
                                    "bytes": r.bytes, "flops": r.flops,
                                    "host_us": r.host_us}})
        for name, start, dur in self.ranges:
            events.append({"name": name, "cat": "user", "ph": "X", "ts": start, "dur": dur,
                           "pid": 0, "tid": "user", "args": {}})
        return {"traceEvents": events, "displayTimeUnit": "ms"}


_MISSING = object()


def _kernel_methods(cls: type) -> list[str]:
    """Public methods of a backend class (through its MRO) that are kernels: plain functions,
    and the native methods the CPU backend takes from ``_C.ElementwiseKernels``."""
    names = []
    for attr in dir(cls):
        if attr.startswith("_") or attr in _NOT_KERNELS:
            continue
        for klass in cls.__mro__:
            if attr in klass.__dict__:
                if isinstance(klass.__dict__[attr],
                              (types.FunctionType, types.MethodDescriptorType)):
                    names.append(attr)
                break
    return names


@functools.lru_cache(maxsize=None)
def _param_names(func: Callable) -> tuple[str, ...]:
    """Names of a method's positional parameters after ``self``."""
    code = getattr(func, "__code__", None)
    if code is not None:
        return code.co_varnames[1 : code.co_argcount]
    try:  # a native method: its signature comes from its docstring
        params = list(inspect.signature(func).parameters.values())[1:]
    except (TypeError, ValueError):
        return ()
    return tuple(p.name for p in params if p.kind is p.POSITIONAL_OR_KEYWORD)


def _bind(func: Callable, args: tuple, kwargs: dict) -> dict:
    """Arguments by parameter name (extra positionals as argN); defaults are not filled in."""
    names = _param_names(func)
    bound = dict(zip(names, args))
    for i in range(len(names), len(args)):
        bound[f"arg{i}"] = args[i]
    if kwargs:
        bound.update(kwargs)
    return bound


def _timed_call(method: str, func: Callable, self: Any, args: tuple, kwargs: dict,
                call: Callable[[], Any]) -> Any:
    prof = _ACTIVE
    if prof is None or prof._depth or threading.get_ident() != prof._thread:
        return call()
    prof._depth = 1
    events = None
    try:
        if getattr(self, "name", "cpu") == "cuda":
            cp = prof._cupy = prof._cupy or self.cp
            events = (cp.cuda.Event(), cp.cuda.Event())
            events[0].record()
        t0 = time.perf_counter()
        out = call()
        if events is not None:
            events[1].record()
        t1 = time.perf_counter()
    finally:
        prof._depth = 0
    prof._record(method, self, args, kwargs, out, t0, t1, func, events)
    return out


def _wrap(method: str, func: Callable) -> Callable:
    @functools.wraps(func)
    def profiled(self: Any, *args: Any, **kwargs: Any) -> Any:
        return _timed_call(method, func, self, args, kwargs, lambda: func(self, *args, **kwargs))

    profiled._fg_profiled = True  # type: ignore[attr-defined]
    return profiled


def _wrap_bound(method: str, bound_fn: Callable, backend: Any) -> Callable:
    func = getattr(type(backend), method)  # for the signature (self first)
    func = getattr(func, "__wrapped__", func)

    @functools.wraps(bound_fn)
    def profiled(*args: Any, **kwargs: Any) -> Any:
        return _timed_call(method, func, backend, args, kwargs, lambda: bound_fn(*args, **kwargs))

    return profiled


def _fmt(v: float | None) -> str:
    if v is None:
        return ""
    return f"{v:.3g}" if v < 100 else f"{v:.0f}"


def _is_list_arg(shape: Any) -> bool:
    """A list-of-arrays argument (a tuple of shapes) rather than one array's shape."""
    return bool(shape) and all(d is None or isinstance(d, tuple) for d in shape)


def _shapes_str(shapes: Any) -> str:
    return " ".join(f"[{len(s)} arrays]" if _is_list_arg(s)
                    else ("x".join(map(str, s)) if s else "()") for s in (shapes or ()))


def _jsonable_shapes(shapes: Any) -> list:
    return [[None if d is None else list(d) for d in s] if _is_list_arg(s) else list(s)
            for s in shapes]


# ---- public entry points ---------------------------------------------------------------------
def profile(record_shapes: bool = True) -> Profile:
    """Context manager recording every backend kernel call made inside it (see module doc).

    Args:
        record_shapes: keep each call's argument shapes and dtypes (needed for
            ``group_by_shape`` and the trace's args).

    Returns:
        A ``Profile``: ``.records``, ``.key_averages()``, ``.table()``, ``.total_us``,
        ``.export_chrome_trace(path)``.

    Raises:
        RuntimeError: entered while another profile is active.
    """
    return Profile(record_shapes=record_shapes)


class record_function:
    """Context manager (or decorator) marking a named range in the active profile's trace;
    does nothing when no profile is active. Ranges are not counted in kernel totals."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._prof: Profile | None = None
        self._t0 = 0.0

    def __enter__(self) -> "record_function":
        self._prof = _ACTIVE
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: Any) -> None:
        prof, self._prof = self._prof, None
        if prof is not None and prof is _ACTIVE:
            t1 = time.perf_counter()
            prof.ranges.append((self.name, (self._t0 - prof._t0) * 1e6, (t1 - self._t0) * 1e6))

    def __call__(self, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def ranged(*args: Any, **kwargs: Any) -> Any:
            with record_function(self.name):
                return fn(*args, **kwargs)

        return ranged
