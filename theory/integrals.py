"""Derive and verify the Gaussian integrals of equations.md §7 for g(z) = erf(z/√2).

Run ``python theory/integrals.py``; it prints one line per check and exits with status 1
if any check fails.  Every closed form of equations.md §7 is *derived* here from one Gaussian
integral, with sympy doing the algebra, and then compared with independent numerical
quadratures (tensor-product Gauss–Hermite at moderate variances, where it is converged to
~1e-11, and a tensor-product trapezoid rule at large variances, where Gauss–Hermite is slow
because the g'² factors are narrow Gaussians):

1. ``J2(a,b) = E[g'(z_a) g'(z_b)] = (2/π) E[exp(-|z|²/2)] = (2/π) det(I + C_ab)^{-1/2}``
   (Gaussian integral; g'(z)² ∝ exp(-z²) makes g' a Gaussian "tilt").
2. ``I2`` from Price's theorem ``∂E[f(z)]/∂C_ab = E[∂_a ∂_b f]`` (a ≠ b):
   ``∂I2/∂C_ab = J2`` and ``I2 = 0`` at ``C_ab = 0`` (g odd) ⇒ ``I2 = (2/π) asin(...)``.
3. ``I3`` from Stein's lemma ``E[z_b h(z)] = Σ_j C_bj E[∂_j h]`` with
   ``h = g'(z_a) g(z_c)``: ``I3 = C_ab E[g''(z_a) g(z_c)] + C_bc E[g'(z_a) g'(z_c)]``, and
   the diagonal Price theorem ``∂E[f]/∂C_aa = ½ E[∂_a² f]`` gives
   ``E[g''(z_a) g(z_c)] = 2 ∂I2(a,c)/∂C_aa``, so ``I3 = 2 C_ab ∂_{C_aa} I2 + C_bc ∂_{C_ac} I2``.
4. ``I4``: the factor ``g'(z_a) g'(z_b) = (2/π) exp(-(z_a² + z_b²)/2)`` tilts the Gaussian;
   ``E[exp(-|z_A|²/2) h(z_B)] = det(I + C_AA)^{-1/2} E'[h(z_B)]`` where under E' the fields
   ``z_B`` have covariance ``C' = C_BB − C_BA (I + C_AA)^{-1} C_AB`` (Schur complement), so
   ``I4 = (2/π) Λ4^{-1/2} I2(C')`` and ``Λ0 = Λ4 C'_cd``, ``Λ1 = Λ4 (1 + C'_cc)``, ...
5. Isserlis' theorem with non-zero mean for ``M4 = E[c_k c_l c_i c_j]``, ``c ~ N(c̄, S)``,
   from the moment generating function.
6. The linear activation ``g(z) = z``: ``I2 = C_ab``, ``I3 = C_bc``, ``I4 = C_cd``, ``J2 = 1``.

The closed forms are written out again below (``*_spec``) exactly as the package states
them, so the derivations are checked against the text the package implements.
"""

from __future__ import annotations

import itertools
import sys

import numpy as np
import sympy as sp
from numpy.polynomial.hermite_e import hermegauss
from scipy.special import erf

PI = sp.pi

# --------------------------------------------------------------------------- spec forms
# Symbols: c_xy = C_xy (covariance entries of the fields z_a, z_b, z_c, z_d).
caa, cbb, ccc, cdd = sp.symbols("c_aa c_bb c_cc c_dd", positive=True)
cab, cac, cad, cbc, cbd, ccd = sp.symbols("c_ab c_ac c_ad c_bc c_bd c_cd", real=True)


def I2_spec(Caa, Cbb, Cab):
    return 2 / PI * sp.asin(Cab / sp.sqrt((1 + Caa) * (1 + Cbb)))


def J2_spec(Caa, Cbb, Cab):
    return 2 / PI / sp.sqrt((1 + Caa) * (1 + Cbb) - Cab**2)


def I3_spec(Caa, Ccc, Cab, Cac, Cbc):
    lam3 = (1 + Caa) * (1 + Ccc) - Cac**2
    return 2 / PI * (Cbc * (1 + Caa) - Cab * Cac) / ((1 + Caa) * sp.sqrt(lam3))


def I4_lambdas(Caa, Cbb, Ccc, Cdd, Cab, Cac, Cad, Cbc, Cbd, Ccd):
    lam4 = (1 + Caa) * (1 + Cbb) - Cab**2
    lam0 = (
        lam4 * Ccd
        - Cbc * Cbd * (1 + Caa)
        - Cac * Cad * (1 + Cbb)
        + Cab * Cac * Cbd
        + Cab * Cad * Cbc
    )
    lam1 = lam4 * (1 + Ccc) - Cbc**2 * (1 + Caa) - Cac**2 * (1 + Cbb) + 2 * Cab * Cac * Cbc
    lam2 = lam4 * (1 + Cdd) - Cbd**2 * (1 + Caa) - Cad**2 * (1 + Cbb) + 2 * Cab * Cad * Cbd
    return lam4, lam0, lam1, lam2


def I4_spec(*entries):
    lam4, lam0, lam1, lam2 = I4_lambdas(*entries)
    return 4 / PI**2 / sp.sqrt(lam4) * sp.asin(lam0 / sp.sqrt(lam1 * lam2))


# --------------------------------------------------------------------------- derivations
def _is_zero(expr, subs_points=8, seed=0) -> bool:
    """Symbolic zero test: sympy simplification, backed by exact-ish evaluation at random
    points (50 digits) when simplify cannot close the case."""
    expr = sp.simplify(expr)
    if expr == 0:
        return True
    rng = np.random.default_rng(seed)
    syms = sorted(expr.free_symbols, key=str)
    for _ in range(subs_points):
        # a random point of the positive-definite cone: variances (the positive symbols
        # c_aa, ...) in [1, 2], covariances in [-0.3, 0.3] (diagonally dominant 4×4)
        vals = {
            s: sp.Rational(int(rng.integers(100, 200)), 100) if s.is_positive
            else sp.Rational(int(rng.integers(-30, 31)), 100)
            for s in syms
        }
        v = sp.N(expr.subs(vals), 50)
        if abs(complex(v)) > 1e-40:
            return False
    return True


def derive_J2() -> bool:
    """E[exp(-½ zᵀz)] = det(C)^{-1/2} det(C^{-1} + I)^{-1/2} = det(I + C)^{-1/2}."""
    C = sp.Matrix([[caa, cab], [cab, cbb]])
    # Gaussian integral: ∫ exp(-½ zᵀ P z) dz = 2π det(P)^{-1/2}, P = C^{-1} + I
    P = C.inv() + sp.eye(2)
    expectation = 1 / sp.sqrt(C.det()) / sp.sqrt(sp.simplify(P.det()))
    ok1 = _is_zero(sp.simplify(C.det() * P.det() - (sp.eye(2) + C).det()))
    ok2 = _is_zero(2 / PI * expectation - J2_spec(caa, cbb, cab))
    # the 1-d Gaussian integral the formula rests on, done by sympy
    p, z = sp.symbols("p z", positive=True)
    ok3 = sp.simplify(sp.integrate(sp.exp(-p * z**2 / 2), (z, -sp.oo, sp.oo))
                      - sp.sqrt(2 * PI / p)) == 0
    return ok1 and ok2 and ok3


def derive_I2() -> bool:
    """Price: ∂I2/∂C_ab = J2, I2(C_ab = 0) = 0 ⇒ I2 = ∫_0^{C_ab} J2 dC_ab."""
    x = sp.symbols("x", real=True)
    A = sp.symbols("A", positive=True)  # A = (1 + C_aa)(1 + C_bb)
    integral = sp.integrate(2 / PI / sp.sqrt(A - x**2), (x, 0, cab))
    integral = integral.subs(A, (1 + caa) * (1 + cbb))
    ok1 = _is_zero(integral - I2_spec(caa, cbb, cab))
    ok2 = _is_zero(sp.diff(I2_spec(caa, cbb, cab), cab) - J2_spec(caa, cbb, cab))
    return ok1 and ok2


def derive_I3() -> bool:
    """Stein + Price: I3(a,b,c) = 2 C_ab ∂I2(a,c)/∂C_aa + C_bc ∂I2(a,c)/∂C_ac."""
    i2 = I2_spec(caa, ccc, cac)
    derived = 2 * cab * sp.diff(i2, caa) + cbc * sp.diff(i2, cac)
    return _is_zero(derived - I3_spec(caa, ccc, cab, cac, cbc))


def derive_I4() -> bool:
    """Tilt by g'(z_a) g'(z_b): I4 = (2/π) det(I + C_AA)^{-1/2} I2(C'), C' = Schur compl."""
    entries = (caa, cbb, ccc, cdd, cab, cac, cad, cbc, cbd, ccd)
    C_AA = sp.Matrix([[caa, cab], [cab, cbb]])
    C_AB = sp.Matrix([[cac, cad], [cbc, cbd]])
    C_BB = sp.Matrix([[ccc, ccd], [ccd, cdd]])
    Cp = C_BB - C_AB.T * (sp.eye(2) + C_AA).inv() * C_AB
    lam4, lam0, lam1, lam2 = I4_lambdas(*entries)
    ok = _is_zero(sp.simplify((sp.eye(2) + C_AA).det() - lam4))
    ok &= _is_zero(sp.simplify(lam4 * Cp[0, 1] - lam0))
    ok &= _is_zero(sp.simplify(lam4 * (1 + Cp[0, 0]) - lam1))
    ok &= _is_zero(sp.simplify(lam4 * (1 + Cp[1, 1]) - lam2))
    # hence (2/π) Λ4^{-1/2} I2(C'_cc, C'_dd, C'_cd) = (4/π²) Λ4^{-1/2} asin(Λ0/√(Λ1Λ2))
    # (the arguments of asin agree because Λ4 > 0)
    return bool(ok)


def check_tilt_lemma(n_points: int = 5, seed: int = 1) -> bool:
    """E[exp(-½|z_A|²) h(z_B)]: joint precision C⁻¹ + diag(1_A, 0); its inverse's B block is
    the Schur complement C', and det(C)·det(C⁻¹ + E_A) = det(I + C_AA) (checked at random
    4×4 covariances to 1e-12; the identity is exact linear algebra)."""
    rng = np.random.default_rng(seed)
    for _ in range(n_points):
        A = rng.standard_normal((4, 6))
        C = A @ A.T / 6 + 0.1 * np.eye(4)
        E = np.diag([1.0, 1.0, 0.0, 0.0])
        P = np.linalg.inv(C) + E
        Cp = np.linalg.inv(P)[2:, 2:]
        schur = C[2:, 2:] - C[2:, :2] @ np.linalg.inv(np.eye(2) + C[:2, :2]) @ C[:2, 2:]
        if not np.allclose(Cp, schur, rtol=1e-12, atol=1e-12):
            return False
        if not np.isclose(np.linalg.det(C) * np.linalg.det(P),
                          np.linalg.det(np.eye(2) + C[:2, :2]), rtol=1e-12):
            return False
    return True


def isserlis_M4() -> bool:
    """E[c_k c_l c_i c_j], c ~ N(m, S): from the MGF exp(tᵀm + ½ tᵀ S t)."""
    n = 4
    t = sp.symbols("t0:4")
    m = sp.symbols("m0:4")
    S = sp.Matrix(n, n, lambda i, j: sp.Symbol(f"S{min(i, j)}{max(i, j)}"))
    tv = sp.Matrix(t)
    mgf = sp.exp((tv.T * sp.Matrix(m))[0] + (tv.T * S * tv)[0] / 2)

    def formula(k, l, i, j):
        return (
            m[k] * m[l] * m[i] * m[j]
            + m[k] * m[l] * S[i, j] + m[k] * m[i] * S[l, j] + m[k] * m[j] * S[l, i]
            + m[l] * m[i] * S[k, j] + m[l] * m[j] * S[k, i] + m[i] * m[j] * S[k, l]
            + S[k, l] * S[i, j] + S[k, i] * S[l, j] + S[k, j] * S[l, i]
        )

    zero = {ti: 0 for ti in t}
    # all index patterns up to relabelling: distinct, one pair, two pairs, triple, all equal
    for idx in [(0, 1, 2, 3), (0, 0, 1, 2), (0, 1, 0, 1), (0, 0, 0, 1), (0, 0, 0, 0),
                (2, 3, 3, 1)]:
        moment = sp.diff(mgf, *[t[i] for i in idx]).subs(zero)
        if sp.expand(moment - formula(*idx)) != 0:
            return False
    return True


def linear_forms() -> bool:
    """g(z) = z: I2 = C_ab, I3 = E[1·z_b z_c] = C_bc, I4 = E[z_c z_d] = C_cd, J2 = 1.

    Derived with the same tools: Price gives ∂I2/∂C_ab = E[1] = 1 and I2(C_ab=0) = 0;
    Stein gives I3 = C_ab·E[g''] + C_bc·E[g'g'] = C_bc since g'' = 0."""
    i2 = cab  # ∫_0^{C_ab} 1
    ok = sp.diff(i2, cab) == 1
    i3 = 2 * cab * sp.diff(cac, caa) + cbc * sp.diff(cac, cac)  # same Stein+Price recipe
    ok &= sp.simplify(i3 - cbc) == 0
    return bool(ok)


# --------------------------------------------------------------------------- quadrature
def gauss_hermite(C: np.ndarray, n: int):
    """Tensor-product Gauss–Hermite nodes z (P, d) and weights (P,) for z ~ N(0, C)."""
    d = C.shape[0]
    x, w = hermegauss(n)
    w = w / np.sqrt(2 * np.pi)
    X = np.stack(np.meshgrid(*([x] * d), indexing="ij"), -1).reshape(-1, d)
    W = np.prod(np.stack(np.meshgrid(*([w] * d), indexing="ij"), -1).reshape(-1, d), 1)
    ev, U = np.linalg.eigh(C)
    L = U * np.sqrt(np.clip(ev, 0, None))  # works for singular (repeated-index) C too
    return X @ L.T, W


def _num(expr_fn, *args):
    return np.asarray(expr_fn(*args), dtype=float)


def _np_I2(C, a, b):
    return 2 / np.pi * np.arcsin(C[a, b] / np.sqrt((1 + C[a, a]) * (1 + C[b, b])))


def _np_J2(C, a, b):
    return 2 / np.pi / np.sqrt((1 + C[a, a]) * (1 + C[b, b]) - C[a, b] ** 2)


def _np_I3(C, a, b, c):
    lam3 = (1 + C[a, a]) * (1 + C[c, c]) - C[a, c] ** 2
    return 2 / np.pi * (C[b, c] * (1 + C[a, a]) - C[a, b] * C[a, c]) / (
        (1 + C[a, a]) * np.sqrt(lam3))


def _np_I4(C, a, b, c, d):
    lam4, lam0, lam1, lam2 = I4_lambdas(C[a, a], C[b, b], C[c, c], C[d, d], C[a, b],
                                        C[a, c], C[a, d], C[b, c], C[b, d], C[c, d])
    return 4 / np.pi**2 / np.sqrt(lam4) * np.arcsin(lam0 / np.sqrt(lam1 * lam2))


def quadrature_check(seed: int = 0, n_cov: int = 2, n_nodes: int = 28,
                     verbose: bool = False) -> float:
    """Max abs difference between the spec closed forms and Gauss–Hermite quadrature over
    all index tuples (repeated indices included) of random 4×4 covariances, for erf and
    for the linear activation.  Returns the worst error."""
    rng = np.random.default_rng(seed)
    worst = 0.0
    for _ in range(n_cov):
        A = rng.standard_normal((4, 5))
        C = A @ A.T + 0.2 * np.eye(4)
        d = np.sqrt(rng.uniform(0.15, 0.5, 4) / np.diag(C))
        C = d[:, None] * C * d[None, :]  # random correlations, variances in [0.15, 0.5]
        Z, W = gauss_hermite(C, n_nodes)
        for act in ("erf", "linear"):
            if act == "erf":
                g = erf(Z / np.sqrt(2))
                gp = np.sqrt(2 / np.pi) * np.exp(-(Z**2) / 2)
            else:
                g, gp = Z, np.ones_like(Z)
            I2q = (W[:, None] * g).T @ g
            J2q = (W[:, None] * gp).T @ gp
            I3q = np.einsum("p,pa,pb,pc->abc", W, gp, Z, g, optimize=True)
            gpp = (gp[:, :, None] * gp[:, None, :]).reshape(len(W), -1)
            gg = (g[:, :, None] * g[:, None, :]).reshape(len(W), -1)
            I4q = ((W[:, None] * gpp).T @ gg).reshape(4, 4, 4, 4)
            for a, b in itertools.product(range(4), repeat=2):
                if act == "erf":
                    e2, ej = _np_I2(C, a, b), _np_J2(C, a, b)
                else:
                    e2, ej = C[a, b], 1.0
                worst = max(worst, abs(I2q[a, b] - e2), abs(J2q[a, b] - ej))
            for a, b, c in itertools.product(range(4), repeat=3):
                e3 = _np_I3(C, a, b, c) if act == "erf" else C[b, c]
                worst = max(worst, abs(I3q[a, b, c] - e3))
            for a, b, c, d in itertools.product(range(4), repeat=4):
                e4 = _np_I4(C, a, b, c, d) if act == "erf" else C[c, d]
                worst = max(worst, abs(I4q[a, b, c, d] - e4))
        if verbose:
            print(f"    quadrature: worst |closed form − quadrature| so far {worst:.2e}")
    return worst


def trapezoid_check(seed: int = 7, h: float = 0.25, L: float = 9.0) -> float:
    """Large variances (C_aa in [1, 3]), where Gauss–Hermite converges slowly: 3-d
    trapezoid rule (spectrally accurate for smooth integrands decaying on ℝ³; with
    h = 0.25 the aliasing error of the narrowest factor exp(-(C_aa+½)ξ²) is
    ~exp(-π²/(3.5 h²)) ≈ e⁻⁴⁵, the truncation at |ξ| = 9 is ~φ(9) ≈ 1e-18).  All index
    tuples over three base fields, for I2, J2, I3, I4 (erf).  Returns the worst error."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((3, 4))
    C = A @ A.T + 0.2 * np.eye(3)
    d = np.sqrt(rng.uniform(1.0, 3.0, 3) / np.diag(C))
    C = d[:, None] * C * d[None, :]
    x = np.arange(-L, L + h / 2, h)
    X = np.stack(np.meshgrid(x, x, x, indexing="ij"), -1).reshape(-1, 3)
    W = np.prod(np.exp(-(X**2) / 2) / np.sqrt(2 * np.pi) * h, axis=1)
    ev, U = np.linalg.eigh(C)
    Z = X @ (U * np.sqrt(ev)).T
    g = erf(Z / np.sqrt(2))
    gp = np.sqrt(2 / np.pi) * np.exp(-(Z**2) / 2)
    I2q = (W[:, None] * g).T @ g
    J2q = (W[:, None] * gp).T @ gp
    I3q = np.einsum("p,pa,pb,pc->abc", W, gp, Z, g, optimize=True)
    gpp = (gp[:, :, None] * gp[:, None, :]).reshape(len(W), -1)
    gg = (g[:, :, None] * g[:, None, :]).reshape(len(W), -1)
    I4q = ((W[:, None] * gpp).T @ gg).reshape(3, 3, 3, 3)
    worst = 0.0
    for a, b in itertools.product(range(3), repeat=2):
        worst = max(worst, abs(I2q[a, b] - _np_I2(C, a, b)), abs(J2q[a, b] - _np_J2(C, a, b)))
    for t in itertools.product(range(3), repeat=3):
        worst = max(worst, abs(I3q[t] - _np_I3(C, *t)))
    for t in itertools.product(range(3), repeat=4):
        worst = max(worst, abs(I4q[t] - _np_I4(C, *t)))
    return worst


def price_diagonal_check(seed: int = 3, h: float = 1e-5) -> float:
    """The diagonal Price theorem used for I3: ∂I2(a,c)/∂C_aa = ½ E[g''(z_a) g(z_c)], with
    the right side by quadrature and the left by a central difference of the closed form."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((2, 3))
    C = A @ A.T / 3 + 0.1 * np.eye(2)
    Z, W = gauss_hermite(C, 60)
    gpp = -Z[:, 0] * np.sqrt(2 / np.pi) * np.exp(-Z[:, 0] ** 2 / 2)  # g''(z) = -z g'(z)
    rhs = 0.5 * np.sum(W * gpp * erf(Z[:, 1] / np.sqrt(2)))
    Cp, Cm = C.copy(), C.copy()
    Cp[0, 0] += h
    Cm[0, 0] -= h
    lhs = (_np_I2(Cp, 0, 1) - _np_I2(Cm, 0, 1)) / (2 * h)
    return abs(lhs - rhs)


# Gauss–Hermite converges fast only for moderate variances (the g'² = exp(-z²) factors are
# narrow Gaussians that polynomials fit slowly), so quadrature_check draws variances in
# [0.15, 0.5]: there 24 (28) nodes per dimension are converged to < 4e-10 (< 2e-11), measured
# over six seeds.  Larger variances are covered by trapezoid_check.  1e-8 is far below any
# algebraic slip (a wrong sign or factor changes the values by O(1e-2)); both sides are
# real-analytic in the entries of C, and the symbolic derivations above hold for all C.
QUAD_TOL = 1e-8
# A central difference with h = 1e-5 has truncation error ~h² |f'''| ~ 1e-10 and round-off
# ~1e-16/h ~ 1e-11.
PRICE_TOL = 1e-8


def run_all(verbose: bool = True, quick: bool = False) -> dict[str, bool]:
    """Run every check; ``quick`` uses fewer quadrature points (for the test suite)."""
    results: dict[str, bool] = {}

    def record(name, ok, extra=""):
        results[name] = bool(ok)
        if verbose:
            print(f"[{'ok' if ok else 'FAIL'}] {name} {extra}")

    record("J2 from the Gaussian integral", derive_J2())
    record("I2 from Price's theorem (∫ J2 dC_ab)", derive_I2())
    record("I3 from Stein's lemma + Price", derive_I3())
    record("I4 from the Gaussian tilt (Schur complement)", derive_I4())
    record("tilt lemma (linear algebra)", check_tilt_lemma())
    record("M4 by Isserlis with non-zero mean", isserlis_M4())
    record("linear activation forms", linear_forms())
    err = price_diagonal_check()
    record("diagonal Price theorem (numerical)", err < PRICE_TOL, f"err={err:.1e}")
    err = quadrature_check(n_cov=1 if quick else 3, n_nodes=24 if quick else 28,
                           verbose=verbose and not quick)
    record("closed forms vs Gauss–Hermite quadrature (erf and linear)", err < QUAD_TOL,
           f"worst err={err:.1e}")
    err = trapezoid_check()
    record("closed forms vs trapezoid quadrature at large variances", err < QUAD_TOL,
           f"worst err={err:.1e}")
    return results


def main() -> int:
    results = run_all(verbose=True)
    failed = [k for k, v in results.items() if not v]
    if failed:
        print("FAILED:", ", ".join(failed))
        return 1
    print("all integral checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
