"""``fg.cuda.DeviceLoader``: a whole small dataset resident on the GPU, batches gathered there.

For datasets that fit in GPU memory (MNIST is 188 MB as float32) copying every batch from the
host costs more than the step itself. ``DeviceLoader`` uploads a ``TensorDataset``'s arrays
once, and per epoch uploads only the sample order (8 bytes per sample); each batch is a gather
kernel on the device. Orders are the wrapped ``DataLoader``'s (same seed, same epoch counter,
same ``state_dict``), so switching between the two does not change the run.

    loader = DataLoader(TensorDataset(X, Y), batch_size=128, shuffle=True, seed=0)
    for xb, yb in fg.cuda.DeviceLoader(loader, "cuda"):   # xb, yb: CUDA Tensors
        ...
"""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np


class DeviceLoader:
    """Yields batches of a ``DataLoader`` over a ``TensorDataset`` as Tensors on ``device``.

    Args:
        loader: a ``fusegrad.data.DataLoader`` whose dataset is a ``TensorDataset``.
        device: "cuda" or "cuda:N" (any device string works; "cpu" gives CPU Tensors).

    Raises:
        TypeError: the loader's dataset is not a TensorDataset (its arrays are what move).
        RuntimeError: the device is not usable (the message says why).
    """

    def __init__(self, loader: Any, device: str = "cuda") -> None:
        from fusegrad.autograd.tensor import Tensor
        from fusegrad.backend import get_backend
        from fusegrad.data import TensorDataset

        if not isinstance(loader.dataset, TensorDataset):
            raise TypeError("DeviceLoader needs a DataLoader over a TensorDataset, got "
                            f"{type(loader.dataset).__name__}")
        self.loader = loader
        self.device = device
        self._backend = get_backend(device)
        self._tensor = Tensor._make
        self.arrays = tuple(self._backend.asarray(a) for a in loader.dataset.arrays)

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        ld = self.loader
        n = len(ld.dataset)
        order = np.random.default_rng([ld.seed, ld.epoch]).permutation(n) if ld.shuffle \
            else np.arange(n)
        ld.epoch += 1  # as DataLoader.__iter__: state_dict() now points at the next epoch
        return self._batches(order)

    def _batches(self, order: np.ndarray) -> Iterator[tuple[Any, ...]]:
        bs = self.loader.batch_size
        n = order.shape[0]
        stop = n - n % bs if self.loader.drop_last else n
        shuffled = self.loader.shuffle
        idx_all = self._backend.asarray(order.astype(np.int64)) if shuffled else None
        for start in range(0, stop, bs):
            if shuffled:
                idx = idx_all[start:start + bs]
                yield tuple(self._tensor(a[idx], self.device) for a in self.arrays)
            else:  # in order: batches are views, no gather
                yield tuple(self._tensor(a[start:start + bs], self.device) for a in self.arrays)


__all__ = ["DeviceLoader"]
