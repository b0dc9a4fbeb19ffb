"""One training run from a plain configuration: what ``fusegrad train`` does.

``TrainConfig`` holds the options (defaults: digits, MLP 64-128-128-10 with ReLU, Adam,
cosine schedule with a one-epoch warm-up, batch 32, seed 0); ``run_training`` loads and
splits the data, builds model, optimizer and schedule, trains with ``Trainer`` and writes the
run folder. The builders (``load_data``, ``build_optimizer``, ``build_scheduler``) are shared
with the search and the cross-validation helper.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import math
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from fusegrad.train.checkpoint import CheckpointError
from fusegrad.train.models import INITS, mlp
from fusegrad.train.plots import plot_history
from fusegrad.train.trainer import EarlyStopping, Trainer

__all__ = [
    "DATASETS", "OPTIMIZERS", "SCHEDULES", "ConfigError", "Splits", "TrainConfig",
    "build_optimizer", "build_scheduler", "load_data", "run_training",
]

DATASETS = ("digits", "mnist")
OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adadelta", "adam", "adamw")
SCHEDULES = ("none", "step", "multistep", "exp", "inv", "poly", "cosine", "sgdr", "cyclic",
             "onecycle")
# Learning rates that train the default MLP well when --lr is not given (checked on digits).
DEFAULT_LR = {"sgd": 0.1, "momentum": 0.02, "nesterov": 0.02, "adagrad": 0.05,
              "rmsprop": 1e-3, "adadelta": 1.0, "adam": 3e-3, "adamw": 3e-3}


class ConfigError(ValueError):
    """A bad option or bad input data: reported as one line, never as a traceback."""


@dataclasses.dataclass
class TrainConfig:
    """Options of one training run (the ``fusegrad train`` flags; see ``--help``).

    ``lr=None`` takes ``DEFAULT_LR[optimizer]``, ``weight_decay=None`` the optimizer's own
    default. ``warmup`` is in epochs (fractions allowed): the learning rate rises linearly
    from 10% to 100% over that many epochs' steps, then the schedule runs over the rest.
    ``out=None`` writes to ``runs/<timestamp>``; ``out=""`` writes nothing.
    """

    dataset: str = "digits"
    data_dir: str | None = None
    hidden: tuple[int, ...] = (128, 128)
    optimizer: str = "adam"
    lr: float | None = None
    weight_decay: float | None = None
    momentum: float = 0.9
    schedule: str = "cosine"
    warmup: float | None = None
    batch_size: int = 32
    epochs: int = 30
    batchnorm: bool = False
    dropout: float = 0.0
    init: str = "default"
    device: str = "cpu"
    seed: int = 0
    val: float = 0.15
    test: float = 0.15
    out: str | None = None
    patience: int | None = None
    clip_grad_norm: float | None = None
    resume: str | None = None
    quiet: bool = False
    threads: int | None = None
    profile: bool = False
    plots: bool = True


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def validate(config: TrainConfig) -> None:
    """Raises ``ConfigError`` naming the first bad option."""
    c = config
    _check(c.dataset in DATASETS, f"--dataset must be one of {', '.join(DATASETS)}, "
           f"got {c.dataset!r}")
    _check(c.optimizer in OPTIMIZERS, f"--optimizer must be one of {', '.join(OPTIMIZERS)}, "
           f"got {c.optimizer!r}")
    _check(c.schedule in SCHEDULES, f"--schedule must be one of {', '.join(SCHEDULES)}, "
           f"got {c.schedule!r}")
    _check(c.init in INITS, f"--init must be one of {', '.join(INITS)}, got {c.init!r}")
    _check(c.lr is None or (math.isfinite(c.lr) and c.lr > 0),
           f"--lr must be a positive number, got {c.lr}")
    _check(c.weight_decay is None or (math.isfinite(c.weight_decay) and c.weight_decay >= 0),
           f"--weight-decay must be non-negative, got {c.weight_decay}")
    _check(0 <= c.momentum < 1, f"--momentum must be in [0, 1), got {c.momentum}")
    _check(0 <= c.dropout < 1, f"--dropout must be in [0, 1), got {c.dropout}")
    _check(c.batch_size >= 1, f"--batch-size must be a positive integer, got {c.batch_size}")
    _check(c.epochs >= 1, f"--epochs must be a positive integer, got {c.epochs}")
    _check(c.warmup is None or (math.isfinite(c.warmup) and 0 <= c.warmup < c.epochs),
           f"--warmup must be in [0, epochs={c.epochs}), got {c.warmup}")
    _check(all(h >= 1 for h in c.hidden), f"--hidden sizes must be positive, got {c.hidden}")
    _check(c.patience is None or c.patience >= 1,
           f"--patience must be a positive integer, got {c.patience}")
    _check(c.clip_grad_norm is None or c.clip_grad_norm > 0,
           f"--clip-grad-norm must be positive, got {c.clip_grad_norm}")
    _check(c.threads is None or c.threads >= 1,
           f"--threads must be a positive integer, got {c.threads}")
    _check(0 < c.val < 1 and 0 < c.test < 1 and c.val + c.test < 1,
           f"val and test fractions must be in (0, 1) with a sum below 1, got {c.val}, {c.test}")
    if c.dataset == "mnist":
        _check(c.data_dir is not None, "--dataset mnist needs --data-dir DIR (a folder with "
               "the four MNIST IDX files)")
        _check(os.path.isdir(c.data_dir), f"--data-dir {c.data_dir}: no such directory")
    _check(c.device == "cpu" or c.device == "cuda" or c.device.startswith("cuda:"),
           f"--device must be cpu or cuda, got {c.device!r}")
    if c.device != "cpu":
        from fusegrad import cuda

        _check(cuda.is_available(), f"--device {c.device}: {cuda.unavailable_reason()}")
    _check(c.resume is None or os.path.isfile(c.resume),
           f"--resume {c.resume}: no such checkpoint file")


# ---- data ----------------------------------------------------------------------------
@dataclasses.dataclass
class Splits:
    """Train/validation/test arrays (float32 inputs, int64 labels) and a description."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    name: str


def load_data(dataset: str = "digits", data_dir: str | None = None, val: float = 0.15,
              test: float = 0.15, split_seed: int = 0) -> Splits:
    """Loads a data set and splits it; inputs are standardised with train statistics only.

    digits: a stratified ``val``/``test`` split of the 1797 images (seed ``split_seed``),
    ``StandardScaler`` fitted on the training part. mnist: the official 10 000-image test
    set; ``val`` of the 60 000 training images (stratified) for validation; pixels stay in
    [0, 1] (standardising rarely-lit border pixels would blow them up).

    Raises:
        ConfigError: the data cannot be read (missing folder or file, corrupt file).
    """
    from fusegrad.data import StandardScaler, load_digits, load_mnist, train_val_test_split

    if dataset == "digits":
        try:
            X, y = load_digits()
        except ImportError as e:  # scikit-learn (a dependency) missing: say so in one line
            raise ConfigError(str(e)) from e
        Xtr, Xva, Xte, ytr, yva, yte = train_val_test_split(X, y, val=val, test=test,
                                                            seed=split_seed, stratify=y)
        scaler = StandardScaler().fit(Xtr)
        Xtr, Xva, Xte = (scaler.transform(a) for a in (Xtr, Xva, Xte))
    elif dataset == "mnist":
        try:
            (X, y), (Xte, yte) = load_mnist(data_dir)
        except (OSError, ValueError) as e:
            raise ConfigError(f"cannot read MNIST from {data_dir}: {e}") from e
        Xtr, Xva, _, ytr, yva, _ = train_val_test_split(X, y, val=val, test=0.0,
                                                        seed=split_seed, stratify=y)
    else:
        raise ConfigError(f"unknown dataset {dataset!r}; choose from {', '.join(DATASETS)}")
    f32 = [np.ascontiguousarray(a, dtype=np.float32) for a in (Xtr, Xva, Xte)]
    i64 = [np.ascontiguousarray(a, dtype=np.int64) for a in (ytr, yva, yte)]
    n_classes = int(max(a.max() for a in i64 if a.size)) + 1
    return Splits(f32[0], i64[0], f32[1], i64[1], f32[2], i64[2], n_classes, dataset)


# ---- optimizer and schedule ------------------------------------------------------------
def default_warmup(warmup: float | None, epochs: int) -> float:
    """``warmup`` itself, or for None one epoch, shortened to a tenth of short runs."""
    return min(1.0, epochs / 10) if warmup is None else float(warmup)


def build_optimizer(name: str, params: Any, lr: float | None = None,
                    weight_decay: float | None = None, momentum: float = 0.9) -> Any:
    """A ``fusegrad.optim`` optimizer by CLI name (``momentum``/``nesterov`` are SGD variants)."""
    from fusegrad import optim

    if name not in OPTIMIZERS:
        raise ConfigError(f"unknown optimizer {name!r}; choose from {', '.join(OPTIMIZERS)}")
    lr = DEFAULT_LR[name] if lr is None else lr
    kw = {} if weight_decay is None else {"weight_decay": weight_decay}
    if name == "sgd":
        return optim.SGD(params, lr=lr, **kw)
    if name in ("momentum", "nesterov"):
        return optim.SGD(params, lr=lr, momentum=momentum, nesterov=name == "nesterov", **kw)
    cls = {"adagrad": optim.Adagrad, "rmsprop": optim.RMSprop, "adadelta": optim.Adadelta,
           "adam": optim.Adam, "adamw": optim.AdamW}[name]
    return cls(params, lr=lr, **kw)


def build_scheduler(name: str, optimizer: Any, steps_per_epoch: int, epochs: int,
                    warmup: float = 0.0, cycle_momentum: bool | None = None) -> Any:
    """A per-step schedule by CLI name, scaled to the run's length (None for ``"none"``
    without warm-up).

    With ``T`` the number of steps after the warm-up: step = x0.1 every T/3; multistep =
    x0.1 at 50% and 75% of T; exp = decays to 1% over T; inv = lr0 / (1 + 9 t/T), ending at
    10%; poly = (1 - t/T)^2; cosine = to 0 over T; sgdr = warm restarts with periods T/7,
    2T/7, 4T/7; cyclic = triangular between lr0/10 and lr0, 4 cycles; onecycle = 1cycle
    over all steps, rising for the warm-up (30% when ``warmup`` is 0). cyclic ignores
    ``warmup``: every cycle already rises from lr0/10. A warm-up (any other schedule) is
    ``LinearLR`` from 10% chained in front with ``SequentialLR``.
    """
    from fusegrad.optim import lr_scheduler as S

    total = steps_per_epoch * epochs
    warm = 0 if name == "cyclic" else int(round(warmup * steps_per_epoch))
    T = max(1, total - warm)
    group = optimizer.param_groups[0]
    lr0 = group["lr"]
    if cycle_momentum is None:
        cycle_momentum = "betas" in group or group.get("momentum", 0) > 0
    if name == "onecycle":
        pct = warm / total if warm else 0.3
        return S.OneCycleLR(optimizer, max_lr=lr0, total_steps=total, pct_start=pct,
                            cycle_momentum=cycle_momentum)
    # The warm-up is built first: the first scheduler built records each group's
    # "initial_lr", which SequentialLR and the warm-up start from; CyclicLR would otherwise
    # record its base_lr (lr0 / 10) there.
    ramp = None
    if warm:
        ramp = S.LinearLR(optimizer, start_factor=0.1, end_factor=1.0, total_iters=warm)
    if name == "none":
        main = None
    elif name == "step":
        main = S.StepLR(optimizer, step_size=max(1, T // 3), gamma=0.1)
    elif name == "multistep":
        main = S.MultiStepLR(optimizer, milestones=[T // 2, (3 * T) // 4], gamma=0.1)
    elif name == "exp":
        main = S.ExponentialLR(optimizer, gamma=0.01 ** (1.0 / T))
    elif name == "inv":
        main = S.InverseTimeLR(optimizer, decay_rate=9.0, decay_steps=T)
    elif name == "poly":
        main = S.PolynomialLR(optimizer, total_iters=T, power=2.0)
    elif name == "cosine":
        main = S.CosineAnnealingLR(optimizer, T_max=T)
    elif name == "sgdr":
        main = S.CosineAnnealingWarmRestarts(optimizer, T_0=max(1, T // 7), T_mult=2)
    elif name == "cyclic":
        main = S.CyclicLR(optimizer, base_lr=lr0 / 10, max_lr=lr0, step_size_up=max(1, T // 8),
                          cycle_momentum=cycle_momentum)
    else:
        raise ConfigError(f"unknown schedule {name!r}; choose from {', '.join(SCHEDULES)}")
    if ramp is None or main is None:
        return ramp or main
    return S.SequentialLR(optimizer, [ramp, main], milestones=[warm])


# ---- the run -----------------------------------------------------------------------------
def _default_out() -> str:
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    out, k = os.path.join("runs", stamp), 1
    while os.path.exists(out):
        k += 1
        out = os.path.join("runs", f"{stamp}-{k}")
    return out


@contextlib.contextmanager
def _thread_limit(threads: int | None) -> Iterator[None]:
    """fusegrad's OpenMP threads and the BLAS pool limited to ``threads`` for the run."""
    if threads is None:
        yield
        return
    import fusegrad

    old = fusegrad.get_num_threads()
    fusegrad.set_num_threads(threads)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # BLAS keeps its own count then
        limits: Any = contextlib.nullcontext()
    else:
        limits = threadpool_limits(limits=threads, user_api="blas")
    try:
        with limits:
            yield
    finally:
        fusegrad.set_num_threads(old)


class _ProfileFirstEpoch:
    """Callback: profiles the first epoch run with ``fusegrad.profiler`` and prints its table."""

    def __init__(self, log: Callable[[str], None]) -> None:
        self.log, self.ctx, self.done = log, None, False

    def on_epoch_begin(self, trainer: Trainer, epoch: int) -> None:
        if not self.done:
            import fusegrad.profiler

            self.ctx = fusegrad.profiler.profile()
            self.prof = self.ctx.__enter__()

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict) -> None:
        if self.ctx is not None and not self.done:
            self.close()
            self.log(f"profile of epoch {epoch}:\n{self.prof.table()}")

    def close(self) -> None:
        """Ends the profile if it is still open (an epoch that raised): backends unpatched."""
        if self.ctx is not None and not self.done:
            self.ctx.__exit__(None, None, None)
            self.done = True


def _jsonable(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, tuple):
        return list(v)
    return v


def run_training(config: TrainConfig, log: Callable[[str], None] | None = None) -> dict:
    """Trains one model as configured, writes the run folder and returns the metrics.

    Writes to ``config.out`` (default ``runs/<timestamp>``): ``metrics.json``,
    ``history.csv``, ``checkpoint.npz`` (after every epoch; ``--resume`` continues from it),
    and unless ``plots=False`` ``loss.png``, ``accuracy.png``, ``lr.png``.

    Args:
        config: the options.
        log: where the summary lines go (default: print to stdout).

    Returns:
        The dictionary written to ``metrics.json``.

    Raises:
        ConfigError: a bad option, unreadable data or a checkpoint that does not fit.
    """
    import fusegrad
    from fusegrad.data import DataLoader, TensorDataset

    t_start = time.perf_counter()
    log = log or (lambda s: print(s, flush=True))
    validate(config)
    c = config
    data = load_data(c.dataset, c.data_dir, val=c.val, test=c.test if c.dataset == "digits"
                     else 0.0)
    out = _default_out() if c.out is None else c.out
    if out:
        try:
            os.makedirs(out, exist_ok=True)
        except OSError as e:
            raise ConfigError(f"--out {out}: cannot create the folder ({e.strerror})") from e

    with _thread_limit(c.threads):
        fusegrad.manual_seed(c.seed)
        sizes = (data.X_train.shape[1], *c.hidden, data.n_classes)
        model = mlp(sizes, batchnorm=c.batchnorm, dropout=c.dropout, init=c.init)
        optimizer = build_optimizer(c.optimizer, model.parameters(), c.lr, c.weight_decay,
                                    c.momentum)
        train_loader = DataLoader(TensorDataset(data.X_train, data.y_train),
                                  batch_size=c.batch_size, shuffle=True, seed=c.seed)
        scheduler = build_scheduler(c.schedule, optimizer, len(train_loader), c.epochs,
                                    default_warmup(c.warmup, c.epochs))
        trainer = Trainer(model, optimizer, scheduler=scheduler, device=c.device,
                          clip_grad_norm=c.clip_grad_norm)
        if c.resume:
            try:
                trainer.load(c.resume)
            except (CheckpointError, KeyError, ValueError, TypeError, RuntimeError) as e:
                raise ConfigError(f"--resume {c.resume}: the checkpoint does not fit this "
                                  f"model/optimizer/schedule ({e})") from e
            log(f"resumed from {c.resume} after epoch {trainer.epoch}")
        early = EarlyStopping(c.patience) if c.patience else None
        callbacks = []
        if c.profile:
            try:
                import fusegrad.profiler  # noqa: F401
            except ImportError:
                log("--profile: fusegrad.profiler is not available in this build; ignored")
            else:
                callbacks.append(_ProfileFirstEpoch(log))
        n_params = sum(int(np.prod(p.shape)) for p in model.parameters())
        if not c.quiet:
            log(f"{data.name}: {len(data.y_train)} train / {len(data.y_val)} val / "
                f"{len(data.y_test)} test; MLP {'-'.join(map(str, sizes))} ({n_params} "
                f"parameters); {c.optimizer} lr {optimizer.defaults['lr']:.3g}, "
                f"{c.schedule} schedule, batch {c.batch_size}, {c.epochs} epochs")
        t_train = time.perf_counter()
        batches = train_loader
        if c.device != "cpu":  # the training split moves to the GPU once, batches stay there
            from fusegrad.cuda import DeviceLoader

            batches = DeviceLoader(train_loader, c.device)
        try:
            history = trainer.fit(batches, (data.X_val, data.y_val), epochs=c.epochs,
                                  early_stopping=early, progress=not c.quiet,
                                  checkpoint_path=os.path.join(out, "checkpoint.npz") if out
                                  else None, callbacks=callbacks)
        finally:
            for cb in callbacks:
                if isinstance(cb, _ProfileFirstEpoch):
                    cb.close()
        train_time = time.perf_counter() - t_train
        test = trainer.evaluate((data.X_test, data.y_test))
        val = trainer.evaluate((data.X_val, data.y_val))
        threads = fusegrad.get_num_threads()

    metrics: dict[str, Any] = {
        "test_acc": test["acc"], "test_loss": test["loss"],
        "val_acc": val["acc"], "val_loss": val["loss"],
        "train_loss": history["train_loss"][-1] if len(history) else None,
        "train_acc": history["train_acc"][-1] if len(history) else None,
        "epochs_run": trainer.epoch, "steps": trainer.global_step,
        "stopped_early": bool(early is not None and early.stopped_epoch),
        "best_epoch": early.best_epoch if early is not None else None,
        "train_time_s": train_time,
        "n_train": len(data.y_train), "n_val": len(data.y_val), "n_test": len(data.y_test),
        "parameters": n_params, "model": list(sizes), "device": c.device, "threads": threads,
        "fusegrad_version": fusegrad.__version__,
        "config": {k: _jsonable(v) for k, v in dataclasses.asdict(c).items()},
    }
    if out:
        history.to_csv(os.path.join(out, "history.csv"))
        if c.plots:
            plot_history(history, out, title=f"{data.name} MLP {'-'.join(map(str, sizes))}")
    metrics["wall_time_s"] = time.perf_counter() - t_start
    metrics = {k: _jsonable(v) for k, v in metrics.items()}
    if out:
        with open(os.path.join(out, "metrics.json"), "w") as f:
            json.dump(metrics, f, indent=2)
            f.write("\n")
    n_right = int(round(test["acc"] * len(data.y_test)))
    log(f"test accuracy {test['acc']:.4f} ({n_right}/{len(data.y_test)}), test loss "
        f"{test['loss']:.4f}; wall time {metrics['wall_time_s']:.2f} s"
        + (f"; results in {out}" if out else ""))
    return metrics
