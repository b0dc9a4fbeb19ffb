"""Stand-ins that let backend/cuda.py run on a machine without a GPU (test support).

- ``FakeArray``: a NumPy array that answers ``.data.ptr`` / ``.get()`` / ``.set()`` like CuPy.
- ``make_fake_cupy(on_launch)``: the slice of the CuPy API the backend uses, on NumPy; every
  kernel launch goes to ``on_launch(name, grid, block, args)``. Streams can "capture": launches
  and array-producing calls are recorded and a graph replays them (``CAPTURE``).
- ``kernel_signatures()``: each extern "C" kernel's C parameter types, from ``g++ -E``.
- ``Emulator``: csrc/cuda/*.cu compiled as C++ against tests/backend/cuda_emu.h (threads for
  CUDA threads, barriers for __syncthreads and warp shuffles) into a shared library, so the
  kernels really run; ``emulated_backend()`` is a CUDABackend whose launches execute there.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

import numpy as np

from fusegrad.backend import cuda as cb

CSRC = Path(__file__).resolve().parents[2] / "csrc"
EMU_HEADER = Path(__file__).resolve().parent / "cuda_emu.h"


class FakeArray(np.ndarray):
    """A NumPy array that answers ``.data.ptr``, ``.get()`` and ``.set()`` like a CuPy array."""

    @property
    def data(self) -> Any:  # type: ignore[override]
        return SimpleNamespace(ptr=self.__array_interface__["data"][0])

    def get(self) -> np.ndarray:
        return np.array(self, copy=True).view(np.ndarray)

    def set(self, a: Any) -> None:
        np.ndarray.__setitem__(self, ..., a)

    # Array methods that compute data are CuPy kernels: recorded while capturing (CAPTURE).
    def copy(self, order: str = "C") -> FakeArray:  # type: ignore[override]
        r = np.ndarray.copy(self, order)
        CAPTURE.call(lambda a: np.ndarray.copy(a, order), (self,), {}, r)
        return r

    def astype(self, dtype: Any, *a: Any, **k: Any) -> FakeArray:  # type: ignore[override]
        r = np.ndarray.astype(self, dtype, *a, **k)
        if r is not self:
            CAPTURE.call(lambda x: np.ndarray.astype(x, dtype, *a, **k), (self,), {}, r)
        return r

    def fill(self, value: Any) -> None:
        np.ndarray.fill(self, value)
        if CAPTURE.active:
            CAPTURE.entries.append(lambda: np.ndarray.fill(self, value))

    def __setitem__(self, key: Any, value: Any) -> None:
        np.ndarray.__setitem__(self, key, value)
        if CAPTURE.active:
            CAPTURE.entries.append(lambda: np.ndarray.__setitem__(self, key, value))


def fa(a: Any) -> FakeArray:
    return np.asarray(a).view(FakeArray)


class _CaptureLog:
    """Stream capture on the stand-in: while active, kernel launches and array-producing calls
    are recorded (launches are not run, as on a GPU); a graph replays them in order, each
    array call writing into the array it produced during capture."""

    def __init__(self) -> None:
        self.entries: list[Callable[[], None]] | None = None

    @property
    def active(self) -> bool:
        return self.entries is not None

    def launch(self, run: Callable, name: str, grid: tuple, block: tuple, args: tuple) -> None:
        if self.entries is None:
            run(name, grid, block, args)
        else:
            self.entries.append(lambda: run(name, grid, block, args))

    def call(self, f: Callable, a: tuple, k: dict, result: Any) -> None:
        if self.entries is None or not isinstance(result, np.ndarray):
            return
        if any(isinstance(v, np.ndarray) and np.shares_memory(v, result) for v in a):
            return  # a view of an input: nothing to recompute
        self.entries.append(lambda: np.copyto(result, f(*a, **k)))


CAPTURE = _CaptureLog()


def make_fake_cupy(on_launch: Callable[[str, tuple, tuple, tuple], None]) -> Any:
    def wrap(f, record=True):  # record=False: allocation only (no data to recompute)
        def call(*a, **k):
            r = fa(f(*a, **k))
            if record:
                CAPTURE.call(f, a, k, r)
            return r

        return call

    class _Dev:
        def __enter__(self):
            return self

        def __exit__(self, *a):
            return False

        def synchronize(self):
            pass

    class _Module:
        def __init__(self, code: str, options: tuple) -> None:
            assert any(o.startswith("-I") for o in options) and "-std=c++17" in options
            assert any(o in ("-DFG_CUDA_DTYPE_F32", "-DFG_CUDA_DTYPE_F64") for o in options)

        def get_function(self, name: str) -> Callable:
            return lambda grid, block, args: on_launch(name, grid, block, args)

    class _Graph:
        def __init__(self, entries: list) -> None:
            self.entries = entries

        def launch(self, stream: Any = None) -> None:
            for e in self.entries:
                e()

    class _Stream(_Dev):
        def __init__(self, non_blocking: bool = False) -> None:
            pass

        def begin_capture(self) -> None:
            CAPTURE.entries = []

        def end_capture(self) -> _Graph:
            entries, CAPTURE.entries = CAPTURE.entries, None
            return _Graph(entries)

    cuda = SimpleNamespace(Device=lambda i=0: _Dev(), Stream=_Stream,
                           get_current_stream=lambda: SimpleNamespace(synchronize=lambda: None),
                           MemoryPool=lambda: SimpleNamespace(malloc=None),
                           using_allocator=lambda malloc: _Dev())

    class _FakeCupy(SimpleNamespace):
        """Anything not listed falls back to NumPy (array results become FakeArrays), as the
        autograd layer uses ``xp`` like NumPy (broadcast_to, where, concatenate, ...)."""

        def __getattr__(self, name: str) -> Any:
            f = getattr(np, name)
            if not callable(f) or isinstance(f, type):
                return f

            def call(*a, **k):
                r = f(*a, **k)
                if isinstance(r, np.ndarray):
                    r = fa(r)
                    CAPTURE.call(f, a, k, r)
                    return r
                if isinstance(r, (tuple, list)):
                    return type(r)(fa(v) if isinstance(v, np.ndarray) else v for v in r)
                return r

            return call

    return _FakeCupy(
        ndarray=FakeArray, cuda=cuda, RawModule=_Module,
        asarray=wrap(lambda a, dtype=None: np.array(np.asarray(a), dtype=dtype)),
        array=wrap(lambda a, copy=True: np.array(a, copy=copy)),
        empty=wrap(np.empty, False), empty_like=wrap(np.empty_like, False), zeros=wrap(np.zeros),
        zeros_like=wrap(np.zeros_like), full=wrap(np.full),
        ascontiguousarray=wrap(lambda a, dtype=None: np.ascontiguousarray(a, dtype=dtype)),
        moveaxis=wrap(np.moveaxis), broadcast_to=wrap(np.broadcast_to), matmul=wrap(np.matmul),
    )


def fake_backend(on_launch: Callable[[str, tuple, tuple, tuple], None]) -> cb.CUDABackend:
    """A CUDABackend on the fake CuPy (no device, no CuPy involved)."""
    be = object.__new__(cb.CUDABackend)
    fake = make_fake_cupy(lambda *x: CAPTURE.launch(on_launch, *x))
    be.cp = be.xp = fake
    be.device, be.index = "cuda", 0
    be._dev = fake.cuda.Device(0)
    be._fns, be._meta, be._layouts = {}, {}, {}
    be._sync, be._capture = False, None
    return be


def _cxx() -> str | None:
    return shutil.which("g++") or shutil.which("c++")


def kernel_signatures() -> dict[str, list[str]]:
    """{kernel name: [C parameter types]} for every extern "C" kernel in csrc/cuda."""
    cxx = _cxx()
    if cxx is None:
        raise FileNotFoundError("no C++ compiler")
    sigs: dict[str, list[str]] = {}
    for src in sorted((CSRC / "cuda").glob("*.cu")):
        out = subprocess.run([cxx, "-E", "-P", "-x", "c++", "-std=c++17", "-I", str(CSRC),
                              str(src)], capture_output=True, text=True, check=True).stdout
        for name, params in re.findall(
                r'extern\s+"C"\s+__global__\s+void\s+(\w+)\s*\(([^)]*)\)', out):
            sigs[name] = [" ".join(p.split()[:-1]) for p in params.split(",") if p.strip()]
    return sigs


_CTYPE = {np.float32: ctypes.c_float, np.float64: ctypes.c_double, np.int32: ctypes.c_int32,
          np.int64: ctypes.c_int64, np.uint64: ctypes.c_uint64}


class Emulator:
    """csrc/cuda/*.cu built for the CPU emulation of CUDA; ``launch`` runs one kernel."""

    def __init__(self) -> None:
        cxx = _cxx()
        if cxx is None:
            raise FileNotFoundError("no C++ compiler")
        self.sigs = kernel_signatures()
        sources = sorted((CSRC / "cuda").glob("*.cu"))
        h = hashlib.sha1(EMU_HEADER.read_bytes())
        for p in sorted([*sources, *(CSRC / "math").glob("*.h"), CSRC / "cuda" / "common.cuh"]):
            h.update(p.read_bytes())
        cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / \
            "fusegrad-cuda-emu" / h.hexdigest()[:16]
        lib = cache / "libfgemu.so"
        if not lib.exists():
            cache.mkdir(parents=True, exist_ok=True)
            wrappers = cache / "wrappers.cpp"
            lines = [f'#include "{EMU_HEADER}"']
            for name, params in self.sigs.items():
                decl = ", ".join(f"{t} a{i}" for i, t in enumerate(params))
                call = ", ".join(f"*({t}*)a[{i}]" for i, t in enumerate(params))
                lines.append(f'extern "C" void {name}({decl});')
                lines.append(
                    f'extern "C" void emu_{name}(unsigned gx, unsigned gy, unsigned gz, '
                    f'unsigned bx, unsigned by, unsigned bz, void** a) {{ fg_emu::launch('
                    f'dim3{{gx, gy, gz}}, dim3{{bx, by, bz}}, [&] {{ {name}({call}); }}); }}')
            wrappers.write_text("\n".join(lines) + "\n")
            tmp = cache / f"libfgemu.{os.getpid()}.so"
            cmd = [cxx, "-std=c++20", "-O1", "-fPIC", "-shared", "-pthread", "-w",
                   "-include", str(EMU_HEADER), "-I", str(CSRC), "-x", "c++",
                   *map(str, sources), str(wrappers), "-o", str(tmp)]
            subprocess.run(cmd, check=True, capture_output=True, text=True)
            os.replace(tmp, lib)
        self.lib = ctypes.CDLL(str(lib))

    def launch(self, name: str, grid: tuple, block: tuple, args: tuple) -> None:
        params = self.sigs[name]
        assert len(args) == len(params), f"{name}: {len(args)} args for {len(params)} params"
        keep = []
        for a, t in zip(args, params):
            if isinstance(a, np.ndarray):
                keep.append(ctypes.c_void_p(a.__array_interface__["data"][0]))
            else:
                keep.append(_CTYPE[type(a)](a))
        ptrs = (ctypes.c_void_p * max(1, len(keep)))(
            *[ctypes.cast(ctypes.pointer(k), ctypes.c_void_p) for k in keep])
        g = tuple(grid) + (1,) * (3 - len(grid))
        b = tuple(block) + (1,) * (3 - len(block))
        getattr(self.lib, f"emu_{name}")(*(ctypes.c_uint(int(v)) for v in g + b), ptrs)


def emulated_backend(emu: Emulator) -> cb.CUDABackend:
    """A CUDABackend whose kernels run in the emulator (NumPy storage, np.matmul for cuBLAS)."""
    return fake_backend(emu.launch)
