"""Threading runtime (csrc/cpu/parallel.h, bindings/runtime.cpp): the thread-count setting,
its OMP_NUM_THREADS default, the passive wait policy, and kernels called from Python threads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import fusegrad as fg
from fusegrad._ext import _C
from fusegrad.backend import get_backend

BE = get_backend("cpu")


@pytest.fixture
def restore_threads():
    saved = _C.get_num_threads()
    yield
    _C.set_num_threads(saved)


def test_set_num_threads_round_trip(restore_threads):
    for n in (1, 3, 2):
        _C.set_num_threads(n)
        assert _C.get_num_threads() == (n if _C.has_openmp() else 1)
    fg.set_num_threads(1)
    assert fg.get_num_threads() == 1 == _C.get_num_threads()
    BE.set_num_threads(2)
    assert BE.get_num_threads() == (2 if _C.has_openmp() else 1)


@pytest.mark.parametrize("bad", [0, -1])
def test_set_num_threads_rejects_non_positive(bad, restore_threads):
    before = _C.get_num_threads()
    with pytest.raises(ValueError, match=str(bad)):
        _C.set_num_threads(bad)
    assert _C.get_num_threads() == before


def test_has_openmp_and_grain_exposed():
    assert isinstance(_C.has_openmp(), bool)
    assert isinstance(_C.PARALLEL_GRAIN, int) and _C.PARALLEL_GRAIN > 0


def _child(env_extra: dict) -> dict:
    """get_num_threads() and OMP_WAIT_POLICY seen by a fresh interpreter."""
    env = dict(os.environ)
    env.pop("OMP_WAIT_POLICY", None)
    env.update(env_extra)
    code = (
        "import json, os; from fusegrad._ext import _C; "
        "print(json.dumps({'n': _C.get_num_threads(), 'omp': _C.has_openmp(), "
        "'policy': os.environ.get('OMP_WAIT_POLICY')}))"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True, timeout=120)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_default_honours_omp_num_threads_and_sets_passive_wait():
    r = _child({"OMP_NUM_THREADS": "3"})
    assert r["n"] == (3 if r["omp"] else 1)
    assert r["policy"] == "PASSIVE"
    r = _child({"OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "ACTIVE"})
    assert r["n"] == 1
    assert r["policy"] == "ACTIVE"  # a value the user set wins


def test_kernels_from_python_threads_give_correct_results():
    # The GIL is released inside kernels: concurrent calls from threads must not interfere.
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal(3 * _C.PARALLEL_GRAIN + i) for i in range(4)]
    results: dict = {}

    def work(i):
        y = BE.unary_forward("tanh", xs[i])
        s = BE.reduce("sum", y, None, False)
        results[i] = (y, s)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, x in enumerate(xs):
        y, s = results[i]
        np.testing.assert_allclose(y, np.tanh(x), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(s, np.tanh(x).sum(), rtol=1e-10, atol=1e-9)
