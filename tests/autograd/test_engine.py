"""Engine tests: graph shapes, accumulation, retain_graph, no_grad, errors, grad(), Function."""

from __future__ import annotations

import numpy as np
import pytest

import fusegrad as fg


def test_engine_diamond_graph_sums_both_paths():
    x = fg.tensor([1.5, -2.0], dtype=fg.float64, requires_grad=True)
    a = x * 3.0
    b = a.exp()
    c = a * a
    (b + c).sum().backward()
    xv = x.numpy()
    expected = 3 * np.exp(3 * xv) + 2 * (3 * xv) * 3
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-12)


def test_engine_same_tensor_used_twice_in_one_op():
    x = fg.tensor([2.0, 3.0], dtype=fg.float64, requires_grad=True)
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [4.0, 6.0])


def test_engine_deep_chain_has_no_recursion_limit():
    x = fg.tensor(1.0, dtype=fg.float64, requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.backward()
    np.testing.assert_allclose(x.grad.item(), 1.0001 ** 10_000, rtol=1e-9)


def test_engine_gradients_accumulate_across_backward_calls():
    w = fg.tensor([1.0, 2.0], requires_grad=True)
    (w * 2.0).sum().backward()
    (w * 3.0).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), [5.0, 5.0])


def test_engine_second_backward_without_retain_graph_raises():
    x = fg.tensor([1.0], requires_grad=True)
    y = (x.exp() * 2.0).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        y.backward()


def test_engine_retain_graph_allows_second_backward():
    x = fg.tensor([1.0], dtype=fg.float64, requires_grad=True)
    y = (x.exp() * 2.0).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [4 * np.e])


def test_engine_backward_non_scalar_needs_gradient():
    x = fg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2.0
    with pytest.raises(RuntimeError, match="scalar"):
        y.backward()
    y.backward(fg.tensor([1.0, 0.5]))
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 1.0])


def test_engine_no_grad_records_nothing():
    x = fg.tensor([1.0], requires_grad=True)
    with fg.no_grad():
        assert not fg.is_grad_enabled()
        y = x * 2.0
    assert fg.is_grad_enabled()
    assert y.grad_fn is None and not y.requires_grad


def test_engine_broadcast_gradients_reduce_to_input_shape():
    a = fg.tensor(np.ones((3, 1)), requires_grad=True)
    b = fg.tensor(np.arange(4.0), requires_grad=True)
    (a * b).sum().backward()
    assert a.grad.shape == (3, 1) and b.grad.shape == (4,)
    np.testing.assert_allclose(a.grad.numpy(), np.full((3, 1), 6.0))
    np.testing.assert_allclose(b.grad.numpy(), np.full(4, 3.0))


def test_engine_shape_mismatch_names_both_shapes():
    a, b = fg.ones(2, 3), fg.ones(4, 3)
    with pytest.raises((ValueError, RuntimeError), match=r"\(2, 3\).*\(4, 3\)"):
        a + b


def test_engine_matmul_shape_mismatch_names_shapes():
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4, 5\)"):
        fg.ones(2, 3) @ fg.ones(4, 5)


def test_engine_dtype_inference_follows_pytorch():
    assert fg.tensor([1.0, 2.0]).dtype == fg.float32
    assert fg.tensor([1, 2]).dtype == fg.int64
    assert fg.tensor(np.zeros(2)).dtype == fg.float64
    assert fg.arange(3).dtype == fg.int64
    assert (fg.tensor([1.0]) * 2).dtype == fg.float32
    assert (fg.tensor([1.0]) + fg.tensor([1.0], dtype=fg.float64)).dtype == fg.float64


def test_engine_leaf_and_grad_fn_flags():
    x = fg.tensor([1.0], requires_grad=True)
    y = x * 2
    assert x.is_leaf and not y.is_leaf and y.requires_grad
    d = y.detach()
    assert d.is_leaf and not d.requires_grad


def test_engine_int_tensor_cannot_require_grad():
    with pytest.raises(RuntimeError, match="floating point"):
        fg.tensor([1, 2], requires_grad=True)


def test_engine_inplace_on_leaf_requiring_grad_raises():
    w = fg.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="in-place"):
        w.zero_()
    with fg.no_grad():
        w.zero_()
    assert w.numpy()[0] == 0


def test_autograd_grad_returns_values_without_touching_dot_grad():
    x = fg.tensor([1.0, 2.0], dtype=fg.float64, requires_grad=True)
    u = fg.tensor([3.0], dtype=fg.float64, requires_grad=True)
    y = (x ** 2).sum()
    (gx,) = fg.autograd.grad(y, x, retain_graph=True)
    np.testing.assert_allclose(gx.numpy(), [2.0, 4.0])
    assert x.grad is None
    with pytest.raises(RuntimeError, match="not have been used"):
        fg.autograd.grad(y, [x, u], retain_graph=True)
    gx2, gu = fg.autograd.grad(y, [x, u], allow_unused=True)
    assert gu is None
    np.testing.assert_allclose(gx2.numpy(), [2.0, 4.0])


def test_autograd_grad_of_intermediate_tensor():
    x = fg.tensor([1.0, 2.0], dtype=fg.float64, requires_grad=True)
    h = x * 3.0
    y = (h * h).sum()
    (gh,) = fg.autograd.grad(y, h)
    np.testing.assert_allclose(gh.numpy(), 2 * h.numpy())


class _Cube(fg.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x * x

    @staticmethod
    def backward(ctx, gy):
        (x,) = ctx.saved_tensors
        return gy * 3 * x * x


class _BadCube(_Cube):
    @staticmethod
    def backward(ctx, gy):
        (x,) = ctx.saved_tensors
        return gy * 2 * x * x


def test_user_function_forward_backward_and_gradcheck():
    x = fg.tensor([0.5, -1.5, 2.0], dtype=fg.float64, requires_grad=True)
    y = _Cube.apply(x)
    np.testing.assert_allclose(y.numpy(), x.numpy() ** 3)
    assert fg.autograd.gradcheck(_Cube.apply, [x])


def test_gradcheck_reports_a_wrong_backward():
    x = fg.tensor([0.5, -1.5], dtype=fg.float64, requires_grad=True)
    with pytest.raises(fg.autograd.GradcheckError, match=r"input 0 element \(0,\).*analytic"):
        fg.autograd.gradcheck(_BadCube.apply, [x])
    assert fg.autograd.gradcheck(_BadCube.apply, [x], raise_exception=False) is False


def test_gradcheck_warns_for_float32():
    x = fg.tensor([0.5], requires_grad=True)
    with pytest.warns(UserWarning, match="float64"):
        fg.autograd.gradcheck(lambda t: t * 2.0, [x], atol=1e-2, rtol=1e-2)


def test_max_over_all_splits_gradient_between_ties():
    x = fg.tensor([1.0, 3.0, 3.0, 2.0], requires_grad=True)
    x.max().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.0, 0.5, 0.5, 0.0])


def test_max_dim_sends_gradient_to_returned_index():
    x = fg.tensor([[1.0, 3.0, 3.0]], requires_grad=True)
    v, i = x.max(1)
    assert i.dtype == fg.int64 and i.tolist() == [1]
    v.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[0.0, 1.0, 0.0]])


def test_relu_gradient_at_zero_is_zero():
    x = fg.tensor([-1.0, 0.0, 2.0], requires_grad=True)
    x.relu().sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.0, 0.0, 1.0])


def test_comparisons_give_bool_tensors_outside_the_graph():
    x = fg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    m = x > 1.5
    assert m.dtype == fg.bool_ and not m.requires_grad
    assert m.tolist() == [False, True, True]
    assert (fg.tensor([1, 2]) == fg.tensor([1, 3])).tolist() == [True, False]


def test_indexing_with_repeated_int_array_accumulates():
    x = fg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    x[np.array([0, 0, 2])].sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 0.0, 1.0])


def test_creation_functions_shapes_and_seed():
    fg.manual_seed(3)
    a = fg.randn(2, 3)
    fg.manual_seed(3)
    b = fg.randn(2, 3)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert fg.zeros(2, 3).shape == (2, 3) and fg.ones((4,)).shape == (4,)
    assert fg.full((2,), 1.5).dtype == fg.float32
    assert fg.zeros_like(a).shape == a.shape
    r = fg.rand(1000)
    assert 0 <= r.numpy().min() and r.numpy().max() < 1


def test_tensor_to_dtype_is_differentiable():
    x = fg.tensor([1.0, 2.0], requires_grad=True)
    y = x.to(fg.float64) * 2.0
    assert y.dtype == fg.float64
    y.sum().backward()
    assert x.grad.dtype == fg.float32
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 2.0])


def test_unknown_device_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown device"):
        fg.tensor([1.0], device="tpu")
