"""Hold-out splits and folds: partitions, sizes, stratification, scikit-learn agreement."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fusegrad.data import KFold, LeaveOneOut, StratifiedKFold, train_val_test_split


def _assert_partition(parts, n):
    joined = np.concatenate(parts)
    assert joined.shape[0] == n
    assert np.array_equal(np.sort(joined), np.arange(n))


@given(
    n=st.integers(1, 300),
    val=st.floats(0.0, 0.6),
    test=st.floats(0.0, 0.6),
    seed=st.integers(0, 2**32),
)
def test_split_partitions_with_contract_sizes(n, val, test, seed):
    n_test, n_val = round(test * n), round(val * n)
    if val + test >= 1.0 or n - n_test - n_val <= 0:
        with pytest.raises(ValueError):
            train_val_test_split(n, val=val, test=test, seed=seed)
        return
    train, val_idx, test_idx = train_val_test_split(n, val=val, test=test, seed=seed)
    sizes = (train.shape[0], val_idx.shape[0], test_idx.shape[0])
    assert sizes == (n - n_test - n_val, n_val, n_test)
    _assert_partition((train, val_idx, test_idx), n)
    assert all(p.dtype == np.int64 for p in (train, val_idx, test_idx))


@given(
    counts=st.lists(st.integers(1, 40), min_size=1, max_size=6),
    val=st.floats(0.0, 0.45),
    test=st.floats(0.0, 0.45),
    seed=st.integers(0, 2**32),
)
def test_split_stratified_follows_class_proportions(counts, val, test, seed):
    labels = np.random.default_rng(seed).permutation(np.repeat(np.arange(len(counts)), counts))
    n = labels.shape[0]
    n_test, n_val = round(test * n), round(val * n)
    if n - n_test - n_val <= 0:
        return
    parts = train_val_test_split(n, val=val, test=test, seed=seed, stratify=labels)
    _assert_partition(parts, n)
    sizes = (n - n_test - n_val, n_val, n_test)
    assert tuple(p.shape[0] for p in parts) == sizes
    # Bounds from Note [stratified allocation] in split.py: test, val within 1; train within 2.
    for part, size, bound in zip(parts, sizes, (2, 1, 1), strict=True):
        got = np.bincount(labels[part], minlength=len(counts))
        assert np.all(np.abs(got - size * np.array(counts) / n) <= bound)


def test_split_stratified_exact_when_divisible():
    labels = np.repeat([0, 1, 2], [50, 30, 20])
    train, val, test = train_val_test_split(100, val=0.2, test=0.1, seed=0, stratify=labels)
    assert np.array_equal(np.bincount(labels[val]), [10, 6, 4])
    assert np.array_equal(np.bincount(labels[test]), [5, 3, 2])
    assert np.array_equal(np.bincount(labels[train]), [35, 21, 14])


def test_split_arrays_keep_rows_aligned():
    X = np.arange(40).reshape(20, 2)
    y = np.arange(20) * 10
    X_tr, X_va, X_te, y_tr, y_va, y_te = train_val_test_split(X, y, val=0.25, test=0.25, seed=3)
    assert (X_tr.shape[0], X_va.shape[0], X_te.shape[0]) == (10, 5, 5)
    for Xp, yp in ((X_tr, y_tr), (X_va, y_va), (X_te, y_te)):
        assert np.array_equal(Xp[:, 0] * 5, yp)
    _assert_partition((y_tr // 10, y_va // 10, y_te // 10), 20)


def test_split_seed_reproducible_and_varies():
    a = train_val_test_split(50, seed=7)
    b = train_val_test_split(50, seed=7)
    c = train_val_test_split(50, seed=8)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c, strict=True))


@pytest.mark.parametrize(
    ("n", "kwargs", "match"),
    [
        (10, {"val": -0.1}, "val"),
        (10, {"test": 1.0}, "test"),
        (10, {"val": 0.5, "test": 0.5}, "below 1"),
        (2, {"val": 0.45, "test": 0.45}, "training"),  # rounds to 1 + 1 of 2
    ],
    ids=["negative", "test-one", "sum-one", "no-train-after-rounding"],
)
def test_split_rejects_bad_fractions(n, kwargs, match):
    with pytest.raises(ValueError, match=match):
        train_val_test_split(n, **kwargs)


def test_split_rejects_mismatched_arrays_and_labels():
    with pytest.raises(ValueError, match=r"\[4, 3\]"):
        train_val_test_split(np.zeros(4), np.zeros(3))
    with pytest.raises(ValueError, match="stratify"):
        train_val_test_split(4, val=0.25, test=0.25, stratify=np.zeros(3))


@pytest.mark.parametrize(("n", "k"), [(10, 5), (11, 3), (7, 7), (100, 6)], ids=str)
def test_kfold_matches_sklearn(n, k):
    model_selection = pytest.importorskip("sklearn.model_selection")
    ours = list(KFold(n_splits=k).split(n))
    ref = list(model_selection.KFold(n_splits=k).split(np.zeros((n, 1))))
    assert len(ours) == len(ref) == k
    for (tr, te), (rtr, rte) in zip(ours, ref, strict=True):
        assert np.array_equal(tr, rtr) and np.array_equal(te, rte)


@given(n=st.integers(2, 80), k=st.integers(2, 10), seed=st.integers(0, 2**32))
def test_kfold_shuffled_test_folds_partition(n, k, seed):
    if k > n:
        with pytest.raises(ValueError, match="n_splits"):
            list(KFold(k, shuffle=True, seed=seed).split(n))
        return
    folds = list(KFold(k, shuffle=True, seed=seed).split(np.zeros((n, 2))))
    _assert_partition([te for _, te in folds], n)
    sizes = [te.shape[0] for _, te in folds]
    assert sizes == [n // k + (i < n % k) for i in range(k)]
    for tr, te in folds:
        _assert_partition((tr, te), n)
    again = list(KFold(k, shuffle=True, seed=seed).split(n))
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, again, strict=True))


def test_kfold_rejects_bad_n_splits():
    with pytest.raises(ValueError):
        KFold(n_splits=1)
    assert KFold(n_splits=4).get_n_splits() == 4


def test_stratified_kfold_balances_classes():
    labels = np.repeat([0, 1, 2], [20, 9, 4])
    counts = np.bincount(labels)
    folds = list(StratifiedKFold(4, shuffle=True, seed=0).split(labels.shape[0], labels))
    _assert_partition([te for _, te in folds], labels.shape[0])
    for tr, te in folds:
        _assert_partition((tr, te), labels.shape[0])
        got = np.bincount(labels[te], minlength=3)
        assert np.all((got == counts // 4) | (got == -(-counts // 4)))


def test_leave_one_out():
    folds = list(LeaveOneOut().split(np.zeros((5, 3))))
    assert len(folds) == 5 == LeaveOneOut().get_n_splits(5)
    for i, (tr, te) in enumerate(folds):
        assert np.array_equal(te, [i])
        assert np.array_equal(tr, np.delete(np.arange(5), i))


def test_leave_one_out_matches_sklearn():
    model_selection = pytest.importorskip("sklearn.model_selection")
    ref = list(model_selection.LeaveOneOut().split(np.zeros((6, 1))))
    for (tr, te), (rtr, rte) in zip(LeaveOneOut().split(6), ref, strict=True):
        assert np.array_equal(tr, rtr) and np.array_equal(te, rte)
