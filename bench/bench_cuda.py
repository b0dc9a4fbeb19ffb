"""fusegrad on CUDA vs PyTorch on the same GPU: kernels and a 784-512-512-10 MLP training step.

Each row reports the GPU time per call measured with CUDA events around a block of calls (the
device's own clock) and, separately, the host time to issue one call (Python + launch
overhead, measured without synchronising inside the block). For small problems the host time
is the real cost; for large ones the GPU time is. PyTorch rows appear when torch sees a CUDA
device. The MLP step (forward, cross-entropy, backward, Adam) runs eagerly and, for fusegrad,
also as one captured CUDA graph (fg.cuda.graphs). Target (issue 6): the eager fusegrad step at
batch 128 beats PyTorch eager on the same GPU. Never asserts; prints the reason and exits 0
when there is no usable CUDA device.

    PYTHONPATH=python python bench/bench_cuda.py [--json out.json] [--repeat 200]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from typing import Any, Callable

import numpy as np


def _events_ms(cp: Any, fn: Callable[[], Any], repeat: int) -> tuple[float, float]:
    """(GPU ms per call from CUDA events, host µs per call to issue it); median of 5 blocks."""
    for _ in range(3):
        fn()
    cp.cuda.Device().synchronize()
    gpu, host = [], []
    for _ in range(5):
        start, end = cp.cuda.Event(), cp.cuda.Event()
        start.record()
        t = time.perf_counter()
        for _ in range(repeat):
            fn()
        host.append((time.perf_counter() - t) / repeat * 1e6)
        end.record()
        end.synchronize()
        gpu.append(cp.cuda.get_elapsed_time(start, end) / repeat)
    return statistics.median(gpu), statistics.median(host)


def _torch_ms(torch: Any, fn: Callable[[], Any], repeat: int) -> tuple[float, float]:
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    gpu, host = [], []
    for _ in range(5):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        t = time.perf_counter()
        for _ in range(repeat):
            fn()
        host.append((time.perf_counter() - t) / repeat * 1e6)
        end.record()
        end.synchronize()
        gpu.append(start.elapsed_time(end) / repeat)
    return statistics.median(gpu), statistics.median(host)


def _kernel_rows(be: Any, cp: Any, torch: Any, repeat: int) -> list[dict]:
    rng = np.random.default_rng(0)
    rows = []

    def add(name: str, ours: Callable, theirs: Callable | None, nbytes: int) -> None:
        g, h = _events_ms(cp, ours, repeat)
        row = {"kernel": name, "fg_gpu_ms": g, "fg_host_us": h, "fg_GBps": nbytes / g / 1e6}
        if torch is not None and theirs is not None:
            tg, th = _torch_ms(torch, theirs, repeat)
            row.update(torch_gpu_ms=tg, torch_host_us=th, speedup=tg / g)
        rows.append(row)

    for n in (1 << 16, 1 << 24):
        x = be.asarray(rng.standard_normal(n).astype(np.float32))
        tx = torch.as_tensor(x.get(), device="cuda") if torch else None
        add(f"relu fwd n={n}", lambda: be.unary_forward("relu", x),
            (lambda: torch.relu(tx)) if torch else None, 8 * n)
        add(f"sigmoid bwd n={n}", lambda: be.unary_backward("sigmoid", x, x, x), None, 16 * n)
    a = be.asarray(rng.standard_normal((4096, 1024)).astype(np.float32))
    b = be.asarray(rng.standard_normal(1024).astype(np.float32))
    ta, tb = (torch.as_tensor(a.get(), device="cuda"), torch.as_tensor(b.get(), device="cuda")) \
        if torch else (None, None)
    add("add broadcast 4096x1024 + 1024", lambda: be.binary_forward("add", a, b),
        (lambda: ta + tb) if torch else None, 8 * a.size)
    add("sum axis=1 4096x1024", lambda: be.reduce("sum", a, (1,), False),
        (lambda: ta.sum(1)) if torch else None, 4 * a.size)
    add("sum axis=0 4096x1024", lambda: be.reduce("sum", a, (0,), False),
        (lambda: ta.sum(0)) if torch else None, 4 * a.size)
    logits = be.asarray(rng.standard_normal((128, 10)).astype(np.float32))
    tl = torch.as_tensor(logits.get(), device="cuda") if torch else None
    add("log_softmax 128x10", lambda: be.log_softmax_forward(logits),
        (lambda: torch.log_softmax(tl, 1)) if torch else None, 8 * logits.size)
    shapes = [(512, 784), (512,), (512, 512), (512,), (10, 512), (10,)]
    ps = [be.asarray(rng.standard_normal(s).astype(np.float32)) for s in shapes]
    gs = [be.asarray(rng.standard_normal(s).astype(np.float32)) for s in shapes]
    ms = [cp.zeros_like(p) for p in ps]
    vs = [cp.zeros_like(p) for p in ps]
    nparam = sum(p.size for p in ps)

    def adam() -> None:
        be.adam_step(ps, gs, ms, vs, None, step=1.0, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8,
                     weight_decay=0.0, amsgrad=False, decoupled=False)

    theirs = None
    if torch is not None:
        tps = [torch.zeros(s, device="cuda") for s in shapes]
        for tp, g in zip(tps, gs):
            tp.grad = torch.as_tensor(g.get(), device="cuda")
        topt = torch.optim.Adam(tps, lr=1e-3, fused=True)
        theirs = topt.step
    add(f"adam step MLP params ({nparam})", adam, theirs, 28 * nparam)
    return rows


def _mlp_rows(cp: Any, torch: Any, batch: int, repeat: int) -> list[dict]:
    import fusegrad as fg

    try:
        from fusegrad import nn, optim
        from fusegrad.nn import functional as F
    except ImportError as e:
        return [{"mlp": f"skipped: {e}"}]
    rng = np.random.default_rng(0)
    x = fg.tensor(rng.standard_normal((batch, 784)).astype(np.float32), device="cuda")
    y = fg.tensor(rng.integers(0, 10, batch), device="cuda")
    model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                          nn.Linear(512, 10)).to("cuda")
    opt = optim.Adam(model.parameters(), lr=1e-3)

    def step(xb: Any, yb: Any) -> Any:
        opt.zero_grad()
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()
        return loss

    rows = []
    g, h = _events_ms(cp, lambda: step(x, y), repeat)
    rows.append({"mlp": f"fusegrad eager batch {batch}", "gpu_ms": g, "host_us": h})
    graphed = fg.cuda.graphs.capture(step, x, y, optimizers=[opt])
    if graphed.captured:
        g, h = _events_ms(cp, lambda: graphed(x, y), repeat)
        rows.append({"mlp": f"fusegrad CUDA graph batch {batch}", "gpu_ms": g, "host_us": h})
    else:
        rows.append({"mlp": f"fusegrad CUDA graph: fell back ({graphed.fallback_reason})"})
    if torch is not None:
        tm = torch.nn.Sequential(torch.nn.Linear(784, 512), torch.nn.ReLU(),
                                 torch.nn.Linear(512, 512), torch.nn.ReLU(),
                                 torch.nn.Linear(512, 10)).cuda()
        topt = torch.optim.Adam(tm.parameters(), lr=1e-3)
        tx = torch.as_tensor(x._data.get(), device="cuda")
        ty = torch.as_tensor(y._data.get(), device="cuda")

        def tstep() -> Any:
            topt.zero_grad()
            loss = torch.nn.functional.cross_entropy(tm(tx), ty)
            loss.backward()
            topt.step()
            return loss

        g, h = _torch_ms(torch, tstep, repeat)
        rows.append({"mlp": f"torch eager batch {batch}", "gpu_ms": g, "host_us": h})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=200)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--json", default="")
    ap.add_argument("--quick", action="store_true", help="few repeats (a smoke test)")
    args = ap.parse_args(argv)
    if args.quick:
        args.repeat = min(args.repeat, 10)

    import fusegrad as fg

    if not fg.cuda.is_available():
        print(f"bench_cuda: skipped, {fg.cuda.unavailable_reason()}")
        return 0
    import cupy as cp

    from fusegrad.backend import get_backend

    try:
        import torch

        torch = torch if torch.cuda.is_available() else None
    except ImportError:
        torch = None
    be = get_backend("cuda")
    print(f"device: {cp.cuda.runtime.getDeviceProperties(0)['name'].decode()}; "
          f"torch CUDA: {'yes' if torch else 'no'}")
    rows = _kernel_rows(be, cp, torch, args.repeat)
    for r in rows:
        line = (f"{r['kernel']:<34} fg {r['fg_gpu_ms'] * 1e3:9.1f} µs GPU "
                f"{r['fg_host_us']:7.1f} µs host {r['fg_GBps']:7.1f} GB/s")
        if "torch_gpu_ms" in r:
            line += (f" | torch {r['torch_gpu_ms'] * 1e3:9.1f} µs GPU {r['torch_host_us']:7.1f} µs host"
                     f" | x{r['speedup']:.2f}")
        print(line)
    mlp = _mlp_rows(cp, torch, args.batch, max(20, args.repeat // 4))
    for r in mlp:
        if "gpu_ms" in r:
            print(f"{r['mlp']:<34} {r['gpu_ms'] * 1e3:9.1f} µs GPU/step {r['host_us']:8.1f} µs host/step")
        else:
            print(r["mlp"])
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"kernels": rows, "mlp": mlp}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
