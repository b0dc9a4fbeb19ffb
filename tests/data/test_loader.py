"""Dataset, TensorDataset and DataLoader: coverage per epoch, reshuffling, drop_last, resume."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fusegrad.data import DataLoader, Dataset, TensorDataset


def _dataset(n: int) -> TensorDataset:
    X = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
    return TensorDataset(X, np.arange(n, dtype=np.int64))


class _Squares(Dataset):
    """A generic (non-Tensor) dataset: sample i is (i * [1, 1], i**2)."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int):
        return np.full(2, i, dtype=np.float64), i * i


def _epoch_ids(loader: DataLoader) -> list[np.ndarray]:
    return [y for _, y in loader]


@given(
    n=st.integers(0, 60),
    batch_size=st.integers(1, 20),
    shuffle=st.booleans(),
    drop_last=st.booleans(),
)
def test_loader_covers_every_sample_once_per_epoch(n, batch_size, shuffle, drop_last):
    loader = DataLoader(
        _dataset(n), batch_size=batch_size, shuffle=shuffle, drop_last=drop_last, seed=3
    )
    for _ in range(2):
        batches = _epoch_ids(loader)
        assert len(batches) == len(loader)
        sizes = [b.shape[0] for b in batches]
        assert all(s == batch_size for s in sizes[:-1])
        seen = np.concatenate(batches) if batches else np.empty(0, dtype=np.int64)
        assert len(set(seen.tolist())) == seen.shape[0]  # no sample twice
        if drop_last:
            assert seen.shape[0] == n - n % batch_size
            assert all(s == batch_size for s in sizes)
        else:
            assert np.array_equal(np.sort(seen), np.arange(n))
        if not shuffle:
            assert np.array_equal(seen, np.arange(seen.shape[0]))


def test_loader_batches_are_tuples_in_field_order():
    X = np.arange(20, dtype=np.float32).reshape(10, 2)
    y = np.arange(10) * 7
    batches = list(DataLoader(TensorDataset(X, y), batch_size=4, shuffle=True, seed=0))
    for xb, yb in batches:
        assert isinstance(xb, np.ndarray) and xb.dtype == np.float32 and xb.shape[1:] == (2,)
        assert np.array_equal(X[yb // 7], xb)  # rows stay aligned across fields


def test_loader_reshuffles_every_epoch():
    loader = DataLoader(_dataset(50), batch_size=50, shuffle=True, seed=1)
    orders = [np.concatenate(_epoch_ids(loader)) for _ in range(3)]
    assert not np.array_equal(orders[0], orders[1])
    assert not np.array_equal(orders[1], orders[2])


def test_loader_same_seed_same_orders():
    a = DataLoader(_dataset(30), batch_size=7, shuffle=True, seed=5)
    b = DataLoader(_dataset(30), batch_size=7, shuffle=True, seed=5)
    for _ in range(3):
        for ya, yb in zip(_epoch_ids(a), _epoch_ids(b), strict=True):
            assert np.array_equal(ya, yb)


def test_loader_state_dict_resumes_the_epoch_order():
    first = DataLoader(_dataset(30), batch_size=8, shuffle=True)  # seed from fresh entropy
    _epoch_ids(first)
    state = first.state_dict()
    expected = _epoch_ids(first)
    resumed = DataLoader(_dataset(30), batch_size=8, shuffle=True)
    resumed.load_state_dict(state)
    for ya, yb in zip(_epoch_ids(resumed), expected, strict=True):
        assert np.array_equal(ya, yb)


def test_loader_set_epoch_replays_that_epoch():
    loader = DataLoader(_dataset(25), batch_size=25, shuffle=True, seed=9)
    orders = [_epoch_ids(loader)[0] for _ in range(3)]
    loader.set_epoch(1)
    assert np.array_equal(_epoch_ids(loader)[0], orders[1])


def test_loader_epoch_advances_at_iter_not_first_batch():
    loader = DataLoader(_dataset(5), batch_size=2, shuffle=True, seed=0)
    iter(loader)
    assert loader.state_dict()["epoch"] == 1


@pytest.mark.parametrize(
    ("n", "batch_size", "drop_last", "expected"),
    [(10, 3, False, 4), (10, 3, True, 3), (9, 3, True, 3), (2, 5, True, 0), (0, 4, False, 0)],
    ids=["ragged", "ragged-drop", "exact-drop", "short-drop", "empty"],
)
def test_loader_len(n, batch_size, drop_last, expected):
    loader = DataLoader(_dataset(n), batch_size=batch_size, drop_last=drop_last)
    assert len(loader) == expected
    assert len(list(loader)) == expected


def test_loader_generic_dataset_stacks_samples():
    loader = DataLoader(_Squares(7), batch_size=3, shuffle=True, seed=2)
    total = 0
    for xb, yb in loader:
        assert xb.shape[1:] == (2,) and xb.dtype == np.float64
        assert np.array_equal(xb[:, 0] ** 2, yb)
        total += yb.shape[0]
    assert total == 7


def test_loader_generic_dataset_matches_tensor_dataset_fast_path():
    X = np.random.default_rng(0).normal(size=(11, 4))
    y = np.arange(11)

    class Plain(Dataset):
        def __len__(self):
            return 11

        def __getitem__(self, i):
            return X[i], y[i]

    fast = DataLoader(TensorDataset(X, y), batch_size=4, shuffle=True, seed=4)
    slow = DataLoader(Plain(), batch_size=4, shuffle=True, seed=4)
    for (xa, ya), (xb, yb) in zip(fast, slow, strict=True):
        assert np.array_equal(xa, xb) and np.array_equal(ya, yb)


@pytest.mark.parametrize("bad", [0, -1, 2.0, True], ids=["zero", "negative", "float", "bool"])
def test_loader_rejects_bad_batch_size(bad):
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(_dataset(4), batch_size=bad)


def test_loader_rejects_negative_seed():
    with pytest.raises(ValueError, match="seed"):
        DataLoader(_dataset(4), seed=-1)


def test_tensor_dataset_length_mismatch_names_lengths():
    with pytest.raises(ValueError, match=r"\[5, 4\]"):
        TensorDataset(np.zeros((5, 2)), np.zeros(4))


@pytest.mark.parametrize(
    "arrays", [(), (np.float32(1.0),)], ids=["no-arrays", "zero-dim"]
)
def test_tensor_dataset_rejects_bad_input(arrays):
    with pytest.raises(ValueError):
        TensorDataset(*arrays)


def test_tensor_dataset_accepts_objects_with_numpy_method():
    class FakeTensor:  # what a fusegrad Tensor offers; data/ must not import autograd
        def __init__(self, a):
            self._a = a

        def numpy(self):
            return self._a

    ds = TensorDataset(FakeTensor(np.arange(6.0).reshape(3, 2)), np.arange(3))
    x, y = ds[2]
    assert np.array_equal(x, [4.0, 5.0]) and y == 2


def test_data_package_does_not_import_autograd():
    # Static check of data/'s own imports (fusegrad/__init__.py may import autograd itself).
    import ast
    import pathlib

    import fusegrad.data

    imported: set[str] = set()
    for path in pathlib.Path(fusegrad.data.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
    assert "numpy" in imported
    assert not [m for m in imported if m.startswith(("fusegrad.autograd", "fusegrad.nn"))]
