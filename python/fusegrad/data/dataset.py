"""Map-style datasets and the mini-batch loader; everything here yields NumPy arrays.

Device transfer is not done here: the training loop (or ``Tensor.to``) moves batches.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

__all__ = ["DataLoader", "Dataset", "TensorDataset"]


def as_numpy(a: Any) -> np.ndarray:
    """Returns ``a`` as a NumPy array; fusegrad Tensors (anything with ``.numpy()``) included.

    Duck typing keeps ``data/`` free of any ``autograd`` import (DESIGN.md layers).
    """
    if isinstance(a, np.ndarray):
        return a
    to_numpy = getattr(a, "numpy", None)
    if callable(to_numpy):
        return np.asarray(to_numpy())
    return np.asarray(a)


class Dataset:
    """A map-style dataset: ``len(ds)`` samples, ``ds[i]`` returns sample ``i``.

    Subclasses implement ``__len__`` and ``__getitem__``. A sample is a tuple of fields
    (e.g. ``(x, y)``), a dict of fields, or a single array/scalar; ``DataLoader`` stacks
    each field across the samples of a batch.
    """

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must implement __len__")

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__")


class TensorDataset(Dataset):
    """Wraps arrays that share their first dimension; sample ``i`` is ``(a[i], b[i], ...)``.

    Args:
        *arrays: NumPy arrays, array-likes or fusegrad Tensors (converted with ``.numpy()``),
            all with the same length along dimension 0.

    Raises:
        ValueError: no arrays, a 0-d array, or first dimensions that differ.
    """

    def __init__(self, *arrays: Any) -> None:
        if not arrays:
            raise ValueError("TensorDataset needs at least one array")
        self.arrays = tuple(as_numpy(a) for a in arrays)
        for i, a in enumerate(self.arrays):
            if a.ndim == 0:
                raise ValueError(f"TensorDataset array {i} is 0-d; it needs a first dimension")
        lengths = [a.shape[0] for a in self.arrays]
        if len(set(lengths)) != 1:
            raise ValueError(
                f"TensorDataset arrays must have the same first dimension, got lengths {lengths}"
            )

    def __len__(self) -> int:
        return self.arrays[0].shape[0]

    def __getitem__(self, index: Any) -> tuple[np.ndarray, ...]:
        return tuple(a[index] for a in self.arrays)


def _collate(samples: list[Any]) -> Any:
    """Stacks a list of samples field by field (tuple -> tuple, dict -> dict, else an array)."""
    first = samples[0]
    if isinstance(first, (tuple, list)):
        return tuple(np.stack([np.asarray(s[j]) for s in samples]) for j in range(len(first)))
    if isinstance(first, dict):
        return {k: np.stack([np.asarray(s[k]) for s in samples]) for k in first}
    return np.stack([np.asarray(s) for s in samples])


class DataLoader:
    """Iterates over a dataset in mini-batches of NumPy arrays.

    Each ``iter(loader)`` is one epoch. With ``shuffle=True`` the order is a fresh permutation
    every epoch, drawn from ``numpy.random.default_rng([seed, epoch])``: epoch ``k``'s order is
    a function of ``seed`` and ``k`` only, so runs are reproducible and a resumed run (see
    ``state_dict``) continues with the same orders. ``seed=None`` draws a base seed from
    fresh OS entropy once, at construction.

    Batches are tuples of arrays in the dataset's field order (``(x, y)`` for
    ``TensorDataset(X, Y)``). A ``TensorDataset`` is batched by fancy-indexing each array once
    per batch; any other dataset by ``dataset[i]`` per sample and ``np.stack`` per field (a
    dataset whose samples are single arrays gives single-array batches, as in PyTorch).

    Args:
        dataset: a ``Dataset`` (anything with ``__len__`` and ``__getitem__``).
        batch_size: samples per batch (positive int).
        shuffle: reshuffle the sample order at the start of every epoch.
        drop_last: drop the last batch when it has fewer than ``batch_size`` samples.
        seed: non-negative int seeding the shuffle order, or None for fresh entropy.

    Raises:
        ValueError: a non-positive ``batch_size`` or a negative ``seed``.
    """

    def __init__(
        self,
        dataset: Dataset,
        batch_size: int = 1,
        shuffle: bool = False,
        drop_last: bool = False,
        seed: int | None = None,
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if batch_size <= 0:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
        if seed is None:
            seed = int(np.random.SeedSequence().entropy)
        elif isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer or None, got {seed!r}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.seed = int(seed)
        self.epoch = 0  # the epoch the next iter() runs

    def __len__(self) -> int:
        n = len(self.dataset)
        if self.drop_last:
            return n // self.batch_size
        return -(-n // self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        """Makes the next ``iter()`` run epoch ``epoch`` (its shuffle order included)."""
        if epoch < 0:
            raise ValueError(f"epoch must be non-negative, got {epoch}")
        self.epoch = int(epoch)

    def state_dict(self) -> dict[str, int]:
        """The loader's position: the next epoch and the base seed (a checkpoint resumes from it).

        Iteration is per epoch: restoring this and iterating replays the epoch after the last
        one started, with the same order as the original run.
        """
        return {"epoch": self.epoch, "seed": self.seed}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Restores what ``state_dict`` returned."""
        self.epoch = int(state["epoch"])
        self.seed = int(state["seed"])

    def _order(self, epoch: int) -> np.ndarray:
        n = len(self.dataset)
        if self.shuffle:
            return np.random.default_rng([self.seed, epoch]).permutation(n)
        return np.arange(n)

    def __iter__(self) -> Iterator[Any]:
        # The order is drawn and the epoch counter advanced here, not lazily at the first
        # batch, so state_dict() taken right after iter() already points at the next epoch.
        order = self._order(self.epoch)
        self.epoch += 1
        return self._batches(order)

    def _batches(self, order: np.ndarray) -> Iterator[Any]:
        n, bs = order.shape[0], self.batch_size
        stop = n - n % bs if self.drop_last else n
        if isinstance(self.dataset, TensorDataset):
            arrays = self.dataset.arrays
            for start in range(0, stop, bs):
                idx = order[start : start + bs]
                yield tuple(a[idx] for a in arrays)
        else:
            dataset = self.dataset
            for start in range(0, stop, bs):
                yield _collate([dataset[int(i)] for i in order[start : start + bs]])
