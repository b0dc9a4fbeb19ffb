"""Data set readers: scikit-learn's bundled 8x8 digits and MNIST-layout IDX files.

Nothing here downloads: ``load_mnist`` reads files the user already has.
"""

from __future__ import annotations

import gzip
import importlib.util
import math
import os
import zlib
from pathlib import Path

import numpy as np

__all__ = ["load_digits", "load_mnist", "read_idx"]

_digits_cache: tuple[np.ndarray, np.ndarray] | None = None


def _read_digits() -> tuple[np.ndarray, np.ndarray]:
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "load_digits() reads the digits data that ships with scikit-learn, which is not "
            "installed: pip install scikit-learn"
        )
    # Read the packaged CSV directly (1797 rows: 64 pixel values 0..16, then the label):
    # importing sklearn.datasets costs about a second, the file read a few milliseconds.
    csv = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "digits.csv.gz"
    if csv.is_file():
        table = np.loadtxt(csv, delimiter=",", dtype=np.float64)
        X, y = table[:, :64], table[:, 64]
    else:  # a scikit-learn that moved its data file: ask its public loader
        from sklearn.datasets import load_digits as sk_load_digits

        X, y = sk_load_digits(return_X_y=True)
    return np.ascontiguousarray(X, dtype=np.float32), np.asarray(y, dtype=np.int64)


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """Returns scikit-learn's 8x8 handwritten digits (the default training set).

    Returns:
        ``(X, y)``: X float32 of shape (1797, 64) holding the raw pixel values 0..16, and
        y int64 of shape (1797,) with the classes 0..9. The data are read once per process;
        each call returns fresh copies.

    Raises:
        ImportError: scikit-learn is not installed.
    """
    global _digits_cache
    if _digits_cache is None:
        _digits_cache = _read_digits()
    X, y = _digits_cache
    return X.copy(), y.copy()


# IDX type codes (third magic byte) -> big-endian element dtype.
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def _read_bytes(path: Path) -> bytes:
    """The file's content, gunzipped when the name ends in ``.gz``; ValueError if corrupt."""
    if path.suffix != ".gz":
        return path.read_bytes()
    try:
        with gzip.open(path, "rb") as f:
            return f.read()
    # BadGzipFile: not gzip at all; EOFError: cut short; zlib.error: damaged deflate stream.
    except (gzip.BadGzipFile, EOFError, zlib.error) as e:
        raise ValueError(f"{path}: corrupt gzip file ({e})") from e


def read_idx(path: str | os.PathLike[str], expect_magic: int | None = None) -> np.ndarray:
    """Reads one IDX file (plain or ``.gz``) into a NumPy array of its native shape.

    Layout: a big-endian 32-bit magic number ``0x0000TTNN`` (TT the element type, NN the
    number of dimensions), NN big-endian uint32 dimensions, then the elements, row-major.

    Args:
        path: the file.
        expect_magic: if given, the magic number the file must have (0x00000803 for MNIST
            images, 0x00000801 for labels).

    Returns:
        The array, in native byte order (uint8 for MNIST files).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: corrupt gzip data, a bad or unexpected magic number, or a byte count that
            does not match the header (the message names the file and both counts).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"IDX file not found: {path}")
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise ValueError(f"{path}: truncated IDX file, {len(raw)} bytes is too short for a header")
    magic = int.from_bytes(raw[:4], "big")
    if expect_magic is not None and magic != expect_magic:
        raise ValueError(
            f"{path}: wrong magic number 0x{magic:08X}, expected 0x{expect_magic:08X}"
        )
    type_code, ndim = raw[2], raw[3]
    if raw[0] != 0 or raw[1] != 0 or type_code not in _IDX_DTYPES or ndim == 0:
        raise ValueError(f"{path}: not an IDX file (magic number 0x{magic:08X})")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(
            f"{path}: truncated IDX header, expected {header} bytes, got {len(raw)}"
        )
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = _IDX_DTYPES[type_code]
    expected = header + math.prod(shape) * dtype.itemsize
    if len(raw) != expected:
        what = "truncated" if len(raw) < expected else "corrupt (trailing bytes)"
        raise ValueError(
            f"{path}: {what} IDX file of shape {shape}: expected {expected} bytes, got {len(raw)}"
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


_IMAGES_MAGIC = 0x00000803  # uint8, 3 dimensions (count, rows, cols)
_LABELS_MAGIC = 0x00000801  # uint8, 1 dimension (count)


def _find_idx(directory: Path, stem: str) -> Path:
    """The file for ``stem`` in ``directory``: plain preferred over ``.gz``.

    Also accepts the ``train-images.idx3-ubyte`` spelling some mirrors use.
    """
    dotted = stem.replace("-idx", ".idx")
    for name in (stem, stem + ".gz", dotted, dotted + ".gz"):
        if (directory / name).is_file():
            return directory / name
    raise FileNotFoundError(f"MNIST file {stem!r} (or {stem}.gz) not found in {directory}")


def _load_split(directory: Path, prefix: str) -> tuple[np.ndarray, np.ndarray]:
    images_path = _find_idx(directory, f"{prefix}-images-idx3-ubyte")
    labels_path = _find_idx(directory, f"{prefix}-labels-idx1-ubyte")
    images = read_idx(images_path, expect_magic=_IMAGES_MAGIC)
    labels = read_idx(labels_path, expect_magic=_LABELS_MAGIC)
    if images.shape[1:] != (28, 28):
        raise ValueError(f"{images_path}: images are {images.shape[1:]}, expected (28, 28)")
    if images.shape[0] != labels.shape[0]:
        raise ValueError(
            f"image/label count mismatch: {images_path} holds {images.shape[0]} images, "
            f"{labels_path} holds {labels.shape[0]} labels"
        )
    if labels.size and labels.max() > 9:
        raise ValueError(f"{labels_path}: label {int(labels.max())} out of range 0..9")
    X = images.reshape(images.shape[0], 28 * 28).astype(np.float32)
    X /= np.float32(255.0)
    return X, labels.astype(np.int64)


def load_mnist(
    path: str | os.PathLike[str],
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Reads MNIST (or a data set in the same layout, e.g. Fashion-MNIST) from a directory.

    The directory holds ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``, each plain or gzipped
    (``.gz``); where both exist the plain file is read.

    Args:
        path: the directory.

    Returns:
        ``((X_train, y_train), (X_test, y_test))``: X float32 of shape (N, 784) scaled to
        [0, 1], y int64.

    Raises:
        FileNotFoundError: the directory or one of the files is missing (named).
        ValueError: a file is truncated, corrupt, has the wrong magic number or image size,
            labels outside 0..9, or images and labels disagree in count (files named).
    """
    directory = Path(path)
    if not directory.is_dir():
        raise FileNotFoundError(f"MNIST directory not found: {directory}")
    return _load_split(directory, "train"), _load_split(directory, "t10k")
