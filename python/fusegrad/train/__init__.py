"""Training: the ``Trainer`` loop and ``fit``, checkpoints, cross-validation, hyper-parameter
search, model builders and plots (what ``fusegrad train`` / ``fusegrad search`` run)."""

from fusegrad.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from fusegrad.train.crossval import CVResult, cross_validate
from fusegrad.train.job import ConfigError, TrainConfig, run_training
from fusegrad.train.models import mlp
from fusegrad.train.plots import plot_history
from fusegrad.train.search import (
    Choice,
    LogUniform,
    SearchConfig,
    SearchResult,
    Uniform,
    coarse_to_fine,
    random_search,
    run_search,
)
from fusegrad.train.trainer import EarlyStopping, History, Trainer, fit

__all__ = [
    "CVResult",
    "CheckpointError",
    "Choice",
    "ConfigError",
    "EarlyStopping",
    "History",
    "LogUniform",
    "SearchConfig",
    "SearchResult",
    "TrainConfig",
    "Trainer",
    "Uniform",
    "coarse_to_fine",
    "cross_validate",
    "fit",
    "load_checkpoint",
    "mlp",
    "plot_history",
    "random_search",
    "run_search",
    "run_training",
    "save_checkpoint",
]
