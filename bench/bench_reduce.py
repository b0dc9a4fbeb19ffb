"""Reductions: fusegrad vs NumPy in one run, time, GB/s and ratio per kernel.

Rows: sum / mean / max over all elements, sum over rows (last axis) and over columns (axis 0
of a C-contiguous matrix: bias gradients, un-broadcasting), var over all and over axis 0
(batch statistics), argmax along the last axis, and sum_to_shape of a broadcast gradient.
GB/s counts the input read once (outputs are small). "ratio" = NumPy time / fusegrad time
(> 1: fusegrad faster); NumPy's var makes temporaries, which is part of what is compared.
"others" is how many cores other processes kept busy during the row. Never asserts.

    PYTHONPATH=python FUSEGRAD_EXT_DIR=build-kernels python bench/bench_reduce.py \
        [--threads N] [--size N] [--dtype float32|float64] [--quick] [--json out.json]
        [--only "sum cols"]
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
    write_json,
)

clean_blas_env()

import numpy as np  # noqa: E402

import fusegrad as fg  # noqa: E402
from fusegrad.backend import get_backend  # noqa: E402

BE = get_backend("cpu")


def cases(n: int, dtype: np.dtype, quick: bool) -> list[tuple]:
    """(label, fusegrad fn, NumPy fn, elements read) for every row."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(n).astype(dtype)
    cols = 1024
    m = x.reshape(-1, cols)  # (n/1024, 1024)
    tall = x.reshape(-1, 16)  # many short rows
    rows = [
        ("sum all", lambda: BE.reduce("sum", x, None, False), lambda: np.sum(x)),
        ("mean all", lambda: BE.reduce("mean", x, None, False), lambda: np.mean(x)),
        ("max all", lambda: BE.reduce("max", x, None, False), lambda: np.max(x)),
        ("sum rows (M,1024)->(M,)", lambda: BE.reduce("sum", m, 1, False),
         lambda: np.sum(m, axis=1)),
        ("sum cols (M,1024)->(1024,)", lambda: BE.reduce("sum", m, 0, False),
         lambda: np.sum(m, axis=0)),
        ("sum rows (M,16)->(M,)", lambda: BE.reduce("sum", tall, 1, False),
         lambda: np.sum(tall, axis=1)),
        ("var all", lambda: BE.var(x, None, 1, False), lambda: np.var(x, ddof=1)),
        ("var cols (M,1024)->(1024,)", lambda: BE.var(m, 0, 1, False),
         lambda: np.var(m, axis=0, ddof=1)),
        ("argmax rows (M,1024)", lambda: BE.reduce_with_index("max", m, 1, False),
         lambda: (np.max(m, axis=1), np.argmax(m, axis=1))),
        ("sum_to_shape (M,1024)->(1,1024)", lambda: BE.sum_to_shape(m, (1, cols)),
         lambda: np.sum(m, axis=0, keepdims=True)),
    ]
    if quick:
        rows = [r for r in rows if r[0].split()[0] in ("sum", "var")][:5]
    return [(label, f, g, n) for label, f, g in rows]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=None, help="fusegrad threads (default: all)")
    ap.add_argument("--size", type=int, default=1 << 22, help="elements (4M)")
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--quick", action="store_true", help="fewer rows, shorter samples")
    ap.add_argument("--json", default=None, help="write results to this file")
    ap.add_argument("--only", default=None,
                    help="comma-separated kernel names: run only rows whose kernel starts with one")
    args = ap.parse_args()

    if args.threads is not None:
        fg.set_num_threads(args.threads)
    dtype = np.dtype(args.dtype)
    n = args.size - args.size % 1024
    min_time = 0.02 if args.quick else 0.1
    print(f"fusegrad reductions: n={n} {dtype}, fusegrad threads={fg.get_num_threads()}, "
          f"NumPy {np.__version__}, cores={os.cpu_count()}")
    results = []
    rows = cases(n, dtype, args.quick)
    if args.only:
        keep = tuple(k.strip() for k in args.only.split(","))
        rows = [r for r in rows if r[0].startswith(keep)]
    for label, fg_fn, np_fn, elems in rows:
        with BusyMeter() as busy:
            t_fg = measure(fg_fn, min_time=min_time)
            pause()
            t_np = measure(np_fn, min_time=min_time)
            pause()
        nbytes = elems * dtype.itemsize
        results.append({"kernel": label, "fusegrad_s": t_fg.median, "numpy_s": t_np.median,
                        "fusegrad_gbps": gbps(nbytes, t_fg.median),
                        "numpy_gbps": gbps(nbytes, t_np.median),
                        "ratio": t_np.median / t_fg.median,
                        "spread": max(t_fg.spread, t_np.spread), "others": busy.others})
    print_table(["kernel", "fusegrad", "GB/s", "numpy", "GB/s", "ratio", "spread", "others"],
                [[r["kernel"], fmt_time(r["fusegrad_s"]), r["fusegrad_gbps"],
                  fmt_time(r["numpy_s"]), r["numpy_gbps"], r["ratio"], r["spread"],
                  r["others"]] for r in results])
    if args.json:
        write_json(args.json, {"n": n, "dtype": str(dtype), "threads": fg.get_num_threads(),
                               "rows": results})


if __name__ == "__main__":
    main()
