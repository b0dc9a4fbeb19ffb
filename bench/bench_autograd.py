"""Autograd overhead: a chain of 10 ops on 1-element tensors, forward + backward, per op.

fusegrad vs PyTorch CPU eager in the same run (issue 2: PyTorch needs about 10 us per op
here; fusegrad's budget is 4 us). The run also times a 1-element NumPy add to say how fast
this host is against the quiet reference figures of shared/BENCHMARKING.md. The chain mixes unary and binary ops the way a scalar
model does: mul, add, tanh, exp, sub, sigmoid, div, relu, mul, sum.

    python bench/bench_autograd.py [--repeat 2000] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from typing import Any, Callable

N_OPS = 10


def chain(lib: Any) -> Callable[[], None]:
    """One forward + backward of the chain; ``lib`` is fusegrad or torch (same names)."""
    x = lib.tensor([0.3], requires_grad=True)
    w = lib.tensor([1.2], requires_grad=True)

    def step() -> None:
        y = x * w
        y = y + 0.5
        y = y.tanh()
        y = y.exp()
        y = y - w
        y = y.sigmoid()
        y = y / 1.5
        y = y.relu()
        y = y * x
        y = y.sum()
        y.backward()
        x.grad = None
        w.grad = None

    return step


def time_per_op(step: Callable[[], None], repeat: int, samples: int = 7) -> tuple[float, float]:
    """Median and spread (max - min) of microseconds per op over ``samples`` blocks."""
    for _ in range(200):
        step()
    res = []
    for _ in range(samples):
        t0 = time.perf_counter()
        for _ in range(repeat):
            step()
        res.append((time.perf_counter() - t0) / repeat / N_OPS * 1e6)
    return statistics.median(res), max(res) - min(res)


# Quiet-run figures of the machine the budget was set on (shared/BENCHMARKING.md):
# PyTorch needed 11.7 us per op of this chain and NumPy 0.51 us for a 1-element add.
REF_TORCH_US = 11.7
REF_NUMPY_ADD_US = 0.51


def numpy_add_us(repeat: int = 20000, samples: int = 7) -> float:
    """Median microseconds of one NumPy add of two 1-element float32 arrays (host speed)."""
    import numpy as np

    a = np.ones(1, np.float32)
    b = np.ones(1, np.float32)
    add = np.add
    res = []
    for _ in range(samples):
        t0 = time.perf_counter()
        for _ in range(repeat):
            add(a, b)
        res.append((time.perf_counter() - t0) / repeat * 1e6)
    return statistics.median(res)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=2000)
    ap.add_argument("--json", default=None)
    ap.add_argument("--quick", action="store_true", help="few repeats (a smoke test)")
    args = ap.parse_args(argv)
    if args.quick:
        args.repeat = min(args.repeat, 50)

    import fusegrad as fg

    rows = {}
    rows["fusegrad"] = time_per_op(chain(fg), args.repeat)
    time.sleep(0.15)  # let spinning worker threads of the previous library settle
    try:
        import torch

        torch.set_num_threads(1)
        rows["pytorch"] = time_per_op(chain(torch), args.repeat)
    except ImportError:
        pass
    print(f"autograd overhead, chain of {N_OPS} ops on 1-element tensors (forward + backward)")
    print(f"{'library':<10} {'us/op':>8} {'spread':>8}")
    for name, (med, spread) in rows.items():
        print(f"{name:<10} {med:8.2f} {spread:8.2f}")
    if "pytorch" in rows:
        ratio = rows["pytorch"][0] / rows["fusegrad"][0]
        print(f"fusegrad is {ratio:.2f}x PyTorch (higher is faster)")
    # Host speed: per-op overhead is interpreter-bound and moves with the host's clock and
    # load, so the run also times a 1-element NumPy add next to its reference figure.
    np_add = numpy_add_us(max(args.repeat * 5, 200))
    line = f"host: NumPy 1-element add {np_add:.2f} us here, {REF_NUMPY_ADD_US} us on the reference host"
    if "pytorch" in rows:
        line += f"; PyTorch {rows['pytorch'][0]:.1f} us/op here, {REF_TORCH_US} there"
    print(line)
    out = {k: {"us_per_op": v[0], "spread": v[1]} for k, v in rows.items()}
    out["numpy_add_us"] = np_add
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
    return out


if __name__ == "__main__":
    main(sys.argv[1:])
