"""``fg.cuda.graphs``: capture a whole training step as one CUDA graph, with an eager fallback.

A small MLP step is hundreds of tiny kernel launches whose Python and launch overhead dwarfs the
arithmetic. Captured once, the step replays as one ``cudaGraphLaunch``::

    def train_step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    step = fg.cuda.graphs.capture(train_step, x0, y0, optimizers=[opt])
    for x, y in loader:              # CUDA tensors of the same shapes and dtypes as x0, y0
        loss = step(x, y)            # copies x, y into the captured inputs, replays the graph
    print(step.captured, step.fallback_reason)

How it works (CuPy stream capture, Note [graph capture]):
- ``warmup`` eager calls on a side stream create every lazily-made buffer (optimizer state,
  gradients, the CUDA backend's strided-layout tables), all from a private memory pool that
  only this graph uses, so memory the graph reads and writes is never handed to other code.
- The next call runs under ``Stream.begin_capture``: nothing executes, the launches are
  recorded. Its Python side effects (the optimizer's step counters) happen once, and the first
  replay performs the device work that goes with them.
- Optimizer kernels read lr and the step counts from a device buffer (Note [CUDA optimizer
  table] in csrc/cuda/optim.cu). Before each replay the buffer is rewritten: steps advance by
  one per replay, lr is re-read from the optimizer's param group (so LR schedulers work), and
  the optimizer's own ``state[p]["step"]`` counters advance to match.

Falls back to calling ``fn`` eagerly (``captured`` False, ``fallback_reason`` says why) when
CUDA is unusable, an input is not a CUDA tensor, or capture fails: ``fn`` reads a value on the
host (``loss.item()``), copies host data to the device, draws dropout masks (their seeds would
be frozen into the graph), or the CuPy build cannot capture. The step's outputs are the same
Tensor objects after every replay (their values change), as with ``torch.cuda.graphs``.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np


class GraphCaptureUnsupported(RuntimeError):
    """Raised inside a capture by an operation that cannot be replayed correctly."""


class _OptimSlot:
    """One optimizer launch recorded during capture: its persistent device table and the
    host words (Note [CUDA optimizer table]) to rewrite before each replay."""

    __slots__ = ("buffer", "words", "h0", "kind", "count")

    def __init__(self, buffer: Any, words: np.ndarray, h0: int, kind: str, count: int) -> None:
        self.buffer, self.words, self.h0, self.kind, self.count = buffer, words, h0, kind, count

    @property
    def hyper(self) -> np.ndarray:
        return self.words[self.h0:].view(np.float64)


class _CaptureState:
    """Installed on the CUDA backend while capturing (``backend._capture``)."""

    def __init__(self, cp: Any) -> None:
        self.cp = cp
        self.slots: list[_OptimSlot] = []
        self.keep: list[Any] = []  # device arrays the graph reads (strided-layout tables)

    def optim_buffer(self, words: np.ndarray, h0: int, kind: str, count: int) -> Any:
        # Allocation is fine during capture (the private pool was warmed up); the contents are
        # written after capture, outside the graph.
        buf = self.cp.empty(words.shape, words.dtype)
        self.slots.append(_OptimSlot(buf, words.copy(), h0, kind, count))
        return buf

    def unsupported(self, what: str) -> None:
        raise GraphCaptureUnsupported(f"{what} cannot be captured in a CUDA graph")


_STEP_KINDS = {"adam", "adagrad"}  # hyper[1:] are per-tensor step counts (advance per replay)


class CapturedStep:
    """``fn`` captured as a CUDA graph (or its eager fallback). Call it like ``fn``."""

    def __init__(self, fn: Callable[..., Any], optimizers: Sequence[Any]) -> None:
        self.fn = fn
        self.optimizers = list(optimizers)
        self.captured = False
        self.fallback_reason = ""
        self.replays = 0
        self._graph: Any = None
        self._static_inputs: list[Any] = []
        self._outputs: Any = None
        self._slots: list[_OptimSlot] = []
        self._keep: list[Any] = []
        self._groups: dict[int, tuple[Any, Any, list]] = {}
        self._pool: Any = None
        self._cp: Any = None

    # ---- replay ----------------------------------------------------------------------------
    def __call__(self, *args: Any) -> Any:
        if not self.captured:
            return self.fn(*args)
        if len(args) != len(self._static_inputs):
            raise TypeError(f"captured step takes {len(self._static_inputs)} inputs, "
                            f"got {len(args)}")
        for i, (static, new) in enumerate(zip(self._static_inputs, args)):
            data = getattr(new, "_data", new)
            if data.shape != static._data.shape or data.dtype != static._data.dtype:
                raise ValueError(f"input {i}: captured with shape {static._data.shape} "
                                 f"{static._data.dtype}, got {data.shape} {data.dtype}")
            if data is not static._data:
                self._cp.copyto(static._data, self._cp.asarray(data))
        self._refresh_slots()
        self._graph.launch()
        self.replays += 1
        return self._outputs

    def _group_for(self, slot: _OptimSlot) -> tuple[Any, Any, list]:
        """(optimizer, param group, the slot's params) for an optimizer slot, matched by data
        pointer (a group may launch per dtype bucket, and skips params without a grad).
        Parameters are updated in place, so the match is made once and kept."""
        found = self._groups.get(id(slot))
        if found is None:
            found = self._groups[id(slot)] = self._match_group(slot)
        return found

    def _match_group(self, slot: _OptimSlot) -> tuple[Any, Any, list]:
        ptrs = {int(p) for p in slot.words[:slot.count]}
        for opt in self.optimizers:
            for group in getattr(opt, "param_groups", []):
                mine = [p for p in group.get("params", [])
                        if int(getattr(p, "_data", p).data.ptr) in ptrs]
                if len(mine) == len(ptrs):
                    return opt, group, mine
        return None, None, []

    def _refresh_slots(self) -> None:
        """Rewrite every optimizer table before a replay (see module docstring)."""
        first = self.replays == 0
        for slot in self._slots:
            if slot.kind != "table":
                opt, group, params = self._group_for(slot)
                hyper = slot.hyper
                if group is not None and "lr" in group:
                    hyper[0] = float(group["lr"])
                if not first:
                    if slot.kind in _STEP_KINDS:
                        hyper[1:] += 1.0
                    elif slot.kind == "sgd":
                        hyper[1:] = 0.0  # momentum buffers exist after the first step
                    if opt is not None:
                        _advance_host_steps(opt, params)
            if first or slot.kind != "table":
                slot.buffer.set(slot.words)

    # ---- capture ---------------------------------------------------------------------------
    def _capture(self, args: Sequence[Any], warmup: int) -> None:
        from fusegrad.autograd.tensor import Tensor

        if not args or not all(isinstance(a, Tensor) for a in args):
            raise GraphCaptureUnsupported("every input must be a fusegrad Tensor")
        devices = {a.device for a in args}
        device = next(iter(devices))
        if len(devices) != 1 or not device.startswith("cuda"):
            raise GraphCaptureUnsupported(f"inputs must be on one CUDA device, got {devices}")
        backend = args[0]._backend
        cp = self._cp = backend.cp  # the backend's CuPy (a stand-in in the emulation tests)
        # Note [graph capture]: everything the step allocates, from warmup on, comes from a
        # pool private to this graph, so blocks the graph writes are never reused elsewhere.
        self._pool = cp.cuda.MemoryPool()
        stream = cp.cuda.Stream(non_blocking=True)
        with cp.cuda.using_allocator(self._pool.malloc):
            static = [Tensor._make(cp.array(a._data, copy=True), device) for a in args]
            cp.cuda.get_current_stream().synchronize()  # parameters and inputs are ready
            with stream:
                for _ in range(warmup):
                    self.fn(*static)
                stream.synchronize()
                saved = _host_steps(self.optimizers)
                state = _CaptureState(cp)
                backend._capture = state
                graph, outputs, error = None, None, None
                stream.begin_capture()
                try:
                    outputs = self.fn(*static)
                except Exception as e:  # anything that cannot run under capture
                    error = e
                finally:
                    backend._capture = None
                    try:
                        graph = stream.end_capture()
                    except Exception as e:  # an invalidated capture
                        error = error or e
                if error is not None:
                    _restore_host_steps(saved)
                    raise GraphCaptureUnsupported(
                        f"capture failed: {error.__class__.__name__}: {error}") from error
        self._graph, self._outputs, self._slots = graph, outputs, state.slots
        self._keep = state.keep
        self._static_inputs = static
        self.captured = True


def capture(fn: Callable[..., Any], *example_inputs: Any, warmup: int = 3,
            optimizers: Sequence[Any] = ()) -> CapturedStep:
    """Capture ``fn(*inputs)`` (a whole training step) as a CUDA graph.

    Args:
        fn: the step; takes CUDA Tensors, may return Tensors (reused across replays).
        *example_inputs: CUDA Tensors with the shapes and dtypes of every later call.
        warmup: eager calls before capture (>= 1; they are real steps on the example inputs).
        optimizers: the optimizers ``fn`` steps, so that lr changes and step counters reach
            the replayed kernels.

    Returns:
        A callable ``CapturedStep``; ``.captured`` says whether the graph is used, and
        ``.fallback_reason`` why not (the step then runs ``fn`` eagerly).

    Raises:
        ValueError: warmup < 1.
    """
    if warmup < 1:
        raise ValueError(f"warmup must be >= 1 (lazily created state must exist), got {warmup}")
    step = CapturedStep(fn, optimizers)
    from fusegrad import cuda

    if not cuda.is_available():
        step.fallback_reason = f"CUDA is not usable: {cuda.unavailable_reason()}"
        return step
    try:
        step._capture(example_inputs, warmup)
    except Exception as e:  # fall back to eager, keep the reason
        step.fallback_reason = f"{e.__class__.__name__}: {e}"
    return step


def _host_steps(optimizers: Sequence[Any]) -> list[tuple[dict, Any]]:
    """(state dict, step value) for every numeric ``state[p]["step"]`` of the optimizers."""
    out = []
    for opt in optimizers:
        for st in getattr(opt, "state", {}).values():
            if isinstance(st, dict) and isinstance(st.get("step"), (int, float)):
                out.append((st, st["step"]))
    return out


def _restore_host_steps(saved: list[tuple[dict, Any]]) -> None:
    for st, value in saved:
        st["step"] = value


def _advance_host_steps(opt: Any, params: Sequence[Any]) -> None:
    """One more step in the optimizer's own counters for these params (a replay is a step)."""
    state = getattr(opt, "state", {})
    for p in params:
        st = state.get(p) if hasattr(state, "get") else None
        if isinstance(st, dict) and isinstance(st.get("step"), (int, float)):
            st["step"] += 1


__all__ = ["CapturedStep", "GraphCaptureUnsupported", "capture"]
