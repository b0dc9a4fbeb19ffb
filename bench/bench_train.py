"""Training-step and epoch time: fusegrad (raw step and the Trainer loop) vs PyTorch CPU eager
vs the hand-written NumPy MLP, same model, batch size, data and threads, in one run.

Rows (ReLU MLPs, softmax cross-entropy, Adam lr 1e-3, shuffled epochs, short last batch kept):
- digits 64-128-128-10 at batch 32 (the 1257-image training split of ``fusegrad train``,
  standardised): 40 steps per epoch;
- MNIST-shaped 784-512-512-10 at batch 32 and 128, on synthetic data (N(0, 1) inputs,
  random labels; no download): ``--samples`` images (4096) per epoch.

Libraries: ``fusegrad`` (nn + optim, one step = wrap the batch, forward, loss, zero_grad,
backward, Adam, ``loss.item()``), ``trainer`` (fusegrad's ``Trainer.train_epoch`` over a
``DataLoader``: the same steps plus the accuracy count and history, i.e. what ``fusegrad
train`` runs), ``torch`` (the same step in PyTorch eager, ``loss.item()`` included) and
``numpy`` (bench/numpy_mlp.py: forward, manual backward and a flat-buffer Adam).

Each library first runs ``--warmup`` seconds (1 s) of untimed steps. Every step is timed on
its own (``ms/step`` = median over the timed epochs' steps, batch
gathering excluded); ``ms/epoch`` is the median whole epoch (shuffle + gathering + steps).
``X/fg`` = library X's time / fusegrad's (>1: fusegrad is faster). Threads: fusegrad's
OpenMP pool, torch.set_num_threads and the BLAS pool (threadpoolctl) all get ``--threads``.
Libraries run in blocks with a 0.15 s pause between them; ``others`` is how many cores other
processes kept busy during the row (above 0.3: noisy). Never asserts.

    PYTHONPATH=python python bench/bench_train.py [--threads 1] [--epochs 5] [--json out.json]
    PYTHONPATH=python python bench/bench_train.py --profile   # cProfile of fusegrad's epoch
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import BusyMeter, clean_blas_env, pause, print_table, write_json  # noqa: E402

LR = 1e-3
CASES = (  # name, sizes, batch
    ("digits", (64, 128, 128, 10), 32),
    ("mnist-shape", (784, 512, 512, 10), 32),
    ("mnist-shape", (784, 512, 512, 10), 128),
)
LIBRARIES = ("fusegrad", "trainer", "torch", "numpy")


# ---- data ---------------------------------------------------------------------------------
def load_case_data(name: str, samples: int, seed: int = 0) -> tuple[Any, Any]:
    import numpy as np

    if name == "digits":
        from fusegrad.train.job import load_data

        d = load_data("digits")
        return d.X_train, d.y_train
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((samples, 784), dtype=np.float32)
    y = rng.integers(0, 10, samples).astype(np.int64)
    return X, y


# ---- one step per library -----------------------------------------------------------------
def fusegrad_step(sizes: tuple[int, ...], seed: int) -> Callable[[Any, Any], float]:
    import fusegrad as fg
    from fusegrad import nn, optim
    from fusegrad.autograd.tensor import Tensor
    from fusegrad.train import mlp

    fg.manual_seed(seed)
    model = mlp(sizes)
    opt = optim.Adam(model.parameters(), lr=LR)
    loss_fn = nn.CrossEntropyLoss()

    def step(xb: Any, yb: Any) -> float:
        loss = loss_fn(model(Tensor._make(xb, "cpu")), Tensor._make(yb, "cpu"))
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    return step


def torch_step(sizes: tuple[int, ...], seed: int) -> Callable[[Any, Any], float]:
    import torch

    torch.manual_seed(seed)
    layers: list[Any] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(torch.nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step(xb: Any, yb: Any) -> float:
        loss = loss_fn(model(torch.from_numpy(xb)), torch.from_numpy(yb))
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    return step


def numpy_step(sizes: tuple[int, ...], seed: int) -> Callable[[Any, Any], float]:
    from numpy_mlp import NumpyMLP

    return NumpyMLP(sizes, lr=LR, seed=seed).train_step


STEPS = {"fusegrad": fusegrad_step, "torch": torch_step, "numpy": numpy_step}


# ---- timing -------------------------------------------------------------------------------
def time_steps(step: Callable, X: Any, y: Any, batch: int, epochs: int, warmup: float,
               seed: int) -> dict:
    """``epochs`` shuffled epochs after ``warmup`` seconds of steps (at least 3 steps); every
    step timed on its own."""
    import numpy as np

    n = X.shape[0]
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    t_end, k = time.perf_counter() + warmup, 0
    while k < 3 or time.perf_counter() < t_end:
        idx = order[(k * batch) % n : (k * batch) % n + batch]
        step(X[idx], y[idx])
        k += 1
    step_times: list[float] = []
    epoch_times = []
    clock = time.perf_counter
    with BusyMeter() as busy:
        for _ in range(epochs):
            t_epoch = clock()
            order = rng.permutation(n)
            for s in range(0, n, batch):
                idx = order[s : s + batch]
                xb, yb = X[idx], y[idx]
                t0 = clock()
                step(xb, yb)
                step_times.append(clock() - t0)
            epoch_times.append(clock() - t_epoch)
    return _summary(step_times, epoch_times, busy.others)


def time_trainer(sizes: tuple[int, ...], X: Any, y: Any, batch: int, epochs: int,
                 warmup: float, seed: int) -> dict:
    """``Trainer.train_epoch`` over a shuffling DataLoader; steps timed through the optimizer."""
    import fusegrad as fg
    from fusegrad import optim
    from fusegrad.data import DataLoader, TensorDataset
    from fusegrad.train import Trainer, mlp

    fg.manual_seed(seed)
    model = mlp(sizes)
    opt = optim.Adam(model.parameters(), lr=LR)
    trainer = Trainer(model, opt)
    loader = DataLoader(TensorDataset(X, y), batch_size=batch, shuffle=True, seed=seed)
    t_end = time.perf_counter() + warmup
    while True:
        trainer.train_epoch(_Take(loader, 3) if warmup <= 0 else loader)
        if time.perf_counter() >= t_end:
            break
    # Per-step times: between consecutive batches handed out by the loader (gathering
    # excluded), i.e. forward through Adam and the loop's bookkeeping.
    timed = _TimedLoader(loader)
    epoch_times = []
    with BusyMeter() as busy:
        for _ in range(epochs):
            t0 = time.perf_counter()
            trainer.train_epoch(timed)
            epoch_times.append(time.perf_counter() - t0)
    return _summary(timed.step_times, epoch_times, busy.others)


class _Take:
    def __init__(self, loader: Any, k: int) -> None:
        self.loader, self.k = loader, k

    def __iter__(self) -> Any:
        for i, b in enumerate(self.loader):
            if i >= self.k:
                return
            yield b


class _TimedLoader:
    """Yields the loader's batches and records the time the consumer spent on each."""

    def __init__(self, loader: Any) -> None:
        self.loader, self.step_times = loader, []

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Any:
        # The clock stops as soon as the consumer asks for the next batch, before the loader
        # gathers it: step times exclude batch gathering, as time_steps' do.
        clock = time.perf_counter
        for b in self.loader:
            t0 = clock()
            yield b
            self.step_times.append(clock() - t0)


def _summary(step_times: list[float], epoch_times: list[float], others: float) -> dict:
    import numpy as np

    med = float(np.median(epoch_times))
    return {"step_s": float(np.median(step_times)), "epoch_s": med,
            "spread": (max(epoch_times) - min(epoch_times)) / med if med > 0 else 0.0,
            "steps": len(step_times), "others": others}


# ---- profile --------------------------------------------------------------------------------
def profile_fusegrad(sizes: tuple[int, ...], X: Any, y: Any, batch: int, top: int = 25) -> None:
    """cProfile of three Trainer epochs: where the Python time of a step goes."""
    import cProfile
    import pstats

    import fusegrad as fg
    from fusegrad import optim
    from fusegrad.data import DataLoader, TensorDataset
    from fusegrad.train import Trainer, mlp

    fg.manual_seed(0)
    model = mlp(sizes)
    trainer = Trainer(model, optim.Adam(model.parameters(), lr=LR))
    loader = DataLoader(TensorDataset(X, y), batch_size=batch, shuffle=True, seed=0)
    trainer.train_epoch(loader)
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(3):
        trainer.train_epoch(loader)
    prof.disable()
    steps = 3 * len(loader)
    print(f"\ncProfile: 3 Trainer epochs = {steps} steps, MLP {'-'.join(map(str, sizes))} "
          f"batch {batch} (tottime = own time; per step divide by {steps})")
    pstats.Stats(prof).sort_stats("tottime").print_stats(top)


# ---- main ---------------------------------------------------------------------------------
def _set_threads(t: int) -> Any:
    import fusegrad as fg

    fg.set_num_threads(t)
    try:
        import torch

        torch.set_num_threads(t)
    except ImportError:
        pass
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    return threadpool_limits(limits=t, user_api="blas")


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", default="1", help="comma-separated thread counts")
    ap.add_argument("--epochs", type=int, default=5, help="timed epochs per library and row")
    ap.add_argument("--samples", type=int, default=4096,
                    help="synthetic MNIST-shaped images per epoch")
    ap.add_argument("--libraries", default=",".join(LIBRARIES),
                    help=f"subset of {','.join(LIBRARIES)}")
    ap.add_argument("--warmup", type=float, default=1.0,
                    help="seconds of untimed steps before each library's timed epochs")
    ap.add_argument("--quick", action="store_true", help="1 epoch, 512 samples: a smoke test")
    ap.add_argument("--profile", action="store_true",
                    help="also print a cProfile of fusegrad's Trainer epoch for every row")
    ap.add_argument("--json", default=None, help="write the results to this file")
    args = ap.parse_args(argv)
    libs = [lib for lib in args.libraries.split(",") if lib]
    unknown = set(libs) - set(LIBRARIES)
    if unknown:
        ap.error(f"unknown libraries {sorted(unknown)}; choose from {', '.join(LIBRARIES)}")
    if "torch" in libs:
        try:
            import torch  # noqa: F401
        except ImportError:
            print("note: torch is not installed; left out")
            libs.remove("torch")
    epochs = 1 if args.quick else args.epochs
    samples = 512 if args.quick else args.samples
    # Warm-up by time, not steps: the first steps of a fresh process pay page faults for
    # every newly allocated large buffer (glibc serves them with mmap until its threshold
    # adapts); 10 warm-up steps left the 784-512-512-10 rows about 30% slow.
    warmup = 0.0 if args.quick else args.warmup

    rows = []
    for t in [int(s) for s in args.threads.split(",") if s]:
        limiter = _set_threads(t)
        for name, sizes, batch in CASES:
            X, y = load_case_data(name, samples)
            res = {}
            for lib in libs:
                if lib == "trainer":
                    res[lib] = time_trainer(sizes, X, y, batch, epochs, warmup, seed=0)
                else:
                    res[lib] = time_steps(STEPS[lib](sizes, 0), X, y, batch, epochs, warmup,
                                          seed=0)
                pause()
            rows.append({"case": name, "sizes": list(sizes), "batch": batch, "threads": t,
                         "n": int(X.shape[0]), "results": res})
            print(f"  {name} {'-'.join(map(str, sizes))} batch {batch} threads {t}: " +
                  ", ".join(f"{lib} {r['step_s'] * 1e3:.3f} ms/step" for lib, r in res.items()),
                  flush=True)
            if args.profile:
                profile_fusegrad(sizes, X, y, batch)
        del limiter

    head = ["case", "model", "batch", "thr"]
    for lib in libs:
        head += [f"{lib} ms/step", f"{lib} ms/epoch"]
    ref = "fusegrad" if "fusegrad" in libs else libs[0]
    others_libs = [lib for lib in libs if lib != ref]
    head += [f"{lib}/fg step" for lib in others_libs] + [f"{lib}/fg epoch" for lib in others_libs]
    head += ["spread", "others"]
    table = []
    for r in rows:
        res = r["results"]
        line: list[Any] = [r["case"], "-".join(map(str, r["sizes"])), r["batch"], r["threads"]]
        for lib in libs:
            line += [f"{res[lib]['step_s'] * 1e3:.3f}", f"{res[lib]['epoch_s'] * 1e3:.1f}"]
        for key in ("step_s", "epoch_s"):
            line += [f"{res[lib][key] / res[ref][key]:.2f}" for lib in others_libs]
        line.append(f"{max(x['spread'] for x in res.values()):.2f}")
        others = max((x["others"] for x in res.values() if not math.isnan(x["others"])),
                     default=math.nan)
        line.append(f"{others:.2f}" + (" noisy" if others > 0.3 else ""))
        table.append(line)
    print_table(head, table, title=f"training time per step / per epoch ({epochs} timed epochs);"
                " X/fg = X's time / fusegrad's (>1: fusegrad faster)")
    result = {"suite": "mlp", "lr": LR, "epochs": epochs, "samples": samples,
              "libraries": libs, "columns": head, "table": table, "rows": rows}
    if args.json:
        write_json(args.json, result)
    return result


if __name__ == "__main__":
    clean_blas_env()
    main()
