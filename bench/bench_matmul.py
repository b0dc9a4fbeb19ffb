"""GEMM throughput: fusegrad's packed GEMM vs NumPy (OpenBLAS) and PyTorch, in one run.

Rows: squares 256..2048, the three matmuls of each layer of a 784-512-512-10 MLP at batch
128 (forward X·Wᵀ, input grad dY·W, weight grad dYᵀ·X, all on transposed views as autograd
issues them), the fused Linear+bias+ReLU against NumPy's matmul + add + maximum, and float64.
Each thread count (default 1 and 2) runs in its own process, so OpenMP, OpenBLAS and torch
all start with that many threads; OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are removed from the
child's environment (they force a slow OpenBLAS kernel; BENCHMARKING.md). Times are best-of-N
after warm-up (bench/common.py's measure), each library's block followed by a 0.15 s pause
(spinning workers of the previous library would slow the next). "others" is how many cores
other processes kept busy during the row (/proc/stat); rows with others > 0.3 are noisy.
The estimated peak is FMA units (2) × float32 lanes × 2 flops × clock, the clock being the
one a core holds under full vector-FMA load (measured by an FMA-throughput loop,
_C.gemm_fma_peak_gflops).
Never asserts.

    PYTHONPATH=python FUSEGRAD_EXT_DIR=build-gemm python bench/bench_matmul.py [--threads 1,2]
        [--quick] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402  (bench/common.py: measure, pause, BusyMeter, ...)

FMA_UNITS = 2  # 512-bit (or 256-bit) FMA pipes per core on the server x86 cores we target


def _cases(quick: bool) -> list[tuple]:
    """(group, label, dtype, m, n, k, kind) with kind in {"AB", "ABt", "AtB", "linear"}."""
    cases = []
    for s in ([512, 1024] if quick else [256, 512, 1024, 2048]):
        cases.append(("square", f"{s}²", "float32", s, s, s, "AB"))
    layers = [(784, 512), (512, 512), (512, 10)]
    f32 = "float32"
    for i, o in layers:
        cases.append(("mlp", f"fwd X·Wᵀ 128×{i}·{i}×{o}", f32, 128, o, i, "ABt"))
        cases.append(("mlp", f"gX dY·W 128×{o}·{o}×{i}", f32, 128, i, o, "AB"))
        cases.append(("mlp", f"gW dYᵀ·X {o}×128·128×{i}", f32, o, i, 128, "AtB"))
    for i, o in layers:
        cases.append(("fused", f"relu(X·Wᵀ+b) 128×{i}→{o}", f32, 128, o, i, "linear"))
    for s in ([512] if quick else [512, 1024]):
        cases.append(("float64", f"{s}²", "float64", s, s, s, "AB"))
    cases.append(("float64", "fwd X·Wᵀ 128×784·784×512", "float64", 128, 512, 784, "ABt"))
    return cases


def _child(threads: int, quick: bool) -> list[dict]:
    import numpy as np

    import fusegrad  # noqa: F401  (sets OMP_WAIT_POLICY before _C loads libgomp)
    from fusegrad._ext import _C
    from fusegrad.backend import get_backend

    if hasattr(_C, "set_num_threads"):
        _C.set_num_threads(threads)
    be = get_backend("cpu")
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:
        torch = None

    rng = np.random.default_rng(0)
    repeats, min_time = (3, 0.05) if quick else (7, 0.1)
    rows = []
    for group, label, dt, m, n, k, kind in _cases(quick):
        # Operands laid out as the autograd backward sees them: W is (out, in) row-major.
        if kind == "AB":
            a = rng.standard_normal((m, k)).astype(dt)
            b = rng.standard_normal((k, n)).astype(dt)
        elif kind == "ABt":
            a = rng.standard_normal((m, k)).astype(dt)
            b = rng.standard_normal((n, k)).astype(dt).T
        elif kind == "AtB":
            a = rng.standard_normal((k, m)).astype(dt).T
            b = rng.standard_normal((k, n)).astype(dt)
        else:
            x = rng.standard_normal((m, k)).astype(dt)
            w = rng.standard_normal((n, k)).astype(dt)
            bias = rng.standard_normal(n).astype(dt)
        fns = {}
        if kind == "linear":
            tmp = np.empty((m, n), dt)

            def np_linear(x=x, w=w, bias=bias, tmp=tmp):
                np.matmul(x, w.T, out=tmp)
                np.add(tmp, bias, out=tmp)
                np.maximum(tmp, 0, out=tmp)

            fns["fusegrad"] = lambda x=x, w=w, bias=bias: be.linear_forward(x, w, bias, "relu")
            fns["numpy"] = np_linear
            if torch is not None:
                tx, tw, tb = (torch.from_numpy(v) for v in (x, w, bias))
                fns["torch"] = lambda: torch.relu(torch.nn.functional.linear(tx, tw, tb))
        else:
            out = np.empty((m, n), dt)
            fns["fusegrad"] = lambda a=a, b=b, out=out: _C.gemm(a, b, out)
            fns["numpy"] = lambda a=a, b=b, out=out: np.matmul(a, b, out=out)
            if torch is not None:
                ta, tb_ = torch.from_numpy(a), torch.from_numpy(b)
                to = torch.from_numpy(out)
                fns["torch"] = lambda ta=ta, tb_=tb_, to=to: torch.matmul(ta, tb_, out=to)
        res = {}
        with common.BusyMeter() as busy:
            for name, fn in fns.items():
                st = common.measure(fn, min_time=min_time, samples=repeats)
                res[name] = common.gflops(2.0 * m * n * k, st.best)
                common.pause()
        others = busy.others
        rows.append(dict(group=group, label=label, dtype=dt, threads=threads, gflops=res,
                         others=round(others, 2)))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--quick", action="store_true", help="fewer shapes and repeats")
    ap.add_argument("--json", default=None, help="also write the rows to this file")
    ap.add_argument("--child", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(_child(args.child, args.quick)))
        return

    from fusegrad._ext import _C

    isa, lanes = _C.gemm_isa(), _C.gemm_f32_lanes()
    measured = _C.gemm_fma_peak_gflops()
    ghz = measured / (FMA_UNITS * lanes * 2)  # the clock under full vector-FMA load
    peak = FMA_UNITS * lanes * 2 * ghz
    mhz = common.cpu_mhz()
    print(f"GEMM path: {isa}; float32 lanes {lanes}; clock under FMA load {ghz:.2f} GHz "
          f"(from an FMA-throughput loop on one core"
          + (f"; /proc/cpuinfo says {mhz:.0f} MHz)" if mhz else ")"))
    print(f"estimated float32 peak per core: {FMA_UNITS} FMA units × {lanes} lanes × 2 flops × "
          f"{ghz:.2f} GHz = {peak:.0f} GFLOP/s (float64: {peak / 2:.0f}); %peak uses "
          f"threads × this")
    print("child environment: OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE removed; OMP/OPENBLAS/MKL "
          "threads = the row's thread count. GFLOP/s, best of N.\n")
    all_rows = []
    for t in [int(s) for s in args.threads.split(",")]:
        env = {k: v for k, v in os.environ.items()
               if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
        env.update(OMP_NUM_THREADS=str(t), OPENBLAS_NUM_THREADS=str(t), MKL_NUM_THREADS=str(t))
        cmd = [sys.executable, os.path.abspath(__file__), "--child", str(t)]
        if args.quick:
            cmd.append("--quick")
        load_before = os.getloadavg()[0]
        out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
        rows = json.loads(out.strip().splitlines()[-1])
        all_rows += rows
        # The 1-minute load average around the run: above the core count, figures (2-thread
        # ones above all) say more about the other processes than about the GEMM.
        print(f"== {t} thread{'s' if t > 1 else ''} (load average {load_before:.1f} before, "
              f"{os.getloadavg()[0]:.1f} after, {os.cpu_count()} cores) " + "=" * 40)
        print(f"{'group':8} {'shape':34} {'fusegrad':>9} {'numpy':>8} {'torch':>8} "
              f"{'fg/np':>6} {'fg/torch':>8} {'%peak':>6} {'others':>6}")
        for r in rows:
            g = r["gflops"]
            fg, npy, tt = g["fusegrad"], g["numpy"], g.get("torch")
            pk = peak * t / (2 if r["dtype"] == "float64" else 1)
            ttxt = f"{tt:8.1f}" if tt else f"{'-':>8}"
            rtxt = f"{fg / tt:8.2f}" if tt else f"{'-':>8}"
            flag = " noisy" if r["others"] > 0.3 else ""
            print(f"{r['group']:8} {r['label']:34} {fg:9.1f} {npy:8.1f} {ttxt} {fg / npy:6.2f} "
                  f"{rtxt} {100 * fg / pk:5.0f}% {r['others']:6.2f}{flag}")
        print()
    if args.json:
        common.write_json(args.json, dict(isa=isa, clock_ghz=ghz, peak_f32_per_core=peak,
                                          rows=all_rows))


if __name__ == "__main__":
    main()
