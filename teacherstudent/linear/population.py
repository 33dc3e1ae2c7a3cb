r"""Population (``m = ∞``) quantities: the exact task loss, the expected post-adaptation
error over the head law, and the ARM invariant subspace bound.

For ``x ~ N(0, I_d)``, ``y = ⟨B_*θ, x⟩ + z``, ``z ~ N(0, σ²)``:

    f(B, w; θ) = ½ E(wᵀBᵀx − y)² = ½ ‖Bw − B_*θ‖² + σ²/2,

i.e. ``Σ = I``, ``c = B_*θ``, ``⟨y²⟩ = ‖B_*θ‖² + σ²`` in the notation of :mod:`.model`.
"""

from __future__ import annotations

import numpy as np

from .model import TaskLoss, apply, inner_loop

__all__ = [
    "PopulationLoss",
    "head_adaptation",
    "post_adaptation_error",
    "full_adaptation_error",
    "arm_dist_bound",
]


class PopulationLoss(TaskLoss):
    """Population losses of a batch of tasks with targets ``b_i = B_* θ_i`` ``(S, n, d)``."""

    def __init__(self, target: np.ndarray, noise: float = 0.0):
        self.c = target
        self.noise = noise

    @property
    def yy(self) -> np.ndarray:
        return np.sum(self.c * self.c, axis=-1) + self.noise**2

    def cov(self, r: np.ndarray) -> np.ndarray:
        return r

    def gram(self, B: np.ndarray) -> np.ndarray:
        G = np.swapaxes(B, -1, -2) @ B
        return G[:, None] if B.ndim == 3 else G


def head_adaptation(
    B: np.ndarray, w: np.ndarray, B_star: np.ndarray, alpha: float, steps: int
) -> tuple[np.ndarray, np.ndarray]:
    """``s`` population gradient steps on the head from ``w``: ``w_s(θ) = a + G θ``.

    One step is ``w ← A w + α BᵀB_* θ`` with ``A = I − αBᵀB``, hence
    ``a = A^s w`` and ``G = Σ_{j<s} A^j α BᵀB_*``.  Shapes: ``B (S,d,k')``, ``w (S,k')``,
    ``B_star (S,d,k)`` → ``a (S,k')``, ``G (S,k',k)``.
    """
    Bt = np.swapaxes(B, 1, 2)
    A = np.eye(B.shape[2]) - alpha * (Bt @ B)
    a = w[..., None]
    G = np.zeros((B.shape[0], B.shape[2], B_star.shape[2]))
    drive = alpha * (Bt @ B_star)
    for _ in range(steps):
        a = A @ a
        G = A @ G + drive
    return a[..., 0], G


def post_adaptation_error(
    B: np.ndarray,
    w: np.ndarray,
    B_star: np.ndarray,
    theta_mean: np.ndarray,
    theta_var: np.ndarray,
    alpha: float,
    steps: int,
) -> np.ndarray:
    """Expected excess risk on a fresh task after ``steps`` population head steps.

    With ``w_s(θ) = a + Gθ`` (:func:`head_adaptation`), the excess risk of a task is
    ``½‖B w_s(θ) − B_*θ‖² = ½‖u + Mθ‖²``, ``u = Ba``, ``M = BG − B_*``; over
    ``θ ~ N(θ̄, Σ_θ)`` with diagonal ``Σ_θ = diag(theta_var)``:

        E = ½ (‖u + Mθ̄‖² + tr(M Σ_θ Mᵀ)).

    (The irreducible ``σ²/2`` is not included.)  Returns shape ``(S,)``.
    """
    a, G = head_adaptation(B, w, B_star, alpha, steps)
    u = (B @ a[..., None])[..., 0]
    M = B @ G - B_star
    bias = u + M @ theta_mean
    return 0.5 * (np.sum(bias * bias, axis=-1) + np.sum(M * M * theta_var, axis=(1, 2)))


def full_adaptation_error(
    B: np.ndarray, w: np.ndarray, B_star: np.ndarray, theta: np.ndarray, alpha: float, steps: int
) -> np.ndarray:
    """Mean excess risk ``½‖B_s w_s − B_*θ‖²`` over given test heads ``θ`` ``(S, T, k)`` after
    ``steps`` population GD steps of rate ``α`` on *both* ``B`` and ``w`` (MAML's adaptation).

    The adapted product is a polynomial of degree > 2 in ``θ``; the expectation over the head
    law is estimated on the fixed test heads (the same every round).  The population inner
    loop never leaves ``Q = col(B) + col(B_*)`` (residuals ``Bw − B_*θ ∈ Q``, updates
    ``r wᵀ``), so it is run exactly in an orthonormal basis of ``Q`` (dimension ``≤ k' + k``).
    Returns ``(S,)``.
    """

    if theta.shape[1] == 0:
        return np.full(B.shape[0], np.nan)
    if B.shape[1] > B.shape[2] + B_star.shape[2]:
        Q = np.linalg.qr(np.concatenate([B, B_star], axis=2))[0]  # (S, d, k' + k)
        Qt = np.swapaxes(Q, 1, 2)
        B, B_star = Qt @ B, Qt @ B_star
    Br, Bsr = B, B_star
    loss = PopulationLoss(theta @ np.swapaxes(Bsr, 1, 2))
    _, Bs, ws = inner_loop(loss, Br, w, alpha, steps, adapt_B=True)
    r = apply(Bs, ws) - loss.c
    return 0.5 * np.mean(np.sum(r * r, axis=-1), axis=-1)


def arm_dist_bound(B0: np.ndarray, B_star: np.ndarray, theta_bar: np.ndarray) -> np.ndarray:
    r"""Lower bound on ``dist(B_t, B_*)`` for ARM / D-SGD with a fixed task pool, population loss.

    Derivation.  With a fixed pool ``{θ_i}`` (mean ``θ̄_P``) the ARM gradient is linear in the
    heads, so every round uses the *same* averaged target ``b = B_*θ̄_P``:

        (1/n) Σ_i ∇_B f_i = (B_t w_t − b) w_tᵀ,     B_{t+1} = B_t − β (B_t w_t − b) w_tᵀ.

    Each update adds to ``B_t`` a matrix whose columns are multiples of ``r_t = B_t w_t − b ∈
    col(B_t) + span(b)``; by induction ``col(B_t) ⊂ V := col(B_0) + span(B_*θ̄_P)`` for every
    ``t`` (any ``β``, any ``w_t``).  For ``U = col(B_t) ⊂ V`` and any unit ``v ∈ col(B_*)``,
    ``‖(I − P_U)v‖ ≥ ‖(I − P_V)v‖``, hence

        dist_cover(B_t) = ‖(I − P_U) B_*‖₂ ≥ ‖(I − P_V) B_*‖₂ =: bound,

    and for ``k' = k`` (equal dimensions) ``dist(B_t, B_*) = ‖B̂_{*,⊥}ᵀB̂_t‖₂ = dist_cover``.
    The bound only involves the initial condition and the pool mean; ``V`` has dimension
    ``k' + 1``, so for ``k ≥ 2`` at least ``k − 1`` directions of ``col(B_*)`` that ``B_0``
    misses stay missed.  The same holds for D-SGD (ARM with rate ``α``); it fails for FedAvg
    with ``τ ≥ 2`` and for ANIL/MAML, whose per-task adapted heads make the update directions
    ``B_*θ_i`` task-dependent.  Shapes: ``B0 (S,d,k')``, ``B_star (S,d,k)``, ``theta_bar (S,k)``.
    """
    b = (B_star @ theta_bar[..., None])  # (S, d, 1)
    V = np.concatenate([B0, b], axis=2)
    Q, _ = np.linalg.qr(V)
    F = B_star - Q @ (np.swapaxes(Q, 1, 2) @ B_star)
    return np.sqrt(np.maximum(np.linalg.eigvalsh(np.swapaxes(F, 1, 2) @ F)[..., -1], 0.0))
