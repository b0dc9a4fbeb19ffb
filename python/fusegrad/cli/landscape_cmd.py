"""``fusegrad landscape``: options and run delegated to ``fusegrad.analysis.landscape``."""

from __future__ import annotations

import argparse
import importlib

NAME = "landscape"
HELP = "critical points and optimizer trajectories on a loss surface"
DESCRIPTION = "Critical-point analysis and optimizer trajectories on a loss surface."


def _module() -> object | None:
    try:
        return importlib.import_module("fusegrad.analysis.landscape")
    except ModuleNotFoundError as e:
        if e.name in ("fusegrad.analysis.landscape", "fusegrad.analysis"):
            return None
        raise


def add_arguments(p: argparse.ArgumentParser) -> None:
    module = _module()
    if module is None:
        p.add_argument("landscape_args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    else:
        module.add_arguments(p)


def run(args: argparse.Namespace) -> int:
    from fusegrad.train.job import ConfigError

    module = _module()
    if module is None:
        raise ConfigError("fusegrad.analysis.landscape is not available in this installation")
    try:
        return int(module.run(args) or 0)
    except ValueError as e:  # bad values the analysis rejects: one line, not a traceback
        raise ConfigError(str(e)) from e
