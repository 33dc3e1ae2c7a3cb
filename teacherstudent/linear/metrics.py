r"""Per-round diagnostics of a representation ``B ∈ ℝ^{d×k'}`` (batched over seeds).

- ``dist(B, B_*) = ‖B̂_{*,⊥}ᵀ B̂‖₂ = ‖(I − B_*B_*ᵀ) B̂‖₂`` (``B̂`` an orthonormal basis of
  ``col B``): sine of the largest principal angle; equal to 1 whenever ``k' > k``.
- ``dist_cover = ‖(I − B̂B̂ᵀ) B_*‖₂``: how much of ``col B_*`` lies outside ``col B``
  (meaningful for ``k' > k``; equal to ``dist`` for ``k' = k``).
- ``cond = κ(αBᵀB) = λ_max(BᵀB)/λ_min(BᵀB)``, ``delta = ‖I − αBᵀB‖₂`` (the head "prior
  weight" of the inner step), and the extreme eigenvalues ``gram_min``, ``gram_max`` of
  ``αBᵀB``.
- ``head_norm = ‖w‖₂``.

Norms are computed as ``√λ_max(FᵀF)`` of the small Gram matrix of ``F`` (not as
``√(1 − σ_min²)``) so that distances down to ``1e−15`` keep full relative precision.
"""

from __future__ import annotations

import numpy as np

__all__ = ["orthonormal_basis", "principal_angle_distance", "cover_distance", "gram_spectrum"]


def orthonormal_basis(B: np.ndarray) -> np.ndarray:
    """``B̂`` with ``col B̂ = col B`` (thin QR), shape of ``B``."""
    return np.linalg.qr(B)[0]


def _spectral_norm(F: np.ndarray) -> np.ndarray:
    ev = np.linalg.eigvalsh(np.swapaxes(F, -1, -2) @ F)[..., -1]
    return np.sqrt(np.maximum(ev, 0.0))


def principal_angle_distance(B: np.ndarray, B_star: np.ndarray, Q=None) -> np.ndarray:
    """``‖(I − P_*) B̂‖₂`` for orthonormal ``B_star``; shape ``(S,)`` (``Q``: a given ``B̂``)."""
    Q = orthonormal_basis(B) if Q is None else Q
    return _spectral_norm(Q - B_star @ (np.swapaxes(B_star, -1, -2) @ Q))


def cover_distance(B: np.ndarray, B_star: np.ndarray, Q=None) -> np.ndarray:
    """``‖(I − B̂B̂ᵀ) B_*‖₂``; shape ``(S,)``."""
    Q = orthonormal_basis(B) if Q is None else Q
    return _spectral_norm(B_star - Q @ (np.swapaxes(Q, -1, -2) @ B_star))


def gram_spectrum(B: np.ndarray, alpha: float) -> dict[str, np.ndarray]:
    """Spectrum of ``αBᵀB``: ``cond`` (κ), ``delta`` (``‖I − αBᵀB‖₂``), ``gram_min``,
    ``gram_max`` (extreme eigenvalues); shapes ``(S,)``."""
    ev = alpha * np.linalg.eigvalsh(np.swapaxes(B, -1, -2) @ B)
    with np.errstate(divide="ignore", invalid="ignore"):
        cond = ev[..., -1] / ev[..., 0]
    return {
        "cond": cond,
        "delta": np.max(np.abs(1.0 - ev), axis=-1),
        "gram_min": ev[..., 0],
        "gram_max": ev[..., -1],
    }
