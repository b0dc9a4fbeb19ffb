"""The training loop: ``Trainer`` (epochs of mini-batches, validation, schedules, clipping,
early stopping, checkpoints), its ``History`` and the one-call ``fit``.

Batches arrive as NumPy arrays (``fusegrad.data.DataLoader``) and become Tensors only here,
one wrap per batch; everything per-batch is kept to the few calls a step needs (see
Note [hot loop]).
"""

from __future__ import annotations

import csv
import math
import os
import sys
import time
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from fusegrad import random as fg_random
from fusegrad.autograd.grad_mode import no_grad
from fusegrad.autograd.tensor import Tensor
from fusegrad.train.checkpoint import load_checkpoint, save_checkpoint

__all__ = ["EarlyStopping", "History", "Trainer", "fit"]

HISTORY_KEYS = ("train_loss", "train_acc", "val_loss", "val_acc", "lr", "time")


class History:
    """Per-epoch training record, Keras/Lightning style.

    ``history["train_loss"]`` etc. are lists with one value per finished epoch (keys:
    ``train_loss, train_acc, val_loss, val_acc, lr, time``; ``val_*`` are NaN without a
    validation loader, ``*_acc`` NaN when the task is not classification; ``lr`` is the
    learning rate of the first param group at the end of the epoch; ``time`` the epoch's
    wall time in seconds). ``epoch`` lists the epoch numbers (1-based) and ``steps`` holds
    per-step ``lr`` (the rate each optimizer step used) and ``loss``, for plots.
    """

    def __init__(self) -> None:
        self.epoch: list[int] = []
        self.history: dict[str, list[float]] = {k: [] for k in HISTORY_KEYS}
        self.steps: dict[str, list[float]] = {"lr": [], "loss": []}

    def __getitem__(self, key: str) -> list[float]:
        return self.history[key]

    def __len__(self) -> int:
        return len(self.epoch)

    def __repr__(self) -> str:
        last = {k: v[-1] for k, v in self.history.items() if v}
        return f"History(epochs={len(self)}, last={last})"

    def append(self, epoch: int, **values: float) -> None:
        """Records epoch ``epoch`` (1-based); missing keys are stored as NaN."""
        self.epoch.append(int(epoch))
        for k in HISTORY_KEYS:
            self.history[k].append(float(values.get(k, math.nan)))

    def best(self, key: str = "val_loss", mode: str | None = None) -> tuple[int, float]:
        """``(epoch, value)`` of the best finite ``key`` (min for losses, max otherwise)."""
        mode = mode or ("min" if key.endswith("loss") else "max")
        values = np.asarray(self.history[key], dtype=np.float64)
        if not np.isfinite(values).any():
            raise ValueError(f"history has no finite {key} values")
        masked = np.where(np.isfinite(values), values, np.inf if mode == "min" else -np.inf)
        i = int(np.argmin(masked) if mode == "min" else np.argmax(masked))
        return self.epoch[i], float(values[i])

    def to_csv(self, path: str | os.PathLike[str]) -> None:
        """Writes one row per epoch: ``epoch, train_loss, ..., time`` (empty cell for NaN)."""
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["epoch", *HISTORY_KEYS])
            for i, e in enumerate(self.epoch):
                row = [self.history[k][i] for k in HISTORY_KEYS]
                w.writerow([e, *("" if math.isnan(v) else repr(v) for v in row)])

    def state_dict(self) -> dict[str, Any]:
        # Per-step lists as float64 arrays: a checkpoint stores them as binary (exact) data.
        return {"epoch": list(self.epoch), "history": {k: list(v) for k, v in self.history.items()},
                "steps": {k: np.array(v, dtype=np.float64) for k, v in self.steps.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch = [int(e) for e in state["epoch"]]
        self.history = {k: [float(x) for x in state["history"][k]] for k in HISTORY_KEYS}
        self.steps = {k: [float(x) for x in np.asarray(v, dtype=np.float64)]
                      for k, v in state["steps"].items()}


def _snapshot(model: Any) -> dict[str, np.ndarray]:
    """Copies of every state_dict entry as NumPy arrays (not views of the live parameters)."""
    return {k: np.array(v.numpy() if isinstance(v, Tensor) else v, copy=True)
            for k, v in model.state_dict().items()}


def _restore(model: Any, arrays: dict[str, np.ndarray]) -> None:
    from fusegrad.autograd.creation import from_numpy

    model.load_state_dict({k: from_numpy(np.array(v, copy=True)) for k, v in arrays.items()})


class EarlyStopping:
    """Stops training when a monitored validation metric stops improving.

    After each epoch ``update`` compares the metric with the best so far; an improvement
    (by more than ``min_delta``) resets the wait, otherwise the wait grows and training stops
    once it reaches ``patience``. With ``restore_best`` the model's weights (and buffers) of
    the best epoch are kept and put back when training ends.

    Args:
        patience: epochs without improvement before stopping (positive int).
        monitor: a ``History`` key, e.g. ``"val_loss"`` or ``"val_acc"``.
        mode: ``"min"`` or ``"max"``; default: min for ``*loss``, max otherwise.
        min_delta: the smallest change that counts as an improvement.
        restore_best: restore the best epoch's weights at the end of ``fit``.
    """

    def __init__(self, patience: int = 5, monitor: str = "val_loss", mode: str | None = None,
                 min_delta: float = 0.0, restore_best: bool = True) -> None:
        if int(patience) < 1:
            raise ValueError(f"patience must be a positive integer, got {patience}")
        if monitor not in HISTORY_KEYS:
            raise ValueError(f"monitor must be one of {HISTORY_KEYS}, got {monitor!r}")
        mode = mode or ("min" if monitor.endswith("loss") else "max")
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        self.patience, self.monitor, self.mode = int(patience), monitor, mode
        self.min_delta, self.restore_best = abs(float(min_delta)), bool(restore_best)
        self.reset()

    def reset(self) -> None:
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_epoch = 0
        self.wait = 0
        self.stopped_epoch = 0
        self.best_state: dict[str, np.ndarray] | None = None

    def _improved(self, value: float) -> bool:
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def update(self, value: float, epoch: int, model: Any = None) -> bool:
        """Records epoch ``epoch``'s metric; returns True when training should stop."""
        if math.isnan(value):
            raise ValueError(
                f"early stopping monitors {self.monitor}, which is NaN at epoch {epoch} "
                "(no validation loader?)"
            )
        if self._improved(value):
            self.best, self.best_epoch, self.wait = float(value), int(epoch), 0
            if self.restore_best and model is not None:
                self.best_state = _snapshot(model)
            return False
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = int(epoch)
            return True
        return False

    def restore(self, model: Any) -> bool:
        """Puts the best epoch's weights back into ``model``; False when there are none."""
        if not self.restore_best or self.best_state is None:
            return False
        _restore(model, self.best_state)
        return True

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait,
                "stopped_epoch": self.stopped_epoch, "best_state": self.best_state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.best_epoch = float(state["best"]), int(state["best_epoch"])
        self.wait, self.stopped_epoch = int(state["wait"]), int(state["stopped_epoch"])
        self.best_state = state["best_state"]


def _is_plateau(scheduler: Any) -> bool:
    """ReduceLROnPlateau steps on a metric, once per epoch, whatever ``scheduler_step`` says."""
    try:
        from fusegrad.optim.lr_scheduler import ReduceLROnPlateau
    except ImportError:  # pragma: no cover - optim always ships with the package
        return False
    return isinstance(scheduler, ReduceLROnPlateau)


def _host(arrays: list[Any]) -> list[Any]:
    """Python numbers from a list of 0-d arrays (NumPy or CuPy) with one device transfer."""
    if not arrays:
        return []
    first = arrays[0]
    if isinstance(first, (np.ndarray, np.generic, int, float)):
        return [a.item() if hasattr(a, "item") else a for a in arrays]
    stacked = type(first).__module__.split(".")[0]  # "cupy"
    import importlib

    xp = importlib.import_module(stacked)
    return xp.stack(arrays).get().tolist()


def _base_loader(loader: Any) -> Any:
    """The ``DataLoader`` that decides the batch order: ``loader`` itself, or the one a
    wrapper such as ``fg.cuda.DeviceLoader`` keeps as ``.loader``; None if there is none."""
    for candidate in (loader, getattr(loader, "loader", None)):
        if all(hasattr(candidate, m) for m in ("set_epoch", "state_dict", "load_state_dict")):
            return candidate
    return None


def _as_batches(data: Any, batch_size: int = 1024) -> Iterable[Any]:
    """A loader as given, or ``(X, y)`` arrays cut into batches in order."""
    if isinstance(data, tuple) and len(data) == 2 and all(hasattr(a, "shape") for a in data):
        X, y = data
        return [(X[i : i + batch_size], y[i : i + batch_size]) for i in range(0, len(X),
                                                                             batch_size)]
    return data


class Trainer:
    """Trains a model with an optimizer on mini-batches (PyTorch-style loop, done for you).

    One ``fit`` call runs epochs ``trainer.epoch + 1 .. epochs``: per batch, forward, loss,
    backward, optional gradient clipping, ``optimizer.step()`` and (``scheduler_step=
    "batch"``) ``scheduler.step()``; per epoch, validation, history, early stopping and the
    checkpoint. A ``ReduceLROnPlateau`` scheduler steps once per epoch on the validation loss
    (train loss without validation data).

    Args:
        model: an ``nn.Module`` mapping a batch of inputs to outputs (logits).
        optimizer: a ``fusegrad.optim`` optimizer over the model's parameters.
        loss_fn: ``loss_fn(outputs, targets)`` -> scalar Tensor; default
            ``nn.CrossEntropyLoss()``.
        scheduler: an ``optim.lr_scheduler`` scheduler, or None.
        device: where batches go (``"cpu"``, ``"cuda"``); the model is moved there too.
        clip_grad_norm: if set, ``nn.utils.clip_grad_norm_`` to this total norm every step.
        scheduler_step: ``"batch"`` (step the schedule after every optimizer step: schedule
            lengths are counted in steps) or ``"epoch"``.

    Attributes:
        epoch: number of finished epochs (what a checkpoint resumes from).
        global_step: number of optimizer steps taken.
        history: the ``History`` of all finished epochs.
    """

    def __init__(self, model: Any, optimizer: Any, loss_fn: Any = None, scheduler: Any = None,
                 device: str = "cpu", clip_grad_norm: float | None = None,
                 scheduler_step: str = "batch") -> None:
        if scheduler_step not in ("batch", "epoch"):
            raise ValueError(f"scheduler_step must be 'batch' or 'epoch', got {scheduler_step!r}")
        if clip_grad_norm is not None and not clip_grad_norm > 0:
            raise ValueError(f"clip_grad_norm must be positive, got {clip_grad_norm}")
        if loss_fn is None:
            from fusegrad.nn import CrossEntropyLoss

            loss_fn = CrossEntropyLoss()
        self.device = str(device)
        if self.device != "cpu" or any(p.device != "cpu" for p in model.parameters()):
            model.to(self.device)
        self.model, self.optimizer, self.loss_fn = model, optimizer, loss_fn
        self.scheduler, self.scheduler_step = scheduler, scheduler_step
        self.clip_grad_norm = clip_grad_norm
        self.epoch = 0
        self.global_step = 0
        self.history = History()
        self.stop_training = False
        self._pending: dict[str, Any] = {}  # loader / early-stopping state from a checkpoint
        self._train_loader: Any = None
        self._early_stopping: EarlyStopping | None = None

    # ---- one batch, one epoch --------------------------------------------------------
    def _tensor(self, a: Any) -> Tensor:
        if isinstance(a, Tensor):  # e.g. from fg.cuda.DeviceLoader: already placed
            return a
        if self.device == "cpu":
            return Tensor._make(a, "cpu")  # the batch array itself, no copy
        return Tensor(a, device=self.device)

    def train_epoch(self, loader: Iterable[Any], bar: Any = None) -> tuple[float, float]:
        """One pass over ``loader`` in training mode; returns (mean loss, accuracy).

        The means are over samples (a short last batch weighs less), as ``evaluate``'s.
        """
        # Note [hot loop]
        # Per batch: two Tensor wraps, forward, loss, zero_grad, backward, step, and an argmax
        # over the (B, classes) outputs. The loss and the correct count stay 0-d arrays of the
        # device until the epoch ends (one transfer for all of them), so a GPU run is not
        # synchronised every step; only the progress bar reads them every 10 steps. No Python
        # work proportional to the number of parameters happens here; the optimizer step is
        # one fused call per param group.
        model, opt, loss_fn, sched = self.model, self.optimizer, self.loss_fn, self.scheduler
        step_sched = sched is not None and self.scheduler_step == "batch" and not _is_plateau(
            sched)
        clip = self.clip_grad_norm
        params = [p for p in model.parameters() if p.requires_grad] if clip else None
        if clip:
            from fusegrad.nn.utils import clip_grad_norm_
        group0 = opt.param_groups[0]
        step_lr = self.history.steps["lr"]
        losses: list[Any] = []  # 0-d loss arrays, one per step
        counts: list[int] = []  # batch sizes
        correct: list[Any] = []  # 0-d arrays: correct predictions per step
        classified = True
        shown = [0, 0.0, 0]  # steps, loss sum, correct sum already shown on the bar
        model.train()
        for xb, yb in loader:
            x, y = self._tensor(xb), self._tensor(yb)
            out = model(x)
            loss = loss_fn(out, y)
            opt.zero_grad()
            loss.backward()
            if clip:
                clip_grad_norm_(params, clip)
            step_lr.append(group0["lr"])
            opt.step()
            if step_sched:
                sched.step()
            self.global_step += 1
            losses.append(loss._data)
            counts.append(len(yb))
            if classified and out.ndim == 2 and yb.dtype.kind in "iu":
                hits = out._data.argmax(axis=1) == y._data
                # count_nonzero: ~0.3 us on a NumPy bool vector, .sum() ~2 us
                correct.append(np.count_nonzero(hits) if isinstance(hits, np.ndarray)
                               else hits.sum())
            else:
                classified = False
            if bar is not None:
                bar.update(1)
                if bar.n % 10 == 0 or bar.n == bar.total:
                    self._show(bar, shown, losses, counts, correct if classified else None)
        if not losses:
            raise ValueError("the training loader yielded no batches")
        values = _host(losses)
        self.history.steps["loss"].extend(values)
        seen = sum(counts)
        total_loss = sum(v * n for v, n in zip(values, counts))
        return total_loss / seen, (sum(_host(correct)) / seen if classified else math.nan)

    @staticmethod
    def _show(bar: Any, shown: list, losses: list, counts: list, correct: list | None) -> None:
        """Running mean loss / accuracy on the bar (reads only the steps not shown yet)."""
        k = shown[0]
        shown[1] += sum(v * n for v, n in zip(_host(losses[k:]), counts[k:]))
        if correct is not None:
            shown[2] += sum(_host(correct[k:]))
        shown[0] = len(losses)
        seen = sum(counts)
        bar.set_postfix(loss=f"{shown[1] / seen:.4f}",
                        acc=f"{shown[2] / seen:.4f}" if correct is not None else "-",
                        refresh=False)

    def evaluate(self, loader: Any) -> dict[str, float]:
        """Mean loss and accuracy over ``loader`` (or an ``(X, y)`` pair) in eval mode.

        Returns:
            ``{"loss": ..., "acc": ...}``; ``acc`` is NaN when outputs are not class scores.
        """
        model, loss_fn = self.model, self.loss_fn
        was_training = model.training
        model.eval()
        total_loss, correct, seen, classified = 0.0, 0, 0, True
        try:
            with no_grad():
                for xb, yb in _as_batches(loader):
                    x, y = self._tensor(xb), self._tensor(yb)
                    out = model(x)
                    n = len(yb)
                    total_loss += loss_fn(out, y).item() * n
                    seen += n
                    if classified and out.ndim == 2 and yb.dtype.kind in "iu":
                        correct += int((out._data.argmax(axis=1) == y._data).sum())
                    else:
                        classified = False
        finally:
            model.train(was_training)
        if seen == 0:
            raise ValueError("the evaluation loader yielded no batches")
        return {"loss": total_loss / seen, "acc": correct / seen if classified else math.nan}

    def predict(self, X: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        """Model outputs for the rows of ``X`` (eval mode, no graph), as one NumPy array."""
        model = self.model
        was_training = model.training
        model.eval()
        try:
            with no_grad():
                outs = [model(self._tensor(X[i : i + batch_size])).numpy()
                        for i in range(0, len(X), batch_size)]
        finally:
            model.train(was_training)
        return np.concatenate(outs)

    # ---- the loop --------------------------------------------------------------------
    def fit(self, train_loader: Iterable[Any], val_loader: Any = None, epochs: int = 10,
            early_stopping: EarlyStopping | None = None, progress: bool = True,
            checkpoint_path: str | os.PathLike[str] | None = None,
            callbacks: Sequence[Any] = ()) -> History:
        """Trains until ``self.epoch == epochs`` (or early stopping); returns ``self.history``.

        Args:
            train_loader: yields ``(x, y)`` batches (NumPy arrays, or Tensors already on
                the device, as ``fg.cuda.DeviceLoader`` gives); if it is a ``DataLoader``
                (or wraps one as ``.loader``), epoch ``k``'s order is requested with
                ``set_epoch(k)``, which is what makes a resumed run replay the same batches.
            val_loader: evaluated after every epoch (a loader or an ``(X, y)`` pair).
            epochs: total number of epochs, counting those already done (a resumed trainer
                continues from ``self.epoch``).
            early_stopping: an ``EarlyStopping``; its weights are restored at the end.
            progress: show a progress bar per epoch (on a terminal) and one line per epoch.
            checkpoint_path: save ``state_dict()`` here after every epoch and at the end.
            callbacks: objects with any of ``on_epoch_begin(trainer, epoch)``,
                ``on_epoch_end(trainer, epoch, logs)``, ``on_train_end(trainer)``; setting
                ``trainer.stop_training = True`` ends training after the current epoch.
        """
        if int(epochs) < 0:
            raise ValueError(f"epochs must be non-negative, got {epochs}")
        epochs = int(epochs)
        self._train_loader, self._early_stopping = train_loader, early_stopping
        base = _base_loader(train_loader)
        if "loader" in self._pending and base is not None:
            base.load_state_dict(self._pending.pop("loader"))
        if early_stopping is not None and "early_stopping" in self._pending:
            early_stopping.load_state_dict(self._pending.pop("early_stopping"))
        self.stop_training = False
        bar_ok = progress and sys.stderr.isatty()
        if bar_ok:
            from tqdm.auto import tqdm
        while self.epoch < epochs and not self.stop_training:
            epoch = self.epoch + 1
            for cb in callbacks:
                if hasattr(cb, "on_epoch_begin"):
                    cb.on_epoch_begin(self, epoch)
            if base is not None:
                base.set_epoch(self.epoch)
            bar = None
            if bar_ok:
                bar = tqdm(total=len(train_loader), desc=f"epoch {epoch}/{epochs}",
                           leave=False, unit="batch", dynamic_ncols=True)
            t0 = time.perf_counter()
            try:
                train_loss, train_acc = self.train_epoch(train_loader, bar)
            finally:
                if bar is not None:
                    bar.close()
            logs = {"train_loss": train_loss, "train_acc": train_acc}
            if val_loader is not None:
                val = self.evaluate(val_loader)
                logs["val_loss"], logs["val_acc"] = val["loss"], val["acc"]
            if self.scheduler is not None:
                if _is_plateau(self.scheduler):
                    self.scheduler.step(logs.get("val_loss", train_loss))
                elif self.scheduler_step == "epoch":
                    self.scheduler.step()
            logs["lr"] = float(self.optimizer.param_groups[0]["lr"])
            logs["time"] = time.perf_counter() - t0
            self.history.append(epoch, **logs)
            self.epoch = epoch
            if early_stopping is not None and early_stopping.update(
                    logs.get(early_stopping.monitor, math.nan), epoch, self.model):
                self.stop_training = True
            for cb in callbacks:
                if hasattr(cb, "on_epoch_end"):
                    cb.on_epoch_end(self, epoch, logs)
            if progress:
                print(_epoch_line(epoch, epochs, logs), file=sys.stderr, flush=True)
            if checkpoint_path is not None:
                self.save(checkpoint_path)
        if early_stopping is not None and early_stopping.restore(self.model):
            if progress:
                print(f"early stopping: restored the weights of epoch {early_stopping.best_epoch}"
                      f" ({early_stopping.monitor} {early_stopping.best:.4g})", file=sys.stderr)
        if checkpoint_path is not None:
            self.save(checkpoint_path)
        for cb in callbacks:
            if hasattr(cb, "on_train_end"):
                cb.on_train_end(self)
        return self.history

    # ---- checkpoints -----------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything a resumed run needs to continue exactly: model, optimizer, scheduler,
        epoch and step counters, history, fusegrad's global RNG, the loader's position and
        the early-stopping state (when ``fit`` has them)."""
        state: dict[str, Any] = {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
            "epoch": self.epoch,
            "global_step": self.global_step,
            "history": self.history.state_dict(),
            "rng": fg_random.get_rng_state(),
            "loader": None,
            "early_stopping": None,
        }
        base = _base_loader(self._train_loader)
        if base is not None:
            state["loader"] = base.state_dict()
        if self._early_stopping is not None:
            state["early_stopping"] = self._early_stopping.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores ``state_dict()``; the loader and early-stopping parts apply at next ``fit``.

        Raises:
            ValueError: a scheduler in the checkpoint but none here, or the reverse.
        """
        if (state["scheduler"] is None) != (self.scheduler is None):
            have = "no scheduler" if self.scheduler is None else "a scheduler"
            raise ValueError(f"the checkpoint's scheduler state does not fit a trainer with {have}")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        self.epoch, self.global_step = int(state["epoch"]), int(state["global_step"])
        self.history.load_state_dict(state["history"])
        fg_random.set_rng_state(state["rng"])
        self._pending = {k: state[k] for k in ("loader", "early_stopping") if state[k] is not None}

    def save(self, path: str | os.PathLike[str]) -> None:
        """Writes ``state_dict()`` to one ``.npz`` file (see ``checkpoint.save_checkpoint``)."""
        save_checkpoint(path, self.state_dict())

    def load(self, path: str | os.PathLike[str]) -> None:
        """Restores a checkpoint written by ``save``; call ``fit`` to continue."""
        self.load_state_dict(load_checkpoint(path))


def _fmt(v: float, spec: str) -> str:
    return "-" if math.isnan(v) else format(v, spec)


def _epoch_line(epoch: int, epochs: int, logs: dict[str, float]) -> str:
    width = len(str(epochs))
    line = (f"epoch {epoch:>{width}}/{epochs}  train loss {_fmt(logs['train_loss'], '.4f')} "
            f"acc {_fmt(logs['train_acc'], '.4f')}")
    if "val_loss" in logs:
        line += f"  val loss {_fmt(logs['val_loss'], '.4f')} acc {_fmt(logs['val_acc'], '.4f')}"
    return line + f"  lr {logs['lr']:.3g}  {logs['time']:.2f}s"


def fit(model: Any, optimizer: Any, train_loader: Iterable[Any], val_loader: Any = None, *,
        epochs: int = 10, loss_fn: Any = None, scheduler: Any = None, device: str = "cpu",
        clip_grad_norm: float | None = None, scheduler_step: str = "batch",
        early_stopping: EarlyStopping | None = None, progress: bool = False,
        checkpoint_path: str | os.PathLike[str] | None = None,
        callbacks: Sequence[Any] = ()) -> History:
    """Function form of ``Trainer(...).fit(...)``; arguments as there. Returns the History."""
    trainer = Trainer(model, optimizer, loss_fn, scheduler=scheduler, device=device,
                      clip_grad_norm=clip_grad_norm, scheduler_step=scheduler_step)
    return trainer.fit(train_loader, val_loader, epochs=epochs, early_stopping=early_stopping,
                       progress=progress, checkpoint_path=checkpoint_path, callbacks=callbacks)
