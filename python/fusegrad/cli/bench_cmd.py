"""``fusegrad bench``: options and run delegated to the benchmark harness
``fusegrad.benchmarks`` (``add_arguments(parser)`` + ``run(args)``), which runs the
``bench/`` scripts shipped in the wheel."""

from __future__ import annotations

import argparse
import importlib

NAME = "bench"
HELP = "kernel and training benchmarks against NumPy and PyTorch"
DESCRIPTION = ("Runs the benchmark suites (each bench/ script in a fresh process) and prints "
               "their tables: fusegrad against NumPy and PyTorch in the same run.")


def _module() -> object | None:
    try:
        return importlib.import_module("fusegrad.benchmarks")
    except ModuleNotFoundError as e:
        if e.name == "fusegrad.benchmarks":
            return None
        raise  # the harness exists but one of its own imports is missing


def add_arguments(p: argparse.ArgumentParser) -> None:
    module = _module()
    if module is None:
        p.add_argument("bench_args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    else:
        module.add_arguments(p)


def run(args: argparse.Namespace) -> int:
    from fusegrad.train.job import ConfigError

    module = _module()
    if module is None:
        raise ConfigError("the benchmark harness (fusegrad.benchmarks) is not part of this "
                          "installation; in a source checkout run e.g. python bench/bench_train.py")
    try:
        return int(module.run(args) or 0)
    except (ValueError, FileNotFoundError) as e:  # bad suite name, no bench scripts
        raise ConfigError(str(e)) from e
