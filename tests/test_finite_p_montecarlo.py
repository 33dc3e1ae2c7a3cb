r"""Monte Carlo of the literal one-task update at finite training-set size P.

For N → ∞ one task moves the overlaps by O(1/N); the per-task increments below are those of
the literal algorithm (simulation/algorithms.py) written in the local fields, with nothing
taken from the package but the configuration schema:

* **inner loop** on the P training samples of the task (fresh per task, independent of the
  V validation samples, sharing the task's head ``u`` and teacher ``B^t``):
  ``w ← w − η_w (s_K/P) Σ_μ g(λ^μ) Δ^μ``, ``Δ^μ = s_K w·g(λ^μ) − s_M u·g(ν^{tμ}) − σξ^μ``
  (label noise on the training labels too), ``s`` steps on the same samples;
* **outer step** on the validation loss at the adapted head ``w_t``: with
  ``X^ν_k = c_k Δ^ν g'(λ^ν_k)``, ``c = (s_K w_t; −s_M u)``,
  ``NΔR_kn = −η_J (1/V)Σ_ν X^ν_k ν^ν_n``, ``NΔQ_kl = −η_J (1/V)Σ_ν (X_kλ_l + X_lλ_k)
  + η_J²/V² Σ_ν X^ν_k X^ν_l``, ``NΔw = −η_0 ∂L_V/∂w_t`` (theory/equations.md §3); for
  ``V = ∞`` the input average given ``c`` (closed-form I2, I3 written out below);
* **exact ANIL** adds ``−η_J ∇_J (gᵀw_t)`` with the validation gradient ``g`` frozen: the
  adapted head depends on J through the training fields ``λ^μ = J·x^μ/√N``, so the extra
  change of ``J_k`` is ``−η_J Σ_μ (∂F/∂λ^μ_k) x^μ/√N``, ``F = gᵀw_t``, whence
  ``NΔR_kn −= η_J Σ_μ ∂F/∂λ^μ_k ν^μ_n``, ``NΔQ_kl −= η_J Σ_μ (∂F/∂λ^μ_k λ^μ_l + k↔l)``
  and ``+ η_J² Σ_μ ∂F/∂λ^μ_k ∂F/∂λ^μ_l`` (|x^μ|²/N = 1; the cross terms between different
  inputs are O(1/N)); ``NΔw = −η_0 ∂F/∂w``.  ``∂F/∂λ^μ`` and ``∂F/∂w`` come from torch
  autograd through the literal inner loop.

Fields are sampled directly: ``u ~ N(ū, Σ_u)``, ``(λ, ν) ~ N(0, [[Q, R], [Rᵀ, T]])``,
``ν^t = γν + √(1−γ²)ζ`` per sample.  The drift is the mean over tasks; each entry of the
package drift must lie within 5 Monte Carlo standard errors.

What is exact and what is tested where (theory/finite_p.md §9):

* FO-ANIL ``s = 1``: the O(η_J) drift and dw are exact at every P, the η_J²/V term is exact
  to O(1/P) — all compared at P = 1, 2, 5, 20 and V = 1, ∞;
* FO-ANIL ``s = 2`` (expansion in 1/P, error O(1/P²)): compared at P = 5, 20 at the
  states' rates, and at P = 1, 2 with η_w small enough that the O(1/P²) remainder is far
  below the tolerance (``test_s2_small_p``);
* exact ANIL ``s = 1``: the O(η_J) drift and dw are exact at every P (gradient form of the
  few-shot error), the η_J²/P and η_J²/V terms are exact to O(1/P): compared at all P on the
  O(η_J) part; the η_J²/P term on its own at P = 20 (remainder O(1/P²) below the SE) and
  its 1/P coefficient from a fit of P·MC over P = 5, 10, 20 (``test_anil_eta2_over_p``).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from random_states import random_fields_and_heads

from teacherstudent.config import load_config

drift = pytest.importorskip("teacherstudent.ode.drift")
from teacherstudent.ode.field import VectorField  # noqa: E402

N_SIGMA = 5.0
SHAPES = [(2, 3), (3, 2), (1, 2), (2, 2), (3, 3)]


def random_state(seed: int) -> dict:
    rng = np.random.default_rng(3000 + seed)
    K, M = SHAPES[seed % len(SHAPES)]
    C, Su = random_fields_and_heads(rng, K, M)
    return dict(
        K=K, M=M, Q=C[:K, :K].copy(), R=C[:K, K:].copy(), T=C[K:, K:].copy(),
        w=0.8 * rng.standard_normal(K), ubar=0.7 * rng.standard_normal(M), Su=Su,
        gamma=1.0 if seed % 3 == 2 else float(rng.uniform(0.4, 0.95)),
        readout=("sqrt", "none", "mean")[seed % 3],
        activation="linear" if seed % 5 == 4 else "erf",
        noise=float(rng.uniform(0.1, 0.5)),
        eta_J=float(rng.uniform(1.0, 2.5)), eta_w=float(rng.uniform(0.5, 2.0)),
        eta_0=float(rng.uniform(0.3, 1.5)),
    )


def config(st: dict, algorithm: str, s: int, P, V) -> dict:
    return load_config({
        "model": {"K": st["K"], "M": st["M"], "activation": st["activation"],
                  "teacher_activation": st.get("teacher", st["activation"]),
                  "readout": st["readout"], "noise": st["noise"]},
        "tasks": {"head_mean": st["ubar"].tolist(), "head_cov": st["Su"].tolist(),
                  "gamma": st["gamma"], "teacher_overlap": st["T"].tolist()},
        "algorithm": {"name": algorithm, "eta_J": st["eta_J"], "eta_w": st["eta_w"],
                      "eta_0": st["eta_0"], "inner_steps": s, "train_size": P,
                      "val_size": V},
        "init": {"Q": st["Q"].tolist(), "R": st["R"].tolist(), "w": st["w"].tolist()},
    })


def package_drift(st, algorithm, s, P, V):
    vf = VectorField.from_config(config(st, algorithm, s, P, V))
    return vf(st["Q"], st["R"], st["w"])


def scales(st):
    K, M = st["K"], st["M"]
    return {"sqrt": (1 / math.sqrt(K), 1 / math.sqrt(M)), "mean": (1 / K, 1 / M),
            "none": (1.0, 1.0)}[st["readout"]]


# --------------------------------------------------------------------------- integrals
def _cov_all(st):
    """Covariance of (λ, ν^t, ν) for one input."""
    M, g = st["M"], st["gamma"]
    Q, R, T = st["Q"], st["R"], st["T"]
    Tt = g**2 * T + (1 - g**2) * np.eye(M)
    return np.block([[Q, g * R, R], [g * R.T, Tt, g * T], [R.T, g * T, T]])


def _i2(C, act):
    if act == "linear":
        return C.copy()
    if act == "relu":  # the arc-cosine kernel: (√det + C_ab (π/2 + asin ρ))/(2π)
        s = np.sqrt(np.diag(C))
        rho = np.clip(C / np.outer(s, s), -1, 1)
        det = np.clip(np.outer(s, s) ** 2 - C**2, 0, None)
        return (np.sqrt(det) + C * (np.pi / 2 + np.arcsin(rho))) / (2 * np.pi)
    d = 1 + np.diag(C)
    return 2 / np.pi * np.arcsin(C / np.sqrt(np.outer(d, d)))


def _i3(C, act):
    """I3[a, b, c] = E[g'(z_a) z_b g(z_c)]."""
    if act == "linear":
        return np.broadcast_to(C[None], (len(C),) * 3).copy()
    if act == "relu":  # Stein on z_b: C_ba E[δ(z_a) relu(z_c)] + C_bc E[θ(z_a) θ(z_c)]
        s = np.sqrt(np.diag(C))
        rho = np.clip(C / np.outer(s, s), -1, 1)
        det = np.clip(np.outer(s, s) ** 2 - C**2, 0, None)
        p = np.sqrt(det) / (2 * np.pi * np.diag(C)[:, None])  # [a, c]
        q = 0.25 + np.arcsin(rho) / (2 * np.pi)
        return C.T[:, :, None] * p[:, None, :] + C[None, :, :] * q[:, None, :]
    d = 1 + np.diag(C)
    num = C[None, :, :] * d[:, None, None] - C[:, :, None] * C[:, None, :]
    lam3 = np.outer(d, d) - C**2
    return 2 / np.pi * num / (d[:, None, None] * np.sqrt(lam3)[:, None, :])


# --------------------------------------------------------------------------- the update
def monte_carlo(st: dict, algorithm: str, s: int, P: int, V, n_tasks: int, seed: int,
                chunk: int = 20_000) -> dict:
    """Mean and SE of the per-task N·Δ(Q, R, w), and of the η_J² parts of N·ΔQ."""
    K, M, act, gam = st["K"], st["M"], st["activation"], st["gamma"]
    F = K + M
    sK, sM = scales(st)
    eJ, ew, e0, sig = st["eta_J"], st["eta_w"], st["eta_0"], st["noise"]
    exact = algorithm == "anil"
    gen = torch.Generator().manual_seed(seed)
    f64 = torch.float64
    t = lambda a: torch.as_tensor(np.asarray(a, dtype=float), dtype=f64)
    randn = lambda *shape: torch.randn(*shape, generator=gen, dtype=f64)
    Lc = t(np.linalg.cholesky(np.block([[st["Q"], st["R"]], [st["R"].T, st["T"]]])))
    ev, U = np.linalg.eigh(st["Su"])
    Lu = t(U * np.sqrt(np.clip(ev, 0, None)))
    Call = _cov_all(st)
    tact = st.get("teacher", act)  # the teacher's activation (default: the student's)
    if V == "inf":  # the input average in closed form (one activation)
        assert tact == act, "V = inf needs one activation"
        I2 = t(_i2(Call, act))
        I3 = t(_i3(Call, act))
    nu_idx = list(range(F, F + M))

    def g(z, act=act):
        if act == "relu":
            return torch.relu(z)
        return z if act == "linear" else torch.erf(z / math.sqrt(2))

    def gt(z):
        return g(z, tact)

    def gp(z):
        if act == "relu":
            return (z > 0).to(f64)
        return torch.ones_like(z) if act == "linear" else math.sqrt(2 / math.pi) * torch.exp(
            -0.5 * z * z)

    def fields(n, m):
        z = randn(n, m, K + M) @ Lc.T
        lam, nu = z[..., :K], z[..., K:]
        nut = gam * nu + math.sqrt(1 - gam**2) * randn(n, m, M)
        xi = randn(n, m)
        return lam, nu, nut, xi

    sums = {}
    done = 0
    while done < n_tasks:
        n = min(chunk, n_tasks - done)
        u = t(st["ubar"]) + randn(n, M) @ Lu.T
        w0 = t(st["w"]).expand(n, K).clone().requires_grad_(exact)
        lam_tr, nu_tr, nut_tr, xi_tr = fields(n, P)
        lam_tr.requires_grad_(exact)
        w = w0
        with torch.set_grad_enabled(exact):
            for _ in range(s):
                gl = g(lam_tr)
                delta = sK * (gl @ w[:, :, None])[..., 0] - sM * (gt(nut_tr) @ u[:, :, None])[
                    ..., 0] - sig * xi_tr
                w = w - ew * sK / P * (gl * delta[..., None]).sum(1)
        w_t = w
        c = torch.cat([sK * w_t.detach(), -sM * u], 1)  # (n, F)
        if V == "inf":
            # input average given c: E[X_k ν_n] = c_k Σ_i c_i I3(k, ν_n, i), ...
            A_R = torch.einsum("nk,ni,kmi->nkm", c[:, :K], c, I3[:K][:, nu_idx][:, :, :F])
            dR = -eJ * A_R
            A_Q = torch.einsum("nk,ni,kli->nkl", c[:, :K], c, I3[:K, :K, :F])
            dQ1 = -eJ * (A_Q + A_Q.transpose(1, 2))
            dQ2v = torch.zeros(n, K, K, dtype=f64)
            gval = sK * c @ I2[:K, :F].T  # E_x[∂L/∂w_t]
        else:
            lam, nu, nut, xi = fields(n, V)
            gl = g(lam)
            delta = (gl * c[:, None, :K]).sum(-1) + (gt(nut) * c[:, None, K:]).sum(-1) - sig * xi
            X = c[:, None, :K] * delta[..., None] * gp(lam)  # (n, V, K)
            Xt = X.transpose(1, 2)
            dR = -eJ * (Xt @ nu) / V
            first = Xt @ lam
            dQ1 = -eJ * (first + first.transpose(1, 2)) / V
            dQ2v = eJ**2 * (Xt @ X) / V**2
            gval = sK * (gl * delta[..., None]).mean(1)
        dQ2p = torch.zeros(n, K, K, dtype=f64)
        if exact:
            Fsum = (gval.detach() * w_t).sum()
            dlam, dw_ = torch.autograd.grad(Fsum, (lam_tr, w0))
            lam_d = lam_tr.detach()
            A = dlam.transpose(1, 2)  # (n, K, P)
            dR = dR - eJ * (A @ nu_tr)
            first = A @ lam_d
            dQ1 = dQ1 - eJ * (first + first.transpose(1, 2))
            dQ2p = eJ**2 * (A @ A.transpose(1, 2))
            dw = -e0 * dw_
        else:
            dw = -e0 * gval
        per = {"Q": dQ1 + dQ2v + dQ2p, "R": dR, "w": dw, "Q2V": dQ2v, "Q2P": dQ2p}
        for key, x in per.items():
            x = x.detach().double()
            s1, s2 = sums.get(key, (0.0, 0.0))
            sums[key] = (s1 + x.sum(0), s2 + (x * x).sum(0))
        done += n
    out = {}
    for key, (s1, s2) in sums.items():
        mean = s1 / n_tasks
        var = (s2 / n_tasks - mean**2) * n_tasks / (n_tasks - 1)
        out[key] = (mean.numpy(), np.sqrt(np.clip(var.numpy(), 0, None) / n_tasks))
    return out


def zscore(mc_mean, mc_se, value):
    diff = np.abs(np.asarray(value) - mc_mean)
    return np.where(mc_se > 0, diff / np.where(mc_se > 0, mc_se, 1.0),
                    np.where(diff > 1e-12, np.inf, 0.0))


def max_z(mc, theory, keys=("Q", "R", "w")):
    return {k: float(np.max(zscore(*mc[k], theory[k]))) for k in keys}


def _check(mc, theory, keys, where, tol=N_SIGMA):
    z = max_z(mc, theory, keys)
    for key, v in z.items():
        assert v < tol, (f"{where} d{key}: max |theory − MC| = {v:.2f} SE\n"
                         f"theory = {theory[key]!r}\nMC     = {mc[key][0]!r}\n"
                         f"SE     = {mc[key][1]!r}")
    return z


def _first_order(st, algorithm, s, P):
    """The O(η_J) part of the drift: the package drift at V = ∞ with the η_J²/P term
    removed (it is the only η_J² term at V = ∞; for fo-anil there is none)."""
    d = package_drift(st, algorithm, s, P, "inf")
    if algorithm == "anil":
        d = dict(d)
        d["Q"] = d["Q"] - eta2_over_p(st, s, P)
    return d


def eta2_over_p(st, s, P, V="inf"):
    """The exact-ANIL η_J²/P term of the package: the drift minus the same drift with
    the outer rate scaled by ``t`` is ``(1 − t²)·η²-part + (1 − t)·first order``; two
    scalings separate them (the package drift is a quadratic polynomial in η_J)."""
    base = package_drift(st, "anil", s, P, V)["Q"]
    half = package_drift({**st, "eta_J": 0.5 * st["eta_J"]}, "anil", s, P, V)["Q"]
    # d(η) = a η + b η²  ⇒  b η² = 2 (d(η) − 2 d(η/2))
    quad = 2.0 * (base - 2.0 * half)
    if V != "inf":  # remove the FO η_J²/V part (fo-anil has only that one)
        fo = package_drift(st, "fo-anil", s, P, V)["Q"]
        fo_h = package_drift({**st, "eta_J": 0.5 * st["eta_J"]}, "fo-anil", s, P, V)["Q"]
        quad = quad - 2.0 * (fo - 2.0 * fo_h)
    return quad


# --------------------------------------------------------------------------- tests
N_TASKS = 40_000
P_VALUES = (1, 2, 5, 20)


# P from which the parts exact only to O(1/P) (the η_J²/V and η_J²/P terms) are compared:
# their O(1/P²) remainder depends on the state; the linear activation (state 9: unbounded g,
# large higher cumulants of the Gram matrices) has a large one (measured: 29 % of the
# η_J²/V term at P = 5, 4 % at P = 20, < 1 % at P = 80, i.e. ∝ 1/P²).
P_TRUNCATED = {9: 20}


@pytest.mark.parametrize("seed", [0, 1])
def test_fo_anil_one_step(seed):
    """FO-ANIL, s = 1: the O(η_J) drift and dw are exact at every P (V = ∞: the whole
    drift); the η_J²/V term is exact to O(1/P) and is compared (in dQ and on its own)
    where its O(1/P²) remainder is below the tolerance (P ≥ 5; P = 20 for state 9)."""
    _fo_anil_one_step(random_state(seed), seed, P_TRUNCATED.get(seed, 5),
                      seed not in P_TRUNCATED, 100 * seed)


def _fo_anil_one_step(st, seed, p_trunc, eta2_alone, mc_seed):
    for P in P_VALUES:
        for V in ("inf", 1):
            mc = monte_carlo(st, "fo-anil", 1, P, V, N_TASKS, seed=mc_seed + P)
            th = package_drift(st, "fo-anil", 1, P, V)
            th_inf = package_drift(st, "fo-anil", 1, P, "inf")
            mc["Q1"] = (mc["Q"][0] - mc["Q2V"][0], mc["Q"][1])  # SE of the total: conservative
            keys = ("Q", "R", "w") if (V == "inf" or P >= p_trunc) else ("R", "w")
            _check(mc, th, keys, f"state {seed} fo-anil s=1 P={P} V={V}")
            _check(mc, {"Q1": th_inf["Q"]}, ("Q1",), f"state {seed} fo-anil s=1 P={P} V={V}")
            if V != "inf" and P >= p_trunc and eta2_alone:
                _check(mc, {"Q2V": th["Q"] - th_inf["Q"]}, ("Q2V",),
                       f"state {seed} η²/V term P={P}")


@pytest.mark.parametrize("seed", [0, 1])
def test_fo_anil_one_step_relu(seed):
    """The same for relu student and teacher (F4 by the orthant engine, four z factors):
    the O(η_J) drift and dw exact at every P (the P = ∞ drift is 40–85 SE off at V = ∞);
    relu is unbounded like the linear state, so the η_J²/V term, exact to O(1/P), is
    compared at P = 20 only (measured at P = 5: 5–13 SE of O(1/P²) remainder)."""
    st = {**random_state(seed), "activation": "relu"}
    _fo_anil_one_step(st, seed, 20, True, 500 * seed)
    mc = monte_carlo(st, "fo-anil", 1, 2, "inf", N_TASKS, seed=500 * seed + 2)
    z = max_z(mc, package_drift(st, "fo-anil", 1, "inf", "inf"), ("Q", "R"))
    assert min(z.values()) > 10.0, z


@pytest.mark.parametrize("seed", [0])
def test_sensitivity_p_infinity_fails(seed):
    """The P = ∞ drift is far outside the Monte Carlo band at small P (the oracle can tell
    a missing finite-P term), for fo-anil and anil."""
    st = random_state(seed)
    for algorithm in ("fo-anil", "anil"):
        mc = monte_carlo(st, algorithm, 1, 1, "inf", N_TASKS, seed=7)
        z = max_z(mc, package_drift(st, algorithm, 1, "inf", "inf"))
        assert max(z.values()) > 10.0, (algorithm, z)
        z_ok = max_z(mc, package_drift(st, algorithm, 1, 1, "inf"), ("R", "w"))
        assert max(z_ok.values()) < N_SIGMA, (algorithm, z_ok)


@pytest.mark.parametrize("seed", [1])
def test_anil_one_step(seed):
    """Exact ANIL, s = 1: the O(η_J) drift (gradient form of the few-shot error) and dw are
    exact at every P and V; the η_J²/P and η_J²/V terms are exact to O(1/P), so the full
    dQ is compared where their O(1/P²) remainder is below the tolerance (P ≥ 5; measured:
    the η_J²/P term's relative remainder is ≈ 0.3/P; P = 20 for state 9)."""
    st = random_state(seed)
    p_trunc = P_TRUNCATED.get(seed, 5)
    for P in P_VALUES:
        first = _first_order(st, "anil", 1, P)
        for V in ("inf", 1):
            mc = monte_carlo(st, "anil", 1, P, V, N_TASKS, seed=200 * seed + P)
            mc["Q1"] = (mc["Q"][0] - mc["Q2V"][0] - mc["Q2P"][0], mc["Q"][1])
            th = package_drift(st, "anil", 1, P, V)
            keys = ("Q", "R", "w") if P >= p_trunc else ("R", "w")
            _check(mc, th, keys, f"state {seed} anil P={P} V={V}")
            _check(mc, {"Q1": first["Q"]}, ("Q1",), f"state {seed} anil P={P} V={V}")


@pytest.mark.parametrize("seed", [1])
def test_anil_one_step_erf_student_relu_teacher(seed):
    """Exact ANIL, s = 1, erf student with a relu teacher (F4 and the Price derivative of
    F4 through I4 of mixed erf/relu fields), at V = 1: the O(η_J) part at every P, the
    whole dQ at P = 20 (the η_J²/P and η_J²/V terms exact to O(1/P))."""
    st = {**random_state(seed), "activation": "erf", "teacher": "relu"}
    for P in P_VALUES:
        first = _first_order(st, "anil", 1, P)
        mc = monte_carlo(st, "anil", 1, P, 1, N_TASKS, seed=600 * seed + P)
        mc["Q1"] = (mc["Q"][0] - mc["Q2V"][0] - mc["Q2P"][0], mc["Q"][1])
        th = package_drift(st, "anil", 1, P, 1)
        _check(mc, th, ("Q", "R", "w") if P >= 20 else ("R", "w"), f"erf/relu anil P={P}")
        _check(mc, {"Q1": first["Q"]}, ("Q1",), f"erf/relu anil P={P}")
        if P == 1:  # the P = ∞ drift is far off (measured: 10–15 SE in R and w)
            z = max_z(mc, package_drift(st, "anil", 1, "inf", 1), ("R", "w"))
            assert max(z.values()) > 2 * N_SIGMA, z


@pytest.mark.parametrize("seed", [2])
def test_fo_anil_two_steps(seed):
    """FO-ANIL, s = 2 on the same samples: the expansion to first order in the covariance
    of the Gram matrices (error O(1/P²)). At the state's rates it is compared at P = 20; at
    P = 5 with η_w halved and at P = 1, 2 with η_w × 0.2, where the O(1/P²) remainder
    (∝ η_w³ relative to the drift) is below the tolerance while the O(1/P) correction
    (∝ η_w²) is still resolved (the P = ∞ drift is off). Measured at the state's η_w: the
    remainder is ≈ 0.3/P of the O(1/P) correction (theory/finite_p.md §7)."""
    st = random_state(seed)
    for P, scale in ((20, 1.0), (5, 0.5), (2, 0.2), (1, 0.2)):
        sts = {**st, "eta_w": scale * st["eta_w"]}
        for V in (1, "inf"):
            mc = monte_carlo(sts, "fo-anil", 2, P, V, N_TASKS, seed=300 * seed + P)
            _check(mc, package_drift(sts, "fo-anil", 2, P, V), ("Q", "R", "w"),
                   f"state {seed} fo-anil s=2 P={P} η_w×{scale} V={V}")
        z = max_z(mc, package_drift(sts, "fo-anil", 2, "inf", "inf"))  # V = ∞ run
        assert max(z.values()) > 2 * N_SIGMA, (P, z)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 3])
def test_anil_eta2_over_p_coefficient(seed):
    """The exact-ANIL η_J²/P term is exact to O(1/P): its 1/P coefficient, P·term(P), is
    compared with the intercept of a weighted fit ``P·MC(P) = a + b/P + c/P²`` over P = 5,
    10, 20, 40 (the MC estimates its part of N·ΔQ per task exactly: η_J² Σ_μ ∂F/∂λ^μ_k
    ∂F/∂λ^μ_l); 5 SE of the fit."""
    st = random_state(seed)
    Ps = np.array([5, 10, 20, 40])
    ys, ses = [], []
    for P in Ps:
        mc = monte_carlo(st, "anil", 1, int(P), "inf", 60_000, seed=400 + int(P))
        ys.append(P * mc["Q2P"][0])
        ses.append(P * mc["Q2P"][1])
    ys, ses = np.array(ys), np.array(ses)
    coeff = 20 * eta2_over_p(st, 1, 20)  # P·term (P-independent)
    A = np.stack([np.ones_like(Ps, dtype=float), 1.0 / Ps, 1.0 / Ps**2], 1)
    K = st["K"]
    for k in range(K):
        for l in range(K):
            w = 1.0 / ses[:, k, l] ** 2
            cov = np.linalg.inv(A.T @ (A * w[:, None]))
            a = (cov @ (A.T @ (w * ys[:, k, l])))[0]
            se = math.sqrt(cov[0, 0])
            assert abs(a - coeff[k, l]) < N_SIGMA * se, (k, l, a, coeff[k, l], se)
    # and the remainder is resolved: the P = 5 point alone is off (the O(1/P²) term exists)
    assert np.max(np.abs(ys[0] - coeff) / ses[0]) > N_SIGMA


@pytest.mark.slow
@pytest.mark.parametrize("seed", [2, 3, 9])  # 9: the linear activation
def test_fo_anil_one_step_more_states(seed):
    test_fo_anil_one_step(seed)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 2, 3, 9])
def test_anil_one_step_more_states(seed):
    test_anil_one_step(seed)
