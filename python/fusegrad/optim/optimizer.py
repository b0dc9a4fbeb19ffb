"""Optimizer base class: param groups, per-parameter state, zero_grad, state_dict (PyTorch's shape).

Note [Optimizer state storage]
``optimizer.state[p]`` is a dict per parameter Tensor with PyTorch's key names
(``exp_avg``, ``momentum_buffer``, ...). Buffers are stored as raw arrays of the parameter's
device (NumPy on CPU, CuPy on CUDA), not as Tensors: the fused kernels take raw arrays, and
wrapping them would only add a Python object per buffer per step. ``step`` is a Python
float, one per parameter as in PyTorch (a parameter whose grad was None does not count the
step). ``state_dict()`` returns COPIES as NumPy arrays (a checkpoint that does not change as
training goes on and loads on any device); ``load_state_dict()`` copies them back, cast to
each parameter's dtype and device, so a resumed run continues bit-for-bit like the original.
``state_dict()["state"]`` is keyed by integer parameter ids (order of appearance over the
groups) and ``param_groups[i]["params"]`` holds those ids, exactly PyTorch's format.
"""

from __future__ import annotations

import copy
from typing import Any, Callable, Iterable

import numpy as np

from fusegrad.autograd.grad_mode import enable_grad
from fusegrad.autograd.tensor import Tensor


class _RequiredParameter:
    """Marker for a hyper-parameter without default (PyTorch's ``required``)."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _RequiredParameter()


def _to_numpy(value: Any) -> np.ndarray:
    """NumPy copy of a state value: fusegrad Tensor, NumPy/CuPy array or torch tensor."""
    if isinstance(value, Tensor):
        value = value._data
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor
        value = value.detach().cpu().numpy()
    if hasattr(value, "get") and not isinstance(value, np.ndarray):  # a CuPy array
        value = value.get()
    return np.array(value, copy=True)


class Optimizer:
    """Base class of all optimizers (PyTorch's ``torch.optim.Optimizer`` contract).

    Subclasses implement ``_step_fused(group)`` (one backend call per group: the fast path
    ``step()`` uses) and ``_step_reference(group)`` (plain array code, the readable spec the
    tests compare against), plus ``_init_state(p, state, group)``.

    Args:
        params: an iterable of Tensors, or of dicts (param groups) with a ``"params"`` entry
            and per-group hyper-parameters.
        defaults: default hyper-parameters for groups that do not set them.
    """

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        self.state: dict[Tensor, dict[str, Any]] = {}
        self.param_groups: list[dict[str, Any]] = []
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of "
                            "Tensors or dicts, but got a Tensor")
        groups = list(params)
        if len(groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for g in groups:
            self.add_param_group(g)

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in sorted(g.items()) if k != "params"]
        return "\n".join(lines + [")"])

    # ---- param groups -------------------------------------------------------------------
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group (dict with ``"params"``); missing hyper-parameters take the defaults."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        group = dict(param_group)
        params = group["params"]
        group["params"] = [params] if isinstance(params, Tensor) else list(params)
        for p in group["params"]:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params "
                                f"is {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
        if len({id(p) for p in group["params"]}) != len(group["params"]):
            raise ValueError("optimizer contains a parameter group with duplicate parameters")
        for name, default in self.defaults.items():
            if default is required and name not in group:
                raise ValueError(f"parameter group didn't specify a value of required "
                                 f"optimization parameter {name}")
            group.setdefault(name, default)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in group["params"]):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    # ---- gradients ----------------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset every parameter's grad: to None (default, as PyTorch), or fill it with 0."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    p.grad.grad_fn = None
                    p.grad._data.fill(0)

    # ---- stepping -----------------------------------------------------------------------
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter that has a grad; returns closure() if given."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            self._step_fused(group)
        return loss

    def _step_fused(self, group: dict[str, Any]) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _step_reference(self, group: dict[str, Any]) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _init_state(self, p: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        """Create p's state on its first update (lazy, as PyTorch)."""

    def _active(self, group: dict[str, Any]) -> list[tuple[Tensor, Any, dict]]:
        """(param, contiguous grad array, state) for the group's params whose grad is not
        None, creating state on first use. A parameter whose grad is None is skipped."""
        out = []
        state_of = self.state
        for p in group["params"]:
            grad = p.grad
            if grad is None:
                continue
            g = grad._data
            x = p._data
            if g.dtype != x.dtype:
                raise TypeError(f"grad of dtype {g.dtype} for a parameter of dtype {x.dtype}")
            if g.shape != x.shape:
                raise ValueError(f"grad has shape {tuple(g.shape)} but its parameter has "
                                 f"shape {tuple(x.shape)}")
            if not g.flags.c_contiguous:
                g = p.backend.xp.ascontiguousarray(g)
            state = state_of.get(p)
            if state is None:
                state = state_of[p] = {}
                self._init_state(p, state, group)
            out.append((p, g, state))
        return out

    @staticmethod
    def _buckets(active: list) -> list[list]:
        """Split a group's active params by (device, dtype): one fused call per bucket
        (a group normally has one; a kernel call takes one dtype and one device)."""
        buckets: dict[tuple, list] = {}
        for item in active:
            p = item[0]
            buckets.setdefault((p.device, p._data.dtype), []).append(item)
        return list(buckets.values())

    # ---- checkpoints --------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """``{"state": {id: {...}}, "param_groups": [{..., "params": [ids]}]}`` (copies)."""
        ids: dict[int, int] = {}
        groups = []
        for g in self.param_groups:
            packed = {k: copy.deepcopy(v) for k, v in g.items() if k != "params"}
            packed["params"] = []
            for p in g["params"]:
                ids.setdefault(id(p), len(ids))
                packed["params"].append(ids[id(p)])
            groups.append(packed)
        state = {}
        for g in self.param_groups:
            for p in g["params"]:
                if p in self.state:
                    state[ids[id(p)]] = {
                        k: (float(v) if k == "step" else
                            _to_numpy(v) if hasattr(v, "shape") else copy.deepcopy(v))
                        for k, v in self.state[p].items()
                    }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a ``state_dict()`` (ours or PyTorch's): hyper-parameters and state are copied,
        buffers cast to each parameter's dtype and device."""
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        for mine, saved in zip(self.param_groups, groups):
            if len(mine["params"]) != len(saved["params"]):
                raise ValueError("loaded state dict contains a parameter group that doesn't "
                                 "match the size of optimizer's group")
        id_map = {}
        for mine, saved in zip(self.param_groups, groups):
            id_map.update(zip(saved["params"], mine["params"]))
        self.state = {}
        for k, st in state_dict["state"].items():
            if k not in id_map:
                continue
            p = id_map[k]
            new = {}
            for name, v in st.items():
                if name == "step":
                    new[name] = float(_to_numpy(v))
                elif hasattr(v, "shape"):
                    arr = _to_numpy(v).astype(p._data.dtype, copy=False)
                    if tuple(arr.shape) != tuple(p.shape):
                        raise ValueError(f"state {name!r} has shape {tuple(arr.shape)} but its "
                                         f"parameter has shape {tuple(p.shape)}")
                    new[name] = p.backend.asarray(np.ascontiguousarray(arr))
                else:
                    new[name] = copy.deepcopy(v)
            self.state[p] = new
        for mine, saved in zip(self.param_groups, groups):
            for key, value in saved.items():
                if key != "params":
                    mine[key] = copy.deepcopy(value)


__all__ = ["Optimizer", "required"]
