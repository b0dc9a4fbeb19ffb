"""Checkpoints: nested training state (dicts, lists, arrays, Tensors, scalars) in one ``.npz``.

Every array goes in the archive as its own entry; everything else goes in one JSON document
stored as the entry ``__state__`` (UTF-8 bytes), where each array is replaced by a reference
to its entry. Loading needs no pickle (``allow_pickle=False``), so a checkpoint from an
untrusted source cannot run code.

See Note [checkpoint encoding] for the JSON forms of values JSON itself cannot hold.
"""

from __future__ import annotations

import json
import os
import zipfile
from typing import Any

import numpy as np

__all__ = ["CheckpointError", "load_checkpoint", "save_checkpoint"]

_STATE_KEY = "__state__"
_FORMAT = "fusegrad-checkpoint"
_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint file that is missing, unreadable or not a fusegrad checkpoint."""


# Note [checkpoint encoding]
# JSON keeps str/int/float/bool/None/list/dict-with-str-keys exactly (Python's json writes
# floats with repr, so they round-trip bit for bit, inf/nan included). The rest is tagged:
#   ndarray          {"__array__": "a12"}                 entry "a12" of the archive
#   NumPy scalar     {"__array__": "a12", "scalar": true}  a 0-d entry, back as np.float32(...)
#   fusegrad Tensor  {"__array__": "a12", "tensor": true}  back as a CPU Tensor
#   tuple            {"__tuple__": [...]}
#   dict, other keys {"__dict__": [[key, value], ...]}      optimizer state is keyed by int
# Anything else (a function, a lambda of LambdaLR) raises TypeError naming its path.


def _is_tensor(value: Any) -> bool:
    return type(value).__module__.startswith("fusegrad.") and hasattr(value, "_data")


def _encode(value: Any, arrays: dict[str, np.ndarray], path: str) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.ndarray) or isinstance(value, np.generic) or _is_tensor(value):
        key = f"a{len(arrays)}"
        if _is_tensor(value):
            arrays[key] = np.array(value.detach().cpu().numpy())
            return {"__array__": key, "tensor": True}
        arrays[key] = np.array(value)  # a copy: later in-place updates do not reach the file
        return {"__array__": key, "scalar": True} if isinstance(value, np.generic) else {
            "__array__": key}
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v, arrays, f"{path}[{i}]") for i, v in enumerate(value)]}
    if isinstance(value, list):
        if all(type(v) in (float, int, str) for v in value):  # fast path: long metric lists
            return list(value)
        return [_encode(v, arrays, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value) and not any(k.startswith("__") for k in value):
            return {k: _encode(v, arrays, f"{path}.{k}") for k, v in value.items()}
        return {"__dict__": [[_encode(k, arrays, path), _encode(v, arrays, f"{path}[{k!r}]")]
                             for k, v in value.items()]}
    raise TypeError(f"cannot store {type(value).__name__} at {path} in a checkpoint")


def _decode(value: Any, archive: Any) -> Any:
    if isinstance(value, list):
        return [_decode(v, archive) for v in value]
    if not isinstance(value, dict):
        return value
    if "__array__" in value:
        array = archive[value["__array__"]]
        if value.get("scalar"):
            return array[()]
        if value.get("tensor"):
            from fusegrad.autograd.creation import from_numpy

            return from_numpy(array)
        return array
    if "__tuple__" in value:
        return tuple(_decode(v, archive) for v in value["__tuple__"])
    if "__dict__" in value:
        return {_decode(k, archive): _decode(v, archive) for k, v in value["__dict__"]}
    return {k: _decode(v, archive) for k, v in value.items()}


def save_checkpoint(path: str | os.PathLike[str], state: dict[str, Any]) -> None:
    """Writes ``state`` (nested dicts/lists/tuples of arrays, Tensors and scalars) to ``path``.

    The file is written next to ``path`` first and renamed over it, so an interrupted save
    never leaves a half-written checkpoint behind.

    Args:
        path: file name; NumPy appends nothing (the name is used as given).
        state: e.g. ``Trainer.state_dict()``.

    Raises:
        TypeError: a value that is not storable (its path in ``state`` is named).
    """
    arrays: dict[str, np.ndarray] = {}
    doc = {"format": _FORMAT, "version": _VERSION, "state": _encode(state, arrays, "state")}
    blob = np.frombuffer(json.dumps(doc).encode("utf-8"), dtype=np.uint8)
    path = os.fspath(path)
    tmp = f"{path}.tmp"
    with open(tmp, "wb") as f:
        np.savez(f, **{_STATE_KEY: blob}, **arrays)
    os.replace(tmp, path)


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Reads a checkpoint written by ``save_checkpoint``; arrays come back as NumPy arrays.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        CheckpointError: the file is not a readable fusegrad checkpoint.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as archive:
            if _STATE_KEY not in archive.files:
                raise CheckpointError(f"{path} is not a fusegrad checkpoint (no {_STATE_KEY})")
            doc = json.loads(archive[_STATE_KEY].tobytes().decode("utf-8"))
            if doc.get("format") != _FORMAT:
                raise CheckpointError(f"{path} is not a fusegrad checkpoint")
            if doc.get("version", 0) > _VERSION:
                raise CheckpointError(
                    f"{path} has checkpoint version {doc['version']}; this fusegrad reads "
                    f"up to {_VERSION}"
                )
            return _decode(doc["state"], archive)
    except CheckpointError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, KeyError, EOFError) as e:
        # ValueError covers JSONDecodeError, UnicodeDecodeError and np.load refusing a pickle.
        raise CheckpointError(f"{path} is not a readable checkpoint: {e}") from e
