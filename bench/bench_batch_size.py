"""Time per update and per epoch vs batch size: the digits MLP in fusegrad, NumPy and PyTorch.

The classic experiment: train the 64-128-128-10 ReLU MLP (softmax cross-entropy, Adam) on the
1797 scikit-learn digits at batch sizes 1, 2, 4, ..., 1024 and time one update (gather the
batch, forward, loss, backward, optimizer step) and one shuffled epoch (ceil(1797 / batch)
updates, the short last batch kept). Small batches measure per-update overhead (Python,
dispatch, kernel launches); large ones measure the GEMMs. The libraries, in one run:

- fusegrad: fusegrad.nn + fusegrad.optim.Adam (one fused step per update);
- numpy: bench/numpy_mlp.py, a hand-written NumPy MLP with preallocated buffers;
- torch: PyTorch eager (torch.nn + torch.optim.Adam), when installed.

Each library times its block (warm-up updates, then ``--epochs`` timed epochs; the median
epoch is reported, spread = (max - min) / median) and pauses 0.15 s before the next
(BENCHMARKING.md). GFLOP/s counts the GEMMs only: 6·batch·Σ(in·out) per update (forward 2,
backward 4); %peak divides by common.peak_gflops(threads). "others" is how many cores other
processes kept busy (rows above 0.3 are noisy). ``--quick`` runs three batch sizes on a few
updates each (an epoch is then extrapolated from them, marked "est.") and leaves PyTorch out
unless ``--libraries`` names it. Writes a table (batch_size.csv) and a plot
(batch_size.png, log-log) to ``--out``. Never asserts.

    PYTHONPATH=python python bench/bench_batch_size.py [--threads 1] [--out bench_out]
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import sys
import time
from typing import Any, Callable

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import BusyMeter, pause, peak_gflops, print_table, write_json  # noqa: E402

FULL_SIZES = tuple(2**i for i in range(11))  # 1 ... 1024
QUICK_SIZES = (1, 16, 256)
QUICK_UPDATES = 4  # updates timed per batch size in --quick mode


# ---- the three implementations: each returns step(xb, yb) for one update -----------------
def fusegrad_step(sizes: tuple[int, ...], lr: float, device: str, seed: int) -> Callable:
    import fusegrad as fg
    from fusegrad import nn, optim
    from fusegrad.autograd.tensor import Tensor
    from fusegrad.nn import functional as F

    fg.manual_seed(seed)
    layers: list[Any] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    model = nn.Sequential(*layers)
    if device != "cpu":
        model.to(device)
    opt = optim.Adam(model.parameters(), lr=lr)

    def wrap(a: Any) -> Any:
        # as fusegrad.train.Trainer does: the batch array itself on CPU, a copy to the device
        return Tensor._make(a, "cpu") if device == "cpu" else fg.tensor(a, device=device)

    def step(xb: Any, yb: Any) -> None:
        loss = F.cross_entropy(model(wrap(xb)), wrap(yb))
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def numpy_step(sizes: tuple[int, ...], lr: float, device: str, seed: int) -> Callable:
    from numpy_mlp import NumpyMLP

    model = NumpyMLP(sizes, lr=lr, seed=seed)
    return model.train_step


def torch_step(sizes: tuple[int, ...], lr: float, device: str, seed: int) -> Callable:
    import torch

    torch.manual_seed(seed)
    layers: list[Any] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(torch.nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step(xb: Any, yb: Any) -> None:
        x = torch.from_numpy(xb).to(device)
        y = torch.from_numpy(yb).to(device)
        loss = loss_fn(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


LIBRARIES = {"fusegrad": fusegrad_step, "numpy": numpy_step, "torch": torch_step}


def _synchronize(lib: str, device: str) -> None:
    if device == "cpu":
        return
    if lib == "fusegrad":
        import fusegrad as fg

        fg.cuda.synchronize()
    elif lib == "torch":
        import torch

        torch.cuda.synchronize()


# ---- timing -------------------------------------------------------------------------------
def time_block(lib: str, step: Callable, X: Any, y: Any, batch: int, epochs: int,
               max_updates: int | None, device: str, seed: int) -> dict:
    """Time ``epochs`` shuffled (partial) epochs of ``step``; per-update and per-epoch medians."""
    import numpy as np

    n = X.shape[0]
    per_epoch = math.ceil(n / batch)
    count = per_epoch if max_updates is None else min(per_epoch, max_updates)
    rng = np.random.default_rng(seed)
    warm = rng.permutation(n)[: batch * min(3, per_epoch)]
    for s in range(0, len(warm), batch):  # warm-up: allocations, caches, thread pools
        idx = warm[s : s + batch]
        step(X[idx], y[idx])
    _synchronize(lib, device)
    per_update = []
    with BusyMeter() as busy:
        for _ in range(epochs):
            order = rng.permutation(n)
            t0 = time.perf_counter()
            for s in range(0, count * batch, batch):
                idx = order[s : s + batch]
                step(X[idx], y[idx])
            _synchronize(lib, device)
            per_update.append((time.perf_counter() - t0) / count)
    med = float(np.median(per_update))
    spread = (max(per_update) - min(per_update)) / med if med > 0 else 0.0
    # A full epoch's short last batch costs about a full one at these sizes, so when only
    # part of an epoch ran, the epoch is estimated as per_epoch updates.
    return {"update_s": med, "epoch_s": med * per_epoch, "epoch_estimated": count < per_epoch,
            "updates_timed": count, "spread": spread, "others": busy.others}


def gemm_flops(sizes: tuple[int, ...], batch: int) -> int:
    """FLOPs of the GEMMs of one update: forward 2·b·in·out, backward 4·b·in·out per layer."""
    return 6 * batch * sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))


# ---- output -------------------------------------------------------------------------------
def _fmt_ms(v: float | None, est: bool = False) -> str:
    if v is None:
        return "-"
    return f"{v * 1e3:.3f}{'*' if est else ''}"


def report(rows: list[dict], libs: list[str], peak: dict) -> tuple[list[str], list[list]]:
    """Headers and table rows (one per threads x batch size)."""
    head = ["threads", "batch", "updates"]
    for lib in libs:
        head += [f"{lib} ms/upd", f"{lib} ms/epoch"]
    head += ["fg GFLOP/s", "fg %peak"]
    head += [f"{lib}/fg" for lib in libs if lib != "fusegrad"]
    head += ["spread", "others"]
    table = []
    for r in rows:
        res = r["results"]
        line: list[Any] = [r["threads"], r["batch"], r["updates_per_epoch"]]
        for lib in libs:
            x = res.get(lib)
            line += [_fmt_ms(x and x["update_s"]),
                     _fmt_ms(x and x["epoch_s"], bool(x and x["epoch_estimated"]))]
        fg = res.get("fusegrad")
        if fg:
            g = r["flops_per_update"] / fg["update_s"] / 1e9
            pk = peak.get(r["threads"], {}).get("gflops", float("nan"))
            line += [f"{g:.2f}", f"{100 * g / pk:.1f}" if pk == pk else "-"]
        else:
            line += ["-", "-"]
        for lib in libs:
            if lib == "fusegrad":
                continue
            x = res.get(lib)
            line.append(f"{x['update_s'] / fg['update_s']:.2f}" if x and fg else "-")
        line.append(f"{max(x['spread'] for x in res.values()):.2f}" if res else "-")
        others = max((x["others"] for x in res.values() if x["others"] == x["others"]),
                     default=float("nan"))
        # BusyMeter gives nan for blocks shorter than a /proc/stat tick (10 ms)
        line.append("-" if others != others else
                    f"{others:.2f}" + (" noisy" if others > 0.3 else ""))
        table.append(line)
    return head, table


def write_csv(path: str, head: list[str], table: list[list]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(head)
        w.writerows(table)


def plot(path: str, rows: list[dict], libs: list[str]) -> None:
    """Two log-log panels: ms per update and ms per epoch vs batch size, a line per library."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, key, title in ((axes[0], "update_s", "time per update"),
                           (axes[1], "epoch_s", "time per epoch")):
        for threads in sorted({r["threads"] for r in rows}):
            sub = [r for r in rows if r["threads"] == threads]
            for lib in libs:
                pts = [(r["batch"], r["results"][lib][key] * 1e3) for r in sub
                       if lib in r["results"]]
                if pts:
                    label = lib if len({r["threads"] for r in rows}) == 1 \
                        else f"{lib}, {threads} thr"
                    ax.plot(*zip(*pts), marker="o", label=label)
        ax.set_xscale("log", base=2)
        ticks = sorted({r["batch"] for r in rows})
        ax.set_xticks(ticks, [str(b) for b in ticks])
        ax.set_yscale("log")
        ax.set_xlabel("batch size")
        ax.set_ylabel("ms")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.suptitle("digits MLP 64-128-128-10, Adam: time vs batch size")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---- main ---------------------------------------------------------------------------------
def _threads(spec: str) -> list[int]:
    return [int(t) for t in str(spec).split(",") if t.strip()]


def _set_threads(t: int, libs: list[str]) -> Any:
    """Thread count for every library; returns a threadpoolctl limiter to keep alive."""
    import fusegrad as fg

    fg.set_num_threads(t)
    if "torch" in libs:
        import torch

        torch.set_num_threads(t)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    return threadpool_limits(limits=t, user_api="blas")


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch-sizes", default=None,
                    help="comma-separated (default 1,2,4,...,1024; --quick: 1,16,256)")
    ap.add_argument("--hidden", default="128,128")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--epochs", type=int, default=3, help="timed epochs per row (median)")
    ap.add_argument("--max-updates", type=int, default=None,
                    help="time at most this many updates per epoch (the epoch is extrapolated)")
    ap.add_argument("--threads", default="1", help="comma-separated thread counts")
    ap.add_argument("--device", default="cpu", help="cpu or cuda (NumPy runs on cpu only)")
    ap.add_argument("--libraries", default=None,
                    help="subset of fusegrad,numpy,torch (default: all installed; --quick: "
                         "fusegrad,numpy)")
    ap.add_argument("--quick", action="store_true",
                    help="three batch sizes, a few updates each (a smoke test)")
    ap.add_argument("--out", default="bench_out", help="folder for batch_size.csv/.png")
    ap.add_argument("--no-plot", action="store_true")
    ap.add_argument("--json", default=None, help="also write the results to this file")
    args = ap.parse_args(argv)

    import numpy as np

    from fusegrad.data import load_digits

    X, y = load_digits()
    X = np.ascontiguousarray(X / 16.0, dtype=np.float32)
    y = np.ascontiguousarray(y, dtype=np.int64)
    sizes = (X.shape[1], *(int(h) for h in args.hidden.split(",") if h), 10)
    batches = ([int(b) for b in args.batch_sizes.split(",")] if args.batch_sizes
               else list(QUICK_SIZES if args.quick else FULL_SIZES))
    max_updates = args.max_updates if args.max_updates else (QUICK_UPDATES if args.quick
                                                               else None)
    epochs = 1 if args.quick and args.epochs == 3 else args.epochs
    if args.libraries:
        libs = [s for s in args.libraries.split(",") if s]
        unknown = set(libs) - set(LIBRARIES)
        if unknown:
            ap.error(f"unknown libraries {sorted(unknown)}; choose from {list(LIBRARIES)}")
    else:
        libs = ["fusegrad", "numpy"] + ([] if args.quick else ["torch"])
    skipped = {}
    if "torch" in libs:
        try:
            import torch  # noqa: F401
        except ImportError as e:
            skipped["torch"] = f"not installed ({e})"
    if args.device != "cpu":
        skipped.setdefault("numpy", "CPU only")
        if "torch" in libs and "torch" not in skipped:
            import torch

            if not torch.cuda.is_available():
                skipped["torch"] = "no CUDA build/device"
    libs = [lib for lib in libs if lib not in skipped]
    for lib, why in skipped.items():
        print(f"note: {lib} left out: {why}")

    peaks = {t: peak_gflops(threads=t) for t in _threads(args.threads)}
    print(f"digits {X.shape[0]}x{X.shape[1]}, MLP {'-'.join(map(str, sizes))}, Adam lr={args.lr}"
          f", device {args.device}, {epochs} timed epoch(s) per row"
          + (f", at most {max_updates} updates timed per epoch (* = epoch estimated)"
             if max_updates else ""))
    rows = []
    for t in _threads(args.threads):
        limiter = _set_threads(t, libs)
        for batch in batches:
            per_epoch = math.ceil(X.shape[0] / batch)
            res = {}
            for lib in libs:
                dev = "cpu" if lib == "numpy" else args.device
                step = LIBRARIES[lib](sizes, args.lr, dev, 0)
                res[lib] = time_block(lib, step, X, y, batch, epochs, max_updates, dev, seed=1)
                pause()
            rows.append({"threads": t, "batch": batch, "updates_per_epoch": per_epoch,
                         "flops_per_update": gemm_flops(sizes, batch), "results": res})
            print(f"  threads {t} batch {batch:5d}: " + ", ".join(
                f"{lib} {res[lib]['update_s'] * 1e3:.3f} ms/update" for lib in libs), flush=True)
        del limiter
    head, table = report(rows, libs, peaks)
    print_table(head, table, title="time per update (ms/upd) and per epoch (ms/epoch); "
                "lib/fg = that library's time / fusegrad's (>1: fusegrad faster)")
    for t, pk in peaks.items():
        print(f"%peak: {pk['label']} × {t} thread(s) = {pk['gflops']:.0f} GFLOP/s")

    os.makedirs(args.out, exist_ok=True)
    csv_path = os.path.join(args.out, "batch_size.csv")
    write_csv(csv_path, head, table)
    print(f"wrote {csv_path}")
    png_path = None
    if not args.no_plot:
        png_path = os.path.join(args.out, "batch_size.png")
        plot(png_path, rows, libs)
        print(f"wrote {png_path}")
    result = {"suite": "batch-size", "sizes": list(sizes), "optimizer": "adam", "lr": args.lr,
              "device": args.device, "epochs": epochs, "max_updates": max_updates,
              "libraries": libs, "skipped": skipped, "n_samples": int(X.shape[0]),
              "peak": {str(t): p for t, p in peaks.items()}, "columns": head, "table": table,
              "rows": rows, "csv": csv_path, "plot": png_path}
    if args.json:
        write_json(args.json, result)
    return result


if __name__ == "__main__":
    main()
