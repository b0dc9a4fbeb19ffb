"""Elementwise kernels: fusegrad vs NumPy in one run, time, GB/s and ratio per kernel.

Rows: every unary forward op, every binary forward op (same shape, and a row-vector
broadcast), and the fused backward kernels against the NumPy expression they replace
(sigmoid: gy*y*(1-y), tanh: gy*(1-y*y), relu: gy*(x>0), ...). Sizes default to 4M elements
(past the last-level cache, so large ops are memory-bound). GB/s counts every array read
and written once. "ratio" = NumPy time / fusegrad time (> 1: fusegrad faster). "others" is
how many cores other processes kept busy during the row (rows with others > 0.3 are noisy).

--busy starts a process spinning on one core and reports fusegrad at 1 and 2 threads (and
NumPy) for a few kernels: what a 2-thread kernel does when another process holds a core.
Never asserts.

    PYTHONPATH=python FUSEGRAD_EXT_DIR=build-kernels python bench/bench_elementwise.py \
        [--threads N] [--size N] [--dtype float32|float64] [--quick] [--busy] [--json out.json]
        [--only pow,pow_scalar]
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (  # noqa: E402
    BusyMeter,
    clean_blas_env,
    fmt_time,
    gbps,
    measure,
    pause,
    print_table,
    spin_process,
    stop_process,
    write_json,
)

clean_blas_env()

import numpy as np  # noqa: E402

import fusegrad as fg  # noqa: E402
from fusegrad.backend import get_backend  # noqa: E402

BE = get_backend("cpu")


def _np_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def cases(n: int, dtype: np.dtype, quick: bool) -> list[tuple]:
    """(group, label, fusegrad fn, NumPy fn, arrays touched) for every row."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0.1, 2.0, n).astype(dtype)  # positive: log, sqrt, pow are defined
    xs = (x - dtype.type(1.0)).astype(dtype)  # both signs: relu, abs, clamp have work
    b = rng.uniform(0.5, 2.0, n).astype(dtype)
    gy = rng.standard_normal(n).astype(dtype)
    one = dtype.type(1)
    rows = []

    unary = {
        "neg": (xs, np.negative, (0.0, 0.0)),
        "exp": (xs, np.exp, (0.0, 0.0)),
        "log": (x, np.log, (0.0, 0.0)),
        "sqrt": (x, np.sqrt, (0.0, 0.0)),
        "abs": (xs, np.abs, (0.0, 0.0)),
        "tanh": (xs, np.tanh, (0.0, 0.0)),
        "sigmoid": (xs, _np_sigmoid, (0.0, 0.0)),
        "relu": (xs, lambda v: np.maximum(v, 0), (0.0, 0.0)),
        "leaky_relu": (xs, lambda v: np.where(v > 0, v, dtype.type(0.01) * v), (0.01, 0.0)),
        "clamp": (xs, lambda v: np.clip(v, -0.5, 0.5), (-0.5, 0.5)),
        "pow_scalar": (x, lambda v: np.power(v, dtype.type(2.5)), (2.5, 0.0)),
    }
    if quick:
        unary = {k: unary[k] for k in ("neg", "exp", "sigmoid", "relu")}
    for name, (arg, ref, (pa, pb)) in unary.items():
        rows.append(("unary fwd", name, lambda a=arg, nm=name, pa=pa, pb=pb:
                     BE.unary_forward(nm, a, pa, pb), lambda a=arg, r=ref: r(a), 2))

    binary = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide,
              "pow": np.power, "maximum": np.maximum, "minimum": np.minimum}
    if quick:
        binary = {k: binary[k] for k in ("add", "mul")}
    for name, ref in binary.items():
        rows.append(("binary fwd", name, lambda nm=name: BE.binary_forward(nm, x, b),
                     lambda r=ref: r(x, b), 3))
    # (n/1024, 1024) + (1024,): a bias row read through a zero stride, no broadcast copy
    m = x.reshape(-1, 1024)
    row = b[:1024]
    rows.append(("binary fwd", "add (M,1024)+(1024,)", lambda: BE.binary_forward("add", m, row),
                 lambda: np.add(m, row), 2))

    ys = BE.unary_forward("sigmoid", xs)
    yt = BE.unary_forward("tanh", xs)
    ye = BE.unary_forward("exp", xs)
    bwd = [
        ("sigmoid", xs, ys, lambda: gy * ys * (one - ys), 3),
        ("tanh", xs, yt, lambda: gy * (one - yt * yt), 3),
        ("relu", xs, xs, lambda: gy * (xs > 0), 3),
        ("exp", xs, ye, lambda: gy * ye, 3),
        ("leaky_relu", xs, xs, lambda: np.where(xs > 0, gy, dtype.type(0.01) * gy), 3),
    ]
    if quick:
        bwd = bwd[:3]
    for name, xx, yy, ref, arrays in bwd:
        pa = 0.01 if name == "leaky_relu" else 0.0
        rows.append(("fused bwd", name, lambda nm=name, xx=xx, yy=yy, pa=pa:
                     BE.unary_backward(nm, xx, yy, gy, pa), ref, arrays))
    # binary backward: both gradients in one pass vs two NumPy expressions
    rows.append(("fused bwd", "mul (ga, gb)",
                 lambda: BE.binary_backward("mul", x, b, None, gy, True, True),
                 lambda: (gy * b, gy * x), 5))
    rows.append(("fused bwd", "div (ga, gb)",
                 lambda: BE.binary_backward("div", x, b, None, gy, True, True),
                 lambda: (gy / b, -gy * x / (b * b)), 5))
    if not quick:
        yp = BE.binary_forward("pow", x, b)
        rows.append(("fused bwd", "pow (ga, gb)",
                     lambda: BE.binary_backward("pow", x, b, yp, gy, True, True),
                     lambda: (gy * b * np.power(x, b - one), gy * yp * np.log(x)), 6))
    rows.append(("fused bwd", "maximum (ga, gb)",
                 lambda: BE.binary_backward("maximum", x, b, None, gy, True, True),
                 lambda: (np.where(x == b, gy / 2, np.where(x < b, 0, gy)),
                          np.where(x == b, gy / 2, np.where(x > b, 0, gy))), 5))
    return rows


def run_rows(rows: list[tuple], n: int, itemsize: int, min_time: float) -> list[dict]:
    results = []
    for group, label, fg_fn, np_fn, arrays in rows:
        with BusyMeter() as busy:
            t_fg = measure(fg_fn, min_time=min_time)
            pause()
            t_np = measure(np_fn, min_time=min_time)
            pause()
        nbytes = arrays * n * itemsize
        results.append({
            "group": group, "kernel": label,
            "fusegrad_s": t_fg.median, "numpy_s": t_np.median,
            "fusegrad_gbps": gbps(nbytes, t_fg.median), "numpy_gbps": gbps(nbytes, t_np.median),
            "ratio": t_np.median / t_fg.median, "spread": max(t_fg.spread, t_np.spread),
            "others": busy.others,
        })
    return results


def print_results(results: list[dict], title: str) -> None:
    rows = [[r["group"], r["kernel"], fmt_time(r["fusegrad_s"]), r["fusegrad_gbps"],
             fmt_time(r["numpy_s"]), r["numpy_gbps"], r["ratio"], r["spread"], r["others"]]
            for r in results]
    print_table(["group", "kernel", "fusegrad", "GB/s", "numpy", "GB/s", "ratio", "spread",
                 "others"], rows, title)


def busy_demo(n: int, dtype: np.dtype, min_time: float) -> list[dict]:
    """fusegrad at 1 and 2 threads (and NumPy) while another process spins on one core."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal(n).astype(dtype)
    b = rng.standard_normal(n).astype(dtype)
    y = BE.unary_forward("sigmoid", x)
    kernels = [
        ("add", lambda: BE.binary_forward("add", x, b), lambda: np.add(x, b)),
        ("sigmoid fwd", lambda: BE.unary_forward("sigmoid", x), lambda: _np_sigmoid(x)),
        ("sigmoid bwd", lambda: BE.unary_backward("sigmoid", x, y, b),
         lambda: b * y * (1 - y)),
        ("sum", lambda: BE.reduce("sum", x, None, False), lambda: np.sum(x)),
    ]
    saved = fg.get_num_threads()
    results = []
    for spinning in (False, True):
        proc = spin_process(cpu=(os.cpu_count() or 1) - 1) if spinning else None
        try:
            for label, fg_fn, np_fn in kernels:
                times = {}
                with BusyMeter() as busy:
                    for nt in (1, 2):
                        fg.set_num_threads(nt)
                        times[nt] = measure(fg_fn, min_time=min_time)
                        pause()
                    times["np"] = measure(np_fn, min_time=min_time)
                    pause()
                results.append({"spinner": spinning, "kernel": label,
                                "fg_1t_s": times[1].median, "fg_2t_s": times[2].median,
                                "numpy_s": times["np"].median,
                                "spread_2t": times[2].spread, "others": busy.others})
        finally:
            fg.set_num_threads(saved)
            if proc is not None:
                stop_process(proc)
    rows = [["yes" if r["spinner"] else "no", r["kernel"], fmt_time(r["fg_1t_s"]),
             fmt_time(r["fg_2t_s"]), r["fg_1t_s"] / r["fg_2t_s"], fmt_time(r["numpy_s"]),
             r["spread_2t"], r["others"]] for r in results]
    print_table(["spinner", "kernel", "fg 1 thr", "fg 2 thr", "2t speed-up", "numpy",
                 "spread 2t", "others"], rows,
                f"one core busy (a spinning process), n={n}, {dtype}")
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=None, help="fusegrad threads (default: all)")
    ap.add_argument("--size", type=int, default=1 << 22, help="elements per array (4M)")
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--quick", action="store_true", help="fewer rows, shorter samples")
    ap.add_argument("--busy", action="store_true", help="only the one-core-busy comparison")
    ap.add_argument("--json", default=None, help="write results to this file")
    ap.add_argument("--only", default=None,
                    help="comma-separated kernel names: run only rows whose kernel starts with one")
    args = ap.parse_args()

    if args.threads is not None:
        fg.set_num_threads(args.threads)
    dtype = np.dtype(args.dtype)
    min_time = 0.02 if args.quick else 0.1
    n = args.size - args.size % 1024
    from fusegrad._ext import _C

    print(f"fusegrad elementwise: n={n} {dtype}, fusegrad threads={fg.get_num_threads()} "
          f"({_C.elementwise_isa()} build), NumPy {np.__version__} (single-threaded ufuncs), "
          f"cores={os.cpu_count()}")
    payload: dict = {"n": n, "dtype": str(dtype), "threads": fg.get_num_threads()}
    if args.busy:
        payload["busy"] = busy_demo(n, dtype, min_time)
    else:
        rows = cases(n, dtype, args.quick)
        if args.only:
            keep = tuple(k.strip() for k in args.only.split(","))
            rows = [r for r in rows if r[1].startswith(keep)]
        results = run_rows(rows, n, dtype.itemsize, min_time)
        print_results(results, "")
        payload["rows"] = results
    if args.json:
        write_json(args.json, payload)


if __name__ == "__main__":
    main()
