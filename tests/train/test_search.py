"""Hyper-parameter search: sampling, narrowing, coarse-to-fine on a known optimum."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fusegrad.train.search import (
    Choice,
    LogUniform,
    Uniform,
    coarse_to_fine,
    narrow,
    random_search,
    sample,
)


def test_sample_respects_bounds_and_log_scale() -> None:
    space = {"lr": LogUniform(1e-5, 1e-1), "p": Uniform(0.0, 0.5), "opt": Choice(("a", "b")),
             "fixed": 3}
    rng = np.random.default_rng(0)
    draws = [sample(space, rng) for _ in range(2000)]
    lrs = np.array([d["lr"] for d in draws])
    assert lrs.min() >= 1e-5 and lrs.max() <= 1e-1
    # log-uniform: each decade gets about a quarter of the draws; the median is 1e-3
    assert 10 ** np.median(np.log10(lrs)) == pytest.approx(1e-3, rel=0.25)
    assert 0.2 < np.mean(lrs < 1e-4) < 0.3
    assert all(0.0 <= d["p"] <= 0.5 for d in draws)
    assert {d["opt"] for d in draws} == {"a", "b"} and all(d["fixed"] == 3 for d in draws)


def test_narrow_shrinks_ranges_around_the_best() -> None:
    space = {"lr": LogUniform(1e-5, 1e-1), "p": Uniform(0.0, 1.0), "opt": Choice(("a", "b", "c"))}
    best = [{"lr": 1e-2, "p": 0.9, "opt": "b"}, {"lr": 3e-2, "p": 0.95, "opt": "c"}]
    new = narrow(space, best, shrink=0.5)
    width = math.log(new["lr"].high) - math.log(new["lr"].low)
    assert width == pytest.approx(0.5 * math.log(1e4))
    assert new["lr"].low <= 1e-2 and new["lr"].high >= 3e-2
    assert new["lr"].high <= 1e-1 * (1 + 1e-12)  # moved back inside the old range
    assert new["p"].high == pytest.approx(1.0) and new["p"].low == pytest.approx(0.5)
    assert new["opt"].options == ("b", "c")


def test_narrow_widens_to_keep_every_best_value() -> None:
    new = narrow({"x": Uniform(0.0, 10.0)}, [{"x": 1.0}, {"x": 9.0}], shrink=0.2)
    assert new["x"].low <= 1.0 and new["x"].high >= 9.0


def test_coarse_to_fine_finds_a_known_optimum() -> None:
    calls = []

    def objective(cfg):
        calls.append(cfg)
        return {"score": -((math.log10(cfg["lr"]) + 2.5) ** 2), "note": 1.0}

    res = coarse_to_fine(objective, {"lr": LogUniform(1e-6, 1.0)}, n_trials=10, rounds=3,
                         top_k=3, shrink=0.4, seed=1)
    assert len(res.trials) == len(calls) == 30 and len(res.spaces) == 3
    widths = [math.log(s["lr"].high / s["lr"].low) for s in res.spaces]
    assert widths[0] > widths[1] > widths[2]
    assert abs(math.log10(res.best.config["lr"]) + 2.5) < 0.3
    # later rounds sample closer to the optimum than the first
    err = [np.mean([abs(math.log10(t.config["lr"]) + 2.5) for t in res.trials if t.round == r])
           for r in (1, 3)]
    assert err[1] < err[0]
    assert res.best.extra == {"note": 1.0}
    assert [t.score for t in res.ranked()] == sorted((t.score for t in res.trials), reverse=True)


def test_search_is_reproducible_and_writes_csv(tmp_path) -> None:
    def objective(cfg):
        return -abs(math.log10(cfg["lr"]) + 3)

    space = {"lr": LogUniform(1e-5, 1e-1), "wd": LogUniform(1e-6, 1e-2)}
    a = random_search(objective, space, n_trials=5, seed=3)
    b = random_search(objective, space, n_trials=5, seed=3)
    assert [t.config for t in a.trials] == [t.config for t in b.trials]
    a.to_csv(tmp_path / "r.csv")
    lines = (tmp_path / "r.csv").read_text().splitlines()
    assert lines[0] == "round,trial,lr,wd,score,seconds" and len(lines) == 6
    assert "rank" in a.table().splitlines()[0]


@pytest.mark.parametrize("kwargs", [{"n_trials": 0}, {"rounds": 0}, {"top_k": 0}],
                         ids=["trials", "rounds", "top_k"])
def test_search_rejects_empty_budgets(kwargs) -> None:
    with pytest.raises(ValueError, match="positive"):
        coarse_to_fine(lambda c: 0.0, {"lr": LogUniform(1e-3, 1e-1)}, **kwargs)


def test_distributions_reject_bad_ranges() -> None:
    with pytest.raises(ValueError, match="LogUniform"):
        LogUniform(0.0, 1.0)
    with pytest.raises(ValueError, match="Uniform"):
        Uniform(1.0, 0.0)
    with pytest.raises(ValueError, match="Choice"):
        Choice(())
