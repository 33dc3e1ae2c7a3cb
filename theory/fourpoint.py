"""Derive and verify the four-point function F4 = E[g(z_a) g(z_b) g(z_c) g(z_d)].

Run ``python theory/fourpoint.py`` (``--quick`` for the test-suite settings); it prints one
``[ok]``/``[FAIL]`` line per check, the convergence tables, and exits with status 1 if any
check fails. Derivation: ``theory/fourpoint.md``. For g(z) = erf(z/√2):

1. ``erf(z/√2) = E_ξ[sign(z + ξ)]`` (sympy), so ``F4 = E[Π sign(y_i)]``, ``y ~ N(0, Σ)``,
   ``Σ = C_sub + I ⪰ I`` (positive definite also for repeated indices).
2. Price path: scale the correlations of one position l by t. Each term of dF4/dt is the
   I4 closed form of ``theory/integrals.py`` at the path covariance, times C_pl (sympy:
   the Λ's of I4 equal the kernel's ``α + t²β`` forms, for any variances); the integrand
   is even in t; the substitution ``t = 2u/(R(1+u²))`` makes ``√(1 − R²t²)`` rational.
3. Independent references, none of which uses the path formula of the kernel:
   (a) the conditional bivariate orthant: ``F4 = E_{z_a,z_b}[g g E[g g | z_a, z_b]]``
   with the inner expectation exact (Owen's T function) and the outer one a 1- or 2-D
   trapezoid rule in whitened coordinates; (b) a *different* Price path (from the
   diagonal, all six pair terms, numpy Schur complements); (c) mpmath at 30 digits; (d)
   exact values: all y-correlations 1/2 ⇒ F4 = 1/5 (the 4-variate orthant 1/(n+1)),
   block-diagonal C ⇒ I2·I2, small variances ⇒ (2/π)² × Isserlis.
4. The convergence tables in the number of Gauss–Legendre nodes (plain path from the
   diagonal, plain one-row path, one-row path with the substitution = the kernel), and the
   calibration of the kernel's adaptive rule (``RULE_NODES``/``RULE_R2_MAX``).
5. The kernel's polynomial arcsine against mpmath; the linear activation (Isserlis, from
   the moment generating function).
"""

from __future__ import annotations

import functools
import itertools
import sys
import time
from pathlib import Path

import mpmath as mp
import numpy as np
import sympy as sp
from numpy.polynomial.legendre import leggauss
from scipy.special import erf, owens_t
from scipy.stats import norm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from integrals import I4_lambdas  # noqa: E402  (the spec's I4 closed form)

from teacherstudent.ode.integrals import I2  # noqa: E402
from teacherstudent.ode.integrals import fourpoint as fp  # noqa: E402

PATTERNS = [(0, 1, 2, 3), (0, 0, 1, 2), (0, 1, 1, 2), (0, 1, 2, 2), (0, 0, 1, 1),
            (0, 0, 0, 1), (0, 1, 1, 1), (0, 0, 0, 0)]


# --------------------------------------------------------------------------- symbolic
def sign_representation() -> bool:
    """E_ξ[sign(z + ξ)] = P(ξ > −z) − P(ξ < −z) = 1 − 2Φ(−z) = erf(z/√2)."""
    z = sp.symbols("z", real=True)
    Phi = lambda x: (1 + sp.erf(x / sp.sqrt(2))) / 2
    return sp.simplify(1 - 2 * Phi(-z) - sp.erf(z / sp.sqrt(2))) == 0


# correlations of the four positions; l = 3 is the scaled one
r01, r02, r03, r12, r13, r23, t = sp.symbols("r01 r02 r03 r12 r13 r23 t", real=True)
R_SYM = {(0, 1): r01, (0, 2): r02, (0, 3): r03, (1, 2): r12, (1, 3): r13, (2, 3): r23}


def _r(i, j):
    return 1 if i == j else R_SYM[(min(i, j), max(i, j))]


def _kernel_coefficients(p, q, r, l=3):
    """The kernel's forms (fourpoint._coef), typed again from the docstring of the
    kernel module: det2·S_qq = α_qq + t²β_qq, ... with a = r_pl."""
    a = _r(p, l)
    s = t**2
    qq = (1 - _r(q, p) ** 2) + s * (-a * a + 2 * a * _r(q, p) * _r(q, l) - _r(q, l) ** 2)
    rr = (1 - _r(r, p) ** 2) + s * (-a * a + 2 * a * _r(r, p) * _r(r, l) - _r(r, l) ** 2)
    qr = (_r(q, r) - _r(q, p) * _r(r, p)) + s * (
        -a * a * _r(q, r) + a * (_r(q, p) * _r(r, l) + _r(q, l) * _r(r, p))
        - _r(q, l) * _r(r, l))
    return qq, rr, qr


def path_integrand_is_i4() -> bool:
    """Each Price term equals C_pl · I4(C(t); p, l, q, r) with the spec's I4 closed form.

    (i) In correlation units (Σ_ii = 1) the Λ's of I4 at the path covariance are the
    kernel's polynomials in t: Λ4 = 1 − t²r_pl², Λ0 = α_qr + t²β_qr, Λ1 = α_qq + t²β_qq,
    Λ2 = α_rr + t²β_rr. (ii) For general variances Σ_ii = σ_i² the Λ's scale by powers of
    σ, so the arcsine argument and C_pl/√Λ4 are those of the correlations (F4 of signs is
    scale invariant). (iii) The conditional covariance computed from the 4×4 path
    matrix by a Schur complement is the same polynomial (the derivation of α, β)."""
    ok = True
    sig = sp.symbols("s0:4", positive=True)
    for p in range(3):
        q, r = [i for i in range(3) if i != p]
        l = 3

        def corr(i, j, l=l):  # path correlation: row l scaled by t
            return _r(i, j) * (t if (l in (i, j) and i != j) else 1)

        # (i) correlation units: C_ii = Σ_ii − 1 = 0
        lam4, lam0, lam1, lam2 = I4_lambdas(0, 0, 0, 0, corr(p, l), corr(p, q), corr(p, r),
                                            corr(l, q), corr(l, r), corr(q, r))
        qq, rr, qr = _kernel_coefficients(p, q, r)
        ok &= sp.expand(lam4 - (1 - t**2 * _r(p, l) ** 2)) == 0
        ok &= sp.expand(lam0 - qr) == 0
        ok &= sp.expand(lam1 - qq) == 0
        ok &= sp.expand(lam2 - rr) == 0
        # (ii) general variances: C_ii = σ_i² − 1, C_ij = σ_i σ_j r_ij(t)
        cov = lambda i, j: sig[i] * sig[j] * corr(i, j) - (1 if i == j else 0)
        L4, L0, L1, L2 = I4_lambdas(cov(p, p), cov(l, l), cov(q, q), cov(r, r), cov(p, l),
                                    cov(p, q), cov(p, r), cov(l, q), cov(l, r), cov(q, r))
        f = (sig[p] * sig[l]) ** 2
        ok &= sp.expand(L4 - f * lam4) == 0
        ok &= sp.expand(L0 - f * sig[q] * sig[r] * lam0) == 0
        ok &= sp.expand(L1 - f * sig[q] ** 2 * lam1) == 0
        ok &= sp.expand(L2 - f * sig[r] ** 2 * lam2) == 0
        # (iii) Schur complement of (y_p, y_l) in the path matrix, times det2
        A = sp.Matrix([[1, corr(p, l)], [corr(p, l), 1]])
        B = sp.Matrix([[corr(q, p), corr(q, l)], [corr(r, p), corr(r, l)]])
        S = sp.Matrix([[1, corr(q, r)], [corr(q, r), 1]]) - B * A.inv() * B.T
        det2 = A.det()
        ok &= sp.simplify(S[0, 1] * det2 - qr) == 0
        ok &= sp.simplify(S[0, 0] * det2 - qq) == 0
        ok &= sp.simplify(S[1, 1] * det2 - rr) == 0
    return bool(ok)


def _integrand_sym(tt):
    expr = 0
    for p in range(3):
        q, r = [i for i in range(3) if i != p]
        qq, rr, qr = (e.subs(t, tt) for e in _kernel_coefficients(p, q, r))
        a = _r(p, 3)
        expr += a / sp.sqrt(1 - tt**2 * a**2) * sp.asin(qr / sp.sqrt(qq * rr))
    return expr


def integrand_is_even() -> bool:
    """dF4/dt(−t) = dF4/dt(t): y_l → −y_l maps the path at t to the path at −t."""
    return sp.simplify(_integrand_sym(-t) - _integrand_sym(t)) == 0


def substitution() -> bool:
    """t = 2u/(R(1+u²)): t(W) = 1 for W = R/(1+√(1−R²)), 1 − R²t² = ((1−u²)/(1+u²))², and
    dt/du = 2(1−u²)/(R(1+u²)²) (the kernel's weight, with c = W/R)."""
    u, R = sp.symbols("u R", positive=True)
    tt = 2 * u / (R * (1 + u**2))
    W = R / (1 + sp.sqrt(1 - R**2))
    ok = sp.simplify(tt.subs(u, W) - 1) == 0
    ok &= sp.simplify(1 - R**2 * tt**2 - ((1 - u**2) / (1 + u**2)) ** 2) == 0
    ok &= sp.simplify(sp.diff(tt, u) - 2 * (1 - u**2) / (R * (1 + u**2) ** 2)) == 0
    # the kernel's node map: u = W x, t = 2 c x/(1 + W²x²), weight 2c(1−u²)/(1+u²)², c=W/R
    x = sp.symbols("x", positive=True)
    c = W / R
    ok &= sp.simplify(tt.subs(u, W * x) - 2 * c * x / (1 + W**2 * x**2)) == 0
    ok &= sp.simplify(sp.diff(tt.subs(u, W * x), x)
                      - 2 * c * (1 - W**2 * x**2) / (1 + W**2 * x**2) ** 2) == 0
    return bool(ok)


def sigma_is_pd(seed: int = 0) -> bool:
    """Σ = C_sub + I with C_sub the 4×4 position covariance (a Gram matrix, PSD, also with
    repeated indices): λ_min(Σ) ≥ 1. Checked at random, also rank-1, covariances; along
    the one-row path Σ(t) is a convex combination of Σ and blockdiag(Σ_{-l}, Σ_ll), both
    ⪰ I, so Σ(t) ⪰ I for t ∈ [0, 1]."""
    rng = np.random.default_rng(seed)
    ok = True
    for k in range(20):
        A = rng.standard_normal((4, 1 if k % 2 else 4))
        C = A @ A.T * rng.uniform(0.1, 50)
        for q in PATTERNS:
            S = C[np.ix_(q, q)] + np.eye(4)
            ok &= np.linalg.eigvalsh(S).min() >= 1 - 1e-9 * np.abs(S).max()
            for tt in (0.0, 0.3, 0.9):
                St = S.copy()
                St[3, :3] *= tt
                St[:3, 3] *= tt
                ok &= np.linalg.eigvalsh(St).min() >= 1 - 1e-9 * np.abs(S).max()
    return bool(ok)


def isserlis_linear() -> bool:
    """g(z) = z: F4 = C_ab C_cd + C_ac C_bd + C_ad C_bc for every index pattern (from the
    moment generating function exp(½ tᵀCt)) and the kernel's linear branch."""
    ts = sp.symbols("t0:4")
    C = sp.Matrix(4, 4, lambda i, j: sp.Symbol(f"C{min(i, j)}{max(i, j)}"))
    tv = sp.Matrix(ts)
    mgf = sp.exp((tv.T * C * tv)[0] / 2)
    zero = {x: 0 for x in ts}
    ok = True
    for q in PATTERNS + [(2, 3, 3, 1)]:
        m = sp.diff(mgf, *[ts[i] for i in q]).subs(zero)
        a, b, c, d = q
        ok &= sp.expand(m - (C[a, b] * C[c, d] + C[a, c] * C[b, d] + C[a, d] * C[b, c])) == 0
    rng = np.random.default_rng(5)
    A = rng.standard_normal((4, 6))
    Cn = A @ A.T / 6
    T = fp.F4(Cn, "linear")
    for q in itertools.product(range(4), repeat=4):
        a, b, c, d = q
        ok &= abs(T[q] - (Cn[a, b] * Cn[c, d] + Cn[a, c] * Cn[b, d] + Cn[a, d] * Cn[b, c])) \
            < 1e-15
    return bool(ok)


# --------------------------------------------------------------------------- references
@functools.cache
def _gl(n: int):
    return leggauss(n)


@functools.cache
def _half(m: int):
    """Positive nodes and weights of the symmetric 2m-point Gauss–Legendre rule."""
    xg, wg = leggauss(2 * m)
    return np.ascontiguousarray(xg[m:]), np.ascontiguousarray(wg[m:])


def _phi2(h, k, rho):
    """Bivariate normal CDF Φ2(h, k; ρ) by Owen's T function (Owen 1956)."""
    s = np.sqrt(1 - rho * rho)
    ah = (k - rho * h) / (h * s)
    ak = (h - rho * k) / (k * s)
    beta = np.where((h * k > 0) | ((h * k == 0) & (h + k >= 0)), 0.0, 0.5)
    return 0.5 * norm.cdf(h) + 0.5 * norm.cdf(k) - owens_t(h, ah) - owens_t(k, ak) - beta


def conditional_reference(C, q, h: float = 0.1, L: float = 9.0) -> float:
    """F4 = E_out[g(z_q0) g(z_q1) · E[g(z_q2) g(z_q3) | z_out]], independent of the path.

    Given the outer fields (one or two distinct fields of positions 0, 1), the inner pair is
    Gaussian with mean μ and covariance S; with the sign representation
    E[g g | z_out] = E[sign(w_2) sign(w_3)], w ~ N(μ, S + I), which is
    4Φ2(h,k;ρ) − 2Φ(h) − 2Φ(k) + 1 (h, k the standardised means) in closed form (Owen's T).
    The outer expectation is a trapezoid rule in whitened coordinates (spectrally accurate:
    the integrand is analytic); the grid is shifted off the origin, where h = k = 0."""
    C = np.asarray(C, float)
    outer = sorted(set(q[:2]))
    Coo = C[np.ix_(outer, outer)]
    ev, U = np.linalg.eigh(Coo)
    Lm = U * np.sqrt(np.clip(ev, 0, None))
    x = np.arange(-L, L + h / 2, h) + h * 0.3819660112501051  # golden shift
    grids = np.meshgrid(*([x] * len(outer)), indexing="ij")
    X = np.stack([g.ravel() for g in grids], -1)
    W = np.prod(np.exp(-X**2 / 2) / np.sqrt(2 * np.pi) * h, axis=1)
    Z = X @ Lm.T  # outer fields
    g_out = erf(Z / np.sqrt(2))
    f_out = g_out[:, outer.index(q[0])] * g_out[:, outer.index(q[1])]
    inner = list(q[2:])
    Cio = C[np.ix_(inner, outer)]
    K = Cio @ np.linalg.pinv(Coo)
    mu = Z @ K.T
    S = C[np.ix_(inner, inner)] - K @ Cio.T + np.eye(2)
    s1, s2 = np.sqrt(S[0, 0]), np.sqrt(S[1, 1])
    rho = S[0, 1] / (s1 * s2)
    hh, kk = mu[:, 0] / s1, mu[:, 1] / s2
    inner_mean = 4 * _phi2(hh, kk, rho) - 2 * norm.cdf(hh) - 2 * norm.cdf(kk) + 1
    return float(np.sum(W * f_out * inner_mean))


def _sigma(C, q):
    return np.asarray(C, float)[np.ix_(q, q)] + np.eye(4)


def _pair_term(St, S, i, j):
    """S_ij · E[∂_i∂_j Π sign] at the path covariance St (numpy Schur complement)."""
    k, l = [m for m in range(4) if m not in (i, j)]
    A = St[np.ix_([i, j], [i, j])]
    B = St[np.ix_([k, l], [i, j])]
    Sc = St[np.ix_([k, l], [k, l])] - B @ np.linalg.solve(A, B.T)
    x = np.clip(Sc[0, 1] / np.sqrt(Sc[0, 0] * Sc[1, 1]), -1, 1)
    return 4 / np.pi**2 * S[i, j] / np.sqrt(np.linalg.det(A)) * np.arcsin(x)


def path_diagonal(C, q, n: int) -> float:
    """A different Price path: Σ(t) = D + t(Σ − D) from the diagonal (F4 = 0 at t = 0,
    all six pair terms, no symmetry merging), n-point Gauss–Legendre on [0, 1]."""
    S = _sigma(C, q)
    D = np.diag(np.diag(S))
    xg, wg = _gl(n)
    tot = 0.0
    for xk, wk in zip(xg, wg, strict=True):
        St = D + (xk + 1) / 2 * (S - D)
        tot += wk / 2 * sum(_pair_term(St, S, i, j)
                            for i, j in itertools.combinations(range(4), 2))
    return tot


def _best_l(S):
    d = np.sqrt(np.diag(S))
    Rm = S / np.outer(d, d)
    R2 = 1 - 1 / np.diag(np.linalg.inv(Rm))
    return int(np.argmin(R2))


def path_row_plain(C, q, m: int) -> float:
    """One-row path (the kernel's) without the substitution: t itself on the symmetric
    2m-point rule (m evaluations), position l = argmin R, three pair terms."""
    S = _sigma(C, q)
    l = _best_l(S)
    tot = 0.0
    for xk, wk in zip(*_half(m), strict=True):
        St = S.copy()
        St[l, :] *= xk
        St[:, l] *= xk
        St[l, l] = S[l, l]
        tot += wk * sum(_pair_term(St, S, p, l) for p in range(4) if p != l)
    return tot


def path_mp(C, q, dps: int = 30):
    """mpmath: the one-row Price path in t (no substitution), tanh-sinh quadrature."""
    with mp.workdps(dps):
        S = mp.matrix(_sigma(C, q).tolist())
        l = _best_l(_sigma(C, q))

        def f(tt):
            St = S.copy()
            for i in range(4):
                if i != l:
                    St[i, l] *= tt
                    St[l, i] *= tt
            tot = mp.mpf(0)
            for p in range(4):
                if p == l:
                    continue
                k, r = [m for m in range(4) if m not in (p, l)]
                A = mp.matrix([[St[p, p], St[p, l]], [St[l, p], St[l, l]]])
                B = mp.matrix([[St[k, p], St[k, l]], [St[r, p], St[r, l]]])
                Sc = mp.matrix([[St[k, k], St[k, r]], [St[r, k], St[r, r]]]) \
                    - B * mp.inverse(A) * B.T
                x = Sc[0, 1] / mp.sqrt(Sc[0, 0] * Sc[1, 1])
                tot += 4 / mp.pi**2 * S[p, l] / mp.sqrt(mp.det(A)) * mp.asin(x)
            return tot

        return mp.quad(f, [0, 1])


def kernel(C, q, m: int | None = None) -> float:
    C = np.ascontiguousarray(C, float)
    if m is None:
        return fp.f4(C, *q, 0)
    return fp.f4_nodes(C, *q, 0, *_half(m))


def random_cov(rng, kind: str) -> np.ndarray:
    """4×4 covariances: 'weak' (variances 0.1..1, z-correlations up to 0.5),
    'moderate' (variances 0.1..3, correlations up to 0.99),
    'strong' (variances 1..10, near rank one, correlations up to 0.999), 'wide' (the
    calibration family: variances 0.01..1000, correlations up to 1 − 1e-6)."""
    n = 4
    if kind == "weak":  # y-correlations below ~0.4
        A = rng.standard_normal((n, n + 1))
        R = A @ A.T
        v = rng.uniform(0.1, 1.0, n)
        rho = 0.5
    elif kind == "moderate":
        A = rng.standard_normal((n, n + 1))
        R = A @ A.T
        v = rng.uniform(0.1, 3.0, n)
        rho = rng.uniform(0.5, 0.99)
    elif kind == "strong":
        u = rng.standard_normal(n)
        A = rng.standard_normal((n, n))
        R = np.outer(u, u) * rng.uniform(2, 20) + 0.1 * A @ A.T
        v = rng.uniform(1.0, 10.0, n)
        rho = rng.uniform(0.9, 0.999)
    else:
        u = rng.standard_normal(n)
        A = rng.standard_normal((n, n + rng.integers(0, 4)))
        if rng.uniform() < 0.4:
            R = A @ A.T
        else:
            R = np.outer(u, u) * rng.uniform(0, 20) + 0.1 * A @ A.T
        rho = 1 - 10 ** rng.uniform(-6, 0)
        if rng.uniform() < 0.5:
            v = 10 ** rng.uniform(-2, 3, n)
        else:
            v = np.full(n, 10 ** rng.uniform(-2, 3))
    d = np.sqrt(np.diag(R))
    R = rho * R / np.outer(d, d) + (1 - rho) * np.eye(n)
    return R * np.sqrt(np.outer(v, v))


# --------------------------------------------------------------------------- checks
def check_references(quick: bool, verbose: bool) -> dict[str, float]:
    """Worst disagreements of the kernel (adaptive rule) with each reference."""
    rng = np.random.default_rng(11)
    worst = {"conditional (Owen T)": 0.0, "diagonal path": 0.0, "mpmath": 0.0,
             "conditional h vs h/2": 0.0}
    n_cov = 2 if quick else 5
    for kind in ("moderate", "strong"):
        for _ in range(n_cov):
            C = random_cov(rng, kind)
            for q in PATTERNS:
                k = kernel(C, q)
                h = 0.1 if kind == "moderate" else 0.06
                ref = conditional_reference(C, q, h=h)
                worst["conditional (Owen T)"] = max(worst["conditional (Owen T)"], abs(k - ref))
                worst["diagonal path"] = max(worst["diagonal path"],
                                             abs(k - path_diagonal(C, q, 200)))
                if not quick:
                    ref2 = conditional_reference(C, q, h=h / 2)
                    worst["conditional h vs h/2"] = max(worst["conditional h vs h/2"],
                                                        abs(ref - ref2))
        C = random_cov(rng, kind)
        for q in PATTERNS[:: 3 if quick else 1]:
            worst["mpmath"] = max(worst["mpmath"], abs(kernel(C, q) - float(path_mp(C, q))))
    if verbose:
        for k, v in worst.items():
            print(f"    |kernel − {k}|  max {v:.1e}")
    return worst


def exact_values() -> tuple[float, float]:
    """Worst error against exact values: F4 = 1/5 when all y-correlations are 1/2
    (E[erf(z/√2)^4] = 1/5 for z ~ N(0, 1); distinct fields with C_ii = v, C_ij = (1+v)/2);
    block-diagonal C ⇒ F4 = I2·I2; C → εC ⇒ F4/ε² → (2/π)² Isserlis (relative O(ε)).
    Returns (worst absolute error of the exact values, worst relative error of the
    small-variance limit at ε = 1e-8, where the O(ε) correction is ~1e-7)."""
    worst = abs(kernel(np.eye(4), (0, 0, 0, 0)) - 0.2)
    for v in (1.0, 2.0, 7.0):
        C = np.full((4, 4), (1 + v) / 2) + np.eye(4) * (v - (1 + v) / 2)
        worst = max(worst, abs(kernel(C, (0, 1, 2, 3)) - 0.2))
        C2 = np.full((2, 2), (1 + v) / 2) + np.eye(2) * (v - (1 + v) / 2)
        for q in ((0, 0, 1, 1), (0, 1, 1, 1)):
            # two copies of one field: correlation v/(1+v) = 1/2 only at v = 1
            if v == 1.0:
                worst = max(worst, abs(kernel(C2, q) - 0.2))
    rng = np.random.default_rng(3)
    for _ in range(5):
        A = rng.standard_normal((2, 3))
        B = rng.standard_normal((2, 3))
        C = np.zeros((4, 4))
        C[:2, :2] = A @ A.T * rng.uniform(0.2, 3)
        C[2:, 2:] = B @ B.T * rng.uniform(0.2, 3)
        i2 = I2(C)
        for q, pr in (((0, 1, 2, 3), i2[0, 1] * i2[2, 3]), ((0, 0, 2, 3), i2[0, 0] * i2[2, 3]),
                      ((0, 0, 3, 3), i2[0, 0] * i2[3, 3]), ((1, 1, 1, 2), None)):
            if pr is not None:
                worst = max(worst, abs(kernel(C, q) - pr))
        # F4(1,1,1,2) with 2 independent of 1: zero (odd in z_2)
        worst = max(worst, abs(kernel(C, (1, 1, 1, 2))))
    rel = 0.0
    for _ in range(5):
        A = rng.standard_normal((4, 5))
        Cs4 = (A @ A.T / 5 + 0.2 * np.eye(4)) * 1e-8
        for q in PATTERNS:
            a, b, c, d = q
            iss = Cs4[a, b] * Cs4[c, d] + Cs4[a, c] * Cs4[b, d] + Cs4[a, d] * Cs4[b, c]
            rel = max(rel, abs(kernel(Cs4, q) / ((2 / np.pi) ** 2 * iss) - 1))
    return worst, rel


def _samples(n, seed, kinds=("wide",)):
    rng = np.random.default_rng(seed)
    for i in range(n):
        C = random_cov(rng, kinds[i % len(kinds)])
        yield C, PATTERNS[rng.integers(0, len(PATTERNS))]


def convergence_table(n_samples: int, verbose: bool) -> dict:
    """Max |error| against the 256-node kernel (verified against the references above),
    binned by R (multiple correlation of the scaled position), for: A the diagonal path
    (n nodes on [0, 1], 6 terms per node), B the one-row path in t (m evaluations of 3
    terms), S the one-row path with the substitution (the kernel, m evaluations)."""
    ns = (2, 3, 4, 5, 6, 8, 10, 12, 16, 24, 32)
    edges = (0.0, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)
    rows = []
    for C, q in _samples(n_samples, 21, kinds=("moderate", "strong")):
        ref = kernel(C, q, 256)
        R = np.sqrt(max(fp.f4_path_r2(np.ascontiguousarray(C), *q), 0.0))
        rows.append((R, [abs(path_diagonal(C, q, n) - ref) for n in ns],
                     [abs(path_row_plain(C, q, n) - ref) for n in ns],
                     [abs(kernel(C, q, n) - ref) for n in ns]))
    weak = []
    for C, q in _samples(max(n_samples // 4, 10), 22, kinds=("weak",)):
        ref = kernel(C, q, 256)
        weak.append(([abs(path_diagonal(C, q, n) - ref) for n in ns],
                     [abs(kernel(C, q, n) - ref) for n in ns]))
    table = {}
    if verbose:
        print(f"    weakly correlated fields ({len(weak)} samples, y-correlations ≲ 0.4): "
              "max |error|")
        print("      nodes             " + " ".join(f"{n:>7d}" for n in ns))
        for name, col in (("A diagonal path  ", 0), ("S kernel (subst.)", 1)):
            errs = np.max([w[col] for w in weak], axis=0)
            print(f"      {name}  " + " ".join(f"{e:7.0e}" for e in errs))
    for name, col in (("A diagonal path, n nodes", 1), ("B one-row path, m nodes", 2),
                      ("S one-row + substitution (kernel), m nodes", 3)):
        if verbose:
            print(f"    {name}: max |error| by R")
            print("      R bin        N  " + " ".join(f"{n:>7d}" for n in ns))
        for lo, hi in zip(edges[:-1], edges[1:], strict=True):
            sel = [r for r in rows if lo <= r[0] < hi]
            if not sel:
                continue
            errs = np.max([r[col] for r in sel], axis=0)
            table[(name, lo)] = dict(zip(ns, errs, strict=True))
            if verbose:
                print(f"      [{lo:.2f},{hi:.2f}) {len(sel):4d}  "
                      + " ".join(f"{e:7.0e}" for e in errs))
    return table


def check_rule(n_samples: int, verbose: bool) -> tuple[float, float, list]:
    """Calibration of the adaptive rule: for each RULE_NODES[i], the worst error over the
    samples with R² ≤ RULE_R2_MAX[i] (must be ≤ 1e-13), the measured R² at which that node
    count first exceeds 1e-13, and the worst error of the adaptive kernel. Reference: the
    256-node kernel (192 vs 256 nodes agree to ~1e-14 in this family)."""
    data = []
    for C, q in _samples(n_samples, 31):
        C = np.ascontiguousarray(C)
        ref = kernel(C, q, 256)
        R2 = fp.f4_path_r2(C, *q)
        errs = [abs(kernel(C, q, int(m)) - ref) for m in fp.RULE_NODES]
        data.append((R2, abs(kernel(C, q, 192) - ref), errs, abs(kernel(C, q) - ref)))
    data.sort(key=lambda r: r[0])
    R2s = np.array([r[0] for r in data])
    E = np.array([r[2] for r in data])
    floor = np.array([r[1] for r in data])
    worst_in_rule = 0.0
    firsts = []
    lo = -np.inf
    for i in range(len(fp.RULE_NODES)):
        sel = (R2s > lo) & (R2s <= fp.RULE_R2_MAX[i])
        if sel.any():
            worst_in_rule = max(worst_in_rule, E[sel, i].max())
        bad = np.nonzero(E[:, i] > np.maximum(1e-13, 3 * floor))[0]
        firsts.append(R2s[bad[0]] if len(bad) else np.nan)
        lo = fp.RULE_R2_MAX[i]
    adaptive = max(r[3] for r in data)
    if verbose:
        print("    rule: m, R² threshold, measured R² where m first exceeds 1e-13")
        for m, thr, f in zip(fp.RULE_NODES, fp.RULE_R2_MAX, firsts, strict=True):
            print(f"      m={m:3d}  R2_max={thr:<7g} first failure at R2={f:.5f}")
        print(f"    worst error inside the rule {worst_in_rule:.1e}; adaptive kernel "
              f"{adaptive:.1e}; reference 192 vs 256 nodes {floor.max():.1e}; "
              f"{len(data)} samples, max R² {R2s.max():.5f}")
    return worst_in_rule, adaptive, firsts


def asin_accuracy(n: int = 20000) -> float:
    """Max relative error of the kernel's branch-free polynomial arcsine (mpmath)."""
    rng = np.random.default_rng(0)
    xs = np.concatenate([rng.uniform(-1, 1, n), 1 - 10 ** rng.uniform(-16, 0, n // 10),
                         [0.0, 0.5, -0.5, 1.0, -1.0, 0.49999999999, 0.5000000001, 1e-300]])
    worst = 0.0
    for x in xs:
        ex = mp.asin(mp.mpf(float(x)))
        if ex != 0:
            worst = max(worst, float(abs((fp._asin(float(x)) - ex) / ex)))
    return worst


def check_table(verbose: bool) -> bool:
    """The table kernel: symmetric under all permutations, equal to the scalar kernel, the
    n_lambda restriction leaves other entries untouched, distinct counts C(n+3, 4)."""
    rng = np.random.default_rng(9)
    A = rng.standard_normal((6, 8))
    C = A @ A.T / 8
    T = fp.F4(C)
    ok = True
    for perm in itertools.permutations(range(4)):
        ok &= np.array_equal(T, T.transpose(perm))
    for q in itertools.product(range(6), repeat=4):
        ok &= abs(T[q] - fp.f4(C, *q, 0)) < 1e-14
    out = np.full((6, 6, 6, 6), 7.0)
    fp.f4_tensor_lambda(C, 6, 3, 0, out, np.empty(fp.f4_scratch_size(6)))
    for q in itertools.product(range(6), repeat=4):
        ok &= out[q] == (T[q] if sum(i < 3 for i in q) >= 2 else 7.0)
    ok &= fp.f4_distinct_count(6) == 126 and fp.f4_distinct_count(6, 3) == 81
    return bool(ok)


# --------------------------------------------------------------------------- main
REF_TOL = 1e-10  # the requirement; the measured agreements are ~1e-13 (printed)
EXACT_TOL = 1e-12


def run_all(verbose: bool = True, quick: bool = False) -> dict[str, bool]:
    results: dict[str, bool] = {}

    def record(name, ok, extra=""):
        results[name] = bool(ok)
        if verbose:
            print(f"[{'ok' if ok else 'FAIL'}] {name} {extra}")

    t0 = time.perf_counter()
    record("erf(z/√2) = E_ξ sign(z + ξ)", sign_representation())
    record("Price term = C_pl · I4 closed form at the path covariance (sympy)",
           path_integrand_is_i4())
    record("integrand even in t (sympy)", integrand_is_even())
    record("substitution t = 2u/(R(1+u²)) (sympy)", substitution())
    record("Σ = C_sub + I ⪰ I, also on the path", sigma_is_pd())
    record("linear activation: Isserlis (MGF) and the kernel", isserlis_linear())
    worst = check_references(quick, verbose)
    for name, v in worst.items():
        record(f"kernel vs {name}", v < REF_TOL, f"max {v:.1e}")
    err, rel = exact_values()
    record("exact values (1/5 at correlations 1/2; I2·I2 for independent blocks)",
           err < EXACT_TOL, f"max {err:.1e}")
    record("small variances: F4 → (2/π)² Isserlis (ε = 1e-8)", rel < 1e-6,
           f"max rel {rel:.1e}")
    err = asin_accuracy(2000 if quick else 20000)
    record("polynomial arcsine vs mpmath", err < 5e-16, f"max rel {err:.1e}")
    record("table kernel: permutations, scalar, n_lambda, counts", check_table(verbose))
    convergence_table(40 if quick else 400, verbose)
    in_rule, adaptive, _ = check_rule(500 if quick else 6000, verbose)
    record("adaptive rule: error ≤ 1e-13 inside every threshold", in_rule <= 1e-13,
           f"max {in_rule:.1e}")
    record("adaptive kernel vs 256 nodes", adaptive <= 1e-12, f"max {adaptive:.1e}")
    if verbose:
        print(f"({time.perf_counter() - t0:.0f} s)")
    return results


def main() -> int:
    results = run_all(verbose=True, quick="--quick" in sys.argv)
    failed = [k for k, v in results.items() if not v]
    if failed:
        print("FAILED:", ", ".join(failed))
        return 1
    print("all four-point checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
