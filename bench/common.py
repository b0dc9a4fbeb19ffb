"""Shared helpers for every bench/bench_<family>.py (BENCHMARKING.md is the method).

- ``measure(fn)``: warm-up, a repeat count calibrated to ``min_time`` per sample, several
  samples; returns the median, best and relative spread of seconds per call.
- ``pause()``: ~0.15 s between blocks of different libraries (spinning OpenBLAS / OpenMP
  workers of the previous library would otherwise steal the next one's core).
- ``BusyMeter``: how many cores OTHER processes kept busy during a block (from /proc/stat,
  minus this process's own CPU time); rows measured with others > ~0.3 are noisy.
- ``gbps`` / ``gflops`` / ``fmt_time``: units; ``print_table``: a plain aligned table;
  ``write_json``: optional machine-readable output.
- ``clean_blas_env()``: re-exec without OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE (they force a
  slow OpenBLAS kernel); ``spin_process(cpu)``: a busy-looping child pinned to one core,
  to show what happens when another process holds a core.
Benchmarks never assert.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Sequence

PAUSE_S = 0.15


@dataclass
class Stats:
    median: float  # seconds per call
    best: float
    spread: float  # (max - min) / median of the samples
    calls: int  # calls per sample


def measure(fn: Callable[[], Any], *, min_time: float = 0.05, samples: int = 5,
            warmup: int = 2) -> Stats:
    """Seconds per call of ``fn``: ``samples`` samples of >= ``min_time`` s after warm-up."""
    for _ in range(warmup):
        fn()
    t0 = time.perf_counter()
    fn()
    one = max(time.perf_counter() - t0, 1e-7)
    calls = max(1, int(min_time / one))
    times = []
    for _ in range(samples):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        times.append((time.perf_counter() - t0) / calls)
    med = statistics.median(times)
    return Stats(med, min(times), (max(times) - min(times)) / med if med > 0 else 0.0, calls)


def pause(seconds: float = PAUSE_S) -> None:
    """Sleep between blocks of different libraries (their worker threads may still spin)."""
    time.sleep(seconds)


def _proc_stat() -> tuple[float, float]:
    """(busy, total) jiffies summed over all cores."""
    with open("/proc/stat") as f:
        v = [float(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return sum(v) - idle, sum(v)


class BusyMeter:
    """Context manager: ``others`` = cores kept busy by other processes during the block."""

    def __enter__(self) -> "BusyMeter":
        self.others = float("nan")
        try:
            self._stat0 = _proc_stat()
        except OSError:
            self._stat0 = None
        self._cpu0 = time.process_time()
        self._wall0 = time.perf_counter()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._stat0 is None:
            return
        busy1, total1 = _proc_stat()
        wall = time.perf_counter() - self._wall0
        if wall <= 0:
            return
        ncpu = os.cpu_count() or 1
        jiffies = total1 - self._stat0[1]
        if jiffies <= 0:
            return
        busy_cores = (busy1 - self._stat0[0]) / jiffies * ncpu
        own_cores = (time.process_time() - self._cpu0) / wall
        self.others = max(0.0, busy_cores - own_cores)


def gbps(nbytes: float, seconds: float) -> float:
    return nbytes / seconds / 1e9 if seconds > 0 else float("nan")


def gflops(flops: float, seconds: float) -> float:
    return flops / seconds / 1e9 if seconds > 0 else float("nan")


def fmt_time(seconds: float) -> str:
    if seconds != seconds:
        return "nan"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    if seconds >= 1e-6:
        return f"{seconds * 1e6:.1f} us"
    return f"{seconds * 1e9:.0f} ns"


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], title: str = "") -> None:
    """Print rows as an aligned plain-text table (floats with 2 decimals)."""
    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.2f}"
        return str(v)

    cells = [[cell(v) for v in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h)
              for i, h in enumerate(headers)]
    if title:
        print(f"\n{title}")
    pairs = list(zip(headers, widths))
    print("  ".join(h.rjust(w) if i else h.ljust(w) for i, (h, w) in enumerate(pairs)))
    print("  ".join("-" * w for w in widths))
    for r in cells:
        print("  ".join(v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(r, widths))))
    sys.stdout.flush()


def write_json(path: str, payload: Any) -> None:
    """Write results (dataclasses converted) as indented JSON."""
    def conv(o: Any) -> Any:
        if hasattr(o, "__dataclass_fields__"):
            return asdict(o)
        raise TypeError(f"not JSON serialisable: {type(o).__name__}")

    with open(path, "w") as f:
        json.dump(payload, f, indent=2, default=conv)
    print(f"wrote {path}")


def clean_blas_env() -> None:
    """Re-exec this script without OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE (before NumPy loads)."""
    bad = [k for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ]
    if not bad:
        return
    print(f"note: removing {', '.join(bad)} from this benchmark's environment (slow kernel)")
    env = {k: v for k, v in os.environ.items() if k not in bad}
    os.execve(sys.executable, [sys.executable, *sys.argv], env)


def spin_process(cpu: int | None = None) -> subprocess.Popen:
    """Start a child that busy-loops (pinned to ``cpu`` when given) until terminated."""
    code = (
        "import os, sys\n"
        f"cpu = {cpu!r}\n"
        "if cpu is not None and hasattr(os, 'sched_setaffinity'):\n"
        "    os.sched_setaffinity(0, {cpu})\n"
        "x = 0\n"
        "while True:\n"
        "    x += 1\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code])
    time.sleep(0.2)  # let it start spinning
    return proc


def stop_process(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()


# ---- machine references (added by the profiler/harness engineer) ----------------------------
# One place for the two ceilings every table's "%" column divides by: memory bandwidth (a
# STREAM triad measured in the same run) and float32 FLOP/s (estimated from a measured
# FMA-throughput loop). Both are per process and cached: call them after setting the thread
# count (fg.set_num_threads / OMP_NUM_THREADS), as the suites' children do.
_TRIAD_CACHE: dict = {}


def measure_triad(n: int = 1 << 24, min_time: float = 0.2) -> dict:
    """STREAM triad a = b + s*c over ``n`` float32 elements; returns ``{"gbps", "label", ...}``.

    Uses fusegrad's C++ kernel ``_C.stream_triad`` (one pass, threaded like our kernels, at the
    current fusegrad thread count) and counts 12 bytes per element as STREAM does (the
    write-allocate read of ``a`` is not counted). Without it, falls back to NumPy
    ``np.multiply(c, s, out=a); a += b`` — two passes, 20 bytes per element really moved but
    labelled as such, and roughly half the one-pass figure.
    """
    import numpy as np

    try:
        from fusegrad._ext import _C

        kernel = getattr(_C, "stream_triad", None)
        threads = int(_C.get_num_threads())
    except Exception:  # no extension built: NumPy reference only
        kernel, threads = None, 1
    key = (n, kernel is not None, threads)
    if key in _TRIAD_CACHE:
        return _TRIAD_CACHE[key]
    b = np.full(n, 1.0, np.float32)
    c = np.full(n, 2.0, np.float32)
    a = np.zeros(n, np.float32)
    if kernel is not None:
        st = measure(lambda: kernel(a, b, c, 3.0), min_time=min_time, samples=5)
        res = {"gbps": gbps(12 * n, st.median), "label": f"STREAM triad (fusegrad C++, "
               f"{threads} thread{'s' if threads > 1 else ''})", "bytes_per_element": 12}
    else:
        def two_pass() -> None:
            np.multiply(c, 3.0, out=a)
            a += b

        st = measure(two_pass, min_time=min_time, samples=5)
        res = {"gbps": gbps(20 * n, st.median), "label": "triad (NumPy, two passes: 20 B/elem)",
               "bytes_per_element": 20}
    res.update(n=n, threads=threads, spread=st.spread)
    _TRIAD_CACHE[key] = res
    return res


FMA_UNITS = 2  # 512-bit FMA ports per core on this Xeon class (Sapphire Rapids: ports 0 and 5)


def cpu_mhz() -> float | None:
    """The clock /proc/cpuinfo reports for the first core (None when unreadable)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("cpu MHz"):
                    return float(line.split(":")[1])
    except (OSError, ValueError):
        pass
    return None


def peak_gflops(threads: int = 1, dtype: str = "float32") -> dict:
    """Estimated peak FLOP/s: threads × FMA units × lanes × 2 × clock; ``{"gflops", "label"}``.

    The per-core figure is measured by the GEMM engineer's FMA-throughput loop
    (``_C.gemm_fma_peak_gflops``: the clock under full vector-FMA load) when the extension has
    it, else estimated from /proc/cpuinfo's clock with 16 float32 lanes (AVX-512). float64
    halves it.
    """
    per_core, label = None, ""
    try:
        from fusegrad._ext import _C

        per_core = float(_C.gemm_fma_peak_gflops())
        label = f"measured FMA loop ({_C.gemm_isa()})"
    except Exception:
        mhz = cpu_mhz()
        if mhz:
            per_core = FMA_UNITS * 16 * 2 * mhz / 1e3
            label = f"{FMA_UNITS} FMA × 16 lanes × 2 × {mhz / 1e3:.2f} GHz (/proc/cpuinfo)"
    if per_core is None:
        return {"gflops": float("nan"), "label": "unknown", "threads": threads}
    g = per_core * threads / (2 if dtype == "float64" else 1)
    return {"gflops": g, "per_core": per_core, "threads": threads, "dtype": dtype,
            "label": f"estimated peak, {label}"}
