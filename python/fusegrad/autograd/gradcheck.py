"""``gradcheck`` (autograd Jacobian vs central differences) and ``grad`` (gradients as values)."""

from __future__ import annotations

import warnings
from typing import Any, Callable, Sequence

import numpy as np

from fusegrad.autograd import grad_mode
from fusegrad.autograd.graph import run_backward
from fusegrad.autograd.tensor import Tensor


class GradcheckError(RuntimeError):
    """Raised by ``gradcheck`` when an analytic and a numerical derivative disagree."""


def _as_tuple(x: Any) -> tuple:
    if isinstance(x, Tensor):
        return (x,)
    return tuple(x)


def grad(
    outputs: Any,
    inputs: Any,
    grad_outputs: Any = None,
    retain_graph: bool | None = None,
    allow_unused: bool = False,
) -> tuple:
    """Gradients of ``outputs`` w.r.t. ``inputs`` as a tuple, without touching ``.grad``.

    Args:
        outputs: a Tensor or sequence of Tensors.
        inputs: a Tensor or sequence of Tensors that require grad.
        grad_outputs: one gradient per output (None means ones, for scalar outputs only).
        retain_graph: keep the graph for another backward (default False).
        allow_unused: return None for an input the outputs do not depend on instead of raising.
    Raises:
        RuntimeError: a non-scalar output without grad_output, an unused input, an output
            that does not require grad.
    """
    outs, ins = _as_tuple(outputs), _as_tuple(inputs)
    if grad_outputs is None:
        gos = (None,) * len(outs)
    else:
        gos = _as_tuple(grad_outputs) if not isinstance(grad_outputs, Tensor) else (grad_outputs,)
    if len(gos) != len(outs):
        raise RuntimeError(f"grad: got {len(gos)} grad_outputs for {len(outs)} outputs")
    root_grads = []
    for o, g in zip(outs, gos):
        if not o.requires_grad:
            raise RuntimeError("grad: an output does not require grad and does not have a grad_fn")
        if g is None:
            if o.numel() != 1:
                raise RuntimeError(
                    f"grad can be implicitly created only for scalar outputs; got shape {o.shape}"
                )
            root_grads.append(o._backend.xp.ones(o.shape, dtype=o.dtype))
        else:
            root_grads.append(g._data if isinstance(g, Tensor) else o._backend.asarray(g, o.dtype))
    for t in ins:
        if not t.requires_grad:
            raise RuntimeError("grad: one of the inputs does not require grad")
    captured = run_backward(list(outs), root_grads, retain_graph=bool(retain_graph), capture=ins)
    result = []
    for t, g in zip(ins, captured):
        if g is None:
            if not allow_unused:
                raise RuntimeError(
                    "One of the differentiated Tensors appears to not have been used in the "
                    "graph. Set allow_unused=True if this is the desired behavior."
                )
            result.append(None)
        else:
            if g.shape != t.shape:
                g = t._backend.sum_to_shape(g, t.shape)
            result.append(Tensor._make(g, t.device))
    return tuple(result)


def gradcheck(
    fn: Callable[..., Any],
    inputs: Any,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
) -> bool:
    """Compare the full Jacobian from autograd with central differences for every input.

    ``fn(*inputs)`` returns a Tensor or tuple of Tensors. For each input that requires grad,
    and each output element, the analytic derivative must satisfy
    ``|analytic - numerical| <= atol + rtol * |numerical|``, the numerical one being
    ``(f(x + eps) - f(x - eps)) / (2 eps)``. Inputs should be float64 (float32 warns).

    Returns:
        True when every derivative agrees; False on a mismatch if ``raise_exception=False``.
    Raises:
        GradcheckError: on a mismatch, naming the input, the element, the output element,
            and the analytic and numerical values.
    """
    ins = _as_tuple(inputs)
    diff = [i for i, t in enumerate(ins) if isinstance(t, Tensor) and t.requires_grad]
    for i in diff:
        if ins[i].dtype != np.float64:
            warnings.warn(
                f"gradcheck: input {i} is {ins[i].dtype}, not float64; the check may fail from "
                "rounding alone",
                UserWarning,
                stacklevel=2,
            )

    def run() -> list:
        out = fn(*ins)
        return list(_as_tuple(out))

    outs = run()
    out_arrays = [o.numpy().astype(np.float64).ravel() for o in outs]
    for i in diff:
        x = ins[i]
        n_in = x.numel()
        # Numerical Jacobian: columns = input elements (perturbed in place, then restored).
        num = [np.zeros((o.size, n_in)) for o in out_arrays]
        if not x._data.flags.c_contiguous:
            raise ValueError(f"gradcheck: input {i} must be contiguous (shape {x.shape})")
        flat = x._data.reshape(-1)  # a view of x's storage: perturbations reach fn
        with grad_mode.no_grad():
            for j in range(n_in):
                orig = flat[j].item()
                flat[j] = orig + eps
                plus = [o.numpy().astype(np.float64).ravel() for o in run()]
                flat[j] = orig - eps
                minus = [o.numpy().astype(np.float64).ravel() for o in run()]
                flat[j] = orig
                for k in range(len(outs)):
                    num[k][:, j] = (plus[k] - minus[k]) / (2 * eps)
        # Analytic Jacobian: one backward per output element, gradients captured.
        for k, o in enumerate(outs):
            ana = np.zeros((o.numel(), n_in))
            if o.requires_grad:
                for r in range(o.numel()):
                    seed = np.zeros(o.numel(), dtype=o.dtype)
                    seed[r] = 1
                    fresh = run()[k]  # a fresh graph per row keeps retain_graph out of the way
                    (g,) = grad(fresh, x, grad_outputs=Tensor._make(
                        o._backend.asarray(seed.reshape(o.shape)), o.device), allow_unused=True)
                    if g is not None:
                        ana[r] = g.numpy().astype(np.float64).ravel()
            bad = np.abs(ana - num[k]) > atol + rtol * np.abs(num[k])
            if bad.any():
                r, j = np.argwhere(bad)[0]
                out_el = tuple(int(v) for v in np.unravel_index(r, o.shape))
                in_el = tuple(int(v) for v in np.unravel_index(j, x.shape))
                msg = (
                    f"Jacobian mismatch for output {k} element {out_el} with respect to input "
                    f"{i} element {in_el}: analytic {float(ana[r, j])!r}, numerical "
                    f"{float(num[k][r, j])!r}"
                )
                if raise_exception:
                    raise GradcheckError(msg)
                return False
    return True
