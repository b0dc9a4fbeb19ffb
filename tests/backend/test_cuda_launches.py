"""Every CUDA backend method launches kernels whose arguments match the kernels' C signatures.

No GPU needed: the backend runs on a recording stand-in for CuPy (NumPy arrays with a
``.data.ptr``, a RawModule whose functions record their launches instead of running). Each
recorded launch is checked against the kernel's parameter list, read from the preprocessed
``csrc/cuda/*.cu`` (``g++ -E``): the argument count, the exact scalar types (CuPy packs a NumPy
scalar by its own dtype, so np.float64 where the kernel takes ``float`` would be silently
wrong), the element type of every array argument, and launch shapes within the limits. This is
the interface a GPU run would exercise; the kernels' arithmetic is checked by
test_cuda_parity.py on a machine with a device.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from fusegrad.backend import cuda as cb
from tests.backend.cuda_fake import FakeArray, fake_backend, kernel_signatures
from tests.backend.cuda_fake import fa as _fa

CSRC = Path(__file__).resolve().parents[2] / "csrc"


class _Recorder:
    def __init__(self) -> None:
        self.launches: list[tuple[str, tuple, tuple, tuple]] = []

    def __call__(self, name: str, grid: tuple, block: tuple, args: tuple) -> None:
        self.launches.append((name, grid, block, args))


@pytest.fixture
def gpu():
    """A CUDABackend wired to the recorder (no device, no CuPy involved)."""
    rec = _Recorder()
    saved = dict(cb._MODULES)
    cb._MODULES.clear()
    yield fake_backend(rec), rec
    cb._MODULES.clear()
    cb._MODULES.update(saved)


@pytest.fixture(scope="module")
def signatures() -> dict[str, list[str]]:
    try:
        return kernel_signatures()
    except FileNotFoundError:
        pytest.skip("no C++ preprocessor")


_SCALAR = {"float": np.float32, "double": np.float64, "int": np.int32, "long long": np.int64,
           "unsigned long long": np.uint64}
_POINTEE = {"float": np.float32, "double": np.float64, "long long": np.int64, "bool": np.bool_,
            "unsigned long long": np.uint64}


def check_launches(rec: _Recorder, sigs: dict[str, list[str]], expect: set[str]) -> None:
    seen = set()
    for name, grid, block, args in rec.launches:
        seen.add(re.sub(r"_f(32|64)$", "", name))
        assert name in sigs, f"launch of {name}, which no csrc/cuda file defines"
        params = sigs[name]
        assert len(args) == len(params), f"{name}: {len(args)} args for {len(params)} params"
        for i, (arg, ctype) in enumerate(zip(args, params)):
            base = ctype.replace("const", "").replace("*", "").strip()
            if "*" in ctype:
                if isinstance(arg, np.uint64):
                    assert int(arg) == 0, f"{name} arg {i}: an integer for a pointer"
                    continue
                assert isinstance(arg, FakeArray), f"{name} arg {i} ({ctype}): got {type(arg)}"
                assert arg.dtype == _POINTEE[base], f"{name} arg {i} ({ctype}): {arg.dtype} array"
            else:
                assert type(arg) is _SCALAR[base], \
                    f"{name} arg {i} ({ctype}): got {type(arg).__name__}"
        assert all(isinstance(g, int) and 1 <= g for g in grid) and grid[0] <= 2**31 - 1
        threads = int(np.prod(block))
        assert 1 <= threads <= 1024 and threads % 32 == 0, f"{name}: block {block}"
    missing = expect - seen
    assert not missing, f"kernels never launched: {sorted(missing)}"


# ---- the methods -------------------------------------------------------------------------------
def _r(shape, dtype, lo=-2.0, hi=2.0, seed=0):
    return _fa(np.random.default_rng(seed).uniform(lo, hi, shape).astype(dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_elementwise_and_reduce_launches(gpu, signatures, dtype, monkeypatch):
    be, rec = gpu
    monkeypatch.setattr(cb, "SPLIT_ROW", 1000)
    x = _r((4, 5), dtype, 0.5, 2.0)
    ops = cb.op_lists()
    for name in ops["unary"]:
        y = be.unary_forward(name, x, 0.5, 1.5)
        be.unary_backward(name, x, y, x, 0.5, 1.5)
    be.unary_forward("pow", x.T, 2.0)  # strided path, alias name
    b = _r((5,), dtype)
    for name in ops["binary"]:
        y = be.binary_forward(name, x, b)
        be.binary_backward(name, x, b, y, y, True, True)
        be.binary_backward(name, x, b, y if name in cb._USES_Y else None, y, False, True)
    for name in ops["compare"]:
        be.compare(name, x, b)
    x3 = _r((3, 4, 50), dtype)
    long = _r((2, 3000), dtype)
    for name in cb.REDUCE_OPS:
        be.reduce(name, x3, (2,), False)        # rows
        be.reduce(name, long, (1,), False)      # chunks + rows (SPLIT_ROW patched below)
        be.reduce(name, x3, (0,), True)         # cols
        be.reduce(name, x3, (0, 2), False)      # transpose
    for name in ("max", "min"):
        v, i = be.reduce_with_index(name, x3, 1, False)
        assert v.shape == (3, 50) and i.dtype == np.int64
    assert be.var(x3, (0, 2), 1, True).shape == (1, 4, 1)
    assert be.sum_to_shape(_r((2, 4, 3), dtype), (1, 3)).shape == (1, 3)
    expect = {f"{op}_{d}" for op in ops["unary"] + ops["binary"] for d in ("forward", "backward")}
    expect |= {f"{op}_forward" for op in ops["compare"]}
    expect |= {f"reduce_{k}_{op}" for k in ("rows", "cols", "chunks") for op in cb.REDUCE_OPS}
    expect |= {"argreduce_rows_max", "argreduce_rows_min", "var_rows"}
    check_launches(rec, signatures, expect)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_matmul_norm_loss_random_launches(gpu, signatures, dtype):
    be, rec = gpu
    x, w, b = _r((6, 4), dtype), _r((3, 4), dtype), _r((3,), dtype)
    assert be.matmul(x, w.T).shape == (6, 3)
    assert be.linear_forward(x, w, b, "relu").shape == (6, 3)
    assert be.bias_grad(_r((6, 3), dtype)).shape == (3,)
    xb = _r((8, 3, 5), dtype)
    rm, rv = _fa(np.zeros(3, dtype)), _fa(np.ones(3, dtype))
    y, m, s = be.batch_norm_forward(xb, b, b, rm, rv, batch_stats=True, momentum_factor=0.1,
                                    eps=1e-5)
    gx, gw, gb = be.batch_norm_backward(xb, y, b, m, s, batch_stats=True)
    assert gx.shape == xb.shape and gw.shape == gb.shape == (3,)
    z = _r((6, 4), dtype)
    labels = _fa(np.array([0, 3, 1, -100, 2, 0], np.int64))
    for red in ("mean", "sum", "none"):
        loss, lse, tw = be.softmax_cross_entropy_forward(z, labels, b[:0] if False else None,
                                                         ignore_index=-100, label_smoothing=0.1,
                                                         reduction=red)
        gy = _fa(np.ones(6, dtype)) if red == "none" else _fa(np.ones((), dtype))
        be.softmax_cross_entropy_backward(z, labels, _r((4,), dtype, 0.5, 1), lse, tw, gy,
                                          ignore_index=-100, label_smoothing=0.0, reduction=red)
        loss, tw = be.nll_loss_forward(z, labels, None, ignore_index=-100, reduction=red)
        be.nll_loss_backward(labels, None, tw, gy, shape=(6, 4), dtype=dtype, ignore_index=-100,
                             reduction=red)
        be.bce_with_logits_forward(z, z, z, reduction=red)
        be.bce_with_logits_backward(z, z, None, gy if red != "none" else _fa(np.ones((6, 4), dtype)),
                                    reduction=red)
        be.mse_loss_forward(z, z, reduction=red)
        be.mse_loss_backward(z, z, _fa(np.ones((), dtype)), reduction=red, need_target=True)
    for f in ("softmax", "log_softmax"):
        y = getattr(be, f"{f}_forward")(z)
        getattr(be, f"{f}_backward")(y, z)
    y, mask = be.dropout_forward(z, 0.25, seed=7, offset=3)
    assert mask.dtype == np.bool_
    be.dropout_backward(z, mask, 0.25)
    expect = {"linear_forward", "bias_grad", "batch_norm_forward", "batch_norm_backward",
              "dropout_forward", "dropout_backward"}
    expect |= {f"{k}_{d}" for k in ("softmax", "log_softmax", "softmax_cross_entropy",
                                    "nll_loss", "bce_with_logits", "mse_loss")
               for d in ("forward", "backward")}
    check_launches(rec, signatures, expect)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_optimizer_launches_and_tables(gpu, signatures, dtype):
    be, rec = gpu
    shapes = [(3, 4), (5,), (0,)]

    def lst():
        return [_r(s, dtype) for s in shapes]

    p, g = lst(), lst()
    be.sgd_step(p, g, lst(), lr=0.1, momentum=0.9, dampening=0.0, weight_decay=0.0,
                nesterov=False, first_step=True)
    be.adam_step(p, g, lst(), lst(), lst(), step=[1, 2, 3], lr=1e-3, beta1=0.9, beta2=0.999,
                 eps=1e-8, weight_decay=0.0, amsgrad=True, decoupled=True)
    be.rmsprop_step(p, g, lst(), lst(), None, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0,
                    momentum=0.0, centered=True)
    be.adagrad_step(p, g, lst(), step=4, lr=1e-2, lr_decay=0.0, eps=1e-10, weight_decay=0.0)
    be.adadelta_step(p, g, lst(), lst(), lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0)
    norm = be.grad_norm(g, 2.0)
    assert norm.shape == () and norm.dtype == np.float64
    be.scale_(g, norm)
    be.scale_(g, 0.5)
    be.clamp_(g, -1.0, 1.0)
    check_launches(rec, signatures, {"sgd_step", "adam_step", "rmsprop_step", "adagrad_step",
                                     "adadelta_step", "grad_norm_partial", "grad_norm_finish",
                                     "scale_step", "clamp_step"})
    # The Adam table holds the params' pointers, the offsets and [lr, steps...].
    name, _, _, args = next(x for x in rec.launches if x[0].startswith("adam_step"))
    table, count, hyper = args[0], int(args[1]), args[2]
    assert count == 3
    assert [int(v) for v in table[:3]] == [a.data.ptr for a in p]
    assert list(table[5 * count:5 * count + 4].view(np.int64)) == [0, 12, 17, 17]
    assert list(hyper) == [1e-3, 1.0, 2.0, 3.0]


def test_optimizer_rejects_mismatched_groups(gpu):
    be, _ = gpu
    p = [_r((3,), np.float32)]
    with pytest.raises(ValueError, match="grads has 2 arrays but params has 1"):
        be.sgd_step(p, p + p, None, lr=0.1, momentum=0.0, dampening=0.0, weight_decay=0.0,
                    nesterov=False, first_step=True)
    with pytest.raises(ValueError, match="same array"):
        be.adam_step(p, p, [_r((3,), np.float32)], [_r((3,), np.float32)], None, step=1,
                     lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, amsgrad=False,
                     decoupled=False)
    with pytest.raises(TypeError, match="dtype"):
        be.sgd_step(p, [_r((3,), np.float64)], None, lr=0.1, momentum=0.0, dampening=0.0,
                    weight_decay=0.0, nesterov=False, first_step=True)


def test_scalars_become_fill_kernels_not_copies(gpu):
    be, _ = gpu
    a = be.asarray(0.5, np.float32)
    assert a.shape == () and a.dtype == np.float32 and float(a) == 0.5
    assert be.asarray(np.float64(2.0)).dtype == np.float64
    assert be.asarray([1.0, 2.0]).shape == (2,)


def test_unknown_names_are_value_errors(gpu):
    be, _ = gpu
    x = _r((3,), np.float32)
    with pytest.raises(ValueError, match="unknown unary op"):
        be.unary_forward("nope", x)
    with pytest.raises(ValueError, match="unknown binary op"):
        be.binary_forward("nope", x, x)
    with pytest.raises(ValueError, match="unknown reduction"):
        be.reduce("nope", x, None, False)
    with pytest.raises(TypeError, match="float32 or float64"):
        be.unary_forward("relu", _fa(np.arange(3)))


def test_uses_y_set_matches_binary_header():
    # backend/cuda.py refuses y=None for the ops whose backward reads y (kUsesY = true).
    text = (CSRC / "math" / "binary.h").read_text()
    users = set(re.findall(r"struct (\w+) \{\s*static constexpr bool kUsesY = true;", text))
    pairs = dict((f, n) for n, f in re.findall(r"X\((\w+), (\w+)\)", text))
    assert {pairs[f] for f in users} == cb._USES_Y


def test_pow_backward_without_y_is_refused(gpu):
    be, _ = gpu
    x = _r((3,), np.float32, 0.5, 1.0)
    with pytest.raises(ValueError, match="needs the forward output"):
        be.binary_backward("pow", x, x, None, x, True, True)
    ga, gb = be.binary_backward("mul", x, x, None, x, True, True)
    assert ga.shape == gb.shape == (3,)
