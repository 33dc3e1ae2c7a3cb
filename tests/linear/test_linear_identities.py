"""Exact algebraic identities between the algorithms (iterates to ~1e-12).

1. FedAvg with τ = 1 *is* ARM with β = α: one local step from θ, then averaging, gives
   θ − α⟨∇f_i(θ)⟩ (the task average of the gradient of the pooled losses).
2. FedAvg with τ = 2 from w = 0 gives FO-ANIL's B update with β = α, one inner step and
   inner = outer data (the client's pooled data).  At w = 0 the first local step leaves B
   unchanged (∇_B f = r wᵀ = 0) and sets w_i = αBᵀc_i = FO-ANIL's adapted head; the second
   local step is B − α r_i w_iᵀ with r_i = Σ_iBw_i − c_i = FO-ANIL's outer gradient.  The
   heads differ: FedAvg's w is ⟨w_i − αBᵀr_i⟩, FO-ANIL's is −α⟨Bᵀr_i⟩; the difference is
   α⟨Bᵀc_i⟩.
3. Exact ANIL = FO-ANIL when A := I − αBᵀΣ_inB = 0 and the outer loss is the inner loss
   (population, or the same samples), for any number of inner steps and — as the derivation
   shows — for *any* w, in particular the spec's w = 0: the first inner step gives
   w_1 = Aw + αBᵀc = αBᵀc, the minimiser of the inner loss, so the inner loop stays there and
   λ = Bᵀr_out = (αBᵀΣB − I)Bᵀc = 0; every second-order term of the exact gradient,
   −α Σ_j (r_j λ_{j+1}ᵀ + ΣBλ_{j+1}w_jᵀ), is proportional to a λ_j = A^{s−j}λ = 0, and
   ∇_w = A^s λ = 0 = λ (FO).  Controls: with A ≠ 0, or with different inner/outer samples,
   the two differ.
4. Reptile with β = α is FedAvg (server rate β/α = 1).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.linalg import sqrtm

from teacherstudent.linear.algorithms import UPDATES, Rates
from teacherstudent.linear.config import load_config
from teacherstudent.linear.tasks import TaskBatch, TaskLaw, TaskStream, initial_state

SETTINGS = {
    "population": {"m_in": "inf", "m_out": "inf"},
    "finite-sample": {"m_in": 6, "m_out": 5},
}


def _setup(setting: str, **extra):
    p = load_config(
        {"linear": {"d": 9, "k": 2, "k_model": 3, "n_tasks": 4, "seeds": 3, "noise": 0.2,
                    "head_mean": 0.3, "alpha": 0.4, "head_init": 0.5, **SETTINGS[setting],
                    **extra}}
    )["linear"]
    law = TaskLaw.from_config(p)
    state = initial_state(p, law)
    return p, state, TaskStream(p, law, state)


def _same_data(batch: TaskBatch) -> TaskBatch:
    return TaskBatch(batch.theta, batch.pooled, batch.pooled, batch.pooled)


@pytest.mark.parametrize("setting", sorted(SETTINGS))
def test_fedavg_tau1_is_arm_with_beta_alpha(setting):
    p, state, stream = _setup(setting)
    rates_fed = Rates(alpha=0.4, beta=123.0, tau=1)  # β must not matter for FedAvg
    rates_arm = Rates(alpha=99.0, beta=0.4)  # α must not matter for ARM
    Bf, wf = state.B0.copy(), state.w0.copy()
    Ba, wa = state.B0.copy(), state.w0.copy()
    for _ in range(40):
        batch = stream.next()
        Bf, wf = UPDATES["fedavg"](Bf, wf, batch, rates_fed)
        Ba, wa = UPDATES["arm"](Ba, wa, batch, rates_arm)
    assert np.abs(Ba - state.B0).max() > 1e-2  # the iterates moved
    np.testing.assert_allclose(Bf, Ba, rtol=0, atol=1e-12 * np.abs(Ba).max())
    np.testing.assert_allclose(wf, wa, rtol=0, atol=1e-12 * max(1, np.abs(wa).max()))


@pytest.mark.parametrize("setting", sorted(SETTINGS))
def test_dsgd_is_arm_with_rate_alpha(setting):
    p, state, stream = _setup(setting)
    batch = stream.next()
    Bd, wd = UPDATES["dsgd"](state.B0, state.w0, batch, Rates(alpha=0.4, beta=7.0))
    Ba, wa = UPDATES["arm"](state.B0, state.w0, batch, Rates(alpha=7.0, beta=0.4))
    np.testing.assert_array_equal(Bd, Ba)
    np.testing.assert_array_equal(wd, wa)


@pytest.mark.parametrize("setting", sorted(SETTINGS))
def test_fedavg_tau2_from_zero_head_is_fo_anil_B_update(setting):
    p, state, stream = _setup(setting)
    w0 = np.zeros_like(state.w0)
    for _ in range(3):  # several independent instances (B moves between them)
        batch = stream.next()
        Bf, wf = UPDATES["fedavg"](state.B0, w0, batch, Rates(alpha=0.4, beta=0.0, tau=2))
        Bo, wo = UPDATES["fo-anil"](
            state.B0, w0, _same_data(batch), Rates(alpha=0.4, beta=0.4, inner_steps=1)
        )
        assert np.abs(Bo - state.B0).max() > 1e-3
        np.testing.assert_allclose(Bf, Bo, rtol=0, atol=1e-13 * np.abs(Bo).max())
        # the heads differ by exactly α⟨Bᵀc_i⟩
        c = batch.pooled.c
        diff = 0.4 * np.mean(c @ state.B0, axis=1)
        np.testing.assert_allclose(wf - wo, diff, rtol=0, atol=1e-13)
        assert np.abs(diff).max() > 1e-3
        state.B0 = Bf


def _whitened(B: np.ndarray, loss, alpha: float) -> np.ndarray:
    """B' = B (αBᵀΣB)^{-1/2} so that αB'ᵀΣB' = I (Σ = the population or the sample Σ)."""
    G = loss.gram(B)[:, 0] if loss.gram(B).shape[1] == 1 else None
    assert G is not None
    return np.stack([B[s] @ np.linalg.inv(np.real(sqrtm(alpha * G[s]))) for s in range(B.shape[0])])


@pytest.mark.parametrize("head", ["zero", "random"])
@pytest.mark.parametrize("steps", [1, 3])
@pytest.mark.parametrize("setting", sorted(SETTINGS))
def test_anil_equals_fo_anil_at_whitened_B(setting, steps, head):
    p, state, stream = _setup(setting, n_tasks=1)  # one task: Σ_in is then a single matrix
    alpha = 0.4
    rates = Rates(alpha=alpha, beta=0.3, inner_steps=steps)
    batch = _same_data(stream.next())
    B = _whitened(state.B0, batch.inner, alpha)
    G = batch.inner.gram(B)[:, 0]
    np.testing.assert_allclose(alpha * G, np.broadcast_to(np.eye(3), G.shape), atol=1e-12)
    w0 = np.zeros_like(state.w0) if head == "zero" else state.w0
    assert head == "zero" or np.abs(w0).max() > 0.1
    Ba, wa = UPDATES["anil"](B, w0, batch, rates)
    Bf, wf = UPDATES["fo-anil"](B, w0, batch, rates)
    assert np.abs(Ba - B).max() > 1e-3
    np.testing.assert_allclose(Ba, Bf, rtol=0, atol=1e-12 * np.abs(B).max())
    np.testing.assert_allclose(wa, wf, rtol=0, atol=1e-12)
    # control 1: A = I − αBᵀΣB ≠ 0 (B not whitened): the updates differ
    Ba, _ = UPDATES["anil"](1.3 * B, w0, batch, rates)
    Bf, _ = UPDATES["fo-anil"](1.3 * B, w0, batch, rates)
    assert np.abs(Ba - Bf).max() > 1e-4


def test_anil_differs_from_fo_anil_with_separate_validation_samples():
    """Control 2: αBᵀΣ_inB = I but fresh outer samples: λ = Bᵀr_out ≠ 0."""
    p, state, stream = _setup("finite-sample", n_tasks=1)
    batch = stream.next()
    B = _whitened(state.B0, batch.inner, 0.4)
    rates = Rates(alpha=0.4, beta=0.3, inner_steps=1)
    Ba, _ = UPDATES["anil"](B, np.zeros_like(state.w0), batch, rates)
    Bf, _ = UPDATES["fo-anil"](B, np.zeros_like(state.w0), batch, rates)
    assert np.abs(Ba - Bf).max() > 1e-4


def test_anil_equals_fo_anil_population_many_tasks():
    """Population: Σ = I for every task, so the whitening works for any n."""
    p, state, stream = _setup("population", n_tasks=6)
    alpha = 0.4
    batch = stream.next()
    B = np.stack([np.linalg.qr(b)[0] for b in state.B0]) / np.sqrt(alpha)
    w0 = np.zeros_like(state.w0)
    rates = Rates(alpha=alpha, beta=0.3, inner_steps=2)
    Ba, wa = UPDATES["anil"](B, w0, batch, rates)
    Bf, wf = UPDATES["fo-anil"](B, w0, batch, rates)
    np.testing.assert_allclose(Ba, Bf, rtol=0, atol=1e-12 * np.abs(B).max())
    np.testing.assert_allclose(wa, wf, rtol=0, atol=1e-12)


@pytest.mark.parametrize("setting", sorted(SETTINGS))
def test_reptile_with_beta_alpha_is_fedavg(setting):
    p, state, stream = _setup(setting)
    batch = stream.next()
    Br, wr = UPDATES["reptile"](state.B0, state.w0, batch, Rates(alpha=0.4, beta=0.4, tau=3))
    Bf, wf = UPDATES["fedavg"](state.B0, state.w0, batch, Rates(alpha=0.4, beta=0.0, tau=3))
    np.testing.assert_allclose(Br, Bf, rtol=0, atol=1e-13 * np.abs(Bf).max())
    np.testing.assert_allclose(wr, wf, rtol=0, atol=1e-13)
