"""Population dynamics (m_in = m_out = ∞): representation learning by ANIL / FO-ANIL, the
ARM / D-SGD invariant-subspace bound, and the task-diversity rate 1 − c·αβμ_*² with c = 1.

Rate (theory/linear.md §4): in the population case FO-ANIL's component of B orthogonal to
col(B_*), E = (I − B_*B_*ᵀ)B, obeys exactly E_{t+1} = E_t(I − βΨ_t), Ψ_t = ⟨w_i w_iᵀ⟩.  At the
fixed point (αBᵀB = I, B = B_*S) the adapted heads are w_i = αSᵀθ_i, so Ψ → α Sᵀ(αΣ̂)S with
eigenvalues α·λ(Σ̂), Σ̂ = ⟨θθᵀ⟩: dist_t ∝ (1 − αβμ_*²)^t, μ_*² = λ_min(Σ̂), i.e. c = 1.  Exact
ANIL has the same asymptotic rate (its extra terms are ∝ Bᵀr_out → 0).  With a fixed pool Σ̂
is constant (c = 1 to high accuracy); with fresh tasks Σ̂ fluctuates around diag(1,…,μ²).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.linalg import subspace_angles

import teacherstudent.linear as L
from teacherstudent.linear.algorithms import UPDATES
from teacherstudent.linear.dynamics import rates_of
from teacherstudent.linear.metrics import cover_distance, gram_spectrum, principal_angle_distance
from teacherstudent.linear.population import arm_dist_bound, post_adaptation_error
from teacherstudent.linear.tasks import TaskLaw, TaskStream, initial_state

BASE = {"d": 16, "k": 3, "n_tasks": 12, "alpha": 0.5, "beta": 0.2, "seeds": 3}


def _tail_rate(dist: np.ndarray, rounds: np.ndarray, lo=1e-10, hi=1e-3):
    """Per-round contraction 1 − ρ from a log-linear fit where lo < dist < hi, and R²."""
    m = (dist < hi) & (dist > lo)
    assert m.sum() >= 10, "window too short to fit a rate"
    y = np.log(dist[m])
    coef = np.polyfit(rounds[m], y, 1)
    res = y - np.polyval(coef, rounds[m])
    r2 = 1 - res.var() / y.var()
    return 1 - np.exp(coef[0]), r2


def test_anil_and_fo_anil_recover_B_star_geometrically_from_random_init():
    ds = L.run({"linear": {**BASE, "rounds": 400, "algorithms": ["anil", "fo-anil"]}})
    assert (ds.dist.isel(round=0) > 0.9).all()  # random init: far from B_*
    assert (ds.dist.isel(round=-1) < 1e-6).all()
    assert (ds.diverged_round == -1).all()
    for alg in ds.algorithm.values:
        for s in ds.seed.values:
            rate, r2 = _tail_rate(ds.dist.sel(algorithm=alg, seed=s).values, ds["round"].values)
            assert rate > 0.5 * 0.5 * 0.2 * 1.0  # at least half of αβμ² (μ = 1)
            assert r2 > 0.99  # geometric: log dist is linear in the round


@pytest.mark.parametrize("init", ["random", "near"])
def test_arm_and_dsgd_stay_above_invariant_subspace_bound(init):
    cfg = L.load_config(
        {"linear": {**BASE, "rounds": 600, "task_pool": 12, "init": init, "init_dist": 0.5,
                    "head_mean": 0.5, "algorithms": ["arm", "dsgd", "anil"]}}
    )
    p = cfg["linear"]
    law = TaskLaw.from_config(p)
    st = initial_state(p, law)
    bound = arm_dist_bound(st.B0, st.B_star, st.pool.mean(axis=1))
    # V adds one direction to col(B_0): by interlacing the bound is at least the second
    # largest principal sine of (B_0, B_*), = δ(k−1)/k for the "near" initialisation
    sines = np.sort(np.sqrt(np.maximum(0, 1 - np.linalg.svd(
        np.swapaxes(st.B_star, 1, 2) @ np.linalg.qr(st.B0)[0], compute_uv=False) ** 2)), axis=1)
    assert np.all(bound >= sines[:, -2] - 1e-12)
    assert (bound > 0.3).all()  # a non-trivial bound
    ds = L.run(cfg)
    for alg in ("arm", "dsgd"):
        d = ds.dist.sel(algorithm=alg).values  # (seed, round)
        assert np.all(d >= bound[:, None] * (1 - 1e-9))
    assert (ds.dist.sel(algorithm="anil").isel(round=-1) < 1e-6).all()  # same tasks, learnt


def test_arm_column_space_stays_in_initial_span_plus_pool_mean():
    """The invariant behind the bound: col(B_t) ⊂ col(B_0) + span(B_*θ̄_pool)."""
    p = L.load_config({"linear": {**BASE, "task_pool": 12, "head_mean": 0.5}})["linear"]
    law = TaskLaw.from_config(p)
    st = initial_state(p, law)
    stream = TaskStream(p, law, st)
    B, w = st.B0.copy(), st.w0.copy()
    for _ in range(200):
        B, w = UPDATES["arm"](B, w, stream.next(), rates_of(p))
    V = np.concatenate([st.B0, st.B_star @ st.pool.mean(axis=1)[..., None]], axis=2)
    Q = np.linalg.qr(V)[0]
    outside = B - Q @ (np.swapaxes(Q, 1, 2) @ B)
    assert np.abs(B - st.B0).max() > 1e-2
    assert np.abs(outside).max() < 1e-12 * np.abs(B).max()
    # control: FedAvg with τ = 2 leaves that span (its updates follow the per-task heads)
    B2, w2 = st.B0.copy(), st.w0.copy()
    for _ in range(20):
        B2, w2 = UPDATES["fedavg"](B2, w2, stream.next(), rates_of(p))
    assert np.abs(B2 - Q @ (np.swapaxes(Q, 1, 2) @ B2)).max() > 1e-3


def test_task_diversity_sets_the_rate_c_equals_one_fixed_pool():
    """Exact ANIL with a fixed pool: rate = αβμ_*² with μ_*² = λ_min(⟨θθᵀ⟩_pool), c = 1 ± 2%.

    (FO-ANIL is not used here: with a fixed pool whose mean is non-zero its head
    initialisation w drifts along the neutral direction of the fixed-point manifold and the
    run eventually diverges; see theory/linear.md §5.)
    """
    rates = {}
    for mu in (1.0, 0.5):
        ds = L.run({"linear": {**BASE, "mu": mu, "rounds": 1500, "task_pool": 12,
                               "algorithms": ["anil"]}})
        for s in ds.seed.values:
            rate, r2 = _tail_rate(ds.dist.sel(algorithm="anil", seed=s).values,
                                  ds["round"].values)
            c = rate / (0.5 * 0.2 * ds.mu_star2.sel(seed=s).item())
            assert c == pytest.approx(1.0, abs=0.02)
            rates[(mu, int(s))] = rate
    for s in range(3):
        assert rates[(0.5, s)] < rates[(1.0, s)]  # smaller μ: slower


def test_task_diversity_rate_fresh_tasks():
    """Fresh tasks: rate ≈ αβμ² (c = 1 within 10%, seed average), for ANIL and FO-ANIL."""
    ds = L.run({"linear": {**BASE, "n_tasks": 40, "mu": 0.5, "rounds": 1200,
                           "algorithms": ["anil", "fo-anil"]}})
    for alg in ("anil", "fo-anil"):
        cs = []
        for s in ds.seed.values:
            rate, _ = _tail_rate(ds.dist.sel(algorithm=alg, seed=s).values, ds["round"].values)
            cs.append(rate / (0.5 * 0.2 * 0.5**2))
        assert np.mean(cs) == pytest.approx(1.0, abs=0.1)


# --------------------------------------------------------------------------- metrics
def test_principal_angle_distance_matches_scipy_subspace_angles():
    rng = np.random.default_rng(1)
    B_star = np.linalg.qr(rng.standard_normal((4, 10, 3)))[0]
    B = B_star @ rng.standard_normal((4, 3, 3)) + 0.2 * rng.standard_normal((4, 10, 3))
    ref = [np.sin(subspace_angles(B[s], B_star[s]).max()) for s in range(4)]
    np.testing.assert_allclose(principal_angle_distance(B, B_star), ref, rtol=1e-10)
    np.testing.assert_allclose(cover_distance(B, B_star), ref, rtol=1e-10)
    # k' > k: dist = 1 always, dist_cover = sine of the largest angle of B_* to col B
    Bw = np.concatenate([B, rng.standard_normal((4, 10, 2))], axis=2)
    np.testing.assert_allclose(principal_angle_distance(Bw, B_star), 1.0, rtol=1e-12)
    ref = [np.sin(subspace_angles(Bw[s], B_star[s]).max()) for s in range(4)]
    np.testing.assert_allclose(cover_distance(Bw, B_star), ref, rtol=1e-10)


def test_tiny_distances_keep_relative_precision():
    rng = np.random.default_rng(2)
    B_star = np.linalg.qr(rng.standard_normal((1, 8, 2)))[0]
    perp = rng.standard_normal((1, 8, 2))
    perp -= B_star @ (np.swapaxes(B_star, 1, 2) @ perp)
    for eps in (1e-6, 1e-10, 1e-13):
        B = B_star + eps * perp
        ref = eps * np.linalg.norm(perp[0], 2)
        assert principal_angle_distance(B, B_star)[0] == pytest.approx(ref, rel=1e-3)


def test_gram_spectrum():
    B = np.diag([1.0, 2.0, 4.0])[None, :, :]
    g = gram_spectrum(B, 0.5)
    assert g["cond"][0] == pytest.approx(16.0)
    assert g["delta"][0] == pytest.approx(7.0)  # |1 − 0.5·16|
    assert g["gram_min"][0] == pytest.approx(0.5)
    assert g["gram_max"][0] == pytest.approx(8.0)


def test_post_adaptation_error_matches_monte_carlo():
    rng = np.random.default_rng(3)
    d, k, kp, alpha, steps = 7, 2, 3, 0.4, 2
    B_star = np.linalg.qr(rng.standard_normal((1, d, k)))[0]
    B, w = rng.standard_normal((1, d, kp)), rng.standard_normal((1, kp))
    mean, var = np.array([0.3, -0.2]), np.array([1.0, 0.25])
    exact = post_adaptation_error(B, w, B_star, mean, var, alpha, steps)[0]
    theta = mean + np.sqrt(var) * rng.standard_normal((200_000, k))
    errs = []
    for th in theta[:2000]:  # explicit inner loop on a few tasks (reference)
        v = w[0].copy()
        for _ in range(steps):
            v = v - alpha * B[0].T @ (B[0] @ v - B_star[0] @ th)
        errs.append(0.5 * np.sum((B[0] @ v - B_star[0] @ th) ** 2))
    assert exact == pytest.approx(np.mean(errs), rel=0.1)


def test_maml_has_a_representation_free_global_minimum():
    """B = 0, α‖w‖² = 1 is a zero of the MAML objective and of its exact gradient.

    At B = 0 the inner step gives B_1 = −α r wᵀ = αB_*θwᵀ and w_1 = w, so
    B_1 w_1 = α‖w‖² B_*θ = B_*θ for every task: exact one-step adaptation without any
    representation (col B is empty).  This is what MAML converges to from a random B_0 in
    figure linear-maml-init.
    """
    from teacherstudent.linear.algorithms import meta_gradient
    from teacherstudent.linear.population import PopulationLoss, full_adaptation_error

    rng = np.random.default_rng(5)
    S, n, d, k, alpha = 2, 6, 9, 3, 0.5
    B_star = np.linalg.qr(rng.standard_normal((S, d, k)))[0]
    theta = rng.standard_normal((S, n, k))
    loss = PopulationLoss(theta @ np.swapaxes(B_star, 1, 2))
    w = rng.standard_normal((S, k))
    w /= np.linalg.norm(w, axis=1, keepdims=True) * np.sqrt(alpha)
    B = np.zeros((S, d, k))
    GB, gw = meta_gradient(B, w, loss, loss, alpha, 1, adapt_B=True, exact=True)
    assert np.abs(GB).max() < 1e-14 and np.abs(gw).max() < 1e-14
    assert full_adaptation_error(B, w, B_star, theta, alpha, 1).max() < 1e-28
    # control: with α‖w‖² ≠ 1 the gradient does not vanish
    GB, _ = meta_gradient(B, 1.2 * w, loss, loss, alpha, 1, adapt_B=True, exact=True)
    assert np.abs(GB).max() > 1e-2


def test_full_adaptation_error_matches_explicit_inner_step():
    """The reduced-basis evaluation equals an explicit d-dimensional MAML inner step."""
    from teacherstudent.linear.population import full_adaptation_error

    rng = np.random.default_rng(4)
    S, T, d, k, kp, alpha = 2, 5, 12, 2, 3, 0.4
    B_star = np.linalg.qr(rng.standard_normal((S, d, k)))[0]
    B, w = rng.standard_normal((S, d, kp)), rng.standard_normal((S, kp))
    theta = rng.standard_normal((S, T, k))
    got = full_adaptation_error(B, w, B_star, theta, alpha, 2)
    for s in range(S):
        errs = []
        for th in theta[s]:
            Bi, wi = B[s].copy(), w[s].copy()
            for _ in range(2):
                r = Bi @ wi - B_star[s] @ th
                Bi, wi = Bi - alpha * np.outer(r, wi), wi - alpha * Bi.T @ r
            errs.append(0.5 * np.sum((Bi @ wi - B_star[s] @ th) ** 2))
        assert got[s] == pytest.approx(np.mean(errs), rel=1e-12)


@pytest.mark.parametrize("alg", ["anil", "maml", "imaml", "fedavg", "arm"])
def test_population_dynamics_live_in_col_B0_plus_col_Bstar(alg):
    """The reduced (k'+k)-dimensional run equals the full d-dimensional one."""
    from teacherstudent.linear.dynamics import simulate_algorithm

    p = L.load_config({"linear": {**BASE, "k_model": 4, "rounds": 30, "seeds": 2,
                                  "head_mean": 0.3, "test_tasks": 8}})["linear"]
    full, _ = simulate_algorithm(alg, p, reduce=False)
    red, _ = simulate_algorithm(alg, p, reduce=True)
    for var in ("dist_cover", "cond", "head_norm", "post_error", "post_error_full"):
        np.testing.assert_allclose(red[var], full[var], rtol=1e-8, atol=1e-12)
