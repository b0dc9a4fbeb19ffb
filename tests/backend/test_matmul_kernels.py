"""GEMM kernels (csrc/cpu/matmul.h) through the CPU backend and _C: every transpose
combination, odd and empty sizes, strided views, batching, the fused Linear epilogue,
bias_grad, and each ISA path forced with FUSEGRAD_GEMM_ISA."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fusegrad as fg
from fusegrad._ext import _C
from fusegrad.backend import get_backend

BE = get_backend("cpu")


def gemm_tol(dtype: type, k: int) -> dict:
    # Blocking over k and FMA contraction change the order and rounding of the k-term sums,
    # so the float32 error against a float64 reference grows with k: atol scales with k
    # (values here are N(0, 1), each term O(1)). float64 keeps the same shape of bound.
    if np.dtype(dtype) == np.float32:
        return {"rtol": 1e-5, "atol": 2e-6 * max(k, 1)}
    return {"rtol": 1e-12, "atol": 1e-13 * max(k, 1)}


def operand(rng: np.random.Generator, shape: tuple, dtype: type, layout: str) -> np.ndarray:
    """An array of ``shape`` stored as: "c" contiguous, "t" a transposed view, "s" a view
    with steps in both dims (non-contiguous), "n" negative strides."""
    if layout == "c":
        return rng.standard_normal(shape).astype(dtype)
    if layout == "t":
        return rng.standard_normal(shape[::-1]).astype(dtype).T
    if layout == "s":
        return rng.standard_normal((2 * shape[0] + 1, 3 * shape[1])).astype(dtype)[1::2, ::3]
    assert layout == "n"
    return rng.standard_normal(shape).astype(dtype)[::-1, ::-1]


def ref_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.matmul(a.astype(np.float64), b.astype(np.float64))


SIZES = [(1, 1, 1), (3, 5, 7), (17, 3, 255), (255, 17, 3), (13, 10, 512), (128, 10, 64),
         (33, 1001, 40), (1001, 31, 65)]


@pytest.mark.parametrize("mnk", SIZES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("la", ["c", "t"], ids=["A", "At"])
@pytest.mark.parametrize("lb", ["c", "t"], ids=["B", "Bt"])
def test_matmul_transpose_combinations(mnk, la, lb, dtype, rng):
    m, n, k = mnk
    a = operand(rng, (m, k), dtype, la)
    b = operand(rng, (k, n), dtype, lb)
    out = BE.matmul(a, b)
    assert out.dtype == dtype and out.shape == (m, n) and out.flags.c_contiguous
    np.testing.assert_allclose(out, ref_matmul(a, b), **gemm_tol(dtype, k))


@pytest.mark.parametrize("la,lb", [("s", "s"), ("s", "t"), ("n", "c"), ("c", "n")],
                         ids=["steps-steps", "steps-Bt", "neg-B", "A-neg"])
def test_matmul_strided_views(la, lb, dtype, rng):
    m, n, k = 37, 45, 70
    a = operand(rng, (m, k), dtype, la)
    b = operand(rng, (k, n), dtype, lb)
    assert not (a.flags.c_contiguous and b.flags.c_contiguous)
    np.testing.assert_allclose(BE.matmul(a, b), ref_matmul(a, b), **gemm_tol(dtype, k))


def test_matmul_large_square(dtype, rng):
    # Several KC / MC / NC blocks and a multi-thread split; odd size leaves partial tiles.
    m, n, k = 1031, 1000, 1037
    a = operand(rng, (m, k), dtype, "c")
    b = operand(rng, (k, n), dtype, "t")
    np.testing.assert_allclose(BE.matmul(a, b), ref_matmul(a, b), **gemm_tol(dtype, k))


# The three products of each layer of a 784-512-512-10 MLP at batch 128, with the operand
# layouts autograd passes (W is (out, in) row-major): forward X·Wᵀ, input grad dY·W, weight
# grad dYᵀ·X. They take the GEMM's panel-major order (all of A packed once, one B panel at a
# time; ragged last panels at 784 = 24·32 + 16), its row-strip order at k = 10, the swapped
# Cᵀ = Bᵀ·Aᵀ problem and the dot-product path, on one thread and on two.
MLP_PRODUCTS = []
for _i, _o in [(784, 512), (512, 512), (512, 10)]:
    MLP_PRODUCTS += [(f"fwd-{_i}-{_o}", 128, _o, _i, "c", "t"),
                     (f"gX-{_i}-{_o}", 128, _i, _o, "c", "c"),
                     (f"gW-{_i}-{_o}", _o, _i, 128, "t", "c")]


@pytest.fixture(params=[1, 2], ids=["1thread", "2threads"])
def threads(request: pytest.FixtureRequest):
    saved = fg.get_num_threads()
    fg.set_num_threads(request.param)
    yield request.param
    fg.set_num_threads(saved)


@pytest.mark.parametrize("name,m,n,k,la,lb", MLP_PRODUCTS, ids=[p[0] for p in MLP_PRODUCTS])
def test_matmul_mlp_products(name, m, n, k, la, lb, threads, dtype, rng):
    a = operand(rng, (m, k), dtype, la)
    b = operand(rng, (k, n), dtype, lb)
    np.testing.assert_allclose(BE.matmul(a, b), ref_matmul(a, b), **gemm_tol(dtype, k))


@pytest.mark.parametrize("mnk", [(1, 40, 1000), (12, 33, 777), (13, 97, 400), (50, 200, 33),
                                 (130, 70, 32), (97, 65, 31), (3, 64, 10)],
                         ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("lb", ["c", "t", "s"], ids=["B", "Bt", "Bsteps"])
def test_matmul_short_c_block_orders(mnk, lb, threads, dtype, rng):
    # Short C (all of A's rows packed at once) across several KC blocks, at the k bounds of
    # the panel-major order (32 / 33), with row-major B read in place (m <= MR) or packed.
    m, n, k = mnk
    a = operand(rng, (m, k), dtype, "c")
    b = operand(rng, (k, n), dtype, lb)
    np.testing.assert_allclose(BE.matmul(a, b), ref_matmul(a, b), **gemm_tol(dtype, k))


@pytest.mark.parametrize("m", [1, 5, 7, 8, 9, 10, 12, 13, 16, 17, 23, 24, 25, 47, 49, 128, 241],
                         ids=lambda m: f"m{m}")
@pytest.mark.parametrize("k", [33, 300], ids=["k33", "k300"])
@pytest.mark.parametrize("lb", ["c", "t"], ids=["B", "Bt"])
def test_matmul_row_panel_heights(m, k, lb, dtype, rng):
    # Row counts around the register tile's heights (AVX-512 float32: 24 rows, short tiles
    # of 8, 12 and 16; float64 12, 4, 6 and 8), with row-major A packed in groups of
    # vector-width rows (a short last group, k not a multiple of the width, two KC blocks at
    # k = 300).
    n = 83
    a = operand(rng, (m, k), dtype, "c")
    b = operand(rng, (k, n), dtype, lb)
    np.testing.assert_allclose(BE.matmul(a, b), ref_matmul(a, b), **gemm_tol(dtype, k))


# The direct path for k <= 16 with row-major B: row blocks of 4 and single rows, whole
# 4-vector and 1-vector column tiles, scalar columns (n = 261 = 16·16 + 5), A in any layout.
@pytest.mark.parametrize("mnk", [(128, 512, 10), (5, 64, 1), (130, 784, 16), (3, 261, 7),
                                 (1001, 48, 2), (2003, 256, 16), (128, 512, 17)],
                         ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("la", ["c", "t", "s"], ids=["A", "At", "Asteps"])
def test_matmul_short_k_direct(mnk, la, threads, dtype, rng):
    m, n, k = mnk
    a = operand(rng, (m, k), dtype, la)
    b = operand(rng, (k, n), dtype, "c")
    np.testing.assert_allclose(BE.matmul(a, b), ref_matmul(a, b), **gemm_tol(dtype, k))


@pytest.mark.parametrize("n_in,n_out", [(10, 512), (16, 261), (3, 48)],
                         ids=["10-512", "16-261", "3-48"])
def test_linear_fused_short_k_direct(n_in, n_out, threads, dtype, rng):
    # Bias and ReLU in the direct path's store step (W given as the transposed view of an
    # (in, out) array, so B = Wᵀ is row-major): equal to matmul, then add, then relu.
    x = rng.standard_normal((131, n_in)).astype(dtype)
    w = rng.standard_normal((n_in, n_out)).astype(dtype).T
    b = rng.standard_normal(n_out).astype(dtype)
    y = BE.linear_forward(x, w, b, "relu")
    np.testing.assert_array_equal(y, np.maximum(BE.matmul(x, w.T) + b, 0))
    ref = np.maximum(x.astype(np.float64) @ w.T.astype(np.float64) + b, 0)
    np.testing.assert_allclose(y, ref, **gemm_tol(dtype, n_in))


@pytest.mark.parametrize("n_in,n_out", [(784, 512), (100, 10), (40, 1)],
                         ids=["784-512", "100-10", "40-1"])
def test_linear_fused_with_transposed_x(n_in, n_out, threads, dtype, rng):
    # X as a transposed view: no dot path, and n_out <= 16 runs as Cᵀ = Bᵀ·Aᵀ with the bias
    # along rows. Fused must still equal matmul, then add, then relu.
    x = rng.standard_normal((n_in, 150)).astype(dtype).T
    w = rng.standard_normal((n_out, n_in)).astype(dtype)
    b = rng.standard_normal(n_out).astype(dtype)
    y = BE.linear_forward(x, w, b, "relu")
    np.testing.assert_array_equal(y, np.maximum(BE.matmul(x, w.T) + b, 0))
    ref = np.maximum(x.astype(np.float64) @ w.T.astype(np.float64) + b, 0)
    np.testing.assert_allclose(y, ref, **gemm_tol(dtype, n_in))


@pytest.mark.parametrize("rows,n_in,n_out", [(600, 100, 40), (1003, 33, 70), (2500, 10, 100)],
                         ids=["600x100-40", "1003x33-70", "2500x10-100"])
def test_linear_fused_tall_x_row_pieces(rows, n_in, n_out, threads, dtype, rng):
    # Tall X, small W: on two threads, pieces of rows with W packed once per thread (and the
    # row-strip order at k <= 32); ragged last piece and panel; bias + relu in the store step.
    x = rng.standard_normal((rows, n_in)).astype(dtype)
    w = rng.standard_normal((n_in, n_out)).astype(dtype).T  # (out, in) view of a (in, out) array
    b = rng.standard_normal(n_out).astype(dtype)
    y = BE.linear_forward(x, w, b, "relu")
    np.testing.assert_array_equal(y, np.maximum(BE.matmul(x, w.T) + b, 0))
    ref = np.maximum(x.astype(np.float64) @ w.T.astype(np.float64) + b, 0)
    np.testing.assert_allclose(y, ref, **gemm_tol(dtype, n_in))


@pytest.mark.parametrize("mnk", [(0, 3, 4), (3, 0, 4), (3, 4, 0), (0, 0, 0)],
                         ids=["m0", "n0", "k0", "all0"])
def test_matmul_empty(mnk, dtype):
    m, n, k = mnk
    out = BE.matmul(np.ones((m, k), dtype), np.ones((k, n), dtype))
    assert out.shape == (m, n)
    np.testing.assert_array_equal(out, np.zeros((m, n)))  # k = 0: an empty sum is 0


@pytest.mark.parametrize("sa,sb", [((4, 5, 6), (4, 6, 3)), ((4, 5, 6), (6, 3)),
                                   ((5, 6), (2, 3, 6, 7)), ((2, 1, 5, 6), (3, 6, 4)),
                                   ((6,), (3, 6, 4)), ((3, 5, 6), (6,)), ((6,), (6,)),
                                   ((64, 9, 8), (64, 8, 7)), ((0, 5, 6), (6, 3))],
                         ids=["same", "bcast-b", "bcast-a", "bcast-both", "vec-a", "vec-b",
                              "dot", "many-small", "empty-batch"])
def test_matmul_batched_broadcast(sa, sb, dtype, rng):
    a = rng.standard_normal(sa).astype(dtype)
    b = rng.standard_normal(sb).astype(dtype)
    out = BE.matmul(a, b)
    expected = np.matmul(a.astype(np.float64), b.astype(np.float64))
    assert np.shape(out) == expected.shape
    np.testing.assert_allclose(out, expected, **gemm_tol(dtype, sa[-1]))


def test_matmul_batched_transposed_views(dtype, rng):
    a = rng.standard_normal((3, 20, 11)).astype(dtype).swapaxes(-1, -2)  # (3, 11, 20)
    b = rng.standard_normal((3, 13, 20)).astype(dtype).swapaxes(-1, -2)[::-1]  # (3, 20, 13)
    np.testing.assert_allclose(BE.matmul(a, b), ref_matmul(a, b), **gemm_tol(dtype, 20))


@pytest.mark.parametrize("n_in,n_out", [(784, 512), (512, 10), (7, 1), (33, 40)],
                         ids=["784-512", "512-10", "7-1", "33-40"])
@pytest.mark.parametrize("activation", [None, "relu"], ids=["none", "relu"])
@pytest.mark.parametrize("has_bias", [True, False], ids=["bias", "nobias"])
def test_linear_forward_fused_equals_unfused(n_in, n_out, activation, has_bias, dtype, rng):
    x = rng.standard_normal((67, n_in)).astype(dtype)
    w = rng.standard_normal((n_out, n_in)).astype(dtype)
    b = rng.standard_normal(n_out).astype(dtype) if has_bias else None
    y = BE.linear_forward(x, w, b, activation)
    # Unfused path: the same GEMM, then the bias add and ReLU as separate passes. The store
    # step adds in the same order, so the results are bitwise equal.
    unfused = BE.matmul(x, w.T)
    if b is not None:
        unfused = unfused + b
    if activation == "relu":
        unfused = np.maximum(unfused, 0)
    np.testing.assert_array_equal(y, unfused)
    ref = x.astype(np.float64) @ w.T.astype(np.float64) + (0 if b is None else b)
    if activation == "relu":
        ref = np.maximum(ref, 0)
    np.testing.assert_allclose(y, ref, **gemm_tol(dtype, n_in))


def test_linear_forward_strided_x_and_k0(dtype, rng):
    x = rng.standard_normal((40, 90)).astype(dtype)[::2, 1::3]  # (20, 30), non-contiguous
    w = rng.standard_normal((30, 25)).astype(dtype).T  # (25, 30) transposed view
    b = rng.standard_normal(50).astype(dtype)[::2]  # strided bias
    ref = np.maximum(x.astype(np.float64) @ w.T.astype(np.float64) + b, 0)
    np.testing.assert_allclose(BE.linear_forward(x, w, b, "relu"), ref, **gemm_tol(dtype, 30))
    # in_features = 0: the product is empty, so the result is relu(bias) on every row.
    y0 = BE.linear_forward(np.ones((4, 0), dtype), np.ones((25, 0), dtype), b, "relu")
    np.testing.assert_array_equal(y0, np.broadcast_to(np.maximum(b, 0), (4, 25)))


@pytest.mark.parametrize("shape,layout", [((1, 1), "c"), ((128, 512), "c"), ((300, 10), "t"),
                                          ((57, 33), "s"), ((0, 5), "c"), ((5000, 70), "c")],
                         ids=["1x1", "128x512", "transposed", "steps", "m0", "tall"])
def test_bias_grad_column_sums(shape, layout, dtype, rng):
    gy = operand(rng, shape, dtype, layout) if shape[0] else np.ones(shape, dtype)[:0]
    gb = BE.bias_grad(gy)
    assert gb.shape == (shape[1],) and gb.dtype == dtype
    np.testing.assert_allclose(gb, gy.astype(np.float64).sum(axis=0), **gemm_tol(dtype, 1))


def test_matmul_errors():
    a = np.ones((2, 3), np.float32)
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4, 5\)"):
        BE.matmul(a, np.ones((4, 5), np.float32))
    with pytest.raises(TypeError, match="dtype mismatch"):
        BE.matmul(a, np.ones((3, 5), np.float64))
    with pytest.raises(TypeError, match="int64"):
        BE.matmul(a.astype(np.int64), a.T.astype(np.int64))
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4, 2\)"):
        BE.linear_forward(a, np.ones((4, 2), np.float32), None, None)
    with pytest.raises(ValueError, match=r"\(5,\)"):
        BE.linear_forward(a, np.ones((4, 3), np.float32), np.ones(5, np.float32), None)
    with pytest.raises(ValueError, match="activation"):
        BE.linear_forward(a, np.ones((4, 3), np.float32), None, "gelu")
    with pytest.raises(ValueError, match="batch dims"):
        BE.matmul(np.ones((2, 2, 3)), np.ones((3, 3, 4)))


def test_gemm_binding_rejects_bad_out():
    a = np.ones((2, 3), np.float32)
    b = np.ones((3, 4), np.float32)
    with pytest.raises(TypeError):  # noconvert: a float64 out would be silently copied
        _C.gemm(a, b, np.empty((2, 4), np.float64))
    with pytest.raises(ValueError, match="contiguous"):
        _C.gemm(a, b, np.empty((4, 2), np.float32).T)
    with pytest.raises(ValueError, match=r"\(2, 4\)"):
        _C.gemm(a, b, np.empty((2, 5), np.float32))


def test_gemm_isa_reports_a_path():
    assert _C.gemm_isa() in ("avx512", "avx2", "base")


# Each forced path runs the same checks in a fresh interpreter (the table is chosen once).
_ISA_SCRIPT = """
import json, numpy as np
from fusegrad._ext import _C
from fusegrad.backend import get_backend
be = get_backend("cpu")
rng = np.random.default_rng(1)
errs = {}
for dt in (np.float32, np.float64):
    for m, n, k in [(1, 1, 1), (37, 45, 70), (200, 10, 300), (300, 260, 520),
                    (128, 70, 10), (5, 40, 100), (128, 100, 600), (131, 512, 10),
                    (49, 83, 300)]:
        for a_layout in ("rowmajor", "transposed"):
            if a_layout == "rowmajor":
                a = rng.standard_normal((m, k)).astype(dt)
            else:
                a = rng.standard_normal((k, m)).astype(dt).T
            for b_layout in ("rowmajor", "transposed"):
                b = rng.standard_normal((k, n)).astype(dt)
                w = np.ascontiguousarray(b.T) if b_layout == "rowmajor" else b.T
                bias = rng.standard_normal(n).astype(dt)
                ref = np.maximum(a.astype(np.float64) @ b + bias, 0)
                y = be.linear_forward(a, w, bias, "relu")
                err = float(np.max(np.abs(y - ref) / (1 + np.abs(ref))))
                key = f"{np.dtype(dt).name}-{m}x{n}x{k}-{a_layout}-{b_layout}"
                errs[key] = err / k
print(json.dumps({"isa": _C.gemm_isa(), "errs": errs}))
"""


def _cpu_flags() -> set:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


@pytest.mark.parametrize("isa", ["base", "avx2", "avx512"])
def test_forced_isa_path(isa):
    flags = _cpu_flags()
    if isa == "avx2" and not {"avx2", "fma"} <= flags:
        pytest.skip("CPU has no AVX2+FMA")
    if isa == "avx512" and "avx512f" not in flags:
        pytest.skip("CPU has no AVX-512")
    env = dict(os.environ, FUSEGRAD_GEMM_ISA=isa)
    res = subprocess.run([sys.executable, "-c", _ISA_SCRIPT], env=env, capture_output=True,
                         text=True, check=True, timeout=120)
    report = json.loads(res.stdout.strip().splitlines()[-1])
    assert report["isa"] == isa
    for case, err in report["errs"].items():
        # Relative error per summed term: float32 ~1e-7 per term, float64 ~1e-16.
        bound = 2e-6 if case.startswith("float32") else 1e-14
        assert err < bound, (isa, case, err)
