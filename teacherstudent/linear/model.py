r"""The linear two-layer model and the quadratic task losses, batched over seeds and tasks.

Model ``ŷ = wᵀBᵀx`` with ``B ∈ ℝ^{d×k'}``, ``w ∈ ℝ^{k'}``.  Every task loss, population or
empirical, is the quadratic

    f(B, w) = ½ (Bw)ᵀ Σ (Bw) − (Bw)ᵀ c + ½ ⟨y²⟩,

with ``Σ = I``, ``c = B_* θ``, ``⟨y²⟩ = ‖B_*θ‖² + σ²`` for the population loss
(``x ~ N(0, I_d)``, see :mod:`.population`) and ``Σ = XᵀX/m``, ``c = Xᵀy/m``,
``⟨y²⟩ = yᵀy/m`` for ``m`` samples.  With the residual ``r = ΣBw − c ∈ ℝ^d``:

    ∇_w f = Bᵀ r,            ∇_B f = r wᵀ,

and the Hessian applied to a direction ``(U, u)`` (``δr = Σ(Uw + Bu)``):

    H(U, u) = ( δr wᵀ + r uᵀ ,  Uᵀ r + Bᵀ δr ).

Shapes: ``S`` seeds, ``n`` tasks.  A representation is *shared* ``(S, d, k')`` or *per task*
``(S, n, d, k')`` (after an inner step on ``B``); heads are ``(S, n, k')``; per-task vectors
of ``ℝ^d`` (residuals) are ``(S, n, d)``.  Sums of per-task rank-one matrices ``Σ_j a_j b_jᵀ``
are kept factored (:class:`RankOnes`) so that a task average costs one batched matmul.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "TaskLoss",
    "SampleLoss",
    "apply",
    "apply_T",
    "RankOnes",
    "residual",
    "gradient",
    "hvp",
    "Trajectory",
    "per_task",
    "inner_loop",
]


class TaskLoss:
    """A batch of quadratic task losses ``f_i(B, w) = ½(Bw)ᵀΣ_i(Bw) − (Bw)ᵀc_i + ½⟨y²⟩_i``.

    Subclasses provide ``cov`` (``r ↦ Σ_i r_i``), ``gram`` (``B ↦ BᵀΣ_iB``), ``c`` and ``yy``.
    """

    c: np.ndarray  # (S, n, d)
    yy: np.ndarray  # (S, n)

    @property
    def n(self) -> int:
        return self.c.shape[1]

    def cov(self, r: np.ndarray) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def gram(self, B: np.ndarray) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def value(self, B: np.ndarray, w: np.ndarray) -> np.ndarray:
        """``f_i(B_i, w_i)``, shape ``(S, n)``."""
        v = apply(B, w)
        return 0.5 * np.sum(v * self.cov(v), axis=-1) - np.sum(v * self.c, axis=-1) + 0.5 * self.yy


class SampleLoss(TaskLoss):
    """Empirical loss on ``m`` samples per task: ``Σ_i = X_iᵀX_i/m``, ``c_i = X_iᵀy_i/m``.

    ``X``: ``(S, n, m, d)``, ``y``: ``(S, n, m)``.
    """

    def __init__(self, X: np.ndarray, y: np.ndarray):
        self.X = X
        self.y = y
        self.m = X.shape[2]
        self.c = (y[..., None, :] @ X)[..., 0, :] / self.m

    @property
    def yy(self) -> np.ndarray:
        return np.sum(self.y * self.y, axis=-1) / self.m

    def cov(self, r: np.ndarray) -> np.ndarray:
        Xr = (self.X @ r[..., None])[..., 0]  # (S, n, m)
        return (Xr[..., None, :] @ self.X)[..., 0, :] / self.m

    def gram(self, B: np.ndarray) -> np.ndarray:
        XB = self.X @ (B[:, None] if B.ndim == 3 else B)  # (S, n, m, k')
        return np.swapaxes(XB, -1, -2) @ XB / self.m

    @staticmethod
    def pooled(a: SampleLoss, b: SampleLoss) -> SampleLoss:
        """The loss on the union of the two sample sets of each task."""
        return SampleLoss(np.concatenate([a.X, b.X], axis=2), np.concatenate([a.y, b.y], axis=2))


def apply(B: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Per-task ``B_i w_i`` ``(S, n, d)`` for a shared ``(S, d, k')`` or per-task ``B``."""
    if B.ndim == 3:
        return w @ np.swapaxes(B, 1, 2)
    return (B @ w[..., None])[..., 0]


def apply_T(B: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Per-task ``B_iᵀ r_i`` ``(S, n, k')``."""
    if B.ndim == 3:
        return r @ B
    return (r[..., None, :] @ B)[..., 0, :]


@dataclass
class RankOnes:
    """A per-task sum of outer products ``M_i = Σ_j a_{j,i} b_{j,i}ᵀ`` (kept factored)."""

    terms: list[tuple[np.ndarray, np.ndarray, float]]

    @classmethod
    def of(cls, a: np.ndarray, b: np.ndarray, scale: float = 1.0) -> RankOnes:
        return cls([(a, b, scale)])

    def __add__(self, other: RankOnes) -> RankOnes:
        return RankOnes(self.terms + other.terms)

    def scaled(self, s: float) -> RankOnes:
        return RankOnes([(a, b, s * c) for a, b, c in self.terms])

    def mean(self) -> np.ndarray:
        """Task average ``(1/n) Σ_i M_i``, shape ``(S, d, k')``."""
        out = 0.0
        for a, b, s in self.terms:
            out = out + (s / a.shape[1]) * (np.swapaxes(a, 1, 2) @ b)
        return out

    def dense(self) -> np.ndarray:
        """Every ``M_i``, shape ``(S, n, d, k')``."""
        out = 0.0
        for a, b, s in self.terms:
            out = out + s * (a[..., :, None] * b[..., None, :])
        return out


def residual(loss: TaskLoss, B: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``r_i = Σ_i B_i w_i − c_i`` ``(S, n, d)``."""
    return loss.cov(apply(B, w)) - loss.c


def gradient(B: np.ndarray, w: np.ndarray, r: np.ndarray) -> tuple[RankOnes, np.ndarray]:
    """``(∇_B f, ∇_w f) = (r wᵀ, Bᵀ r)`` per task, given the residual ``r``."""
    return RankOnes.of(r, w), apply_T(B, r)


def hvp(
    loss: TaskLoss,
    B: np.ndarray,
    w: np.ndarray,
    r: np.ndarray,
    U: np.ndarray | None,
    u: np.ndarray,
) -> tuple[RankOnes, np.ndarray]:
    """Hessian of ``f_i`` at ``(B_i, w_i)`` (residual ``r``) applied to ``(U_i, u_i)``.

    ``H(U, u) = (δr wᵀ + r uᵀ, Uᵀ r + Bᵀ δr)``, ``δr = Σ(Uw + Bu)``; ``U = None`` means 0.
    """
    v = apply(B, u)
    if U is not None:
        v = v + apply(U, w)
    dr = loss.cov(v)
    H_w = apply_T(B, dr)
    if U is not None:
        H_w = H_w + apply_T(U, r)
    return RankOnes([(dr, w, 1.0), (r, u, 1.0)]), H_w


Trajectory = list[tuple[np.ndarray, np.ndarray, np.ndarray]]


def per_task(w: np.ndarray, n: int) -> np.ndarray:
    """``w`` broadcast to one head per task ``(S, n, k)`` (a per-task ``w`` is kept)."""
    return np.broadcast_to(w[:, None, :], (w.shape[0], n, w.shape[1])) if w.ndim == 2 else w


def inner_loop(
    loss: TaskLoss, B: np.ndarray, w: np.ndarray, alpha: float, steps: int, adapt_B: bool
) -> tuple[Trajectory, np.ndarray, np.ndarray]:
    """``steps`` GD steps of rate ``α`` on each task from the shared ``(B, w)``.

    Returns the trajectory ``[(B_j, w_j, r_j)]_{j<s}`` (residuals ``r_j`` kept for the
    backward pass) and the adapted ``(B_s, w_s)``; ``B_s`` is per task iff ``adapt_B``.
    """
    w = per_task(w, loss.n)
    traj: Trajectory = []
    for _ in range(steps):
        r = residual(loss, B, w)
        traj.append((B, w, r))
        gB, gw = gradient(B, w, r)
        if adapt_B:
            B = (B[:, None] if B.ndim == 3 else B) - alpha * gB.dense()
        w = w - alpha * gw
    return traj, B, w
