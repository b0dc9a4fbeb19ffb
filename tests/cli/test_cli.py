"""The ``fusegrad`` command: train/search runs write their files, resume is exact, bad
options and bad data give one error line and exit status 2."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import fusegrad as fg
from fusegrad.cli.main import main
from fusegrad.train import Trainer, load_checkpoint
from fusegrad.train.job import OPTIMIZERS, SCHEDULES

RUN_FILES = ("metrics.json", "history.csv", "checkpoint.npz", "loss.png", "accuracy.png",
             "lr.png")


def _train(tmp_path, *extra: str, name: str = "run") -> dict:
    out = tmp_path / name
    assert main(["train", "--out", str(out), "--quiet", *extra]) == 0
    for f in RUN_FILES:
        assert (out / f).stat().st_size > 0, f
    return json.loads((out / "metrics.json").read_text())


def test_train_two_epochs_defaults(tmp_path, capsys) -> None:
    m = _train(tmp_path, "--epochs", "2")
    assert m["epochs_run"] == 2 and m["model"] == [64, 128, 128, 10]
    assert m["test_acc"] > 0.85  # about 0.95 after two epochs; 0.1 is chance
    assert m["n_train"] + m["n_val"] + m["n_test"] == 1797
    assert m["config"]["optimizer"] == "adam" and m["config"]["schedule"] == "cosine"
    stdout = capsys.readouterr().out
    assert "test accuracy" in stdout and "wall time" in stdout
    lines = (tmp_path / "run" / "history.csv").read_text().splitlines()
    assert lines[0].startswith("epoch,train_loss") and len(lines) == 3


def test_train_batchnorm_dropout_cosine(tmp_path) -> None:
    m = _train(tmp_path, "--epochs", "2", "--batchnorm", "--dropout", "0.2", "--schedule",
               "cosine", "--hidden", "64,64")
    assert m["test_acc"] > 0.85
    ckpt = load_checkpoint(tmp_path / "run" / "checkpoint.npz")
    assert any(k.endswith("running_mean") for k in ckpt["model"])


def test_train_progress_lines_go_to_stderr(capsys) -> None:
    assert main(["train", "--epochs", "2", "--hidden", "8", "--out", ""]) == 0
    err = capsys.readouterr().err
    assert "epoch 1/2" in err and "epoch 2/2" in err and "val loss" in err


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_train_every_optimizer(optimizer, capsys) -> None:
    assert main(["train", "--epochs", "2", "--hidden", "16", "--optimizer", optimizer,
                 "--out", "", "--quiet"]) == 0
    acc = float(capsys.readouterr().out.split("test accuracy ")[1].split()[0])
    assert acc > 0.5, optimizer


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_train_every_schedule(schedule, capsys) -> None:
    assert main(["train", "--epochs", "3", "--hidden", "16", "--schedule", schedule,
                 "--warmup", "0.5", "--optimizer", "momentum", "--out", "", "--quiet"]) == 0
    acc = float(capsys.readouterr().out.split("test accuracy ")[1].split()[0])
    assert acc > 0.5, schedule


def test_train_init_clip_patience(tmp_path) -> None:
    m = _train(tmp_path, "--epochs", "3", "--hidden", "16", "--init", "xavier",
               "--clip-grad-norm", "1.0", "--patience", "1", "--weight-decay", "1e-4")
    assert 1 <= m["epochs_run"] <= 3 and m["best_epoch"] is not None


def test_train_resume_after_interruption_is_exact(tmp_path, monkeypatch) -> None:
    """A run interrupted after epoch 2 and resumed ends bitwise where an uninterrupted run
    ends (model, optimizer, schedule, shuffling and dropout RNG all restored)."""
    args = ["--epochs", "4", "--hidden", "32", "--dropout", "0.1", "--batchnorm", "--quiet",
            "--no-plots"]
    assert main(["train", "--out", str(tmp_path / "full"), *args]) == 0

    real_epoch = Trainer.train_epoch

    def interrupted(self, loader, bar=None):
        if self.epoch == 2:
            raise KeyboardInterrupt
        return real_epoch(self, loader, bar)

    monkeypatch.setattr(Trainer, "train_epoch", interrupted)
    assert main(["train", "--out", str(tmp_path / "cut"), *args]) == 130
    monkeypatch.setattr(Trainer, "train_epoch", real_epoch)
    cut = tmp_path / "cut" / "checkpoint.npz"
    assert load_checkpoint(cut)["epoch"] == 2
    fg.manual_seed(999)
    assert main(["train", "--out", str(tmp_path / "cut"), "--resume", str(cut), *args]) == 0

    a, b = (load_checkpoint(tmp_path / d / "checkpoint.npz") for d in ("full", "cut"))
    assert a["epoch"] == b["epoch"] == 4
    for k in a["model"]:
        np.testing.assert_array_equal(a["model"][k], b["model"][k], err_msg=k)
    ma, mb = (json.loads((tmp_path / d / "metrics.json").read_text()) for d in ("full", "cut"))
    assert ma["test_acc"] == mb["test_acc"] and ma["test_loss"] == mb["test_loss"]
    assert not (tmp_path / "full" / "loss.png").exists()  # --no-plots


def test_search_tiny_budget(tmp_path, capsys) -> None:
    out = tmp_path / "search"
    assert main(["search", "--trials", "2", "--rounds", "2", "--epochs", "1", "--hidden", "16",
                 "--out", str(out), "--quiet"]) == 0
    best = json.loads((out / "best_config.json").read_text())
    assert set(best["best"]) == {"lr", "weight_decay"}
    assert 1e-4 <= best["best"]["lr"] <= 1e-1 and 0 <= best["test_acc"] <= 1
    assert len(best["search"]["ranges"]) == 2
    rows = (out / "results.csv").read_text().splitlines()
    assert rows[0].startswith("round,trial,lr,weight_decay") and len(rows) == 5
    assert (out / "search.png").stat().st_size > 0
    assert "best: lr=" in capsys.readouterr().out


def _write_idx(path, array: np.ndarray) -> None:
    """An IDX file (unsigned bytes): magic 0x08 0x<ndim>, big-endian int32 dims, data."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(n).to_bytes(4, "big") for n in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_train_mnist_from_idx_files(tmp_path) -> None:
    """--dataset mnist reads the four IDX files; tiny synthetic ones stand in for MNIST
    (each class is a bright patch at its own place, so a model can learn it)."""
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 400), ("t10k", 100)):
        labels = rng.integers(0, 10, n)
        images = rng.integers(0, 40, (n, 28, 28))
        for i, c in enumerate(labels):
            images[i, 2 * c : 2 * c + 6, 4:24] = 250
        _write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", images)
        _write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", labels)
    m = _train(tmp_path, "--dataset", "mnist", "--data-dir", str(tmp_path), "--epochs", "3",
               "--hidden", "32")
    assert m["model"] == [784, 32, 10] and m["n_test"] == 100
    assert m["n_train"] + m["n_val"] == 400
    assert m["test_acc"] > 0.8


def _write_corrupt_mnist(d) -> None:
    for stem in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):
        with gzip.open(d / f"{stem}.gz", "wb") as f:
            f.write(b"\x00\x00\x08\x03garbage")


@pytest.mark.parametrize("argv, message", [
    (["train", "--optimizer", "lbfgs"], "invalid choice: 'lbfgs'"),
    (["train", "--schedule", "warmup"], "invalid choice"),
    (["train", "--lr", "-0.1"], "--lr must be a positive number"),
    (["train", "--lr", "abc"], "invalid float value"),
    (["train", "--dropout", "1.0"], "--dropout must be in [0, 1)"),
    (["train", "--epochs", "0"], "--epochs must be a positive integer"),
    (["train", "--batch-size", "0"], "--batch-size"),
    (["train", "--warmup", "5", "--epochs", "3"], "--warmup"),
    (["train", "--hidden", "12,x"], "comma-separated integers"),
    (["train", "--hidden", "12,0"], "--hidden sizes must be positive"),
    (["train", "--momentum", "1.5"], "--momentum"),
    (["train", "--dataset", "mnist"], "needs --data-dir"),
    (["train", "--dataset", "mnist", "--data-dir", "/nonexistent/mnist"], "no such directory"),
    (["train", "--dataset", "cifar"], "invalid choice"),
    (["train", "--resume", "/nonexistent/ckpt.npz"], "no such checkpoint"),
    (["train", "--threads", "0"], "--threads"),
    (["train", "--bogus-flag"], "unrecognized arguments"),
    (["search", "--lr-range", "1e-1,1e-4"], "--lr-range"),
    (["search", "--trials", "0"], "--trials"),
    (["frobnicate"], "invalid choice"),
], ids=lambda v: "-".join(v) if isinstance(v, list) else None)
def test_bad_options_give_one_error_line(argv, message, capsys) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith(("fusegrad: error:", f"fusegrad {argv[0]}: error:"))
    assert message in lines[0]
    assert "Traceback" not in captured.err


def test_corrupt_mnist_gives_one_error_line(tmp_path, capsys) -> None:
    _write_corrupt_mnist(tmp_path)
    assert main(["train", "--dataset", "mnist", "--data-dir", str(tmp_path), "--out", ""]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot read MNIST" in err[0] and "train-images" in err[0]


def test_resume_from_a_non_checkpoint_gives_one_error_line(tmp_path, capsys) -> None:
    bad = tmp_path / "notes.npz"
    bad.write_bytes(b"hello")
    assert main(["train", "--resume", str(bad), "--out", ""]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--resume" in err[0]


def test_resume_into_a_different_model_gives_one_error_line(tmp_path, capsys) -> None:
    assert main(["train", "--epochs", "1", "--hidden", "8", "--no-plots", "--quiet", "--out",
                 str(tmp_path / "run")]) == 0
    capsys.readouterr()
    ckpt = str(tmp_path / "run" / "checkpoint.npz")
    assert main(["train", "--resume", ckpt, "--hidden", "9", "--out", ""]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "does not fit" in err[0]


@pytest.mark.skipif(fg.cuda.is_available(), reason="checks the error without a GPU")
def test_cuda_without_gpu_gives_one_error_line(capsys) -> None:
    assert main(["train", "--device", "cuda"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("fusegrad train: error: --device cuda")


def test_help_version_and_no_command(capsys) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("fusegrad ")
    assert main(["train", "--help"]) == 0
    assert "--batchnorm" in capsys.readouterr().out
    assert main([]) == 2


def test_python_dash_m_entry(tmp_path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    r = subprocess.run([sys.executable, "-m", "fusegrad.cli", "train", "--lr", "0"],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "--lr" in r.stderr


@pytest.mark.skipif(shutil.which("fusegrad") is None, reason="the fusegrad script is not "
                    "installed on PATH (pip install .)")
def test_console_script_smoke(tmp_path) -> None:
    r = subprocess.run(["fusegrad", "train", "--epochs", "1", "--hidden", "8", "--quiet",
                        "--out", str(tmp_path / "run")], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "run" / "metrics.json").exists()


def test_train_profile_prints_the_kernel_table(capsys) -> None:
    pytest.importorskip("fusegrad.profiler")
    assert main(["train", "--epochs", "1", "--hidden", "8", "--out", "", "--quiet",
                 "--profile"]) == 0
    out = capsys.readouterr().out
    assert "profile of epoch 1" in out and "adam_step" in out


def test_bench_delegates_to_the_harness(capsys) -> None:
    pytest.importorskip("fusegrad.benchmarks")
    assert main(["bench", "--list"]) == 0
    assert "bench_train" in capsys.readouterr().out
    assert main(["bench", "--suite", "nope"]) == 2


def test_landscape_delegates_to_the_analysis(capsys) -> None:
    pytest.importorskip("fusegrad.analysis.landscape")
    assert main(["landscape", "--help"]) == 0
    assert "--steps" in capsys.readouterr().out
    assert main(["landscape", "--steps", "many"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
