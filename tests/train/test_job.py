"""The pieces of a training run: data splits, optimizer and schedule by name, validation."""

from __future__ import annotations

import numpy as np
import pytest

import fusegrad.optim as optim
from fusegrad.train.job import (
    DEFAULT_LR,
    OPTIMIZERS,
    SCHEDULES,
    ConfigError,
    TrainConfig,
    build_optimizer,
    build_scheduler,
    default_warmup,
    load_data,
    validate,
)
from fusegrad.train.models import mlp


def test_load_digits_splits_and_scales_with_train_statistics() -> None:
    d = load_data("digits", val=0.15, test=0.15, split_seed=0)
    assert (len(d.y_train), len(d.y_val), len(d.y_test)) == (1257, 270, 270)
    assert d.X_train.dtype == np.float32 and d.y_train.dtype == np.int64 and d.n_classes == 10
    # standardised with the training part: mean 0 / std 1 there (constant columns stay 0)
    np.testing.assert_allclose(d.X_train.mean(0), 0, atol=1e-5)
    std = d.X_train.std(0)
    assert np.all((np.abs(std - 1) < 1e-4) | (std == 0))
    assert abs(d.X_test.mean()) > 1e-4  # test statistics were not used
    # stratified: every class in every part, in proportion
    for y in (d.y_train, d.y_val, d.y_test):
        counts = np.bincount(y, minlength=10)
        assert counts.min() > 0.08 * len(y) and counts.max() < 0.12 * len(y)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_build_optimizer_by_name(name) -> None:
    params = list(mlp((4, 3)).parameters())
    opt = build_optimizer(name, params)
    group = opt.param_groups[0]
    assert group["lr"] == DEFAULT_LR[name]
    expected = {"sgd": optim.SGD, "momentum": optim.SGD, "nesterov": optim.SGD,
                "adagrad": optim.Adagrad, "rmsprop": optim.RMSprop, "adadelta": optim.Adadelta,
                "adam": optim.Adam, "adamw": optim.AdamW}[name]
    assert type(opt) is expected
    if name in ("momentum", "nesterov"):
        assert group["momentum"] == 0.9 and group["nesterov"] == (name == "nesterov")
    opt = build_optimizer(name, params, lr=0.5, weight_decay=1e-3)
    assert opt.param_groups[0]["lr"] == 0.5 and opt.param_groups[0]["weight_decay"] == 1e-3


def _lr_curve(name: str, warmup: float, opt_name: str = "adam", spe: int = 10,
              epochs: int = 10) -> np.ndarray:
    opt = build_optimizer(opt_name, list(mlp((4, 3)).parameters()), lr=0.1)
    sched = build_scheduler(name, opt, spe, epochs, warmup)
    lrs = []
    for _ in range(spe * epochs):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        if sched is not None:
            sched.step()
    return np.array(lrs)


@pytest.mark.parametrize("name", SCHEDULES)
def test_schedules_warm_up_then_stay_within_the_base_lr(name) -> None:
    lrs = _lr_curve(name, warmup=1.0)
    assert lrs.shape == (100,) and np.all(lrs >= 0) and lrs.max() <= 0.1 * (1 + 1e-9)
    if name != "onecycle":  # 1cycle starts at max_lr / 25, its own warm-up
        np.testing.assert_allclose(lrs[0], 0.01, rtol=1e-9)
    assert np.all(np.diff(lrs[:10]) > 0), "rising during the warm-up"
    if name not in ("onecycle", "cyclic"):  # both bring their own rise
        assert lrs[10] == pytest.approx(0.1, rel=1e-6)
    if name in ("step", "multistep", "exp", "inv", "poly", "cosine", "onecycle"):
        assert lrs[-1] < 0.2 * 0.1, "decays by the end"
    if name == "none":
        np.testing.assert_allclose(lrs[10:], 0.1)


@pytest.mark.parametrize("name", ["cosine", "step", "onecycle"])
def test_schedules_without_warmup_start_at_the_base_lr(name) -> None:
    lrs = _lr_curve(name, warmup=0.0)
    assert lrs[0] == pytest.approx(0.1 / 25 if name == "onecycle" else 0.1)


def test_cyclic_schedule_cycles_and_sgdr_restarts() -> None:
    cyc = _lr_curve("cyclic", warmup=0.0, opt_name="momentum")
    assert cyc.min() == pytest.approx(0.01) and cyc.max() == pytest.approx(0.1, rel=1e-6)
    assert (np.diff(np.sign(np.diff(cyc))) != 0).sum() >= 6  # several turns
    sgdr = _lr_curve("sgdr", warmup=0.0)
    assert (np.diff(sgdr) > 0.05).sum() >= 2  # jumps back up at each restart


def test_default_warmup() -> None:
    assert default_warmup(None, 30) == 1.0 and default_warmup(None, 2) == pytest.approx(0.2)
    assert default_warmup(0.0, 30) == 0.0


@pytest.mark.parametrize("field, value, match", [
    ("lr", float("nan"), "--lr"), ("weight_decay", -1.0, "--weight-decay"),
    ("dropout", -0.1, "--dropout"), ("patience", 0, "--patience"),
    ("clip_grad_norm", -1.0, "--clip-grad-norm"), ("device", "tpu", "--device"),
    ("val", 0.0, "fractions"), ("optimizer", "lion", "--optimizer"),
], ids=lambda v: str(v))
def test_validate_rejects(field, value, match) -> None:
    with pytest.raises(ConfigError, match=match):
        validate(TrainConfig(**{field: value}))


def test_validate_accepts_defaults() -> None:
    validate(TrainConfig())
