"""Monte Carlo simulations of the finite-N two-layer erf networks (PyTorch).

The algorithms are implemented literally — explicit weights ``J ∈ ℝ^{K×N}``,
``B ∈ ℝ^{M×N}``, fresh Gaussian inputs, task heads ``u ~ N(ū, Σ_u)`` and task teachers
``B^t = γB + √(1−γ²)ΔB^t`` — as the independent check of the order-parameter ODEs.

- :func:`simulate` — batched replicas (dim ``seed``), float64, CUDA when available;
- :func:`compare` — simulation and ODE from the same measured initial overlaps.
"""

from __future__ import annotations

from .compare import compare
from .runner import simulate

__all__ = ["simulate", "compare"]
