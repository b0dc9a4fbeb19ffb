"""BatchNorm1d forward+backward: fusegrad (fused kernels, through autograd) vs PyTorch CPU,
in one run, for (N, C) = 128x512, 1024x512, 8192x256 (float32, training mode).

Each row times ``bn(x).backward(gy)`` in both libraries (the full autograd path a training
step pays), plus the two fused kernels alone (``kernels``: batch_norm_forward +
batch_norm_backward on arrays), in alternating rounds (medians over --rounds). GB/s counts the
kernels' minimal traffic: forward reads x twice and writes y, backward reads x and gy twice
and writes gx (8 arrays of N·C floats).
"others" = cores other processes kept busy during the row (> ~0.3: noisy). Never asserts.

    PYTHONPATH=python FUSEGRAD_EXT_DIR=build-nn python bench/bench_norm.py [--threads N] [--rounds R]
        [--json F]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import BusyMeter, fmt_time, gbps, measure, pause, print_table, write_json  # noqa: E402

SHAPES = [(128, 512), (1024, 512), (8192, 256)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=None, help="threads for both libraries")
    ap.add_argument("--json", default=None, help="also write results here")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds per shape")
    ap.add_argument("--quick", action="store_true", help="the first shape only (a smoke test)")
    args = ap.parse_args()
    if args.quick:
        args.rounds = 1

    import numpy as np
    import torch

    import fusegrad as fg
    import fusegrad.nn as nn
    from fusegrad.backend import get_backend

    if args.threads:
        fg.set_num_threads(args.threads)
        torch.set_num_threads(args.threads)
    be = get_backend("cpu")
    rows, out = [], []
    for n, c in SHAPES[:1] if args.quick else SHAPES:
        rng = np.random.default_rng(0)
        x = rng.standard_normal((n, c)).astype(np.float32)
        gy = rng.standard_normal((n, c)).astype(np.float32)

        bn = nn.BatchNorm1d(c)
        xf = fg.tensor(x, requires_grad=True)
        gyf = fg.tensor(gy)

        # Gradients are reset each call, as for an activation inside a network (no
        # accumulation into x.grad), in both libraries.
        def ours() -> None:
            xf.grad = None
            bn.zero_grad()
            bn(xf).backward(gyf)

        w, b = bn.weight._data, bn.bias._data
        rm, rv = bn.running_mean._data, bn.running_var._data

        def kernels() -> None:
            _, sm, si = be.batch_norm_forward(x, w, b, rm, rv, batch_stats=True,
                                              momentum_factor=0.1, eps=1e-5)
            be.batch_norm_backward(x, gy, w, sm, si, batch_stats=True)

        tbn = torch.nn.BatchNorm1d(c)
        xt = torch.tensor(x, requires_grad=True)
        gyt = torch.tensor(gy)

        def theirs() -> None:
            xt.grad = None
            tbn.zero_grad()
            tbn(xt).backward(gyt)

        # Alternating rounds (the order rotating): on a shared machine a slow stretch then
        # hits both libraries instead of one; each figure is the median over the rounds.
        fns = [ours, kernels, theirs]
        got: list[list[float]] = [[], [], []]
        with BusyMeter() as busy:
            for r in range(args.rounds):
                for i in [(r + j) % 3 for j in range(3)]:
                    got[i].append(measure(fns[i]).median)
                    pause()
        t_ours, t_k, t_t = (statistics.median(g) for g in got)
        nbytes = 8 * n * c * 4
        rows.append([f"{n}x{c}", fmt_time(t_ours), fmt_time(t_k), fmt_time(t_t),
                     f"{t_t / t_ours:.2f}x", f"{gbps(nbytes, t_k):.1f}", f"{busy.others:.2f}"])
        out.append(dict(shape=[n, c], fusegrad_s=t_ours, kernels_s=t_k, torch_s=t_t,
                        speedup=t_t / t_ours, others=busy.others))
    print_table(["N x C", "fusegrad", "kernels", "torch", "speedup", "kernel GB/s", "others"],
                rows, title=f"BatchNorm1d forward+backward, float32, training "
                            f"(threads: fusegrad {fg.get_num_threads()}, torch "
                            f"{torch.get_num_threads()})")
    if args.json:
        write_json(args.json, out)


if __name__ == "__main__":
    main()
