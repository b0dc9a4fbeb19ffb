"""Fused optimizer steps (one _C call per group) against the plain reference steps, and the
validation of the raw _C optimizer bindings."""

from __future__ import annotations

import numpy as np
import pytest

import fusegrad as fg
from fusegrad import optim
from fusegrad._ext import _C

# Odd sizes: empty, one element, not a multiple of any vector width, and one tensor above the
# parallel threshold (csrc/cpu/optim.h: 32768 elements) so that the flattened range is split
# inside a tensor across threads.
SHAPES = [(0,), (1,), (7,), (3, 5), (1001,), (40_003,)]

CONFIGS = [
    ("sgd", optim.SGD, dict(lr=0.1)),
    ("sgd_momentum", optim.SGD, dict(lr=0.1, momentum=0.9)),
    ("sgd_dampening_wd", optim.SGD, dict(lr=0.1, momentum=0.9, dampening=0.3, weight_decay=0.05)),
    ("sgd_nesterov", optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("sgd_maximize", optim.SGD, dict(lr=0.1, momentum=0.5, maximize=True)),
    ("adam", optim.Adam, dict(lr=0.01)),
    ("adam_wd", optim.Adam, dict(lr=0.01, weight_decay=0.1)),
    ("adam_amsgrad", optim.Adam, dict(lr=0.01, amsgrad=True)),
    ("adam_amsgrad_wd_maximize", optim.Adam,
     dict(lr=0.01, amsgrad=True, weight_decay=0.1, maximize=True)),
    ("adamw", optim.AdamW, dict(lr=0.01)),
    ("adamw_amsgrad", optim.AdamW, dict(lr=0.01, weight_decay=0.3, amsgrad=True)),
    ("rmsprop", optim.RMSprop, dict(lr=0.01)),
    ("rmsprop_centered", optim.RMSprop, dict(lr=0.01, centered=True)),
    ("rmsprop_momentum_wd", optim.RMSprop, dict(lr=0.01, momentum=0.9, weight_decay=0.1)),
    ("rmsprop_all", optim.RMSprop,
     dict(lr=0.01, alpha=0.9, momentum=0.5, centered=True, weight_decay=0.1, maximize=True)),
    ("adagrad", optim.Adagrad, dict(lr=0.1)),
    ("adagrad_all", optim.Adagrad,
     dict(lr=0.1, lr_decay=0.05, weight_decay=0.1, initial_accumulator_value=0.3)),
    ("adadelta", optim.Adadelta, dict()),
    ("adadelta_wd", optim.Adadelta, dict(lr=0.5, rho=0.8, weight_decay=0.1, maximize=True)),
]

# The fused loops are compiled with FMA contraction on x86-64-v3/v4 (a*b+c rounded once), the
# reference is NumPy (rounded twice), so the two differ by a few ulp per operation.
# Momentum buffers sum terms of both signs, so an element near 0 carries the rounding of terms
# as large as the array's largest values: atol scales with max |value| (_close below).
FUSED_TOL = {np.float32: dict(rtol=2e-5, atol=2e-6), np.float64: dict(rtol=1e-11, atol=1e-13)}


def _close(actual, desired, dtype, msg):
    desired = np.asarray(desired)
    scale = max(1.0, float(np.abs(desired).max())) if desired.size else 1.0
    tol = FUSED_TOL[dtype]
    np.testing.assert_allclose(np.asarray(actual), desired, rtol=tol["rtol"],
                               atol=tol["atol"] * scale, err_msg=msg)


def _make_params(dtype, rng):
    return [fg.tensor(rng.standard_normal(s).astype(dtype), requires_grad=True) for s in SHAPES]


def _set_grads(params, rng, step, none_at=()):
    for i, p in enumerate(params):
        if (step, i) in none_at:
            p.grad = None
        else:
            p.grad = fg.tensor(rng.standard_normal(p.shape).astype(p.dtype))


def _run(cls, kwargs, dtype, path, steps=12, none_at=()):
    rng = np.random.default_rng(1)
    params = _make_params(dtype, rng)
    opt = cls(params, **kwargs)
    for t in range(steps):
        _set_grads(params, rng, t, none_at)
        for group in opt.param_groups:
            getattr(opt, path)(group)
    return params, opt


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name,cls,kwargs", CONFIGS, ids=[c[0] for c in CONFIGS])
def test_optim_fused_matches_reference(name, cls, kwargs, dtype):
    # param 2 has no grad on steps 0 and 3: it is skipped and its own step count lags (Adam's
    # bias correction and Adagrad's lr_decay use the per-parameter step, as PyTorch does).
    none_at = {(0, 2), (3, 2), (4, 0), (9, 5)}
    fused, opt_f = _run(cls, kwargs, dtype, "_step_fused", none_at=none_at)
    ref, opt_r = _run(cls, kwargs, dtype, "_step_reference", none_at=none_at)
    for i, (a, b) in enumerate(zip(fused, ref)):
        assert a.dtype == np.dtype(dtype)
        _close(a.numpy(), b.numpy(), dtype, f"{name}: param {i} {a.shape}")
        sa, sb = opt_f.state.get(a, {}), opt_r.state.get(b, {})
        assert sorted(sa) == sorted(sb), f"{name}: state keys of param {i}"
        for key in sa:
            _close(sa[key], sb[key], dtype, f"{name}: {key} of param {i}")


@pytest.mark.parametrize("name,cls,kwargs", CONFIGS, ids=[c[0] for c in CONFIGS])
def test_optim_step_one(name, cls, kwargs):
    """Step 1 alone (Adam's bias correction 1 - beta^1, SGD's undampened first buffer)."""
    fused, _ = _run(cls, kwargs, np.float64, "_step_fused", steps=1)
    ref, _ = _run(cls, kwargs, np.float64, "_step_reference", steps=1)
    for a, b in zip(fused, ref):
        np.testing.assert_allclose(a.numpy(), b.numpy(), **FUSED_TOL[np.float64])


def test_optim_adam_step_one_closed_form():
    """At t = 1, m-hat = g and v-hat = g^2, so Adam moves every element by lr * g/(|g| + eps)."""
    g = np.array([0.5, -2.0, 1e-3, 0.0])
    p = fg.tensor(np.zeros(4), requires_grad=True)
    p.grad = fg.tensor(g)
    optim.Adam([p], lr=0.1, eps=1e-8).step()
    np.testing.assert_allclose(p.numpy(), -0.1 * g / (np.abs(g) + 1e-8), rtol=1e-12, atol=0)


@pytest.mark.parametrize("name,cls,kwargs", CONFIGS, ids=[c[0] for c in CONFIGS])
def test_optim_grad_none_is_skipped(name, cls, kwargs):
    p = fg.tensor(np.arange(4.0), requires_grad=True)
    q = fg.tensor(np.ones(3), requires_grad=True)
    q.grad = fg.tensor(np.full(3, 0.5))
    opt = cls([p, q], **kwargs)
    before = {k: np.array(v) for k, v in opt.state.get(p, {}).items()}
    opt.step()
    np.testing.assert_array_equal(p.numpy(), np.arange(4.0))
    assert not np.array_equal(q.numpy(), np.ones(3))
    after = {k: np.array(v) for k, v in opt.state.get(p, {}).items()}
    assert before.keys() == after.keys()
    for k in before:
        np.testing.assert_array_equal(before[k], after[k])


def test_optim_many_params_one_call(monkeypatch):
    """One _C call per group per step, however many parameters the group has."""
    calls = []
    real = _C.adam_step

    def counting(*args, **kwargs):
        calls.append(len(args[0]))
        return real(*args, **kwargs)

    monkeypatch.setattr(_C, "adam_step", counting)
    rng = np.random.default_rng(0)
    ps = [fg.tensor(rng.standard_normal(n), requires_grad=True) for n in range(1, 40)]
    qs = [fg.tensor(rng.standard_normal(3), requires_grad=True) for _ in range(5)]
    opt = optim.Adam([{"params": ps}, {"params": qs, "lr": 0.1}])
    for p in ps + qs:
        p.grad = fg.tensor(np.ones(p.shape))
    opt.step()
    assert calls == [39, 5]


def test_optim_mixed_dtypes_in_one_group():
    p32 = fg.tensor(np.ones(3, np.float32), requires_grad=True)
    p64 = fg.tensor(np.ones(3, np.float64), requires_grad=True)
    for p in (p32, p64):
        p.grad = fg.tensor(np.full(3, 2.0, dtype=p.dtype))
    optim.SGD([p32, p64], lr=0.5).step()
    assert p32.dtype == np.float32 and p64.dtype == np.float64
    np.testing.assert_array_equal(p32.numpy(), np.zeros(3, np.float32))
    np.testing.assert_array_equal(p64.numpy(), np.zeros(3))


@pytest.mark.parametrize("cls,kwargs,match", [
    (optim.SGD, dict(lr=0.1, nesterov=True), "Nesterov"),
    (optim.SGD, dict(lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "Nesterov"),
    (optim.SGD, dict(lr=-1.0), "learning rate"),
    (optim.Adam, dict(betas=(1.0, 0.999)), "beta"),
    (optim.Adam, dict(eps=-1.0), "epsilon"),
    (optim.RMSprop, dict(alpha=-0.1), "alpha"),
    (optim.Adagrad, dict(lr_decay=-0.1), "lr_decay"),
    (optim.Adadelta, dict(rho=1.5), "rho"),
], ids=["nesterov_no_momentum", "nesterov_dampening", "sgd_lr", "adam_beta", "adam_eps",
        "rmsprop_alpha", "adagrad_lr_decay", "adadelta_rho"])
def test_optim_invalid_hyperparameters(cls, kwargs, match):
    p = fg.tensor(np.ones(2), requires_grad=True)
    with pytest.raises(ValueError, match=match):
        cls([p], **kwargs)


def test_optim_param_list_errors():
    p = fg.tensor(np.ones(2), requires_grad=True)
    with pytest.raises(ValueError, match="empty"):
        optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.SGD([{"params": [p]}, {"params": [p]}], lr=0.1)
    with pytest.raises(TypeError):
        optim.SGD(p, lr=0.1)


def test_optim_zero_grad():
    p = fg.tensor(np.ones(3), requires_grad=True)
    opt = optim.SGD([p], lr=0.1)
    p.grad = fg.tensor(np.ones(3))
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(p.grad.numpy(), np.zeros(3))
    opt.zero_grad()
    assert p.grad is None


# ---- raw kernels ---------------------------------------------------------------------------

def _adam_args(params, grads, m, v):
    return (params, grads, m, v, None, [1.0] * len(params), 1e-3, 0.9, 0.999, 1e-8, 0.0, False,
            False, False)


def test_kernel_adam_shape_mismatch_names_index_and_shapes():
    p = [np.zeros(3), np.zeros((2, 3))]
    g = [np.zeros(3), np.zeros(6)]
    with pytest.raises(ValueError, match=r"grads\[1\].*\(6,\).*params\[1\].*\(2, 3\)"):
        _C.adam_step(*_adam_args(p, g, [np.zeros(3), np.zeros((2, 3))],
                                 [np.zeros(3), np.zeros((2, 3))]))


def test_kernel_adam_dtype_mismatch():
    p = [np.zeros(3, np.float32)]
    with pytest.raises(TypeError, match=r"grads\[0\]"):
        _C.adam_step(*_adam_args(p, [np.zeros(3)], [np.zeros(3, np.float32)],
                                 [np.zeros(3, np.float32)]))
    with pytest.raises(TypeError, match=r"params\[0\]: expected float32 or float64"):
        _C.sgd_step([np.zeros(3, np.int64)], [np.zeros(3, np.int64)], None, [False], 0.1, 0.0,
                    0.0, 0.0, False, False)


def test_kernel_rejects_noncontiguous_readonly_aliased_and_non_arrays():
    base = np.zeros((4, 4))
    g = np.zeros(4)
    with pytest.raises(ValueError, match=r"params\[0\].*contiguous"):
        _C.sgd_step([base[:, 0]], [g], None, [False], 0.1, 0.0, 0.0, 0.0, False, False)
    ro = np.zeros(4)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match=r"params\[0\].*read-only"):
        _C.sgd_step([ro], [g], None, [False], 0.1, 0.0, 0.0, 0.0, False, False)
    p = np.zeros(4)
    with pytest.raises(ValueError, match="same array"):
        _C.adam_step(*_adam_args([p], [g], [p], [np.zeros(4)]))
    with pytest.raises(TypeError, match=r"grads\[0\]: expected a numpy array, got list"):
        _C.sgd_step([p], [[0.0] * 4], None, [False], 0.1, 0.0, 0.0, 0.0, False, False)
    with pytest.raises(ValueError, match="momentum_buffers has 0 arrays but params has 1"):
        _C.sgd_step([p], [g], [], [True], 0.1, 0.9, 0.0, 0.0, False, False)
    with pytest.raises(ValueError, match="steps has 2 values"):
        _C.adagrad_step([p], [g], [np.zeros(4)], [1.0, 2.0], 0.1, 0.0, 1e-10, 0.0, False)


def test_kernel_empty_group_and_empty_tensors():
    _C.adam_step(*_adam_args([], [], [], []))
    p, g = np.zeros(0), np.zeros(0)
    _C.adadelta_step([p], [g], [np.zeros(0)], [np.zeros(0)], 1.0, 0.9, 1e-6, 0.0, False)
    assert _C.grad_norm([], 2.0) == 0.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("norm_type", [1.0, 2.0, 3.5, np.inf], ids=["l1", "l2", "l3.5", "inf"])
def test_kernel_grad_norm(norm_type, dtype):
    rng = np.random.default_rng(3)
    gs = [rng.standard_normal(s).astype(dtype) for s in [(0,), (1,), (13,), (70_001,)]]
    flat = np.concatenate([g.ravel().astype(np.float64) for g in gs])
    expected = np.linalg.norm(flat, ord=norm_type)
    np.testing.assert_allclose(_C.grad_norm(gs, norm_type), expected, rtol=1e-12)


def test_kernel_grad_norm_nan_propagates():
    g = [np.array([1.0, np.nan, 2.0]), np.ones(5)]
    assert np.isnan(_C.grad_norm(g, 2.0))
    assert np.isnan(_C.grad_norm(g, np.inf))


def test_kernel_scale_and_clamp():
    a = [np.arange(5.0), np.arange(70_000, dtype=np.float32) - 35_000]
    ref = [x.copy() for x in a[:1]]
    _C.scale_(a[:1], 0.5)
    np.testing.assert_array_equal(a[0], ref[0] * 0.5)
    _C.clamp_([a[1]], -3.0, 2.5)
    assert a[1].min() == -3.0 and a[1].max() == 2.5


def _adam_f32_case(rng, n):
    """float32 Adam state over a wide range of magnitudes, with the values the vector path of
    csrc/cpu/optim_impl.h (Note [Adam without the divider]) must send to sqrt / divide:
    v = 0, denormal v, v = inf, NaN and inf gradients, |m| near FLT_MAX."""
    g = (rng.standard_normal(n) * 10.0 ** rng.integers(-8, 8, n)).astype(np.float32)
    m = (rng.standard_normal(n) * 10.0 ** rng.integers(-8, 8, n)).astype(np.float32)
    v = (rng.random(n) * 10.0 ** rng.integers(-30, 20, n)).astype(np.float32)
    g[0::97], m[0::97], v[0::97] = 0, 0, 0
    g[1::97], v[1::97] = 0, 1e-41  # denormal second moment
    v[2::389] = np.inf
    g[3::389] = np.nan
    g[4::389] = -np.inf
    m[5::389], v[5::389] = -3e38, 1.0
    return g, m, v


@pytest.mark.parametrize("eps", [1e-8, 0.0], ids=["eps", "eps0"])
@pytest.mark.parametrize("step", [1.0, 30.0], ids=["t1", "t30"])
def test_kernel_adam_f32_matches_float64_formula(step, eps):
    # The param starts at 0, so it receives the update alone; it is compared with PyTorch's
    # formula evaluated in float64 on the kernel's own new m and v: the sqrt and the quotient
    # must be within a few ulp of the correctly rounded ones (an unrefined hardware estimate is
    # off by about 1e-4), and special values must come out as IEEE arithmetic gives them.
    rng = np.random.default_rng(7)
    n = 20_011
    g, m, v = _adam_f32_case(rng, n)
    p = np.zeros(n, np.float32)
    m1, v1 = m.copy(), v.copy()
    lr, beta1, beta2 = 1e-3, 0.9, 0.999
    _C.adam_step([p], [g], [m1], [v1], None, [step], lr, beta1, beta2, eps, 0.0, False, False,
                 False)
    g64, m64, v64 = (a.astype(np.float64) for a in (g, m, v))
    with np.errstate(all="ignore"):
        ref_m = m64 + (1 - beta1) * (g64 - m64)
        ref_v = beta2 * v64 + (1 - beta2) * g64 * g64
        denom = np.sqrt(v1.astype(np.float64)) / np.sqrt(1 - beta2**step) + eps
        ref_p = -(lr / (1 - beta1**step)) * (m1.astype(np.float64) / denom)
        ref_p32 = ref_p.astype(np.float32)
    for name, got, ref in (("m", m1, ref_m), ("v", v1, ref_v), ("p", p, ref_p32)):
        np.testing.assert_array_equal(np.isnan(got), np.isnan(ref), err_msg=name)
        np.testing.assert_array_equal(np.isinf(got), np.isinf(ref), err_msg=name)
    ok = np.isfinite(ref_p32)
    np.testing.assert_allclose(p[ok], ref_p[ok], rtol=1e-6, atol=1e-44)
    ok = np.isfinite(ref_v)
    np.testing.assert_allclose(v1[ok], ref_v[ok], rtol=1e-6, atol=1e-44)
    ok = np.isfinite(ref_m)  # m's two terms may cancel: the error scales with the terms
    assert np.all(np.abs(m1[ok] - ref_m[ok]) <= 1e-6 * (np.abs(m64) + np.abs(g64))[ok] + 1e-44)


def test_kernel_adam_f32_same_bits_for_any_thread_count():
    # Spans start wherever the thread split puts them; each element's result must depend on
    # its own values only (vector lanes, padded tails and special-value lanes alike).
    rng = np.random.default_rng(8)
    g, m, v = _adam_f32_case(rng, 100_003)
    outs = []
    old = fg.get_num_threads()
    try:
        for nt in (1, 2, 3):
            fg.set_num_threads(nt)
            p, m1, v1, x1 = np.zeros_like(g), m.copy(), v.copy(), v.copy()
            _C.adam_step([p], [g], [m1], [v1], [x1], [4.0], 1e-3, 0.9, 0.999, 1e-8, 0.0, True,
                         False, False)
            outs.append((p, m1, v1, x1))
    finally:
        fg.set_num_threads(old)
    for other in outs[1:]:
        for a, b in zip(outs[0], other):
            np.testing.assert_array_equal(a, b)
