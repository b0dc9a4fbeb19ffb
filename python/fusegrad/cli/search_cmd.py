"""``fusegrad search``: options -> ``SearchConfig`` -> ``fusegrad.train.run_search``."""

from __future__ import annotations

import argparse
import dataclasses

from fusegrad.cli.common import add_model_options, float_pair

NAME = "search"
HELP = "random / coarse-to-fine search of learning rate and weight decay"
DESCRIPTION = (
    "Random search with log-uniform lr and weight decay, then coarse-to-fine rounds that "
    "narrow the ranges around the best trials. Each trial trains --epochs epochs and is "
    "scored by validation accuracy; the best configuration is retrained and tested. Writes "
    "results.csv, best_config.json and search.png to --out."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    from fusegrad.train.job import OPTIMIZERS, SCHEDULES
    from fusegrad.train.search import SearchConfig

    d = SearchConfig()
    add_model_options(p, d)
    p.add_argument("--optimizer", choices=OPTIMIZERS, default=d.optimizer)
    p.add_argument("--schedule", choices=SCHEDULES, default=d.schedule)
    p.add_argument("--lr-range", type=float_pair, default=d.lr_range, metavar="LOW,HIGH",
                   help="log-uniform learning-rate range of the first round")
    p.add_argument("--weight-decay-range", type=float_pair, default=d.weight_decay_range,
                   metavar="LOW,HIGH", help="log-uniform weight-decay range ('none': not searched)")
    p.add_argument("--trials", type=int, default=d.trials, metavar="N", help="trials per round")
    p.add_argument("--rounds", type=int, default=d.rounds, metavar="N",
                   help="1: plain random search; more: coarse-to-fine")
    p.add_argument("--top-k", type=int, default=d.top_k, metavar="K",
                   help="best trials that set the next round's ranges")
    p.add_argument("--shrink", type=float, default=d.shrink,
                   help="range width factor per round (log space for lr, weight decay)")
    p.add_argument("--out", default=d.out, metavar="DIR",
                   help="results folder (default: runs/search-<timestamp>; '' writes nothing)")


def run(args: argparse.Namespace) -> int:
    from fusegrad.train.search import SearchConfig, run_search

    fields = {f.name for f in dataclasses.fields(SearchConfig)}
    run_search(SearchConfig(**{k: v for k, v in vars(args).items() if k in fields}))
    return 0
