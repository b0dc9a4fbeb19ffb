"""Every CUDA backend method against the CPU backend on the same inputs.

Runs twice: on a real device (``cuda``, skipped without one) and on the CPU emulation of the
CUDA kernels (``emulated``: csrc/cuda/*.cu compiled against tests/backend/cuda_emu.h, slow,
needs g++), so the kernels' logic is checked on machines without a GPU too. The emulated run
caps grids at 3 blocks so grid-stride loops take several turns.

Shapes include size-1 broadcasting, a scalar operand, non-contiguous views (transposes,
slices) and sizes larger than one block. Tolerances: PARITY_TOL (float32 rtol 1e-5, float64
1e-12), atol scaled with the number of summed terms for reductions and matmul.
"""

from __future__ import annotations

import numpy as np
import pytest

from fusegrad.backend import cuda as cb
from fusegrad.backend import get_backend
from tests.helpers import PARITY_TOL, tol


@pytest.fixture(scope="module")
def cpu():
    return get_backend("cpu")


@pytest.fixture(scope="module")
def emulator():
    from tests.backend.cuda_fake import Emulator

    try:
        return Emulator()
    except Exception as e:  # no compiler, or a build failure worth seeing in the skip reason
        pytest.skip(f"CUDA emulation unavailable: {e.__class__.__name__}: {e}")


@pytest.fixture(params=[pytest.param("cuda", marks=pytest.mark.gpu),
                        pytest.param("emulated", marks=pytest.mark.slow)])
def gpu(request, monkeypatch):
    if request.param == "cuda":
        return get_backend("cuda")
    from tests.backend.cuda_fake import emulated_backend

    # Small grids and blocks: grid-stride loops take several turns, and fewer CPU threads.
    monkeypatch.setattr(cb, "MAX_GRID", 3)
    monkeypatch.setattr(cb, "BLOCK", 64)
    monkeypatch.setattr(cb, "ROW_BLOCK", 64)
    monkeypatch.setattr(cb, "SPLIT_ROW", 500)  # two-stage reductions at emulation sizes
    monkeypatch.setattr(cb, "SPLIT_CHUNK", 150)
    return emulated_backend(request.getfixturevalue("emulator"))


def close(got, want, dtype, n_terms: int = 1, what: str = "") -> None:
    got = got.get() if hasattr(got, "get") else np.asarray(got)
    want = np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype} != {want.dtype}"
    np.testing.assert_allclose(got, want, **tol(dtype, PARITY_TOL, n_terms), err_msg=what)


UNARY = {  # name -> (low, high, a, b)
    "neg": (-3, 3, 0, 0), "exp": (-5, 5, 0, 0), "log": (0.1, 5, 0, 0), "sqrt": (0.1, 5, 0, 0),
    "abs": (-3, 3, 0, 0), "tanh": (-4, 4, 0, 0), "sigmoid": (-30, 30, 0, 0),
    "relu": (-3, 3, 0, 0), "leaky_relu": (-3, 3, 0.1, 0), "clamp": (-3, 3, -1.0, 0.5),
    "pow_scalar": (0.1, 3, 2.5, 0), "pow": (0.1, 3, -1.5, 0),
}
SHAPES = [(), (7,), (3, 5), (2, 3, 70), (1031,), (300, 257)]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name", list(UNARY))
def test_unary_forward_backward(cpu, gpu, name, shape, dtype, rng):
    lo, hi, a, b = UNARY[name]
    x = rng.uniform(lo, hi, shape).astype(dtype)
    gy = rng.standard_normal(shape).astype(dtype)
    y = cpu.unary_forward(name, x, a, b)
    yg = gpu.unary_forward(name, gpu.asarray(x), a, b)
    close(yg, y, dtype, what=f"{name} forward")
    gx = cpu.unary_backward(name, x, y, gy, a, b)
    gxg = gpu.unary_backward(name, gpu.asarray(x), yg, gpu.asarray(gy), a, b)
    close(gxg, gx, dtype, what=f"{name} backward")


def test_unary_on_a_transposed_view(cpu, gpu, dtype, rng):
    x = rng.standard_normal((33, 17)).astype(dtype)
    close(gpu.unary_forward("tanh", gpu.asarray(x).T), cpu.unary_forward("tanh", x.T), dtype)


BINARY_SHAPES = [((3, 4), (3, 4)), ((3, 4), (4,)), ((5, 1, 4), (3, 1)), ((), (2, 3)),
                 ((300, 257), (257,)), ((2, 1, 3, 1, 2), (1, 4, 1, 5, 1))]


@pytest.mark.parametrize(("sa", "sb"), BINARY_SHAPES, ids=str)
@pytest.mark.parametrize("name", ["add", "sub", "mul", "div", "pow", "maximum", "minimum"])
def test_binary_forward_backward(cpu, gpu, name, sa, sb, dtype, rng):
    a = rng.uniform(0.5, 2.0, sa).astype(dtype)
    b = rng.uniform(0.5, 2.0, sb).astype(dtype)
    if name in ("maximum", "minimum") and a.size > 1:
        a.flat[0] = 1.0  # a tie, where the gradient is split
        b.flat[0] = 1.0
    y = cpu.binary_forward(name, a, b)
    yg = gpu.binary_forward(name, gpu.asarray(a), gpu.asarray(b))
    close(yg, y, dtype, what=f"{name} forward")
    gy = rng.standard_normal(y.shape).astype(dtype)
    ga, gb = cpu.binary_backward(name, a, b, y, gy, True, True)
    gag, gbg = gpu.binary_backward(name, gpu.asarray(a), gpu.asarray(b), yg, gpu.asarray(gy),
                                   True, True)
    close(gag, ga, dtype, what=f"{name} ga")
    close(gbg, gb, dtype, what=f"{name} gb")
    ga_only, none = gpu.binary_backward(name, gpu.asarray(a), gpu.asarray(b), yg,
                                        gpu.asarray(gy), True, False)
    assert none is None
    close(ga_only, ga, dtype, what=f"{name} ga alone")


def test_binary_on_sliced_views(cpu, gpu, dtype, rng):
    a = rng.standard_normal((40, 30)).astype(dtype)
    b = rng.standard_normal((30, 40)).astype(dtype)
    ag, bg = gpu.asarray(a), gpu.asarray(b)
    close(gpu.binary_forward("mul", ag[::2, 1:], bg.T[::2, 1:]),
          cpu.binary_forward("mul", a[::2, 1:], b.T[::2, 1:]), dtype)


@pytest.mark.parametrize("name", ["eq", "ne", "lt", "le", "gt", "ge"])
def test_compare(cpu, gpu, name, dtype):
    a = np.array([[1.0, np.nan, 2.0], [3.0, -1.0, 0.0]], dtype)
    b = np.array([1.0, 1.0, np.nan], dtype)
    got = gpu.compare(name, gpu.asarray(a), gpu.asarray(b)).get()
    np.testing.assert_array_equal(got, cpu.compare(name, a, b))


REDUCE_CASES = [((7,), None), ((3, 5), (1,)), ((3, 5), (0,)), ((4, 5, 6), (0, 2)),
                ((4, 5, 6), (1,)), ((2, 3, 4, 5), (1, 2)), ((1000, 3), (0,)), ((3, 1000), (1,)),
                ((5000,), None), ((2, 3), ()), ((2, 70000), (1,))]


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize(("shape", "axes"), REDUCE_CASES, ids=str)
@pytest.mark.parametrize("name", ["sum", "mean", "max", "min"])
def test_reduce(cpu, gpu, name, shape, axes, keepdim, dtype, rng):
    x = rng.standard_normal(shape).astype(dtype)
    n = int(np.prod([shape[a] for a in (axes if axes is not None else range(len(shape)))]))
    close(gpu.reduce(name, gpu.asarray(x), axes, keepdim), cpu.reduce(name, x, axes, keepdim),
          dtype, n_terms=n, what=f"{name} {shape} {axes}")


def test_reduce_max_propagates_nan(gpu):
    x = np.array([[1.0, np.nan, 3.0], [1.0, 2.0, 3.0]], np.float32)
    got = gpu.reduce("max", gpu.asarray(x), (1,), False).get()
    assert np.isnan(got[0]) and got[1] == 3.0


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize(("shape", "axis"), [((7,), 0), ((3, 5), 1), ((3, 5), 0),
                                             ((4, 300, 2), 1)], ids=str)
@pytest.mark.parametrize("name", ["max", "min"])
def test_reduce_with_index(cpu, gpu, name, shape, axis, keepdim, dtype, rng):
    x = rng.integers(-3, 3, shape).astype(dtype)  # many ties: the first index must win
    v, i = cpu.reduce_with_index(name, x, axis, keepdim)
    vg, ig = gpu.reduce_with_index(name, gpu.asarray(x), axis, keepdim)
    close(vg, v, dtype)
    np.testing.assert_array_equal(ig.get(), i)


def test_argmax_first_nan_wins(gpu):
    x = np.array([1.0, np.nan, 5.0, np.nan], np.float64)
    _, i = gpu.reduce_with_index("max", gpu.asarray(x), 0, False)
    assert int(i.get()) == 1


@pytest.mark.parametrize("correction", [0, 1])
@pytest.mark.parametrize(("shape", "axes"), [((7,), None), ((3, 50), (1,)), ((4, 5, 6), (0, 2))],
                         ids=str)
def test_var(cpu, gpu, shape, axes, correction, dtype, rng):
    x = (rng.standard_normal(shape) + 100.0).astype(dtype)  # |mean| >> std
    n = int(np.prod([shape[a] for a in (axes if axes is not None else range(len(shape)))]))
    close(gpu.var(gpu.asarray(x), axes, correction, False), cpu.var(x, axes, correction, False),
          dtype, n_terms=n)


@pytest.mark.parametrize(("gshape", "shape"), [((4, 3), (3,)), ((4, 3), (4, 1)), ((2, 4, 3), (1, 3)),
                                               ((5,), ())], ids=str)
def test_sum_to_shape(cpu, gpu, gshape, shape, dtype, rng):
    g = rng.standard_normal(gshape).astype(dtype)
    close(gpu.sum_to_shape(gpu.asarray(g), shape), cpu.sum_to_shape(g, shape), dtype,
          n_terms=int(np.prod(gshape)))


@pytest.mark.parametrize(("sa", "sb"), [((5, 7), (7, 3)), ((2, 5, 7), (7, 3)), ((7,), (7, 3)),
                                        ((128, 784), (784, 512))], ids=str)
def test_matmul(cpu, gpu, sa, sb, dtype, rng):
    a = rng.standard_normal(sa).astype(dtype)
    b = rng.standard_normal(sb).astype(dtype)
    close(gpu.matmul(gpu.asarray(a), gpu.asarray(b)), cpu.matmul(a, b), dtype, n_terms=sa[-1])


@pytest.mark.parametrize("activation", [None, "relu"])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_forward_and_bias_grad(cpu, gpu, activation, bias, dtype, rng):
    x = rng.standard_normal((130, 70)).astype(dtype)
    w = rng.standard_normal((33, 70)).astype(dtype)
    b = rng.standard_normal(33).astype(dtype) if bias else None
    y = cpu.linear_forward(x, w, b, activation)
    yg = gpu.linear_forward(gpu.asarray(x), gpu.asarray(w), None if b is None else gpu.asarray(b),
                            activation)
    close(yg, y, dtype, n_terms=70)
    gy = rng.standard_normal((130, 33)).astype(dtype)
    close(gpu.bias_grad(gpu.asarray(gy)), cpu.bias_grad(gy), dtype, n_terms=130)


# ---- optimizers: several steps on a group of odd-sized tensors ---------------------------------
SIZES = [(3, 5), (7,), (1,), (0,), (300, 257)]


def _group(rng, dtype, k):
    return [[rng.standard_normal(s).astype(dtype) for s in SIZES] for _ in range(k)]


OPTIMS = {
    "sgd": (3, dict(lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01, nesterov=True)),
    "sgd_plain": (3, dict(lr=0.1, momentum=0.0, dampening=0.0, weight_decay=0.0,
                          nesterov=False)),
    "adam": (5, dict(lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01,
                     amsgrad=False, decoupled=False)),
    "adamw_amsgrad": (5, dict(lr=1e-2, beta1=0.8, beta2=0.99, eps=1e-6, weight_decay=0.1,
                              amsgrad=True, decoupled=True, maximize=True)),
    "rmsprop": (5, dict(lr=1e-2, alpha=0.9, eps=1e-8, weight_decay=0.01, momentum=0.5,
                        centered=True)),
    "adagrad": (3, dict(lr=0.1, lr_decay=0.01, eps=1e-10, weight_decay=0.0)),
    "adadelta": (4, dict(lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.01)),
}


def _step(be, kind, lists, step, hp):
    if kind.startswith("sgd"):
        p, g, buf = lists
        be.sgd_step(p, g, buf, first_step=step == 1, **hp)
    elif kind.startswith("adam"):
        p, g, m, v, vmax = lists
        be.adam_step(p, g, m, v, vmax, step=[float(step)] * len(p), **hp)
    elif kind == "rmsprop":
        p, g, sq, ga, buf = lists
        be.rmsprop_step(p, g, sq, ga, buf, **hp)
    elif kind == "adagrad":
        p, g, s = lists
        be.adagrad_step(p, g, s, step=step, **hp)
    else:
        p, g, sq, acc = lists
        be.adadelta_step(p, g, sq, acc, **hp)


@pytest.mark.parametrize("kind", list(OPTIMS))
def test_optimizer_steps(cpu, gpu, kind, dtype, rng):
    nlists, hp = OPTIMS[kind]
    host = _group(rng, dtype, nlists)
    for lst in host[2:]:  # state starts non-negative where it is a sum of squares
        for a in lst:
            np.abs(a, out=a)
    if kind == "rmsprop":  # keep sq - ga^2 well away from 0: its cancellation would amplify
        for sq, ga in zip(host[2], host[3]):  # FMA-vs-not rounding beyond any parity tolerance
            sq += 1.0
            ga *= 0.1
    dev = [[gpu.asarray(a) for a in lst] for lst in host]
    for step in range(1, 4):
        _step(cpu, kind, host, step, hp)
        _step(gpu, kind, dev, step, hp)
    for lst_h, lst_d in zip(host, dev):
        for a, b in zip(lst_h, lst_d):
            close(b, a, dtype, what=kind)


@pytest.mark.parametrize("norm_type", [1.0, 2.0, 3.0, float("inf")])
def test_grad_norm_scale_clamp(cpu, gpu, norm_type, dtype, rng):
    grads = [rng.standard_normal(s).astype(dtype) for s in SIZES]
    dev = [gpu.asarray(g) for g in grads]
    n = sum(g.size for g in grads)
    close(gpu.grad_norm(dev, norm_type), cpu.grad_norm(grads, norm_type), np.float64, n_terms=n)
    cpu.scale_(grads, 0.5)
    gpu.scale_(dev, gpu.asarray(np.float64(0.5)))
    cpu.clamp_(grads, -0.3, 0.2)
    gpu.clamp_(dev, -0.3, 0.2)
    for a, b in zip(grads, dev):
        close(b, a, dtype)


# ---- norm / loss / random ----------------------------------------------------------------------
@pytest.mark.parametrize("batch_stats", [True, False])
@pytest.mark.parametrize("shape", [(128, 512), (16, 3, 50), (1, 4), (700, 3)], ids=str)
def test_batch_norm(cpu, gpu, shape, batch_stats, dtype, rng):
    x = (rng.standard_normal(shape) * 3 + 50).astype(dtype)  # |mean| >> std
    c = shape[1]
    w, b = rng.uniform(0.5, 2, c).astype(dtype), rng.standard_normal(c).astype(dtype)
    rm, rv = rng.standard_normal(c).astype(dtype), rng.uniform(0.5, 2, c).astype(dtype)
    rm_g, rv_g = gpu.asarray(rm), gpu.asarray(rv)
    kw = dict(batch_stats=batch_stats, momentum_factor=0.1, eps=1e-5)
    y, m, s = cpu.batch_norm_forward(x, w, b, rm, rv, **kw)
    yg, mg, sg = gpu.batch_norm_forward(gpu.asarray(x), gpu.asarray(w), gpu.asarray(b), rm_g,
                                        rv_g, **kw)
    n = x.size // c
    for got, want in ((yg, y), (mg, m), (sg, s), (rm_g, rm), (rv_g, rv)):
        close(got, want, dtype, n_terms=n, what="batch_norm forward")
    gy = rng.standard_normal(shape).astype(dtype)
    want = cpu.batch_norm_backward(x, gy, w, m, s, batch_stats=batch_stats)
    got = gpu.batch_norm_backward(gpu.asarray(x), gpu.asarray(gy), gpu.asarray(w), mg, sg,
                                  batch_stats=batch_stats)
    for g, e in zip(got, want):
        close(g, e, dtype, n_terms=n, what="batch_norm backward")


@pytest.mark.parametrize("shape", [(128, 10), (3, 1000), (2, 3, 7)], ids=str)
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax(cpu, gpu, name, shape, dtype, rng):
    x = (rng.standard_normal(shape) * 10).astype(dtype)
    gy = rng.standard_normal(shape).astype(dtype)
    y = getattr(cpu, f"{name}_forward")(x)
    yg = getattr(gpu, f"{name}_forward")(gpu.asarray(x))
    close(yg, y, dtype, n_terms=shape[-1])
    close(getattr(gpu, f"{name}_backward")(yg, gpu.asarray(gy)),
          getattr(cpu, f"{name}_backward")(y, gy), dtype, n_terms=shape[-1])


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_softmax_cross_entropy(cpu, gpu, reduction, smoothing, weighted, dtype, rng):
    n, c = 130, 10
    z = (rng.standard_normal((n, c)) * 5).astype(dtype)
    z[0, 0] = 1e4  # extreme logits stay finite
    labels = rng.integers(0, c, n).astype(np.int64)
    labels[3] = -100
    w = rng.uniform(0.5, 2, c).astype(dtype) if weighted else None
    kw = dict(ignore_index=-100, label_smoothing=smoothing, reduction=reduction)
    loss, lse, tw = cpu.softmax_cross_entropy_forward(z, labels, w, **kw)
    zg, lg = gpu.asarray(z), gpu.asarray(labels)
    wg = None if w is None else gpu.asarray(w)
    loss_g, lse_g, tw_g = gpu.softmax_cross_entropy_forward(zg, lg, wg, **kw)
    close(loss_g, loss, dtype, n_terms=n * c, what="loss")
    close(lse_g, lse, dtype, n_terms=c, what="lse")
    close(tw_g, tw, dtype, n_terms=n, what="total weight")
    gy = rng.standard_normal(n).astype(dtype) if reduction == "none" else np.asarray(1.5, dtype)
    gx = cpu.softmax_cross_entropy_backward(z, labels, w, lse, tw, gy, **kw)
    gx_g = gpu.softmax_cross_entropy_backward(zg, lg, wg, lse_g, tw_g, gpu.asarray(gy), **kw)
    close(gx_g, gx, dtype, n_terms=c, what="grad")


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nll_bce_mse(cpu, gpu, reduction, dtype, rng):
    x = rng.standard_normal((40, 7)).astype(dtype)
    labels = rng.integers(0, 7, 40).astype(np.int64)
    t = rng.uniform(0, 1, (40, 7)).astype(dtype)
    q = rng.uniform(0.5, 2, (40, 7)).astype(dtype)
    xg, lg, tg, qg = (gpu.asarray(a) for a in (x, labels, t, q))
    loss, tw = cpu.nll_loss_forward(x, labels, None, ignore_index=-100, reduction=reduction)
    loss_g, tw_g = gpu.nll_loss_forward(xg, lg, None, ignore_index=-100, reduction=reduction)
    close(loss_g, loss, dtype, n_terms=40)
    gy = np.ones(40, dtype) if reduction == "none" else np.asarray(0.5, dtype)
    close(gpu.nll_loss_backward(lg, None, tw_g, gpu.asarray(gy), shape=(40, 7), dtype=dtype,
                                ignore_index=-100, reduction=reduction),
          cpu.nll_loss_backward(labels, None, tw, gy, shape=(40, 7), dtype=dtype,
                                ignore_index=-100, reduction=reduction), dtype)
    gy2 = np.ones((40, 7), dtype) if reduction == "none" else np.asarray(0.5, dtype)
    close(gpu.bce_with_logits_forward(xg, tg, qg, reduction=reduction),
          cpu.bce_with_logits_forward(x, t, q, reduction=reduction), dtype, n_terms=280)
    close(gpu.bce_with_logits_backward(xg, tg, qg, gpu.asarray(gy2), reduction=reduction),
          cpu.bce_with_logits_backward(x, t, q, gy2, reduction=reduction), dtype)
    close(gpu.mse_loss_forward(xg, tg, reduction=reduction),
          cpu.mse_loss_forward(x, t, reduction=reduction), dtype, n_terms=280)
    for g, e in zip(gpu.mse_loss_backward(xg, tg, gpu.asarray(gy2), reduction=reduction,
                                          need_target=True),
                    cpu.mse_loss_backward(x, t, gy2, reduction=reduction, need_target=True)):
        close(g, e, dtype)


@pytest.mark.parametrize("p", [0.0, 0.3, 1.0])
@pytest.mark.parametrize("n", [1, 7, 1001])
def test_dropout_mask_matches_cpu_bit_for_bit(cpu, gpu, n, p, dtype, rng):
    x = rng.standard_normal(n).astype(dtype)
    y, mask = cpu.dropout_forward(x, p, seed=1234, offset=56)
    yg, mask_g = gpu.dropout_forward(gpu.asarray(x), p, seed=1234, offset=56)
    np.testing.assert_array_equal(mask_g.get(), mask)
    close(yg, y, dtype)
    gy = rng.standard_normal(n).astype(dtype)
    close(gpu.dropout_backward(gpu.asarray(gy), mask_g, p), cpu.dropout_backward(gy, mask, p),
          dtype)


# ---- through autograd: a small training loop on both devices -----------------------------------
@pytest.mark.gpu
def test_tensor_moves_and_training_step_matches_cpu(rng):
    import fusegrad as fg

    x = rng.standard_normal((32, 8)).astype(np.float64)
    w = rng.standard_normal((8, 3)).astype(np.float64)
    results = []
    for device in ("cpu", "cuda"):
        wt = fg.tensor(w, device=device, requires_grad=True)
        xt = fg.tensor(x, device=device)
        loss = ((xt @ wt).tanh() ** 2).mean()
        loss.backward()
        results.append((loss.cpu().numpy(), wt.grad.cpu().numpy()))
    for a, b in zip(*results):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12)
