"""``nn.BatchNorm1d`` over (N, C) or (N, C, L), PyTorch's conventions.

Training: batch mean and biased variance normalise; running_mean / running_var move by
r = (1 - f)·r + f·stat with the unbiased variance, f = momentum (0.1: new·0.1 + old·0.9) or,
for momentum=None, 1/num_batches_tracked (cumulative average). Eval: running stats normalise
(batch stats when track_running_stats=False). One fused kernel each way (ops/norm.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fusegrad.autograd.tensor import Tensor
from fusegrad.nn import functional as F
from fusegrad.nn.module import Module, Parameter


class BatchNorm1d(Module):
    """Batch normalisation over the channel dim of (N, C) or (N, C, L) input.

    Args:
        num_features: C.
        eps: added to the variance.
        momentum: running-stat factor, or None for a cumulative average.
        affine: learn weight (γ, init 1) and bias (β, init 0).
        track_running_stats: keep running_mean (init 0), running_var (init 1) and
            num_batches_tracked; without them eval mode also uses batch statistics.

    Raises (forward):
        ValueError: input not 2-D/3-D, wrong channel count, or one value per channel while
            training.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, device: str = "cpu",
                 dtype: Any = None) -> None:
        super().__init__()
        self.num_features = int(num_features)
        self.eps = float(eps)
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        dt = np.dtype(np.float32 if dtype is None else dtype)
        c = self.num_features
        if affine:
            self.weight = Parameter(Tensor(np.ones(c, dt), device=device))
            self.bias = Parameter(Tensor(np.zeros(c, dt), device=device))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", Tensor(np.zeros(c, dt), device=device))
            self.register_buffer("running_var", Tensor(np.ones(c, dt), device=device))
            self.register_buffer("num_batches_tracked",
                                 Tensor(np.zeros((), np.int64), device=device))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean._data.fill(0)
            self.running_var._data.fill(1)
            self.num_batches_tracked._data.fill(0)

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.affine:
            self.weight._data.fill(1)
            self.bias._data.fill(0)

    def forward(self, input: Tensor) -> Tensor:
        # NOTE: a hot path; buffers and parameters are read from their dicts directly (not
        # through Module.__getattr__).
        shape = input._data.shape
        if len(shape) not in (2, 3):
            raise ValueError(f"expected 2D or 3D input (got {len(shape)}D input)")
        if shape[1] != self.num_features:
            raise ValueError(f"BatchNorm1d({self.num_features}): input has {shape[1]} "
                             f"channels (shape {tuple(shape)})")
        bufs, params = self._buffers, self._parameters
        running_mean, running_var = bufs["running_mean"], bufs["running_var"]
        training = self.training
        factor = 0.0 if self.momentum is None else float(self.momentum)
        if training and self.track_running_stats:
            nbt = bufs["num_batches_tracked"]._data
            nbt += 1  # in place: the buffer Tensor keeps its array
            if self.momentum is None:
                factor = 1.0 / float(nbt)
        use_batch_stats = training or running_mean is None
        track = not training or self.track_running_stats
        return F.batch_norm(input, running_mean if track else None,
                            running_var if track else None, params["weight"], params["bias"],
                            use_batch_stats, factor, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


__all__ = ["BatchNorm1d"]
