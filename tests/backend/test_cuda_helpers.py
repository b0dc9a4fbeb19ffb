"""The host-side logic of backend/cuda.py that needs no GPU: strided layouts, dim merging,
reduction plans, optimizer tables, launch grids.

Each layout test replays what the kernels do with it (csrc/cuda/common.cuh strided_offsets:
peel C-order indices off the merged shape, dot them with each operand's element strides) on a
NumPy buffer, and compares with NumPy's own broadcasting.
"""

from __future__ import annotations

import ctypes

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from fusegrad.backend import cuda as cb


def _offsets(i: int, words: tuple, ndim: int, k: int) -> list[int]:
    """Python transcription of strided_offsets<K> (csrc/cuda/common.cuh)."""
    shape = words[:ndim]
    off = [0] * k
    for d in range(ndim - 1, -1, -1):
        i, idx = divmod(i, shape[d])
        for q in range(k):
            off[q] += idx * words[(q + 1) * ndim + d]
    return off


def _value_at(a: np.ndarray, elem_offset: int) -> float:
    """The element ``elem_offset`` elements away from a's data pointer (what a kernel reads)."""
    addr = a.__array_interface__["data"][0] + elem_offset * a.itemsize
    return np.frombuffer((ctypes.c_char * a.itemsize).from_address(addr), dtype=a.dtype)[0]


def _read_like_kernel(arrays: list[np.ndarray], out_shape: tuple) -> list[np.ndarray]:
    """Values of each operand at every output index, read the way the CUDA kernels do."""
    n = int(np.prod(out_shape))
    plan = cb.layout_words(out_shape, [(a.shape, a.strides, a.itemsize, f"op{q}")
                                       for q, a in enumerate(arrays)])
    outs = []
    for q, a in enumerate(arrays):
        vals = np.empty(n, a.dtype)
        for i in range(n):
            if plan is None:  # the fast path: operand index = output index
                assert a.flags.c_contiguous and a.size == n or n == 1
                off = i
            else:
                ndim, words = plan
                assert 0 < ndim <= cb.MAX_DIMS
                off = _offsets(i, words, ndim, len(arrays))[q]
            vals[i] = _value_at(a, off)
        outs.append(vals.reshape(out_shape))
    return outs


@st.composite
def _views(draw):
    """Two mutually broadcastable arrays, each possibly a transposed / sliced / reversed view."""
    shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=4, min_side=1,
                                                    max_side=4))
    arrays = []
    for q, shape in enumerate(shapes.input_shapes):
        kind = draw(st.sampled_from(["plain", "transposed", "sliced", "reversed"]))
        base = np.arange(1, 1 + 4 * max(1, int(np.prod(shape)))).astype(np.float32) * (q + 1)
        if kind == "sliced":
            a = base[: 2 * int(np.prod(shape))][::2].reshape(shape)
        elif kind == "transposed" and len(shape) >= 2:
            a = base[: int(np.prod(shape))].reshape(shape[::-1]).T
        elif kind == "reversed" and len(shape) >= 1:
            a = base[: int(np.prod(shape))].reshape(shape)[::-1]
        else:
            a = base[: int(np.prod(shape))].reshape(shape)
        arrays.append(a)
    return arrays, shapes.result_shape


@given(_views())
def test_layout_reads_what_numpy_broadcasting_reads(case):
    arrays, out_shape = case
    got = _read_like_kernel(arrays, out_shape)
    for a, g in zip(arrays, got):
        np.testing.assert_array_equal(g, np.broadcast_to(a, out_shape))


def test_contiguous_same_shape_takes_the_fast_path():
    a = np.zeros((3, 4), np.float64)
    assert cb.layout_words((3, 4), [(a.shape, a.strides, 8, "a"), (a.shape, a.strides, 8, "b")]) is None


def test_bias_broadcast_merges_to_two_dims():
    x, b = np.zeros((5, 6, 7), np.float32), np.zeros((7,), np.float32)
    ndim, words = cb.layout_words((5, 6, 7), [(x.shape, x.strides, 4, "x"), (b.shape, b.strides, 4, "b")])
    assert ndim == 2 and words == (30, 7, 7, 1, 0, 1)


def test_layout_rejects_shapes_that_do_not_broadcast():
    a = np.zeros((3, 4), np.float32)
    with pytest.raises(ValueError, match=r"\(3, 4\).*\(3, 5\)"):
        cb.layout_words((3, 5), [(a.shape, a.strides, 4, "a")])


def test_layout_with_too_many_dims_asks_for_a_copy():
    # Alternating broadcast dims cannot merge: 2 * MAX_DIMS dims stay separate.
    nd = 2 * cb.MAX_DIMS
    a_shape = tuple(2 if d % 2 else 1 for d in range(nd))
    b_shape = tuple(1 if d % 2 else 2 for d in range(nd))
    a, b = np.zeros(a_shape, np.float32), np.zeros(b_shape, np.float32)
    out = tuple(2 for _ in range(nd))
    assert cb.layout_words(out, [(a.shape, a.strides, 4, "a"), (b.shape, b.strides, 4, "b")]) == (-1, ())


@pytest.mark.parametrize(("shape", "axes", "expect"), [
    ((2, 3, 4), (2,), ("block", 6, 4, 1)),
    ((2, 3, 4), (0,), ("block", 1, 2, 12)),
    ((2, 3, 4), (1,), ("block", 2, 3, 4)),
    ((2, 3, 4), (0, 1), ("block", 1, 6, 4)),
    ((2, 3, 4), (0, 2), ("transpose", 3, 8, 1)),
    ((2, 3, 4), (0, 1, 2), ("block", 1, 24, 1)),
], ids=["last", "first", "middle", "leading-pair", "split", "all"])
def test_reduction_plan(shape, axes, expect):
    how, perm, outer, length, inner = cb.reduction_plan(shape, axes)
    assert (how, outer, length, inner) == expect
    # The plan reduces exactly the requested axes: emulate it with NumPy.
    x = np.arange(np.prod(shape), dtype=np.float64).reshape(shape)
    xt = np.ascontiguousarray(x.transpose(perm)).reshape(outer, length, inner)
    np.testing.assert_array_equal(xt.sum(axis=1).ravel(), x.sum(axis=axes).ravel())


@pytest.mark.parametrize(("axes", "ndim", "expect"), [
    (None, 3, (0, 1, 2)), (-1, 3, (2,)), ((2, 0, -2), 3, (0, 1, 2)), ((), 2, ()), (None, 0, ()),
])
def test_normalize_axes(axes, ndim, expect):
    assert cb.normalize_axes(axes, ndim) == expect


def test_normalize_axes_out_of_range_or_repeated():
    with pytest.raises(ValueError, match="out of range"):
        cb.normalize_axes(3, 3)
    with pytest.raises(ValueError, match="duplicate"):
        cb.normalize_axes((2, -1), 3)


def test_optim_table_layout():
    # Note [CUDA optimizer table]: lists, offsets (prefix sums), then hyper as float64 bits.
    words, h0 = cb.optim_table([[11, 12, 13], [21, 22, 23], None], [4, 0, 5], [0.5, 1.0, 7.0, 2.0])
    assert words.dtype == np.uint64
    assert list(words[:9]) == [11, 12, 13, 21, 22, 23, 0, 0, 0]
    assert list(words[9:13].view(np.int64)) == [0, 4, 4, 9]
    assert h0 == 13
    assert list(words[h0:].view(np.float64)) == [0.5, 1.0, 7.0, 2.0]


@pytest.mark.parametrize(("n", "expect"), [(0, 1), (1, 1), (256, 1), (257, 2),
                                           (10**9, cb.MAX_GRID)])
def test_grid_for(n, expect):
    assert cb.grid_for(n) == expect


def test_launch_constants_match_common_cuh():
    # backend/cuda.py mirrors the launch constants of csrc/cuda/common.cuh and matmul.cu.
    text = (cb.csrc_dir() / "cuda" / "common.cuh").read_text()
    for py, cxx in (("BLOCK", "kBlock"), ("MAX_GRID", "kMaxGrid"), ("MAX_DIMS", "kMaxDims"),
                    ("ROW_BLOCK", "kRowBlock")):
        assert f"constexpr int {cxx} = {getattr(cb, py)};" in text, cxx
    mm = (cb.csrc_dir() / "cuda" / "matmul.cu").read_text()
    assert f"kColTile = {cb.COL_TILE};" in mm and f"kRowLanes = {cb.ROW_LANES};" in mm


def test_source_carries_a_header_hash():
    code, options = cb._source("elementwise")
    assert code.rstrip().splitlines()[-1].startswith("// fusegrad headers ")
    assert f"-I{cb.csrc_dir()}" in options and "-std=c++17" in options
