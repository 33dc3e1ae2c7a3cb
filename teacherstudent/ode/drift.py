r"""The vector field: drift of the order parameters ``(Q, R, w)`` per unit ``α = tasks/N``.

One implementation covers ``arm`` (no inner loop), ``fo-anil`` and exact ``anil`` at
``P = ∞`` (``maml``/``fo-maml`` have the ``anil``/``fo-anil`` limit at large N, spec §1.1).
Derivations: ``theory/equations.md`` and ``theory/anil.md``.

**Fields.** ``z = (λ_1..λ_K, ν^t_1..ν^t_M[, ν_1..ν_M])`` with covariance ``C``:
``C[λ,λ] = Q``, ``C[λ,ν^t] = γR``, ``C[ν^t,ν^t] = γ²T + (1−γ²)I``; for ``γ < 1`` the
meta-teacher fields ``ν`` are appended (``C[λ,ν] = R``, ``C[ν^t,ν] = γT``, ``C[ν,ν] = T``).
The first ``F = K + M`` fields carry the label and the student output.

**Inner loop** (``s`` population steps on the head): ``w ← A w + b u`` with
``A = I − η_w s_K² Φ``, ``b = η_w s_K s_M Ψ``, ``Φ = I2[λ,λ]``, ``Ψ = I2[λ,ν^t]``; the adapted
head is affine in the task head, ``w_t = a_s + W_s u``.

**Readout coefficients** ``c = (s_K w_t; −s_M u) = c0 + H u``: mean ``c̄ = c0 + H ū``,
covariance ``S = H Σ_u Hᵀ``, ``M2 = c̄c̄ᵀ + S``.

**Drift** (first order in the rates, then the ``η_J²/V`` term)::

    dR_kn/dα = −η_J Σ_i M2_ki I3(k, ν_n, i)
    dQ_kl/dα = −η_J Σ_i [M2_ki I3(k,l,i) + M2_li I3(l,k,i)]
               + (η_J²/V) [Σ_ij M4_klij I4(k,l,i,j) + σ² M2_kl J2(k,l)]
    dw/dα    = −η_0 A_sᵀ g  (anil),  −η_0 g (fo-anil, arm),   g = s_K I2[λ,:] c̄

with the Isserlis contraction ``Σ_ij M4_klij X_ij = (m_k m_l + S_kl)(mᵀXm + tr SX)
+ 2 m_k (SXm)_l + 2 m_l (SXm)_k + 2 (SXS)_kl`` (``m = c̄``, ``X = I4(k,l,·,·)``).

**Exact ANIL** adds the meta-gradient through ``w_t(Q, R^t)``:
``∂F/∂J_k = (1/N)[Σ_l D^Q_kl J_l + Σ_n D^R_kn B^t_n]``, ``F = E_u[gᵀ w_t]`` with ``g``
frozen, ``D^Q = ∂F/∂Q + (∂F/∂Q)ᵀ``, ``D^R = ∂F/∂R^t``, obtained by back-propagating ``g``
through the ``s`` inner steps (adjoint ``p_j = A p_{j+1}``) and the derivatives of ``I2``::

    dR += −η_J [D^Q R + γ D^R T]
    dQ += −η_J [D^Q Q + γ D^R Rᵀ + (transpose)]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import njit

from ..config import Problem, build_problem
from .integrals import LINEAR, activation_code, i2_matrix, i3_tensor, i4_tensor, j2_matrix

__all__ = ["VectorField", "ALGORITHM_CODES", "rhs", "errors_kernel", "make_workspace"]

ARM, FO_ANIL, ANIL = 0, 1, 2
ALGORITHM_CODES = {"arm": ARM, "fo-anil": FO_ANIL, "anil": ANIL, "maml": ANIL, "fo-maml": FO_ANIL}

# Layout of the integer and float parameter vectors passed to the kernels.
P_K, P_M, P_ALGO, P_ACT, P_S, P_L, P_NU0, P_FINITE_V = range(8)
P_ETA_J, P_ETA_W, P_ETA_0, P_INV_V, P_NOISE, P_SK, P_SM, P_GAMMA = range(8)
_TWO_PI = 2.0 / math.pi


# --------------------------------------------------------------------------- pieces
# The hot kernel works in caller-owned arrays (a tuple made once per integration by
# make_workspace): no allocation and no array views per evaluation (each view costs a
# reference-count round trip, a dozen of them as much as the Gaussian integrals).
@njit(cache=True)
def make_workspace(K, M, L, s):
    """The scratch arrays of :func:`rhs` for ``K`` students, ``M`` teachers, ``L`` fields
    and ``s`` inner steps."""
    F = K + M
    return (
        np.empty((L, L)),  # C
        np.empty((F, F)),  # I2m
        np.empty((s + 1, K)),  # a
        np.empty((s + 1, K, M)),  # W
        np.empty(F),  # cbar
        np.empty((F, M)),  # H
        np.empty((F, F)),  # S
        np.empty((K, L, F)),  # I3t
        np.empty((K, K)),  # G[k, l] = Σ_i M2_ki I3(k, l, i)
        np.empty((K, K, F, F)),  # X
        np.empty(3 * F),  # scratch of i4_tensor
        np.empty((K, K)),  # J2m
        np.empty(F),  # Xm
        np.empty(F),  # XSl
        np.empty(K),  # g
        np.empty((s + 1, K)),  # pa
        np.empty((s + 1, K, M)),  # PM
        np.empty((K, K)),  # EPhi
        np.empty((K, M)),  # EPsi
        np.empty(K),  # pbar
        np.empty(K),  # wbar
        np.empty((K, M)),  # PSu
        np.empty((K, K)),  # DQ
        np.empty((K, M)),  # DR
        np.empty((K, K)),  # E[k, l] = (D^Q Q + γ D^R Rᵀ)_kl
    )


@njit(cache=True)
def field_covariance(y, K, M, L, gamma, T, C):
    """Fill the field covariance ``C`` (L×L) from the state ``y = (Q, R, w)``."""
    F = K + M
    g2 = gamma * gamma
    for k in range(K):
        for l in range(K):
            C[k, l] = y[k * K + l]
        for n in range(M):
            r = y[K * K + k * M + n]
            C[k, K + n] = gamma * r
            C[K + n, k] = gamma * r
            if L > F:
                C[k, F + n] = r
                C[F + n, k] = r
    for n in range(M):
        for m in range(M):
            C[K + n, K + m] = g2 * T[n, m] + ((1.0 - g2) if n == m else 0.0)
            if L > F:
                C[K + n, F + m] = gamma * T[n, m]
                C[F + m, K + n] = gamma * T[m, n]
                C[F + n, F + m] = T[n, m]


@njit(cache=True)
def _adapt(y, ow, I2m, K, M, s, eta_w, sK, sM, a, W):
    """Inner loop from the head ``w = y[ow:ow+K]``: ``a[j] + W[j] u`` is the head after
    ``j`` population steps."""
    for k in range(K):
        a[0, k] = y[ow + k]
        for n in range(M):
            W[0, k, n] = 0.0
    c_phi = eta_w * sK * sK
    c_psi = eta_w * sK * sM
    for j in range(s):
        for k in range(K):
            acc = a[j, k]
            for l in range(K):
                acc -= c_phi * I2m[k, l] * a[j, l]
            a[j + 1, k] = acc
            for n in range(M):
                acc = W[j, k, n] + c_psi * I2m[k, K + n]
                for l in range(K):
                    acc -= c_phi * I2m[k, l] * W[j, l, n]
                W[j + 1, k, n] = acc


@njit(cache=True)
def _coefficients(a, W, j, K, M, sK, sM, ubar, Su, cbar, H, S):
    """Mean ``c̄`` and covariance ``S = HΣ_uHᵀ`` of the readout coefficients of the head
    ``a[j] + W[j] u``."""
    F = K + M
    for i in range(F):
        for n in range(M):
            H[i, n] = 0.0
    for k in range(K):
        for n in range(M):
            H[k, n] = sK * W[j, k, n]
    for n in range(M):
        H[K + n, n] = -sM
    for i in range(F):
        acc = sK * a[j, i] if i < K else 0.0
        for n in range(M):
            acc += H[i, n] * ubar[n]
        cbar[i] = acc
    # S = H Σ_u Hᵀ by explicit loops: tiny matrices, a BLAS call would cost more
    for i in range(F):
        for j in range(i, F):
            acc = 0.0
            for n in range(M):
                if H[i, n] != 0.0:
                    for m in range(M):
                        acc += H[i, n] * Su[n, m] * H[j, m]
            S[i, j] = acc
            S[j, i] = acc


@njit(cache=True)
def _i2_derivs(C, a, b, act):
    """``(∂I2(a,b)/∂C_ab, ∂I2(a,b)/∂C_aa)`` for ``a ≠ b``."""
    if act == LINEAR:
        return 1.0, 0.0
    da = 1.0 + C[a, a]
    det = da * (1.0 + C[b, b]) - C[a, b] * C[a, b]
    root = math.sqrt(max(det, 1e-300))
    return _TWO_PI / root, -0.5 * _TWO_PI * C[a, b] / (da * root)


@njit(cache=True)
def _i2_diag_deriv(C, a, act):
    """``dI2(a,a)/dC_aa``."""
    if act == LINEAR:
        return 1.0
    c = C[a, a]
    return _TWO_PI / ((1.0 + c) * math.sqrt(1.0 + 2.0 * c))


# --------------------------------------------------------------------------- kernels
@njit(cache=True)
def rhs(y, pi, pf, T, ubar, Su, dy, ws):
    """Write ``dy/dα`` into ``dy``; return the number of integral domain errors.

    ``ws`` is the tuple of scratch arrays from :func:`make_workspace` (same K, M, L, s).
    """
    K, M = pi[P_K], pi[P_M]
    algo, act, s, L, nu0 = pi[P_ALGO], pi[P_ACT], pi[P_S], pi[P_L], pi[P_NU0]
    eta_J, eta_w, eta_0 = pf[P_ETA_J], pf[P_ETA_W], pf[P_ETA_0]
    sK, sM, gamma = pf[P_SK], pf[P_SM], pf[P_GAMMA]
    F = K + M
    oR = K * K
    ow = oR + K * M
    if algo == ARM:
        s = 0

    (
        C,
        I2m,
        a,
        W,
        cbar,
        H,
        S,
        I3t,
        G,
        X,
        scratch,
        J2m,
        Xm,
        XSl,
        g,
        pa,
        PM,
        EPhi,
        EPsi,
        pbar,
        wbar,
        PSu,
        DQ,
        DR,
        E,
    ) = ws
    field_covariance(y, K, M, L, gamma, T, C)
    bad = i2_matrix(C, F, act, I2m)

    _adapt(y, ow, I2m, K, M, s, eta_w, sK, sM, a, W)
    _coefficients(a, W, s, K, M, sK, sM, ubar, Su, cbar, H, S)

    # first-order drift of R and Q: contractions of I3 with M2
    bad += i3_tensor(C, K, L, F, act, I3t)
    for k in range(K):
        for n in range(M):
            acc = 0.0
            for i in range(F):
                acc += (cbar[k] * cbar[i] + S[k, i]) * I3t[k, nu0 + n, i]
            dy[oR + k * M + n] = -eta_J * acc
    for k in range(K):
        for l in range(K):
            acc = 0.0
            for i in range(F):
                acc += (cbar[k] * cbar[i] + S[k, i]) * I3t[k, l, i]
            G[k, l] = acc
    for k in range(K):
        for l in range(K):
            dy[k * K + l] = -eta_J * (G[k, l] + G[l, k])

    # η_J²/V term: fourth moments of the readout coefficients (Isserlis, non-zero mean)
    if pi[P_FINITE_V] == 1 and eta_J > 0.0:
        bad += i4_tensor(C, K, F, act, X, scratch)
        bad += j2_matrix(C, K, act, J2m)
        c2 = eta_J * eta_J * pf[P_INV_V]
        noise2 = pf[P_NOISE] * pf[P_NOISE]
        has_S = False
        for i in range(F):
            for j in range(F):
                if S[i, j] != 0.0:
                    has_S = True
        for k in range(K):
            for l in range(k, K):
                # Σ_ij M4_klij X_ij with X = I4(k, l, ·, ·), all contractions O(F²)
                mXm = 0.0
                for i in range(F):
                    acc = 0.0
                    for j in range(F):
                        acc += X[k, l, i, j] * cbar[j]
                    Xm[i] = acc
                    mXm += cbar[i] * acc
                m2kl = cbar[k] * cbar[l] + S[k, l]
                v = m2kl * mXm
                if has_S:
                    trSX = 0.0
                    SXm_k = 0.0
                    SXm_l = 0.0
                    for i in range(F):
                        acc = 0.0
                        for j in range(F):
                            acc += X[k, l, i, j] * S[j, l]
                            trSX += S[i, j] * X[k, l, j, i]
                        XSl[i] = acc
                        SXm_k += S[k, i] * Xm[i]
                        SXm_l += S[l, i] * Xm[i]
                    SXS = 0.0
                    for i in range(F):
                        SXS += S[k, i] * XSl[i]
                    v += m2kl * trSX + 2.0 * cbar[k] * SXm_l + 2.0 * cbar[l] * SXm_k + 2.0 * SXS
                v += noise2 * m2kl * J2m[k, l]
                dy[k * K + l] += c2 * v
                if l != k:
                    dy[l * K + k] += c2 * v

    # head initialisation: g = s_K I2[λ,:] c̄ is the task-averaged gradient at w_t
    for k in range(K):
        acc = 0.0
        for i in range(F):
            acc += I2m[k, i] * cbar[i]
        g[k] = sK * acc
    if algo != ANIL:
        for k in range(K):
            dy[ow + k] = -eta_0 * g[k]
        return bad

    # ---- exact ANIL: back-propagate through the s inner steps (A is symmetric) ----
    c_phi = eta_w * sK * sK
    # adjoint p_j = pa[j] + PM[j] u, p_s = g(u) = s_K I2[λ,:] (c0 + H u)
    for k in range(K):
        acc = 0.0
        for i in range(K):
            acc += I2m[k, i] * a[s, i]
        pa[s, k] = sK * sK * acc
        for n in range(M):
            acc = 0.0
            for i in range(F):
                acc += I2m[k, i] * H[i, n]
            PM[s, k, n] = sK * acc
    for j in range(s - 1, -1, -1):
        for k in range(K):
            acc = pa[j + 1, k]
            for l in range(K):
                acc -= c_phi * I2m[k, l] * pa[j + 1, l]
            pa[j, k] = acc
            for n in range(M):
                acc = PM[j + 1, k, n]
                for l in range(K):
                    acc -= c_phi * I2m[k, l] * PM[j + 1, l, n]
                PM[j, k, n] = acc
    # dw: −η_0 A^s g averaged over u = −η_0 p̄_0
    for k in range(K):
        acc = pa[0, k]
        for n in range(M):
            acc += PM[0, k, n] * ubar[n]
        dy[ow + k] = -eta_0 * acc
    # E_Φ[a,b] = ∂F/∂Φ_ab and E_Ψ[a,n] = ∂F/∂Ψ_an, averaged over u
    EPhi[:, :] = 0.0
    EPsi[:, :] = 0.0
    for j in range(s):
        for k in range(K):  # PSu = PM[j+1] Σ_u
            for n in range(M):
                acc = 0.0
                for m in range(M):
                    acc += PM[j + 1, k, m] * Su[m, n]
                PSu[k, n] = acc
        for k in range(K):
            acc = pa[j + 1, k]
            for n in range(M):
                acc += PM[j + 1, k, n] * ubar[n]
            pbar[k] = acc
            acc = a[j, k]
            for n in range(M):
                acc += W[j, k, n] * ubar[n]
            wbar[k] = acc
        for k in range(K):
            for l in range(K):
                acc = pbar[k] * wbar[l]
                for n in range(M):
                    acc += PSu[k, n] * W[j, l, n]
                EPhi[k, l] -= c_phi * acc
            for n in range(M):
                EPsi[k, n] += eta_w * sK * sM * (pbar[k] * ubar[n] + PSu[k, n])
    # chain rule to the overlaps: D^Q = ∂F/∂Q + (∂F/∂Q)ᵀ, D^R = ∂F/∂R^t
    DQ[:, :] = 0.0
    for k in range(K):
        dkk = EPhi[k, k] * _i2_diag_deriv(C, k, act)
        for l in range(K):
            if l != k:
                d_off, d_kk = _i2_derivs(C, k, l, act)
                DQ[k, l] = (EPhi[k, l] + EPhi[l, k]) * d_off
                dkk += (EPhi[k, l] + EPhi[l, k]) * d_kk
        for n in range(M):
            d_off, d_kk = _i2_derivs(C, k, K + n, act)
            DR[k, n] = EPsi[k, n] * d_off
            dkk += EPsi[k, n] * d_kk
        DQ[k, k] = 2.0 * dkk
    for k in range(K):
        for n in range(M):
            acc = 0.0
            for l in range(K):
                acc += DQ[k, l] * y[oR + l * M + n]
            for m in range(M):
                acc += gamma * DR[k, m] * T[m, n]
            dy[oR + k * M + n] -= eta_J * acc
    for k in range(K):
        for l in range(K):
            acc = 0.0
            for m in range(K):
                acc += DQ[k, m] * y[m * K + l]
            for n in range(M):
                acc += gamma * DR[k, n] * y[oR + l * M + n]
            E[k, l] = acc
    for k in range(K):
        for l in range(K):
            dy[k * K + l] -= eta_J * (E[k, l] + E[l, k])
    return bad


@njit(cache=True)
def errors_kernel(y, pi, pf, T, ubar, Su, out, full):
    """``out = (eg, eg_pre, eg_opt)``: errors on a fresh task (label noise included).

    ``eg``: after the inner loop (the meta-generalisation error ``½Σ_ij M2_ij I2_ij + σ²/2``);
    ``eg_pre``: at the head initialisation ``w`` (no adaptation; the ARM-style error);
    ``eg_opt``: with the optimal head for each task, ``½ s_M² E_u[uᵀ(Θ − ΨᵀΦ⁻¹Ψ)u] + σ²/2``,
    ``Θ = I2[ν^t,ν^t]`` — the quality of the representation ``J`` alone.
    With ``full=False`` only ``eg`` is computed (used by the solvers' threshold event).
    """
    K, M = pi[P_K], pi[P_M]
    algo, act, s, L = pi[P_ALGO], pi[P_ACT], pi[P_S], pi[P_L]
    sK, sM, gamma = pf[P_SK], pf[P_SM], pf[P_GAMMA]
    noise2 = pf[P_NOISE] * pf[P_NOISE]
    F = K + M
    if algo == ARM:
        s = 0
    C = np.empty((L, L))
    field_covariance(y, K, M, L, gamma, T, C)
    I2m = np.empty((F, F))
    bad = i2_matrix(C, F, act, I2m)
    a = np.empty((s + 1, K))
    W = np.empty((s + 1, K, M))
    ow = K * K + K * M
    _adapt(y, ow, I2m, K, M, s, pf[P_ETA_W], sK, sM, a, W)
    cbar = np.empty(F)
    H = np.empty((F, M))
    S = np.empty((F, F))
    for which in range(2 if full else 1):
        j = s if which == 0 else 0
        _coefficients(a, W, j, K, M, sK, sM, ubar, Su, cbar, H, S)
        acc = 0.0
        for i in range(F):
            for q in range(F):
                acc += (cbar[i] * cbar[q] + S[i, q]) * I2m[i, q]
        out[which] = 0.5 * acc + 0.5 * noise2
    if not full:
        return bad
    Phi = I2m[:K, :K].copy()
    Psi = I2m[:K, K:F].copy()
    Xi = I2m[K:F, K:F] - Psi.T @ np.linalg.solve(Phi, Psi)
    acc = 0.0
    for n in range(M):
        for m in range(M):
            acc += Xi[n, m] * (ubar[n] * ubar[m] + Su[n, m])
    out[2] = 0.5 * sM * sM * acc + 0.5 * noise2
    return bad


# --------------------------------------------------------------------------- Python API
@dataclass(frozen=True)
class VectorField:
    """The ODE right-hand side for one configuration (numbers packed for the kernels).

    ``vf(Q, R, w)`` returns ``{"Q": dQ/dα, "R": dR/dα, "w": dw/dα}``;
    ``vf.errors(Q, R, w)`` returns ``{"eg", "eg_pre", "eg_opt"}``.
    """

    problem: Problem
    algorithm: str
    pi: np.ndarray
    pf: np.ndarray

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> VectorField:
        from ..config import ConfigError

        prob = build_problem(cfg)
        alg = cfg["algorithm"]
        if alg["train_size"] != math.inf:
            raise ConfigError(
                "algorithm.train_size: the ODEs are derived at P = inf (population inner "
                f"loop); got {alg['train_size']} (finite P is available in simulations)"
            )
        K, M = prob.K, prob.M
        two_fields = prob.gamma < 1.0
        L = K + 2 * M if two_fields else K + M
        nu0 = K + M if two_fields else K
        V = alg["val_size"]
        pi = np.array(
            [
                K,
                M,
                ALGORITHM_CODES[alg["name"]],
                activation_code(cfg["model"]["activation"]),
                alg["inner_steps"],
                L,
                nu0,
                int(V != math.inf),
            ],
            dtype=np.int64,
        )
        pf = np.array(
            [
                alg["eta_J"],
                alg["eta_w"],
                alg["eta_0"],
                0.0 if V == math.inf else 1.0 / V,
                prob.noise,
                prob.s_K,
                prob.s_M,
                prob.gamma,
            ],
            dtype=np.float64,
        )
        return cls(problem=prob, algorithm=alg["name"], pi=pi, pf=pf)

    # ---- packing -------------------------------------------------------------------
    @property
    def size(self) -> int:
        K, M = self.problem.K, self.problem.M
        return K * K + K * M + K

    def pack(self, Q, R, w) -> np.ndarray:
        return np.concatenate(
            [np.ravel(np.asarray(Q, float)), np.ravel(np.asarray(R, float)), np.asarray(w, float)]
        )

    def unpack(self, y):
        K, M = self.problem.K, self.problem.M
        y = np.asarray(y)
        lead = y.shape[:-1]
        Q = y[..., : K * K].reshape(*lead, K, K)
        R = y[..., K * K : K * K + K * M].reshape(*lead, K, M)
        w = y[..., K * K + K * M :]
        return Q, R, w

    @property
    def y0(self) -> np.ndarray:
        p = self.problem
        return self.pack(p.Q0, p.R0, p.w0)

    @property
    def args(self) -> tuple:
        """The kernel arguments after ``y``: ``(pi, pf, T, ubar, Su)``."""
        p = self.problem
        return (self.pi, self.pf, p.T, p.u_mean, p.u_cov)

    # ---- evaluation ----------------------------------------------------------------
    def workspace(self) -> tuple:
        """Scratch arrays for the :func:`rhs` kernel."""
        K, M = self.problem.K, self.problem.M
        return make_workspace(K, M, int(self.pi[P_L]), int(self.pi[P_S]))

    def rhs(self, y) -> np.ndarray:
        dy = np.empty(self.size)
        rhs(np.ascontiguousarray(y, dtype=np.float64), *self.args, dy, self.workspace())
        return dy

    def __call__(self, Q, R, w) -> dict[str, np.ndarray]:
        dQ, dR, dw = self.unpack(self.rhs(self.pack(Q, R, w)))
        return {"Q": dQ, "R": dR, "w": dw}

    def errors(self, Q, R, w) -> dict[str, float]:
        out = np.empty(3)
        errors_kernel(self.pack(Q, R, w), *self.args, out, True)
        return {"eg": float(out[0]), "eg_pre": float(out[1]), "eg_opt": float(out[2])}

    def errors_along(self, ys: np.ndarray) -> np.ndarray:
        """Errors ``(n, 3)`` for a stack of states ``(n, size)`` (NaN states give NaN)."""
        out = np.full((len(ys), 3), np.nan)
        buf = np.empty(3)
        for i, y in enumerate(ys):
            if np.all(np.isfinite(y)):
                try:
                    errors_kernel(np.ascontiguousarray(y), *self.args, buf, True)
                    out[i] = buf
                except Exception:  # singular Φ after divergence: leave NaN
                    pass
        return out
