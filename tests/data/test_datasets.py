"""load_digits and the IDX/MNIST reader (on small files each test writes)."""

from __future__ import annotations

import gzip
import re
import struct
from pathlib import Path

import numpy as np
import pytest

from fusegrad.data import load_digits, load_mnist, read_idx

_NAMES = {
    ("train", "images"): "train-images-idx3-ubyte",
    ("train", "labels"): "train-labels-idx1-ubyte",
    ("t10k", "images"): "t10k-images-idx3-ubyte",
    ("t10k", "labels"): "t10k-labels-idx1-ubyte",
}


def _idx_bytes(a: np.ndarray, type_code: int = 0x08) -> bytes:
    header = struct.pack(">BBBB", 0, 0, type_code, a.ndim) + struct.pack(f">{a.ndim}I", *a.shape)
    return header + a.tobytes()


def _write(path: Path, data: bytes, gz: bool) -> Path:
    if gz:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    return path


def _write_mnist(directory: Path, gz: bool, n_train: int = 5, n_test: int = 3, seed: int = 0):
    """Writes a tiny MNIST-layout data set; returns the arrays written."""
    rng = np.random.default_rng(seed)
    written = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        _write(directory / _NAMES[split, "images"], _idx_bytes(images), gz)
        _write(directory / _NAMES[split, "labels"], _idx_bytes(labels), gz)
        written[split] = (images, labels)
    return written


def test_load_digits_shape_dtype_range():
    X, y = load_digits()
    assert X.shape == (1797, 64) and X.dtype == np.float32
    assert y.shape == (1797,) and y.dtype == np.int64
    assert X.min() == 0 and X.max() == 16 and np.array_equal(X, np.round(X))
    assert np.array_equal(np.unique(y), np.arange(10))


def test_load_digits_matches_sklearn():
    datasets = pytest.importorskip("sklearn.datasets")
    X_ref, y_ref = datasets.load_digits(return_X_y=True)
    X, y = load_digits()
    assert np.array_equal(X, X_ref) and np.array_equal(y, y_ref)


def test_load_digits_returns_fresh_copies():
    X, _ = load_digits()
    X[:] = -1
    assert load_digits()[0].min() == 0


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_load_mnist_reads_idx_files(tmp_path, gz):
    written = _write_mnist(tmp_path, gz)
    (X_train, y_train), (X_test, y_test) = load_mnist(tmp_path)
    for (X, y), split in (((X_train, y_train), "train"), ((X_test, y_test), "t10k")):
        images, labels = written[split]
        assert X.dtype == np.float32 and X.shape == (images.shape[0], 784)
        assert y.dtype == np.int64
        np.testing.assert_allclose(X, images.reshape(-1, 784) / 255.0, rtol=1e-6)
        assert X.min() >= 0.0 and X.max() <= 1.0
        assert np.array_equal(y, labels)


def test_load_mnist_prefers_plain_over_gzip(tmp_path):
    written = _write_mnist(tmp_path, gz=False, seed=1)
    _write_mnist(tmp_path, gz=True, seed=2)  # different content under the .gz names
    (_, y_train), _ = load_mnist(tmp_path)
    assert np.array_equal(y_train, written["train"][1])


def test_load_mnist_missing_file_names_file_and_directory(tmp_path):
    _write_mnist(tmp_path, gz=True)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte") as info:
        load_mnist(tmp_path)
    assert str(tmp_path) in str(info.value)


def test_load_mnist_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_mnist(tmp_path / "nowhere")


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_load_mnist_truncated_file_names_file_and_counts(tmp_path, gz):
    _write_mnist(tmp_path, gz=False)
    path = tmp_path / _NAMES["train", "images"]
    data = path.read_bytes()[:-100]
    path.unlink()
    path = _write(path, data, gz)
    expected = 16 + 5 * 28 * 28
    with pytest.raises(ValueError, match=re.escape(path.name)) as info:
        load_mnist(tmp_path)
    assert "truncated" in str(info.value)
    assert f"expected {expected} bytes, got {expected - 100}" in str(info.value)


def test_load_mnist_wrong_magic(tmp_path):
    _write_mnist(tmp_path, gz=False)
    # A labels file where the images file should be: a valid IDX file, wrong magic.
    labels = np.zeros(5, dtype=np.uint8)
    (tmp_path / _NAMES["train", "images"]).write_bytes(_idx_bytes(labels))
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte.*magic.*0x00000801"):
        load_mnist(tmp_path)


def test_load_mnist_count_mismatch_names_both_files(tmp_path):
    _write_mnist(tmp_path, gz=True)
    labels = np.zeros(4, dtype=np.uint8)  # t10k holds 3 images
    _write(tmp_path / _NAMES["t10k", "labels"], _idx_bytes(labels), gz=False)
    (tmp_path / (_NAMES["t10k", "labels"] + ".gz")).unlink()
    with pytest.raises(ValueError, match="mismatch") as info:
        load_mnist(tmp_path)
    assert "t10k-images-idx3-ubyte" in str(info.value)
    assert "t10k-labels-idx1-ubyte" in str(info.value)


@pytest.mark.parametrize("damage", ["not-gzip", "cut-short", "bad-crc"])
def test_load_mnist_corrupt_gzip_names_file(tmp_path, damage):
    _write_mnist(tmp_path, gz=True)
    path = tmp_path / (_NAMES["train", "labels"] + ".gz")
    blob = path.read_bytes()
    if damage == "not-gzip":
        blob = b"this is not gzip data at all"
    elif damage == "cut-short":
        blob = blob[: len(blob) // 2]
    else:  # flip the stored CRC-32 (bytes -8..-5 of a gzip member)
        blob = blob[:-8] + bytes(b ^ 0xFF for b in blob[-8:-4]) + blob[-4:]
    path.write_bytes(blob)
    with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte\.gz.*gzip"):
        load_mnist(tmp_path)


def test_load_mnist_wrong_image_size(tmp_path):
    _write_mnist(tmp_path, gz=False)
    images = np.zeros((5, 8, 8), dtype=np.uint8)
    (tmp_path / _NAMES["train", "images"]).write_bytes(_idx_bytes(images))
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte.*\(28, 28\)"):
        load_mnist(tmp_path)


def test_load_mnist_label_out_of_range(tmp_path):
    _write_mnist(tmp_path, gz=False)
    labels = np.array([0, 1, 2, 3, 10], dtype=np.uint8)
    (tmp_path / _NAMES["train", "labels"]).write_bytes(_idx_bytes(labels))
    with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte.*10"):
        load_mnist(tmp_path)


@pytest.mark.parametrize(
    ("dtype", "code"),
    [(">u1", 0x08), (">i1", 0x09), (">i2", 0x0B), (">i4", 0x0C), (">f4", 0x0D), (">f8", 0x0E)],
    ids=["u8", "i8", "i16", "i32", "f32", "f64"],
)
def test_read_idx_element_types(tmp_path, dtype, code):
    low = 0 if dtype == ">u1" else -5  # negative values where the type has them
    a = np.arange(low, low + 24).reshape(2, 3, 4).astype(dtype)
    path = _write(tmp_path / "a.idx", _idx_bytes(a, code), gz=False)
    out = read_idx(path)
    assert out.dtype.isnative and out.shape == (2, 3, 4)
    assert np.array_equal(out, a)


@pytest.mark.parametrize(
    "data",
    [b"\x00\x00", b"\x00\x00\x08\x02\x00\x00\x00\x05", b"\x01\x02\x08\x01\x00\x00\x00\x00"],
    ids=["short-header", "short-dims", "bad-magic"],
)
def test_read_idx_rejects_malformed_headers(tmp_path, data):
    path = _write(tmp_path / "bad.idx", data, gz=False)
    with pytest.raises(ValueError, match="bad.idx"):
        read_idx(path)


def test_read_idx_rejects_trailing_bytes(tmp_path):
    path = _write(tmp_path / "long.idx", _idx_bytes(np.zeros(3, np.uint8)) + b"\x00", gz=False)
    with pytest.raises(ValueError, match=r"long.idx.*expected 11 bytes, got 12"):
        read_idx(path)
