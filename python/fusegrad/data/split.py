"""Hold-out splits and cross-validation folds, as index arrays (scikit-learn conventions)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from fusegrad.data.dataset import as_numpy

__all__ = ["KFold", "LeaveOneOut", "StratifiedKFold", "train_val_test_split"]


def _num_samples(X_or_n: Any) -> int:
    if isinstance(X_or_n, (int, np.integer)) and not isinstance(X_or_n, bool):
        if X_or_n < 0:
            raise ValueError(f"the number of samples must be non-negative, got {X_or_n}")
        return int(X_or_n)
    a = as_numpy(X_or_n)
    if a.ndim == 0:
        raise ValueError("expected an int or an array with a first dimension, got a 0-d array")
    return a.shape[0]


def _apportion(
    total: int, targets: np.ndarray, caps: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Integer counts summing to ``total``, each within 1 of ``targets`` where caps allow.

    Largest-remainder rounding: every class gets ``floor(target)`` (never above its cap, see
    Note [stratified allocation]), then the classes with the largest fractional parts get
    one more, ties broken at random, skipping classes already at their cap.
    """
    counts = np.minimum(np.floor(targets).astype(np.int64), caps)
    remainder = targets - counts
    # Primary key: remainder, descending; secondary: a random draw (np.lexsort: last key first).
    priority = np.lexsort((rng.random(targets.shape[0]), -remainder))
    while counts.sum() < total:
        for k in priority:
            if counts.sum() == total:
                break
            if counts[k] < caps[k]:
                counts[k] += 1
    return counts


# Note [stratified allocation]
# With class counts c_k, n samples and split sizes n_test, n_val, class k's share of a split
# of size m is m·c_k/n. Test is apportioned first (cap c_k), then val from what is left
# (cap c_k - test_k); train takes the rest. floor(val target) always fits under the val cap:
# ceil(a) + floor(b) <= ceil(a + b) <= c_k when a + b = (n_test + n_val)·c_k/n < c_k, which
# holds because train is non-empty. So test and val counts are within 1 of their targets
# and train's within 2, and every total is exact.


def train_val_test_split(
    *n_or_arrays: Any,
    val: float = 0.2,
    test: float = 0.2,
    seed: int | None = None,
    stratify: Any = None,
) -> tuple[np.ndarray, ...]:
    """Splits samples at random into disjoint train, validation and test parts.

    Sizes: ``n_test = round(test * n)``, ``n_val = round(val * n)``, the rest is train.

    Args:
        *n_or_arrays: one int ``n`` (split the indices ``0..n-1``), or one or more arrays of
            equal length (split along the first dimension).
        val: fraction of samples for validation, in [0, 1).
        test: fraction of samples for testing, in [0, 1).
        seed: seed of the NumPy Generator drawing the split (None: fresh entropy).
        stratify: optional labels (length n); each part then holds each class in the same
            proportion as the whole, to within one sample (two for train).

    Returns:
        For an int: ``(train_idx, val_idx, test_idx)``, sorted int64 index arrays. For
        arrays ``a, b, ...``: ``(a_train, a_val, a_test, b_train, b_val, b_test, ...)``.

    Raises:
        ValueError: fractions outside [0, 1), fractions leaving no training sample,
            arrays of different lengths, or ``stratify`` of the wrong length.
    """
    if not n_or_arrays:
        raise TypeError("train_val_test_split needs an int or at least one array")
    is_count = isinstance(n_or_arrays[0], (int, np.integer)) and not isinstance(
        n_or_arrays[0], bool
    )
    if is_count:
        if len(n_or_arrays) != 1:
            raise TypeError(
                "train_val_test_split(n, ...) takes one int; pass val=, test= by keyword"
            )
        n = _num_samples(n_or_arrays[0])
        arrays: list[np.ndarray] = []
    else:
        arrays = [as_numpy(a) for a in n_or_arrays]
        lengths = [_num_samples(a) for a in arrays]
        if len(set(lengths)) != 1:
            raise ValueError(f"arrays must have the same length, got lengths {lengths}")
        n = lengths[0]
    for name, frac in (("val", val), ("test", test)):
        if not 0.0 <= frac < 1.0:
            raise ValueError(f"{name} must be a fraction in [0, 1), got {frac}")
    if val + test >= 1.0:
        raise ValueError(f"val + test must be below 1 to leave training samples, got {val + test}")
    n_test, n_val = round(test * n), round(val * n)
    n_train = n - n_test - n_val
    if n_train <= 0:
        raise ValueError(
            f"val={val}, test={test} of {n} samples leave {n_train} for training "
            f"(n_val={n_val}, n_test={n_test})"
        )
    rng = np.random.default_rng(seed)
    if stratify is None:
        perm = rng.permutation(n)
        parts = (perm[n_test + n_val :], perm[n_test : n_test + n_val], perm[:n_test])
    else:
        parts = _stratified_parts(as_numpy(stratify), n, n_val, n_test, rng)
    train_idx, val_idx, test_idx = (np.sort(p).astype(np.int64) for p in parts)
    if is_count:
        return train_idx, val_idx, test_idx
    return tuple(a[idx] for a in arrays for idx in (train_idx, val_idx, test_idx))


def _stratified_parts(
    labels: np.ndarray, n: int, n_val: int, n_test: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if labels.shape[:1] != (n,):
        raise ValueError(f"stratify must have length {n}, got shape {labels.shape}")
    _, inverse, class_counts = np.unique(labels, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    test_counts = _apportion(n_test, n_test * class_counts / n, class_counts, rng)
    left = class_counts - test_counts
    val_counts = _apportion(n_val, n_val * class_counts / n, left, rng)
    train, val, test = [], [], []
    for k in range(class_counts.shape[0]):
        members = rng.permutation(np.flatnonzero(inverse == k))
        t, v = test_counts[k], val_counts[k]
        test.append(members[:t])
        val.append(members[t : t + v])
        train.append(members[t + v :])
    return np.concatenate(train), np.concatenate(val), np.concatenate(test)


class KFold:
    """K-fold cross-validation: ``split`` yields ``(train_idx, test_idx)`` k times.

    The samples (in order, or shuffled once per ``split`` call when ``shuffle``) are cut into
    ``n_splits`` consecutive folds; the first ``n % n_splits`` folds get one extra sample.
    Each fold is the test set once. Index arrays are sorted int64, as in scikit-learn.

    Args:
        n_splits: number of folds, at least 2.
        shuffle: shuffle the samples before cutting folds.
        seed: seed of the shuffle (None: fresh entropy per ``split`` call).

    Raises:
        ValueError: ``n_splits < 2``, or (from ``split``) more folds than samples.
    """

    def __init__(self, n_splits: int = 5, shuffle: bool = False, seed: int | None = None) -> None:
        if isinstance(n_splits, bool) or not isinstance(n_splits, (int, np.integer)):
            raise ValueError(f"n_splits must be an integer, got {n_splits!r}")
        if n_splits < 2:
            raise ValueError(f"n_splits must be at least 2, got {n_splits}")
        self.n_splits = int(n_splits)
        self.shuffle = bool(shuffle)
        self.seed = seed

    def get_n_splits(self, X: Any = None) -> int:
        """The number of folds."""
        return self.n_splits

    def _test_folds(self, n: int) -> Iterator[np.ndarray]:
        if self.n_splits > n:
            raise ValueError(f"cannot have n_splits={self.n_splits} greater than n_samples={n}")
        order = np.random.default_rng(self.seed).permutation(n) if self.shuffle else np.arange(n)
        sizes = np.full(self.n_splits, n // self.n_splits)
        sizes[: n % self.n_splits] += 1
        start = 0
        for size in sizes:
            yield order[start : start + size]
            start += size

    def split(self, X_or_n: Any) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yields ``(train_idx, test_idx)`` for each fold of ``X_or_n`` (an int or an array)."""
        n = _num_samples(X_or_n)
        for test_idx in self._test_folds(n):
            mask = np.zeros(n, dtype=bool)
            mask[test_idx] = True
            yield np.flatnonzero(~mask), np.flatnonzero(mask)


class StratifiedKFold(KFold):
    """K-fold where each fold holds each class in the same proportion as the whole.

    Samples are grouped by class (shuffled within each class when ``shuffle``) and dealt to
    the folds in turn, so a class's count differs by at most one between folds. Fold sizes
    may then differ from ``KFold``'s; the assignment differs from scikit-learn's.

    Args:
        n_splits, shuffle, seed: as ``KFold``.
    """

    def split(self, X_or_n: Any, y: Any = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yields ``(train_idx, test_idx)`` per fold; ``y`` holds the class labels.

        Raises:
            ValueError: ``y`` missing or of the wrong length, or more folds than samples.
        """
        n = _num_samples(X_or_n)
        if y is None:
            raise ValueError("StratifiedKFold.split needs the labels y")
        labels = as_numpy(y)
        if labels.shape[:1] != (n,):
            raise ValueError(f"y must have length {n}, got shape {labels.shape}")
        if self.n_splits > n:
            raise ValueError(f"cannot have n_splits={self.n_splits} greater than n_samples={n}")
        rng = np.random.default_rng(self.seed)
        _, inverse = np.unique(labels, axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
        # Class-major order (a random order within each class when shuffling); dealing it
        # round-robin gives every fold floor or ceil of each class's count / n_splits.
        within = rng.permutation(n) if self.shuffle else np.arange(n)
        order = within[np.argsort(inverse[within], kind="stable")]
        fold_of = np.empty(n, dtype=np.int64)
        fold_of[order] = np.arange(n) % self.n_splits
        for k in range(self.n_splits):
            yield np.flatnonzero(fold_of != k), np.flatnonzero(fold_of == k)


class LeaveOneOut:
    """Leave-one-out cross-validation: sample i alone is the test set of split i."""

    def get_n_splits(self, X_or_n: Any) -> int:
        """The number of splits: the number of samples."""
        return _num_samples(X_or_n)

    def split(self, X_or_n: Any) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yields ``(train_idx, test_idx)`` with ``test_idx = [i]`` for each sample i.

        Raises:
            ValueError: fewer than 2 samples.
        """
        n = _num_samples(X_or_n)
        if n < 2:
            raise ValueError(f"LeaveOneOut needs at least 2 samples, got {n}")
        idx = np.arange(n)
        for i in range(n):
            yield np.delete(idx, i), idx[i : i + 1]
