"""Grad mode: ``no_grad``, ``enable_grad``, ``set_grad_enabled``, ``is_grad_enabled``."""

from __future__ import annotations

import functools
from typing import Any, Callable

# Module-level flag read on every op; a plain bool in a list is the cheapest mutable global.
_enabled = [True]


def is_grad_enabled() -> bool:
    """True when operations are recorded for backward."""
    return _enabled[0]


class set_grad_enabled:
    """Context manager (and decorator) that turns graph recording on or off."""

    def __init__(self, mode: bool) -> None:
        self.prev = _enabled[0]
        self.mode = bool(mode)
        _enabled[0] = self.mode

    def __enter__(self) -> None:
        _enabled[0] = self.mode

    def __exit__(self, *exc: Any) -> None:
        _enabled[0] = self.prev

    def __call__(self, fn: Callable) -> Callable:
        mode = self.mode

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)

        return wrapper


class no_grad(set_grad_enabled):
    """``with fg.no_grad():`` disables graph recording (like ``torch.no_grad``)."""

    def __init__(self) -> None:
        self.prev = _enabled[0]
        self.mode = False

    def __enter__(self) -> None:
        self.prev = _enabled[0]
        _enabled[0] = False


class enable_grad(set_grad_enabled):
    """Re-enables graph recording inside a ``no_grad`` block."""

    def __init__(self) -> None:
        self.prev = _enabled[0]
        self.mode = True

    def __enter__(self) -> None:
        self.prev = _enabled[0]
        _enabled[0] = True
