"""Loss-landscape analysis: Hessians, critical points, escape directions, optimizer paths.

See API.md "Loss landscape". Every function takes ``fn`` (a no-argument closure returning a
scalar Tensor) and ``params`` (the leaf Tensors it depends on) and leaves the params exactly
as it found them.
"""

from fusegrad.analysis.critical import CriticalPoint, EscapeResult, critical_point, escape
from fusegrad.analysis.hessian import hessian, hvp
from fusegrad.analysis.lanczos import LanczosResult, lanczos
from fusegrad.analysis.trajectory import Trajectory, steps_to_tolerance, surface, trajectory

__all__ = [
    "CriticalPoint",
    "EscapeResult",
    "LanczosResult",
    "Trajectory",
    "critical_point",
    "escape",
    "hessian",
    "hvp",
    "lanczos",
    "steps_to_tolerance",
    "surface",
    "trajectory",
]
