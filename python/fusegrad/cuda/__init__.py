"""``fg.cuda``: whether a CUDA device is usable, how many, synchronisation, and CUDA graphs.

Answers without raising on machines with no CUDA, no driver or no CuPy (CuPy is imported
lazily, only here, in ``fg.cuda.graphs`` and in ``backend/cuda.py``).

GPU setup: ``pip install "fusegrad[gpu]"`` pulls ``cupy-cuda13x`` (CUDA 13 toolchain, R580+
drivers). For a CUDA 12 driver install ``cupy-cuda12x`` instead (and
``nvidia-cuda-nvrtc-cu12`` if the system has no NVRTC); fusegrad uses whichever CuPy imports.
"""

from __future__ import annotations

import functools

from fusegrad.cuda import graphs
from fusegrad.cuda.data import DeviceLoader


@functools.lru_cache(maxsize=1)
def _cupy_or_reason() -> tuple:
    """(cupy module or None, reason string when unusable)."""
    try:
        import cupy
    except Exception as e:  # ImportError, or a broken CUDA install raising at import
        return None, (f"CuPy is not installed ({e.__class__.__name__}: {e}); "
                      "pip install fusegrad[gpu]")
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            return None, "no CUDA device is present"
    except Exception as e:  # cudaErrorInsufficientDriver, no device, ...
        return None, f"CUDA is not usable: {e}"
    return cupy, ""


def is_available() -> bool:
    """True when CuPy imports and at least one CUDA device answers."""
    return _cupy_or_reason()[0] is not None


def unavailable_reason() -> str:
    """Why CUDA is not usable here ('' when it is)."""
    return _cupy_or_reason()[1]


def device_count() -> int:
    """Number of CUDA devices (0 without CuPy, driver or device)."""
    cp = _cupy_or_reason()[0]
    return 0 if cp is None else int(cp.cuda.runtime.getDeviceCount())


def current_device() -> int:
    """Index of CuPy's current CUDA device.

    Raises:
        RuntimeError: CUDA is not usable here (the message says why).
    """
    cp = _cupy_or_reason()[0]
    if cp is None:
        raise RuntimeError(f"CUDA is not usable: {unavailable_reason()}")
    return int(cp.cuda.runtime.getDevice())


def synchronize() -> None:
    """Wait for all queued GPU work on the current device (a no-op without a device)."""
    cp = _cupy_or_reason()[0]
    if cp is not None:
        cp.cuda.runtime.deviceSynchronize()


__all__ = ["DeviceLoader", "current_device", "device_count", "graphs", "is_available", "synchronize",
           "unavailable_reason"]
