"""Hyper-parameter search: random search with log-uniform sampling, then coarse-to-fine rounds
that narrow every range around the best trials and sample again (``fusegrad search``).

The search itself (``coarse_to_fine``) knows nothing about training: it calls
``objective(config) -> score`` and maximises the score. ``run_search`` plugs in the MLP
training of ``fusegrad.train.job``.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = [
    "Choice", "LogUniform", "SearchConfig", "SearchResult", "Trial", "Uniform",
    "coarse_to_fine", "narrow", "random_search", "run_search", "sample",
]


@dataclasses.dataclass(frozen=True)
class LogUniform:
    """A number whose logarithm is uniform on [log low, log high] (for lr, weight decay)."""

    low: float
    high: float

    def __post_init__(self) -> None:
        if not 0 < self.low <= self.high:
            raise ValueError(f"LogUniform needs 0 < low <= high, got {self.low}, {self.high}")

    def draw(self, rng: np.random.Generator) -> float:
        return float(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))

    def _to(self, v: float) -> float:
        return math.log(v)

    def _from(self, lo: float, hi: float) -> LogUniform:
        return LogUniform(math.exp(lo), math.exp(hi))

    def _bounds(self) -> tuple[float, float]:
        return math.log(self.low), math.log(self.high)


@dataclasses.dataclass(frozen=True)
class Uniform:
    """A number uniform on [low, high] (for dropout, momentum)."""

    low: float
    high: float

    def __post_init__(self) -> None:
        if not self.low <= self.high:
            raise ValueError(f"Uniform needs low <= high, got {self.low}, {self.high}")

    def draw(self, rng: np.random.Generator) -> float:
        return float(rng.uniform(self.low, self.high))

    def _to(self, v: float) -> float:
        return float(v)

    def _from(self, lo: float, hi: float) -> Uniform:
        return Uniform(lo, hi)

    def _bounds(self) -> tuple[float, float]:
        return self.low, self.high


@dataclasses.dataclass(frozen=True)
class Choice:
    """One of a fixed list of values (for the optimizer, the schedule, batch norm on/off)."""

    options: tuple

    def __post_init__(self) -> None:
        if not self.options:
            raise ValueError("Choice needs at least one option")

    def draw(self, rng: np.random.Generator) -> Any:
        return self.options[int(rng.integers(len(self.options)))]


Space = dict[str, Any]  # name -> LogUniform | Uniform | Choice | a fixed value


def sample(space: Space, rng: np.random.Generator) -> dict[str, Any]:
    """One configuration: every distribution in ``space`` drawn once, fixed values as given."""
    return {k: (v.draw(rng) if hasattr(v, "draw") else v) for k, v in space.items()}


def narrow(space: Space, best: Sequence[dict[str, Any]], shrink: float = 0.5) -> Space:
    """The next round's space, focused on the configurations ``best`` (best first).

    A numeric range (in log space for ``LogUniform``) becomes ``shrink`` times as wide,
    centred on the mean of the ``best`` values, moved back inside the old range where it
    would stick out, and widened if needed so every ``best`` value stays inside. A
    ``Choice`` keeps only the options that appear in ``best``.
    """
    if not best:
        return dict(space)
    if not 0 < shrink <= 1:
        raise ValueError(f"shrink must be in (0, 1], got {shrink}")
    out: Space = {}
    for k, dist in space.items():
        if isinstance(dist, (LogUniform, Uniform)):
            lo, hi = dist._bounds()
            vals = [dist._to(c[k]) for c in best]
            width = (hi - lo) * shrink
            centre = float(np.mean(vals))
            new_lo = min(max(lo, centre - width / 2), hi - width)
            new_lo, new_hi = min(new_lo, *vals), max(new_lo + width, *vals)
            out[k] = dist._from(new_lo, new_hi)
        elif isinstance(dist, Choice):
            kept = tuple(o for o in dist.options if any(c[k] == o for c in best))
            out[k] = Choice(kept or dist.options)
        else:
            out[k] = dist
    return out


@dataclasses.dataclass
class Trial:
    """One evaluated configuration."""

    round: int
    index: int
    config: dict[str, Any]
    score: float
    seconds: float
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class SearchResult:
    """All trials of a search, the best one and the space each round sampled from."""

    trials: list[Trial]
    spaces: list[Space]
    key: Callable[[Trial], Any] = dataclasses.field(default=lambda t: t.score, repr=False)

    @property
    def best(self) -> Trial:
        return max(self.trials, key=self.key)

    def ranked(self) -> list[Trial]:
        """Trials best first (stable: earlier trials win ties)."""
        return sorted(self.trials, key=self.key, reverse=True)

    def columns(self) -> list[str]:
        names: list[str] = []
        for t in self.trials:
            names += [k for k in [*t.config, *t.extra] if k not in names]
        return names

    def to_csv(self, path: str | os.PathLike[str]) -> None:
        """One row per trial: ``round, trial, <params and extras>, score, seconds``."""
        names = self.columns()
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["round", "trial", *names, "score", "seconds"])
            for t in self.trials:
                merged = {**t.config, **t.extra}
                w.writerow([t.round, t.index, *(merged.get(k, "") for k in names), t.score,
                            f"{t.seconds:.3f}"])

    def table(self, top: int | None = None) -> str:
        """A plain-text table of the trials, best first."""
        names = self.columns()
        rows = [["rank", "round", *names, "score"]]
        for r, t in enumerate(self.ranked()[:top], 1):
            merged = {**t.config, **t.extra}
            rows.append([str(r), str(t.round), *(_cell(merged.get(k, "")) for k in names),
                         _cell(t.score)])
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        return "\n".join("  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in rows)


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def coarse_to_fine(objective: Callable[[dict[str, Any]], Any], space: Space,
                   n_trials: int = 8, rounds: int = 2, top_k: int = 3, shrink: float = 0.5,
                   seed: int | None = 0, key: Callable[[Trial], Any] | None = None,
                   log: Callable[[str], None] | None = None) -> SearchResult:
    """Random search in ``rounds`` rounds of ``n_trials``, each round narrowed around the
    ``top_k`` best trials so far (see ``narrow``); the score is maximised.

    Args:
        objective: ``objective(config)`` returns the score (higher is better) or a dict with
            ``"score"`` and any extra numbers to record (e.g. ``val_loss``).
        space: parameter name -> ``LogUniform`` / ``Uniform`` / ``Choice`` / fixed value.
        n_trials: trials per round.
        rounds: 1 gives plain random search.
        top_k: how many of the best trials define the next round's ranges.
        shrink: width factor of numeric ranges per round.
        seed: seed of the sampler (the objective seeds its own training).
        key: ranking key of a ``Trial`` (default: its score), e.g. to break ties.
        log: called with one line per trial.

    Returns:
        A ``SearchResult`` with every trial and the space of each round.
    """
    if n_trials < 1 or rounds < 1 or top_k < 1:
        raise ValueError(f"n_trials, rounds and top_k must be positive, got {n_trials}, "
                         f"{rounds}, {top_k}")
    rng = np.random.default_rng(seed)
    result = SearchResult([], [], key or (lambda t: t.score))
    current = dict(space)
    for r in range(1, rounds + 1):
        if r > 1:
            current = narrow(current, [t.config for t in result.ranked()[:top_k]], shrink)
        result.spaces.append(current)
        for i in range(1, n_trials + 1):
            config = sample(current, rng)
            t0 = time.perf_counter()
            value = objective(dict(config))
            seconds = time.perf_counter() - t0
            extra = {}
            if isinstance(value, dict):
                extra = {k: v for k, v in value.items() if k != "score"}
                value = value["score"]
            trial = Trial(r, i, config, float(value), seconds, extra)
            result.trials.append(trial)
            if log is not None:
                params = ", ".join(f"{k}={_cell(v)}" for k, v in config.items()
                                   if hasattr(space.get(k), "draw"))
                log(f"round {r}/{rounds} trial {i}/{n_trials}: {params} -> score "
                    f"{trial.score:.4f} ({seconds:.1f} s)")
    return result


def random_search(objective: Callable[[dict[str, Any]], Any], space: Space, n_trials: int = 16,
                  seed: int | None = 0, key: Callable[[Trial], Any] | None = None,
                  log: Callable[[str], None] | None = None) -> SearchResult:
    """Plain random search: ``coarse_to_fine`` with one round."""
    return coarse_to_fine(objective, space, n_trials=n_trials, rounds=1, seed=seed, key=key,
                          log=log)


# ---- the search command ------------------------------------------------------------------
@dataclasses.dataclass
class SearchConfig:
    """Options of ``fusegrad search``: lr and weight decay are searched (log-uniform) for a
    fixed model, optimizer and schedule; each trial trains ``epochs`` epochs and is scored by
    its validation accuracy (ties: lower validation loss). The best configuration is then
    retrained and evaluated once on the test split."""

    dataset: str = "digits"
    data_dir: str | None = None
    hidden: tuple[int, ...] = (128, 128)
    optimizer: str = "adam"
    schedule: str = "cosine"
    warmup: float | None = None
    batch_size: int = 32
    epochs: int = 10
    lr_range: tuple[float, float] = (1e-4, 1e-1)
    weight_decay_range: tuple[float, float] | None = (1e-6, 1e-2)
    trials: int = 8
    rounds: int = 2
    top_k: int = 3
    shrink: float = 0.5
    batchnorm: bool = False
    dropout: float = 0.0
    device: str = "cpu"
    seed: int = 0
    out: str | None = None
    quiet: bool = False
    threads: int | None = None


def _validate_search(c: SearchConfig) -> None:
    from fusegrad.train.job import ConfigError, TrainConfig, validate

    for name, rng in (("--lr-range", c.lr_range), ("--weight-decay-range",
                                                   c.weight_decay_range)):
        if rng is not None and not (len(rng) == 2 and 0 < rng[0] <= rng[1]
                                    and math.isfinite(rng[1])):
            raise ConfigError(f"{name} must be two numbers 0 < LOW <= HIGH, got {rng}")
    for name, v in (("--trials", c.trials), ("--rounds", c.rounds), ("--top-k", c.top_k)):
        if v < 1:
            raise ConfigError(f"{name} must be a positive integer, got {v}")
    if not 0 < c.shrink <= 1:
        raise ConfigError(f"--shrink must be in (0, 1], got {c.shrink}")
    validate(TrainConfig(dataset=c.dataset, data_dir=c.data_dir, hidden=c.hidden,
                         optimizer=c.optimizer, schedule=c.schedule, warmup=c.warmup,
                         batch_size=c.batch_size, epochs=c.epochs, batchnorm=c.batchnorm,
                         dropout=c.dropout, device=c.device, seed=c.seed, threads=c.threads))


def _plot_search(result: SearchResult, path: str) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.2), dpi=100, layout="tight")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for r in sorted({t.round for t in result.trials}):
        ts = [t for t in result.trials if t.round == r]
        ax.scatter([t.config["lr"] for t in ts], [t.score for t in ts], label=f"round {r}",
                   s=20)
    best = result.best
    ax.scatter([best.config["lr"]], [best.score], marker="*", s=160, color="k", label="best")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("validation accuracy")
    ax.set_title("hyper-parameter search")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.savefig(path)


def run_search(config: SearchConfig, log: Callable[[str], None] | None = None) -> dict:
    """Runs the search as configured and writes ``results.csv``, ``best_config.json`` and
    ``search.png`` to ``config.out`` (default ``runs/search-<timestamp>``).

    Returns:
        The dictionary written to ``best_config.json``.

    Raises:
        ConfigError: a bad option or unreadable data.
    """
    from fusegrad.train.job import ConfigError, TrainConfig, _thread_limit, load_data

    log = log or (lambda s: print(s, flush=True))
    _validate_search(config)
    c = config
    t_start = time.perf_counter()
    data = load_data(c.dataset, c.data_dir)
    if c.out is None:
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        out = os.path.join("runs", f"search-{stamp}")
    else:
        out = c.out
    if out:
        try:
            os.makedirs(out, exist_ok=True)
        except OSError as e:
            raise ConfigError(f"--out {out}: cannot create the folder ({e.strerror})") from e
    space: Space = {"lr": LogUniform(*c.lr_range)}
    if c.weight_decay_range is not None:
        space["weight_decay"] = LogUniform(*c.weight_decay_range)

    def base(params: dict[str, Any]) -> TrainConfig:
        return TrainConfig(dataset=c.dataset, data_dir=c.data_dir, hidden=c.hidden,
                           optimizer=c.optimizer, schedule=c.schedule, warmup=c.warmup,
                           batch_size=c.batch_size, epochs=c.epochs, batchnorm=c.batchnorm,
                           dropout=c.dropout, device=c.device, seed=c.seed, quiet=True,
                           lr=params["lr"], weight_decay=params.get("weight_decay"))

    def objective(params: dict[str, Any]) -> dict[str, float]:
        res = _train_eval(base(params), data, evaluate_test=False)
        return {"score": res["val_acc"], "val_loss": res["val_loss"]}

    with _thread_limit(c.threads):
        result = coarse_to_fine(objective, space, n_trials=c.trials, rounds=c.rounds,
                                top_k=c.top_k, shrink=c.shrink, seed=c.seed,
                                key=lambda t: (t.score, -t.extra.get("val_loss", 0.0)),
                                log=None if c.quiet else log)
        best = result.best
        final = _train_eval(base(best.config), data, evaluate_test=True)
    summary = {
        "best": {**best.config},
        "val_acc": best.score, "val_loss": best.extra.get("val_loss"),
        "test_acc": final["test_acc"], "test_loss": final["test_loss"],
        "round": best.round, "trial": best.index,
        "train_config": {k: (list(v) if isinstance(v, tuple) else v)
                         for k, v in dataclasses.asdict(base(best.config)).items()},
        "search": {"trials": c.trials, "rounds": c.rounds, "top_k": c.top_k,
                   "shrink": c.shrink, "seed": c.seed,
                   "ranges": [{k: [v.low, v.high] for k, v in s.items()}
                              for s in result.spaces]},
        "wall_time_s": time.perf_counter() - t_start,
    }
    if out:
        result.to_csv(os.path.join(out, "results.csv"))
        with open(os.path.join(out, "best_config.json"), "w") as f:
            json.dump(summary, f, indent=2)
            f.write("\n")
        _plot_search(result, os.path.join(out, "search.png"))
    if not c.quiet:
        log(result.table(top=10))
    params = ", ".join(f"{k}={v:.3g}" for k, v in best.config.items())
    log(f"best: {params}: val acc {best.score:.4f}, test acc {final['test_acc']:.4f}; "
        f"wall time {summary['wall_time_s']:.1f} s" + (f"; results in {out}" if out else ""))
    return summary


def _train_eval(config: Any, data: Any, evaluate_test: bool) -> dict[str, float]:
    """Trains one model of ``config`` on ``data`` (no files) and evaluates it."""
    import fusegrad
    from fusegrad.data import DataLoader, TensorDataset
    from fusegrad.train.job import build_optimizer, build_scheduler, default_warmup
    from fusegrad.train.models import mlp
    from fusegrad.train.trainer import Trainer

    fusegrad.manual_seed(config.seed)
    sizes = (data.X_train.shape[1], *config.hidden, data.n_classes)
    model = mlp(sizes, batchnorm=config.batchnorm, dropout=config.dropout, init=config.init)
    opt = build_optimizer(config.optimizer, model.parameters(), config.lr, config.weight_decay,
                          config.momentum)
    loader = DataLoader(TensorDataset(data.X_train, data.y_train), batch_size=config.batch_size,
                        shuffle=True, seed=config.seed)
    sched = build_scheduler(config.schedule, opt, len(loader), config.epochs,
                            default_warmup(config.warmup, config.epochs))
    trainer = Trainer(model, opt, scheduler=sched, device=config.device)
    trainer.fit(loader, epochs=config.epochs, progress=False)
    val = trainer.evaluate((data.X_val, data.y_val))
    res = {"val_acc": val["acc"], "val_loss": val["loss"]}
    if evaluate_test:
        test = trainer.evaluate((data.X_test, data.y_test))
        res.update(test_acc=test["acc"], test_loss=test["loss"])
    return res
