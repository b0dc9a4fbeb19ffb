"""Array-level kernel interface: ``get_backend(device)`` and the ``Backend`` protocol.

The protocol is the registry of kernels (the role ``native_functions.yaml`` plays in PyTorch,
without codegen). ``backend/cpu.py`` (NumPy arrays + ``fusegrad._C``) and ``backend/cuda.py``
(CuPy arrays + RawModules built from ``csrc/cuda``) implement every method with the same
name and signature. Backends work on raw arrays and know nothing of autograd.

Conventions shared by every method:
- Arrays are float32 or float64 unless a method says otherwise; inputs may be any strided
  view, outputs are freshly allocated C-contiguous arrays unless an ``out``/in-place
  argument is named.
- Shape or dtype errors raise ``ValueError``/``TypeError`` naming the shapes, written like
  ``(2, 3)``.
- Unary/binary ops on the X-lists in ``csrc/math`` go through the generic methods keyed by
  the X-list name; every other kernel has a method named exactly like the C++ function.
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence

Array = Any  # numpy.ndarray on CPU, cupy.ndarray on CUDA


class Backend(Protocol):
    """What every backend implements (one line of contract per method)."""

    name: str  # "cpu" or "cuda"
    xp: Any  # the array module: numpy or cupy

    # --- storage -------------------------------------------------------------------------
    def asarray(self, data: Any, dtype: Any = None) -> Array:
        """Array on this backend's device from NumPy / nested lists / scalars (copy only if needed)."""

    def to_numpy(self, a: Array) -> Any:
        """NumPy array with the same values (zero-copy on CPU)."""

    # --- elementwise (csrc/math/unary.h, binary.h) -----------------------------------------
    def unary_forward(self, name: str, x: Array, a: float = 0.0, b: float = 0.0) -> Array:
        """y = op(x) for an FG_UNARY_OPS op; a, b are its scalar parameters (slope, bounds, p)."""

    def unary_backward(
        self, name: str, x: Array, y: Array, gy: Array, a: float = 0.0, b: float = 0.0
    ) -> Array:
        """gx = d op / dx * gy, fused in one pass; x is the saved input, y the saved output."""

    def binary_forward(self, name: str, a: Array, b: Array) -> Array:
        """y = op(a, b) with NumPy broadcasting, read through strides (no broadcast copies)."""

    def binary_backward(
        self, name: str, a: Array, b: Array, y: Array, gy: Array, need_a: bool, need_b: bool
    ) -> tuple[Array | None, Array | None]:
        """(ga, gb) at the broadcast shape of y (un-broadcasting is autograd's job), one pass."""

    def compare(self, name: str, a: Array, b: Array) -> Array:
        """Boolean array of eq/ne/lt/le/gt/ge with broadcasting."""

    # --- reductions (csrc/math/reduce.h) ---------------------------------------------------
    def reduce(self, name: str, x: Array, axes: Sequence[int] | None, keepdim: bool) -> Array:
        """sum / mean / max / min over ``axes`` (None: all), accumulated in acc_t."""

    def reduce_with_index(self, name: str, x: Array, axis: int, keepdim: bool) -> tuple[Array, Array]:
        """(values, int64 indices) of max / min along one axis (first index on ties)."""

    def var(self, x: Array, axes: Sequence[int] | None, correction: int, keepdim: bool) -> Array:
        """Variance over ``axes`` with ``correction`` (1 = unbiased), numerically stable."""

    def sum_to_shape(self, g: Array, shape: tuple[int, ...]) -> Array:
        """Sum a broadcast gradient back down to ``shape`` (the un-broadcast step)."""

    # --- matmul (csrc/cpu/matmul.h) ----------------------------------------------------------
    def matmul(self, a: Array, b: Array) -> Array:
        """a @ b for 2-D or batched (broadcast batch dims); transposed views read without copies."""

    def linear_forward(self, x: Array, w: Array, b: Array | None, activation: str | None) -> Array:
        """x @ w.T + b, with activation (None or "relu") applied in the GEMM's store step."""

    def bias_grad(self, gy: Array) -> Array:
        """Column sums of a 2-D gy (the bias gradient of a Linear layer), one pass."""

    # --- optim (csrc/math/optim.h; owner: optim) --------------------------------------------
    # One call per parameter group (one launch on CUDA): lists of same-dtype contiguous arrays,
    # updated in place; formulas and state names as torch.optim. `step` / `first_step` are a
    # scalar or one value per param (PyTorch keeps a step per param). Unused state lists
    # (momentum_buffers without momentum, ...) may be None.
    def sgd_step(self, params: Sequence[Array], grads: Sequence[Array],
                 momentum_buffers: Sequence[Array] | None, *, lr: float, momentum: float,
                 dampening: float, weight_decay: float, nesterov: bool, maximize: bool = False,
                 first_step: bool | Sequence[bool]) -> None:
        """SGD; on a first step the momentum buffer is set to the (decayed) grad, undampened."""

    def adam_step(self, params: Sequence[Array], grads: Sequence[Array],
                  exp_avgs: Sequence[Array], exp_avg_sqs: Sequence[Array],
                  max_exp_avg_sqs: Sequence[Array] | None, *, step: float | Sequence[float],
                  lr: float, beta1: float, beta2: float, eps: float, weight_decay: float,
                  amsgrad: bool, decoupled: bool, maximize: bool = False) -> None:
        """Adam (decoupled=False, L2 decay) or AdamW (decoupled=True); step counts from 1."""

    def rmsprop_step(self, params: Sequence[Array], grads: Sequence[Array],
                     square_avgs: Sequence[Array], grad_avgs: Sequence[Array] | None,
                     momentum_buffers: Sequence[Array] | None, *, lr: float, alpha: float,
                     eps: float, weight_decay: float, momentum: float, centered: bool,
                     maximize: bool = False) -> None:
        """RMSprop (eps outside the sqrt; grad_avgs used when centered, buffers when momentum>0)."""

    def adagrad_step(self, params: Sequence[Array], grads: Sequence[Array],
                     state_sums: Sequence[Array], *, step: float | Sequence[float], lr: float,
                     lr_decay: float, eps: float, weight_decay: float,
                     maximize: bool = False) -> None:
        """Adagrad with clr = lr / (1 + (step - 1) * lr_decay)."""

    def adadelta_step(self, params: Sequence[Array], grads: Sequence[Array],
                      square_avgs: Sequence[Array], acc_deltas: Sequence[Array], *, lr: float,
                      rho: float, eps: float, weight_decay: float,
                      maximize: bool = False) -> None:
        """Adadelta (PyTorch's form, lr scales the delta)."""

    def grad_norm(self, grads: Sequence[Array], norm_type: float) -> Array:
        """Total p-norm (inf: max |g|) of all arrays together, one pass; 0-d float64 array."""

    def scale_(self, arrays: Sequence[Array], factor: float | Array) -> None:
        """Multiply every array in place by factor (a float or a 0-d array), one pass."""

    def clamp_(self, arrays: Sequence[Array], lo: float, hi: float) -> None:
        """Clamp every array in place to [lo, hi], one pass."""

    # --- norm (csrc/math/norm.h; owner: nn) -------------------------------------------------
    # x is (N, C) or (N, C, L); per-channel arrays have shape (C,); weight/bias may be None.
    def batch_norm_forward(self, x: Array, weight: Array | None, bias: Array | None,
                           running_mean: Array | None, running_var: Array | None, *,
                           batch_stats: bool, momentum_factor: float,
                           eps: float) -> tuple[Array, Array, Array]:
        """(y, save_mean, save_invstd) in one fused call; batch_stats: batch mean / biased var
        normalise, running stats (if given) updated in place with the unbiased var and
        r = (1-f)·r + f·stat; else running stats normalise (and are returned as saved stats)."""

    def batch_norm_backward(self, x: Array, gy: Array, weight: Array | None, save_mean: Array,
                            save_invstd: Array, *, batch_stats: bool, need_input: bool = True,
                            need_params: bool = True) -> tuple[Array | None, Array | None,
                                                               Array | None]:
        """(gx, gweight, gbias) in one fused call (Σdy, Σdy·x̂, dx); None where not needed."""

    # --- loss (csrc/math/loss.h; owner: nn) -------------------------------------------------
    # Row kernels act on the last axis. Labels are int64 (TypeError otherwise), out-of-range
    # labels that are not ignore_index raise IndexError. reduction is "mean" | "sum" | "none";
    # reduced losses are 0-d arrays. total_weight (0-d array) is the "mean" denominator
    # Σ_{not ignored} w[y_i] that the forward returns and the backward takes back.
    def softmax_forward(self, x: Array) -> Array:
        """Softmax along the last axis (max subtracted first)."""

    def log_softmax_forward(self, x: Array) -> Array:
        """x - logsumexp(x) along the last axis."""

    def softmax_backward(self, y: Array, gy: Array) -> Array:
        """gx = y·(gy - Σ gy·y) from the saved output y."""

    def log_softmax_backward(self, y: Array, gy: Array) -> Array:
        """gx = gy - exp(y)·Σ gy from the saved output y."""

    def softmax_cross_entropy_forward(self, logits: Array, labels: Array, weight: Array | None,
                                      *, ignore_index: int, label_smoothing: float,
                                      reduction: str) -> tuple[Array, Array, Array]:
        """(loss, lse, total_weight) for (N, C) logits in one fused call (PyTorch semantics)."""

    def softmax_cross_entropy_backward(self, logits: Array, labels: Array,
                                       weight: Array | None, lse: Array, total_weight: Array,
                                       gy: Array, *, ignore_index: int, label_smoothing: float,
                                       reduction: str) -> Array:
        """gx = g·(softmax - smoothed one-hot), weighted, in one fused call."""

    def nll_loss_forward(self, x: Array, labels: Array, weight: Array | None, *,
                         ignore_index: int, reduction: str) -> tuple[Array, Array]:
        """(loss, total_weight) of -w_y·x[i, y] over (N, C) log-probabilities."""

    def nll_loss_backward(self, labels: Array, weight: Array | None, total_weight: Array,
                          gy: Array, *, shape: tuple, dtype: Any, ignore_index: int,
                          reduction: str) -> Array:
        """gx of the given (N, C) shape: 0 except gx[i, y] = -w_y·g_i."""

    def bce_with_logits_forward(self, x: Array, target: Array, pos_weight: Array | None, *,
                                reduction: str) -> Array:
        """Stable (1-t)·z + c·softplus(-z), c = 1 + (pos_weight-1)·t (pos_weight at x's shape)."""

    def bce_with_logits_backward(self, x: Array, target: Array, pos_weight: Array | None,
                                 gy: Array, *, reduction: str) -> Array:
        """gx = g·((1-t) - c·sigmoid(-z))."""

    def mse_loss_forward(self, x: Array, target: Array, *, reduction: str) -> Array:
        """(x - t)² per element, reduced."""

    def mse_loss_backward(self, x: Array, target: Array, gy: Array, *, reduction: str,
                          need_target: bool = False) -> tuple[Array, Array | None]:
        """(gx, gt) = (2(x - t)·g, -gx); gt None unless need_target."""

    # --- random (csrc/math/random.h; owner: nn) ---------------------------------------------
    def dropout_forward(self, x: Array, p: float, seed: int,
                        offset: int = 0) -> tuple[Array, Array]:
        """(y, bool mask): Philox(seed, offset, index) keeps u >= p, y = x·mask/(1-p); one pass."""

    def dropout_backward(self, gy: Array, mask: Array, p: float) -> Array:
        """gx = gy·mask/(1-p) (0 for p = 1)."""


_BACKENDS: dict[str, Backend] = {}


def get_backend(device: str) -> Backend:
    """The backend for a device string ("cpu", "cuda", "cuda:N"); built once and cached."""
    be = _BACKENDS.get(device)
    if be is not None:
        return be
    if device == "cpu":
        from fusegrad.backend.cpu import CPUBackend

        be = CPUBackend()
    elif device == "cuda" or device.startswith("cuda:"):
        from fusegrad.backend.cuda import CUDABackend

        be = CUDABackend(device)
    else:
        raise ValueError(f"unknown device {device!r}: expected 'cpu', 'cuda' or 'cuda:N'")
    _BACKENDS[device] = be
    return be


__all__ = ["Array", "Backend", "get_backend"]
