"""nn.Module: parameter discovery, names, children/modules, train/eval propagation, zero_grad,
state_dict / load_state_dict (PyTorch keys, in-place copies, clear errors), to()/double()."""

from __future__ import annotations

import numpy as np
import pytest

import fusegrad as fg
import fusegrad.nn as nn


def _mlp() -> nn.Sequential:
    return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.1),
                         nn.Linear(8, 3, bias=False))


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 3)
        self.shared = self.fc  # the same module twice: its parameters are listed once
        self.scale = nn.Parameter(fg.ones(3))
        self.plain = 5


def test_parameter_discovery_and_names():
    m = _mlp()
    names = [n for n, _ in m.named_parameters()]
    assert names == ["0.weight", "0.bias", "1.weight", "1.bias", "4.weight"]
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in m.parameters())
    assert [n for n, _ in m.named_buffers()] == ["1.running_mean", "1.running_var",
                                                 "1.num_batches_tracked"]
    b = Block()
    assert [n for n, _ in b.named_parameters()] == ["scale", "fc.weight", "fc.bias"]
    assert len(list(b.children())) == 1
    assert [n for n, _ in b.named_modules()] == ["", "fc"]
    assert b.plain == 5
    assert len(list(m.modules())) == 6 and len(list(m.children())) == 5


def test_train_eval_propagate_and_zero_grad():
    m = _mlp()
    m.eval()
    assert not any(x.training for x in m.modules())
    m.train()
    assert all(x.training for x in m.modules())
    out = m(fg.randn(5, 4)).sum()
    out.backward()
    assert all(p.grad is not None for p in m.parameters())
    m.zero_grad(set_to_none=False)
    assert all(not p.grad.numpy().any() for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())


def test_state_dict_roundtrip_in_place():
    a, b = _mlp(), _mlp()
    a(fg.randn(6, 4))  # moves the running stats
    sd = a.state_dict()
    assert list(sd) == ["0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean",
                        "1.running_var", "1.num_batches_tracked", "4.weight"]
    assert all(isinstance(v, np.ndarray) for v in sd.values())
    sd["0.bias"][0] = 123.0  # a copy: the model is not changed through it
    assert a[0].bias.numpy()[0] != 123.0
    w_before = b[0].weight
    arr_before = b[0].weight._data
    res = b.load_state_dict(a.state_dict())
    assert res.missing_keys == [] and res.unexpected_keys == []
    assert b[0].weight is w_before and b[0].weight._data is arr_before  # in place
    for k, v in a.state_dict().items():
        np.testing.assert_array_equal(b.state_dict()[k], v)


def test_load_state_dict_errors():
    m = _mlp()
    sd = m.state_dict()
    del sd["0.bias"]
    sd["extra.weight"] = np.zeros(2)
    with pytest.raises(RuntimeError) as e:
        m.load_state_dict(sd)
    assert "0.bias" in str(e.value) and "extra.weight" in str(e.value)
    res = m.load_state_dict(sd, strict=False)
    assert res.missing_keys == ["0.bias"] and res.unexpected_keys == ["extra.weight"]
    sd = m.state_dict()
    sd["0.weight"] = np.zeros((3, 3))
    with pytest.raises(RuntimeError, match=r"size mismatch for 0.weight.*\(3, 3\).*\(8, 4\)"):
        m.load_state_dict(sd, strict=False)


@pytest.mark.torch
def test_state_dict_keys_match_torch():
    torch = pytest.importorskip("torch")
    ref = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.BatchNorm1d(8), torch.nn.ReLU(),
                              torch.nn.Dropout(0.1), torch.nn.Linear(8, 3, bias=False))
    assert list(_mlp().state_dict()) == list(ref.state_dict())
    m = _mlp()
    m.load_state_dict({k: v.numpy() for k, v in ref.state_dict().items()})
    np.testing.assert_array_equal(m[4].weight.numpy(), ref[4].weight.detach().numpy())


def test_to_double_float_keeps_objects():
    m = _mlp()
    p = m[0].weight
    m.double()
    assert m[0].weight is p and p.dtype == np.float64
    assert m[1].running_mean.dtype == np.float64
    assert m[1].num_batches_tracked.dtype == np.int64
    assert m(fg.randn(3, 4, dtype=fg.float64)).dtype == np.float64
    m.to(fg.float32)
    assert p.dtype == np.float32
    m.float().to("cpu")
    assert p.device == "cpu"
    with pytest.raises(TypeError):
        m.to(fg.int64)


def test_setattr_rules_and_repr():
    m = nn.Linear(2, 3)
    with pytest.raises(TypeError):
        m.weight = fg.ones(3, 2)  # a plain Tensor cannot replace a Parameter
    m.bias = None
    assert [n for n, _ in m.named_parameters()] == ["weight"]
    assert "Linear(in_features=2, out_features=3, bias=False)" in repr(m)
    assert "(1): BatchNorm1d(8" in repr(_mlp())
