"""Trainer / fit: learning, exact resume from a checkpoint, early stopping, clipping,
schedule stepping, History."""

from __future__ import annotations

import math

import numpy as np
import pytest

import fusegrad as fg
import fusegrad.nn as nn
import fusegrad.optim as optim
from fusegrad.data import DataLoader, TensorDataset
from fusegrad.optim import lr_scheduler
from fusegrad.train import EarlyStopping, History, Trainer, fit, mlp

LR = 1e-2


def _setup(data, seed=0, batchnorm=True, dropout=0.2, sched=True, bs=32, sizes=(64, 24, 24, 10)):
    X_tr, y_tr, _, _ = data
    fg.manual_seed(seed)
    model = mlp(sizes, batchnorm=batchnorm, dropout=dropout)
    opt = optim.Adam(model.parameters(), lr=LR)
    loader = DataLoader(TensorDataset(X_tr, y_tr), batch_size=bs, shuffle=True, seed=seed)
    sch = lr_scheduler.CosineAnnealingLR(opt, T_max=4 * len(loader)) if sched else None
    return Trainer(model, opt, scheduler=sch), loader


def _params(model) -> dict[str, np.ndarray]:
    return {k: np.array(getattr(v, "numpy", lambda: v)(), copy=True)
            for k, v in model.state_dict().items()}


def test_fit_learns_digits(digits_small) -> None:
    trainer, loader = _setup(digits_small, batchnorm=False, dropout=0.0, sched=False,
                             sizes=(64, 64, 10))
    X_va, y_va = digits_small[2], digits_small[3]
    hist = trainer.fit(loader, (X_va, y_va), epochs=4, progress=False)
    assert len(hist) == 4 and hist.epoch == [1, 2, 3, 4]
    assert hist["train_loss"][-1] < 0.5 * hist["train_loss"][0]
    assert hist["val_acc"][-1] > 0.8
    assert trainer.global_step == 4 * len(loader) == len(hist.steps["lr"])
    # evaluate() agrees with the loss and argmax computed by hand
    logits = trainer.predict(X_va)
    res = trainer.evaluate((X_va, y_va))
    z = logits - logits.max(1, keepdims=True)
    ref_loss = float(np.mean(np.log(np.exp(z).sum(1)) - z[np.arange(len(y_va)), y_va]))
    assert res["loss"] == pytest.approx(ref_loss, rel=1e-5)
    assert res["acc"] == pytest.approx(float(np.mean(logits.argmax(1) == y_va)))


def test_resume_matches_uninterrupted_run_bitwise(digits_small, tmp_path) -> None:
    """4 epochs in one go == 2 epochs, checkpoint, fresh objects (other seed), 2 more."""
    X_va, y_va = digits_small[2], digits_small[3]
    full, loader = _setup(digits_small)
    full.fit(loader, (X_va, y_va), epochs=4, progress=False)

    first, loader = _setup(digits_small)
    first.fit(loader, (X_va, y_va), epochs=2, progress=False,
              checkpoint_path=tmp_path / "ckpt.npz")
    fg.manual_seed(12345)  # scramble the global RNG: the checkpoint must restore it
    resumed, loader2 = _setup(digits_small, seed=7)
    assert loader2.seed != loader.seed
    resumed.load(tmp_path / "ckpt.npz")
    assert resumed.epoch == 2
    resumed.fit(loader2, (X_va, y_va), epochs=4, progress=False)

    a, b = _params(full.model), _params(resumed.model)
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    for k in ("train_loss", "val_loss", "lr"):
        assert full.history[k] == resumed.history[k], k
    assert full.history.steps["lr"] == resumed.history.steps["lr"]


def test_early_stopping_stops_and_restores_best(digits_small) -> None:
    trainer, loader = _setup(digits_small, sched=False, dropout=0.0)
    seen = {}

    class Grab:
        def on_epoch_end(self, tr, epoch, logs):
            seen[epoch] = _params(tr.model)

    # min_delta so large that only the first epoch (from +inf) counts as an improvement
    es = EarlyStopping(patience=2, min_delta=1e9)
    hist = trainer.fit(loader, digits_small[2:], epochs=10, early_stopping=es,
                       progress=False, callbacks=[Grab()])
    assert len(hist) == 3 and es.stopped_epoch == 3 and es.best_epoch == 1
    final = _params(trainer.model)
    for k in final:
        np.testing.assert_array_equal(final[k], seen[1][k], err_msg=k)


def test_early_stopping_on_accuracy_counts_patience(digits_small) -> None:
    es = EarlyStopping(patience=3, monitor="val_acc")
    assert es.mode == "max"
    stops = [es.update(v, e) for e, v in enumerate([0.5, 0.6, 0.6, 0.55, 0.6], 1)]
    assert stops == [False, False, False, False, True] and es.best_epoch == 2


def test_early_stopping_without_validation_is_an_error(digits_small) -> None:
    trainer, loader = _setup(digits_small, sched=False)
    with pytest.raises(ValueError, match="val_loss"):
        trainer.fit(loader, epochs=2, early_stopping=EarlyStopping(2), progress=False)


def test_clip_grad_norm_bounds_every_step(digits_small) -> None:
    trainer, loader = _setup(digits_small, sched=False, batchnorm=False, dropout=0.0)
    trainer.clip_grad_norm = 0.05
    norms = []
    step = trainer.optimizer.step

    def recording_step(*a, **kw):
        norms.append(math.sqrt(sum(float((p.grad.numpy().astype(np.float64) ** 2).sum())
                                   for p in trainer.model.parameters())))
        return step(*a, **kw)

    trainer.optimizer.step = recording_step
    trainer.fit(loader, epochs=1, progress=False)
    assert len(norms) == len(loader)
    assert max(norms) <= 0.05 * (1 + 1e-4)


@pytest.mark.parametrize("when", ["batch", "epoch"])
def test_scheduler_step_per_batch_or_epoch(digits_small, when) -> None:
    X_tr, y_tr, _, _ = digits_small
    model = mlp((64, 8, 10))
    opt = optim.SGD(model.parameters(), lr=0.1)
    sch = lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    loader = DataLoader(TensorDataset(X_tr, y_tr), batch_size=100, seed=0)
    hist = fit(model, opt, loader, epochs=2, scheduler=sch, scheduler_step=when)
    n = len(loader) if when == "batch" else 1
    assert hist["lr"] == pytest.approx([0.1 * 0.5**n, 0.1 * 0.5 ** (2 * n)])


def test_plateau_scheduler_steps_on_validation_loss(digits_small) -> None:
    trainer, loader = _setup(digits_small, sched=False)
    trainer.scheduler = lr_scheduler.ReduceLROnPlateau(trainer.optimizer, patience=0,
                                                       threshold=1e9, threshold_mode="abs")
    hist = trainer.fit(loader, digits_small[2:], epochs=3, progress=False)
    # the huge threshold makes every epoch after the first a plateau: x0.1 each time
    assert hist["lr"] == pytest.approx([LR, LR * 0.1, LR * 0.01])


def test_history_csv_and_best(tmp_path) -> None:
    h = History()
    h.append(1, train_loss=1.0, val_loss=0.9, lr=0.1, time=0.5)
    h.append(2, train_loss=0.5, val_loss=1.1, lr=0.1, time=0.5)
    assert h.best("val_loss") == (1, 0.9)
    assert h.best("train_loss") == (2, 0.5)
    h.to_csv(tmp_path / "h.csv")
    lines = (tmp_path / "h.csv").read_text().splitlines()
    assert lines[0] == "epoch,train_loss,train_acc,val_loss,val_acc,lr,time"
    assert lines[1] == "1,1.0,,0.9,,0.1,0.5"
    with pytest.raises(ValueError, match="val_acc"):
        h.best("val_acc")


def test_trainer_rejects_bad_arguments(digits_small) -> None:
    model = mlp((64, 10))
    opt = optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="scheduler_step"):
        Trainer(model, opt, scheduler_step="sometimes")
    with pytest.raises(ValueError, match="clip_grad_norm"):
        Trainer(model, opt, clip_grad_norm=0.0)
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(patience=0)


def test_regression_loss_gives_nan_accuracy() -> None:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 3)).astype(np.float32)
    y = (X @ np.array([[1.0], [-2.0], [0.5]], np.float32)).astype(np.float32)
    model = nn.Sequential(nn.Linear(3, 1))
    opt = optim.SGD(model.parameters(), lr=0.1)
    hist = fit(model, opt, DataLoader(TensorDataset(X, y), batch_size=16, seed=0),
               (X, y), epochs=5, loss_fn=nn.MSELoss())
    assert math.isnan(hist["train_acc"][-1]) and math.isnan(hist["val_acc"][-1])
    assert hist["val_loss"][-1] < 0.1 * hist["val_loss"][0]


def test_tensor_batches_from_device_loader_train_identically(digits_small) -> None:
    """Batches that arrive as Tensors (fg.cuda.DeviceLoader, here on "cpu") give the same
    run as NumPy batches, and the wrapped DataLoader still sets the epoch order."""
    from fusegrad.cuda import DeviceLoader

    a, loader_a = _setup(digits_small)
    a.fit(loader_a, epochs=2, progress=False)
    b, loader_b = _setup(digits_small)
    b.fit(DeviceLoader(loader_b, "cpu"), epochs=2, progress=False)
    pa, pb = _params(a.model), _params(b.model)
    for k in pa:
        np.testing.assert_array_equal(pa[k], pb[k], err_msg=k)
    assert b.state_dict()["loader"] == loader_b.state_dict()


def test_step_losses_are_the_values_of_each_step(digits_small) -> None:
    """Losses are read at the end of the epoch (one device transfer): they must still be the
    values each step computed (no buffer reused across steps)."""
    trainer, loader = _setup(digits_small)
    seen, loss_fn = [], trainer.loss_fn

    def recording(out, y):
        loss = loss_fn(out, y)
        seen.append(loss.item())
        return loss

    trainer.loss_fn = recording
    train_loss, _ = trainer.train_epoch(loader)
    assert trainer.history.steps["loss"] == seen
    sizes = [len(b[1]) for b in loader]
    assert train_loss == pytest.approx(np.dot(seen, sizes) / sum(sizes), rel=1e-12)


def test_progress_bar_shows_running_means(digits_small) -> None:
    trainer, loader = _setup(digits_small)

    class Bar:
        def __init__(self, total):
            self.n, self.total, self.posts = 0, total, []

        def update(self, k):
            self.n += k

        def set_postfix(self, refresh=False, **kw):
            self.posts.append(kw)

    bar = Bar(len(loader))
    loss, acc = trainer.train_epoch(loader, bar)
    assert bar.n == len(loader) and len(bar.posts) == math.ceil(len(loader) / 10)
    assert float(bar.posts[-1]["loss"]) == pytest.approx(loss, abs=1e-4)
    assert float(bar.posts[-1]["acc"]) == pytest.approx(acc, abs=1e-4)
