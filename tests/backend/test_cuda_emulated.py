"""device="cuda" end to end on the CPU emulation of the CUDA kernels (no GPU needed).

The emulated CUDA backend (tests/backend/cuda_fake.py: csrc/cuda/*.cu compiled against
cuda_emu.h, NumPy storage standing in for CuPy, np.matmul for cuBLAS) is installed as the
"cuda" backend, so Tensors, autograd, nn, optim and the loss functions run through exactly the
Python and kernel code a GPU would run. Checks: every op of the registry forward and backward
against the CPU, and a few training steps of an MLP with BatchNorm and Adam against the same
steps on the CPU. Slow (the emulator builds once, then runs threads per launch).
"""

from __future__ import annotations

import numpy as np
import pytest

import fusegrad as fg
from fusegrad import backend as backend_mod
from fusegrad.backend import cuda as cb
from tests.helpers import PARITY_TOL, assert_close
from tests.op_registry import OPS

pytestmark = pytest.mark.slow

CASES = [(op, case) for op in OPS for case in op.cases]
IDS = [f"{op.name}-{case.id()}" for op, case in CASES]


@pytest.fixture(scope="module")
def emulated_cuda():
    from tests.backend.cuda_fake import Emulator, emulated_backend

    try:
        emu = Emulator()
    except Exception as e:
        pytest.skip(f"CUDA emulation unavailable: {e.__class__.__name__}: {e}")
    mp = pytest.MonkeyPatch()
    mp.setattr(cb, "MAX_GRID", 3)
    mp.setattr(cb, "BLOCK", 64)
    mp.setattr(cb, "ROW_BLOCK", 64)
    saved = backend_mod._BACKENDS.get("cuda")
    backend_mod._BACKENDS["cuda"] = emulated_backend(emu)
    yield "cuda"
    if saved is None:
        backend_mod._BACKENDS.pop("cuda", None)
    else:
        backend_mod._BACKENDS["cuda"] = saved
    mp.undo()


@pytest.mark.parametrize(("op", "case"), CASES, ids=IDS)
def test_op_emulated_cuda_matches_cpu(emulated_cuda, op, case, dtype, rng):
    if op.name == "getitem_array":
        pytest.skip("its backward calls cupyx.scatter_add directly (CuPy's kernel, not ours)")
    xs = op.make_inputs(case, dtype, rng)
    cpu = [fg.tensor(x, requires_grad=True) for x in xs]
    gpu = [fg.tensor(x, device=emulated_cuda, requires_grad=True) for x in xs]
    oc, og = op.call(case, "fg", *cpu), op.call(case, "fg", *gpu)
    n = op.reduced_terms(case.shapes)
    assert og.device == emulated_cuda
    assert_close(og.cpu(), oc, dtype, PARITY_TOL, n, what=f"{op.name} forward")
    oc.sum().backward()
    og.sum().backward()
    for a, b in zip(cpu, gpu):
        assert_close(b.grad.cpu(), a.grad, dtype, PARITY_TOL, n, what=f"{op.name} grad")


def _train(device: str, steps: int = 3) -> list:
    from fusegrad import nn, optim
    from fusegrad.nn import functional as F

    fg.manual_seed(0)
    rng = np.random.default_rng(1)
    model = nn.Sequential(nn.Linear(10, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Dropout(0.25),
                          nn.Linear(32, 4))
    model.to(device)
    opt = optim.Adam(model.parameters(), lr=1e-2, weight_decay=1e-3)
    out = []
    for _ in range(steps):
        x = fg.tensor(rng.standard_normal((16, 10)).astype(np.float32), device=device)
        y = fg.tensor(rng.integers(0, 4, 16), device=device)
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y, label_smoothing=0.1)
        loss.backward()
        opt.step()
        out.append(loss.cpu().numpy())
    out += [p.cpu().numpy() for p in model.parameters()]
    return out


def test_mlp_training_steps_match_cpu(emulated_cuda):
    # float32 through three Adam steps: Adam divides by sqrt(v), so a parameter whose
    # gradients are tiny moves by ~lr whatever their rounding; differences in summation order
    # (block reductions vs the CPU's lanes) then show at the 1e-5 level in absolute terms.
    # The dropout masks are identical (same Philox stream): a different mask would move many
    # parameters by ~lr = 1e-2.
    for got, want in zip(_train(emulated_cuda), _train("cpu")):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_captured_graph_replays_match_eager_steps(emulated_cuda, monkeypatch):
    # fg.cuda.graphs on the emulated device: the stand-in's streams record the step's launches
    # and array calls, its graphs replay them. N replays with new batches, a scheduler changing
    # lr and Adam's per-step bias corrections must equal N eager steps.
    from tests.backend.test_cuda_graphs import _mlp_run

    monkeypatch.setattr(fg.cuda, "is_available", lambda: True)
    eager = _mlp_run(emulated_cuda, 5, graphed=False)
    graph = _mlp_run(emulated_cuda, 5, graphed=True)
    np.testing.assert_allclose(graph[0], eager[0], rtol=1e-6, atol=1e-7)
    for a, b in zip(graph[1], eager[1]):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert graph[2] == eager[2]


def test_capture_with_dropout_falls_back_to_eager(emulated_cuda, monkeypatch):
    from fusegrad import nn, optim
    from fusegrad.nn import functional as F

    monkeypatch.setattr(fg.cuda, "is_available", lambda: True)
    fg.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.Dropout(0.5), nn.Linear(8, 3)).to(emulated_cuda)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x = fg.tensor(np.ones((4, 6), np.float32), device=emulated_cuda)
    y = fg.tensor(np.array([0, 1, 2, 0]), device=emulated_cuda)

    def step(xb, yb):
        opt.zero_grad()
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()
        return loss

    graphed = fg.cuda.graphs.capture(step, x, y, warmup=2, optimizers=[opt])
    assert not graphed.captured and "dropout" in graphed.fallback_reason
    steps_before = [opt.state[p].get("step") for p in model.parameters()]
    loss = graphed(x, y)  # eager
    assert np.isfinite(loss.cpu().numpy())
    assert [opt.state[p].get("step") for p in model.parameters()] == steps_before
