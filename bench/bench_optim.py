"""Optimizer step throughput: fusegrad's fused steps vs PyTorch (foreach and fused) in one run.

For one 10M-parameter float32 tensor and for the parameter list of a 784-512-512-10 MLP, each
optimizer reports ms/step, effective GB/s (bytes read + written by the update: Adam reads
param, grad, exp_avg, exp_avg_sq and writes three of them = 28 B per float32 parameter) and
% of a STREAM triad (a = b + s*c, C++ and threaded like our kernels, measured in the same
process), at 1 and 2 threads (each thread count runs in its own process so that OpenMP and
torch start with that many threads). The implementations of one row are timed in alternating
rounds (--rounds, the order rotating each round) so that a slow stretch of a shared machine
does not land on one library only; a row reports the best time over all rounds and the median
of the rounds' medians. Each library's block is followed by a 0.15 s pause (BENCHMARKING.md:
spinning OpenMP workers slow the next block).
"others" is how many cores other processes kept busy during the row (from /proc/stat);
rows with others > 0.3 are noisy. Never asserts.

    PYTHONPATH=python FUSEGRAD_EXT_DIR=build-optim python bench/bench_optim.py [--threads 1,2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

# bytes moved per parameter element, in units of the element size: reads + writes
TRAFFIC = {"sgd": 3, "sgd_momentum": 5, "adam": 7, "adamw": 7, "rmsprop": 5, "adagrad": 5,
           "adadelta": 7}
OPTIMIZERS = {  # name -> (class name, kwargs) in both libraries
    "sgd": ("SGD", dict(lr=0.01)),
    "sgd_momentum": ("SGD", dict(lr=0.01, momentum=0.9)),
    "adam": ("Adam", dict(lr=1e-3)),
    "adamw": ("AdamW", dict(lr=1e-3)),
    "rmsprop": ("RMSprop", dict(lr=1e-3)),
    "adagrad": ("Adagrad", dict(lr=1e-2)),
    "adadelta": ("Adadelta", dict()),
}
MLP_SHAPES = [(512, 784), (512,), (512, 512), (512,), (10, 512), (10,)]


def _cpu_busy() -> tuple[float, float]:
    with open("/proc/stat") as f:
        v = [float(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return sum(v) - idle, sum(v)


def _timed(fn, repeats: int, min_time: float = 0.3) -> tuple[float, float]:
    """(best, median) seconds per call; calls repeated until min_time per sample."""
    fn()
    fn()
    t = time.perf_counter()
    fn()
    one = max(time.perf_counter() - t, 1e-6)
    inner = max(1, int(min_time / repeats / one))
    samples = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(inner):
            fn()
        samples.append((time.perf_counter() - t) / inner)
    samples.sort()
    return samples[0], samples[len(samples) // 2]


def _row(fn, repeats):
    b0, t0 = _cpu_busy()
    c0 = time.process_time()
    w0 = time.perf_counter()
    best, med = _timed(fn, repeats)
    wall = time.perf_counter() - w0
    b1, t1 = _cpu_busy()
    own = (time.process_time() - c0) / wall
    ticks = os.sysconf("SC_CLK_TCK")
    busy = (b1 - b0) / ticks / wall
    time.sleep(0.15)
    return best, med, max(0.0, busy - own)


def _rounds(fns: dict, repeats: int, rounds: int) -> dict:
    """{impl: (best, median, others)} over `rounds` alternating rounds of every impl."""
    got: dict = {k: [] for k in fns}
    order = list(fns)
    for r in range(rounds):
        for k in order[r % len(order):] + order[:r % len(order)]:
            got[k].append(_row(fns[k], repeats))
    out = {}
    for k, rows in got.items():
        meds = sorted(m for _, m, _ in rows)
        out[k] = (min(b for b, _, _ in rows), meds[len(meds) // 2], max(o for _, _, o in rows))
    return out


def child(threads: int, repeats: int, cases: list[str], names: list[str],
          rounds: int = 3) -> None:
    import numpy as np
    import torch

    import fusegrad as fg
    from fusegrad import optim
    from fusegrad._ext import _C

    torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    n = 10_000_000
    a, b, c = (np.empty(n, np.float32), rng.random(n, dtype=np.float32),
               rng.random(n, dtype=np.float32))
    best, _, others = _row(lambda: _C.stream_triad(a, b, c, 3.0), repeats)
    triad = 12 * n / best / 1e9
    del a, b, c
    print(json.dumps(dict(kind="triad", threads=threads, gbs=triad, others=others,
                          isa=_C.optim_isa())), flush=True)

    for case in cases:
        shapes = [(n,)] if case == "10M" else MLP_SHAPES
        numel = sum(int(np.prod(s)) for s in shapes)
        init = [rng.standard_normal(s).astype(np.float32) for s in shapes]
        grads = [rng.standard_normal(s).astype(np.float32) * 1e-3 for s in shapes]
        for name in names:
            cls, kw = OPTIMIZERS[name]
            nbytes = TRAFFIC[name] * 4 * numel
            fns = {}
            ps = [fg.tensor(x.copy(), requires_grad=True) for x in init]
            for p, g in zip(ps, grads):
                p.grad = fg.tensor(g)
            fns["fusegrad"] = getattr(optim, cls)(ps, **kw).step
            for impl in ("foreach", "fused"):
                tps = [torch.tensor(x.copy(), requires_grad=True) for x in init]
                for p, g in zip(tps, grads):
                    p.grad = torch.from_numpy(g)
                try:
                    topt = getattr(torch.optim, cls)(tps, **kw, **{impl: True})
                    topt.step()
                except (RuntimeError, ValueError, TypeError):
                    continue  # no such variant on CPU for this optimizer
                fns[f"torch_{impl}"] = topt.step
            variants = _rounds(fns, repeats, rounds)
            del fns, ps
            for impl, (best, med, others) in variants.items():
                print(json.dumps(dict(kind="row", threads=threads, case=case, opt=name,
                                      impl=impl, ms=best * 1e3, ms_median=med * 1e3,
                                      gbs=nbytes / best / 1e9, triad_pct=100 * nbytes / best
                                      / 1e9 / triad, others=others)), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    ap.add_argument("--repeats", type=int, default=5, help="samples per row and round")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds per row")
    ap.add_argument("--cases", default="10M,mlp", help="10M and/or mlp")
    ap.add_argument("--optimizers", default=",".join(OPTIMIZERS), help="subset to run")
    ap.add_argument("--json", help="also write all rows to this file")
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--quick", action="store_true",
                    help="MLP case, SGD and Adam, 2 samples (a smoke test)")
    args = ap.parse_args()
    if args.quick and not args.child:
        args.cases, args.optimizers, args.repeats, args.rounds = "mlp", "sgd,adam", 2, 1
    cases, names = args.cases.split(","), args.optimizers.split(",")
    if args.child:
        child(args.child, args.repeats, cases, names, args.rounds)
        return
    rows = []
    for t in [int(x) for x in args.threads.split(",")]:
        env = dict(os.environ, OMP_NUM_THREADS=str(t))
        cmd = [sys.executable, __file__, "--child", str(t), "--repeats", str(args.repeats),
               "--rounds", str(args.rounds), "--cases", args.cases, "--optimizers",
               args.optimizers]
        out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
        rows += [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    _report(rows)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


def _report(rows: list[dict]) -> None:
    for tr in (r for r in rows if r["kind"] == "triad"):
        print(f"threads={tr['threads']}: STREAM triad (C++, {tr['isa']}) {tr['gbs']:.1f} GB/s"
              f"  (others busy: {tr['others']:.2f} cores)")
    print(f"{'thr':>3} {'case':>4} {'optimizer':>13} {'impl':>14} {'ms/step':>9} {'median':>9} "
          f"{'GB/s':>7} {'%triad':>7} {'fg speed-up':>11} {'others':>6}")
    data = [r for r in rows if r["kind"] == "row"]
    for r in data:
        fg_ms = next(x["ms"] for x in data if x["impl"] == "fusegrad" and
                     (x["threads"], x["case"], x["opt"]) == (r["threads"], r["case"], r["opt"]))
        speed = f"{r['ms'] / fg_ms:10.2f}x" if r["impl"] != "fusegrad" else ""
        print(f"{r['threads']:>3} {r['case']:>4} {r['opt']:>13} {r['impl']:>14} {r['ms']:9.3f} "
              f"{r['ms_median']:9.3f} {r['gbs']:7.1f} {r['triad_pct']:6.0f}% {speed:>11} "
              f"{r['others']:6.2f}")
    print("\nfusegrad vs PyTorch's fastest variant (higher is better):")
    keys = sorted({(r["threads"], r["case"], r["opt"]) for r in data})
    for k in keys:
        mine = [r for r in data if (r["threads"], r["case"], r["opt"]) == k]
        fg_ms = next(r["ms"] for r in mine if r["impl"] == "fusegrad")
        torch_rows = [r for r in mine if r["impl"] != "fusegrad"]
        if torch_rows:
            best = min(torch_rows, key=lambda r: r["ms"])
            print(f"  threads={k[0]} {k[1]:>4} {k[2]:>13}: {best['ms'] / fg_ms:5.2f}x "
                  f"vs {best['impl']}")


if __name__ == "__main__":
    main()
