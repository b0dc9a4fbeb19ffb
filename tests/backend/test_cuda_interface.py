"""backend/cuda.py implements the same interface as backend/cpu.py and the Backend protocol.

Method names, parameter names, kinds and defaults must be identical (autograd calls both the
same way); only the CPU thread controls have no CUDA counterpart.
"""

from __future__ import annotations

import inspect

import pytest

from fusegrad.backend import Backend
from fusegrad.backend.cpu import CPUBackend
from fusegrad.backend.cuda import CUDABackend

CPU_ONLY = {"set_num_threads", "get_num_threads"}


def _public(cls: type) -> set[str]:
    return {n for n, v in vars(cls).items()
            if not n.startswith("_") and (callable(v) or isinstance(v, (staticmethod, classmethod)))}


def test_cuda_backend_has_every_protocol_method():
    missing = _public(Backend) - _public(CUDABackend)
    assert not missing, f"CUDABackend lacks {sorted(missing)}"


def test_cuda_backend_has_every_cpu_method():
    missing = _public(CPUBackend) - CPU_ONLY - _public(CUDABackend)
    assert not missing, f"CUDABackend lacks {sorted(missing)}"


@pytest.mark.parametrize("name", sorted((_public(CPUBackend) - CPU_ONLY) & _public(CUDABackend)))
def test_same_signature_as_cpu(name):
    def params(cls):
        return [(p.name, p.kind, p.default)
                for p in inspect.signature(getattr(cls, name)).parameters.values()]

    assert params(CUDABackend) == params(CPUBackend), name
