"""Random admissible order-parameter states shared by the drift oracles."""

from __future__ import annotations

import numpy as np


def random_fields_and_heads(rng: np.random.Generator, K: int, M: int):
    """(C, Σ_u): C = [[Q, R], [Rᵀ, T]] positive definite with field variances in [0.3, 1.5];
    Σ_u of random rank 1..M (so also singular)."""
    n = K + M
    A = rng.standard_normal((n, n + 1))
    C = A @ A.T / (n + 1) + 0.15 * np.eye(n)
    d = np.sqrt(rng.uniform(0.3, 1.5, n) / np.diag(C))
    C = d[:, None] * C * d[None, :]
    C = 0.5 * (C + C.T)
    r = int(rng.integers(1, M + 1))
    B = rng.standard_normal((M, r))
    Su = B @ B.T / r * rng.uniform(0.2, 1.0)
    return C, 0.5 * (Su + Su.T)
