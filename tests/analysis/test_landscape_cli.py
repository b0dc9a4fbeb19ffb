"""``fusegrad landscape`` (analysis/landscape.py): run() with tiny settings writes its files."""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np
import pytest

from fusegrad.analysis import landscape


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    landscape.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_landscape_defaults() -> None:
    args = _args()
    assert args.out is None and args.steps > 0 and not args.no_mlp and args.mlp_hidden == 8


@pytest.mark.slow  # ~4 s of CPU: 18 short trajectories, a 160-parameter Hessian, 4 figures
def test_landscape_run_writes_files(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "land"
    steps = 25
    rc = landscape.run(_args("--out", str(out), "--steps", str(steps), "--mlp-epochs", "1",
                             "--mlp-hidden", "2", "--mlp-samples", "60"))
    assert rc == 0
    for name in ["worked_example.json", "worked_example.txt", "worked_example.png",
                 "trajectories.png", "steps_to_tolerance.csv", "mlp_spectrum.png",
                 "mlp_spectrum.json"]:
        assert (out / name).stat().st_size > 0, name
    for png in out.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    worked = json.loads((out / "worked_example.json").read_text())
    origin = worked["points"][0]
    assert origin["w"] == [0.0, 0.0] and origin["kind"] == "saddle"
    np.testing.assert_allclose(origin["hessian"], [[0, -2], [-2, 0]], atol=1e-6)
    np.testing.assert_allclose(np.abs(origin["escape_direction"]), [2**-0.5] * 2, atol=1e-6)
    assert origin["escape_step_0.1"]["loss_after"] < origin["escape_step_0.1"]["loss_before"]
    assert {p["kind"] for p in worked["points"][1:4]} == {"degenerate"}

    with (out / "steps_to_tolerance.csv").open() as f:
        rows = list(csv.DictReader(f))
    n_opt, n_sched = len(landscape._optimizers()), len(landscape._schedules(steps))
    assert len(rows) == n_opt * n_sched
    assert {r["optimizer"] for r in rows} == {"SGD", "Momentum", "Nesterov", "AdaGrad",
                                               "RMSprop", "Adam"}
    for r in rows:
        s = r["steps_to_loss<=0.0001"]
        assert s == "" or 0 <= int(s) <= steps

    spec = json.loads((out / "mlp_spectrum.json").read_text())
    assert spec["n_params"] == 64 * 2 + 2 + 2 * 10 + 10 == len(spec["eigenvalues"])
    assert spec["min_ratio"] == spec["n_positive"] / spec["n_params"]
    assert spec["n_negative"] + spec["n_zero"] + spec["n_positive"] == spec["n_params"]
    assert np.all(np.diff(spec["eigenvalues"]) >= 0)

    printed = capsys.readouterr().out
    assert "saddle" in printed and "Adam" in printed and "min ratio" in printed


def test_landscape_no_mlp(tmp_path: Path) -> None:
    landscape.run(_args("--out", str(tmp_path), "--steps", "5", "--no-mlp"))
    assert (tmp_path / "trajectories.png").exists()
    assert not (tmp_path / "mlp_spectrum.json").exists()
