"""``fusegrad landscape``: critical points, optimizer paths on an error surface, an MLP spectrum.

Three parts, each writing into ``--out``:
(a) the worked example L = (1 - w1·w2)²: the saddle at the origin and the valley of minima
    w1·w2 = 1 (worked_example.json / .txt / .png);
(b) SGD, momentum, Nesterov, AdaGrad, RMSprop and Adam on an elongated convex quadratic, with
    a constant learning rate and with warm-up + decay (trajectories.png,
    steps_to_tolerance.csv, also printed);
(c) the Hessian spectrum of a small tanh MLP trained on the digits (mlp_spectrum.png / .json).
The CLI wires ``add_arguments`` and ``run``; there is no logic in ``fusegrad.cli``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from fusegrad.analysis.critical import critical_point, escape
from fusegrad.analysis.hessian import hessian
from fusegrad.analysis.trajectory import steps_to_tolerance, surface, trajectory
from fusegrad.autograd.tensor import Tensor


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``fusegrad landscape``."""
    parser.add_argument("--out", default=None,
                        help="output folder (default runs/landscape-<timestamp>)")
    parser.add_argument("--steps", type=int, default=150,
                        help="optimizer steps per trajectory on the 2-D surface (default 150)")
    parser.add_argument("--tol", type=float, default=1e-4,
                        help="loss tolerance for the steps-to-tolerance table (default 1e-4)")
    parser.add_argument("--no-mlp", action="store_true",
                        help="skip part (c), the MLP Hessian spectrum")
    parser.add_argument("--mlp-epochs", type=int, default=30,
                        help="training epochs of the MLP before its spectrum (default 30)")
    parser.add_argument("--mlp-hidden", type=int, default=8,
                        help="hidden units of the 64-H-10 MLP (default 8: 610 parameters)")
    parser.add_argument("--mlp-samples", type=int, default=0,
                        help="digits used for training and the Hessian (default 0: all 1797)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")


def run(args: argparse.Namespace) -> int:
    """Run all parts, write the files, print a summary; returns 0 (the exit status)."""
    out = Path(args.out or os.path.join("runs", time.strftime("landscape-%Y%m%d-%H%M%S")))
    out.mkdir(parents=True, exist_ok=True)
    import matplotlib

    matplotlib.use("Agg")
    print(f"fusegrad landscape -> {out}")
    worked_example(out)
    optimizer_paths(out, steps=args.steps, tol=args.tol)
    if not args.no_mlp:
        mlp_spectrum(out, epochs=args.mlp_epochs, hidden=args.mlp_hidden,
                     samples=args.mlp_samples, seed=args.seed)
    print(f"files: {', '.join(sorted(p.name for p in out.iterdir()))}")
    return 0


# ---- (a) the worked example ------------------------------------------------------------------
WORKED_POINTS = [  # (label, w1, w2)
    ("origin", 0.0, 0.0),
    ("curve (1, 1)", 1.0, 1.0),
    ("curve (2, 0.5)", 2.0, 0.5),
    ("curve (-1, -1)", -1.0, -1.0),
    ("off the curve (0.5, 0.5)", 0.5, 0.5),
]

WORKED_TEXT = """\
Worked example: L(w1, w2) = (1 - w1*w2)^2

Gradient: dL/dw1 = -2 w2 (1 - w1 w2), dL/dw2 = -2 w1 (1 - w1 w2).
It vanishes when w1*w2 = 1 (a whole curve, where L = 0) or when w1 = w2 = 0 (L = 1).
Hessian: [[2 w2^2, 4 w1 w2 - 2], [4 w1 w2 - 2, 2 w1^2]].
- At the origin it is [[0, -2], [-2, 0]]: eigenvalues -2 and +2, a saddle. Gradient descent
  started exactly there never moves; the eigenvector of -2, +-[1, 1]/sqrt(2), is the escape
  direction: a step t along it gives L = (1 - t^2/2)^2 < 1.
- On the curve w1*w2 = 1 it is [[2 w2^2, 2], [2, 2 w1^2]] with determinant 4 w1^2 w2^2 - 4 = 0:
  eigenvalues 0 and 2 (w1^2 + w2^2). Every point of the curve is a global minimum, but not an
  isolated one: the zero eigenvalue's eigenvector (1, -w2^2) is tangent to the curve, along
  which L stays 0. The second-order test cannot certify such a point (a zero eigenvalue), so
  critical_point reports "degenerate" - correctly: it is a minimum, but a flat valley of them.

Numerical check (fusegrad.analysis.critical_point, float64):
"""


def _worked_loss(a: Tensor, b: Tensor) -> Tensor:
    return (1 - a * b) ** 2


def worked_example(out: Path) -> dict:
    """Part (a): classify the critical points of (1 - w1·w2)², write json/txt/png."""
    rows, lines = [], []
    for label, w1, w2 in WORKED_POINTS:
        a = Tensor(np.array(w1), requires_grad=True)
        b = Tensor(np.array(w2), requires_grad=True)
        fn = lambda a=a, b=b: _worked_loss(a, b)  # noqa: E731
        cp = critical_point(fn, [a, b])
        h = hessian(fn, [a, b])
        row = {
            "point": label, "w": [w1, w2], "loss": float(fn().item()),
            "gradient_norm": cp.gradient_norm, "hessian": np.round(h, 12).tolist(),
            "eigenvalues": np.round(cp.eigenvalues, 12).tolist(), "kind": cp.kind,
            "min_ratio": cp.min_ratio,
            "escape_direction": None if cp.escape_direction is None
            else np.round(cp.escape_direction, 12).tolist(),
        }
        if cp.escape_direction is not None:
            esc = escape(fn, [a, b], step=0.1, point=cp)
            row["escape_step_0.1"] = {"loss_before": esc.loss_before,
                                      "loss_after": esc.loss_after,
                                      "direction": np.round(esc.direction, 12).tolist()}
        rows.append(row)
        lines.append(f"  {label:<26} |grad| {cp.gradient_norm:8.2e}  eigenvalues "
                     f"{_fmt(cp.eigenvalues)}  -> {cp.kind}")
        if cp.escape_direction is not None:
            lines.append(f"  {'':<26} escape along {_fmt(cp.escape_direction)} by 0.1: loss "
                         f"{row['escape_step_0.1']['loss_before']:.6f} -> "
                         f"{row['escape_step_0.1']['loss_after']:.6f}")
    (out / "worked_example.json").write_text(json.dumps(
        {"loss": "(1 - w1*w2)^2", "points": rows}, indent=2) + "\n")
    text = WORKED_TEXT + "\n".join(lines) + "\n"
    (out / "worked_example.txt").write_text(text)
    _plot_worked_example(out / "worked_example.png", rows)
    print("(a) worked example L = (1 - w1*w2)^2")
    print("\n".join(lines))
    return {"points": rows}


def _fmt(v: np.ndarray) -> str:
    return "[" + ", ".join(f"{x:+.4f}" for x in np.asarray(v)) + "]"


def _plot_worked_example(path: Path, rows: list) -> None:
    import matplotlib.pyplot as plt

    xs = np.linspace(-2.5, 2.5, 201)
    z = surface(_worked_loss, xs, xs)
    fig, ax = plt.subplots(figsize=(6, 5.5))
    cs = ax.contourf(xs, xs, np.log10(z + 1e-3), levels=30, cmap="viridis")
    fig.colorbar(cs, ax=ax, label="log10(L + 1e-3)")
    for sign in (1, -1):  # the curve of minima w1 w2 = 1, both branches
        t = np.linspace(0.4, 2.5, 100) * sign
        ax.plot(t, 1 / t, "w--", lw=1.2, label="minima w1·w2 = 1" if sign > 0 else None)
    ax.plot(0, 0, "rx", ms=10, mew=2, label="saddle (origin)")
    origin = rows[0]
    if origin["escape_direction"] is not None:
        d = np.asarray(origin["escape_direction"])
        for s in (1, -1):
            ax.annotate("", xy=tuple(s * 0.9 * d), xytext=(0, 0),
                        arrowprops=dict(arrowstyle="->", color="red", lw=2))
    ax.set(xlabel="w1", ylabel="w2", title="L = (1 - w1·w2)²: saddle and escape directions",
           xlim=(-2.5, 2.5), ylim=(-2.5, 2.5), aspect="equal")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ---- (b) optimizer paths on an elongated quadratic ---------------------------------------
SURFACE_EIGS = (1.0, 10.0)  # curvatures along the rotated axes: condition number 10
SURFACE_ANGLE = np.deg2rad(30.0)
SURFACE_START = (-4.0, 2.5)


def elongated_bowl(x: Tensor, y: Tensor) -> Tensor:
    """L = ½ (λ1 u² + λ2 v²), (u, v) = (x, y) rotated by 30°; minimum 0 at the origin."""
    c, s = float(np.cos(SURFACE_ANGLE)), float(np.sin(SURFACE_ANGLE))
    u = x * c + y * s
    v = y * c - x * s
    return 0.5 * (SURFACE_EIGS[0] * u * u + SURFACE_EIGS[1] * v * v)


def _optimizers() -> list[tuple[str, str, Callable]]:
    """(name, settings, factory). Learning rates suit this surface (λmax = 10: plain SGD is
    stable below 0.2); the adaptive methods take steps of about lr whatever the gradient, so
    theirs are set by the distance to travel (~5)."""
    from fusegrad import optim

    return [
        ("SGD", "lr=0.15", lambda p: optim.SGD(p, lr=0.15)),
        ("Momentum", "lr=0.05, momentum=0.8", lambda p: optim.SGD(p, lr=0.05, momentum=0.8)),
        ("Nesterov", "lr=0.05, momentum=0.8",
         lambda p: optim.SGD(p, lr=0.05, momentum=0.8, nesterov=True)),
        ("AdaGrad", "lr=3.0", lambda p: optim.Adagrad(p, lr=3.0)),
        ("RMSprop", "lr=0.2", lambda p: optim.RMSprop(p, lr=0.2)),
        ("Adam", "lr=0.5", lambda p: optim.Adam(p, lr=0.5)),
    ]


WARMUP = 10


def _schedules(steps: int) -> list[tuple[str, Callable | None]]:
    """constant; cosine decay to 0 over the run; linear warm-up from lr/10, then cosine."""
    from fusegrad.optim import lr_scheduler as sch

    def cosine(opt: Any) -> Any:
        return sch.CosineAnnealingLR(opt, T_max=steps)

    def warmup_cosine(opt: Any) -> Any:
        warm = sch.LinearLR(opt, start_factor=0.1, end_factor=1.0, total_iters=WARMUP)
        decay = sch.CosineAnnealingLR(opt, T_max=max(1, steps - WARMUP))
        return sch.SequentialLR(opt, [warm, decay], milestones=[WARMUP])

    return [("constant", None), ("cosine", cosine), (f"warmup{WARMUP}+cosine", warmup_cosine)]


def optimizer_paths(out: Path, steps: int = 150, tol: float = 1e-4) -> list[dict]:
    """Part (b): run every optimizer × schedule, write trajectories.png and the table."""
    results = []
    for sched_name, sched in _schedules(steps):
        for name, settings, factory in _optimizers():
            tr = trajectory(elongated_bowl, SURFACE_START, factory, steps, sched)
            reached = steps_to_tolerance(tr.losses, tol)
            results.append({"optimizer": name, "settings": settings, "schedule": sched_name,
                            "steps_to_tol": reached, "final_loss": float(tr.losses[-1]),
                            "trajectory": tr})
    with open(out / "steps_to_tolerance.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["optimizer", "settings", "schedule", f"steps_to_loss<={tol:g}",
                    "final_loss"])
        for r in results:
            w.writerow([r["optimizer"], r["settings"], r["schedule"],
                        "" if r["steps_to_tol"] is None else r["steps_to_tol"],
                        f"{r['final_loss']:.6g}"])
    _plot_paths(out / "trajectories.png", results, steps)
    print(f"(b) elongated quadratic (curvatures {SURFACE_EIGS}, rotated 30°), start "
          f"{SURFACE_START}, {steps} steps; steps until loss <= {tol:g}:")
    print(format_table(results, steps))
    return results


def format_table(results: list[dict], steps: int) -> str:
    """The steps-to-tolerance table as aligned text (one row per optimizer)."""
    schedules = list(dict.fromkeys(r["schedule"] for r in results))
    head = f"  {'optimizer':<10}{'settings':<24}" + "".join(f"{s:>18}" for s in schedules)
    lines = [head]
    for name in dict.fromkeys(r["optimizer"] for r in results):
        mine = {r["schedule"]: r for r in results if r["optimizer"] == name}
        cells = []
        for s in schedules:
            n = mine[s]["steps_to_tol"]
            cells.append(f"{(f'> {steps}' if n is None else str(n)):>18}")
        lines.append(f"  {name:<10}{mine[schedules[0]]['settings']:<24}" + "".join(cells))
    return "\n".join(lines)


def _plot_paths(path: Path, results: list[dict], steps: int) -> None:
    import matplotlib.pyplot as plt

    schedules = list(dict.fromkeys(r["schedule"] for r in results))
    xs, ys = np.linspace(-5, 5, 201), np.linspace(-4, 4, 161)
    z = surface(elongated_bowl, xs, ys)
    fig, axes = plt.subplots(2, 2, figsize=(13, 10))
    axes = axes.ravel()
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, sched in zip(axes, schedules):
        ax.contour(xs, ys, z, levels=np.geomspace(1e-2, z.max(), 16), colors="0.7",
                   linewidths=0.7)
        for i, r in enumerate(x for x in results if x["schedule"] == sched):
            p = r["trajectory"].path
            ax.plot(p[:, 0], p[:, 1], ".-", color=colors[i % len(colors)], ms=2.5, lw=1,
                    label=r["optimizer"])
        ax.plot(*SURFACE_START, "ko", ms=5)
        ax.plot(0, 0, "k*", ms=10)
        ax.set(xlabel="w1", ylabel="w2", title=f"{sched} learning rate", aspect="equal",
               xlim=(xs[0], xs[-1]), ylim=(ys[0], ys[-1]))
        ax.legend(fontsize=8, loc="lower right")
    ax = axes[-1]
    styles = dict(zip(schedules, ["-", "--", ":", "-."]))
    names = list(dict.fromkeys(r["optimizer"] for r in results))
    for r in results:
        ax.semilogy(np.maximum(r["trajectory"].losses, 1e-16), styles[r["schedule"]],
                    color=colors[names.index(r["optimizer"]) % len(colors)], lw=1,
                    label=f"{r['optimizer']} ({r['schedule']})")
    ax.set(xlabel="step", ylabel="loss", title="loss per step", xlim=(0, steps))
    ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---- (c) Hessian spectrum of a small trained MLP ------------------------------------------
def mlp_spectrum(out: Path, epochs: int = 30, hidden: int = 8, samples: int = 0,
                 seed: int = 0) -> dict:
    """Part (c): train 64-hidden-10 (tanh) on the digits, then the Hessian spectrum there.

    tanh rather than ReLU: the loss must be twice differentiable for the Hessian (and its
    finite differences) to mean something; at a ReLU kink the gradient jumps.
    """
    import fusegrad as fg
    from fusegrad import nn, optim
    from fusegrad.data import DataLoader, TensorDataset, load_digits

    X, y = load_digits()
    if samples and samples < len(X):
        keep = np.random.default_rng(seed).permutation(len(X))[:samples]
        X, y = X[keep], y[keep]
    X = (X / 16.0).astype(np.float64)
    fg.manual_seed(seed)
    model = nn.Sequential(nn.Linear(64, hidden), nn.Tanh(), nn.Linear(hidden, 10)).double()
    loss_fn = nn.CrossEntropyLoss()
    opt = optim.Adam(model.parameters(), lr=0.01)
    loader = DataLoader(TensorDataset(X, y), batch_size=64, shuffle=True, seed=seed)
    for _ in range(epochs):
        for xb, yb in loader:
            opt.zero_grad()
            loss_fn(model(Tensor(xb)), Tensor(yb)).backward()
            opt.step()
    params = list(model.parameters())
    xt, yt = Tensor(X), Tensor(y)

    def full_loss() -> Tensor:
        return loss_fn(model(xt), yt)

    cp = critical_point(full_loss, params, method="dense")
    with fg.no_grad():
        acc = float((model(xt).numpy().argmax(axis=1) == y).mean())
    info = {
        "model": f"64-{hidden}-10 tanh MLP, float64", "n_params": cp.n,
        "samples": len(X), "epochs": epochs, "train_loss": float(full_loss().item()),
        "train_accuracy": acc, "gradient_norm": cp.gradient_norm, "kind": cp.kind,
        "min_ratio": cp.min_ratio, "zero_tol": cp.zero_tol, "n_negative": cp.n_negative,
        "n_zero": cp.n_zero, "n_positive": cp.n_positive,
        "eigenvalues": cp.eigenvalues.tolist(),
    }
    (out / "mlp_spectrum.json").write_text(json.dumps(info, indent=1) + "\n")
    _plot_spectrum(out / "mlp_spectrum.png", cp, info)
    print(f"(c) {info['model']}, {cp.n} parameters, {epochs} epochs on {len(X)} digits: "
          f"loss {info['train_loss']:.4f}, accuracy {acc:.3f}")
    print(f"    Hessian: {cp.n_negative} negative, {cp.n_zero} ~zero, {cp.n_positive} positive "
          f"eigenvalues (min ratio {cp.min_ratio:.3f}); range [{cp.eigenvalues[0]:.3g}, "
          f"{cp.eigenvalues[-1]:.3g}]; |grad| {cp.gradient_norm:.2e} -> {cp.kind}")
    return info


def _plot_spectrum(path: Path, cp: Any, info: dict) -> None:
    import matplotlib.pyplot as plt

    lam = cp.eigenvalues
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4.5))
    a1.plot(np.arange(len(lam)), lam, ".", ms=3)
    a1.axhline(0, color="k", lw=0.6)
    a1.set_yscale("symlog", linthresh=max(cp.zero_tol, 1e-8))
    a1.set(xlabel="index (ascending)", ylabel="eigenvalue (symlog)",
           title=f"Hessian eigenvalues, {info['model']}")
    a2.hist(lam, bins=60, color="tab:blue")
    a2.set_yscale("log")
    a2.set(xlabel="eigenvalue", ylabel="count",
           title=f"min ratio {cp.min_ratio:.3f} ({cp.n_positive}/{len(lam)} positive), "
                 f"|grad| {cp.gradient_norm:.1e}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


__all__ = ["add_arguments", "run"]
