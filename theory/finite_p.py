r"""Finite training-set size P: reference implementation and checks for theory/finite_p.md.

Run ``python theory/finite_p.py``; exit status 1 if any check fails.  Everything here is
written independently of the package (``teacherstudent``) and of its algebra:

* **F4** ``= E[g(z_a) g(z_b) g(z_c) g(z_d)]`` by the Price path (a 1-D Gauss–Legendre
  integral of the closed-form ``I4``), checked against a 4-D Gauss–Hermite product rule
  for every index pattern, and Isserlis for the linear activation;
* **the moments over the training set** by a *different route* from the package: given
  the empirical Gram matrix ``Ĝ = (Φ̂ | Ψ̂ | ĥ)`` the readout coefficients are Gaussian in
  the task head ``u`` (exact Isserlis), and the average over ``Ĝ`` is the second-order
  Taylor term ``E f(Ĝ) = f(Ḡ) + (1/2P) Σ ∂²f κ`` with the Hessian taken by torch
  autograd and ``κ/P`` the exact covariance of ``Ĝ`` (F4, I2 and the noise variance).
  For ``s = 1`` the head is linear in ``Ĝ``, so ``M2``, the mean and ``G_P`` are quadratic
  and this is exact; the ``M4`` contraction (η_J²/V term) and ``s > 1`` are O(1/P²);
* **the O(η_J) drift** as the gradient form of ``G_P(Q, R, w) = E[L_pop(w_t)]`` (torch
  autograd through F4): FO-ANIL differentiates the validation fields only, exact ANIL
  also the training distribution (theory/finite_p.md §5);
* **the exact-ANIL η_J²/P term** from per-sample autograd of the inner-loop adjoint and
  Gauss–Hermite quadrature over one training sample's fields (no I4 formula used);
* **sympy**: the ``s = 1`` head moments as polynomials in the Gram entries, and, for the
  linear activation (``K = M = 1``), the exact finite-P moments of the whole one-task
  update (Gaussian polynomial moments of the P-sample means) — which confirms that the
  O(η_J) drift is exact at every P for ``s = 1`` and gives the exact ``1/P²`` remainder
  of the η_J²/V term and of the ``s = 2`` expansion.

``drift(st, algorithm, P)`` and ``errors(st, P)`` are the reference implementation used by
``tests/test_finite_p_theory.py``.
"""

from __future__ import annotations

import itertools
import math
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import sympy as sp
import torch
from scipy.special import erf

sys.path.insert(0, str(Path(__file__).resolve().parent))
import anil as _anil  # noqa: E402  (theory/anil.py: State, random_state, P = ∞ reference)

torch.set_default_dtype(torch.float64)

State = _anil.State
TWO_PI = 2.0 / math.pi


def random_state(seed: int, K: int | None = None, M: int | None = None,
                 s: int | None = None) -> State:
    """A random admissible state (theory/anil.py's generator); optionally force K, M, s."""
    st = _anil.random_state(seed)
    rng = np.random.default_rng(10_000 + seed)
    if K is not None or M is not None:
        K = st.K if K is None else K
        M = st.M if M is None else M
        n = K + M
        A = rng.standard_normal((n, n + 1))
        C = A @ A.T / (n + 1) + 0.15 * np.eye(n)
        d = np.sqrt(rng.uniform(0.3, 1.5, n) / np.diag(C))
        C = d[:, None] * C * d[None, :]
        B = rng.standard_normal((M, max(1, M - 1)))
        readout = ("sqrt", "none", "mean")[seed % 3]
        sK, sM = {"sqrt": (K**-0.5, M**-0.5), "none": (1.0, 1.0),
                  "mean": (1 / K, 1 / M)}[readout]
        st = replace(st, Q=C[:K, :K].copy(), R=C[:K, K:].copy(), T=C[K:, K:].copy(),
                     w=0.8 * rng.standard_normal(K), ubar=0.7 * rng.standard_normal(M),
                     Su=B @ B.T / B.shape[1], sK=sK, sM=sM)
    if s is not None:
        st = replace(st, s=s)
    return replace(st, Su=0.5 * (st.Su + st.Su.T))


# --------------------------------------------------------------------------- integrals
def _t(x):
    return torch.as_tensor(np.asarray(x, dtype=float))


def train_cov(Q, R, T, gamma):
    """Covariance of the fields of one training sample, ``(λ, ν^t)`` (torch, symmetric)."""
    M = T.shape[0]
    Tt = gamma**2 * T + (1 - gamma**2) * torch.eye(M)
    C = torch.cat([torch.cat([Q, gamma * R], 1), torch.cat([gamma * R.T, Tt], 1)], 0)
    return 0.5 * (C + C.T)


def i2_t(C, act):
    if act == "linear":
        return C
    d = 1 + torch.diagonal(C, dim1=-2, dim2=-1)
    return TWO_PI * torch.asin(C / torch.sqrt(d[..., :, None] * d[..., None, :]))


def i4_pos(C4, act):
    """``E[g'(y_0) g'(y_1) g(y_2) g(y_3)]`` for ``y ~ N(0, C4)`` (``C4 (..., 4, 4)``):
    the Gaussian tilt by ``g'(y_0) g'(y_1)`` (theory/equations.md §7.4)."""
    if act == "linear":
        return C4[..., 2, 3]
    caa, cbb, cab = C4[..., 0, 0], C4[..., 1, 1], C4[..., 0, 1]
    lam4 = (1 + caa) * (1 + cbb) - cab**2
    inv = torch.stack([torch.stack([1 + cbb, -cab], -1), torch.stack([-cab, 1 + caa], -1)],
                      -2) / lam4[..., None, None]
    CBA = C4[..., 2:, :2]
    Cp = C4[..., 2:, 2:] - CBA @ inv @ CBA.transpose(-1, -2)
    arg = Cp[..., 0, 1] / torch.sqrt((1 + Cp[..., 0, 0]) * (1 + Cp[..., 1, 1]))
    return TWO_PI * lam4**-0.5 * TWO_PI * torch.asin(arg)


_GL_T, _GL_W = (torch.as_tensor(x) for x in np.polynomial.legendre.leggauss(48))
_GL_T, _GL_W = 0.5 * (_GL_T + 1), 0.5 * _GL_W
_ORDERS = ((0, 1, 2, 3), (0, 2, 1, 3), (0, 3, 1, 2))


def f4_pos(C4, act):
    """``F4 = E[g(y_0) g(y_1) g(y_2) g(y_3)]`` for ``y ~ N(0, C4)``, ``C4 (..., 4, 4)``.

    erf: the Price path.  Scaling the off-diagonal entries of row/column 0 by ``t``
    (``C(t) = tC + (1−t) diag-block``, positive semi-definite) gives
    ``dF4/dt = Σ_q C_0q I4(C(t); 0, q, ·, ·)`` and ``F4(C(0)) = E[g(y_0)]·(…) = 0``, so
    ``F4 = ∫_0^1 Σ_q C_0q I4(C(t)) dt`` (48-node Gauss–Legendre; the integrand is analytic).
    linear: Isserlis ``C01 C23 + C02 C13 + C03 C12``.
    """
    if act == "linear":
        return C4[..., 0, 1] * C4[..., 2, 3] + C4[..., 0, 2] * C4[..., 1, 3] \
            + C4[..., 0, 3] * C4[..., 1, 2]
    mask = torch.zeros(4, 4)
    mask[0, 1:] = 1
    mask[1:, 0] = 1
    t = _GL_T.to(C4.dtype)
    scale = 1 + (t[:, None, None] - 1) * mask  # (n, 4, 4)
    Ct = C4[..., None, :, :] * scale  # (..., n, 4, 4)
    acc = 0.0
    for order in _ORDERS:
        idx = torch.tensor(order)
        Cp = Ct[..., idx, :][..., :, idx]
        acc = acc + C4[..., None, 0, order[1]] * i4_pos(Cp, act)
    return (acc * _GL_W).sum(-1)


def f4_all_offdiagonal(C4, act):
    """F4 by a second Price path: all off-diagonal entries scaled by ``t``,
    ``F4 = ∫_0^1 Σ_{p<q} C_pq I4(C(t); p, q, ·, ·) dt`` (a check of :func:`f4_pos`)."""
    mask = 1 - torch.eye(4)
    t = _GL_T.to(C4.dtype)
    Ct = C4[..., None, :, :] * (1 + (t[:, None, None] - 1) * mask)
    acc = 0.0
    for p, q in itertools.combinations(range(4), 2):
        rest = [i for i in range(4) if i not in (p, q)]
        idx = torch.tensor([p, q] + rest)
        acc = acc + C4[..., None, p, q] * i4_pos(Ct[..., idx, :][..., :, idx], act)
    return (acc * _GL_W).sum(-1)


def f4_gauss_hermite(C4: np.ndarray, act: str, n: int = 32) -> float:
    """F4 by a 4-D Gauss–Hermite product rule on ``y = L x`` (``LLᵀ = C4``)."""
    x, wx = np.polynomial.hermite_e.hermegauss(n)
    wx = wx / wx.sum()
    ev, U = np.linalg.eigh(C4)
    L = U * np.sqrt(np.clip(ev, 0, None))
    X = np.stack(np.meshgrid(x, x, x, x, indexing="ij"), -1).reshape(-1, 4)
    W = np.einsum("i,j,k,l->ijkl", wx, wx, wx, wx).ravel()
    Y = X @ L.T
    G = Y if act == "linear" else erf(Y / math.sqrt(2))
    return float(np.sum(W * np.prod(G, axis=1)))


def f4_fields(C, idx, act):
    """F4 of the fields ``idx = (i1, i2, i3, i4)`` (any repetition) of the covariance C."""
    i = torch.tensor(idx)
    return f4_pos(C[..., i, :][..., :, i], act)


def kappa(C, K, act):
    """``P·Cov(Ĝ_am, Ĝ_bn)`` of the empirical Gram ``Ĝ = (Φ̂ | Ψ̂ | ĥ)``, shape
    ``(K, F+1, K, F+1)``: ``F4(a,m,b,n) − I2(a,m) I2(b,n)`` for fields, ``I2(a,b)`` for the
    noise column, 0 across."""
    F = C.shape[0]
    I2 = i2_t(C, act)
    tuples = [(a, m, b, n) for a in range(K) for m in range(F) for b in range(K)
              for n in range(F)]
    Cs = torch.stack([C[list(t)][:, list(t)] for t in tuples])
    f4 = f4_pos(Cs, act).reshape(K, F, K, F)
    kap = torch.zeros(K, F + 1, K, F + 1)
    kap[:, :F, :, :F] = f4 - I2[:K, :F, None, None] * I2[None, None, :K, :F]
    kap[:, F, :, F] = I2[:K, :K]
    return kap


# --------------------------------------------------------------------------- given Ĝ
def head_given_gram(G, st: State, s: int, w):
    """``w_t = a + W u`` after ``s`` steps on the empirical loss with Gram ``G (K, F+1)``:
    ``w ← w − η_w s_K (s_K Φ̂ w − s_M Ψ̂ u − σ ĥ)``."""
    K, M = st.K, st.M
    F = K + M
    a, W = w, torch.zeros(K, M)
    e = st.eta_w * st.sK
    for _ in range(s):
        a = a - e * (st.sK * G[:, :K] @ a - st.noise * G[:, F])
        W = W - e * (st.sK * G[:, :K] @ W - st.sM * G[:, K:F])
    return a, W


def moments_given_gram(G, st: State, s: int, w, X=None):
    """Exact u-moments given ``Ĝ``: ``c | Ĝ ~ N(m, S)``; returns ``m (F)``, ``M2 (F, F)``
    and, if ``X (K, K, F, F)`` is given, ``T_kl = Σ_ij E[c_k c_l c_i c_j | Ĝ] X_klij``
    (Isserlis with non-zero mean)."""
    K, M = st.K, st.M
    a, W = head_given_gram(G, st, s, w)
    c0 = torch.cat([st.sK * a, torch.zeros(M)])
    H = torch.cat([st.sK * W, -st.sM * torch.eye(M)], 0)
    m = c0 + H @ _t(st.ubar)
    S = H @ _t(st.Su) @ H.T
    M2 = torch.outer(m, m) + S
    if X is None:
        return m, M2, None
    T = torch.empty(K, K)
    for k in range(K):
        for l in range(K):
            Xk = X[k, l]
            mXm = m @ Xk @ m
            trSX = torch.sum(S * Xk)
            SXm = S @ Xk @ m
            T[k, l] = (M2[k, l] * (mXm + trSX) + 2 * m[k] * SXm[l] + 2 * m[l] * SXm[k]
                       + 2 * (S @ Xk @ S)[k, l])
    return m, M2, T


def gram_mean(C, K, act):
    """``E Ĝ = (Φ | Ψ | 0)``."""
    I2 = i2_t(C, act)
    return torch.cat([I2[:K, :], torch.zeros(K, 1)], 1)


def taylor_expectation(fun, Gbar, kap, P):
    """``E f(Ĝ) ≈ f(Ḡ) + (1/2P) Σ_αβ ∂²f/∂Ĝ_α∂Ĝ_β κ_αβ`` (exact for f quadratic in Ĝ).

    ``fun`` maps ``Ĝ (K, F+1)`` to a tensor; the Hessian is taken by autograd with
    ``create_graph`` (so the result stays differentiable in whatever ``Ḡ``, ``κ`` depend on).
    """
    f0 = fun(Gbar)
    if P == math.inf:
        return f0
    flat = f0.reshape(-1)
    n = Gbar.numel()
    kap2 = kap.reshape(n, n)
    out = []
    for i in range(flat.numel()):
        def scalar(g, i=i):
            return fun(g.reshape(Gbar.shape)).reshape(-1)[i]

        Hs = torch.autograd.functional.hessian(scalar, Gbar.reshape(-1), create_graph=True)
        out.append(torch.sum(Hs * kap2))
    return f0 + (0.5 / P) * torch.stack(out).reshape(f0.shape)


# --------------------------------------------------------------------------- the drift
def _fields_np(st: State) -> np.ndarray:
    return _anil.field_cov(st)  # (λ, ν^t, ν)


def finite_p_moments(st: State, s: int, P, w=None, C=None, X=None):
    """Mean, M2 (and T) of the readout coefficients over ``u`` and the training set (torch).

    ``C``: training-field covariance (default from ``st``); ``w``: head initialisation."""
    K = st.K
    if C is None:
        C = train_cov(_t(st.Q), _t(st.R), _t(st.T), st.gamma)
    if w is None:
        w = _t(st.w)
    Gbar = gram_mean(C, K, st.activation)
    kap = kappa(C, K, st.activation) if P != math.inf else None
    Xt = None if X is None else _t(X)

    def fun(G):
        m, M2, T = moments_given_gram(G, st, s, w, Xt)
        parts = [m, M2.reshape(-1)] + ([] if T is None else [T.reshape(-1)])
        return torch.cat(parts)

    out = taylor_expectation(fun, Gbar, kap, P)
    F = C.shape[0]
    m, M2 = out[:F], out[F:F + F * F].reshape(F, F)
    T = None if X is None else out[F + F * F:].reshape(K, K)
    return m, M2, T


def loss_fp(st: State, s: int, P, Q, R, w, train_detached: bool):
    """``G_P(Q, R, w) = E_{u, train}[½ cᵀ I2 c] + σ²/2`` with the validation fields built
    from ``(Q, R)`` and the training fields from the same (``train_detached``: a constant
    copy — the FO-ANIL derivative)."""
    Cval = train_cov(Q, R, _t(st.T), st.gamma)
    Ctr = Cval.detach() if train_detached else Cval
    I2val = i2_t(Cval, st.activation)
    K = st.K
    Gbar = gram_mean(Ctr, K, st.activation)
    kap = kappa(Ctr, K, st.activation) if P != math.inf else None

    def fun(G):
        _, M2, _ = moments_given_gram(G, st, s, w)
        return 0.5 * torch.sum(M2 * I2val).reshape(1)

    return taylor_expectation(fun, Gbar, kap, P)[0] + 0.5 * st.noise**2


def drift_first_order(st: State, algorithm: str, P):
    """The O(η_J) drift (and dw) as the gradient form of ``G_P`` (theory/finite_p.md §5)."""
    s = 0 if algorithm == "arm" else st.s
    Q = _t(st.Q).requires_grad_(True)
    R = _t(st.R).requires_grad_(True)
    w = _t(st.w).requires_grad_(True)
    G = loss_fp(st, s, P, Q, R, w, train_detached=(algorithm != "anil"))
    gQ, gR, gw = torch.autograd.grad(G, (Q, R, w), allow_unused=True)
    D = gQ + gQ.T
    Qd, Rd, T = Q.detach(), R.detach(), _t(st.T)
    dR = -st.eta_J * (D @ Rd + gR @ T)
    dQ = -st.eta_J * (D @ Qd + Qd @ D + gR @ Rd.T + Rd @ gR.T)
    if algorithm == "anil":
        dw = -st.eta_0 * gw
    else:
        m, _, _ = finite_p_moments(st, s, P)
        I2 = i2_t(train_cov(_t(st.Q), _t(st.R), _t(st.T), st.gamma), st.activation)
        dw = -st.eta_0 * st.sK * I2[:st.K] @ m
    return dQ.detach().numpy(), dR.detach().numpy(), dw.detach().numpy()


def drift_first_order_i3(st: State, algorithm: str, P):
    """FO-ANIL/ARM O(η_J) drift from M2_P and I3 (theory/equations.md §4 with M2 → M2_P)."""
    s = 0 if algorithm == "arm" else st.s
    K, M = st.K, st.M
    F = K + M
    _, M2, _ = finite_p_moments(st, s, P)
    M2 = M2.detach().numpy()
    C = _fields_np(st)
    I3 = _anil.i3(C, st.activation)
    nu = np.arange(F, F + M)
    lam = np.arange(K)
    dR = -st.eta_J * np.einsum("ki,kni->kn", M2[:K], I3[np.ix_(lam, nu, np.arange(F))])
    Xs = np.einsum("ki,kli->kl", M2[:K], I3[np.ix_(lam, lam, np.arange(F))])
    return -st.eta_J * (Xs + Xs.T), dR


def eta2_over_v(st: State, algorithm: str, P):
    """``(η_J²/V)[Σ_ij E(c_k c_l c_i c_j) I4(k,l,i,j) + σ² M2_kl J2(k,l)]`` with the fourth
    moments over u and the training set to O(1/P) (exact Isserlis given Ĝ, Taylor in Ĝ)."""
    if st.V == math.inf:
        return np.zeros((st.K, st.K))
    s = 0 if algorithm == "arm" else st.s
    K = st.K
    F = K + st.M
    C = _fields_np(st)
    X = _anil.i4(C[:F, :F], np.arange(K), st.activation)
    _, M2, T = finite_p_moments(st, s, P, X=X)
    J2 = _anil.j2(C, st.activation)[:K, :K]
    M2 = M2.detach().numpy()
    return st.eta_J**2 / st.V * (T.detach().numpy() + st.noise**2 * M2[:K, :K] * J2)


# --------------------------------------------------------------------------- ANIL η²/P
def _sqrt_psd(S):
    ev, U = np.linalg.eigh(0.5 * (S + S.T))
    keep = ev > 1e-14 * max(1.0, float(np.max(np.abs(ev))))
    return U[:, keep] * np.sqrt(ev[keep])


def _gh3(r: int):
    """Tensor 3-point Gauss–Hermite rule for ``N(0, I_r)`` (exact to degree 5 per axis)."""
    x, w = np.array([-math.sqrt(3.0), 0.0, math.sqrt(3.0)]), np.array([1 / 6, 2 / 3, 1 / 6])
    if r == 0:
        return np.zeros((1, 0)), np.ones(1)
    pts = np.stack(np.meshgrid(*([x] * r), indexing="ij"), -1).reshape(-1, r)
    wts = np.prod(np.stack(np.meshgrid(*([w] * r), indexing="ij"), -1).reshape(-1, r), 1)
    return pts, wts


def anil_eta2_over_p(st: State, P):
    """Exact ANIL: ``(η_J η_w s_K)²/P · E[h_k h_l]`` (leading order in 1/P).

    ``h_k = ∂/∂λ_k φ``, ``φ = Σ_j p_{j+1}·g(λ) Δ_j`` for one training sample (adjoint
    ``p_{j+1} = A^{s−1−j} g``, ``g`` the validation gradient, ``w^j``, ``p`` at P = ∞).
    Since ``φ`` depends on λ only through ``G = g(λ)``, ``h_k = g'(λ_k) ∂φ/∂G_k`` and
    ``∂φ/∂G_k`` is linear in ``ĝ = (g(λ), g(ν^t), ξ)``: its coefficients ``e^{k,(b)}`` (for
    ``g = e_b``) are taken by torch autograd (second derivatives of ``φ`` in free variables
    ``ĝ``), and ``E[g'_k g'_l ĝ_i ĝ_j] = I4(k,l,i,j)`` (theory/anil.py's numpy I4), ``J2`` for
    the noise. ``E[g gᵀ | u] = ḡḡᵀ + Cov_g/V`` with ``Cov_g`` from the reference F4; the
    u-average by a tensor 3-point Gauss–Hermite rule (exact for the quartic integrand)."""
    if P == math.inf:
        return np.zeros((st.K, st.K))
    K, M, s = st.K, st.M, st.s
    F = K + M
    C = _fields_np(st)[:F, :F]
    I2 = _anil.i2(C, st.activation)
    I4 = _anil.i4(C, np.arange(K), st.activation)  # (K, K, F, F)
    J2 = _anil.j2(C, st.activation)[:K, :K]
    Ct = train_cov(_t(st.Q), _t(st.R), _t(st.T), st.gamma)
    tuples = [(a, b, i, j) for a in range(K) for b in range(K) for i in range(F)
              for j in range(F)]
    F4 = f4_pos(torch.stack([Ct[list(t)][:, list(t)] for t in tuples]),
                st.activation).reshape(K, K, F, F).detach().numpy()
    Phi, Psi = I2[:K, :K], I2[:K, K:]
    A = np.eye(K) - st.eta_w * st.sK**2 * Phi
    b = st.eta_w * st.sK * st.sM * Psi
    a_j, W_j = [st.w.copy()], [np.zeros((K, M))]
    for _ in range(s):
        a_j.append(A @ a_j[-1])
        W_j.append(A @ W_j[-1] + b)
    Lu = _sqrt_psd(st.Su)
    pts, wts = _gh3(Lu.shape[1])
    out = np.zeros((K, K))
    for zeta, wu in zip(pts, wts, strict=True):
        u = st.ubar + Lu @ zeta
        w_js = [a + Wm @ u for a, Wm in zip(a_j, W_j, strict=True)]
        c_inf = np.concatenate([st.sK * w_js[s], -st.sM * u])
        g_pop = st.sK * I2[:K] @ c_inf
        Egg = np.outer(g_pop, g_pop)
        if st.V != math.inf:
            Egg = Egg + (st.sK**2 * (np.einsum("abij,i,j->ab", F4, c_inf, c_inf)
                                     + st.noise**2 * Phi) - np.outer(g_pop, g_pop)) / st.V
        E = np.zeros((K, K, F + 1))  # E[b, k, :]: ∂φ^{(b)}/∂G_k as a linear form in ĝ

        def phi(ghat, bidx, w_js=w_js, u=u):
            G, Gn, xi = ghat[:K], ghat[K:F], ghat[F]
            e = torch.zeros(K)
            e[bidx] = 1.0
            tot = 0.0
            for j in range(s):
                p = torch.as_tensor(np.linalg.matrix_power(A, s - 1 - j)) @ e
                dj = (st.sK * G @ torch.as_tensor(w_js[j]) - st.sM * Gn @ torch.as_tensor(u)
                      - st.noise * xi)
                tot = tot + (G @ p) * dj
            return tot

        for bidx in range(K):
            Hm = torch.autograd.functional.hessian(lambda gh, bidx=bidx: phi(gh, bidx),
                                                   torch.zeros(F + 1))
            E[bidx] = Hm[:K].numpy()  # φ is quadratic: ∂φ/∂G_k = Σ_i Hm[k, i] ĝ_i
        for k in range(K):
            for l in range(K):
                for bb in range(K):
                    for bc in range(K):
                        ek, el = E[bb, k], E[bc, l]
                        val = ek[:F] @ I4[k, l] @ el[:F] + ek[F] * el[F] * J2[k, l]
                        out[k, l] += wu * Egg[bb, bc] * val
    return (st.eta_J * st.eta_w * st.sK) ** 2 / P * out


# --------------------------------------------------------------------------- API
def drift(st: State, algorithm: str, P):
    """The drift at training-set size P (reference implementation).

    Parameters
    ----------
    st : State
        Overlaps, task law, rates and ``V`` (``st.V``; ``math.inf`` for the population).
    algorithm : {"arm", "fo-anil", "anil"}
        ``maml``/``fo-maml`` share the ``anil``/``fo-anil`` drift.
    P : int or float
        Training samples per task; ``math.inf`` for the population inner loop.

    Returns
    -------
    tuple of ndarray
        ``(dQ/dα, dR/dα, dw/dα)``: the gradient form of the few-shot error ``G_P``
        (theory/finite_p.md §5), plus the η_J²/V term (§6) and, for ``anil``, the η_J²/P
        term (§8).
    """
    dQ, dR, dw = drift_first_order(st, algorithm, P)
    dQ = dQ + eta2_over_v(st, algorithm, P)
    if algorithm == "anil":
        dQ = dQ + anil_eta2_over_p(st, P)
    return dQ, dR, dw


def errors(st: State, P_test, algorithm: str = "fo-anil"):
    """The errors on a fresh task (reference implementation).

    Parameters
    ----------
    st : State
        Overlaps, task law and rates.
    P_test : int or float
        Samples the new task's head is adapted on (``math.inf``: the population).
    algorithm : str, optional
        ``"arm"`` means no adaptation (s = 0).

    Returns
    -------
    tuple of float
        ``(eg, eg_pre, eg_opt)``: the few-shot error ``G_{P_test}``, the error at the head
        initialisation, and the error with the optimal head per task.
    """
    s = 0 if algorithm == "arm" else st.s
    K, M = st.K, st.M
    Q, R, w = _t(st.Q), _t(st.R), _t(st.w)
    eg = loss_fp(st, s, P_test, Q, R, w, True).item()
    pre = loss_fp(st, 0, math.inf, Q, R, w, True).item()
    C = _fields_np(st)[:K + M, :K + M]
    I2 = _anil.i2(C, st.activation)
    Phi, Psi, Th = I2[:K, :K], I2[:K, K:], I2[K:, K:]
    Xi = Th - Psi.T @ np.linalg.solve(Phi, Psi)
    opt = 0.5 * st.sM**2 * np.sum(Xi * (np.outer(st.ubar, st.ubar) + st.Su)) + 0.5 * st.noise**2
    return eg, pre, float(opt)


# --------------------------------------------------------------------------- sympy
def _gauss_moment(expr_vars, cov, powers):
    """E[Π x_i^{p_i}] for x ~ N(0, cov) (sympy), by Isserlis over the expanded factors."""
    factors = [v for v, p in zip(expr_vars, powers, strict=True) for _ in range(p)]
    n = len(factors)
    if n % 2:
        return sp.Integer(0)
    index = {v: i for i, v in enumerate(expr_vars)}

    def pairings(items):
        if not items:
            yield []
            return
        first, rest = items[0], items[1:]
        for i in range(len(rest)):
            for tail in pairings(rest[:i] + rest[i + 1:]):
                yield [(first, rest[i])] + tail

    total = sp.Integer(0)
    for pr in pairings(list(range(n))):
        term = sp.Integer(1)
        for i, j in pr:
            term *= cov[index[factors[i]], index[factors[j]]]
        total += term
    return total


def _expect_poly(expr, xs, cov):
    """E[expr] for a polynomial in the Gaussian variables xs."""
    poly = sp.Poly(sp.expand(expr), *xs)
    out = sp.Integer(0)
    for powers, coeff in poly.terms():
        out += coeff * _gauss_moment(xs, cov, powers)
    return sp.expand(out)


def sympy_s1_head_moments() -> bool:
    """s = 1, K = 2, M = 1: E[w_t] and E[w_t w_tᵀ] as polynomials in the Gram entries with
    E[Ĝ] = Ḡ, E[Ĝ⊗Ĝ] = Ḡ⊗Ḡ + κ/P equal the κ-contraction formulas of finite_p.md §3:
    E[w_t] = w_t^∞ and Cov(w_t) = (η_w s_K)²/P · Σ_mn c^0_m c^0_n κ(·m,·n)."""
    K = 2
    F1 = 4  # (λ1, λ2, ν, ξ)
    ew, sK, sM, sig, Pn = sp.symbols("eta_w s_K s_M sigma P", positive=True)
    w = sp.Matrix(sp.symbols("w1 w2", real=True))
    u = sp.symbols("u", real=True)
    G = sp.Matrix(K, F1, lambda a, m: sp.Symbol(f"G{a}{m}"))
    Gb = sp.Matrix(K, F1, lambda a, m: sp.Symbol(f"Gb{a}{m}"))
    kap = {}
    syms = [G[a, m] for a in range(K) for m in range(F1)]
    for i, x in enumerate(syms):
        for y in syms[i:]:
            kap[(x, y)] = kap[(y, x)] = sp.Symbol(f"k_{x}_{y}")
    c0 = sp.Matrix([sK * w[0], sK * w[1], -sM * u, -sig])
    wt = w - ew * sK * G * c0

    def E(expr):
        poly = sp.Poly(sp.expand(expr), *syms)
        out = sp.Integer(0)
        for powers, coeff in poly.terms():
            idx = [s for s, p in zip(syms, powers, strict=True) for _ in range(p)]
            if len(idx) == 0:
                out += coeff
            elif len(idx) == 1:
                out += coeff * Gb[syms.index(idx[0]) // F1, syms.index(idx[0]) % F1]
            else:
                (x, y) = idx
                gx = Gb[syms.index(x) // F1, syms.index(x) % F1]
                gy = Gb[syms.index(y) // F1, syms.index(y) % F1]
                out += coeff * (gx * gy + kap[(x, y)] / Pn)
        return sp.expand(out)

    ok = True
    wbar = w - ew * sK * Gb * c0
    for a in range(K):
        ok &= sp.simplify(E(wt[a]) - wbar[a]) == 0
        for b in range(K):
            formula = wbar[a] * wbar[b] + (ew * sK) ** 2 / Pn * sum(
                c0[m] * c0[n] * kap[(G[a, m], G[b, n])] for m in range(F1) for n in range(F1))
            ok &= sp.simplify(E(wt[a] * wt[b]) - sp.expand(formula)) == 0
    return bool(ok)


def sympy_linear_exact(seed: int = 0):
    """Linear activation, K = M = 1, γ = 1: the exact finite-P moments of the one-task
    update by Gaussian polynomial moments of the P-sample means (Ĝ = mean of iid per-sample
    vectors: E[Π X̄] = Σ_partitions (P)_|π| / P^n Π_B E[Π_B X]).

    Returns a dict of the exact quantities as functions of P (sympy) and of the reference
    (Taylor) values at a numerical state, for the checks below.
    """
    rng = np.random.default_rng(seed)
    Pn = sp.Symbol("P", positive=True)
    q, r, t = sp.Rational(9, 10), sp.Rational(3, 10), sp.Rational(11, 10)
    w0 = sp.Rational(int(rng.integers(-9, 10)), 10) or sp.Rational(1, 2)
    ub, su = sp.Rational(7, 10), sp.Rational(4, 10)  # u ~ N(ub, su)
    ew, sig = sp.Rational(6, 10), sp.Rational(3, 10)
    lam, nu, xi, z = sp.symbols("lam nu xi z", real=True)  # one training sample; u = ub+√su z
    covs = sp.Matrix([[q, r, 0, 0], [r, t, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
    xs = [lam, nu, xi, z]
    # per-sample Gram vector (λ², λν, λξ); u enters through z (shared across samples)
    X = [lam**2, lam * nu, lam * xi]
    u = ub + sp.sqrt(su) * z

    cache: dict[tuple[int, ...], sp.Expr] = {}

    def sample_moment(idx):
        key = tuple(sorted(idx))
        if key not in cache:
            cache[key] = _expect_poly(sp.Mul(*[X[i] for i in key]), xs, covs)
        return cache[key]

    def set_partitions(items):
        if not items:
            yield []
            return
        first, rest = items[0], items[1:]
        for part in set_partitions(rest):
            for i in range(len(part)):
                yield part[:i] + [[first] + part[i]] + part[i + 1:]
            yield [[first]] + part

    def mean_moment(idx):
        """E[Π_i X̄_{idx_i}] for the P-sample means (exact in P)."""
        n = len(idx)
        tot = sp.Integer(0)
        for part in set_partitions(list(range(n))):
            ff = sp.Integer(1)
            for i in range(len(part)):
                ff *= (Pn - i)
            term = ff / Pn**n
            for block in part:
                term *= sample_moment([idx[i] for i in block])
            tot += term
        return sp.simplify(tot)

    return dict(P=Pn, q=q, r=r, t=t, w0=w0, ub=ub, su=su, ew=ew, sig=sig, u=u, z=z,
                mean_moment=mean_moment)


def _linear_exact_tools():
    """The linear K = M = 1 test case: its state, ``E`` (exact over the training set and
    u), the adapted heads ``w_t`` for s = 1, 2 as polynomials in the Gram means, and u."""
    d = sympy_linear_exact()
    ew, sig, w0, z = d["ew"], d["sig"], d["w0"], d["z"]
    mm = d["mean_moment"]
    Phi, Psi, h = sp.symbols("Phi Psi h", real=True)  # the sample means X̄0, X̄1, X̄2
    u = d["u"]

    def step(wv):
        return wv - ew * (Phi * wv - Psi * u - sig * h)

    heads = {1: sp.expand(step(w0))}
    heads[2] = sp.expand(step(heads[1]))

    def exact_E(expr):
        """E over the training set (exact in P) and over u (z Gaussian)."""
        poly = sp.Poly(sp.expand(expr), Phi, Psi, h)
        out = sp.Integer(0)
        for powers, coeff in poly.terms():
            idx = [0] * powers[0] + [1] * powers[1] + [2] * powers[2]
            mom = mm(idx) if idx else sp.Integer(1)
            out += _expect_poly(coeff, [z], sp.Matrix([[1]])) * mom
        return sp.simplify(out)

    st = State(Q=np.array([[float(d["q"])]]), R=np.array([[float(d["r"])]]),
               T=np.array([[float(d["t"])]]), w=np.array([float(w0)]),
               ubar=np.array([float(d["ub"])]), Su=np.array([[float(d["su"])]]),
               gamma=1.0, s=1, sK=1.0, sM=1.0, activation="linear", noise=float(sig),
               eta_J=1.0, eta_w=float(ew), eta_0=1.0)
    Cs = sp.Matrix([[d["q"], d["r"]], [d["r"], d["t"]]])
    return d, st, exact_E, heads, u, Cs


def linear_exact_few_shot_error():
    """Linear, K = M = 1, s = 1: the state and the exact few-shot error ``eg(P)`` (sympy,
    a rational function of P): ``½ E[cᵀ C c] + σ²/2``, ``c = (w_t; −u)``."""
    d, st, exact_E, heads, u, Cs = _linear_exact_tools()
    c = sp.Matrix([heads[1], -u])
    eg = exact_E((c.T * Cs * c)[0] / 2) + d["sig"] ** 2 / 2
    return st, sp.lambdify(d["P"], eg)


def linear_exactness_checks() -> dict[str, float]:
    """Linear activation, K = M = 1, γ = 1, readout none (s_K = s_M = 1): exact moments of
    w_t (s = 1, 2) from sympy against the reference's Taylor route at P = 1, 2, 3, 8, 16.

    Returns the absolute differences ``s{s}_P{P}_m2`` (E w_t²; s = 1: exact) and
    ``s1_P{P}_T`` (the η²/V contraction E[w_t² cᵀCc]) and the coefficients of the exact
    expansions in 1/P, ``s{s}_{m2,T}_coeff{0,1,2}`` (coeff2: the leading neglected term)."""
    d, st, exact_E, heads, u, Cs = _linear_exact_tools()
    Pn = d["P"]
    res = {}
    X = np.zeros((1, 1, 2, 2))
    X[0, 0] = np.array(Cs.tolist(), dtype=float)  # I4(k,l,i,j) = C_ij for linear
    eps = sp.Symbol("e")
    for s, wt in heads.items():
        exact = {"m2": exact_E(wt**2)}
        if s == 1:  # the η²/V contraction E[w_t² cᵀ C c] (degree 4 in the Gram)
            cvec = sp.Matrix([wt, -u])
            exact["T"] = exact_E((cvec.T * Cs * cvec)[0] * wt**2)
        for P in (1, 2, 3, 8, 16):
            _, M2, T = finite_p_moments(replace(st, s=s), s, P, X=X)
            res[f"s{s}_P{P}_m2"] = float(exact["m2"].subs(Pn, P)) - M2[0, 0].item()
            if s == 1:
                res[f"s{s}_P{P}_T"] = float(exact["T"].subs(Pn, P)) - T[0, 0].item()
        # the exact 1/P expansion: its 1/P² coefficient is the leading neglected term
        for name, ex in exact.items():
            ser = sp.series(ex.subs(Pn, 1 / eps), eps, 0, 3).removeO()
            for n in range(3):
                res[f"s{s}_{name}_coeff{n}"] = float(ser.coeff(eps, n))
    return res


# --------------------------------------------------------------------------- checks
F4_TOL = 1e-12  # two Price paths (48 Gauss–Legendre nodes each): round-off
F4_GH_TOL = 1e-6  # vs 32⁴ Gauss–Hermite, whose own error is ~1e-7 for erf (slow in n)
ROUTE_TOL = 1e-10  # float64 evaluations of the same quantity by different routes
LIMIT_TOL = 1e-10


def check_f4(n_cov: int = 3, n_gh: int = 3) -> tuple[float, float]:
    """F4 of every index pattern of 4 fields (erf): the two Price paths against each other
    (all patterns, ``n_cov`` covariances), and against 4-D Gauss–Hermite (``n_gh``
    patterns; plus the linear activation's Isserlis); returns both worst differences."""
    worst, worst_gh = 0.0, 0.0
    rng = np.random.default_rng(5)
    for ic in range(n_cov):
        A = rng.standard_normal((4, 5))
        C = A @ A.T / 5 + 0.1 * np.eye(4)
        pats = list(itertools.combinations_with_replacement(range(4), 4))
        C4s = _t(np.stack([C[np.ix_(i, i)] for i in pats]))
        worst = max(worst, float(torch.max(torch.abs(f4_pos(C4s, "erf")
                                                     - f4_all_offdiagonal(C4s, "erf")))))
        if ic == 0:
            for i in (0, 1, 7, 20, 34)[:n_gh]:
                for act in ("erf", "linear"):
                    ref = f4_gauss_hermite(C4s[i].numpy(), act)
                    worst_gh = max(worst_gh, abs(ref - float(f4_pos(C4s[i], act))))
    return worst, worst_gh


def check_limit(seeds=range(4)) -> float:
    """P → ∞ (P = 1e12) against theory/anil.py's P = ∞ reference, V = ∞ and 2."""
    worst = 0.0
    for seed in seeds:
        st = random_state(seed, K=2, M=2)
        for V in (math.inf, 2.0):
            stV = replace(st, V=V)
            for alg in ("arm", "fo-anil", "anil"):
                ref = _anil.spec_drift(stV, alg)
                got = drift(stV, alg, 1e12)
                sc = max(np.max(np.abs(x)) for x in ref)
                worst = max(worst, max(np.max(np.abs(a - b)) / sc
                                       for a, b in zip(got, ref, strict=True)))
    return worst


def check_routes(seeds=range(3)) -> float:
    """FO-ANIL/ARM O(η_J) drift: gradient form of G_P (autograd) vs M2_P·I3."""
    worst = 0.0
    for seed in seeds:
        st = random_state(seed, K=2, M=2)
        for P in (1, 3):
            for alg in ("arm", "fo-anil"):
                dQ, dR, _ = drift_first_order(st, alg, P)
                dQ2, dR2 = drift_first_order_i3(st, alg, P)
                sc = max(np.max(np.abs(dQ2)), np.max(np.abs(dR2)))
                worst = max(worst, np.max(np.abs(dQ - dQ2)) / sc, np.max(np.abs(dR - dR2)) / sc)
    return worst


def check_trivial_cases() -> float:
    """η_w = 0 or s = 0 (arm): the finite-P drift equals the P = ∞ drift exactly."""
    worst = 0.0
    st = random_state(2, K=2, M=2)
    for alg, stx in (("fo-anil", replace(st, eta_w=0.0)), ("anil", replace(st, eta_w=0.0)),
                     ("arm", st)):
        stx = replace(stx, V=1.0)
        ref = _anil.spec_drift(stx, alg)
        got = drift(stx, alg, 1)
        worst = max(worst, max(np.max(np.abs(a - b)) for a, b in zip(got, ref, strict=True)))
    return worst


def run_all(verbose: bool = True, quick: bool = False) -> dict[str, bool]:
    results = {}

    def record(name, ok, extra=""):
        results[name] = bool(ok)
        if verbose:
            print(f"[{'ok' if ok else 'FAIL'}] {name} {extra}")

    err, err_gh = check_f4(1 if quick else 3, 2 if quick else 5)
    record("F4 (erf): two Price paths agree for all 35 index patterns of 4 fields",
           err < F4_TOL, f"worst abs err={err:.1e}")
    record("F4: Price path vs 4-D Gauss-Hermite (erf) and Isserlis (linear)",
           err_gh < F4_GH_TOL, f"worst abs err={err_gh:.1e}")
    record("s = 1 head moments: sympy polynomial moments vs the kappa formulas",
           sympy_s1_head_moments())
    lin = linear_exactness_checks()
    e1 = max(abs(lin[f"s1_P{P}_m2"]) for P in (1, 2, 3, 8, 16))
    record("linear, s = 1: M2 over the training set exact at P = 1, 2, 3, 8, 16 (sympy)",
           e1 < 1e-12, f"worst={e1:.1e}")
    for name, key, s in (("eta^2/V fourth moment, s = 1", "T", 1), ("M2, s = 2", "m2", 2)):
        rem = {P: lin[f"s{s}_P{P}_{key}"] for P in (1, 2, 3, 8, 16)}
        # Richardson on P²·rem = c2 + c3/P: 2·(16² rem16) − 8² rem8 → c2
        c2 = 2 * 256 * rem[16] - 64 * rem[8]
        exact_c2 = lin[f"s{s}_{key}_coeff2"]
        record(f"linear, {name}: the O(1/P) form is off by exactly O(1/P^2) (sympy)",
               abs(c2 - exact_c2) < 0.05 * abs(exact_c2) and abs(exact_c2) > 0,
               f"remainder(P=1,2,3,8,16)={[f'{v:.2e}' for v in rem.values()]}, 1/P^2 "
               f"coefficient {exact_c2:.3f} (Richardson {c2:.3f}); expansion "
               f"{lin[f's{s}_{key}_coeff0']:.3f} + {lin[f's{s}_{key}_coeff1']:.3f}/P + ...")
    err = check_routes(range(2) if quick else range(3))
    record("O(eta_J) drift: gradient form of G_P vs M2_P.I3, arm/fo-anil, P = 1, 3",
           err < ROUTE_TOL, f"worst rel err={err:.1e}")
    err = check_limit(range(2) if quick else range(4))
    record("P -> inf limit equals the P = inf reference (theory/anil.py), V = inf, 2",
           err < LIMIT_TOL, f"worst rel err={err:.1e}")
    err = check_trivial_cases()
    record("eta_w = 0 (fo-anil, anil) and arm: P-independent at P = 1", err < 1e-12,
           f"err={err:.1e}")
    return results


def main() -> int:
    results = run_all()
    failed = [k for k, v in results.items() if not v]
    if failed:
        print("FAILED:", ", ".join(failed))
        return 1
    print("all finite-P checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
