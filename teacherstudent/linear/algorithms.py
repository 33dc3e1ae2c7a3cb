r"""One outer round of every algorithm, batched over seeds (leading axis) and tasks.

Notation: ``f_i^in``, ``f_i^out`` the inner / outer losses of task ``i`` (``m_in``, ``m_out``
samples; identical in the population case), ``f_i`` the pooled loss; rates ``α`` (inner /
local), ``β`` (outer); ``s`` = ``inner_steps``, ``τ`` = ``tau``; ``⟨·⟩`` the task average.

- **arm**: ``θ ← θ − β ⟨∇f_i(θ)⟩`` (``θ = (B, w)``).
- **dsgd**: ARM with rate ``α`` (= FedAvg with ``τ = 1``): ``θ ← θ − α ⟨∇f_i(θ)⟩``.
- **anil / maml**: inner loop ``s`` steps ``θ_{j+1} = θ_j − α P ∇f_i^in(θ_j)`` (``P`` = head
  only for ANIL, everything for MAML), outer ``θ ← θ − β ⟨∇_θ f_i^out(θ_s(θ))⟩`` with the exact
  meta-gradient by reverse accumulation:
  ``(Λ_B, λ_w) ← ∇f_i^out(θ_s)``, then for ``j = s−1 … 0``:
  ``(Λ_B, λ_w) ← (Λ_B, λ_w) − α H_i^in(θ_j) P (Λ_B, λ_w)``
  (for ANIL ``P`` removes ``Λ_B`` from the Hessian-vector product and ``Λ_B`` only accumulates).
- **fo-anil / fo-maml**: first order, ``⟨∇f_i^out(θ_s)⟩`` (``∂θ_s/∂θ := I``).
- **imaml** (head-only, exact regularised inner solve):
  ``w_i = argmin_v f_i^in(B, v) + (λ/2)‖v − w‖² = M^{-1}(Bᵀc_in + λw)``,
  ``M = BᵀΣ_in B + λI``; implicit gradient with ``v_i = M^{-1} Bᵀ r_out``:
  ``∇_w = λ v_i``, ``∇_B = r_out w_iᵀ − r_in v_iᵀ − Σ_in B v_i w_iᵀ``
  (``r_in = Σ_in B w_i − c_in``, ``r_out = Σ_out B w_i − c_out``).
- **fedavg**: every client runs ``τ`` local GD steps of rate ``α`` on ``(B, w)``, the server
  averages: ``θ ← ⟨θ_{i,τ}⟩``.  **reptile**: the same local steps with server rate ``β/α``:
  ``θ ← θ − β ⟨θ − θ_{i,τ}⟩/α`` (``β = α`` gives FedAvg; ``τ = 1`` gives ARM).
- **fedrep**: ``τ`` local head steps from ``w`` (fixed, no global head is learnt), then the
  averaged representation step ``B ← B − β ⟨∇_B f_i(B, w_{i,τ})⟩``.
- **arm-lora / meta-lora** (the multi-output model ``ŷ = Ax`` of :mod:`.lora`; the first
  argument of the update is ``A``, the head ``w`` has no columns): retraining
  ``A ← A − β ⟨∇f_i(A)⟩`` on the pooled tasks, and meta-learning with the rank-``r`` inner loop
  ``A ← A − β ⟨∇_A f_i^out(A + Δ_s(A))⟩`` (:func:`.lora.lora_meta_gradient`).
- **tr-maml** (task-robust MAML over the task groups ``group_means``): the MAML update with
  the group average replaced by ``Σ_g p_g ∇L_g``, ``p_g ∝ q_g exp(L_g/ε)``
  (:func:`group_weights`; ``L_g`` this round's post-adaptation outer loss of group ``g``): a
  gradient step on ``ε log Σ_g q_g exp(L_g/ε)``, the entropy-regularised maximum of the
  post-adaptation loss over the distributions ``p`` of tasks over groups.  One group, or
  ``ε → ∞``: MAML.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .lora import lora_meta_gradient, pooled_gradient
from .model import (
    TaskLoss,
    apply,
    apply_T,
    gradient,
    hvp,
    inner_loop,
    per_task,
    residual,
)
from .tasks import TaskBatch

__all__ = [
    "Rates",
    "inner_loop",
    "meta_gradient",
    "imaml_gradient",
    "group_weights",
    "UPDATES",
    "META_GRADIENTS",
]


@dataclass(frozen=True)
class Rates:
    alpha: float
    beta: float
    inner_steps: int = 1
    tau: int = 2
    imaml_lambda: float = 1.0
    lora_rank: int = 1
    tr_temperature: float = 0.02


def meta_gradient(
    B: np.ndarray,
    w: np.ndarray,
    inner: TaskLoss,
    outer: TaskLoss,
    alpha: float,
    steps: int,
    adapt_B: bool,
    exact: bool,
    weights: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Task-averaged meta-gradient of ``f_i^out(θ_s(B, w))`` for ANIL / MAML and FO variants.

    ``adapt_B``: MAML (inner loop on ``B`` and ``w``) vs ANIL (head only); ``exact``: full
    reverse accumulation through the inner loop vs first order; ``weights`` ``(S, n)``: the
    average ``⟨c_i ∇f_i^out⟩`` (the backward pass is linear in the outer residual, which is
    scaled by ``c_i``).  Returns ``(∇_B, ∇_w)`` of shapes ``(S, d, k')``, ``(S, k')``.
    """
    traj, Bs, ws = inner_loop(inner, B, w, alpha, steps, adapt_B)
    r_out = residual(outer, Bs, ws)
    if weights is not None:
        r_out = r_out * weights[..., None]
    LB, lw = gradient(Bs, ws, r_out)
    if not exact:
        return LB.mean(), lw.mean(axis=1)
    if adapt_B:
        LB = LB.dense()
    acc = LB
    for Bj, wj, rj in reversed(traj):
        HB, Hw = hvp(inner, Bj, wj, rj, LB if adapt_B else None, lw)
        if adapt_B:
            LB = LB - alpha * HB.dense()
        else:
            acc = acc + HB.scaled(-alpha)
        lw = lw - alpha * Hw
    GB = LB.mean(axis=1) if adapt_B else acc.mean()
    return GB, lw.mean(axis=1)


def imaml_gradient(
    B: np.ndarray, w: np.ndarray, inner: TaskLoss, outer: TaskLoss, lam: float
) -> tuple[np.ndarray, np.ndarray]:
    """Exact (implicit) meta-gradient of head-only iMAML; see the module docstring."""
    n = inner.n
    kp = B.shape[-1]
    M = inner.gram(B) + lam * np.eye(kp)
    M = np.broadcast_to(M, (B.shape[0], n, kp, kp))
    rhs = apply_T(B, inner.c) + lam * w[:, None, :]
    wi = np.linalg.solve(M, rhs[..., None])[..., 0]
    r_out = residual(outer, B, wi)
    v = np.linalg.solve(M, apply_T(B, r_out)[..., None])[..., 0]
    r_in = residual(inner, B, wi)
    GB, _ = gradient(B, wi, r_out)
    GB.terms += [(r_in, v, -1.0), (inner.cov(apply(B, v)), wi, -1.0)]
    return GB.mean(), lam * v.mean(axis=1)


# --------------------------------------------------------------------------- round updates
Update = Callable[[np.ndarray, np.ndarray, TaskBatch, Rates], tuple[np.ndarray, np.ndarray]]


def _pooled_gradient(B, w, batch: TaskBatch):
    r = residual(batch.pooled, B, per_task(w, batch.pooled.n))
    GB, gw = gradient(B, per_task(w, batch.pooled.n), r)
    return GB.mean(), gw.mean(axis=1)


def _arm(B, w, batch, rates):
    GB, gw = _pooled_gradient(B, w, batch)
    return B - rates.beta * GB, w - rates.beta * gw


def _dsgd(B, w, batch, rates):
    GB, gw = _pooled_gradient(B, w, batch)
    return B - rates.alpha * GB, w - rates.alpha * gw


def _meta(adapt_B: bool, exact: bool) -> Update:
    def update(B, w, batch, rates):
        GB, gw = meta_gradient(
            B, w, batch.inner, batch.outer, rates.alpha, rates.inner_steps, adapt_B, exact
        )
        return B - rates.beta * GB, w - rates.beta * gw

    return update


def _imaml(B, w, batch, rates):
    GB, gw = imaml_gradient(B, w, batch.inner, batch.outer, rates.imaml_lambda)
    return B - rates.beta * GB, w - rates.beta * gw


def _local(B, w, batch, rates):
    _, Bi, wi = inner_loop(batch.pooled, B, w, rates.alpha, rates.tau, adapt_B=True)
    return Bi.mean(axis=1), wi.mean(axis=1)


def _fedavg(B, w, batch, rates):
    return _local(B, w, batch, rates)


def _reptile(B, w, batch, rates):
    Bbar, wbar = _local(B, w, batch, rates)
    step = rates.beta / rates.alpha
    return B + step * (Bbar - B), w + step * (wbar - w)


def _fedrep(B, w, batch, rates):
    _, _, wi = inner_loop(batch.pooled, B, w, rates.alpha, rates.tau, adapt_B=False)
    GB, _ = gradient(B, wi, residual(batch.pooled, B, wi))
    return B - rates.beta * GB.mean(), w


def _arm_lora(A, w, batch, rates):
    return A - rates.beta * pooled_gradient(A, batch.pooled), w


def _meta_lora(A, w, batch, rates):
    G = lora_meta_gradient(A, batch.inner, batch.outer, rates.alpha, rates.inner_steps,
                           rates.lora_rank)
    return A - rates.beta * G, w


def group_weights(losses: np.ndarray, groups: np.ndarray | None,
                  temperature: float) -> tuple[np.ndarray, np.ndarray]:
    r"""TR-MAML's distribution over the task groups and the per-task weights it gives.

    ``p_g ∝ q_g exp(L_g/ε)`` with ``q_g = n_g/n`` and ``L_g`` the mean of ``losses`` ``(S, n)``
    over the tasks of group ``g``: the maximiser of ``Σ_g p_g L_g − ε KL(p‖q)`` over the
    simplex, whose value ``F_ε = ε log Σ_g q_g exp(L_g/ε)`` has gradient ``Σ_g p_g ∇L_g``.
    Returns ``p`` ``(S, G)`` and ``c`` ``(S, n)`` with ``⟨c_i ∇f_i⟩ = Σ_g p_g ∇L_g``
    (``c_i = n p_g / n_g``; all ones for one group).
    """
    S, n = losses.shape
    if groups is None:
        return np.ones((S, 1)), np.ones((S, n))
    counts = np.bincount(groups)
    L = np.stack([losses[:, groups == g].mean(axis=1) for g in range(counts.size)], axis=1)
    z = np.log(counts / n) + L / temperature
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    return p, (n * p / counts)[:, groups]


def _tr_maml(B, w, batch, rates):
    _, Bs, ws = inner_loop(batch.inner, B, w, rates.alpha, rates.inner_steps, adapt_B=True)
    _, c = group_weights(batch.outer.value(Bs, ws), batch.groups, rates.tr_temperature)
    GB, gw = meta_gradient(B, w, batch.inner, batch.outer, rates.alpha, rates.inner_steps,
                           adapt_B=True, exact=True, weights=c)
    return B - rates.beta * GB, w - rates.beta * gw


UPDATES: dict[str, Update] = {
    "arm": _arm,
    "dsgd": _dsgd,
    "anil": _meta(adapt_B=False, exact=True),
    "fo-anil": _meta(adapt_B=False, exact=False),
    "maml": _meta(adapt_B=True, exact=True),
    "fo-maml": _meta(adapt_B=True, exact=False),
    "imaml": _imaml,
    "fedavg": _fedavg,
    "reptile": _reptile,
    "fedrep": _fedrep,
    "arm-lora": _arm_lora,
    "meta-lora": _meta_lora,
    "tr-maml": _tr_maml,
}

#: (adapt_B, exact) of the inner-loop meta-gradients, by algorithm name.
META_GRADIENTS = {
    "anil": (False, True),
    "fo-anil": (False, False),
    "maml": (True, True),
    "fo-maml": (True, False),
}
