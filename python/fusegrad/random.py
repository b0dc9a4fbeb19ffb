"""The global random state: ``manual_seed`` and the generator every random op draws from."""

from __future__ import annotations

import numpy as np

_state = {"gen": np.random.default_rng(0), "seed": 0}


def manual_seed(seed: int) -> np.random.Generator:
    """Seed every fusegrad random source (init, rand/randn, dropout masks, shuffles)."""
    seed = int(seed)
    if seed < 0:
        raise ValueError(f"manual_seed: seed must be non-negative, got {seed}")
    _state["gen"] = np.random.default_rng(seed)
    _state["seed"] = seed
    return _state["gen"]


def default_generator() -> np.random.Generator:
    """The generator behind fusegrad's random ops (replaced by ``manual_seed``)."""
    return _state["gen"]


def next_seed() -> int:
    """A fresh 63-bit seed drawn from the global generator (e.g. for a dropout kernel)."""
    return int(_state["gen"].integers(0, 2**63 - 1))


def get_rng_state() -> dict:
    """The global generator's state (for checkpoints)."""
    return _state["gen"].bit_generator.state


def set_rng_state(state: dict) -> None:
    """Restore a state from ``get_rng_state``."""
    _state["gen"].bit_generator.state = state
