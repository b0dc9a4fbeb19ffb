"""Shared fixtures: device (cpu, cuda when present), dtype, rng; markers; hypothesis profile."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import settings

import fusegrad as fg

settings.register_profile("ci", deadline=None, derandomize=True, max_examples=25,
                          print_blob=True)
settings.register_profile("dev", deadline=None, max_examples=25)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)]


def pytest_collection_modifyitems(config: pytest.Config, items: list) -> None:
    if fg.cuda.is_available():
        return
    skip = pytest.mark.skip(reason=f"no CUDA device: {fg.cuda.unavailable_reason()}")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(params=DEVICES)
def device(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(params=[np.float32, np.float64], ids=["f32", "f64"])
def dtype(request: pytest.FixtureRequest) -> type:
    return request.param


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _seed() -> None:
    fg.manual_seed(0)
