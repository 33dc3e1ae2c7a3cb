"""Exact ANIL at P = ∞: derivation checks for theory/anil.md.

Run ``python theory/anil.py``; exit status 1 if any check fails.  Three independent routes
to the drift are compared:

1. **spec formulas** (theory/equations.md): the first-order drift from ``M2`` and ``I3`` (and
   ``M4``/``I4`` for finite V), written out here in numpy;
2. **closed-form ANIL terms** (theory/anil.md): the meta-gradient through ``w_t(Q, R^t)``
   back-propagated through the s inner steps with the adjoint ``p_j = A p_{j+1}``,
   the u-average done in closed form, and the derivatives of ``I2`` expressed through
   ``J2`` and ``I3``: ``∂I2(a,b)/∂C_ab = J2(a,b)``, ``∂I2(a,b)/∂C_aa = −½ I3(a,a,b)``;
3. **autograd** of ``G(Q, R, w) = E_u[L_pop]`` (torch, float64), with
   ``dR = −η_J[(G_Q+G_Qᵀ)R + G_R T]``, ``dQ = −η_J[D Q + Q D + G_R Rᵀ + R G_Rᵀ]``.

Sympy is used for the derivative rules of ``I2`` and for the derivative of the one-step
adapted head ``w_t = (I − η_w s_K² Φ(Q)) w + η_w s_K s_M Ψ(Q, R^t) u`` (K = 2, M = 1, all
entries symbolic), compared with the adjoint formula of route 2.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, replace

import numpy as np
import sympy as sp
import torch

torch.set_default_dtype(torch.float64)


# --------------------------------------------------------------------------- states
@dataclass
class State:
    Q: np.ndarray
    R: np.ndarray
    T: np.ndarray
    w: np.ndarray
    ubar: np.ndarray
    Su: np.ndarray
    gamma: float
    s: int
    sK: float
    sM: float
    activation: str
    noise: float
    eta_J: float
    eta_w: float
    eta_0: float
    V: float = math.inf

    @property
    def K(self):
        return self.Q.shape[0]

    @property
    def M(self):
        return self.T.shape[0]


def random_state(seed: int) -> State:
    rng = np.random.default_rng(seed)
    K, M = int(rng.integers(1, 5)), int(rng.integers(1, 5))
    n = K + M
    A = rng.standard_normal((n, n + 1))
    C = A @ A.T / (n + 1) + 0.15 * np.eye(n)
    d = np.sqrt(rng.uniform(0.3, 1.5, n) / np.diag(C))
    C = d[:, None] * C * d[None, :]
    r = int(rng.integers(1, M + 1))
    B = rng.standard_normal((M, r))
    readout = ("sqrt", "none", "mean")[seed % 3]
    sK, sM = {"sqrt": (K**-0.5, M**-0.5), "none": (1.0, 1.0), "mean": (1 / K, 1 / M)}[readout]
    return State(
        Q=C[:K, :K].copy(), R=C[:K, K:].copy(), T=C[K:, K:].copy(),
        w=0.8 * rng.standard_normal(K), ubar=0.7 * rng.standard_normal(M),
        Su=B @ B.T / r, gamma=1.0 if seed % 4 == 0 else float(rng.uniform(0.3, 0.95)),
        s=int(rng.integers(1, 4)), sK=sK, sM=sM,
        activation="linear" if seed % 5 == 2 else "erf", noise=float(rng.uniform(0, 0.5)),
        eta_J=float(rng.uniform(0.3, 2)), eta_w=float(rng.uniform(0.3, 2)),
        eta_0=float(rng.uniform(0.2, 2)),
    )


# --------------------------------------------------------------------------- integrals
def field_cov(st: State) -> np.ndarray:
    """Covariance of (λ, ν^t, ν): the label/inner-loop fields first, teacher fields last."""
    g, M = st.gamma, st.M
    Tt = g**2 * st.T + (1 - g**2) * np.eye(M)
    return np.block([
        [st.Q, g * st.R, st.R],
        [g * st.R.T, Tt, g * st.T],
        [st.R.T, g * st.T, st.T],
    ])


def i2(C, act):
    if act == "linear":
        return C.copy()
    d = 1 + np.diag(C)
    return 2 / np.pi * np.arcsin(C / np.sqrt(np.outer(d, d)))


def j2(C, act):
    if act == "linear":
        return np.ones_like(C)
    d = 1 + np.diag(C)
    return 2 / np.pi / np.sqrt(np.outer(d, d) - C**2)


def i3(C, act):
    """I3[a,b,c] = E[g'(z_a) z_b g(z_c)] for all index triples."""
    if act == "linear":
        return np.broadcast_to(C[None, :, :], (len(C),) * 3).copy()
    d = 1 + np.diag(C)
    lam3 = np.outer(d, d) - C**2  # [a, c]
    num = C[None, :, :] * d[:, None, None] - C[:, :, None] * C[:, None, :]
    return 2 / np.pi * num / (d[:, None, None] * np.sqrt(lam3)[:, None, :])


def i4(C, a_idx, act):
    """I4[a,b,c,d] for a, b in a_idx (the student fields) and c, d over all of C."""
    L = len(C)
    if act == "linear":
        return np.broadcast_to(C[None, None], (len(a_idx), len(a_idx), L, L)).copy()
    out = np.empty((len(a_idx), len(a_idx), L, L))
    for ia, a in enumerate(a_idx):
        for ib, b in enumerate(a_idx):
            lam4 = (1 + C[a, a]) * (1 + C[b, b]) - C[a, b] ** 2
            ca, cb = C[a], C[b]
            lam0 = (lam4 * C - np.outer(cb, cb) * (1 + C[a, a]) - np.outer(ca, ca) * (1 + C[b, b])
                    + C[a, b] * (np.outer(ca, cb) + np.outer(cb, ca)))
            lam1 = np.diag(lam0) + lam4  # Λ1 for c: Λ4(1+C_cc) − ... = Λ0(c,c) + Λ4
            out[ia, ib] = 4 / np.pi**2 / np.sqrt(lam4) * np.arcsin(
                lam0 / np.sqrt(np.outer(lam1, lam1)))
    return out


# --------------------------------------------------------------------------- route 1
def inner_loop(st: State, I2: np.ndarray, s: int):
    """a_j, W_j (j = 0..s) with w^{(j)} = a_j + W_j u; A = I − η_w s_K² Φ."""
    K = st.K
    Phi, Psi = I2[:K, :K], I2[:K, K:K + st.M]
    A = np.eye(K) - st.eta_w * st.sK**2 * Phi
    b = st.eta_w * st.sK * st.sM * Psi
    a, W = [st.w.copy()], [np.zeros((K, st.M))]
    for _ in range(s):
        a.append(A @ a[-1])
        W.append(A @ W[-1] + b)
    return A, a, W


def coefficients(st: State, a_s, W_s):
    """c = c0 + H u over (λ, ν^t): c̄ = c0 + H ū, S = H Σ_u Hᵀ."""
    M = st.M
    c0 = np.concatenate([st.sK * a_s, np.zeros(M)])
    H = np.vstack([st.sK * W_s, -st.sM * np.eye(M)])
    return c0 + H @ st.ubar, H @ st.Su @ H.T


def spec_drift(st: State, algorithm: str):
    """Route 1 (+ route 2 for anil): dQ, dR, dw from M2·I3, M4·I4, I2."""
    K, M = st.K, st.M
    F = K + M
    C = field_cov(st)
    nu = np.arange(F, F + M)  # teacher fields
    I2 = i2(C, st.activation)
    s = 0 if algorithm == "arm" else st.s
    A, a, W = inner_loop(st, I2, s)
    cbar, S = coefficients(st, a[s], W[s])
    M2 = np.outer(cbar, cbar) + S
    I3 = i3(C, st.activation)
    lam = np.arange(K)
    fields = np.arange(F)
    # dR_kn = −η_J Σ_i M2_ki I3(k, ν_n, i)
    dR = -st.eta_J * np.einsum("ki,kni->kn", M2[:K], I3[np.ix_(lam, nu, fields)])
    X = np.einsum("ki,kli->kl", M2[:K], I3[np.ix_(lam, lam, fields)])
    dQ = -st.eta_J * (X + X.T)
    if st.V != math.inf:
        I4 = i4(C[:F, :F], lam, st.activation)
        m = cbar
        # Isserlis with non-zero mean (theory/equations.md §2)
        M4 = (np.einsum("k,l,i,j->klij", m, m, m, m)
              + np.einsum("k,l,ij->klij", m, m, S) + np.einsum("k,i,lj->klij", m, m, S)
              + np.einsum("k,j,li->klij", m, m, S) + np.einsum("l,i,kj->klij", m, m, S)
              + np.einsum("l,j,ki->klij", m, m, S) + np.einsum("i,j,kl->klij", m, m, S)
              + np.einsum("kl,ij->klij", S, S) + np.einsum("ki,lj->klij", S, S)
              + np.einsum("kj,li->klij", S, S))[:K, :K]
        J2 = j2(C, st.activation)[:K, :K]
        dQ = dQ + st.eta_J**2 / st.V * (np.einsum("klij,klij->kl", M4, I4)
                                        + st.noise**2 * M2[:K, :K] * J2)
    g = st.sK * I2[:K, :F] @ cbar  # E_u[∂L/∂w_t]
    dw = -st.eta_0 * g
    if algorithm == "anil":
        dw = -st.eta_0 * np.linalg.matrix_power(A, s).T @ g
        eQ, eR = anil_extra(st, C, I2, A, a, W)
        dQ = dQ + eQ
        dR = dR + eR
    return dQ, dR, dw


# --------------------------------------------------------------------------- route 2
def anil_extra(st: State, C, I2, A, a, W):
    """The O(η_J) exact-ANIL terms: −η_J[D^Q R + γ D^R T], −η_J[D^Q Q + Q D^Q + γ(D^R Rᵀ +
    R D^Rᵀ)], with D^Q = ∂F/∂Q + (∂F/∂Q)ᵀ, D^R = ∂F/∂R^t, F = E_u[gᵀ w_t] (g frozen)."""
    K, M, s = st.K, st.M, st.s
    F_ = K + M
    sK, sM, ew = st.sK, st.sM, st.eta_w
    Phi, Psi = I2[:K, :K], I2[:K, K:F_]
    ub, Su = st.ubar, st.Su
    # g(u) = s_K (s_K Φ w_t − s_M Ψ u) = g0 + Gg u
    g0 = sK**2 * Phi @ a[s]
    Gg = sK**2 * Phi @ W[s] - sK * sM * Psi
    Phi_bar = np.zeros((K, K))
    Psi_bar = np.zeros((K, M))
    for j in range(s):
        P = np.linalg.matrix_power(A, s - j - 1)  # p_{j+1} = A^{s-j-1} g (A symmetric)
        p0, Pu = P @ g0, P @ Gg
        pm = p0 + Pu @ ub  # E_u p_{j+1}
        wm = a[j] + W[j] @ ub  # E_u w^{(j)}
        Phi_bar += -ew * sK**2 * (np.outer(pm, wm) + Pu @ Su @ W[j].T)
        Psi_bar += ew * sK * sM * (np.outer(pm, ub) + Pu @ Su)
    # chain rule through Φ_kl = I2(λ_k, λ_l), Ψ_kn = I2(λ_k, ν^t_n)
    J2 = j2(C, st.activation)
    if st.activation == "linear":
        dCaa = np.zeros((F_, F_))  # ∂I2(a,b)/∂C_aa = 0
    else:
        I3 = i3(C, st.activation)
        dCaa = -0.5 * np.einsum("aab->ab", I3[:F_, :F_, :F_])  # −½ I3(a,a,b)
    FQ = Phi_bar * J2[:K, :K]  # off-diagonal entries: ∂Φ_kl/∂Q_kl = J2(k,l)
    diag = (Phi_bar * dCaa[:K, :K]).sum(1) + (Phi_bar * dCaa[:K, :K].T).sum(0) \
        + (Psi_bar * dCaa[:K, K:F_]).sum(1)
    # the k = l term: Φ_kk = I2 with C_aa = C_bb = C_ab = Q_kk; the sum above counted
    # Φ̄_kk ∂I2/∂C_aa twice (as a and as b), FQ_kk holds Φ̄_kk J2(k,k): together
    # dΦ_kk/dQ_kk = J2(k,k) + 2 ∂I2/∂C_aa — the total derivative, as it must be.
    FQ[np.diag_indices(K)] += diag
    FR = Psi_bar * J2[:K, K:F_]  # ∂F/∂R^t
    DQ = FQ + FQ.T
    g = st.gamma
    dR = -st.eta_J * (DQ @ st.R + g * FR @ st.T)
    dQ = -st.eta_J * (DQ @ st.Q + st.Q @ DQ + g * (FR @ st.R.T + st.R @ FR.T))
    return dQ, dR


# --------------------------------------------------------------------------- route 3
def autograd_drift(st: State, algorithm: str):
    """Gradient of G(Q, R, w) = E_u[L_pop(Q, γR, w_t)] (torch), V = ∞."""
    t = lambda x: torch.tensor(np.asarray(x, dtype=float))
    Q, R, w = (t(x).requires_grad_(True) for x in (st.Q, st.R, st.w))
    T, ub, Su = t(st.T), t(st.ubar), t(st.Su)
    K, M, g = st.K, st.M, st.gamma
    Ct = torch.cat([torch.cat([Q, g * R], 1),
                    torch.cat([g * R.T, g**2 * T + (1 - g**2) * torch.eye(M)], 1)], 0)
    if st.activation == "linear":
        I2 = Ct
    else:
        d = 1 + torch.diagonal(Ct)
        I2 = 2 / math.pi * torch.asin(Ct / torch.sqrt(d[:, None] * d[None, :]))

    def head(I2_, w_):
        a, W = w_, torch.zeros(K, M)
        for _ in range(0 if algorithm == "arm" else st.s):
            a = a - st.eta_w * st.sK * (st.sK * I2_[:K, :K] @ a)
            W = W - st.eta_w * st.sK * (st.sK * I2_[:K, :K] @ W - st.sM * I2_[:K, K:])
        return a, W

    if algorithm == "fo-anil":
        with torch.no_grad():
            a, W = head(I2, w)
        a = a.clone().requires_grad_(True)
        wrt = a
    else:
        a, W = head(I2, w)
        wrt = w
    H = torch.cat([st.sK * W, -st.sM * torch.eye(M)], 0)
    cbar = torch.cat([st.sK * a, torch.zeros(M)]) + H @ ub
    G = 0.5 * (cbar @ I2 @ cbar + torch.trace(I2 @ H @ Su @ H.T)) + 0.5 * st.noise**2
    gQ, gR, gw = torch.autograd.grad(G, (Q, R, wrt))
    D = gQ + gQ.T
    Qd, Rd = Q.detach(), R.detach()
    dR = -st.eta_J * (D @ Rd + gR @ T)
    dQ = -st.eta_J * (D @ Qd + Qd @ D + gR @ Rd.T + Rd @ gR.T)
    return dQ.numpy(), dR.numpy(), (-st.eta_0 * gw).numpy()


def compare_routes(n_states: int = 12, seed0: int = 0) -> float:
    """Worst relative difference between route 1(+2) and route 3 over random states and
    the three algorithms."""
    worst = 0.0
    for seed in range(seed0, seed0 + n_states):
        st = random_state(seed)
        for alg in ("arm", "fo-anil", "anil"):
            for x, y in zip(spec_drift(st, alg), autograd_drift(st, alg), strict=True):
                worst = max(worst, np.max(np.abs(x - y)) / max(np.max(np.abs(y)), 1e-12))
    return worst


# --------------------------------------------------------------------------- sympy
def i2_derivative_rules() -> bool:
    """∂I2/∂C_ab = J2, ∂I2/∂C_aa = −½ I3(a,a,b), dI2(q,q,q)/dq = J2(a,a) − I3(a,a,a)."""
    caa, cbb = sp.symbols("c_aa c_bb", positive=True)
    cab = sp.symbols("c_ab", real=True)
    q = sp.symbols("q", positive=True)
    I2 = 2 / sp.pi * sp.asin(cab / sp.sqrt((1 + caa) * (1 + cbb)))
    J2 = 2 / sp.pi / sp.sqrt((1 + caa) * (1 + cbb) - cab**2)

    def I3(Caa, Ccc, Cab, Cac, Cbc):
        lam3 = (1 + Caa) * (1 + Ccc) - Cac**2
        return 2 / sp.pi * (Cbc * (1 + Caa) - Cab * Cac) / ((1 + Caa) * sp.sqrt(lam3))

    ok = sp.simplify(sp.diff(I2, cab) - J2) == 0
    # I3(a, a, b): C_ab → C_aa (first pair), C_ac → C_ab, C_bc → C_ab
    ok &= sp.simplify(sp.diff(I2, caa) + I3(caa, cbb, caa, cab, cab) / 2) == 0
    total = sp.diff(2 / sp.pi * sp.asin(q / (1 + q)), q)
    rhs = (J2 - I3(caa, cbb, caa, cab, cab)).subs({caa: q, cbb: q, cab: q})
    ok &= sp.simplify(total - rhs) == 0
    return bool(ok)


def one_step_head_derivative(seed: int = 0) -> float:
    """K = 2, M = 1, s = 1, symbolic: d(gᵀ w_t)/d(Q entries, R^t) by sympy vs route 2's
    adjoint/chain-rule formula (Φ̄ = −η_w s_K² g wᵀ, Ψ̄ = η_w s_K s_M g uᵀ).  Returns the
    worst absolute difference at a random point (50-digit evaluation)."""
    q11, q22, tt = sp.symbols("q11 q22 tt", positive=True)
    q12, q21, r1, r2, w1, w2, u, g1, g2 = sp.symbols("q12 q21 r1 r2 w1 w2 u g1 g2", real=True)
    ew, sK, sM = sp.symbols("eta_w s_K s_M", positive=True)

    def I2(caa, cbb, cab):
        return 2 / sp.pi * sp.asin(cab / sp.sqrt((1 + caa) * (1 + cbb)))

    Q = sp.Matrix([[q11, q12], [q21, q22]])
    Phi = sp.Matrix(2, 2, lambda k, l: I2(Q[k, k], Q[l, l], Q[k, l]))
    Psi = sp.Matrix([I2(q11, tt, r1), I2(q22, tt, r2)])
    w = sp.Matrix([w1, w2])
    wt = (sp.eye(2) - ew * sK**2 * Phi) * w + ew * sK * sM * Psi * u
    Fexpr = (sp.Matrix([g1, g2]).T * wt)[0]
    variables = [q11, q12, q21, q22, r1, r2]
    symbolic = [sp.diff(Fexpr, v) for v in variables]

    rng = np.random.default_rng(seed)
    point = {q11: 0.9, q22: 0.6, q12: 0.25, q21: 0.25, tt: 1.1, r1: 0.3, r2: -0.2}
    point.update({v: float(rng.uniform(-1, 1)) for v in (w1, w2, u, g1, g2)})
    point.update({ew: 0.7, sK: 0.8, sM: 1.3})
    vals = [float(sp.N(e.subs(point), 50)) for e in symbolic]

    # route 2 at the same point
    C = np.array([[point[q11], point[q12], point[r1]],
                  [point[q21], point[q22], point[r2]],
                  [point[r1], point[r2], point[tt]]])
    g = np.array([point[g1], point[g2]])
    wv = np.array([point[w1], point[w2]])
    Phi_bar = -point[ew] * point[sK] ** 2 * np.outer(g, wv)
    Psi_bar = point[ew] * point[sK] * point[sM] * g[:, None] * point[u]
    J2 = j2(C, "erf")
    dCaa = -0.5 * np.einsum("aab->ab", i3(C, "erf"))
    FQ = Phi_bar * J2[:2, :2]
    FQ[np.diag_indices(2)] += ((Phi_bar * dCaa[:2, :2]).sum(1) + (Phi_bar * dCaa[:2, :2].T).sum(0)
                               + (Psi_bar * dCaa[:2, 2:]).sum(1))
    FR = Psi_bar[:, 0] * J2[:2, 2]
    formula = [FQ[0, 0], FQ[0, 1], FQ[1, 0], FQ[1, 1], FR[0], FR[1]]
    return float(np.max(np.abs(np.array(vals) - np.array(formula))))


# Route 1+2 and route 3 are float64 evaluations of the same closed-form function; round-off
# is ~1e-14 relative (cf. tests/test_drift_autograd.py); an algebra slip is O(1e-2).
ROUTE_TOL = 1e-10
# sympy evaluates to 50 digits, route 2 in float64: the difference is round-off, ~1e-15.
SYMPY_TOL = 1e-12


def run_all(verbose: bool = True, n_states: int = 12) -> dict[str, bool]:
    results = {}

    def record(name, ok, extra=""):
        results[name] = bool(ok)
        if verbose:
            print(f"[{'ok' if ok else 'FAIL'}] {name} {extra}")

    record("I2 derivative rules (sympy)", i2_derivative_rules())
    err = one_step_head_derivative()
    record("one-step adapted head: sympy derivative vs adjoint formula", err < SYMPY_TOL,
           f"err={err:.1e}")
    err = compare_routes(n_states)
    record("spec formulas (+ closed-form ANIL terms) vs autograd of G, arm/fo-anil/anil",
           err < ROUTE_TOL, f"worst rel err={err:.1e}")
    # sensitivity: dropping the ANIL extra terms must be visible
    st = random_state(1)
    fo, an = spec_drift(st, "fo-anil"), autograd_drift(st, "anil")
    gap = max(np.max(np.abs(x - y)) / np.max(np.abs(y)) for x, y in zip(fo, an, strict=True))
    record("ANIL extra terms are O(1) of the drift (sensitivity)", gap > 1e-3,
           f"relative size {gap:.2e}")
    # and the finite-V term is algorithm-independent in form: anil(V) − fo(V) = anil(∞) − fo(∞)
    stV = replace(st, V=2.0)
    d1 = [x - y for x, y in zip(spec_drift(stV, "anil"), spec_drift(stV, "fo-anil"), strict=True)]
    d2 = [x - y for x, y in zip(spec_drift(st, "anil"), spec_drift(st, "fo-anil"), strict=True)]
    err = max(np.max(np.abs(x - y)) for x, y in zip(d1, d2, strict=True))
    record("finite-V term shared by anil and fo-anil", err < 1e-12, f"err={err:.1e}")
    return results


def main() -> int:
    results = run_all()
    failed = [k for k, v in results.items() if not v]
    if failed:
        print("FAILED:", ", ".join(failed))
        return 1
    print("all ANIL checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
