r"""Meta-learning with low-rank (LoRA-style) adaptation in a linear multi-output model.

Model ``ŷ = A x`` with ``A ∈ ℝ^{d×d}``, ``x ~ N(0, I_d)``.  Task ``i`` has the weights
``A_i^* = A_* + Δ_i`` with a rank-``k`` perturbation ``Δ_i = (ς/d) G_i G_iᵀ`` (``G_i`` a
``d×k`` standard Gaussian matrix, ``ς`` = ``lora_shift``), so that ``E Δ_i = ς (k/d) I`` is
*not* zero.  Every task loss is the quadratic

    f_i(A) = ½ tr(A Σ_i Aᵀ) − tr(Aᵀ C_i) + const,     ∇f_i(A) = A Σ_i − C_i,

with ``Σ_i = I``, ``C_i = A_i^*`` for the population loss (``f_i = ½‖A − A_i^*‖_F² + dσ²/2``)
and ``Σ_i = XᵀX/m``, ``C_i = YᵀX/m`` for ``m`` samples ``y = A_i^* x + σ ξ``.

Rank-``r`` adaptation (the inner loop): projected gradient descent over the adaptations of
rank ``≤ r``, from ``Δ_0 = 0``,

    Δ_{j+1} = T_r(Δ_j − α ∇f_i(A + Δ_j)),      T_r(Z) = Σ_{l≤r} σ_l u_l v_lᵀ

(``T_r``: the truncated SVD, the Frobenius-nearest matrix of rank ``≤ r``, Eckart–Young).
With ``α = 1`` and one step on the population loss, ``A + Δ_1`` is the best rank-``r``
adaptation of ``A`` to the task; at full rank ``r = d``, ``T_r`` is the identity and the
inner loop is plain gradient descent on ``A``: meta-lora is then MAML on all parameters.

Algorithms (registered in :data:`teacherstudent.linear.algorithms.UPDATES`):

- **arm-lora**: retrain on the pooled tasks, ``A ← A − β ⟨∇f_i(A)⟩`` (population limit
  ``A → ⟨A_i^*⟩ = A_* + ς(k/d) I``); the rank-``r`` adaptation is applied only afterwards
  (the metrics below).
- **meta-lora**: ``A ← A − β ⟨∇_A f_i^out(A + Δ_s(A))⟩`` with the exact meta-gradient through
  the ``s`` projected inner steps (reverse accumulation; :func:`lora_meta_gradient`).

Metrics (fixed test tasks of the population law, :func:`lora_metrics`): the post-adaptation
excess risk after the inner loop, the best rank-``r`` excess risk ``½ Σ_{l>r} σ_l²(A_i^* − A)``
and the distance ``‖A − A_*‖_F`` to the optimal base ``A_*`` (zero post-adaptation error for
``r ≥ k``).  Derivations: ``theory/linear.md``, section 9.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .config import seed_ids

__all__ = [
    "MatrixLoss",
    "truncate",
    "truncate_derivative",
    "adapt",
    "lora_meta_gradient",
    "pooled_gradient",
    "LoraState",
    "LoraStream",
    "LoraBatch",
    "lora_state",
    "lora_metrics",
    "task_shift",
]


@dataclass
class MatrixLoss:
    """A batch of quadratic task losses of ``A``: ``∇f_i(A) = A Σ_i − C_i``.

    ``C``: ``(S, n, d, d)``; ``sigma``: ``(S, n, d, d)`` or ``None`` for ``Σ_i = I`` (the
    population loss).
    """

    C: np.ndarray
    sigma: np.ndarray | None = None

    def grad(self, A: np.ndarray) -> np.ndarray:
        """``∇f_i(A_i)`` per task (``A``: shared ``(S, d, d)`` or per task)."""
        A = A[:, None] if A.ndim == 3 else A
        return (A if self.sigma is None else A @ self.sigma) - self.C

    def hvp(self, E: np.ndarray) -> np.ndarray:
        """The Hessian applied to per-task directions ``E``: ``E Σ_i`` (self-adjoint)."""
        return E if self.sigma is None else E @ self.sigma

    @classmethod
    def samples(cls, X: np.ndarray, Y: np.ndarray) -> MatrixLoss:
        """The empirical loss of ``X (S, n, m, d)``, ``Y (S, n, m, d)``."""
        m = X.shape[2]
        Xt = np.swapaxes(X, -1, -2)
        return cls(C=np.swapaxes(Xt @ Y, -1, -2) / m, sigma=Xt @ X / m)


def truncate(Z: np.ndarray, rank: int) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """``T_r(Z)``, the truncated SVD of every matrix of ``Z``, and the SVD ``(U, s, Vᵀ)``."""
    U, s, Vt = np.linalg.svd(Z)
    return (U[..., :rank] * s[..., None, :rank]) @ Vt[..., :rank, :], (U, s, Vt)


def truncate_derivative(svd: tuple[np.ndarray, ...], E: np.ndarray, rank: int) -> np.ndarray:
    r"""The derivative of ``T_r`` at ``Z = U diag(s) Vᵀ`` in the direction ``E``.

    ``T_r`` is the gradient of the spectral function ``h(Z) = ½ Σ_{l≤r} σ_l²``, so its
    derivative is a Hessian: self-adjoint, and the same formula serves the reverse pass.
    With ``Ẽ = UᵀEV`` and ``f_l = σ_l`` for ``l ≤ r``, ``0`` otherwise (square matrices):

        (UᵀDV)_{ab} = K⁻_{ab} (Ẽ_{ab} + Ẽ_{ba})/2 + K⁺_{ab} (Ẽ_{ab} − Ẽ_{ba})/2,
        K^∓_{ab} = (f_a ∓ f_b)/(σ_a ∓ σ_b),

    i.e. ``Ẽ_{ab}`` where ``a, b ≤ r``, ``0`` where ``a, b > r``, and the singular-subspace
    rotation terms across the cut (finite when ``σ_r > σ_{r+1}``).
    """
    U, s, Vt = svd
    d = s.shape[-1]
    if rank >= d:
        return E
    Et = np.swapaxes(U, -1, -2) @ E @ np.swapaxes(Vt, -1, -2)
    top = np.arange(d) < rank
    f = np.where(top, s, 0.0)
    sa, sb = s[..., :, None], s[..., None, :]
    fa, fb = f[..., :, None], f[..., None, :]
    both = top[:, None] & top[None, :]
    cross = top[:, None] ^ top[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        km = np.where(cross, (fa - fb) / (sa - sb), both.astype(float))
        kp = np.where(cross, (fa + fb) / (sa + sb), both.astype(float))
    sym = 0.5 * (Et + np.swapaxes(Et, -1, -2))
    anti = 0.5 * (Et - np.swapaxes(Et, -1, -2))
    return U @ (km * sym + kp * anti) @ Vt


def adapt(loss: MatrixLoss, A: np.ndarray, alpha: float, steps: int, rank: int):
    """The rank-``r`` inner loop from ``Δ_0 = 0``: adapted ``A + Δ_s`` per task and the SVDs
    of the pre-truncation iterates ``Z_j`` (kept for the reverse pass)."""
    n = loss.C.shape[1]
    D = np.zeros(A.shape[:1] + (n,) + A.shape[1:])
    svds = []
    for _ in range(steps):
        D, svd = truncate(D - alpha * loss.grad(A[:, None] + D), rank)
        svds.append(svd)
    return A[:, None] + D, svds


def lora_meta_gradient(A: np.ndarray, inner: MatrixLoss, outer: MatrixLoss, alpha: float,
                       steps: int, rank: int) -> np.ndarray:
    r"""Task-averaged exact meta-gradient ``⟨∇_A f_i^out(A + Δ_s(A))⟩`` of meta-lora.

    Reverse accumulation through ``Δ_{j+1} = T_r(Δ_j − α ∇f_i^in(A + Δ_j))``: start from
    ``λ = g = ∇f_i^out(A + Δ_s)``; for ``j = s−1 … 0``: ``μ = DT_r(Z_j)[λ]``,
    ``g ← g − α H_i^in μ``, ``λ ← μ − α H_i^in μ`` (``H^in μ = μ Σ_i^in``).  Returns
    ``(S, d, d)``.
    """
    Ad, svds = adapt(inner, A, alpha, steps, rank)
    lam = outer.grad(Ad)
    g = lam
    for svd in reversed(svds):
        mu = truncate_derivative(svd, lam, rank)
        h = inner.hvp(mu)
        g = g - alpha * h
        lam = mu - alpha * h
    return g.mean(axis=1)


def pooled_gradient(A: np.ndarray, loss: MatrixLoss) -> np.ndarray:
    """``⟨∇f_i(A)⟩`` over the tasks, ``(S, d, d)``."""
    return loss.grad(A).mean(axis=1)


def task_shift(p: Mapping[str, Any]) -> float:
    """``‖E Δ_i‖_F = ς k/√d``: the distance of the pooled optimum ``⟨A_i^*⟩`` from ``A_*``."""
    return p["lora_shift"] * p["k"] / math.sqrt(p["d"])


# --------------------------------------------------------------------------- tasks
@dataclass
class LoraState:
    """Per-seed base ``A_*``, initial ``A_0 = 0``, fixed test perturbations and generators."""

    A_star: np.ndarray  # (S, d, d)
    A0: np.ndarray  # (S, d, d)
    test_delta: np.ndarray  # (S, T, d, d)
    head_rngs: list[np.random.Generator]
    data_rngs: list[np.random.Generator]


def _perturbations(rng: np.random.Generator, n: int, p: Mapping[str, Any]) -> np.ndarray:
    G = rng.standard_normal((n, p["d"], p["k"]))
    return p["lora_shift"] * (G @ np.swapaxes(G, -1, -2)) / p["d"]


def lora_state(p: Mapping[str, Any]) -> LoraState:
    """Draw ``A_*`` (entries ``N(0, 1/d)``) and the test tasks of every seed of ``p``.

    Each seed id owns ``SeedSequence(s)``, spawned (as in :mod:`.tasks`) into an
    initial-condition, a task, a data and a test-task generator.
    """
    A_star, tests, heads, datas = [], [], [], []
    for s in seed_ids(p):
        init_ss, head_ss, data_ss, test_ss = np.random.SeedSequence(s).spawn(4)
        A_star.append(np.random.default_rng(init_ss).standard_normal((p["d"], p["d"]))
                      / math.sqrt(p["d"]))
        tests.append(_perturbations(np.random.default_rng(test_ss), p["test_tasks"], p))
        heads.append(np.random.default_rng(head_ss))
        datas.append(np.random.default_rng(data_ss))
    A_star = np.stack(A_star)
    return LoraState(A_star, np.zeros_like(A_star), np.stack(tests), heads, datas)


class LoraBatch:
    """One round's tasks: ``inner`` / ``outer`` losses and ``pooled`` (their union)."""

    def __init__(self, inner: MatrixLoss, outer: MatrixLoss, pooled: MatrixLoss):
        self.inner, self.outer, self.pooled = inner, outer, pooled


class LoraStream:
    """Fresh tasks ``A_i^* = A_* + Δ_i`` every round, from the seeds' own generators."""

    def __init__(self, p: Mapping[str, Any], state: LoraState):
        self.p, self.state = p, state

    def _samples(self, targets: np.ndarray, m: float) -> tuple[np.ndarray, np.ndarray] | None:
        if math.isinf(m):
            return None
        X, Y = [], []
        for i, rng in enumerate(self.state.data_rngs):
            Xi = rng.standard_normal((targets.shape[1], int(m), self.p["d"]))
            X.append(Xi)
            Y.append(Xi @ np.swapaxes(targets[i], -1, -2)
                     + self.p["noise"] * rng.standard_normal(Xi.shape))
        return np.stack(X), np.stack(Y)

    def next(self) -> LoraBatch:
        delta = np.stack([_perturbations(rng, self.p["n_tasks"], self.p)
                          for rng in self.state.head_rngs])
        targets = self.state.A_star[:, None] + delta
        population = MatrixLoss(targets)
        si = self._samples(targets, self.p["m_in"])
        so = self._samples(targets, self.p["m_out"])
        inner = population if si is None else MatrixLoss.samples(*si)
        outer = population if so is None else MatrixLoss.samples(*so)
        if si is None or so is None:
            pooled = population
        else:
            pooled = MatrixLoss.samples(np.concatenate([si[0], so[0]], axis=2),
                                        np.concatenate([si[1], so[1]], axis=2))
        return LoraBatch(inner, outer, pooled)


def lora_metrics(A: np.ndarray, state: LoraState, alpha: float, steps: int,
                 rank: int) -> dict[str, np.ndarray]:
    """``lora_error``, ``lora_opt_error`` (means over the test tasks) and ``base_dist``.

    ``lora_error``: ``½‖A + Δ_s − A_i^*‖_F²`` after the population inner loop;
    ``lora_opt_error``: ``½ Σ_{l>r} σ_l²(A_i^* − A)`` (the best rank-``r`` adaptation);
    ``base_dist``: ``‖A − A_*‖_F``.  Shapes ``(S,)``; NaN without test tasks.
    """
    S = A.shape[0]
    out = {"base_dist": np.sqrt(np.sum((A - state.A_star) ** 2, axis=(1, 2)))}
    if state.test_delta.shape[1] == 0:
        return {**out, "lora_error": np.full(S, np.nan), "lora_opt_error": np.full(S, np.nan)}
    targets = state.A_star[:, None] + state.test_delta
    Ad, svds = adapt(MatrixLoss(targets), A, alpha, steps, rank)
    out["lora_error"] = 0.5 * np.mean(np.sum((Ad - targets) ** 2, axis=(2, 3)), axis=1)
    # the first inner iterate is Z_0 = α(A_i^* − A): reuse its singular values
    s = svds[0][1] / alpha if svds else np.linalg.svd(targets - A[:, None], compute_uv=False)
    out["lora_opt_error"] = 0.5 * np.mean(np.sum(s[..., rank:] ** 2, axis=-1), axis=1)
    return out
