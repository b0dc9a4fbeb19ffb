"""``fusegrad bench``: hands its arguments to the benchmark suite's ``main(argv)``.

The suite ships as ``fusegrad.benchmarks`` (or ``fusegrad.bench``) when the build includes
it; a source checkout also has the scripts in ``bench/``.
"""

from __future__ import annotations

import argparse
import importlib

NAME = "bench"
HELP = "kernel and training benchmarks against NumPy and PyTorch"
DESCRIPTION = "Runs the benchmark suite; arguments after 'bench' go to it (try --help)."
_MODULES = ("fusegrad.benchmarks", "fusegrad.bench")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("bench_args", nargs=argparse.REMAINDER, metavar="ARGS",
                   help="arguments of the benchmark suite")


def _suite() -> object | None:
    for name in _MODULES:
        try:
            return importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name is None or not name.startswith(e.name):
                raise  # the suite exists but one of its own imports is missing
    return None


def run(args: argparse.Namespace) -> int:
    from fusegrad.train.job import ConfigError

    suite = _suite()
    if suite is None or not hasattr(suite, "main"):
        raise ConfigError("the benchmark suite is not part of this installation; in a source "
                          "checkout run e.g. python bench/bench_train.py")
    return int(suite.main(list(args.bench_args)) or 0)
