"""Loads the compiled kernel module ``fusegrad._C`` once.

A pip install puts ``_C`` inside the package. A standalone CMake build leaves it in the
build folder: point ``FUSEGRAD_EXT_DIR`` at that folder (and ``PYTHONPATH`` at ``python/``)
to use it without installing; see README "Build with CMake".
"""

from __future__ import annotations

import os

import fusegrad

# Waiting OpenMP threads sleep instead of spinning: on a busy 2-core machine spinning threads
# slowed 2-thread kernels 10-100x (BENCHMARKING.md). libgomp reads this when it is loaded, so
# it must be set before _C (and its libgomp) is imported; a value the user set wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

_ext_dir = os.environ.get("FUSEGRAD_EXT_DIR")
if _ext_dir and os.path.abspath(_ext_dir) not in fusegrad.__path__:
    fusegrad.__path__.insert(0, os.path.abspath(_ext_dir))

from fusegrad import _C  # noqa: E402

__all__ = ["_C"]
