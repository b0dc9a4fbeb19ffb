"""fusegrad.analysis: hessian, hvp, lanczos, critical_point, escape."""

from __future__ import annotations

import numpy as np
import pytest

import fusegrad as fg
from fusegrad.analysis import critical_point, escape, hessian, hvp, lanczos

# Richardson-extrapolated central differences in float64 agree with exact Hessians to about
# 1e-10 relative (see Note [Hessian by differences of gradients]); the bounds below leave
# two orders of magnitude for rounding in the gradients.
FD_RTOL, FD_ATOL = 1e-7, 1e-8


def _scalars(*values: float, dtype: np.dtype = fg.float64) -> list:
    return [fg.tensor(v, dtype=dtype, requires_grad=True) for v in values]


def _worked_example(w1: float, w2: float, layout: str) -> tuple:
    """L = (1 - w1·w2)² with params as two 0-d tensors or one vector of two."""
    if layout == "scalars":
        a, b = _scalars(w1, w2)
        return (lambda: (1 - a * b) ** 2), [a, b]
    w = fg.tensor([w1, w2], dtype=fg.float64, requires_grad=True)
    return (lambda: ((1 - w[:1] * w[1:]) ** 2).sum()), [w]


LAYOUTS = pytest.mark.parametrize("layout", ["scalars", "vector"])


def _mlp(sizes: tuple, n_samples: int, seed: int, dtype: np.dtype = fg.float64,
         loss: str = "mse") -> tuple:
    """A tanh MLP written with Tensor ops (x @ W + b), its loss closure and its params."""
    rng = np.random.default_rng(seed)
    x = fg.tensor(rng.standard_normal((n_samples, sizes[0])), dtype=dtype)
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        params.append(fg.tensor(rng.standard_normal((fan_in, fan_out)) / np.sqrt(fan_in),
                                dtype=dtype, requires_grad=True))
        params.append(fg.tensor(0.1 * rng.standard_normal(fan_out), dtype=dtype,
                                requires_grad=True))
    if loss == "mse":
        target = fg.tensor(rng.standard_normal((n_samples, sizes[-1])), dtype=dtype)
    else:
        labels = rng.integers(0, sizes[-1], n_samples)
        target = fg.tensor(np.eye(sizes[-1])[labels], dtype=dtype)

    def forward() -> fg.Tensor:
        h = x
        for i in range(0, len(params), 2):
            h = h @ params[i] + params[i + 1]
            if i + 2 < len(params):
                h = h.tanh()
        return h

    def fn() -> fg.Tensor:
        out = forward()
        if loss == "mse":
            return ((out - target) ** 2).sum() / out.numel()
        m = fg.tensor(out.numpy().max(axis=1, keepdims=True))  # a constant shift for stability
        row_sum = (out - m).exp() @ fg.ones(sizes[-1], 1, dtype=dtype)
        logp = out - m - row_sum.log()
        return -(logp * target).sum() / n_samples

    return fn, params, x, target


# ---- the worked example L = (1 - w1·w2)² -----------------------------------------------------
@LAYOUTS
def test_hessian_worked_example_origin(layout: str) -> None:
    fn, params = _worked_example(0.0, 0.0, layout)
    np.testing.assert_allclose(hessian(fn, params), [[0.0, -2.0], [-2.0, 0.0]], atol=1e-6)


@LAYOUTS
def test_critical_point_worked_example_origin_is_saddle(layout: str) -> None:
    fn, params = _worked_example(0.0, 0.0, layout)
    cp = critical_point(fn, params)
    assert cp.gradient_norm <= 1e-12
    np.testing.assert_allclose(cp.eigenvalues, [-2.0, 2.0], atol=1e-6)
    assert cp.kind == "saddle"
    assert cp.min_ratio == 0.5
    assert abs(abs(cp.escape_direction @ (np.ones(2) / np.sqrt(2))) - 1) <= 1e-6


@LAYOUTS
def test_escape_worked_example_lowers_loss(layout: str) -> None:
    fn, params = _worked_example(0.0, 0.0, layout)
    step = 0.1
    res = escape(fn, params, step=step)
    w = step / np.sqrt(2)  # the step along ±[1, 1]/√2 puts w1 = w2 = ±w
    assert res.loss_before == 1.0
    assert res.loss_after == pytest.approx((1 - w * w) ** 2, abs=1e-12)
    assert res.decreased
    assert res.eigenvalue == pytest.approx(-2.0, abs=1e-6)
    assert res.predicted_change == pytest.approx(-0.5 * 2.0 * step**2, abs=1e-6)
    np.testing.assert_allclose(np.abs(np.concatenate([np.ravel(p) for p in res.params])),
                               [w, w], atol=1e-12)
    assert fn().item() == 1.0  # not in place by default


def test_escape_inplace_moves_params() -> None:
    fn, params = _worked_example(0.0, 0.0, "vector")
    res = escape(fn, params, step=0.1, inplace=True)
    np.testing.assert_array_equal(params[0].numpy(), res.params[0])
    assert fn().item() == pytest.approx(res.loss_after, abs=0)


def test_escape_at_minimum_raises() -> None:
    x, y = _scalars(0.0, 0.0)
    with pytest.raises(ValueError, match="negative curvature"):
        escape(lambda: x * x + y * y, [x, y])


@pytest.mark.parametrize("w1", [1.0, 2.0, -0.5], ids=["w1=1", "w1=2", "w1=-0.5"])
def test_critical_point_worked_example_curve_is_degenerate(w1: float) -> None:
    w2 = 1.0 / w1
    fn, params = _worked_example(w1, w2, "vector")
    cp = critical_point(fn, params)
    assert cp.gradient_norm <= 1e-12
    # H = [[2 w2², 2], [2, 2 w1²]] on w1·w2 = 1: eigenvalues 0 and 2(w1² + w2²).
    np.testing.assert_allclose(cp.eigenvalues, [0.0, 2 * (w1**2 + w2**2)], atol=1e-6)
    assert cp.kind == "degenerate"
    assert cp.escape_direction is None
    assert cp.min_ratio == 0.5


# ---- textbook classifications -------------------------------------------------------------
def _x2_plus_y2(x, y):  # noqa: ANN001, ANN202
    return x * x + y * y


CASES = {
    # name: (function of two scalars, point, expected Hessian, kind)
    "x2+y2_min": (_x2_plus_y2, (0.0, 0.0), [[2, 0], [0, 2]], "local_min"),
    "-x2-y2_max": (lambda x, y: -(x * x) - y * y, (0.0, 0.0), [[-2, 0], [0, -2]], "local_max"),
    "x2-y2_saddle": (lambda x, y: x * x - y * y, (0.0, 0.0), [[2, 0], [0, -2]], "saddle"),
    "x4_degenerate": (lambda x, y: x**4 + 0 * y, (0.0, 0.0), [[0, 0], [0, 0]], "degenerate"),
    "x2_only_degenerate": (lambda x, y: x * x + 0 * y, (0.0, 0.0), [[2, 0], [0, 0]],
                           "degenerate"),
    "x2+y2_not_critical": (_x2_plus_y2, (1.0, -0.5), [[2, 0], [0, 2]], "not_critical"),
    "x4_not_critical": (lambda x, y: x**4 + y * y, (0.5, 0.0), [[3, 0], [0, 2]], "not_critical"),
}


@pytest.mark.parametrize("name", list(CASES), ids=list(CASES))
def test_critical_point_textbook_kinds(name: str) -> None:
    f, point, expected_h, kind = CASES[name]
    x, y = _scalars(*point)
    cp = critical_point(lambda: f(x, y), [x, y])
    expected = np.linalg.eigvalsh(np.asarray(expected_h, dtype=float))
    np.testing.assert_allclose(cp.eigenvalues, expected, atol=1e-6)
    assert cp.kind == kind
    assert cp.min_ratio == np.sum(expected > 1e-6) / 2
    assert (cp.escape_direction is None) == (expected[0] >= -1e-6)


def test_critical_point_x4_single_param() -> None:
    (x,) = _scalars(0.0)
    cp = critical_point(lambda: x**4, [x])
    assert abs(cp.eigenvalues[0]) <= cp.zero_tol
    assert cp.kind == "degenerate"
    assert cp.min_ratio == 0.0


def test_critical_point_saddle_escape_direction() -> None:
    x, y = _scalars(0.0, 0.0)
    cp = critical_point(lambda: 3 * x * x - 0.5 * y * y, [x, y])
    assert cp.kind == "saddle"
    np.testing.assert_allclose(cp.escape_direction, [0.0, 1.0], atol=1e-8)


def test_critical_point_grad_tol() -> None:
    x, y = _scalars(1e-4, 0.0)
    fn = lambda: x * x + y * y  # noqa: E731
    assert critical_point(fn, [x, y]).kind == "not_critical"
    assert critical_point(fn, [x, y], grad_tol=1e-3).kind == "local_min"


# ---- hvp, params untouched, dtypes --------------------------------------------------------
@pytest.mark.parametrize("loss", ["mse", "ce"])
def test_hvp_matches_hessian_times_v(loss: str, rng: np.random.Generator) -> None:
    fn, params, _, _ = _mlp((3, 4, 2), 7, seed=1, loss=loss)
    h = hessian(fn, params)
    for _ in range(3):
        v = rng.standard_normal(h.shape[0])
        np.testing.assert_allclose(hvp(fn, params, v), h @ v, rtol=FD_RTOL,
                                   atol=FD_ATOL * np.linalg.norm(v))
    assert np.all(hvp(fn, params, np.zeros(h.shape[0])) == 0)


def test_hessian_symmetric_and_shape() -> None:
    fn, params, _, _ = _mlp((3, 4, 2), 5, seed=2)
    h = hessian(fn, params)
    n = sum(p.numel() for p in params)
    assert h.shape == (n, n) and h.dtype == np.float64
    np.testing.assert_array_equal(h, h.T)


def test_analysis_leaves_params_bit_for_bit() -> None:
    fn, params, _, _ = _mlp((3, 4, 2), 5, seed=3, loss="ce")
    arrays = [p._data for p in params]
    before = [a.tobytes() for a in arrays]
    n = sum(p.numel() for p in params)
    hessian(fn, params)
    hvp(fn, params, np.ones(n))
    cp = critical_point(fn, params)
    critical_point(fn, params, method="lanczos", k=2)
    if cp.escape_direction is not None:
        escape(fn, params, point=cp)
    for p, a, b in zip(params, arrays, before):
        assert p._data is a
        assert a.tobytes() == b
        assert p.grad is None


def test_params_restored_when_fn_raises() -> None:
    (w,) = [fg.tensor([0.5, -1.5], dtype=fg.float64, requires_grad=True)]
    before = w.numpy().copy()
    calls = [0]

    def fn() -> fg.Tensor:
        calls[0] += 1
        if calls[0] == 3:
            raise RuntimeError("boom")
        return (w * w).sum()

    with pytest.raises(RuntimeError, match="boom"):
        hessian(fn, [w])
    np.testing.assert_array_equal(w.numpy(), before)


def test_hessian_float32_close_to_float64() -> None:
    fn64, params64, _, _ = _mlp((3, 4, 2), 6, seed=4)
    fn32, params32, _, _ = _mlp((3, 4, 2), 6, seed=4, dtype=fg.float32)
    h64, h32 = hessian(fn64, params64), hessian(fn32, params32)
    assert h32.dtype == np.float64
    # float32 differences of float32 gradients: ~u^(2/3) ≈ 2e-5 relative, a few times that.
    np.testing.assert_allclose(h32, h64, atol=5e-4 * np.abs(h64).max())


def test_hessian_errors() -> None:
    w = fg.tensor([1.0, 2.0], dtype=fg.float64, requires_grad=True)
    c = fg.tensor([1.0, 2.0], dtype=fg.float64)
    with pytest.raises(ValueError, match="leaf that requires grad"):
        hessian(lambda: (w * c).sum(), [c])
    with pytest.raises(ValueError, match="leaf that requires grad"):
        hessian(lambda: (w * c).sum(), [w * 2])
    with pytest.raises(ValueError, match="scalar"):
        hessian(lambda: w * w, [w])
    with pytest.raises(ValueError, match="appears twice"):
        hessian(lambda: (w * w).sum(), [w, w])
    with pytest.raises(ValueError, match=r"\(2,\)"):
        hvp(lambda: (w * w).sum(), [w], np.ones(3))
    with pytest.raises(ValueError, match="method"):
        critical_point(lambda: (w * w).sum(), [w], method="qr")


def test_hessian_unused_param_gives_zero_block() -> None:
    x, y = _scalars(1.0, 2.0)
    np.testing.assert_allclose(hessian(lambda: x**3, [x, y]), [[6.0, 0.0], [0.0, 0.0]],
                               atol=1e-8)


@pytest.mark.torch
@pytest.mark.parametrize("loss", ["mse", "ce"])
def test_hessian_mlp_matches_torch(loss: str) -> None:
    torch = pytest.importorskip("torch")
    fn, params, x, target = _mlp((3, 4, 2), 9, seed=5, loss=loss)
    ours = hessian(fn, params)
    shapes = [p.shape for p in params]
    flat0 = torch.tensor(np.concatenate([p.numpy().ravel() for p in params]), dtype=torch.float64)
    xt = torch.tensor(x.numpy())
    tt = torch.tensor(target.numpy())

    def loss_of(flat):  # noqa: ANN001, ANN202
        ps, i = [], 0
        for s in shapes:
            size = int(np.prod(s))
            ps.append(flat[i:i + size].reshape(s))
            i += size
        h = xt
        for j in range(0, len(ps), 2):
            h = h @ ps[j] + ps[j + 1]
            if j + 2 < len(ps):
                h = torch.tanh(h)
        if loss == "mse":
            return ((h - tt) ** 2).mean()
        return -(torch.log_softmax(h, dim=1) * tt).sum() / h.shape[0]

    ref = torch.autograd.functional.hessian(loss_of, flat0).numpy()
    np.testing.assert_allclose(ours, ref, rtol=FD_RTOL, atol=FD_ATOL * np.abs(ref).max())


# ---- Lanczos -------------------------------------------------------------------------------
def test_lanczos_matches_eigh_on_matrix(rng: np.random.Generator) -> None:
    n = 120
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    lam = np.concatenate([[-5.0, -5.0, -1.0], np.linspace(-0.5, 0.5, n - 6), [2.0, 3.0, 9.0]])
    a = (q * lam) @ q.T
    res = lanczos(lambda v: a @ v, n, k=4)
    expected = np.concatenate([lam[:4], lam[-4:]])
    np.testing.assert_allclose(res.eigenvalues, np.sort(expected), atol=1e-8)
    np.testing.assert_allclose(a @ res.eigenvectors, res.eigenvectors * res.eigenvalues,
                               atol=1e-6)
    assert res.converged


@pytest.mark.parametrize("which", ["smallest", "largest"])
def test_lanczos_one_end_and_invariant_subspace(which: str) -> None:
    a = np.diag([1.0, 1.0, 1.0, 4.0, 4.0, 7.0])  # 3 distinct values: Krylov space of dim 3
    res = lanczos(lambda v: a @ v, 6, k=4, which=which)
    expected = [1.0, 1.0, 1.0, 4.0] if which == "smallest" else [1.0, 4.0, 4.0, 7.0]
    np.testing.assert_allclose(res.eigenvalues, expected, atol=1e-10)


def test_lanczos_bad_which() -> None:
    with pytest.raises(ValueError, match="which"):
        lanczos(lambda v: v, 3, which="middle")


def test_lanczos_extremes_match_eigh_on_200_param_model() -> None:
    fn, params, _, _ = _mlp((10, 12, 5), 20, seed=6)  # 10·12+12+12·5+5 = 197 params
    n = sum(p.numel() for p in params)
    assert n == 197
    dense = np.linalg.eigvalsh(hessian(fn, params))
    cp = critical_point(fn, params, method="lanczos", k=3)
    assert cp.method == "lanczos"
    scale = np.abs(dense).max()
    np.testing.assert_allclose(cp.eigenvalues[:3], dense[:3], atol=1e-6 * scale)
    np.testing.assert_allclose(cp.eigenvalues[-3:], dense[-3:], atol=1e-6 * scale)
    dense_cp = critical_point(fn, params, method="dense")
    assert cp.kind == dense_cp.kind
    # One-probe quadrature estimate of the fraction of positive eigenvalues.
    assert abs(cp.min_ratio - dense_cp.min_ratio) <= 0.25


def test_critical_point_auto_switches_to_lanczos(monkeypatch: pytest.MonkeyPatch) -> None:
    from fusegrad.analysis import critical

    fn, params, _, _ = _mlp((2, 3, 1), 6, seed=7)  # 2·3+3+3·1+1 = 13 params
    assert critical_point(fn, params).method == "dense"
    monkeypatch.setattr(critical, "DENSE_LIMIT", 12)
    cp = critical_point(fn, params, k=2)
    assert cp.method == "lanczos"
    dense = np.linalg.eigvalsh(hessian(fn, params))
    scale = np.abs(dense).max()
    np.testing.assert_allclose(cp.eigenvalues[[0, 1, -2, -1]], dense[[0, 1, -2, -1]],
                               atol=1e-6 * scale)


def test_critical_point_worked_example_on_device(device: str) -> None:
    a = fg.tensor(0.0, dtype=fg.float64, device=device, requires_grad=True)
    b = fg.tensor(0.0, dtype=fg.float64, device=device, requires_grad=True)
    before = [a.numpy().copy(), b.numpy().copy()]
    cp = critical_point(lambda: (1 - a * b) ** 2, [a, b])
    np.testing.assert_allclose(cp.eigenvalues, [-2.0, 2.0], atol=1e-6)
    assert cp.kind == "saddle"
    np.testing.assert_array_equal([a.numpy(), b.numpy()], before)
    assert a.device == device
