"""Every learning-rate scheduler against torch.optim.lr_scheduler (120+ steps), lr_at vs
step() (hypothesis), and scheduler-specific behaviour (errors, momentum cycling, state)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fusegrad as fg
from fusegrad import optim
from fusegrad.optim import lr_scheduler as sched

STEPS = 130


def _fg_opt(kind="SGD", groups=2, **kw):
    ps = [fg.tensor(np.ones(2), requires_grad=True) for _ in range(groups)]
    kw = dict(lr=0.1, momentum=0.9, **kw) if kind == "SGD" else dict(lr=0.1, **kw)
    return getattr(optim, kind)([{"params": [p], "lr": 0.1 * (i + 1)} for i, p in enumerate(ps)]
                                if groups > 1 else ps, **kw)


def _torch_opt(torch, kind="SGD", groups=2, **kw):
    ps = [torch.nn.Parameter(torch.ones(2, dtype=torch.float64)) for _ in range(groups)]
    kw = dict(lr=0.1, momentum=0.9, **kw) if kind == "SGD" else dict(lr=0.1, **kw)
    return getattr(torch.optim, kind)([{"params": [p], "lr": 0.1 * (i + 1)}
                                       for i, p in enumerate(ps)] if groups > 1 else ps, **kw)


# (id, factory(lib, opt) -> scheduler, optimizer kind). `lib` is our lr_scheduler module or
# torch's; both have the same class names and signatures.
def _seq(lib, o):
    return lib.SequentialLR(o, [lib.LinearLR(o, start_factor=0.1, total_iters=10),
                                lib.CosineAnnealingLR(o, T_max=50, eta_min=1e-3),
                                lib.ExponentialLR(o, gamma=0.97)], milestones=[10, 60])


CASES = [
    ("lambda", lambda lib, o: lib.LambdaLR(o, lambda t: 1.0 / (1 + 0.05 * t)), "SGD"),
    ("lambda_per_group", lambda lib, o: lib.LambdaLR(o, [lambda t: 0.99**t, lambda t: 1 + t % 3]),
     "SGD"),
    ("step", lambda lib, o: lib.StepLR(o, step_size=7, gamma=0.5), "SGD"),
    ("multistep", lambda lib, o: lib.MultiStepLR(o, milestones=[10, 30, 30, 80], gamma=0.3),
     "SGD"),
    ("exponential", lambda lib, o: lib.ExponentialLR(o, gamma=0.97), "SGD"),
    ("polynomial", lambda lib, o: lib.PolynomialLR(o, total_iters=90, power=2.0), "SGD"),
    ("linear_warmup", lambda lib, o: lib.LinearLR(o, start_factor=0.01, total_iters=40), "SGD"),
    ("linear_decay", lambda lib, o: lib.LinearLR(o, start_factor=1.0, end_factor=0.1,
                                                 total_iters=77), "SGD"),
    ("cosine", lambda lib, o: lib.CosineAnnealingLR(o, T_max=40, eta_min=0.001), "SGD"),
    ("cosine_long", lambda lib, o: lib.CosineAnnealingLR(o, T_max=200), "SGD"),
    ("warm_restarts", lambda lib, o: lib.CosineAnnealingWarmRestarts(o, T_0=10, eta_min=1e-3),
     "SGD"),
    ("warm_restarts_tmult", lambda lib, o: lib.CosineAnnealingWarmRestarts(o, T_0=5, T_mult=2),
     "SGD"),
    ("cyclic_triangular", lambda lib, o: lib.CyclicLR(o, base_lr=0.01, max_lr=0.1,
                                                      step_size_up=9, step_size_down=13), "SGD"),
    ("cyclic_triangular2", lambda lib, o: lib.CyclicLR(o, base_lr=[0.01, 0.02], max_lr=0.1,
                                                       step_size_up=10, mode="triangular2"),
     "SGD"),
    ("cyclic_exp_range_adam", lambda lib, o: lib.CyclicLR(o, base_lr=0.001, max_lr=0.01,
                                                          step_size_up=15, mode="exp_range",
                                                          gamma=0.99), "Adam"),
    ("cyclic_no_momentum", lambda lib, o: lib.CyclicLR(o, base_lr=0.01, max_lr=0.1,
                                                       step_size_up=5, cycle_momentum=False),
     "Adagrad"),
    ("onecycle", lambda lib, o: lib.OneCycleLR(o, max_lr=0.5, total_steps=STEPS), "SGD"),
    ("onecycle_linear_three_phase_adam",
     lambda lib, o: lib.OneCycleLR(o, max_lr=[0.1, 0.2], epochs=13, steps_per_epoch=10,
                                   pct_start=0.25, anneal_strategy="linear", three_phase=True),
     "Adam"),
    ("sequential", _seq, "SGD"),
]


def _momentum(group):
    return group["betas"][0] if "betas" in group else group.get("momentum")


@pytest.mark.torch
@pytest.mark.parametrize("name,factory,kind", CASES, ids=[c[0] for c in CASES])
def test_scheduler_matches_torch(name, factory, kind):
    torch = pytest.importorskip("torch")
    ours_opt, theirs_opt = _fg_opt(kind), _torch_opt(torch, kind)
    ours = factory(sched, ours_opt)
    theirs = factory(torch.optim.lr_scheduler, theirs_opt)
    for t in range(STEPS):
        if t:
            theirs_opt.step()  # (no grads: nothing moves) keeps torch's call-order check quiet
            theirs.step()
            ours.step()
        a = [g["lr"] for g in ours_opt.param_groups]
        b = [g["lr"] for g in theirs_opt.param_groups]
        # closed form vs torch's recursive form: only rounding differs (see lr_scheduler.py)
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15, err_msg=f"{name} step {t}")
        np.testing.assert_allclose(ours.get_last_lr(), theirs.get_last_lr(), rtol=1e-12,
                                   atol=1e-15)
        ma = [_momentum(g) for g in ours_opt.param_groups]
        mb = [_momentum(g) for g in theirs_opt.param_groups]
        if mb[0] is not None:
            np.testing.assert_allclose(ma, mb, rtol=1e-12, err_msg=f"{name} momentum step {t}")
    assert ours.last_epoch == theirs.last_epoch


@pytest.mark.torch
@pytest.mark.parametrize("mode,threshold_mode", [("min", "rel"), ("min", "abs"), ("max", "rel"),
                                                 ("max", "abs")])
def test_reduce_lr_on_plateau_matches_torch(mode, threshold_mode):
    torch = pytest.importorskip("torch")
    ours_opt, theirs_opt = _fg_opt(), _torch_opt(torch)
    kw = dict(mode=mode, factor=0.5, patience=3, threshold=0.01, threshold_mode=threshold_mode,
              cooldown=2, min_lr=[0.004, 0.01])
    ours = sched.ReduceLROnPlateau(ours_opt, **kw)
    theirs = torch.optim.lr_scheduler.ReduceLROnPlateau(theirs_opt, **kw)
    rng = np.random.default_rng(0)
    metric = 1.0
    for t in range(150):
        metric += rng.normal(0, 0.02) - (0.01 if t < 30 else 0.0)
        m = metric if mode == "min" else -metric
        ours.step(m)
        theirs.step(m)
        assert [g["lr"] for g in ours_opt.param_groups] == \
               [g["lr"] for g in theirs_opt.param_groups], f"step {t}"
        assert ours.num_bad_epochs == theirs.num_bad_epochs
    with pytest.raises(NotImplementedError):
        ours.lr_at(3)


def test_inverse_time_lr():
    opt = _fg_opt(groups=1)
    s = sched.InverseTimeLR(opt, decay_rate=0.5, decay_steps=10)
    for t in range(1, 120):
        s.step()
        assert opt.param_groups[0]["lr"] == pytest.approx(0.1 / (1 + 0.5 * t / 10), rel=1e-15)
    with pytest.raises(ValueError):
        sched.InverseTimeLR(opt, decay_rate=-1.0)
    with pytest.raises(ValueError):
        sched.InverseTimeLR(opt, decay_rate=1.0, decay_steps=0)


def test_cyclic_lr_needs_momentum():
    opt = _fg_opt("Adagrad")
    with pytest.raises(ValueError, match="momentum or beta1"):
        sched.CyclicLR(opt, base_lr=0.01, max_lr=0.1)
    with pytest.raises(ValueError, match="momentum or beta1"):
        sched.OneCycleLR(opt, max_lr=0.1, total_steps=10)


def test_onecycle_past_total_steps_raises():
    s = sched.OneCycleLR(_fg_opt(), max_lr=0.1, total_steps=5)
    for _ in range(5):
        s.step()
    with pytest.raises(ValueError, match="Tried to step 6 times"):
        s.step()


def test_scheduler_state_dict_round_trip():
    opt = _fg_opt()
    s = sched.CosineAnnealingWarmRestarts(opt, T_0=4, T_mult=2)
    for _ in range(9):
        s.step()
    sd = s.state_dict()
    assert "optimizer" not in sd
    opt2 = _fg_opt()
    s2 = sched.CosineAnnealingWarmRestarts(opt2, T_0=4, T_mult=2)
    s2.load_state_dict(sd)
    for _ in range(20):
        s.step()
        s2.step()
        assert s.get_last_lr() == s2.get_last_lr()


# ---- lr_at(step) is what step() does ------------------------------------------------------

SCHEDULES = st.one_of(
    st.builds(lambda k, g: lambda o: sched.StepLR(o, step_size=k, gamma=g),
              st.integers(1, 20), st.floats(0.1, 1.0)),
    st.builds(lambda ms, g: lambda o: sched.MultiStepLR(o, milestones=ms, gamma=g),
              st.lists(st.integers(1, 60), max_size=5), st.floats(0.1, 1.0)),
    st.builds(lambda g: lambda o: sched.ExponentialLR(o, gamma=g), st.floats(0.8, 1.0)),
    st.builds(lambda n, p: lambda o: sched.PolynomialLR(o, total_iters=n, power=p),
              st.integers(1, 80), st.floats(0.5, 3.0)),
    st.builds(lambda a, n: lambda o: sched.LinearLR(o, start_factor=a, total_iters=n),
              st.floats(0.01, 1.0), st.integers(1, 50)),
    st.builds(lambda n, e: lambda o: sched.CosineAnnealingLR(o, T_max=n, eta_min=e),
              st.integers(1, 60), st.floats(0.0, 0.01)),
    st.builds(lambda n, m: lambda o: sched.CosineAnnealingWarmRestarts(o, T_0=n, T_mult=m),
              st.integers(1, 15), st.integers(1, 3)),
    st.builds(lambda up, down, mode: lambda o: sched.CyclicLR(
        o, base_lr=0.01, max_lr=0.2, step_size_up=up, step_size_down=down, mode=mode,
        gamma=0.98), st.integers(1, 20), st.integers(1, 20),
        st.sampled_from(["triangular", "triangular2", "exp_range"])),
    st.builds(lambda pct, three: lambda o: sched.OneCycleLR(o, max_lr=0.3, total_steps=60,
                                                            pct_start=pct, three_phase=three),
              st.floats(0.05, 0.45), st.booleans()),
    st.builds(lambda r, k: lambda o: sched.InverseTimeLR(o, decay_rate=r, decay_steps=k),
              st.floats(0.0, 2.0), st.integers(1, 10)),
    st.builds(lambda m: lambda o: sched.SequentialLR(
        o, [sched.LinearLR(o, start_factor=0.2, total_iters=m),
            sched.ExponentialLR(o, gamma=0.95)], milestones=[m]), st.integers(1, 30)),
)


@given(make=SCHEDULES, n=st.integers(1, 60))
def test_scheduler_lr_at_matches_step(make, n):
    opt = _fg_opt()
    s = make(opt)
    assert s.get_last_lr() == s.lr_at(0)
    for t in range(1, n + 1):
        s.step()
        assert s.get_last_lr() == s.lr_at(t), f"step {t}"
        assert [g["lr"] for g in opt.param_groups] == s.lr_at(t)
        assert all(math.isfinite(x) for x in s.lr_at(t))
