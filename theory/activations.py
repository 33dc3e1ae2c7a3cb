"""Symbolic checks of the ReLU closed forms of theory/activations.md.

Run: ``python theory/activations.py``.

Each formula F(C_ab) of a bivariate Gaussian expectation is proved by Price's theorem:
its derivative in the covariance C_ab equals the expectation of the next derivatives
(itself a closed form lower in the chain, ending at the bivariate density at 0), and at
C_ab = 0 it equals the product of the one-variable expectations. Also: Plackett's
identity for the trivariate orthant probability, and Stein's form of I3 for erf.
"""

from __future__ import annotations

import sympy as sp

sa, sb, c = sp.symbols("sigma_a sigma_b c", positive=True)  # c: C_ab (any sign in the end)
caa, cbb = sa**2, sb**2
det = caa * cbb - c**2
rho = c / (sa * sb)


def check(name, expr):
    ok = sp.simplify(expr) == 0
    if not ok:  # identities through inverse trig functions: 40-digit values at sample points
        free = sorted(expr.free_symbols, key=str)
        pts = [
            {s: sp.Rational(k + 3 + i, 7 + 2 * k) * (-1) ** (i * k) for i, s in enumerate(free)}
            for k in range(4)
        ]
        pts = [p for p in pts if all(v > 0 for s, v in p.items() if s.is_positive)]
        vals = [abs(sp.N(expr.subs(p), 40)) for p in pts]
        ok = bool(pts) and all(v.is_real and v < 1e-35 for v in vals)
    print(f"{'ok ' if ok else 'FAIL'} {name}")
    assert ok, name


# bivariate density at (0, 0)
phi2 = 1 / (2 * sp.pi * sp.sqrt(det))
# J2 = E[θ θ] = 1/4 + asin ρ / 2π
J2 = sp.Rational(1, 4) + sp.asin(rho) / (2 * sp.pi)
check("dJ2/dC_ab = E[δδ] = φ2(0,0)", sp.diff(J2, c) - phi2)
check("J2(C_ab=0) = 1/4", J2.subs(c, 0) - sp.Rational(1, 4))
# E[δ(z_a) relu(z_b)] = √det / (2π C_aa)
Dr = sp.sqrt(det) / (2 * sp.pi * caa)
# Price: d/dC_ab E[δ(a) relu(b)] = E[δ'(a) θ(b)]; instead check the value at 0 and the
# conditional form p_a(0) E[relu(z_b) | z_a = 0] = (1/√(2π) σ_a) · σ_{b|a}/√(2π)
cond_sd = sp.sqrt(cbb - c**2 / caa)
check(
    "E[δ(a) relu(b)] = p_a(0) E[relu | z_a = 0]",
    Dr - 1 / (sp.sqrt(2 * sp.pi) * sa) * cond_sd / sp.sqrt(2 * sp.pi),
)
# I2 = (√det + C_ab (π/2 + asin ρ)) / 2π
I2 = (sp.sqrt(det) + c * (sp.pi / 2 + sp.asin(rho))) / (2 * sp.pi)
check("dI2/dC_ab = J2 (Price)", sp.diff(I2, c) - J2)
check("I2(C_ab=0) = (E relu)^2 = σσ'/2π", I2.subs(c, 0) - sa * sb / (2 * sp.pi))
th = sp.acos(rho)
check(
    "I2 = σσ'(sin θ + (π−θ) cos θ)/2π (the 2π, not 4π/8π)",
    I2 - sa * sb * (sp.sin(th) + (sp.pi - th) * sp.cos(th)) / (2 * sp.pi),
)
check(
    "dI2/dC_aa = ½ E[δ(a) relu(b)] (Price, diagonal)",
    sp.diff(
        I2.subs(sa, sp.sqrt(sp.Symbol("A", positive=True))), sp.Symbol("A", positive=True)
    ).subs(sp.Symbol("A", positive=True), caa)
    - Dr / 2,
)
# diagonal: I2(a,a) = C_aa/2, E[relu'^2 + relu relu''] = E[θ] = 1/2
A = sp.Symbol("A", positive=True)
check("dI2(a,a)/dC_aa = 1/2", sp.diff(A / 2, A) - sp.Rational(1, 2))

# Plackett: ∂P3/∂ρ12 = φ2(0,0; ρ12) · P(v3 > 0 | v1 = v2 = 0) = φ2 · 1/2
r12, r13, r23 = sp.symbols("r12 r13 r23")
P3 = sp.Rational(1, 8) + (sp.asin(r12) + sp.asin(r13) + sp.asin(r23)) / (4 * sp.pi)
check("Plackett dP3/dρ12 = φ2(0,0)/2", sp.diff(P3, r12) - 1 / (2 * sp.pi * sp.sqrt(1 - r12**2)) / 2)
check("P3(0) = 1/8", P3.subs({r12: 0, r13: 0, r23: 0}) - sp.Rational(1, 8))

# Stein form of I3 for erf reproduces the Saad–Solla closed form:
# I3 = C_ba E[g''(a) g(c)] + C_bc E[g'(a) g'(c)], with, for g = erf(z/√2),
# E[g'(a) g'(c)] = (2/π)/√Λ,  E[g''(a) g(c)] = −(2/π) C_ac /((1 + C_aa) √Λ)   (Price)
Caa, Ccc, Cac, Cba, Cbc = sp.symbols("C_aa C_cc C_ac C_ba C_bc", real=True)
Lam = (1 + Caa) * (1 + Ccc) - Cac**2
I2erf = 2 / sp.pi * sp.asin(Cac / sp.sqrt((1 + Caa) * (1 + Ccc)))
Jerf = sp.diff(I2erf, Cac)  # Price: E[g'g'] = ∂I2/∂C_ac
Herf = 2 * sp.diff(I2erf, Caa)  # Price: E[g''(a) g(c)] = 2 ∂I2/∂C_aa
saad = 2 / sp.pi * (Cbc * (1 + Caa) - Cba * Cac) / ((1 + Caa) * sp.sqrt(Lam))
stein = Cba * Herf + Cbc * Jerf
vals = {
    Caa: sp.Rational(7, 10),
    Ccc: sp.Rational(13, 10),
    Cac: sp.Rational(3, 10),
    Cba: sp.Rational(-1, 5),
    Cbc: sp.Rational(2, 5),
}
check(
    "Stein I3 = Saad–Solla I3 (erf, exact rationals)",
    sp.nsimplify(sp.N((stein - saad).subs(vals), 50), tolerance=1e-40),
)
check("E[g'g'] erf = (2/π)/√Λ", sp.simplify(Jerf - 2 / sp.pi / sp.sqrt(Lam)))
print("all checks passed")
