"""k-fold cross-validation of a model-building recipe: mean ± std of a held-out metric."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from fusegrad.train.trainer import History, Trainer

__all__ = ["CVResult", "cross_validate"]


@dataclasses.dataclass
class CVResult:
    """Per-fold scores of ``cross_validate`` and their summary."""

    scores: list[float]
    metric: str
    histories: list[History]

    @property
    def mean(self) -> float:
        return float(np.mean(self.scores))

    @property
    def std(self) -> float:
        """Population standard deviation of the fold scores (ddof 0, like NumPy's default)."""
        return float(np.std(self.scores))

    def __str__(self) -> str:
        return (f"{self.metric} {self.mean:.4f} ± {self.std:.4f} over {len(self.scores)} folds "
                f"({', '.join(f'{s:.4f}' for s in self.scores)})")


def cross_validate(build_model: Callable[[], Any], build_optimizer: Callable[[Any], Any],
                   X: np.ndarray, y: np.ndarray, k: int = 5, epochs: int = 10,
                   batch_size: int = 32, *, loss_fn: Any = None,
                   build_scheduler: Callable[[Any, int, int], Any] | None = None,
                   scaler: Any = "standard", stratified: bool = True, seed: int = 0,
                   metric: str = "acc", device: str = "cpu",
                   log: Callable[[str], None] | None = None) -> CVResult:
    """Trains a fresh model on each of ``k`` folds and scores it on the held-out fold.

    Every fold starts from ``fusegrad.manual_seed(seed)``, so folds differ only in their data.

    Args:
        build_model: ``() -> nn.Module``, called once per fold.
        build_optimizer: ``(parameters) -> optimizer``.
        X, y: inputs (float) and labels (int64 classes, or targets with a matching loss_fn).
        k: number of folds (at least 2).
        epochs, batch_size: training length and mini-batch size per fold.
        loss_fn: default ``nn.CrossEntropyLoss()``.
        build_scheduler: optional ``(optimizer, steps_per_epoch, epochs) -> scheduler``
            (stepped per batch).
        scaler: ``"standard"`` (a ``StandardScaler``), None, or a scaler instance; it is
            fitted on each fold's training part only (a copy per fold).
        stratified: ``StratifiedKFold`` (class proportions kept) instead of ``KFold``.
        seed: shuffles the folds and seeds each fold's model and loader.
        metric: ``"acc"`` or ``"loss"`` on the held-out fold.
        device: where training runs.
        log: called with one line per fold.

    Returns:
        A ``CVResult``: ``.scores`` per fold, ``.mean``, ``.std``, ``.histories``.
    """
    import fusegrad
    from fusegrad.data import DataLoader, KFold, StandardScaler, StratifiedKFold, TensorDataset

    if metric not in ("acc", "loss"):
        raise ValueError(f"metric must be 'acc' or 'loss', got {metric!r}")
    X, y = np.asarray(X), np.asarray(y)
    if stratified:
        folds = StratifiedKFold(k, shuffle=True, seed=seed).split(X, y)
    else:
        folds = KFold(k, shuffle=True, seed=seed).split(X)
    if isinstance(scaler, str):
        if scaler != "standard":
            raise ValueError(f"scaler must be 'standard', None or a scaler, got {scaler!r}")
        scaler = StandardScaler()
    scores, histories = [], []
    for fold, (train_idx, test_idx) in enumerate(folds, 1):
        X_tr, X_te = X[train_idx], X[test_idx]
        if scaler is not None:
            s = copy.deepcopy(scaler).fit(X_tr)
            X_tr, X_te = s.transform(X_tr), s.transform(X_te)
        X_tr = np.ascontiguousarray(X_tr, dtype=np.float32)
        X_te = np.ascontiguousarray(X_te, dtype=np.float32)
        fusegrad.manual_seed(seed)
        model = build_model()
        opt = build_optimizer(model.parameters())
        loader = DataLoader(TensorDataset(X_tr, y[train_idx]), batch_size=batch_size,
                            shuffle=True, seed=seed)
        sched = build_scheduler(opt, len(loader), epochs) if build_scheduler else None
        trainer = Trainer(model, opt, loss_fn, scheduler=sched, device=device)
        histories.append(trainer.fit(loader, epochs=epochs, progress=False))
        score = trainer.evaluate((X_te, y[test_idx]))[metric]
        scores.append(score)
        if log is not None:
            log(f"fold {fold}/{k}: {metric} {score:.4f} ({len(test_idx)} held out)")
    return CVResult(scores, metric, histories)
