"""Checkpoint files: nested state round-trips exactly, bad files give clear errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

import fusegrad as fg
from fusegrad.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint


def _same(a, b) -> None:
    assert type(a) is type(b), (a, b)
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            _same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y)
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b)
    else:
        assert a == b


def test_checkpoint_roundtrip_nested_state(tmp_path) -> None:
    rng = np.random.default_rng(0)
    state = {
        "arrays": [rng.standard_normal((3, 4)).astype(np.float32), np.arange(5),
                   rng.standard_normal(7), np.zeros((0, 2), np.float32)],
        "scalars": {"f32": np.float32(0.1), "i64": np.int64(-3), "py": 1.0 / 3, "int": 7,
                    "big": 2**100 + 1, "nan": math.nan, "inf": -math.inf, "none": None,
                    "flag": True, "text": "adam"},
        "betas": (0.9, 0.999),
        "by_int": {0: {"step": 3.0, "exp_avg": np.ones(2)}, 1: {}},
        "__dunder_key__": 1,
        "rng": np.random.default_rng(5).bit_generator.state,
    }
    save_checkpoint(tmp_path / "c.npz", state)
    _same(state, load_checkpoint(tmp_path / "c.npz"))


def test_checkpoint_tensor_comes_back_as_tensor(tmp_path) -> None:
    t = fg.tensor(np.arange(6, dtype=np.float64).reshape(2, 3))
    save_checkpoint(tmp_path / "t.npz", {"w": t})
    back = load_checkpoint(tmp_path / "t.npz")["w"]
    assert isinstance(back, fg.Tensor) and back.dtype == t.dtype
    np.testing.assert_array_equal(back.numpy(), t.numpy())


def test_checkpoint_copies_arrays_at_save_time(tmp_path) -> None:
    a = np.zeros(3)
    save_checkpoint(tmp_path / "c.npz", {"a": a})
    a += 1
    np.testing.assert_array_equal(load_checkpoint(tmp_path / "c.npz")["a"], np.zeros(3))


def test_checkpoint_unstorable_value_names_its_path(tmp_path) -> None:
    with pytest.raises(TypeError, match=r"state\.sched\.fn"):
        save_checkpoint(tmp_path / "c.npz", {"sched": {"fn": lambda s: s}})
    assert not (tmp_path / "c.npz").exists()


def test_checkpoint_missing_file(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.npz")


@pytest.mark.parametrize("content", [b"not a zip file", None], ids=["garbage", "plain-npz"])
def test_checkpoint_rejects_other_files(tmp_path, content) -> None:
    path = tmp_path / "bad.npz"
    if content is None:
        np.savez(path, x=np.zeros(2))
    else:
        path.write_bytes(content)
    with pytest.raises(CheckpointError, match="bad.npz"):
        load_checkpoint(path)
