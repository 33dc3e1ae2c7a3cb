r"""The P = ∞, V = ∞ drift as the gradient of an explicit function of the overlaps.

At V = ∞ the outer update of every algorithm is ``J ← J − η_J ∇_J L`` with ``L`` the task's
population validation loss (FO-ANIL: with the adapted head ``w_t`` held fixed; ANIL: through
``w_t``; ARM: at ``w``).  ``L`` depends on ``J`` only through ``Q`` and ``R^t = γR`` (the task
fields ``B^t`` have ``B^t·J/N = γR + O(N^{-1/2})``), so with

    G(Q, R, w) = E_u[ ½ cᵀ I2 c ] + σ²/2,   c = (s_K w_t; −s_M u)   over (λ, ν^t),

and ``∂G/∂J_k = Σ_l (G_Q + G_Qᵀ)_kl J_l/N + Σ_n (G_R)_kn B_n/N`` (``G_R = γ ∂G/∂R^t``,
``B^t_m·B_n/N = γ T_mn``, ``B^t_m·J_l/N = γ R_lm``) the drift per ``α = t/N`` is

    dR/dα = −η_J [D R + G_R T],   dQ/dα = −η_J [D Q + Q D + G_R Rᵀ + R G_Rᵀ],
    dw/dα = −η_0 ∂G/∂w (anil, arm)   or   −η_0 ∂G/∂w_t (fo-anil),     D = G_Q + G_Qᵀ

(theory/equations.md §6, theory/anil.md).  ``G`` is written here from scratch in torch
float64 (only I2 — no I3/I4 formula and nothing from the package), the derivatives come from
autograd, and the result is compared with ``teacherstudent.ode.VectorField``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from random_states import random_fields_and_heads

from teacherstudent.config import load_config

drift = pytest.importorskip("teacherstudent.ode.drift")
from teacherstudent.ode.field import VectorField  # noqa: E402

torch.set_default_dtype(torch.float64)

# Both sides are float64 closed forms of the same smooth function of ~30 numbers: the
# round-off of either is ~1e-15 relative, amplified at most by the asin derivative
# 1/√(1−x²) (|x| ≤ 0.9 for these states, factor ~2) and by the s-fold inner loop.
# Any algebraic error (a missing factor γ, 2, s_K, a transpose) changes entries by O(1e-2)
# relative, so 1e-9 relative to the largest entry of each array separates the two by
# seven decades.
RTOL = 1e-9

# (K, M) pairs: K = M, K < M and K > M, from 1 to 4
SHAPES = [(1, 1), (1, 3), (3, 1), (2, 4), (4, 2), (3, 3), (2, 1), (1, 2), (4, 4), (3, 2),
          (2, 3), (4, 1)]


@dataclass
class Case:
    K: int
    M: int
    Q: np.ndarray
    R: np.ndarray
    T: np.ndarray
    w: np.ndarray
    ubar: np.ndarray
    Su: np.ndarray
    gamma: float
    s: int
    readout: str
    activation: str
    noise: float
    eta_J: float
    eta_w: float
    eta_0: float

    @property
    def scales(self):
        if self.readout == "sqrt":
            return 1 / math.sqrt(self.K), 1 / math.sqrt(self.M)
        if self.readout == "mean":
            return 1 / self.K, 1 / self.M
        return 1.0, 1.0

    def config(self, algorithm: str, val_size="inf", **alg) -> dict:
        a = {"name": algorithm, "eta_J": self.eta_J, "eta_w": self.eta_w, "eta_0": self.eta_0,
             "inner_steps": self.s, "val_size": val_size}
        a.update(alg)
        return load_config({
            "model": {"K": self.K, "M": self.M, "activation": self.activation,
                      "readout": self.readout, "noise": self.noise},
            "tasks": {"head_mean": self.ubar.tolist(), "head_cov": self.Su.tolist(),
                      "gamma": self.gamma, "teacher_overlap": self.T.tolist()},
            "algorithm": a,
            "init": {"Q": self.Q.tolist(), "R": self.R.tolist(), "w": self.w.tolist()},
        })


def random_case(seed: int, *, activation: str | None = None, gamma: float | None = None) -> Case:
    """A random admissible state: C = [[Q, R], [Rᵀ, T]] positive definite with variances in
    [0.3, 1.5], full Σ_u (rank 1..M, so also singular), γ < 1 for most seeds."""
    rng = np.random.default_rng(1000 + seed)
    K, M = SHAPES[seed % len(SHAPES)]
    C, Su = random_fields_and_heads(rng, K, M)
    if gamma is None:
        gamma = 1.0 if seed % 4 == 3 else float(rng.uniform(0.3, 0.95))
    if activation is None:
        activation = "linear" if seed % 5 == 4 else "erf"
    return Case(
        K=K, M=M, Q=C[:K, :K].copy(), R=C[:K, K:].copy(), T=C[K:, K:].copy(),
        w=0.8 * rng.standard_normal(K), ubar=0.7 * rng.standard_normal(M), Su=Su,
        gamma=gamma, s=int(rng.integers(1, 4)),
        readout=("sqrt", "none", "mean")[seed % 3], activation=activation,
        noise=float(rng.uniform(0.0, 0.5)), eta_J=float(rng.uniform(0.3, 2.0)),
        eta_w=float(rng.uniform(0.3, 2.0)), eta_0=float(rng.uniform(0.2, 2.0)),
    )


# --------------------------------------------------------------------------- the oracle
def _i2(C: torch.Tensor, activation: str) -> torch.Tensor:
    """E[g(z_a) g(z_b)] for all pairs: erf (Saad & Solla) or linear."""
    if activation == "linear":
        return C
    d = 1.0 + torch.diagonal(C)
    return (2.0 / math.pi) * torch.asin(C / torch.sqrt(d[:, None] * d[None, :]))


def _task_cov(Q, R, T, gamma):
    """Covariance of (λ, ν^t): [[Q, γR], [γRᵀ, γ²T + (1−γ²)I]]."""
    M = T.shape[0]
    Tt = gamma**2 * T + (1 - gamma**2) * torch.eye(M)
    Rt = gamma * R
    return torch.cat([torch.cat([Q, Rt], 1), torch.cat([Rt.T, Tt], 1)], 0)


def _inner_loop(I2, w, K, M, s, eta_w, sK, sM):
    """s population steps w ← w − η_w s_K (s_K Φ w − s_M Ψ u), kept affine: w_t = a + W u."""
    Phi, Psi = I2[:K, :K], I2[:K, K:]
    a, W = w, torch.zeros(K, M)
    for _ in range(s):
        a = a - eta_w * sK * (sK * Phi @ a)
        W = W - eta_w * sK * (sK * Phi @ W - sM * Psi)
    return a, W


def _expected_loss(I2, a, W, ubar, Su, sK, sM, noise):
    """E_u[½ cᵀ I2 c] + σ²/2 with c = (s_K (a + W u); −s_M u), u ~ N(ū, Σ_u)."""
    M = ubar.shape[0]
    c0 = torch.cat([sK * a, torch.zeros(M)])
    H = torch.cat([sK * W, -sM * torch.eye(M)], 0)
    cbar = c0 + H @ ubar
    S = H @ Su @ H.T
    return 0.5 * (cbar @ I2 @ cbar + torch.trace(I2 @ S)) + 0.5 * noise**2


def oracle(case: Case, algorithm: str, s: int | None = None, eta_w: float | None = None):
    """(dQ, dR, dw) and G from autograd of G(Q, R, w)."""
    t = lambda x: torch.tensor(np.asarray(x, dtype=float))
    Q = t(case.Q).requires_grad_(True)
    R = t(case.R).requires_grad_(True)
    w = t(case.w).requires_grad_(True)
    T, ubar, Su = t(case.T), t(case.ubar), t(case.Su)
    sK, sM = case.scales
    s = case.s if s is None else s
    eta_w = case.eta_w if eta_w is None else eta_w
    if algorithm == "arm":
        s = 0
    I2 = _i2(_task_cov(Q, R, T, case.gamma), case.activation)
    if algorithm == "fo-anil":
        # first order: w_t computed from the same overlaps but cut out of the graph
        with torch.no_grad():
            a, W = _inner_loop(I2, w, case.K, case.M, s, eta_w, sK, sM)
        a = a.clone().requires_grad_(True)
        G = _expected_loss(I2, a, W, ubar, Su, sK, sM, case.noise)
        gQ, gR, gw = torch.autograd.grad(G, (Q, R, a))
    elif algorithm in ("anil", "arm"):
        a, W = _inner_loop(I2, w, case.K, case.M, s, eta_w, sK, sM)
        G = _expected_loss(I2, a, W, ubar, Su, sK, sM, case.noise)
        gQ, gR, gw = torch.autograd.grad(G, (Q, R, w))
    else:
        raise ValueError(algorithm)
    D = gQ + gQ.T
    Qd, Rd = Q.detach(), R.detach()
    dR = -case.eta_J * (D @ Rd + gR @ T)
    dQ = -case.eta_J * (D @ Qd + Qd @ D + gR @ Rd.T + Rd @ gR.T)
    dw = -case.eta_0 * gw
    return dQ.numpy(), dR.numpy(), dw.numpy(), float(G.detach())


def oracle_errors(case: Case, algorithm: str):
    """eg (after the inner loop; arm: none), eg_pre (at w), eg_opt (best head per task)."""
    t = lambda x: torch.tensor(np.asarray(x, dtype=float))
    Q, R, w, T = t(case.Q), t(case.R), t(case.w), t(case.T)
    ubar, Su = t(case.ubar), t(case.Su)
    sK, sM = case.scales
    K = case.K
    I2 = _i2(_task_cov(Q, R, T, case.gamma), case.activation)

    def G(s):
        a, W = _inner_loop(I2, w, K, case.M, s, case.eta_w, sK, sM)
        return float(_expected_loss(I2, a, W, ubar, Su, sK, sM, case.noise))

    # optimal head for each u: minimise ½ cᵀ I2 c over w_t ⇒ s_K Φ w_t = s_M Ψ u; plug the
    # minimiser in as an affine head a = 0, W = (s_M/s_K) Φ⁻¹ Ψ and reuse the loss formula
    W_opt = (sM / sK) * torch.linalg.solve(I2[:K, :K], I2[:K, K:])
    eg_opt = float(_expected_loss(I2, torch.zeros(K), W_opt, ubar, Su, sK, sM, case.noise))
    return {"eg": G(0 if algorithm == "arm" else case.s), "eg_pre": G(0), "eg_opt": eg_opt}


def assert_close(actual, expected, name, rtol=RTOL, floor=1e-300):
    """max |actual − expected| ≤ rtol · max(max|expected|, floor).  The floor (1e-3 of the
    whole drift's size) matters only for an array that is (nearly) zero by cancellation,
    e.g. dQ of a linear student at the optimal head, where both sides are round-off."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    scale = max(np.max(np.abs(expected)), floor)
    err = np.max(np.abs(actual - expected)) / scale
    assert err <= rtol, f"{name}: max |drift − oracle| / max|oracle| = {err:.3e}\n" \
                        f"drift  = {actual!r}\noracle = {expected!r}"


def _compare(case: Case, algorithm: str, **alg):
    vf = VectorField.from_config(case.config(algorithm, **alg))
    d = vf(case.Q, case.R, case.w)
    dQ, dR, dw, _ = oracle(case, algorithm, s=alg.get("inner_steps"), eta_w=alg.get("eta_w"))
    floor = 1e-3 * max(np.max(np.abs(x)) for x in (dQ, dR, dw))
    assert_close(d["Q"], dQ, f"{algorithm} dQ", floor=floor)
    assert_close(d["R"], dR, f"{algorithm} dR", floor=floor)
    assert_close(d["w"], dw, f"{algorithm} dw", floor=floor)
    return d


# --------------------------------------------------------------------------- tests
@pytest.mark.parametrize("algorithm", ["arm", "fo-anil", "anil"])
@pytest.mark.parametrize("seed", range(12))
def test_drift_is_gradient_of_G(seed, algorithm):
    _compare(random_case(seed), algorithm)


@pytest.mark.parametrize("alias, base", [("maml", "anil"), ("fo-maml", "fo-anil")])
def test_maml_aliases(alias, base):
    """maml / fo-maml have the anil / fo-anil ODE (spec §1.1)."""
    case = random_case(5)
    _compare(case, base)
    a = VectorField.from_config(case.config(alias))(case.Q, case.R, case.w)
    b = VectorField.from_config(case.config(base))(case.Q, case.R, case.w)
    for k in ("Q", "R", "w"):
        np.testing.assert_array_equal(a[k], b[k])


@pytest.mark.parametrize("seed", range(6))
def test_errors(seed):
    """eg, eg_pre, eg_opt against G; eg_opt ≤ eg, eg_pre (it is a minimum over heads)."""
    case = random_case(seed)
    for algorithm in ("arm", "fo-anil", "anil"):
        e = VectorField.from_config(case.config(algorithm)).errors(case.Q, case.R, case.w)
        o = oracle_errors(case, algorithm)
        for k in ("eg", "eg_pre", "eg_opt"):
            assert abs(e[k] - o[k]) <= RTOL * abs(o[k]), (algorithm, k, e[k], o[k])
        # the value of G used for the drift is the reported meta-generalisation error
        assert abs(oracle(case, algorithm)[3] - o["eg"]) <= 1e-12 * o["eg"]
        assert e["eg_opt"] <= min(e["eg"], e["eg_pre"]) + 1e-12
        assert e["eg_opt"] >= 0.5 * case.noise**2 - 1e-12


def test_eg_opt_is_a_minimum():
    """eg_opt = E_u min over w_t: random perturbations of the optimal affine head only
    increase the loss (a check of the oracle's own eg_opt formula)."""
    case = random_case(2)
    t = lambda x: torch.tensor(np.asarray(x, dtype=float))
    I2 = _i2(_task_cov(t(case.Q), t(case.R), t(case.T), case.gamma), case.activation)
    sK, sM = case.scales
    K, M = case.K, case.M
    W_opt = (sM / sK) * torch.linalg.solve(I2[:K, :K], I2[:K, K:])
    args = (t(case.ubar), t(case.Su), sK, sM, case.noise)
    best = float(_expected_loss(I2, torch.zeros(K), W_opt, *args))
    gen = torch.Generator().manual_seed(0)
    for _ in range(20):
        a = 0.1 * torch.randn(K, generator=gen)
        W = W_opt + 0.1 * torch.randn(K, M, generator=gen)
        assert float(_expected_loss(I2, a, W, *args)) > best


@pytest.mark.parametrize("seed", [0, 6, 9])
def test_anil_equals_fo_anil_when_adaptation_is_exact(seed):
    """If η_w s_K² Φ = I, one inner step lands on the optimal head for every u, so the
    validation gradient wrt w_t vanishes identically in u and the extra ANIL terms (linear
    in that gradient) vanish: anil == fo-anil although the drift itself is non-zero.
    Φ = I2(λ,λ) is diagonal for diagonal Q, with Φ_kk = (2/π) asin(q/(1+q)) (erf)."""
    case = random_case(seed)
    q = 0.8
    case.Q = q * np.eye(case.K)
    case.R = 0.3 * case.R / np.max(np.abs(case.R))  # keep C positive definite
    C = np.block([[case.Q, case.R], [case.R.T, case.T]])
    assert np.linalg.eigvalsh(C).min() > 0
    phi = q if case.activation == "linear" else 2 / math.pi * math.asin(q / (1 + q))
    sK, _ = case.scales
    case.eta_w = 1.0 / (phi * sK**2)
    case.s = 1
    a = _compare(case, "anil")
    b = _compare(case, "fo-anil")
    scale = max(np.max(np.abs(b[k])) for k in ("Q", "R", "w"))
    for k in ("Q", "R", "w"):
        np.testing.assert_allclose(a[k], b[k], rtol=0, atol=RTOL * scale, err_msg=k)
    assert scale > 1e-3  # not a trivial fixed point
    # and away from this state the two differ (the equality is not an accident of the code)
    other = oracle(case, "anil", eta_w=0.5 * case.eta_w)
    assert np.max(np.abs(other[1] - oracle(case, "fo-anil", eta_w=0.5 * case.eta_w)[1])) \
        > 1e3 * RTOL * scale
    # the head initialisation does not move: A = I − η_w s_K² Φ = 0 and the gradient is 0
    np.testing.assert_allclose(a["w"], 0.0, atol=1e-12)


@pytest.mark.parametrize("seed", [1, 4, 7])
def test_no_adaptation_reduces_to_arm(seed):
    """η_w = 0 or s = 0: w_t = w, so fo-anil == anil == arm."""
    case = random_case(seed)
    arm = _compare(case, "arm")
    for alg in ("fo-anil", "anil"):
        for kw in ({"eta_w": 0.0}, {"inner_steps": 0}):
            d = _compare(case, alg, **kw)
            for k in ("Q", "R", "w"):
                np.testing.assert_allclose(d[k], arm[k], rtol=1e-12, atol=1e-14, err_msg=k)


def test_anil_differs_from_fo_anil():
    """Sensitivity: at a generic state the second-order terms are O(1) of the drift, so the
    tolerance above could not hide them."""
    case = random_case(0)
    fo = oracle(case, "fo-anil")
    an = oracle(case, "anil")
    for x, y in zip(fo[:3], an[:3], strict=True):
        assert np.max(np.abs(x - y)) > 1e3 * RTOL * np.max(np.abs(y))
