"""PNG plots of a training run (loss, accuracy, learning rate), drawn with matplotlib's Agg
canvas directly: no pyplot, so no global backend switch and no display needed."""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

__all__ = ["plot_history"]


def _figure(title: str, xlabel: str, ylabel: str) -> tuple[Any, Any]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    # Fixed margins instead of layout="tight": the tight layout measured every tick label
    # twice and took most of the plotting time (about 0.7 s per figure here).
    fig = Figure(figsize=(6.4, 4.2), dpi=100)
    fig.subplots_adjust(left=0.14, right=0.97, bottom=0.12, top=0.92)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    return fig, ax


def _finite(values: list[float]) -> bool:
    return any(not math.isnan(v) for v in values)


def plot_history(history: Any, out_dir: str | os.PathLike[str], title: str = "") -> list[str]:
    """Writes ``loss.png``, ``accuracy.png`` (when accuracies exist) and ``lr.png`` to
    ``out_dir`` from a ``History``; returns the paths written.

    The loss plot shows per-step training loss faintly behind the per-epoch means; the lr
    plot is per optimizer step (so warm-up and cyclic schedules are visible), with epoch
    boundaries on a second x axis scale when steps are known.
    """
    out_dir = os.fspath(out_dir)
    written = []
    epochs = np.asarray(history.epoch)
    prefix = f"{title}: " if title else ""

    fig, ax = _figure(f"{prefix}loss", "epoch", "cross-entropy loss")
    steps = history.steps["loss"]
    if steps and len(epochs):
        # Step k of n_total falls in epoch position k / steps_per_epoch (epochs start at 1).
        x = epochs[0] - 1 + np.arange(1, len(steps) + 1) * len(epochs) / len(steps)
        ax.plot(x, steps, color="tab:blue", alpha=0.2, linewidth=0.8, label="train (per step)")
    # An epoch's mean training loss is drawn mid-epoch (it averages the whole epoch's steps);
    # validation is measured at the epoch's end.
    ax.plot(epochs - 0.5, history["train_loss"], "o-", color="tab:blue", markersize=3,
            label="train (epoch mean)")
    if _finite(history["val_loss"]):
        ax.plot(epochs, history["val_loss"], "s-", color="tab:orange", markersize=3,
                label="validation")
    ax.set_yscale("log")
    ax.legend()
    written.append(os.path.join(out_dir, "loss.png"))
    fig.savefig(written[-1])

    if _finite(history["train_acc"]):
        fig, ax = _figure(f"{prefix}accuracy", "epoch", "accuracy")
        ax.plot(epochs - 0.5, history["train_acc"], "o-", color="tab:blue", markersize=3,
                label="train (epoch mean)")
        if _finite(history["val_acc"]):
            ax.plot(epochs, history["val_acc"], "s-", color="tab:orange", markersize=3,
                    label="validation")
        ax.legend()
        written.append(os.path.join(out_dir, "accuracy.png"))
        fig.savefig(written[-1])

    fig, ax = _figure(f"{prefix}learning rate", "optimizer step", "learning rate")
    lrs = history.steps["lr"]
    if lrs:
        ax.plot(np.arange(1, len(lrs) + 1), lrs, color="tab:green")
    else:
        ax.plot(epochs, history["lr"], "o-", color="tab:green", markersize=3)
        ax.set_xlabel("epoch")
    written.append(os.path.join(out_dir, "lr.png"))
    fig.savefig(written[-1])
    return written
