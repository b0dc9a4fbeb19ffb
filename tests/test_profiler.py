"""fg.profiler: call counts on a known graph, totals, Chrome trace, and zero footprint when off."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

import fusegrad as fg
from fusegrad import profiler
from fusegrad.backend import get_backend
from fusegrad.backend.cpu import CPUBackend


def _graph(rng, dtype=np.float32):
    """y = (x * w).sigmoid().sum() with w broadcast over x's rows; backward."""
    x = fg.tensor(rng.standard_normal((3, 4)).astype(dtype), requires_grad=True)
    w = fg.tensor(rng.standard_normal(4).astype(dtype), requires_grad=True)
    y = (x * w).sigmoid().sum()
    y.backward()
    return x, w, y


# Forward: mul, sigmoid, full sum. Backward: sum's gradient is a broadcast (no kernel), then
# sigmoid's and mul's fused backward kernels, and w's (4,) gradient is summed down from (3, 4)
# by sum_to_shape -> reduce("sum"); x's needs no reduction. Leaves get their first grad as is.
_EXPECTED = {"mul_forward": 1, "sigmoid_forward": 1, "reduce_sum": 2, "sigmoid_backward": 1,
             "mul_backward": 1}


def test_profiler_counts_calls_of_known_graph(rng):
    with profiler.profile() as prof:
        _graph(rng)
    assert Counter(r.name for r in prof.records) == _EXPECTED
    stats = {s.name: s for s in prof.key_averages()}
    assert {n: s.calls for n, s in stats.items()} == _EXPECTED
    assert all(r.device == "cpu" for r in prof.records)


def test_profiler_records_shapes_bytes_and_flops(rng):
    with profiler.profile() as prof:
        _graph(rng)
    mul = next(r for r in prof.records if r.name == "mul_forward")
    assert mul.method == "binary_forward"
    assert mul.shapes == ((3, 4), (4,))
    assert mul.dtypes == (np.float32, np.float32)
    assert mul.bytes == 4 * (12 + 4 + 12)  # read x and w, write y
    assert mul.flops == 12
    red = [r for r in prof.records if r.name == "reduce_sum"]
    assert sorted(r.shapes[0] for r in red) == [(3, 4), (3, 4)]
    assert all(r.time_us >= 0 for r in prof.records)


def test_profiler_matmul_flops(rng):
    a = fg.tensor(rng.standard_normal((5, 7)).astype(np.float32))
    b = fg.tensor(rng.standard_normal((7, 3)).astype(np.float32))
    with profiler.profile() as prof:
        a @ b
    (rec,) = prof.records
    assert rec.name == "matmul"
    assert rec.flops == 2 * 5 * 7 * 3
    assert rec.bytes == 4 * (5 * 7 + 7 * 3 + 5 * 3)


def test_profiler_inplace_step_counts_written_bytes():
    be = get_backend("cpu")
    p = [np.ones(10, np.float32)]
    g = [np.ones(10, np.float32)]
    m, v = [np.zeros(10, np.float32)], [np.zeros(10, np.float32)]
    with profiler.profile() as prof:
        be.adam_step(p, g, m, v, None, step=1, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8,
                     weight_decay=0.0, amsgrad=False, decoupled=False)
    (rec,) = prof.records
    assert rec.name == "adam_step"
    assert rec.bytes == 7 * 4 * 10  # BENCHMARKING.md: 28 bytes per float32 parameter


def test_profiler_totals_add_up(rng):
    with profiler.profile() as prof:
        for _ in range(3):
            _graph(rng)
    stats = prof.key_averages()
    assert sum(s.calls for s in stats) == len(prof.records) == 3 * sum(_EXPECTED.values())
    assert sum(s.total_us for s in stats) == pytest.approx(prof.total_us, rel=1e-12)
    assert prof.total_us <= prof.wall_us
    for s in stats:
        assert s.min_us <= s.mean_us <= s.max_us


@pytest.mark.parametrize("sort_by", ["total", "calls", "mean", "name", "bytes", "flops"])
def test_profiler_table_lists_every_kernel(rng, sort_by):
    with profiler.profile() as prof:
        _graph(rng)
    text = prof.table(sort_by=sort_by)
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["kernel", "device", "calls"]
    for col in ("total ms", "mean us", "% total", "GB/s", "GFLOP/s"):
        assert col in lines[0]
    body = {ln.split()[0]: int(ln.split()[2]) for ln in lines[2:-1]}
    assert body == _EXPECTED
    assert f"{sum(_EXPECTED.values())} kernel calls" in lines[-1]
    if sort_by == "name":
        assert list(body) == sorted(body)


def test_profiler_table_limit_and_bad_key(rng):
    with profiler.profile() as prof:
        _graph(rng)
    lines = prof.table(limit=2).splitlines()
    assert len(lines) == 2 + 2 + 2  # header, rule, 2 rows, "... more", footer
    assert lines[4].startswith(f"... {len(_EXPECTED) - 2} more")
    with pytest.raises(ValueError, match="sort_by"):
        prof.table(sort_by="speed")


def test_profiler_group_by_shape(rng):
    a = fg.tensor(rng.standard_normal((2, 3)).astype(np.float32))
    b = fg.tensor(rng.standard_normal((4, 3)).astype(np.float32))
    with profiler.profile() as prof:
        a.exp(), b.exp(), b.exp()
    stats = prof.key_averages(group_by_shape=True)
    assert sorted((s.shapes, s.calls) for s in stats) == [(((2, 3),), 1), (((4, 3),), 2)]
    assert stats[0].as_dict()["shapes"] == [[2, 3]]
    assert "4x3" in prof.table(group_by_shape=True)


def test_profiler_chrome_trace_loads(rng, tmp_path):
    with profiler.profile() as prof:
        with profiler.record_function("step"):
            _graph(rng)
    path = tmp_path / "trace.json"
    prof.export_chrome_trace(str(path))
    doc = json.loads(path.read_text())
    events = doc["traceEvents"]
    kernels = [e for e in events if e["cat"] == "kernel"]
    assert len(kernels) == sum(_EXPECTED.values())
    assert Counter(e["name"] for e in kernels) == _EXPECTED
    for e in kernels:
        assert e["ph"] == "X" and e["dur"] >= 0 and e["ts"] >= 0
        assert isinstance(e["args"]["shapes"], list)
    mul = next(e for e in kernels if e["name"] == "mul_forward")
    assert mul["args"]["shapes"] == [[3, 4], [4]] and mul["args"]["dtypes"] == ["float32"] * 2
    (user,) = [e for e in events if e["cat"] == "user"]
    assert user["name"] == "step"
    first = min(e["ts"] for e in kernels)
    last = max(e["ts"] + e["dur"] for e in kernels)
    assert user["ts"] <= first and last <= user["ts"] + user["dur"] + 1.0  # µs of clock rounding


def test_profiler_disabled_adds_no_records_and_restores_methods(rng):
    be = get_backend("cpu")
    before = dict(vars(CPUBackend))
    with profiler.profile() as prof:
        assert CPUBackend.__dict__["unary_forward"] is not before["unary_forward"]
    n = len(prof.records)
    _graph(rng)  # outside the profile
    assert len(prof.records) == n == 0
    for name, value in before.items():
        assert CPUBackend.__dict__[name] is value, name
    assert set(vars(CPUBackend)) == set(before)
    assert be.unary_forward == before["unary_forward"].__get__(be, CPUBackend)  # the original, bound
    assert "unary_forward" not in vars(be)


def test_profiler_restores_methods_after_exception(rng):
    before = dict(vars(CPUBackend))
    with pytest.raises(ZeroDivisionError):
        with profiler.profile():
            _graph(rng)
            1 / 0
    assert all(CPUBackend.__dict__[k] is v for k, v in before.items())
    with profiler.profile() as prof:  # usable again
        _graph(rng)
    assert len(prof.records) == sum(_EXPECTED.values())


def test_profiler_nested_profile_raises():
    with profiler.profile():
        with pytest.raises(RuntimeError, match="already active"):
            with profiler.profile():
                pass


def test_record_function_outside_profile_is_noop(rng):
    with profiler.record_function("idle"):
        _graph(rng)
    with profiler.profile() as prof:
        pass
    assert prof.records == [] and prof.ranges == []


def test_profiler_failed_kernel_is_not_recorded():
    be = get_backend("cpu")
    with profiler.profile() as prof:
        with pytest.raises(ValueError):
            be.unary_forward("no_such_op", np.ones(3, np.float32))
        be.unary_forward("exp", np.ones(3, np.float32))
    assert [r.name for r in prof.records] == ["exp_forward"]


# ---- the CUDA path, with stand-ins for CuPy's events (runs without a GPU) --------------------
class _FakeEvent:
    clock = 0

    def record(self) -> None:
        _FakeEvent.clock += 1
        self.t = _FakeEvent.clock

    def synchronize(self) -> None:
        pass


class _FakeCupy:
    class cuda:
        Event = _FakeEvent

        @staticmethod
        def get_elapsed_time(start, end):  # ms: 0.25 per clock tick between the two events
            return 0.25 * (end.t - start.t)


class _FakeCUDABackend:
    """A backend named "cuda" whose kernels are NumPy; one method bound per instance, as
    CUDABackend does on multi-GPU machines."""

    name = "cuda"

    def __init__(self) -> None:
        self.cp = _FakeCupy
        self.device = "cuda:0"
        self.exp_per_instance = self._exp  # an instance attribute shadowing no class method

    def unary_forward(self, name, x, a=0.0, b=0.0):
        return np.exp(x)

    def matmul(self, a, b):
        return a @ b

    def _exp(self, x):
        return np.exp(x)


def test_profiler_cuda_times_come_from_events(monkeypatch):
    from fusegrad import backend as be_mod

    fake = _FakeCUDABackend()
    monkeypatch.setitem(be_mod._BACKENDS, "cuda:0", fake)
    before = dict(vars(_FakeCUDABackend))
    x = np.ones((4, 4), np.float32)
    with profiler.profile() as prof:
        fake.unary_forward("exp", x)
        fake.matmul(x, x)
        assert all(r.time_us == r.host_us for r in prof.records)  # unresolved until exit
    assert [r.name for r in prof.records] == ["exp_forward", "matmul"]
    assert all(r.device == "cuda:0" for r in prof.records)
    assert [r.time_us for r in prof.records] == [250.0, 250.0]  # one tick between the events
    assert "CUDA events" in prof.table().splitlines()[-1]
    assert all(vars(_FakeCUDABackend)[k] is v for k, v in before.items())


def test_profiler_wraps_and_restores_instance_bound_methods(monkeypatch):
    from fusegrad import backend as be_mod

    fake = _FakeCUDABackend()
    bound = fake.matmul
    fake.matmul = bound  # shadow the class method on the instance (multi-GPU binding)
    monkeypatch.setitem(be_mod._BACKENDS, "cuda:0", fake)
    x = np.ones((2, 3), np.float32)
    with profiler.profile() as prof:
        fake.matmul(x, x.T)
    (rec,) = prof.records
    assert rec.name == "matmul" and rec.flops == 2 * 2 * 3 * 2 and rec.shapes == ((2, 3), (3, 2))
    assert vars(fake)["matmul"] is bound
    assert "exp_per_instance" in vars(fake)  # not a kernel method of the class: untouched


def test_profiler_subclass_of_patched_backend_records_once(monkeypatch):
    from fusegrad import backend as be_mod

    class MyCPU(CPUBackend):  # inherits every kernel method of a class patched first
        pass

    mine = MyCPU()
    monkeypatch.setitem(be_mod._BACKENDS, "mine", mine)
    with profiler.profile() as prof:
        mine.unary_forward("exp", np.ones(3, np.float32))
    (rec,) = prof.records
    assert rec.name == "exp_forward" and rec.shapes == ((3,),)
    assert "unary_forward" not in vars(MyCPU)


def test_record_function_as_decorator_and_empty_table(rng):
    @profiler.record_function("graph")
    def run():
        return _graph(rng)

    with profiler.profile() as prof:
        run()
        run()
    assert [name for name, _, _ in prof.ranges] == ["graph", "graph"]
    assert len(prof.records) == 2 * sum(_EXPECTED.values())
    with profiler.profile() as empty:
        pass
    lines = empty.table().splitlines()
    assert lines[0].startswith("kernel") and lines[-1].startswith("0 kernel calls")
