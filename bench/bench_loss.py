"""Cross-entropy forward+backward: fusegrad (one fused kernel each way, through autograd) vs
PyTorch CPU (``F.cross_entropy``), in one run, for (N, C) = 128x10 and 1024x1000, float32,
mean reduction; plus the two fused kernels alone (``kernels``). "others" = cores other
processes kept busy during the row (> ~0.3: noisy). Never asserts.

    PYTHONPATH=python FUSEGRAD_EXT_DIR=build-nn python bench/bench_loss.py [--threads N] [--json F]
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import BusyMeter, fmt_time, measure, pause, print_table, write_json  # noqa: E402

SHAPES = [(128, 10), (1024, 1000)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=None, help="threads for both libraries")
    ap.add_argument("--json", default=None, help="also write results here")
    ap.add_argument("--quick", action="store_true", help="the first shape only (a smoke test)")
    args = ap.parse_args()

    import numpy as np
    import torch

    import fusegrad as fg
    import fusegrad.nn.functional as F
    from fusegrad.backend import get_backend

    if args.threads:
        fg.set_num_threads(args.threads)
        torch.set_num_threads(args.threads)
    be = get_backend("cpu")
    rows, out = [], []
    for n, c in SHAPES[:1] if args.quick else SHAPES:
        rng = np.random.default_rng(0)
        z = (rng.standard_normal((n, c)) * 3).astype(np.float32)
        y = rng.integers(0, c, n)
        zf = fg.tensor(z, requires_grad=True)
        yf = fg.tensor(y)

        def ours() -> None:  # gradients reset each call in both libraries
            zf.grad = None
            F.cross_entropy(zf, yf).backward()

        one = np.ones((), np.float32)

        def kernels() -> None:
            _, lse, tw = be.softmax_cross_entropy_forward(
                z, y, None, ignore_index=-100, label_smoothing=0.0, reduction="mean")
            be.softmax_cross_entropy_backward(z, y, None, lse, tw, one, ignore_index=-100,
                                              label_smoothing=0.0, reduction="mean")

        zt = torch.tensor(z, requires_grad=True)
        yt = torch.tensor(y)

        def theirs() -> None:
            zt.grad = None
            torch.nn.functional.cross_entropy(zt, yt).backward()

        with BusyMeter() as busy:
            s_ours = measure(ours)
            pause()
            s_k = measure(kernels)
            pause()
            s_t = measure(theirs)
            pause()
        rows.append([f"{n}x{c}", fmt_time(s_ours.median), fmt_time(s_k.median),
                     fmt_time(s_t.median), f"{s_t.median / s_ours.median:.2f}x",
                     f"{busy.others:.2f}"])
        out.append(dict(shape=[n, c], fusegrad_s=s_ours.median, kernels_s=s_k.median,
                        torch_s=s_t.median, speedup=s_t.median / s_ours.median,
                        others=busy.others))
    print_table(["N x C", "fusegrad", "kernels", "torch", "speedup", "others"], rows,
                title=f"cross-entropy forward+backward, float32, mean "
                      f"(threads: fusegrad {fg.get_num_threads()}, torch "
                      f"{torch.get_num_threads()})")
    if args.json:
        write_json(args.json, out)


if __name__ == "__main__":
    main()
