"""Penalty terms to add to a loss: ``loss = loss + lam * nn.l2_penalty(model.parameters())``.

(L2 decay inside the optimizer is the optimizers' ``weight_decay``; these helpers make the
penalty part of the differentiated loss instead, e.g. for L1, which has no optimizer form.)
"""

from __future__ import annotations

from typing import Iterable

from fusegrad.autograd.ops import elementwise as ew
from fusegrad.autograd.ops import reduce as rd
from fusegrad.autograd.tensor import Tensor


def _params(params: Iterable[Tensor] | Tensor) -> list[Tensor]:
    ps = [params] if isinstance(params, Tensor) else list(params)
    if not ps:
        raise ValueError("penalty: got an empty parameter list")
    return ps


def l1_penalty(params: Iterable[Tensor] | Tensor) -> Tensor:
    """Σ_p Σ |p| over all given tensors (a differentiable scalar; gradient sign(p), 0 at 0)."""
    total = None
    for p in _params(params):
        term = rd.sum(ew.abs(p))
        total = term if total is None else total + term
    return total


def l2_penalty(params: Iterable[Tensor] | Tensor) -> Tensor:
    """Σ_p Σ p² over all given tensors (a differentiable scalar; gradient 2p).

    Adding ``(wd / 2) * l2_penalty(params)`` to the loss gives SGD's ``weight_decay=wd``.
    """
    total = None
    for p in _params(params):
        term = rd.sum(ew.mul(p, p))
        total = term if total is None else total + term
    return total


__all__ = ["l1_penalty", "l2_penalty"]
