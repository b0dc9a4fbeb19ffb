"""fg.cuda.graphs (captured training steps) and fg.cuda.DeviceLoader (GPU-resident datasets).

Without a device: capture falls back to eager and says why; DeviceLoader works for any device
string and yields exactly the DataLoader's batches. With a device (``gpu`` marker): N replays
of a captured MLP step give the parameters of N eager steps, an LR scheduler's changes reach
the replayed optimizer kernel, and the optimizer's own step counters advance.
"""

from __future__ import annotations

import numpy as np
import pytest

import fusegrad as fg
from fusegrad.data import DataLoader, TensorDataset


def test_capture_without_cuda_tensors_falls_back_to_eager():
    calls = []

    def step(x):
        calls.append(1)
        return x * 2

    graphed = fg.cuda.graphs.capture(step, fg.tensor([1.0, 2.0]), warmup=1)
    assert not graphed.captured and graphed.fallback_reason
    out = graphed(fg.tensor([3.0]))
    assert out.numpy().tolist() == [6.0]
    assert calls  # the eager function ran


def test_capture_rejects_zero_warmup():
    with pytest.raises(ValueError, match="warmup"):
        fg.cuda.graphs.capture(lambda x: x, fg.tensor([1.0]), warmup=0)


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("drop_last", [False, True])
def test_device_loader_yields_the_data_loader_batches(shuffle, drop_last):
    x = np.arange(46, dtype=np.float32).reshape(23, 2)
    y = np.arange(23)
    mine = DataLoader(TensorDataset(x, y), batch_size=5, shuffle=shuffle, drop_last=drop_last,
                      seed=11)
    ref = DataLoader(TensorDataset(x, y), batch_size=5, shuffle=shuffle, drop_last=drop_last,
                     seed=11)
    dev = "cuda" if fg.cuda.is_available() else "cpu"
    for _ in range(2):  # two epochs: the order changes, the epoch counter advances
        got = list(fg.cuda.DeviceLoader(mine, dev))
        want = list(ref)
        assert len(got) == len(want) == len(mine)
        for gb, wb in zip(got, want):
            assert all(t.device == dev for t in gb)
            for t, a in zip(gb, wb):
                np.testing.assert_array_equal(t.numpy() if dev == "cpu" else t.cpu().numpy(), a)
    assert mine.state_dict() == ref.state_dict()


def test_device_loader_needs_a_tensor_dataset():
    class Squares(fg.data.Dataset):
        def __len__(self):
            return 3

        def __getitem__(self, i):
            return np.float32(i * i)

    with pytest.raises(TypeError, match="TensorDataset"):
        fg.cuda.DeviceLoader(DataLoader(Squares(), batch_size=2), "cpu")


def _mlp_run(device, steps, graphed, rng_seed=0):
    from fusegrad import nn, optim
    from fusegrad.nn import functional as F

    fg.manual_seed(0)
    rng = np.random.default_rng(rng_seed)
    model = nn.Sequential(nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 4)).to(device)
    opt = optim.Adam(model.parameters(), lr=1e-2)
    sched = optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    batches = [(fg.tensor(rng.standard_normal((8, 12)).astype(np.float32), device=device),
                fg.tensor(rng.integers(0, 4, 8), device=device)) for _ in range(steps + 3)]

    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    run = step
    if graphed:
        run = fg.cuda.graphs.capture(step, *batches[0], warmup=3, optimizers=[opt])
        assert run.captured, run.fallback_reason
    else:
        for _ in range(3):  # the capture's warmup steps, on the same batch
            step(*batches[0])
    losses = []
    for x, y in batches[1:steps + 1]:
        losses.append(float(run(x, y).cpu().numpy()))
        sched.step()
    steps_seen = [opt.state[p]["step"] for p in model.parameters()]
    return losses, [p.cpu().numpy() for p in model.parameters()], steps_seen


@pytest.mark.gpu
def test_captured_mlp_step_matches_eager_steps():
    eager = _mlp_run("cuda", 6, graphed=False)
    graph = _mlp_run("cuda", 6, graphed=True)
    np.testing.assert_allclose(graph[0], eager[0], rtol=1e-5, atol=1e-6)
    for a, b in zip(graph[1], eager[1]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert graph[2] == eager[2]


def test_replay_refreshes_lr_and_steps_in_the_optimizer_table():
    # The replay bookkeeping alone, on host stand-ins: a "captured" step whose graph counts
    # launches, one Adam slot and one SGD slot, and optimizer objects shaped like ours.
    from types import SimpleNamespace

    from fusegrad.backend import cuda as cb
    from fusegrad.cuda import graphs
    from tests.backend.cuda_fake import FakeArray

    class Param:  # hashable by identity, like a Tensor
        def __init__(self, n):
            self._data = np.zeros(n, np.float32).view(FakeArray)

    param = Param

    pa, pb, pc = param(3), param(4), param(5)
    adam = SimpleNamespace(param_groups=[{"params": [pa, pb], "lr": 0.1}],
                           state={pa: {"step": 4}, pb: {"step": 4}})
    sgd = SimpleNamespace(param_groups=[{"params": [pc], "lr": 0.5}], state={pc: {}})
    state = graphs._CaptureState(SimpleNamespace(empty=lambda shape, dtype: np.empty(
        shape, dtype).view(FakeArray)))
    for params, kind, hyper in (([pa, pb], "adam", [0.1, 4.0, 4.0]), ([pc], "sgd", [0.5, 1.0])):
        words, h0 = cb.optim_table([[p._data.data.ptr for p in params]], [3] * len(params), hyper)
        state.optim_buffer(words, h0, kind, len(params))
    launches = []
    step = graphs.CapturedStep(lambda: None, [adam, sgd])
    step.captured, step._slots, step._cp = True, state.slots, None
    step._graph = SimpleNamespace(launch=lambda: launches.append(1))

    def device_hyper(i):
        slot = step._slots[i]
        return list(np.asarray(slot.buffer)[slot.h0:].view(np.float64))

    step()  # first replay: the captured values (the capture call already counted step 4)
    assert device_hyper(0) == [0.1, 4.0, 4.0] and device_hyper(1) == [0.5, 1.0]
    adam.param_groups[0]["lr"] = 0.05  # a scheduler step
    step()
    step()
    assert len(launches) == 3
    assert device_hyper(0) == [0.05, 6.0, 6.0]
    assert device_hyper(1) == [0.5, 0.0]  # momentum buffers exist after the first step
    assert adam.state[pa]["step"] == adam.state[pb]["step"] == 6
