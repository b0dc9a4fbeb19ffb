"""Argument types and option groups shared by the sub-commands (parsing only)."""

from __future__ import annotations

import argparse


def int_list(text: str) -> tuple[int, ...]:
    """``"128,128"`` -> ``(128, 128)``; ``""`` or ``"none"`` -> ``()`` (no hidden layer)."""
    if text.strip().lower() in ("", "none"):
        return ()
    try:
        values = tuple(int(t) for t in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers like 128,128, got {text!r}") from None
    return values


def float_pair(text: str) -> tuple[float, float] | None:
    """``"1e-4,1e-1"`` -> ``(1e-4, 0.1)``; ``"none"`` -> None."""
    if text.strip().lower() == "none":
        return None
    parts = text.split(",")
    try:
        if len(parts) != 2:
            raise ValueError
        return float(parts[0]), float(parts[1])
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected LOW,HIGH like 1e-4,1e-1, got {text!r}") from None


def add_model_options(p: argparse.ArgumentParser, defaults: object) -> None:
    """Data and model options common to ``train`` and ``search``."""
    from fusegrad.train.job import DATASETS

    p.add_argument("--dataset", choices=DATASETS, default=defaults.dataset,
                   help="digits: the 8x8 digits shipped with scikit-learn; mnist: IDX files "
                        "in --data-dir")
    p.add_argument("--data-dir", default=defaults.data_dir, metavar="DIR",
                   help="folder with the four MNIST IDX files (optionally .gz)")
    p.add_argument("--hidden", type=int_list, default=defaults.hidden, metavar="N,N",
                   help="hidden layer widths ('none': a linear model)")
    p.add_argument("--batchnorm", action="store_true", default=defaults.batchnorm,
                   help="BatchNorm1d after every hidden Linear")
    p.add_argument("--dropout", type=float, default=defaults.dropout, metavar="P",
                   help="dropout probability after every hidden activation")
    p.add_argument("--batch-size", type=int, default=defaults.batch_size, metavar="N",
                   help="mini-batch size")
    p.add_argument("--epochs", type=int, default=defaults.epochs, metavar="N",
                   help="passes over the training split")
    p.add_argument("--warmup", type=float, default=defaults.warmup, metavar="EPOCHS",
                   help="linear warm-up from 10%% of the lr, in epochs (fractions allowed; "
                        "default: 1, or a tenth of runs shorter than 10 epochs)")
    p.add_argument("--device", default=defaults.device, help="cpu or cuda")
    p.add_argument("--seed", type=int, default=defaults.seed,
                   help="seeds initialisation, shuffling and dropout (the data split is "
                        "fixed)")
    p.add_argument("--threads", type=int, default=defaults.threads, metavar="N",
                   help="CPU threads for fusegrad kernels and BLAS (default: all)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
