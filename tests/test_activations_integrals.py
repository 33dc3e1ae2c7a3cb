"""Gaussian integrals of every activation (teacherstudent.ode.integrals.backend).

References are independent of the code under test: Monte Carlo of the expectations (5
standard errors, seeded), the textbook ReLU arc-cosine kernel, the erf closed forms (for
the quadrature path), scipy's adaptive quadrature, and finite differences (Price).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate
from scipy.special import erf, expit

from teacherstudent.ode.integrals import backend as B
from teacherstudent.ode.integrals import closed_form as CF
from teacherstudent.ode.integrals import fourpoint as FP

SMOOTH = ["tanh", "sigmoid", "softplus", "gelu"]


def _phi_cdf(z):
    return 0.5 * (1.0 + erf(z / math.sqrt(2.0)))


# reference activations and derivatives (numpy, for Monte Carlo)
G = {
    "erf": (lambda z: erf(z / math.sqrt(2)), lambda z: math.sqrt(2 / math.pi) * np.exp(-z * z / 2)),
    "linear": (lambda z: z, lambda z: np.ones_like(z)),
    "relu": (lambda z: np.maximum(z, 0.0), lambda z: (z > 0).astype(float)),
    "tanh": (np.tanh, lambda z: 1 - np.tanh(z) ** 2),
    "sigmoid": (expit, lambda z: expit(z) * (1 - expit(z))),
    "softplus": (lambda z: np.logaddexp(0.0, z), expit),
    "gelu": (
        lambda z: z * _phi_cdf(z),
        lambda z: _phi_cdf(z) + z * np.exp(-z * z / 2) / math.sqrt(2 * math.pi),
    ),
}


def _cov(n, seed, scale=1.0):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(n, n))
    return scale * A @ A.T / n


def _within(theory, samples, k=5.0):
    """|theory − mean| ≤ k standard errors, entrywise (samples: axis 0)."""
    m = samples.mean(0)
    se = samples.std(0) / math.sqrt(samples.shape[0])
    z = np.abs(theory - m) / np.maximum(se, 1e-12)
    assert np.all(np.isfinite(theory))
    assert z.max() < k, f"max deviation {z.max():.1f} SE"


def _mc(C, acts, n=200_000, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.multivariate_normal(np.zeros(len(C)), C, size=n)
    g = np.stack([G[a][0](z[:, i]) for i, a in enumerate(acts)], 1)
    gp = np.stack([G[a][1](z[:, i]) for i, a in enumerate(acts)], 1)
    return z, g, gp


CASES = (
    [
        ["relu"] * 4,
        ["relu", "relu", "erf", "erf"],
        ["erf", "erf", "relu", "relu"],
        ["relu", "relu", "linear", "erf"],
    ]
    + [[a] * 4 for a in SMOOTH]
    + [["tanh", "tanh", "erf", "erf"], ["gelu", "sigmoid", "linear", "softplus"]]
)


@pytest.mark.parametrize("acts", CASES, ids=lambda a: "-".join(a))
def test_i2_j2_i3_against_monte_carlo(acts):
    C = _cov(4, 1)
    z, g, gp = _mc(C, acts)
    _within(B.I2(C, acts=acts), g[:, :, None] * g[:, None, :])
    _within(B.J2(C, acts=acts), gp[:, :, None] * gp[:, None, :])
    _within(B.I3(C, acts=acts), gp[:, :, None, None] * z[:, None, :, None] * g[:, None, None, :])


@pytest.mark.parametrize(
    "acts", CASES[:4] + [["sigmoid"] * 3, ["gelu", "gelu", "erf"]], ids=lambda a: "-".join(a)
)
def test_i4_against_monte_carlo(acts):
    n = len(acts)
    C = _cov(n, 2)
    z, g, gp = _mc(C, acts, seed=3)
    X = B.I4(C, acts=acts)
    samp = (
        gp[:, :, None, None, None]
        * gp[:, None, :, None, None]
        * g[:, None, None, :, None]
        * g[:, None, None, None, :]
    )
    _within(X, samp)


def test_relu_closed_forms_textbook():
    """E[relu relu] = σσ'(sin θ + (π − θ) cos θ)/(2π) (not /(4π) or /(8π)); E[relu²] = σ²/2;
    E[θθ'] = (π − θ)/(2π)."""
    C = _cov(5, 4)
    s = np.sqrt(np.diag(C))
    rho = np.clip(C / np.outer(s, s), -1, 1)
    th = np.arccos(rho)
    ref = np.outer(s, s) * (np.sin(th) + (np.pi - th) * np.cos(th)) / (2 * np.pi)
    np.testing.assert_allclose(B.I2(C, "relu"), ref, rtol=0, atol=1e-13)
    np.testing.assert_allclose(np.diag(B.I2(C, "relu")), np.diag(C) / 2, atol=1e-14)
    np.testing.assert_allclose(B.J2(C, "relu"), (np.pi - th) / (2 * np.pi), atol=1e-13)


def test_relu_i4_special_values():
    """Exact cases: independent blocks factorise; a = b = c = d gives E[relu²; z > 0] = σ²/2."""
    C = np.diag([0.7, 1.3, 0.4, 2.0])
    C[0, 1] = C[1, 0] = 0.5
    C[2, 3] = C[3, 2] = -0.6
    X = B.I4(C, "relu")
    J = B.J2(C, "relu")
    Iz = B.I2(C, "relu")
    assert X[0, 1, 2, 3] == pytest.approx(J[0, 1] * Iz[2, 3], abs=1e-13)
    assert X[0, 0, 0, 0] == pytest.approx(0.35, abs=1e-14)
    # all four distinct and correlated: the orthant path against Monte Carlo in the MC test
    for a in (0, 1):
        for b in (0, 1):
            for c in (2, 3):
                for d in (2, 3):
                    assert X[a, b, c, d] == pytest.approx(J[a, b] * Iz[c, d], abs=1e-14)
                    assert X[c, d, a, b] == pytest.approx(J[c, d] * Iz[a, b], abs=1e-14)
    # E[θ(z)² relu(z)²] = E[relu(z)² θ(z)] = σ²/2 for every field, and E[θ_a relu_c²] = C_cc/4
    np.testing.assert_allclose(np.einsum("iiii->i", X), np.diag(C) / 2, rtol=0, atol=1e-15)
    assert X[0, 0, 3, 3] == pytest.approx(2.0 / 4, abs=1e-15)
    assert X[2, 2, 1, 1] == pytest.approx(1.3 / 4, abs=1e-15)


def _relu_i4_both(C, na, nc):
    """The all-relu I4 table by the dedicated kernel and by the per-entry engine."""
    n = max(na, nc)
    acts = np.full(n, B.RELU, dtype=np.int64)
    fast = np.full((n, n, n, n), np.nan)
    slow = np.full((n, n, n, n), np.nan)
    bad = B._relu_i4(C, na, nc, fast)
    assert bad == B._i4_entries(C, na, nc, acts, B.quadrature_rule(), slow, False)
    return fast[:na, :na, :nc, :nc], slow[:na, :na, :nc, :nc], bad


def _near_one_cov(n, seed, gap, sign):
    """Random covariance where field n − 1 has correlation ≈ sign·(1 − gap) with field 0."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, n + 3))
    x[n - 1] = sign * x[0] + math.sqrt(2.0 * gap) * np.linalg.norm(x[0]) * rng.normal(
        size=n + 3
    ) / math.sqrt(n + 3)
    return x @ x.T / (n + 3)


def _relu_i4_cases():
    Q = np.array([[1.0, 0.3, 0.1], [0.3, 1.2, -0.2], [0.1, -0.2, 0.9]])
    dup = _cov(5, 8)
    dup[4], dup[:, 4] = dup[1], dup[:, 1]  # two identical fields: singular C
    zero = _cov(5, 9)
    zero[3], zero[:, 3] = 0.0, 0.0  # a field of zero variance
    A = np.array([[0.6, 0.5, 0.4], [0.3, -0.7, 0.2], [0.45, 0.45, 0.45]])
    span = np.block([[A @ A.T, A], [A.T, np.eye(3)]])  # student fields in the teacher span
    cases = {
        f"random{n}-na{na}": (_cov(n, 10 + n, 1.5), na, n) for n, na in ((4, 2), (5, 5), (6, 3))
    }
    cases["random6-na6"] = (_cov(6, 20, 0.7), 6, 6)
    cases["perfect-student"] = (np.block([[Q, Q], [Q, Q]]), 3, 6)
    cases["perfect-student-anil"] = (np.block([[Q, Q], [Q, Q]]), 6, 6)
    cases["identical-fields"] = (dup, 3, 5)
    cases["zero-variance"] = (zero, 4, 5)
    cases["teacher-span"] = (span, 3, 6)
    for gap in (1e-5, 1e-9, 3e-13):
        for sign in (1, -1):
            cases[f"rho{sign:+d}-gap{gap:g}"] = (_near_one_cov(5, 30, gap, sign), 3, 5)
    return cases


@pytest.mark.parametrize("case", list(_relu_i4_cases()))
def test_relu_i4_kernel_equals_engine(case):
    """The dedicated all-relu I4 kernel (shared tables) reproduces the generic per-entry
    orthant engine, repeated indices, singular covariances (a perfect student, identical
    fields, a zero-variance field) and correlations near ±1 included; I4 dispatches to it."""
    C, na, nc = _relu_i4_cases()[case]
    fast, slow, bad = _relu_i4_both(C, na, nc)
    # a student in the teacher span: singular 4-field blocks, sign4 domain errors (NaN)
    assert bad == 0 or case == "teacher-span"
    np.testing.assert_array_equal(np.isnan(fast), np.isnan(slow))
    np.testing.assert_allclose(fast, slow, rtol=0, atol=1e-13, equal_nan=True)
    if na == nc == len(C):
        np.testing.assert_array_equal(B.I4(C, "relu"), fast)


def test_relu_i4_kernel_random_covariances():
    """Many random covariances of 4–6 fields (some with a teacher field equal to a student
    field) against the engine."""
    rng = np.random.default_rng(5)
    for trial in range(40):
        n = int(rng.integers(4, 7))
        C = _cov(n, 100 + trial, float(rng.uniform(0.2, 3.0)))
        if trial % 3 == 1:
            j = int(rng.integers(1, n))
            C[j], C[:, j] = C[0], C[:, 0]
        na = int(rng.integers(1, n + 1))
        fast, slow, bad = _relu_i4_both(C, na, n)
        assert bad == 0
        np.testing.assert_allclose(fast, slow, rtol=0, atol=1e-13, err_msg=f"trial {trial}")


def test_quadrature_path_equals_erf_closed_forms():
    C = _cov(5, 5)
    for fn, ref, tol in [(B.I2, CF.I2, 1e-12), (B.J2, CF.J2, 1e-12), (B.I3, CF.I3, 1e-12)]:
        np.testing.assert_allclose(fn(C, "erf", force_quadrature=True), ref(C), atol=tol)
    C3 = C[:3, :3]
    # 3-/4-D integrals: a few 1e-10 at the default order (theory/activations.md §2)
    np.testing.assert_allclose(B.I4(C3, "erf", force_quadrature=True), CF.I4(C3), atol=1e-9)


def test_exact_engine_mixed_erf_linear_equals_closed_forms():
    """The orthant engine (forced through a mixed erf/linear pair) reproduces the erf and
    linear closed forms on their own blocks."""
    C = _cov(4, 6)
    acts = ["erf", "erf", "linear", "linear"]
    X = B.I4(C, acts=acts)
    np.testing.assert_allclose(X[:2, :2, :2, :2], CF.I4(C[:2, :2]), atol=1e-12)
    np.testing.assert_allclose(B.I2(C, acts=acts)[:2, :2], CF.I2(C[:2, :2]), atol=1e-13)
    np.testing.assert_allclose(B.I3(C, acts=acts)[:2, :, :2], CF.I3(C)[:2, :, :2], atol=1e-13)
    # linear g' = 1: I4(lin, lin, c, d) = I2(c, d)
    np.testing.assert_allclose(
        X[2:, 2:, :, :], np.broadcast_to(B.I2(C, acts=acts), (2, 2, 4, 4)), atol=1e-13
    )


@pytest.mark.parametrize("act", SMOOTH)
def test_smooth_against_scipy(act):
    """2-D integrals against scipy's adaptive quadrature (to 1e-10)."""
    C = _cov(3, 7, scale=1.5)
    g, gp = G[act]
    I2 = B.I2(C, act)
    J2 = B.J2(C, act)
    for a, b in [(0, 1), (1, 2)]:
        L = np.linalg.cholesky(C[np.ix_([a, b], [a, b])])

        def ex(f, h, L=L):
            return integrate.dblquad(
                lambda y, x: (
                    f(L[0, 0] * x)
                    * h(L[1, 0] * x + L[1, 1] * y)
                    * np.exp(-(x * x + y * y) / 2)
                    / (2 * np.pi)
                ),
                -9,
                9,
                -9,
                9,
                epsabs=1e-13,
                epsrel=1e-12,
            )[0]

        assert I2[a, b] == pytest.approx(ex(g, g), abs=1e-10)
        assert J2[a, b] == pytest.approx(ex(gp, gp), abs=1e-10)


@pytest.mark.parametrize(
    "acts",
    [
        ["erf", "erf"],
        ["relu", "relu"],
        ["relu", "erf"],
        ["erf", "relu"],
        ["tanh", "tanh"],
        ["sigmoid", "erf"],
        ["softplus", "softplus"],
        ["gelu", "linear"],
    ],
    ids=lambda a: "-".join(a),
)
def test_i2_dcov_against_finite_differences(acts):
    C = np.array([[0.8, 0.3], [0.3, 1.1]])
    h = 1e-5

    def i2(M, a, b):
        return B.I2(M, acts=acts)[a, b]

    d_ab, d_aa = B.dcov(C, 0, 1, acts=acts)
    E = np.array([[0.0, 1.0], [1.0, 0.0]])  # C_ab = C_ba move together
    fd_ab = (i2(C + h * E, 0, 1) - i2(C - h * E, 0, 1)) / (2 * h)
    Ea = np.array([[1.0, 0.0], [0.0, 0.0]])
    fd_aa = (i2(C + h * Ea, 0, 1) - i2(C - h * Ea, 0, 1)) / (2 * h)
    fd_diag = (i2(C + h * Ea, 0, 0) - i2(C - h * Ea, 0, 0)) / (2 * h)
    assert d_ab == pytest.approx(fd_ab, abs=1e-7)
    assert d_aa == pytest.approx(fd_aa, abs=1e-7)
    assert B.dcov(C, 0, 0, acts=acts) == pytest.approx(fd_diag, abs=1e-7)


@pytest.mark.parametrize(
    "acts", [["sigmoid"] * 3, ["gelu", "erf", "gelu"]], ids=lambda a: "-".join(a)
)
def test_f4_smooth_against_monte_carlo(acts):
    C = _cov(3, 8)
    z, g, _ = _mc(C, acts, seed=9)
    samp = (
        g[:, :, None, None, None]
        * g[:, None, :, None, None]
        * g[:, None, None, :, None]
        * g[:, None, None, None, :]
    )
    _within(B.F4(C, acts=acts), samp)


def _within_f4(C, acts, n=400_000, seed=0, k=5.0, chunk=50_000):
    """Every entry of ``F4(C, acts)`` (all index patterns, repeats included) within ``k``
    Monte Carlo standard errors (samples drawn in chunks: the 4-index products of
    ``n`` samples need not fit in memory at once)."""
    rng = np.random.default_rng(seed)
    L = np.linalg.cholesky(C)
    s1 = s2 = 0.0
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        z = rng.standard_normal((m, len(C))) @ L.T
        g = np.stack([G[a][0](z[:, i]) for i, a in enumerate(acts)], 1)
        x = np.einsum("sa,sb,sc,sd->sabcd", g, g, g, g)
        s1 = s1 + x.sum(0)
        s2 = s2 + (x * x).sum(0)
    mean = s1 / n
    se = np.sqrt(np.maximum(s2 / n - mean**2, 0.0) / (n - 1))
    theory = B.F4(C, acts=acts)
    assert np.all(np.isfinite(theory))
    z = np.abs(theory - mean) / np.maximum(se, 1e-12)
    assert z.max() < k, f"max deviation {z.max():.1f} SE at {np.unravel_index(z.argmax(), z.shape)}"


@pytest.mark.parametrize(
    "acts",
    [
        ["relu"] * 4,
        ["relu", "relu", "erf", "erf"],
        ["erf", "relu", "linear", "relu"],
        ["relu", "linear", "linear", "erf"],
    ],
    ids=lambda a: "-".join(a),
)
def test_f4_relu_against_monte_carlo(acts):
    """relu F4 (four z factors in the Stein tree) and its mixtures with erf and linear, on
    4 correlated fields: every entry, so every pattern of repeated indices."""
    _within_f4(_cov(4, 10), acts, seed=11)


def test_f4_relu_exact_values():
    """E[relu⁴] = 3σ⁴/2, E[relu³] E[relu] = σ³σ'/π and E[relu² relu'²] = σ²σ'²/4 for
    independent fields; independent blocks factorise into I2 (I2(a,a) = C_aa/2)."""
    C = np.diag([0.7, 1.3, 0.4, 2.0])
    C[0, 1] = C[1, 0] = 0.5
    C[2, 3] = C[3, 2] = -0.6
    X = B.F4(C, "relu")
    I2 = B.I2(C, "relu")
    v = np.diag(C)
    for a in range(4):
        assert X[a, a, a, a] == pytest.approx(1.5 * v[a] ** 2, rel=1e-13)
    assert X[0, 0, 2, 2] == pytest.approx(v[0] * v[2] / 4, rel=1e-13)
    assert X[1, 3, 3, 1] == pytest.approx(v[1] * v[3] / 4, rel=1e-13)
    assert X[0, 2, 2, 2] == pytest.approx(math.sqrt(v[0] * v[2] ** 3) / math.pi, rel=1e-13)
    assert X[0, 1, 2, 3] == pytest.approx(I2[0, 1] * I2[2, 3], rel=1e-13)
    assert X[2, 0, 3, 1] == pytest.approx(I2[0, 1] * I2[2, 3], rel=1e-13)
    assert X[0, 0, 2, 3] == pytest.approx(I2[0, 0] * I2[2, 3], rel=1e-13)
    assert X[1, 1, 0, 0] != pytest.approx(I2[0, 0] * I2[1, 1], rel=1e-3)  # correlated
    # the table is symmetric under permutations of the indices
    assert np.array_equal(X, X.transpose(1, 0, 2, 3))
    assert np.array_equal(X, X.transpose(2, 3, 0, 1))
    # a duplicated field (a perfect student: singular C) is the same field twice
    Q = C[:2, :2]
    Xd = B.F4(np.block([[Q, Q], [Q, Q]]), "relu")
    i = np.array([0, 1, 0, 1])
    np.testing.assert_allclose(Xd, X[:2, :2, :2, :2][np.ix_(i, i, i, i)], rtol=0, atol=1e-12)


@pytest.mark.parametrize("rho", [0.6, -0.45, 0.97])
def test_f4_relu_aabb_against_scipy(rho):
    """F4(a,a,b,b) = E[relu(z_a)² relu(z_b)²] and F4(a,a,a,b) for correlated a, b against
    scipy's 2-D adaptive quadrature over the quadrant z_a, z_b > 0 (smooth there)."""
    s = np.array([0.8, 1.5])
    C = np.outer(s, s) * np.array([[1.0, rho], [rho, 1.0]])
    X = B.F4(C, "relu")
    L = np.linalg.cholesky(C)

    def quad(f):
        # x ~ N(0,1) with z_a = L00 x > 0, z_b = L10 x + L11 y > 0
        return integrate.dblquad(
            lambda y, x: f(L[0, 0] * x, L[1, 0] * x + L[1, 1] * y)
            * np.exp(-(x * x + y * y) / 2) / (2 * np.pi),
            0, 12, lambda x: -L[1, 0] * x / L[1, 1], 12, epsabs=1e-13, epsrel=1e-12,
        )[0]

    assert X[0, 0, 1, 1] == pytest.approx(quad(lambda a, b: a * a * b * b), abs=1e-10)
    assert X[0, 0, 0, 1] == pytest.approx(quad(lambda a, b: a**3 * b), abs=1e-10)
    assert X[0, 1, 1, 1] == pytest.approx(quad(lambda a, b: a * b**3), abs=1e-10)


def test_f4_engine_linear_and_erf_blocks():
    """Through the orthant engine (a relu field forces it): the linear-only entries equal
    Isserlis (up to four z factors, no θ), the erf-only ones the Price path of
    fourpoint (erf slots as 2θ(z + ξ) − 1)."""
    C = _cov(6, 16)
    acts = ["linear", "linear", "linear", "erf", "erf", "relu"]
    X = B.F4(C, acts=acts)
    Cl = C[:3, :3]
    iss = (
        np.einsum("ab,cd->abcd", Cl, Cl)
        + np.einsum("ac,bd->abcd", Cl, Cl)
        + np.einsum("ad,bc->abcd", Cl, Cl)
    )
    np.testing.assert_allclose(X[:3, :3, :3, :3], iss, rtol=0, atol=1e-13)
    np.testing.assert_allclose(X[3:5, 3:5, 3:5, 3:5], FP.F4(C[3:5, 3:5]), rtol=0, atol=1e-12)
    # linear with erf: E[z_a z_b erf erf] is two z factors times the erf pair
    out = np.empty((6, 6, 6, 6))
    bad = B.f4_tensor_lambda_acts(
        C, 6, 6, np.array([B.activation_code(a) for a in acts]), B.quadrature_rule(), out,
        np.empty(FP.f4_scratch_size(6)),
    )
    assert bad == 0 and np.array_equal(out, X)


def test_has_f4_everywhere_and_relu_with_smooth_f4_is_a_domain_error():
    assert all(B.has_f4(B.activation_code(a)) for a in B.ACTIVATIONS)
    C = _cov(2, 10)
    out = np.zeros((2, 2, 2, 2))
    acts = np.array([B.RELU, B.TANH], dtype=np.int64)
    bad = B.f4_tensor_lambda_acts(
        C, 2, 2, acts, B.quadrature_rule(), out, np.empty(FP.f4_scratch_size(2))
    )
    assert bad == 3  # the sorted quadruples (0001), (0011), (0111)
    assert np.isfinite(out[0, 0, 0, 0]) and np.isfinite(out[1, 1, 1, 1])
    assert np.isnan(out[0, 0, 0, 1]) and np.isnan(out[0, 1, 0, 1])


def test_relu_with_smooth_is_a_domain_error():
    C = _cov(2, 11)
    out = np.zeros((2, 2))
    acts = np.array([B.RELU, B.TANH], dtype=np.int64)
    assert B.i2_matrix_acts(C, 2, acts, B.quadrature_rule(), out) == 1
    assert np.isnan(out[0, 1]) and np.isfinite(out[0, 0]) and np.isfinite(out[1, 1])


def test_activation_codes():
    assert B.ACTIVATIONS == ("erf", "linear", "relu", "tanh", "sigmoid", "softplus", "gelu")
    assert [B.activation_code(a) for a in B.ACTIVATIONS] == list(range(7))
    with pytest.raises(ValueError, match="expected one of erf, linear, relu"):
        B.activation_code("swish")
    q = B.quadrature_rule(B.DEFAULT_QUADRATURE_ORDER)
    assert q.shape == (2, B.DEFAULT_QUADRATURE_ORDER)
    assert q[1].sum() == pytest.approx(1.0, abs=1e-15)
    assert q[1] @ q[0] ** 2 == pytest.approx(1.0, abs=1e-13)  # the Gaussian variance


def test_erf_fast_path_is_the_closed_form():
    """All-erf acts dispatch to the closed-form whole-matrix kernels (bit for bit)."""
    C = _cov(6, 12)
    acts = np.zeros(6, dtype=np.int64)
    q = B.quadrature_rule()
    out = np.empty((3, 3, 6, 6))
    ref = np.empty((3, 3, 6, 6))
    B.i4_tensor_acts(C, 3, 6, acts, q, out, np.empty(18))
    CF.i4_tensor(C, 3, 6, 0, ref, np.empty(18))
    assert np.array_equal(out, ref)


@pytest.mark.slow
@pytest.mark.parametrize("act", ["tanh", "softplus"])
def test_i4_f4_smooth_slow(act):
    """4-D integrals of tanh/softplus against Monte Carlo (2·10⁶ samples)."""
    C = _cov(3, 13)
    acts = [act] * 3
    z, g, gp = _mc(C, acts, n=2_000_000, seed=14)
    _within(
        B.I4(C, acts=acts),
        gp[:, :, None, None, None]
        * gp[:, None, :, None, None]
        * g[:, None, None, :, None]
        * g[:, None, None, None, :],
    )
    _within(
        B.F4(C, acts=acts),
        g[:, :, None, None, None]
        * g[:, None, :, None, None]
        * g[:, None, None, :, None]
        * g[:, None, None, None, :],
    )


@pytest.mark.slow
def test_f4_erf_quadrature_equals_price_path():
    C = _cov(3, 15)
    # 4-D rule at z-step 4h = 0.5 (cost): 8e-8 measured
    np.testing.assert_allclose(B.F4(C, "erf", force_quadrature=True), FP.F4(C), atol=2e-7)


def _i4_f4_against_finer_rule(act, scale, tol=5e-10):
    C = _cov(4, 21, scale)
    acts = [act] * 4
    for fn in (B.I4, B.F4):
        np.testing.assert_allclose(
            fn(C, acts=acts), fn(C, acts=acts, order=257), rtol=0, atol=tol, err_msg=fn.__name__
        )


@pytest.mark.parametrize(
    "act, scale",
    [("tanh", 0.5), ("sigmoid", 0.5), ("sigmoid", 2.0), ("softplus", 0.5), ("gelu", 0.5)],
)
def test_i4_f4_smooth_default_order_against_order_257(act, scale):
    """The 4-D integrals (four distinct fields) at the default order against the 257-node
    rule: the default is accurate to a few 1e-10 (theory/activations.md §2)."""
    _i4_f4_against_finer_rule(act, scale)


@pytest.mark.slow
@pytest.mark.parametrize("act", ["tanh", "softplus", "gelu"])
def test_i4_f4_smooth_default_order_against_order_257_large_variance(act):
    _i4_f4_against_finer_rule(act, 2.0)
