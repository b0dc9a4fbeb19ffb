"""CPU backend: NumPy arrays as storage, ``fusegrad._C`` kernels for every piece of arithmetic.

Methods follow the ``Backend`` protocol in ``backend/__init__.py``: they allocate outputs,
check shapes and dtypes (messages name the shapes), and call ``_C``. Shape-only work
(reshape, transpose, broadcast views) stays NumPy views. Each kernel family keeps its methods
in its own section below, in the order of ``csrc/bindings.cpp``.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from fusegrad._ext import _C


def _shape_str(shape: Sequence[int]) -> str:
    """A shape written like (2, 3), as in error messages everywhere."""
    return str(tuple(int(s) for s in shape))


class CPUBackend(_C.ElementwiseKernels):
    """NumPy storage + C++ kernels (see module docstring)."""

    name = "cpu"
    xp = np

    def __init__(self) -> None:
        self.device = "cpu"

    # ==== storage ===========================================================================
    def asarray(self, data: Any, dtype: Any = None) -> np.ndarray:
        return np.asarray(data, dtype=dtype)

    def to_numpy(self, a: np.ndarray) -> np.ndarray:
        return a

    # ==== runtime (owner: kernels) ==========================================================
    # Threads used by every CPU kernel (csrc/cpu/parallel.h); fg.set_num_threads binds these.
    @staticmethod
    def set_num_threads(n: int) -> None:
        """Use at most ``n`` (>= 1) threads in CPU kernels."""
        _C.set_num_threads(int(n))

    @staticmethod
    def get_num_threads() -> int:
        """Threads CPU kernels may use (OMP_NUM_THREADS or all cores by default)."""
        return _C.get_num_threads()

    # ==== elementwise (owner: kernels) ======================================================
    # unary_forward(name, x, a=0.0, b=0.0), unary_backward(name, x, y, gy, a=0.0, b=0.0),
    # binary_forward(name, a, b) and binary_backward(name, a, b, y, gy, need_a, need_b) are
    # methods of the native base class _C.ElementwiseKernels (named here again so the class
    # lists them): each looks the X-list name up, allocates the outputs and runs the kernel in
    # one native call (these run twice per op of every autograd graph, and on small
    # tensors a Python-side np.empty + dispatch cost more than the kernel). The kernels read
    # inputs of any strides and broadcast binary operands themselves: no copies are made.
    # "pow" names pow_scalar (x ** p, p a number) for unary calls and a ** b for binary ones.
    unary_forward = _C.ElementwiseKernels.unary_forward
    unary_backward = _C.ElementwiseKernels.unary_backward
    binary_forward = _C.ElementwiseKernels.binary_forward
    binary_backward = _C.ElementwiseKernels.binary_backward
    _COMPARE = {n: getattr(_C, n) for n in _C.COMPARE_OPS}

    _BROADCAST_CACHE: dict = {}

    @classmethod
    def _broadcast_shape(cls, sa: tuple, sb: tuple) -> tuple:
        """NumPy broadcast shape of two shapes (cached: a model reuses few shape pairs)."""
        key = (sa, sb)
        shape = cls._BROADCAST_CACHE.get(key)
        if shape is None:
            try:
                shape = np.broadcast_shapes(sa, sb)
            except ValueError:
                raise ValueError(
                    f"shape mismatch: shapes {_shape_str(sa)} and {_shape_str(sb)} "
                    "cannot be broadcast together"
                ) from None
            if len(cls._BROADCAST_CACHE) > 4096:
                cls._BROADCAST_CACHE.clear()
            cls._BROADCAST_CACHE[key] = shape
        return shape

    @staticmethod
    def _kernel(table: dict, kind: str, name: str) -> Any:
        try:
            return table[name]
        except KeyError:
            raise ValueError(f"unknown {kind} op {name!r}; known: {sorted(table)}") from None

    def compare(self, name: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        f = self._COMPARE.get(name) or self._kernel(self._COMPARE, "comparison", name)
        shape = a.shape
        if shape != b.shape:
            shape = self._broadcast_shape(shape, b.shape)
        out = np.empty(shape, np.bool_)
        f(a, b, out)
        return out

    # ==== reduce (owner: kernels) ===========================================================
    # Python normalises the axes and permutes kept dims first, reduced dims last (a view);
    # the kernel then reads x in place whatever its strides (csrc/cpu/reduce.h).
    _REDUCE = {n: getattr(_C, "reduce_" + n) for n in _C.REDUCE_OPS}
    _REDUCE_INDEX = {"max": _C.reduce_max_with_index, "min": _C.reduce_min_with_index}

    @staticmethod
    def _axes_plan(x: np.ndarray, axes: Any) -> tuple[np.ndarray, int, tuple, tuple]:
        """(x with kept dims first, #kept, kept shape, keepdim shape) for reducing ``axes``."""
        nd = x.ndim
        if axes is None:
            return x, 0, (), (1,) * nd
        if isinstance(axes, (int, np.integer)):
            axes = (axes,)
        red = []
        for ax in axes:
            ax = int(ax)
            if not (-nd <= ax < max(nd, 1)):
                raise ValueError(
                    f"axis {ax} is out of range for an array of shape {_shape_str(x.shape)}"
                )
            red.append(ax % nd if nd else 0)
        if len(set(red)) != len(red):
            raise ValueError(f"duplicate axes {tuple(axes)} for shape {_shape_str(x.shape)}")
        if nd == 0:  # a 0-d array reduced over dim 0 / -1 (as PyTorch allows) is itself
            return x, 0, (), ()
        red_set = set(red)
        kept = [d for d in range(nd) if d not in red_set]
        perm = kept + sorted(red_set)
        xt = x if perm == list(range(nd)) else x.transpose(perm)
        shape = x.shape
        return (
            xt,
            len(kept),
            tuple(shape[d] for d in kept),
            tuple(1 if d in red_set else shape[d] for d in range(nd)),
        )

    def reduce(self, name: str, x: np.ndarray, axes: Any, keepdim: bool) -> np.ndarray:
        f = self._REDUCE.get(name) or self._kernel(self._REDUCE, "reduction", name)
        if axes is None and not keepdim:  # the common full reduction: no axis bookkeeping
            out = np.empty((), x.dtype)
            f(x, out, 0)
            return out
        xt, nkeep, kept_shape, keep_shape = self._axes_plan(x, axes)
        if x.size == 0 and name in ("max", "min") and 0 in xt.shape[nkeep:]:
            raise ValueError(
                f"{name}(): zero-size reduction over axes {axes} of an array of shape "
                f"{_shape_str(x.shape)} has no identity"
            )
        out = np.empty(kept_shape, x.dtype)
        f(xt, out, nkeep)
        return out.reshape(keep_shape) if keepdim else out

    def reduce_with_index(
        self, name: str, x: np.ndarray, axis: int, keepdim: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        f = self._REDUCE_INDEX.get(name) or self._kernel(self._REDUCE_INDEX, "index reduction", name)
        axis = int(axis)
        nd = x.ndim
        if not (-nd <= axis < max(nd, 1)):
            raise ValueError(
                f"axis {axis} is out of range for an array of shape {_shape_str(x.shape)}"
            )
        if nd == 0:
            return x.copy(), np.zeros((), np.int64)
        axis %= nd
        xt = x if axis == nd - 1 else x.transpose([d for d in range(nd) if d != axis] + [axis])
        values = np.empty(xt.shape[:-1], x.dtype)
        indices = np.empty(xt.shape[:-1], np.int64)
        f(xt, values, indices)
        if keepdim:
            shape = x.shape[:axis] + (1,) + x.shape[axis + 1 :]
            return values.reshape(shape), indices.reshape(shape)
        return values, indices

    def var(self, x: np.ndarray, axes: Any, correction: float, keepdim: bool) -> np.ndarray:
        xt, nkeep, kept_shape, keep_shape = self._axes_plan(x, axes)
        out = np.empty(kept_shape, x.dtype)
        _C.reduce_var(xt, out, nkeep, float(correction))
        return out.reshape(keep_shape) if keepdim else out

    def sum_to_shape(self, g: np.ndarray, shape: Sequence[int]) -> np.ndarray:
        shape = tuple(shape)
        gshape = g.shape
        if gshape == shape:
            return g
        lead = len(gshape) - len(shape)
        if lead < 0 or any(s != 1 and s != gs for s, gs in zip(shape, gshape[lead:])):
            raise ValueError(
                f"sum_to_shape: gradient of shape {_shape_str(gshape)} does not broadcast "
                f"from shape {_shape_str(shape)}"
            )
        axes = list(range(lead))
        axes += [lead + i for i, s in enumerate(shape) if s == 1 and gshape[lead + i] != 1]
        if not axes:  # only size-1 dims that were already 1: a reshape
            return g.reshape(shape)
        return self.reduce("sum", g, axes, False).reshape(shape)

    # ==== matmul (owner: gemm) ==============================================================
    # The GEMM reads operands through their strides (see csrc/cpu/matmul.h), so transposed
    # and sliced views, and broadcast batch dims (stride 0), go to _C without copies.
    @staticmethod
    def _check_gemm_operands(what: str, a: np.ndarray, b: np.ndarray) -> np.dtype:
        for name, t in (("a", a), ("b", b)):
            if not isinstance(t, np.ndarray) or t.dtype not in (np.float32, np.float64):
                got = t.dtype if isinstance(t, np.ndarray) else type(t).__name__
                raise TypeError(f"{what}: {name} must be a float32 or float64 array, got {got}")
        if a.dtype != b.dtype:
            raise TypeError(f"{what}: dtype mismatch: {a.dtype} and {b.dtype}")
        return a.dtype

    def matmul(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        dt = self._check_gemm_operands("matmul", a, b)
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError(f"matmul: operands must be at least 1-D, got shapes "
                             f"{_shape_str(a.shape)} and {_shape_str(b.shape)}")
        # 1-D operands as NumPy: promote to a row (a) / column (b), drop that dim at the end.
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        if a2.shape[-1] != b2.shape[-2]:
            raise ValueError(f"matmul: shapes {_shape_str(a.shape)} and {_shape_str(b.shape)} "
                             f"cannot be multiplied ({a2.shape[-1]} != {b2.shape[-2]})")
        if a2.ndim == 2 and b2.ndim == 2:
            out = np.empty((a2.shape[0], b2.shape[1]), dtype=dt)
            _C.gemm(a2, b2, out)
        else:
            try:
                batch = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
            except ValueError:
                raise ValueError(f"matmul: batch dims of {_shape_str(a.shape)} and "
                                 f"{_shape_str(b.shape)} do not broadcast") from None
            a3 = np.broadcast_to(a2, batch + a2.shape[-2:])
            b3 = np.broadcast_to(b2, batch + b2.shape[-2:])
            out = np.empty(batch + (a2.shape[-2], b2.shape[-1]), dtype=dt)
            _C.gemm_batched(a3, b3, out)
        if b.ndim == 1:
            out = out[..., 0]
        if a.ndim == 1:
            out = out[..., 0, :] if b.ndim != 1 else out[..., 0]
        return out

    def linear_forward(self, x: np.ndarray, w: np.ndarray, b: np.ndarray | None,
                       activation: str | None) -> np.ndarray:
        dt = self._check_gemm_operands("linear_forward", x, w)
        if activation not in (None, "relu"):
            raise ValueError(f"linear_forward: activation must be None or 'relu', "
                             f"got {activation!r}")
        if x.ndim != 2 or w.ndim != 2 or x.shape[1] != w.shape[1]:
            raise ValueError(f"linear_forward: x {_shape_str(x.shape)} and weight "
                             f"{_shape_str(w.shape)} do not match: expected (N, in) and (out, in)")
        if b is not None:
            if not isinstance(b, np.ndarray) or b.dtype != dt:
                raise TypeError(f"linear_forward: bias must be a {dt} array")
            if b.shape != (w.shape[0],):
                raise ValueError(f"linear_forward: bias has shape {_shape_str(b.shape)}, "
                                 f"expected {_shape_str((w.shape[0],))}")
            b = np.ascontiguousarray(b)  # read as vectors in the store step
        out = np.empty((x.shape[0], w.shape[0]), dtype=dt)
        _C.gemm(x, w.T, out, b, activation == "relu")
        return out

    def bias_grad(self, gy: np.ndarray) -> np.ndarray:
        if not isinstance(gy, np.ndarray) or gy.dtype not in (np.float32, np.float64):
            raise TypeError("bias_grad: gy must be a float32 or float64 array")
        if gy.ndim != 2:
            raise ValueError(f"bias_grad: gy must be 2-D, got shape {_shape_str(gy.shape)}")
        out = np.empty((gy.shape[1],), dtype=gy.dtype)
        _C.bias_grad(gy, out)
        return out


    # ==== optim (owner: optim) ==============================================================
    # One _C call per parameter group; _C validates every list entry (dtype, shape, contiguity,
    # writability, aliasing) with messages naming the list and index. See Note [Optimizer
    # pointer table] in csrc/cpu/optim.h.
    @staticmethod
    def _per_param(value: Any, n: int) -> list:
        """A scalar repeated n times, or the given per-parameter sequence as a list."""
        if isinstance(value, (list, tuple)):
            return list(value)
        return [value] * n

    def sgd_step(self, params, grads, momentum_buffers, *, lr, momentum, dampening,
                 weight_decay, nesterov, maximize=False, first_step) -> None:
        _C.sgd_step(params, grads, momentum_buffers, self._per_param(first_step, len(params)),
                    float(lr), float(momentum), float(dampening), float(weight_decay),
                    bool(nesterov), bool(maximize))

    def adam_step(self, params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, *, step, lr,
                  beta1, beta2, eps, weight_decay, amsgrad, decoupled, maximize=False) -> None:
        steps = [float(s) for s in self._per_param(step, len(params))]
        _C.adam_step(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps, float(lr),
                     float(beta1), float(beta2), float(eps), float(weight_decay), bool(amsgrad),
                     bool(decoupled), bool(maximize))

    def rmsprop_step(self, params, grads, square_avgs, grad_avgs, momentum_buffers, *, lr,
                     alpha, eps, weight_decay, momentum, centered, maximize=False) -> None:
        _C.rmsprop_step(params, grads, square_avgs, grad_avgs, momentum_buffers, float(lr),
                        float(alpha), float(eps), float(weight_decay), float(momentum),
                        bool(centered), bool(maximize))

    def adagrad_step(self, params, grads, state_sums, *, step, lr, lr_decay, eps, weight_decay,
                     maximize=False) -> None:
        steps = [float(s) for s in self._per_param(step, len(params))]
        _C.adagrad_step(params, grads, state_sums, steps, float(lr), float(lr_decay),
                        float(eps), float(weight_decay), bool(maximize))

    def adadelta_step(self, params, grads, square_avgs, acc_deltas, *, lr, rho, eps,
                      weight_decay, maximize=False) -> None:
        _C.adadelta_step(params, grads, square_avgs, acc_deltas, float(lr), float(rho),
                         float(eps), float(weight_decay), bool(maximize))

    def grad_norm(self, grads, norm_type) -> np.ndarray:
        return np.asarray(_C.grad_norm(list(grads), float(norm_type)), dtype=np.float64)

    def scale_(self, arrays, factor) -> None:
        _C.scale_(list(arrays), float(factor))

    def clamp_(self, arrays, lo, hi) -> None:
        _C.clamp_(list(arrays), float(lo), float(hi))


    # ==== norm (owner: nn) ==================================================================
    # Helpers of the norm / loss / random sections.
    @staticmethod
    def _contig(a):
        """None stays None; anything else becomes a C-contiguous array (a copy only if needed)."""
        return None if a is None else np.ascontiguousarray(a)

    @staticmethod
    def _labels(labels):
        labels = np.asarray(labels)
        if labels.dtype != np.int64:
            raise TypeError(f"labels: expected int64 class indices, got {labels.dtype}")
        return np.ascontiguousarray(labels).reshape(-1)

    @staticmethod
    def _grad_like(gy, like):
        """Upstream gradient as a contiguous array of like's dtype (a scalar or one per row)."""
        return np.ascontiguousarray(gy, dtype=like.dtype)

    @staticmethod
    def _reduce_loss(loss, loss_sum, weight_sum, reduction):
        """'none': the per-row/element losses; 'sum' / 'mean': a 0-d array of loss's dtype."""
        if reduction == "none":
            return loss
        if reduction == "sum":
            return np.asarray(loss_sum, loss.dtype)
        if reduction == "mean":
            # 0/0 (every row ignored) is NaN, as in PyTorch.
            return np.asarray(loss_sum / weight_sum if weight_sum else float("nan"), loss.dtype)
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")

    @staticmethod
    def _mean_scale(reduction, total):
        """The factor applied to gy: 1/total for 'mean' (inf when total is 0), else 1."""
        if reduction != "mean":
            return 1.0
        total = float(total)
        return 1.0 / total if total else float("inf")

    @staticmethod
    def _dropout_scale(p):
        """Inverted-dropout scale 1/(1-p); 0 for p = 1 (everything dropped)."""
        return 0.0 if p >= 1.0 else 1.0 / (1.0 - float(p))

    # Batch norm over (N, C) or (N, C, L): one fused kernel each way (csrc/cpu/norm.h). Inputs
    # that are not C-contiguous are copied once (the kernels read channels as fixed strides).
    def batch_norm_forward(
        self, x, weight, bias, running_mean, running_var, *, batch_stats, momentum_factor, eps
    ):
        x = np.ascontiguousarray(x)
        c = x.shape[1]
        y = np.empty_like(x)
        save_mean = np.empty(c, x.dtype)
        save_invstd = np.empty(c, x.dtype)
        _C.batch_norm_forward(
            x, self._contig(weight), self._contig(bias), y, save_mean, save_invstd, running_mean,
            running_var, bool(batch_stats), float(momentum_factor), float(eps),
        )
        return y, save_mean, save_invstd

    def batch_norm_backward(
        self, x, gy, weight, save_mean, save_invstd, *, batch_stats, need_input=True,
        need_params=True,
    ):
        x = np.ascontiguousarray(x)
        gy = np.ascontiguousarray(gy, dtype=x.dtype)
        c = x.shape[1]
        gx = np.empty_like(x) if need_input else None
        gw = np.empty(c, x.dtype) if need_params else None
        gb = np.empty(c, x.dtype) if need_params else None
        _C.batch_norm_backward(
            x, gy, self._contig(weight), save_mean, save_invstd, gx, gw, gb, bool(batch_stats)
        )
        return gx, gw, gb


    # ==== loss (owner: nn) ==================================================================
    # Row kernels work on the last axis of C-contiguous arrays; "mean" reductions divide by the
    # total weight returned by the forward (a 0-d array, so a GPU backend needs no host sync).
    def softmax_forward(self, x):
        x = np.ascontiguousarray(x)
        y = np.empty_like(x)
        _C.softmax_forward(x, y)
        return y

    def log_softmax_forward(self, x):
        x = np.ascontiguousarray(x)
        y = np.empty_like(x)
        _C.log_softmax_forward(x, y)
        return y

    def softmax_backward(self, y, gy):
        gy = np.ascontiguousarray(gy, dtype=y.dtype)
        gx = np.empty_like(y)
        _C.softmax_backward(y, gy, gx)
        return gx

    def log_softmax_backward(self, y, gy):
        gy = np.ascontiguousarray(gy, dtype=y.dtype)
        gx = np.empty_like(y)
        _C.log_softmax_backward(y, gy, gx)
        return gx

    def softmax_cross_entropy_forward(
        self, logits, labels, weight, *, ignore_index, label_smoothing, reduction
    ):
        logits = np.ascontiguousarray(logits)
        n = logits.shape[0]
        loss = np.empty(n, logits.dtype)
        lse = np.empty(n, logits.dtype)
        s, ws = _C.softmax_cross_entropy_forward(
            logits, self._labels(labels), self._contig(weight), loss, lse, int(ignore_index),
            float(label_smoothing),
        )
        return self._reduce_loss(loss, s, ws, reduction), lse, np.asarray(ws, logits.dtype)

    def softmax_cross_entropy_backward(
        self, logits, labels, weight, lse, total_weight, gy, *, ignore_index, label_smoothing,
        reduction,
    ):
        logits = np.ascontiguousarray(logits)
        gx = np.empty_like(logits)
        _C.softmax_cross_entropy_backward(
            logits, self._labels(labels), self._contig(weight), lse, self._grad_like(gy, logits), gx,
            int(ignore_index), float(label_smoothing), self._mean_scale(reduction, total_weight),
        )
        return gx

    def nll_loss_forward(self, x, labels, weight, *, ignore_index, reduction):
        x = np.ascontiguousarray(x)
        loss = np.empty(x.shape[0], x.dtype)
        s, ws = _C.nll_loss_forward(x, self._labels(labels), self._contig(weight), loss, int(ignore_index))
        return self._reduce_loss(loss, s, ws, reduction), np.asarray(ws, x.dtype)

    def nll_loss_backward(
        self, labels, weight, total_weight, gy, *, shape, dtype, ignore_index, reduction
    ):
        gx = np.empty(shape, dtype)
        _C.nll_loss_backward(
            self._labels(labels), self._contig(weight), self._grad_like(gy, gx), gx, int(ignore_index),
            self._mean_scale(reduction, total_weight),
        )
        return gx

    def bce_with_logits_forward(self, x, target, pos_weight, *, reduction):
        x = np.ascontiguousarray(x)
        loss = np.empty_like(x)
        s = _C.bce_with_logits_forward(
            x, np.ascontiguousarray(target, x.dtype), self._contig(pos_weight), loss
        )
        return self._reduce_loss(loss, s, float(x.size), reduction)

    def bce_with_logits_backward(self, x, target, pos_weight, gy, *, reduction):
        x = np.ascontiguousarray(x)
        gx = np.empty_like(x)
        _C.bce_with_logits_backward(
            x, np.ascontiguousarray(target, x.dtype), self._contig(pos_weight), self._grad_like(gy, x), gx,
            self._mean_scale(reduction, x.size),
        )
        return gx

    def mse_loss_forward(self, x, target, *, reduction):
        x = np.ascontiguousarray(x)
        loss = np.empty_like(x)
        s = _C.mse_loss_forward(x, np.ascontiguousarray(target, x.dtype), loss)
        return self._reduce_loss(loss, s, float(x.size), reduction)

    def mse_loss_backward(self, x, target, gy, *, reduction, need_target=False):
        x = np.ascontiguousarray(x)
        gx = np.empty_like(x)
        gt = np.empty_like(x) if need_target else None
        _C.mse_loss_backward(
            x, np.ascontiguousarray(target, x.dtype), self._grad_like(gy, x), gx, gt,
            self._mean_scale(reduction, x.size),
        )
        return gx, gt


    # ==== random (owner: nn) ================================================================
    def dropout_forward(self, x, p, seed, offset=0):
        x = np.ascontiguousarray(x)
        y = np.empty_like(x)
        mask = np.empty(x.shape, np.bool_)
        _C.dropout_forward(x, y, mask, float(p), self._dropout_scale(p), int(seed), int(offset))
        return y, mask

    def dropout_backward(self, gy, mask, p):
        gy = np.ascontiguousarray(gy)
        gx = np.empty_like(gy)
        _C.dropout_backward(gy, mask, gx, self._dropout_scale(p))
        return gx
