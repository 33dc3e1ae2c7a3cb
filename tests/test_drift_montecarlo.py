r"""Monte Carlo of the one-task outer update against the drift, finite V (the η_J²/V term).

For N → ∞ a task changes the overlaps by O(1/N); with ``X^ν_k = c_k Δ^ν g'(λ^ν_k)``
(``c_k = s_K w_{t,k}``, ``Δ = f − y`` including label noise) one outer step gives exactly
(theory/equations.md §3)

    N ΔR_kn = −η_J (1/V) Σ_ν X^ν_k ν^ν_n
    N ΔQ_kl = −η_J (1/V) Σ_ν [X^ν_k λ^ν_l + X^ν_l λ^ν_k] + η_J² (1/V²) Σ_ν X^ν_k X^ν_l
    N Δw_k  = −η_0 s_K (1/V) Σ_ν Δ^ν g(λ^ν_k)

(the ν ≠ ν' cross terms of ``ΔJ·ΔJ`` are O(1/N²)).  The drift is the mean over tasks.  Here
the fields are sampled directly: ``u ~ N(ū, Σ_u)``, ``(λ, ν) ~ N(0, [[Q, R], [Rᵀ, T]])``,
``ν^t = γ ν + √(1−γ²) ζ`` (ζ independent; this reproduces ``E[λν^t] = γR``,
``E[νν^t] = γT``, ``E[ν^tν^tᵀ] = γ²T + (1−γ²)I``), label noise ``σξ``; the adapted head
comes from the population inner loop (P = ∞).  Nothing is taken from the package except the
configuration schema; the I2 needed for the inner loop is written out below.

Tolerance: each entry must be within 5 Monte Carlo standard errors (the SE is the sample
standard deviation of the per-task update over √n).  With ~1,200 compared entries per run a
5-SE band gives a false-alarm probability ~1e-3 for exact Gaussian means; the draws are
seeded, so the test is deterministic.  The η²/V term is also compared on its own (it has a
much smaller SE than the full update), and ``test_eta2_term_is_resolved`` makes sure that
the term is many SEs large, so a missing or mis-scaled term would be caught.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from random_states import random_fields_and_heads
from scipy.special import erf

from teacherstudent.config import load_config

drift = pytest.importorskip("teacherstudent.ode.drift")
from teacherstudent.ode.field import VectorField  # noqa: E402

N_SIGMA = 5.0
N_TASKS = {1: 100_000, 2: 60_000, 5: 30_000}  # tasks per (state, V)
SHAPES = [(1, 1), (1, 3), (3, 1), (2, 4), (4, 2), (3, 3), (2, 1), (1, 2), (4, 4), (3, 2)]
V_VALUES = (1, 2, 5)


def random_state(seed: int) -> dict:
    rng = np.random.default_rng(2000 + seed)
    K, M = SHAPES[seed % len(SHAPES)]
    C, Su = random_fields_and_heads(rng, K, M)
    return dict(
        K=K, M=M, Q=C[:K, :K].copy(), R=C[:K, K:].copy(), T=C[K:, K:].copy(),
        w=0.8 * rng.standard_normal(K), ubar=0.7 * rng.standard_normal(M),
        Su=Su,
        gamma=1.0 if seed % 4 == 3 else float(rng.uniform(0.3, 0.95)),
        s=int(rng.integers(1, 4)), readout=("sqrt", "none", "mean")[seed % 3],
        activation="linear" if seed % 5 == 4 else "erf",
        noise=float(rng.uniform(0.0, 0.5)),
        # large outer rates so that the η_J² term is a sizeable part of dQ
        eta_J=float(rng.uniform(1.0, 3.0)), eta_w=float(rng.uniform(0.3, 2.0)),
        eta_0=float(rng.uniform(0.2, 2.0)),
    )


def config(st: dict, algorithm: str, V) -> dict:
    return load_config({
        "model": {"K": st["K"], "M": st["M"], "activation": st["activation"],
                  "readout": st["readout"], "noise": st["noise"]},
        "tasks": {"head_mean": st["ubar"].tolist(), "head_cov": st["Su"].tolist(),
                  "gamma": st["gamma"], "teacher_overlap": st["T"].tolist()},
        "algorithm": {"name": algorithm, "eta_J": st["eta_J"], "eta_w": st["eta_w"],
                      "eta_0": st["eta_0"], "inner_steps": st["s"], "val_size": V},
        "init": {"Q": st["Q"].tolist(), "R": st["R"].tolist(), "w": st["w"].tolist()},
    })


def scales(st):
    K, M = st["K"], st["M"]
    return {"sqrt": (1 / math.sqrt(K), 1 / math.sqrt(M)), "mean": (1 / K, 1 / M),
            "none": (1.0, 1.0)}[st["readout"]]


def _g(z, act):
    return z if act == "linear" else erf(z / math.sqrt(2))


def _gp(z, act):
    return np.ones_like(z) if act == "linear" else math.sqrt(2 / math.pi) * np.exp(-z * z / 2)


def adapted_head(st, algorithm):
    """w_t = a + W u from s population steps on (Φ, Ψ) = I2 over (λ, ν^t)."""
    K, M, g = st["K"], st["M"], st["gamma"]
    sK, sM = scales(st)
    Ct = np.block([[st["Q"], g * st["R"]],
                   [g * st["R"].T, g**2 * st["T"] + (1 - g**2) * np.eye(M)]])
    if st["activation"] == "linear":
        I2 = Ct
    else:
        dd = 1 + np.diag(Ct)
        I2 = 2 / np.pi * np.arcsin(Ct / np.sqrt(np.outer(dd, dd)))
    Phi, Psi = I2[:K, :K], I2[:K, K:]
    a, W = st["w"].copy(), np.zeros((K, M))
    for _ in range(0 if algorithm == "arm" else st["s"]):
        a = a - st["eta_w"] * sK * (sK * Phi @ a)
        W = W - st["eta_w"] * sK * (sK * Phi @ W - sM * Psi)
    return a, W


def monte_carlo(st: dict, algorithm: str, V: int, n_tasks: int, rng) -> dict:
    """Mean and SE of the per-task N·Δ(Q, R, w) and of the η_J² part of N·ΔQ."""
    K, M, act, gam = st["K"], st["M"], st["activation"], st["gamma"]
    sK, sM = scales(st)
    eJ, e0 = st["eta_J"], st["eta_0"]
    a, W = adapted_head(st, algorithm)
    C = np.block([[st["Q"], st["R"]], [st["R"].T, st["T"]]])
    Lc = np.linalg.cholesky(C)
    ev, U = np.linalg.eigh(st["Su"])
    Lu = U * np.sqrt(np.clip(ev, 0, None))

    u = st["ubar"] + rng.standard_normal((n_tasks, M)) @ Lu.T
    z = (rng.standard_normal((n_tasks * V, K + M)) @ Lc.T).reshape(n_tasks, V, K + M)
    lam, nu = z[..., :K], z[..., K:]
    nut = gam * nu + math.sqrt(1 - gam**2) * rng.standard_normal((n_tasks, V, M))
    xi = rng.standard_normal((n_tasks, V))

    ck = sK * (a + u @ W.T)  # (n, K): s_K w_t
    g_lam = _g(lam, act)
    f = np.einsum("nk,nvk->nv", ck, g_lam)
    y = sM * np.einsum("nm,nvm->nv", u, _g(nut, act)) + st["noise"] * xi
    delta = f - y
    X = ck[:, None, :] * delta[..., None] * _gp(lam, act)  # (n, V, K)

    Xt = X.transpose(0, 2, 1)  # batched matrix products over the V samples of each task
    dR = -eJ * (Xt @ nu) / V
    first = Xt @ lam
    dQ1 = -eJ * (first + first.transpose(0, 2, 1)) / V
    dQ2 = eJ**2 * (Xt @ X) / V**2
    dw = -e0 * sK * (delta[:, None, :] @ g_lam)[:, 0, :] / V

    def stats(x):
        return x.mean(0), x.std(0, ddof=1) / math.sqrt(n_tasks)

    return {"Q": stats(dQ1 + dQ2), "R": stats(dR), "w": stats(dw), "Q2": stats(dQ2)}


def _zscore(mc_mean, mc_se, value):
    # An SE of exactly 0 only occurs for entries that are identically zero per task.
    diff = np.abs(np.asarray(value) - mc_mean)
    return np.where(mc_se > 0, diff / np.where(mc_se > 0, mc_se, 1.0),
                    np.where(diff > 1e-12, np.inf, 0.0))


def _run_state(seed: int):
    """All comparisons for one state; returns the η²-term resolution (in SEs) per V."""
    st = random_state(seed)
    rng = np.random.default_rng(seed)
    resolution = {}
    for algorithm in ("arm", "fo-anil"):
        inf = VectorField.from_config(config(st, algorithm, "inf"))(
            st["Q"], st["R"], st["w"])
        for V in V_VALUES:
            vf = VectorField.from_config(config(st, algorithm, V))(
                st["Q"], st["R"], st["w"])
            mc = monte_carlo(st, algorithm, V, N_TASKS[V], rng)
            for key in ("Q", "R", "w"):
                zs = _zscore(*mc[key], vf[key])
                assert np.max(zs) < N_SIGMA, (
                    f"state {seed} {algorithm} V={V} d{key}: max |drift − MC| = "
                    f"{np.max(zs):.2f} SE\ndrift = {vf[key]!r}\nMC    = {mc[key][0]!r}\n"
                    f"SE    = {mc[key][1]!r}")
            # the η_J²/V term alone: drift(V) − drift(∞) against its MC estimate
            zs = _zscore(*mc["Q2"], vf["Q"] - inf["Q"])
            assert np.max(zs) < N_SIGMA, (
                f"state {seed} {algorithm} V={V}: η² term off by {np.max(zs):.2f} SE\n"
                f"drift(V) − drift(∞) = {vf['Q'] - inf['Q']!r}\nMC = {mc['Q2'][0]!r}")
            # the other components have no finite-V correction
            np.testing.assert_allclose(vf["R"], inf["R"], rtol=1e-12, atol=1e-15)
            np.testing.assert_allclose(vf["w"], inf["w"], rtol=1e-12, atol=1e-15)
            resolution[(algorithm, V)] = float(np.max(np.abs(mc["Q2"][0]) / mc["Q"][1]))
    return resolution


@pytest.mark.parametrize("seed", range(10))
def test_drift_matches_monte_carlo(seed):
    res = _run_state(seed)
    # Sensitivity: at V = 1 the η² term must be far outside the full update's 5-SE band,
    # otherwise this state could not tell a missing term from a present one.
    assert res[("fo-anil", 1)] > 2 * N_SIGMA and res[("arm", 1)] > 2 * N_SIGMA, res


@pytest.mark.parametrize("seed", [0, 3, 8])
def test_anil_finite_v_adds_the_fo_eta2_term(seed):
    """The exact-ANIL second-order terms are O(η_J) and V-independent (theory/anil.md §4):
    anil(V) − fo-anil(V) = anil(∞) − fo-anil(∞), and dw has no V dependence."""
    st = random_state(seed)
    args = (st["Q"], st["R"], st["w"])
    f = lambda alg, V: VectorField.from_config(config(st, alg, V))(*args)
    for V in (1, 3):
        a, b = f("anil", V), f("fo-anil", V)
        ai, bi = f("anil", "inf"), f("fo-anil", "inf")
        for k in ("Q", "R", "w"):
            scale = np.max(np.abs(ai[k])) + np.max(np.abs(a[k]))
            np.testing.assert_allclose(a[k] - b[k], ai[k] - bi[k], rtol=0,
                                       atol=1e-12 * scale, err_msg=k)
