"""``fusegrad train``: options -> ``TrainConfig`` -> ``fusegrad.train.run_training``."""

from __future__ import annotations

import argparse
import dataclasses

from fusegrad.cli.common import add_model_options

NAME = "train"
HELP = "train an MLP (default: digits) and write metrics, checkpoint and plots"
DESCRIPTION = (
    "Trains a multilayer perceptron and writes metrics.json, history.csv, checkpoint.npz, "
    "loss.png, accuracy.png and lr.png to --out. Defaults: the 8x8 digits (70/15/15 "
    "stratified split, standardised), MLP 64-128-128-10 with ReLU, Adam, cosine schedule "
    "with a one-epoch warm-up, batch 32, 30 epochs, seed 0."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    from fusegrad.train.job import OPTIMIZERS, SCHEDULES, TrainConfig
    from fusegrad.train.models import INITS

    d = TrainConfig()
    add_model_options(p, d)
    p.add_argument("--optimizer", choices=OPTIMIZERS, default=d.optimizer,
                   help="momentum/nesterov are SGD with --momentum")
    p.add_argument("--lr", type=float, default=d.lr,
                   help="learning rate (default: a good one for the optimizer, e.g. 3e-3 "
                        "for adam)")
    p.add_argument("--weight-decay", type=float, default=d.weight_decay, metavar="WD",
                   help="L2 penalty (decoupled for adamw; default: the optimizer's)")
    p.add_argument("--momentum", type=float, default=d.momentum,
                   help="momentum of --optimizer momentum/nesterov")
    p.add_argument("--schedule", choices=SCHEDULES, default=d.schedule,
                   help="learning-rate schedule, stepped every batch over the whole run")
    p.add_argument("--init", choices=INITS, default=d.init,
                   help="weight init: PyTorch's Linear default, He (kaiming normal) or Xavier")
    p.add_argument("--patience", type=int, default=d.patience, metavar="N",
                   help="early stopping after N epochs without a lower validation loss "
                        "(restores the best weights)")
    p.add_argument("--clip-grad-norm", type=float, default=d.clip_grad_norm, metavar="NORM",
                   help="clip the total gradient norm every step")
    p.add_argument("--out", default=d.out, metavar="DIR",
                   help="run folder (default: runs/<timestamp>; '' writes nothing)")
    p.add_argument("--resume", default=d.resume, metavar="CHECKPOINT",
                   help="continue a run from its checkpoint.npz up to --epochs")
    p.add_argument("--no-plots", dest="plots", action="store_false",
                   help="skip the PNG plots (matplotlib is then not even imported)")
    p.add_argument("--profile", action="store_true",
                   help="profile the first epoch with fusegrad.profiler and print the table")


def run(args: argparse.Namespace) -> int:
    from fusegrad.train.job import TrainConfig, run_training

    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    config = TrainConfig(**{k: v for k, v in vars(args).items() if k in fields})
    run_training(config)
    return 0
